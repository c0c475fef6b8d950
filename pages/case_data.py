"""Case data: each layer as an editable table, imports with a preview, the risk policy."""

from __future__ import annotations

import streamlit as st

from geo.errors import GeoError
from geo.model import LAYERS
from ui import casedata, shell
from ui.markup import md

shell.page("case_data")

view = shell.need_case()
st.title("Case data")

layer = st.selectbox("Layer", list(LAYERS), key="data_layer",
                     format_func=lambda n: f"{n}: {LAYERS[n].description}")
spec = LAYERS[layer]
st.caption(f"Required columns: {', '.join(spec.required)}. "
           + ("Points: edit lat/lon to move one. " if spec.geometry == "Point" else "")
           + ("Polygons: draw new ones on the Map screen. " if spec.geometry == "Polygon"
              else "")
           + f"Version {view.version} of the case."
           + ("" if view.may_edit(layer) else " Your role reads this layer; it does not "
              "change it."))

table = casedata.editable(view.case[layer], layer)
if not view.may_edit(layer):
    st.dataframe(table, width="stretch", height=380, hide_index=True)
    st.stop()
edited = st.data_editor(table, num_rows="dynamic", width="stretch", height=380,
                        key=f"data_editor_{layer}_{view.version}",
                        disabled=["area_km2"] if spec.geometry == "Polygon" else [])
changed = not edited.equals(table)
if changed:
    problems = casedata.check_edits(view, layer, edited)
    errors = [p for p in problems if p.severity == "error"]
    if problems:
        st.warning("Fix these before saving:" if errors else "Warnings:")
        st.dataframe(casedata.problems_table(problems), hide_index=True,
                     width="stretch")
    if st.button("Save changes", type="primary", disabled=bool(errors), key="data_save"):
        try:
            version = casedata.save_edits(view, layer, edited)
        except GeoError as exc:
            st.error(md(exc))
        else:
            shell.flash(f"Saved as version {version}.")
            st.rerun()
else:
    st.caption("Edit cells, add or delete rows; changes are checked before anything is saved.")

st.subheader("Import rows from a file")
st.caption("CSV (UTF-8 or Windows-1252), GeoJSON, KML, or a police.uk street-crime CSV "
           "(into incidents). The whole file is checked first; nothing is saved until you "
           "confirm, and one bad row refuses the file.")
upload = st.file_uploader("File", type=["csv", "geojson", "json", "kml", "gpkg"],
                          key="data_upload")
if upload is not None:
    try:
        rows, summary = casedata.preview_import(view, layer, upload)
    except GeoError as exc:
        st.error(md(exc))
        if getattr(exc, "problems", None):
            st.dataframe(casedata.problems_table(exc.problems), hide_index=True,
                         width="stretch")
    else:
        st.success(f"{md(upload.name)}: {summary.rows} rows are ready to add to {layer} "
                   "(checked with the case; nothing is saved yet).")
        st.dataframe(casedata.editable(rows, layer), hide_index=True,
                     width="stretch")
        if st.button(f"Add {len(rows)} rows to {layer}", type="primary", key="data_import"):
            try:
                version = casedata.save_import(view, layer, rows, name=upload.name)
            except GeoError as exc:
                st.error(md(exc))
            else:
                st.success(f"Imported; the case is now version {version}.")

if not view.may_edit("policy"):
    st.stop()
st.subheader("Risk policy for this case")
st.caption("TOML overrides of the default policy (geo/policy.toml), for example "
           "`[limits]` `max_school_min = 40`. Unknown keys and out-of-range values are "
           "refused by name.")
text = st.text_area("Policy overrides", casedata.policy_text(view), height=140,
                    key=f"data_policy_{view.version}")
if st.button("Save the policy", key="data_policy_save"):
    try:
        version = casedata.save_policy(view, text)
    except GeoError as exc:
        st.error(md(exc))
    else:
        shell.flash(f"Saved as version {version}.")
        st.rerun()

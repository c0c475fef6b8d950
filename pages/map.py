"""Map: the whole case on one map; click a feature for its details; draw a zone."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from geo.errors import GeoError
from ui import candidates, data, mapfilters, mapview, shell, zones
from ui.markup import md

shell.page("map")

view = shell.need_case()
case = view.case
st.title("Map")

first, last = mapfilters.incident_dates(case)
groups = case["groups"]
names = dict(zip(groups["group_id"], groups["name"], strict=True))
with st.expander("Filters and layers", expanded=False):
    left, right = st.columns(2)
    since, until = left.slider("Incidents between", min_value=first, max_value=max(last, first),
                               value=(first, max(last, first)), format="D MMM YYYY",
                               key="map_dates") if first < last else (first, last)
    chosen = right.multiselect("Groups", list(names), default=list(names),
                               format_func=lambda g: names[g], key="map_groups")
    a, b, c, d = st.columns(4)
    show_zones = a.toggle("Exclusion zones", value=True, key="map_zones")
    show_hot = b.toggle("Derived hot spots", value=True, key="map_hot")
    show_heat = c.toggle("Incident heat map", value=False, key="map_heat")
    show_sectors = d.toggle("Postcode sectors", value=True, key="map_sectors")

as_of = dt.date.today()
shown = mapfilters.filtered(case, since=since, until=until, groups=chosen)
layers = {}
if show_zones:
    try:
        layers["zones"] = data.zones(view, as_of)
    except GeoError as exc:  # e.g. no subject yet: nothing to derive zones from
        st.info(f"No exclusion zones yet: {md(exc)}.")
if show_hot:
    layers["hotspots"] = data.hotspots(view, as_of)
if show_sectors:
    layers["sectors"] = data.sectors(data.study_bounds(case))
ranked = data.default_ranking(view, as_of)
if ranked is not None:
    layers["ranked"] = ranked
may_draw = view.may_edit("zones")
m = mapview.build_map(shown, data.policy(view), layers, data.settings(), as_of=as_of,
                      draw=may_draw, show_heat=show_heat, top_n=20)
result = mapview.show(m, key="map_main", height=680)
st.caption("Base map: approximate postcode sectors derived offline from OS Code-Point Open "
           "(contains OS data (c) Crown copyright and database right). Candidates are ranked "
           "with the policy's weights for the people at the temporary address; tune them on "
           "the Candidates screen.")

details, drawing = st.columns(2)
with details:
    st.subheader("Details")
    found = mapview.clicked(result, {
        "candidates": ranked if ranked is not None else shown["candidates"],
        "incidents": shown["incidents"], "addresses": shown["addresses"],
        "activity_areas": shown["activity_areas"],
        **({"zones": layers["zones"]} if "zones" in layers else {}),
    })
    if found is None:
        st.caption("Click a feature on the map to see its details here.")
    else:
        layer, row = found
        st.markdown(f"**{layer.replace('_', ' ').capitalize()}**")
        if layer == "candidates" and "reasons" in row.index:  # a ranked candidate: in words
            for heading, text in candidates.explanation(row):
                st.markdown(f"**{heading}**")
                st.text(text)
        else:  # a static table wraps long values instead of cutting them off
            st.table(mapview.details_table(row).set_index("field"))

with drawing:
    st.subheader("Draw a zone")
    if not may_draw:
        st.caption("Your role does not draw zones.")
        st.stop()
    polygon = mapview.drawn_polygon(result)
    if polygon is not None and zones.already_saved(polygon):
        polygon = None
    if polygon is None:
        st.caption("Use the pentagon tool on the map to draw an area, then save it here as an "
                   "exclusion zone or a no-go area, with its reason.")
    else:
        st.caption(f"Drawn area: {polygon.area / 1e6:.2f} km².")
        with st.form("map_save_zone"):
            kind = st.radio("Kind", ["no_go", "exclusion"], horizontal=True,
                            format_func=lambda k: "No-go area" if k == "no_go"
                            else "Exclusion zone")
            reason = st.text_input("Reason (required)")
            people = case["people"]
            applies = st.multiselect("Applies to (empty: everyone)",
                                     list(people["person_id"]),
                                     format_func=lambda p: people.set_index("person_id")
                                     .loc[p, "label"])
            if st.form_submit_button("Save the zone", type="primary"):
                try:
                    zone_id = zones.save_drawn(view, polygon, kind=kind, reason=reason,
                                               applies_to=applies)
                except GeoError as exc:
                    st.error(md(exc))
                else:
                    shell.flash(f"Saved {zone_id}: it is on the map and in the case's zones.")
                    st.rerun()

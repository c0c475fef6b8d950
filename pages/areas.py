"""Safe areas and no-go areas: where to ask housing providers to look, and where each
person agrees not to go."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from geo.agreement import no_go_areas
from geo.areas import STUDY_LAYERS, areas_from_surface
from geo.errors import GeoError
from ui import data, exports, mapview, network, people, shell
from ui.markup import md

shell.page("areas")
view = shell.need_case()
case = view.case
policy = data.policy(view)
st.title("Safe areas and no-go areas")
today = dt.date.today()

labels = people.labels(case)
default = people.default_household(case)

# one section at a time: a map drawn inside a hidden tab is laid out at size 0 and opens blank
section = st.radio("Show", ["Suggested safe areas", "No-go areas for a person"],
                   horizontal=True, key="areas_section", label_visibility="collapsed")
if section == "Suggested safe areas":
    st.caption("The case's rules (exclusions, zones, threat, school and support limits) are "
               "evaluated on a grid of 250 m cells over the study area; good cells merge into "
               "areas, named by postcode districts and sectors. Housing providers can be asked "
               "to look in these areas before any address exists.")
    movers = st.multiselect("For", list(labels), default=default,
                            format_func=lambda p: labels[p], key="areas_people")
    boundaries = sorted(case["boundaries"]["name"].dropna().astype(str).unique()) \
        if len(case["boundaries"]) else []
    whole = "the case's features plus a margin"
    within = st.selectbox(
        "Search within", [whole, *boundaries], key="areas_within",
        help="A boundary imported into the case's boundaries layer (Case data), such as a "
             "local authority, or the area around the case's own features.")
    if within == whole and not any(len(case[n]) for n in STUDY_LAYERS):
        st.info("Nothing to search around yet: add addresses, incidents or candidates on Case "
                "data, or import a boundary (such as a local authority) into the boundaries "
                "layer and search within it.")
        st.stop()
    opts = policy.table("areas")
    left, right = st.columns(2)
    min_score = left.slider("Lowest score for a cell to count", 0, 100,
                            int(opts["min_score"]), 5, key="areas_min_score")
    min_km2 = right.slider("Smallest area (km²)", 0.25, 5.0, float(opts["min_area_km2"]), 0.25,
                           key="areas_min_km2")
    graph_name, travel = network.usable(view.ref, policy)
    try:
        grid = data.surface(view, tuple(movers), today,
                            within=None if within == whole else within,
                            graph_key=graph_name or "", travel=travel)
        found = areas_from_surface(grid, min_score=min_score, min_area_km2=min_km2)
    except GeoError as exc:
        st.error(md(exc))
        st.stop()
    n_ok = int(grid.judgement.eligible.sum())
    if travel is None:
        runs = (f"{grid.assessment.travel_note} (add a street file on the Street network "
                "screen for real school-run times)")
    else:
        on_net = int((~grid.assessment.school_estimated).sum())
        runs = (f"{grid.assessment.travel_note} ({md(graph_name)}) for {on_net:,} of "
                f"{len(grid.row):,} cells" + ("" if on_net == len(grid.row)
                                             else ", the rest estimated"))
    st.caption(f"{len(grid.row):,} cells of {grid.cell_m:g} m; {n_ok:,} eligible. "
               f"{len(found)} safe area(s). School runs: {runs}.")
    if not len(found):
        st.info("No area qualifies: lower the score or the smallest area, or review the "
                "limits on the Candidates screen.")
    else:
        st.dataframe(found[["rank", "name", "score", "area_km2", "reasons",
                            "postcode_sectors"]], hide_index=True, width="stretch",
                     key="areas_table",
                     column_config={"reasons": st.column_config.TextColumn(width="large"),
                                    "name": st.column_config.TextColumn(width="medium")})
        zones = data.zones(view, today)
        m = mapview.build_map(case, policy, {"safe_areas": found, "zones": zones,
                                             "sectors": data.sectors(data.study_bounds(case)),
                                             "fit": found},
                              data.settings(), as_of=today, draw=False, show_heat=False,
                              top_n=0)
        st.caption("Each safe area carries its rank; exclusion zones are shaded pink.")
        mapview.show(m, key="areas_map", height=560)
        exports.download_layer(found, f"{view.ref}-safe-areas", "the safe areas",
                               ref=view.ref, key="areas")
else:
    st.caption("The exclusion zones that apply to a person plus the zones drawn for them, "
               "simplified so a person can follow them, with the postcode sectors each one "
               "touches. These go into the person's working agreement (Agreements screen).")
    adults = people.adults(case)
    if not adults:
        st.info("No adult in the case to make no-go areas for: add people on Case data.")
        st.stop()
    person = st.selectbox("Person", adults, format_func=lambda p: labels[p], key="nogo_person")
    try:
        nogo = no_go_areas(view.analysis_case(), person, policy, as_of=data.moment(today))
    except GeoError as exc:
        st.error(md(exc))
        st.stop()
    if not len(nogo):
        st.info(f"No no-go area applies to {md(labels[person])}.")
    else:
        st.dataframe(nogo[["number", "reason", "postcode_sectors", "boundaries"]],
                     hide_index=True, width="stretch", key="nogo_table")
        nogo_zones = nogo.assign(zone_id=nogo["number"].astype(str), kind="no_go")
        m = mapview.build_map(case.replace(candidates=case["candidates"].iloc[:0]), policy,
                              {"zones": nogo_zones, "label_zones": True, "fit": nogo_zones,
                               "sectors": data.sectors(data.study_bounds(case))},
                              data.settings(), as_of=today, draw=False, show_heat=False,
                              top_n=0)
        st.caption("Each no-go area carries its number in the list above.")
        mapview.show(m, key="nogo_map", height=520)
        exports.download_layer(nogo, f"{view.ref}-{person}-no-go", "the no-go areas",
                               ref=view.ref, key="nogo")

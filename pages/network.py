"""Street network: choose or upload an OpenStreetMap extract for the case, see what it
covers and how far the school run reaches."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import streamlit as st

from geo.errors import GeoError
from geo.maps import reachable_layer, streets_layer
from geo.network import isochrones
from geo.sources import household
from ui import data, mapview, network, shell
from ui.markup import md

shell.page("network")
view = shell.need_case()
case = view.case
policy = data.policy(view)
st.title("Street network")
st.caption("School runs and support distances use the streets when the case has a street "
           "file: an OpenStreetMap extract (.osm) or a GraphML file, kept on this machine. "
           "Without one they are estimated from straight-line distance, and labelled so. "
           "Nothing is downloaded.")

upload = st.file_uploader("Add a street file", type=["osm", "xml", "gz", "bz2", "graphml"],
                          key="net_upload")
if upload is not None and st.button("Keep this file", key="net_keep"):
    try:
        st.success(f"Kept {md(network.save_upload(upload, view.ref))}.")
    except GeoError as exc:
        st.error(md(exc))

names = network.files()
current = network.chosen(view.ref)
if not names:
    st.info("No street file yet: add an OpenStreetMap extract of the study area above.")
    st.stop()
options = ["(none: estimate from straight lines)", *names]
picked = st.selectbox("Street file for this case", options,
                      index=options.index(current) if current in options else 0,
                      key="net_choice")
name = None if picked == options[0] else picked
if name != current:
    try:
        network.choose(view.ref, name)
    except GeoError as exc:
        st.error(md(exc))
        st.stop()
    st.rerun()
if name is None:
    st.stop()

bar = st.progress(0.0, text="Preparing the street graph...")
try:
    network.prepare(name, policy,
                    progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0), text=msg))
    travel = network.travel(name, policy)
except GeoError as exc:
    bar.empty()
    st.error(md(exc))
    st.stop()
bar.empty()
graph = travel.graph
st.success(f"{md(name)}: {graph.n_streets:,} streets, {graph.length_km:.1f} km, for "
           f"{'driving' if graph.mode == 'drive' else 'walking'} "
           f"(points within {travel.max_snap_m:g} m of a street get street-network times).")

try:
    schools = household(view.analysis_case()).schools
except GeoError:
    schools = case["addresses"].iloc[:0]
minutes = st.multiselect("Reachable from school within (minutes)", [5, 10, 15, 20, 30, 45],
                         default=[10, 20], key="net_minutes")
extra = {"Street graph": streets_layer(graph.streets_gdf(), graph.coverage())}
if len(schools) and minutes:
    school = schools.iloc[0]
    try:
        reach = isochrones(graph, (school.geometry.x, school.geometry.y), sorted(minutes),
                           direction="to_origin")
        extra[f"Reachable from {school['label']}"] = reachable_layer(
            gpd.GeoDataFrame(reach, geometry="geometry", crs=27700))
    except GeoError as exc:
        st.warning(f"No reachable area: {md(exc)}")
elif not len(schools):
    st.caption("The people being relocated have no school in the case: no school run to map.")
m = mapview.build_map(case, policy, {"extra_layers": extra}, data.settings(),
                      as_of=dt.date.today(), draw=False, show_heat=False, top_n=0)
mapview.show(m, key="net_map", height=600)

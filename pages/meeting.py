"""Meeting view: the threat picture and areas for a strategy meeting, without where the
family lives or might live, and with people by role instead of name."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from geo.errors import GeoError
from ui import data, mapview, meeting, session, shell
from ui.markup import md

shell.page("meeting")
ref = shell.current_ref()
if not ref:
    st.info("Open a case first: choose one in the sidebar.")
    st.stop()
try:
    view = session.secure().meeting_view(ref) if meeting.needs_opening(ref) else (
        meeting.kept(ref))
except GeoError as exc:
    st.error(md(exc))
    st.stop()
meeting.keep(view)

st.title("Meeting view")
st.caption(md(view.note))
today = dt.date.today()
layers = {"hotspots": data.hotspots(view, today),
          "sectors": data.sectors(data.study_bounds(view.analysis_case()))}
try:
    layers["zones"] = data.zones(view, today)
except GeoError as exc:  # e.g. no subject yet: nothing to derive zones from
    st.info(f"No exclusion zones yet: {md(exc)}.")
m = mapview.build_map(view.case, data.policy(view), layers, data.settings(), as_of=today,
                      draw=False, show_heat=False, top_n=0)
mapview.show(m, key="meeting_map", height=700)

left, right = st.columns(2)
with left:
    st.subheader("People")
    st.dataframe(meeting.people_table(view), hide_index=True, width="stretch")
with right:
    st.subheader("Exclusion zones")
    if "zones" in layers:
        st.dataframe(meeting.zones_table(layers["zones"]), hide_index=True, width="stretch")
    else:
        st.caption("None yet.")

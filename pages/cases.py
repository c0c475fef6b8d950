"""Cases: the cases you may see; open, create (from a GeoPackage or the demo), archive."""

from __future__ import annotations

import streamlit as st

from geo.demo import DEMO_REF
from geo.errors import GeoError
from ui import cases, session, shell
from ui.markup import md

shell.page("cases")
st.title("Cases")

show_archived = st.toggle("Show archived cases", key="cases_archived")
every = session.secure().list_cases(include_archived=True)  # one query for the whole screen
listed = [c for c in every if show_archived or not c.archived]
if not listed:
    st.info("No case is shared with you yet. "
            + ("Create one below, from a case GeoPackage or from the fictional demo."
               if cases.may("create_case") else "Ask an administrator for access."))
else:
    st.dataframe(cases.table(listed), hide_index=True, width="stretch")
    live = [c.ref for c in listed if not c.archived]
    if live:
        left, right = st.columns([3, 1])
        ref = left.selectbox("Case", live, key="cases_open_ref",
                             index=live.index(shell.current_ref())
                             if shell.current_ref() in live else 0)
        if right.button("Open", key="cases_open", type="primary", width="stretch"):
            shell.open_case(ref)
            st.switch_page("pages/map.py")

if cases.may("create_case"):
    st.subheader("New case")
    from_file, from_demo = st.tabs(["From a case GeoPackage", "The fictional demo case"])
    with from_file:
        st.caption("A case GeoPackage (.gpkg) with the layers of the case file. It is checked "
                   "first; a case with problems is not stored and every problem is listed.")
        upload = st.file_uploader("Case GeoPackage", type=["gpkg"], key="cases_upload")
        if upload is not None and st.button("Check and store the case", key="cases_create"):
            try:
                ref = cases.create_from_upload(upload)
            except GeoError as exc:
                st.error(md(exc))
                for line in cases.problem_lines(exc):
                    st.text(line)
            else:
                shell.open_case(ref)
                st.success(f"Stored case {md(ref)}.")
    with from_demo:
        st.caption("Operation Larkspur: every person in it is invented; places are real "
                   "postcodes.")
        have_demo = DEMO_REF in {c.ref for c in every}
        if have_demo:
            st.caption(f"The demo case is already stored as {DEMO_REF}.")
        if st.button("Add the demo case", key="cases_demo", disabled=have_demo):
            try:
                ref = cases.create_demo()
            except GeoError as exc:
                st.error(md(exc))
            else:
                shell.open_case(ref)
                st.success(f"Stored the demo case as {md(ref)}.")

if listed and cases.may("archive"):
    st.subheader("Archive or restore")
    st.caption("Nothing is ever deleted: an archived case is hidden and can be restored.")
    choice = st.selectbox("Case", [c.ref for c in listed], key="cases_archive_ref")
    reason = st.text_input("Why", key="cases_archive_reason",
                           placeholder="for example: family rehoused, case closed")
    info = next(c for c in listed if c.ref == choice)
    label = "Restore" if info.archived else "Archive"
    if st.button(label, key="cases_archive", disabled=not reason.strip()):
        try:
            cases.set_archived(choice, not info.archived, reason=reason)
        except GeoError as exc:
            st.error(md(exc))
        else:
            shell.flash(f"{label}d {choice}.")
            st.rerun()

"""Audit trail: search who did what, when and why; check that nobody has altered it."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from geo.audit import ACTIONS
from geo.errors import GeoError
from ui import audit_view, session, shell
from ui.markup import md

shell.page("audit")
st.title("Audit trail")
st.caption("Every sign-in, case opened, change, export and print, with who, when, what and "
           "why. The trail is append-only and hash-chained: any edited or removed record is "
           "found by the check below (or `safeplan audit verify`).")

with st.form("audit_search"):
    a, b, c = st.columns(3)
    user = a.text_input("User", key="audit_user")
    case = b.text_input("Case", key="audit_case")
    action = c.selectbox("Action", ["(any)", *sorted(ACTIONS)], key="audit_action")
    d, e, f = st.columns(3)
    since = d.date_input("Since", value=dt.date.today() - dt.timedelta(days=30),
                         key="audit_since")
    until = e.date_input("Until", value=dt.date.today(), key="audit_until")
    text = f.text_input("Containing", key="audit_text")
    st.form_submit_button("Search", type="primary")
try:
    records = session.secure().audit_search(
        user=user or None, case_ref=case or None,
        action=None if action == "(any)" else action, since=since, until=until,
        text=text or None, limit=500)
except GeoError as exc:
    st.error(md(exc))
    st.stop()
st.caption(f"{len(records)} record(s), newest first (at most 500).")
st.dataframe(audit_view.table(records), hide_index=True, width="stretch", height=420)

if st.button("Check the whole trail for tampering", key="audit_verify"):
    result = session.secure().audit_verify()
    if result.ok:
        st.success(f"Intact: {result.checked} records. Head {result.head}: note it elsewhere "
                   "to detect a rewrite of the whole trail.")
    else:
        st.error(f"Tampering found at record {result.first_bad_seq}: {md(result.reason)}")

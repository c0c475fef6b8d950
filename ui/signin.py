"""The sign-in form (the only screen anyone sees before signing in)."""

from __future__ import annotations

import streamlit as st

from geo.errors import GeoError
from ui import session
from ui.markup import md


def render() -> None:
    st.title("Safe Location Planner")
    st.caption("OFFICIAL-SENSITIVE. Authorised users only: every sign-in, case opened, change, "
               "export and print is recorded.")
    notice = st.session_state.get(session.NOTICE_KEY)
    if notice:
        st.warning(notice)
    if session.oidc_configured():
        if getattr(st.user, "is_logged_in", False):
            try:
                session.sign_in_with_provider()
            except GeoError as exc:
                st.error(md(exc))
            else:
                st.rerun()
        if st.button("Sign in with your organisation", key="signin_oidc", type="primary"):
            st.login()
        return
    with st.form("signin"):
        username = st.text_input("User name", key="signin_user", autocomplete="username")
        password = st.text_input("Password", type="password", key="signin_password",
                                 autocomplete="current-password")
        if st.form_submit_button("Sign in", type="primary"):
            try:
                session.sign_in(username, password)
            except GeoError as exc:
                st.error(md(exc))
            else:
                st.rerun()
    st.caption("First start: the one-time password of the user `demo` was printed in the "
               "terminal where the app was started. Accounts are made by an administrator "
               "(`safeplan users add NAME --role ROLE`).")

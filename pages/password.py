"""Choose a password (required after a one-time password)."""

from __future__ import annotations

import streamlit as st

from geo.errors import GeoError
from ui import session, shell
from ui.markup import md

FIRST_CHANGE_KEY = "_password_first_change"

if st.session_state.pop(FIRST_CHANGE_KEY, False):
    # the one-time password is replaced: on to the work, with the full menu now in place
    # (before anything else, so the Cases screen shows the message)
    st.switch_page(shell.SCREENS["cases"][0])
shell.page("password")
user = session.user()
st.title("Choose your password")
if user is not None and user.must_change_password:
    st.info("You signed in with a one-time password: choose your own to go on.")
st.caption("At least 12 characters, not your user name. A phrase of several words is good.")
with st.form("password_form", clear_on_submit=True):
    old = st.text_input("Current password", type="password", key="pw_old")
    new = st.text_input("New password", type="password", key="pw_new")
    again = st.text_input("New password again", type="password", key="pw_again")
    if st.form_submit_button("Change password", type="primary"):
        if new != again:
            st.error("The two new passwords differ.")
        else:
            first = user is not None and user.must_change_password
            try:
                session.change_password(old, new)
            except GeoError as exc:
                st.error(md(exc))
            else:
                shell.flash("Your password is changed.")
                st.session_state[FIRST_CHANGE_KEY] = first
                st.rerun()

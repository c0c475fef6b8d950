"""Choose a password (required after a one-time password)."""

from __future__ import annotations

import streamlit as st

from geo.errors import GeoError
from ui import session, shell
from ui.markup import md

shell.page("password")
user = session.user()
st.title("Choose your password")
if user is not None and user.must_change_password:
    st.info("You signed in with a one-time password: choose your own to go on.")
st.caption("At least 12 characters, not your user name. A phrase of several words is good.")
with st.form("password_form"):
    old = st.text_input("Current password", type="password", key="pw_old")
    new = st.text_input("New password", type="password", key="pw_new")
    again = st.text_input("New password again", type="password", key="pw_again")
    if st.form_submit_button("Change password", type="primary"):
        if new != again:
            st.error("The two new passwords differ.")
        else:
            try:
                session.change_password(old, new)
            except GeoError as exc:
                st.error(md(exc))
            else:
                shell.flash("Your password is changed.")
                st.rerun()

"""What every page shares: page set-up, who is signed in, the open case and its banner."""

from __future__ import annotations

import getpass
import html

import streamlit as st

from geo.errors import GeoError, NotFound
from geo.store import CaseInfo
from ui import data
from ui.assets import prepare_map_assets

CASE_KEY = "case_ref"
READY_KEY = "_shell_ready"
FLASH_KEY = "_shell_flash"


def flash(message: str) -> None:
    """A success message to show after the rerun that follows a save."""
    st.session_state[FLASH_KEY] = message


def show_flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(message)


def setup() -> None:
    """Page config and map assets; call first in ``app.py``."""
    st.set_page_config(page_title="Safe Location Planner", page_icon="🛡️", layout="wide")
    prepare_map_assets()


def start() -> CaseInfo | None:
    """After navigation is declared: open a case, draw the sidebar; returns the open case."""
    st.session_state[READY_KEY] = True
    choose_default_case()
    return sidebar_case_picker()


def page() -> None:
    """First call of every page: make sure the page has what ``app.py`` gives it.

    Streamlit runs the very first session of a server process (and every AppTest run) in its
    old multipage mode when a ``pages/`` folder exists: a page file runs on its own, without
    ``app.py``. Then the page sets itself up (config, sidebar, banner) and switches that mode
    off for the runs that follow, as ``st.navigation`` itself does once it has run.
    """
    if not st.session_state.pop(READY_KEY, False):
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
        setup()
        info = start()
        st.session_state.pop(READY_KEY, None)
        banner(info)
    show_flash()


def user_name() -> str:
    """Who is using the app (the signed-in user; until sign-in exists, the OS account)."""
    name = st.session_state.get("user_name")
    if name:
        return str(name)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local user"


def current_ref() -> str | None:
    """The reference of the open case, or None."""
    return st.session_state.get(CASE_KEY)


def open_case(ref: str) -> None:
    st.session_state[CASE_KEY] = ref


def choose_default_case() -> None:
    """Open the demo case (or the first case) when nothing is open yet."""
    if current_ref():
        return
    created = data.ensure_demo_case()
    cases = data.list_cases()
    if created:
        open_case(created)
    elif cases:
        open_case(cases[0].ref)


def banner(info: CaseInfo | None) -> None:
    """The case's classification, on every screen."""
    if info is None:
        st.info("No case is open. Open or create one on the **Cases** screen.")
        return
    colour = {"OFFICIAL": "#1f4e79", "SECRET": "#8b0000"}.get(info.classification, "#b35900")
    st.markdown(
        f"<div style='background:{colour};color:#fff;padding:6px 12px;border-radius:4px;"
        f"font-weight:600;letter-spacing:.03em'>{html.escape(info.classification)}"
        f"<span style='font-weight:400'> &nbsp;|&nbsp; {html.escape(info.ref)}: "
        f"{html.escape(info.title or '')}</span></div>",
        unsafe_allow_html=True,
    )


def sidebar_case_picker() -> CaseInfo | None:
    """The case selector in the sidebar; returns the open case's info."""
    cases = data.list_cases()
    ref = current_ref()
    refs = [c.ref for c in cases]
    with st.sidebar:
        st.caption(f"Signed in as **{user_name()}**")
        if not cases:
            st.caption("No cases yet.")
            return None
        index = refs.index(ref) if ref in refs else 0
        chosen = st.selectbox("Open case", refs, index=index,
                              format_func=lambda r: f"{r}: {cases[refs.index(r)].title}",
                              key="sidebar_case")
        if chosen != ref:
            open_case(chosen)
        st.caption("Nothing is sent off this machine. All demo people are fictional.")
    try:
        return data.store().case_info(chosen)
    except NotFound:
        return None


def need_case():
    """The open case, loaded; stops the page with what to do next if there is none."""
    ref = current_ref()
    if not ref:
        st.info("Open a case first: choose one in the sidebar or on the **Cases** screen.")
        st.stop()
    try:
        return data.load(ref)
    except GeoError as exc:
        st.error(str(exc))
        st.stop()

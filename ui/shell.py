"""What every page shares: page set-up, sign-in, the screens a role may use, the open case
and its classification banner."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from geo.access import CaseView
from geo.errors import AccessDenied, GeoError, NotFound
from geo.store import CaseInfo
from ui import data, session
from ui.assets import prepare_map_assets
from ui.markup import html_text, md

CASE_KEY = "case_ref"
#: The sidebar's case selector (and, with "_no_titles", its meeting-screen twin).
CASE_PICKER = "sidebar_case"
READY_KEY = "_shell_ready"
FLASH_KEY = "_shell_flash"

_STAFF = ("admin", "analyst", "housing", "social_worker")
#: Screen -> (file, title, icon, roles that may use it). The order is the menu's.
SCREENS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "cases": ("pages/cases.py", "Cases", ":material/folder_open:", _STAFF),
    "map": ("pages/map.py", "Map", ":material/map:", _STAFF),
    "candidates": ("pages/candidates.py", "Candidates", ":material/home_work:", _STAFF),
    "areas": ("pages/areas.py", "Safe areas", ":material/shield:", _STAFF),
    "network": ("pages/network.py", "Street network", ":material/route:",
                ("admin", "analyst", "housing")),
    "agreements": ("pages/agreements.py", "Agreements", ":material/description:",
                   ("admin", "analyst", "social_worker")),
    "meeting": ("pages/meeting.py", "Meeting view", ":material/co_present:",
                (*_STAFF, "viewer")),
    "case_data": ("pages/case_data.py", "Case data", ":material/table:", _STAFF),
    "audit": ("pages/audit.py", "Audit trail", ":material/policy:", ("admin",)),
    "password": ("pages/password.py", "Password", ":material/key:", (*_STAFF, "viewer")),
}


def flash(message: str) -> None:
    """A success message to show after the rerun that follows a save."""
    st.session_state[FLASH_KEY] = message


def show_flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(md(message))


def setup() -> None:
    """Page config and map assets; call first in ``app.py``."""
    st.set_page_config(page_title="Safe Location Planner", page_icon="🛡️", layout="wide")
    prepare_map_assets()
    data.first_start()


def navigation():
    """The screens the signed-in user may use (only sign-in when nobody is); the first
    thing each run does, so the account is read afresh here."""
    user = session.refresh()
    if user is None:
        # every screen's address leads to the sign-in form (a reload or a bookmark does not
        # end in "page not found"), and after signing in to that screen, if the role has it
        others = [st.Page(_sign_in_screen, title="Sign in", icon=":material/login:",
                          url_path=Path(file).stem)
                  for file, *_ in SCREENS.values() if Path(file).stem != "sign_in"]
        return st.navigation([st.Page("pages/sign_in.py", title="Sign in",
                                      icon=":material/login:", default=True), *others],
                             position="hidden")
    if user.must_change_password:
        return st.navigation([st.Page("pages/password.py", title="Choose your password",
                                      icon=":material/key:", default=True)],
                             position="hidden")
    names = [n for n, s in SCREENS.items() if user.role in s[3]]
    pages = [st.Page(SCREENS[n][0], title=SCREENS[n][1], icon=SCREENS[n][2],
                     default=i == 0) for i, n in enumerate(names)]
    return st.navigation(pages, position="top")


def _sign_in_screen() -> None:
    from ui import signin

    page("sign_in")
    signin.render()


def start(*, titles: bool = True) -> CaseInfo | None:
    """After navigation: open a case, draw the sidebar; returns the open case's info.
    ``titles=False`` (the meeting view, on a shared screen) shows case references only: a
    title may name the family."""
    st.session_state[READY_KEY] = True
    if session.user() is None or session.user().must_change_password:
        return None
    choose_default_case()
    return sidebar(titles=titles)


def shows_titles(navigation) -> bool:
    """Whether the screen about to run may show case titles (not the meeting view)."""
    return getattr(navigation, "title", "") != SCREENS["meeting"][1]


def page(screen: str) -> None:
    """First call of every page: make sure it is allowed and has what ``app.py`` gives it.

    Streamlit runs the very first session of a server process (and every AppTest run) in its
    old multipage mode when a ``pages/`` folder exists: a page file runs on its own, without
    ``app.py``. Then the page sets itself up (config, sign-in, sidebar, banner) and switches
    that mode off for the runs that follow, as ``st.navigation`` itself does once it has run.
    The role check here is a second line: the engine (:mod:`geo.access`) decides what any
    role sees and may do.
    """
    if not st.session_state.pop(READY_KEY, False):
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
        setup()
        if screen != "sign_in" and session.refresh() is None:
            from ui import signin

            signin.render()
            st.stop()
        info = start(titles=screen != "meeting")
        st.session_state.pop(READY_KEY, None)
        if screen not in ("sign_in", "password"):
            banner(info, title=screen != "meeting")
    user = session.user()
    if screen not in ("sign_in", "password") and (
            user is None or user.role not in SCREENS[screen][3]):
        st.error("Your role does not give you this screen.")
        st.stop()
    show_flash()


def current_ref() -> str | None:
    """The reference of the open case, or None."""
    return st.session_state.get(CASE_KEY)


def open_case(ref: str) -> None:
    st.session_state[CASE_KEY] = ref
    session.forget_view()


def choose_default_case() -> None:
    """Open the first case the user may see when nothing is open yet."""
    if current_ref():
        return
    cases = session.secure().list_cases()
    demo = [c.ref for c in cases if c.ref.startswith("DEMO-")]
    if cases:
        open_case(demo[0] if demo else cases[0].ref)


def banner(info: CaseInfo | None, *, title: bool = True) -> None:
    """The case's classification, on every screen (with its title unless ``title`` is
    false)."""
    if info is None:
        user = session.user()
        if user is not None and not user.must_change_password and user.role != "viewer":
            st.info("No case is open. Choose one on the **Cases** screen.")
        return
    colour = {"OFFICIAL": "#1f4e79", "SECRET": "#8b0000"}.get(info.classification, "#b35900")
    st.markdown(
        f"<div style='background:{colour};color:#fff;padding:6px 12px;border-radius:4px;"
        f"font-weight:600;letter-spacing:.03em'>{html_text(info.classification)}"
        f"<span style='font-weight:400'> &nbsp;|&nbsp; {html_text(info.ref)}: "
        f"{html_text(info.title or '') if title else 'title not shown in the meeting view'}"
        "</span></div>",
        unsafe_allow_html=True,
    )


def sidebar(*, titles: bool = True) -> CaseInfo | None:
    """Who is signed in, sign-out, and the case selector; returns the open case's info."""
    user = session.user()
    cases = session.secure().list_cases()
    ref = current_ref()
    refs = [c.ref for c in cases]
    with st.sidebar:
        st.caption(f"Signed in as {md(user.display_name or user.username)}, "
                   f"{user.role.replace('_', ' ')}")
        if st.button("Sign out", key="sidebar_sign_out", icon=":material/logout:"):
            session.sign_out()
            st.rerun()
        if not cases:
            st.caption("No case is shared with you yet: ask an administrator.")
            return None
        # its own key where titles are hidden (a widget keeps the label it was drawn with),
        # always showing the open case; a choice opens that case before the next run
        key = CASE_PICKER if titles else f"{CASE_PICKER}_no_titles"
        if ref not in refs:
            ref = refs[0]
            open_case(ref)
        st.session_state[key] = ref
        st.selectbox("Open case", refs,
                     format_func=lambda r: f"{r}: {cases[refs.index(r)].title}" if titles else r,
                     key=key, on_change=lambda: open_case(st.session_state[key]))
        chosen = ref
        st.caption("Nothing is sent off this machine. All demo people are fictional.")
    try:
        return session.secure().case_info(chosen)
    except (NotFound, AccessDenied):
        return None


def need_case() -> CaseView:
    """The open case as this user may see it; stops the page with what to do next if there
    is none."""
    ref = current_ref()
    if not ref:
        st.info("Open a case first: choose one in the sidebar or on the **Cases** screen.")
        st.stop()
    try:
        view = session.view(ref)
    except GeoError as exc:
        st.error(md(exc))
        st.stop()
    if view.note:
        st.caption(md(view.note))
    return view


def user_name() -> str:
    user = session.user()
    return user.username if user else ""

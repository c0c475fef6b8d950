"""Who is signed in, for how long, and what they may see: the app's side of need-to-know.

Every case the app shows comes through :class:`geo.access.SecureStore` for the signed-in user:
the engine decides what each role sees and may do, records it in the audit trail, and asks
for a purpose before anything leaves. This module keeps the user in ``st.session_state``
(per browser session, never shared), ends idle sessions, and keeps one opened view of a
case per session and version, so a rerun does not record a new "case opened".
"""

from __future__ import annotations

import contextlib
import datetime as dt

import streamlit as st

from geo import auth
from geo.access import CaseView, SecureStore
from geo.auth import User
from geo.errors import AccessDenied, GeoError
from ui import data

USER_KEY = "_user"
SEEN_KEY = "_last_seen"
VIEW_KEY = "_case_view"
NOTICE_KEY = "_signin_notice"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def oidc_configured() -> bool:
    """Whether an OpenID Connect provider is set up for ``st.login`` (``[auth]`` secrets)."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, AttributeError):
        return False
    except Exception:  # a secrets file that does not parse: no provider
        return False


def user() -> User | None:
    """The signed-in user, or None (an idle session is signed out here, and recorded)."""
    current: User | None = st.session_state.get(USER_KEY)
    if current is None:
        return None
    last = st.session_state.get(SEEN_KEY)
    if last is not None and auth.is_idle(last, _now(), data.settings()):
        sign_out(reason="idle")
        st.session_state[NOTICE_KEY] = (
            f"You were signed out after {data.settings().idle_timeout_min:g} minutes without "
            "activity. Sign in again to go on.")
        return None
    st.session_state[SEEN_KEY] = _now()
    return current


def refresh() -> User | None:
    """:func:`user`, with the account read again as the database has it now: a changed role
    or a disabled account counts from this run on. Called once at the start of each run
    (the engine checks the account on every call of its own)."""
    current = user()
    if current is None:
        return None
    try:
        fresh = auth.current_user(data.store(), current.username)
    except AccessDenied as exc:
        sign_out(reason="account disabled")
        st.session_state[NOTICE_KEY] = str(exc).capitalize() + "."
        return None
    if fresh != current:
        st.session_state[USER_KEY] = fresh
        st.session_state.pop(VIEW_KEY, None)  # opened under the old role
    return fresh


def secure() -> SecureStore:
    """The store as the signed-in user may use it."""
    current = st.session_state.get(USER_KEY)
    if current is None:
        msg = "sign in first"
        raise AccessDenied(msg)
    return SecureStore(data.store(), current)


def sign_in(username: str, password: str) -> User:
    """Check a password (lockout and audit are the engine's); keep the user in the session."""
    signed = auth.authenticate(data.store(), username, password, settings=data.settings())
    _start(signed)
    return signed


def sign_in_with_provider() -> User:
    """After ``st.login``: the account whose user name is the provider's e-mail address."""
    email = str(getattr(st.user, "email", "") or "")
    signed = auth.sign_in_external(data.store(), email, provider="oidc")
    _start(signed)
    return signed


def _start(signed: User) -> None:
    st.session_state[USER_KEY] = signed
    st.session_state[SEEN_KEY] = _now()
    st.session_state.pop(VIEW_KEY, None)
    st.session_state.pop(NOTICE_KEY, None)


def change_password(old: str, new: str) -> None:
    current = st.session_state[USER_KEY]
    auth.change_password(data.store(), current.username, old, new)
    st.session_state[USER_KEY] = User(current.username, current.display_name, current.role,
                                      False)


def sign_out(*, reason: str = "signed out") -> None:
    """End the session's sign-in (recorded) and forget everything it had open."""
    current = st.session_state.get(USER_KEY)
    if current is not None:
        with contextlib.suppress(GeoError):  # signing out must not fail on a record
            auth.sign_out(data.store(), current, reason=reason)
    for key in list(st.session_state):
        if not str(key).startswith("FormSubmitter"):
            del st.session_state[key]
    if oidc_configured() and getattr(st.user, "is_logged_in", False):
        # the provider's sign-in lives in a cookie: without this, the sign-in screen would
        # sign the same person straight back in after a sign-out or an idle timeout
        st.logout()


def view(ref: str) -> CaseView:
    """The signed-in user's view of a case, opened once per session and case version."""
    version = secure().case_info(ref).version
    kept: CaseView | None = st.session_state.get(VIEW_KEY)
    if kept is not None and kept.ref == ref and kept.version == version:
        return kept
    opened = secure().open_case(ref)
    st.session_state[VIEW_KEY] = opened
    return opened


def forget_view() -> None:
    """Drop the kept view (after a save: the next look opens the new version)."""
    st.session_state.pop(VIEW_KEY, None)

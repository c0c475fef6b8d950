"""App tests: one fictional demo store per module, a signed-in user per test.

The first run of the app on an empty store sets up the demo case and the ``demo`` user (its
one-time password printed). Tests then add a user per role with a known password and sign in
through the form, as a person would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app.py"
DEMO = "DEMO-2026-0147"
PASSWORD = "correct horse battery staple"
ROLES = ("admin", "analyst", "housing", "social_worker", "viewer")


@pytest.fixture(scope="module")
def app_data(tmp_path_factory):
    """A data folder shared by a module's tests (the demo case is set up once in it)."""
    return tmp_path_factory.mktemp("app-data")


@pytest.fixture
def isolated_settings(app_data, monkeypatch):
    """Overrides the per-test data folder: app tests share their module's store."""
    monkeypatch.setenv("SAFEPLAN_DATA_DIR", str(app_data))
    for name in ("SAFEPLAN_DATABASE_URL", "SAFEPLAN_TILE_URL", "SAFEPLAN_TILE_ATTRIBUTION"):
        monkeypatch.delenv(name, raising=False)
    return app_data


def store_of(app_data):
    from geo.store import Store

    return Store(f"sqlite:///{app_data / 'safeplan.db'}")


def ensure_user(app_data, role: str, *, cases=(DEMO,), name: str = "") -> str:
    """A user named after the role (``role-user``) with :data:`PASSWORD`; made once."""
    from geo import auth

    name = name or f"{role.replace('_', '')}-user"
    store = store_of(app_data)
    try:
        if name not in {u.username for u in auth.list_users(store)}:
            otp = auth.add_user(store, name, role, actor="test", display_name=f"Test {role}",
                                cases=cases)
            auth.change_password(store, name, otp, PASSWORD)
    finally:
        store.close()
    return name


def fresh_app() -> AppTest:
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def sign_in(at: AppTest, name: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key="signin_user").set_value(name)
    at.text_input(key="signin_password").set_value(password)
    at.get("form_submit_button")[0].click()
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def signed_in(isolated_settings):
    """``signed_in(role)``: the app, run on a fresh set of caches, signed in with that role."""

    def make(role: str = "analyst") -> AppTest:
        at = fresh_app()  # the first run sets up the demo case and the demo user
        sign_in(at, ensure_user(isolated_settings, role))
        return at

    return make


@pytest.fixture
def app(signed_in):
    """The app signed in as an analyst (full view of the demo case)."""
    return signed_in("analyst")


def page(at: AppTest, path: str) -> AppTest:
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at

"""App tests: one fictional demo store per module, Streamlit caches cleared between runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app.py"


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


@pytest.fixture
def app(isolated_settings):
    """The app, run once, on a fresh set of caches (so it uses this module's store)."""
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def page(at: AppTest, path: str) -> AppTest:
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at

"""Cached access to cases for the app (read-only shared data; per-user state elsewhere)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from geo.demo import write_demo
from geo.io import open_case
from geo.model import Case
from geo.settings import Settings


@st.cache_resource
def settings() -> Settings:
    """The deployment settings, read once."""
    return Settings.from_env()


@st.cache_resource(show_spinner="Building the fictional demo case...")
def demo_case_path() -> Path:
    """The demo case file in the data folder, built on first use."""
    path = settings().data_dir / "demo" / "demo_case.gpkg"
    if not path.exists():
        write_demo(path.parent)
    return path


@st.cache_data(max_entries=8, show_spinner="Opening the case...")
def load_case(path: str) -> Case:
    """A validated case from a GeoPackage (cached per file)."""
    return open_case(path)

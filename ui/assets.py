"""Map assets served by the app itself: copied from installed packages, never from a CDN.

Streamlit serves ``./static`` (next to ``app.py``) at ``/app/static`` when
``server.enableStaticServing`` is on (``.streamlit/config.toml``). At start-up the Leaflet,
Leaflet.draw, jQuery and heat-map files are copied there from the installed packages and
every folium element is pointed at them (:func:`geo.maps.use_local_assets`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from geo.maps import install_assets, use_local_assets

APP_DIR = Path(__file__).resolve().parents[1]
STATIC_DIR = APP_DIR / "static" / "vendor"
BASE_URL = "/app/static/vendor"


@st.cache_resource
def prepare_map_assets() -> Path:
    """Copy the asset files and point folium at them (once per server process)."""
    folder = install_assets(STATIC_DIR, BASE_URL)
    use_local_assets(BASE_URL)
    return folder

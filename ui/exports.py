"""Downloads of layers for police systems and QGIS: GeoJSON, GeoPackage, KML, CSV."""

from __future__ import annotations

import tempfile
from pathlib import Path

import geopandas as gpd

from geo.io import write_table

FORMATS = {
    "GeoJSON": (".geojson", "application/geo+json"),
    "GeoPackage": (".gpkg", "application/geopackage+sqlite3"),
    "KML": (".kml", "application/vnd.google-earth.kml+xml"),
    "CSV (no geometry)": (".csv", "text/csv"),
}


def layer_bytes(frame: gpd.GeoDataFrame, name: str, fmt: str) -> tuple[bytes, str, str]:
    """A layer written in a format: the bytes, a file name and its MIME type."""
    suffix, mime = FORMATS[fmt]
    with tempfile.TemporaryDirectory(prefix="safeplan-export-") as folder:
        path = write_table(frame, Path(folder) / f"{name}{suffix}", layer=name)
        return path.read_bytes(), path.name, mime


def download_layer(frame: gpd.GeoDataFrame, name: str, what: str, *, key: str) -> None:
    """Format choice and download button for a layer (GeoJSON, GeoPackage, KML or CSV)."""
    import streamlit as st

    fmt = st.radio("Export format", list(FORMATS), horizontal=True, key=f"{key}_fmt")
    payload, file_name, mime = layer_bytes(frame, name, fmt)
    st.download_button(f"Download {what} ({fmt})", payload, file_name=file_name, mime=mime,
                       key=f"{key}_download")

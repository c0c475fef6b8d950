"""Everything that leaves the app: asked for a purpose first, recorded, then handed over.

A download is prepared in two steps: the user says why (the purpose is required), the
engine records the export or print in the audit trail (:meth:`geo.access.SecureStore.export`
and ``print_``, which refuse roles that may not), and only then is the file offered.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import geopandas as gpd
import streamlit as st

from geo.errors import GeoError
from geo.io import write_table
from ui import session
from ui.markup import md

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


def guarded_download(
    label: str,
    make: Callable[[], tuple[bytes, str, str]],
    *,
    ref: str,
    key: str,
    kind: Literal["export", "print"] = "export",
    what: dict | None = None,
) -> None:
    """A purpose box, a button that records the export (or print), then the download.

    ``make`` builds ``(bytes, file name, MIME type)`` only once the export is recorded.
    """
    purpose = st.text_input(f"Purpose of this {kind} (required, recorded with your name)",
                            key=f"{key}_purpose",
                            placeholder="for example: strategy meeting 27 Nov, housing panel")
    ready = f"{key}_ready"
    # what was recorded: this user, this case, this purpose and this content; anything else
    # (another case opened in the sidebar, say) needs its own record first
    user = session.user()
    token = hashlib.sha256(
        f"{user.username if user else ''}|{ref}|{purpose}|{what}".encode()).hexdigest()
    if st.session_state.get(ready) != token:
        if st.button(f"Prepare: {label}", key=f"{key}_prepare", disabled=not purpose.strip()):
            try:
                secure = session.secure()
                record = secure.print_ if kind == "print" else secure.export
                record(ref, purpose=purpose, what=what or {})
            except GeoError as exc:
                st.error(md(exc))
                return
            st.session_state[ready] = token
            st.rerun()
        return
    with st.spinner(f"Preparing: {label}..."):
        payload, file_name, mime = make()
    st.download_button(label, payload, file_name=file_name, mime=mime,
                       key=f"{key}_download", type="primary")


def download_layer(frame: gpd.GeoDataFrame, name: str, what: str, *, ref: str,
                   key: str) -> None:
    """Format choice and a guarded download of a layer (GeoJSON, GeoPackage, KML or CSV)."""
    fmt = st.radio("Export format", list(FORMATS), horizontal=True, key=f"{key}_fmt")
    guarded_download(f"Download {what} ({fmt})", lambda: layer_bytes(frame, name, fmt),
                     ref=ref, key=key, what={"layer": name, "format": fmt,
                                             "rows": len(frame)})

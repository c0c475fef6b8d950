"""Editing a case's layers as tables, importing files with a preview, the case's policy."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.access import CaseView
from geo.crs import BNG, WGS84
from geo.errors import InputError, ValidationError
from geo.io import import_file
from geo.model import LAYERS, check_layer, validate_case
from geo.settings import Policy
from geo.store import Changes
from ui import data, session
from ui.uploads import saved_upload


def editable(frame: pd.DataFrame, layer: str) -> pd.DataFrame:
    """A layer as an editable table: points get ``lat``/``lon`` columns, polygons an area."""
    spec = LAYERS[layer]
    table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore")).copy()
    if spec.geometry == "Point" and len(frame):
        wgs = frame.to_crs(WGS84)
        table["lat"] = wgs.geometry.y.round(6).to_numpy()
        table["lon"] = wgs.geometry.x.round(6).to_numpy()
    elif spec.geometry == "Point":
        table["lat"] = pd.Series(dtype=float)
        table["lon"] = pd.Series(dtype=float)
    elif spec.geometry == "Polygon":
        table["area_km2"] = (frame.area / 1e6).round(3).to_numpy() if len(frame) else []
    return table.reset_index(drop=True)


def _with_geometry(view: CaseView, layer: str, table: pd.DataFrame) -> pd.DataFrame:
    """The edited table back as a layer: geometry from lat/lon, or the stored polygon."""
    spec = LAYERS[layer]
    table = table.copy()
    if spec.geometry == "Point":
        lat = pd.to_numeric(table.pop("lat"), errors="coerce").to_numpy(float)
        lon = pd.to_numeric(table.pop("lon"), errors="coerce").to_numpy(float)
        geoms = np.where(np.isnan(lat) | np.isnan(lon), None,
                         shapely.points(np.nan_to_num(lon), np.nan_to_num(lat)))
        return gpd.GeoDataFrame(table, geometry=list(geoms), crs=WGS84)
    if spec.geometry == "Polygon":
        table = table.drop(columns="area_km2", errors="ignore")
        old = view.case[layer]
        if spec.id_column:
            shapes = dict(zip(old[spec.id_column].astype(str), old.geometry, strict=True))
            geoms = [shapes.get(str(k)) for k in table[spec.id_column]]
        else:
            geoms = list(old.geometry)[: len(table)] + [None] * max(0, len(table) - len(old))
        return gpd.GeoDataFrame(table, geometry=geoms, crs=BNG)
    return table


def check_edits(view: CaseView, layer: str, table: pd.DataFrame):
    """Problems the edited table would cause, in words (layer checks and references)."""
    frame = _with_geometry(view, layer, table)
    _, problems = check_layer(layer, frame)
    report = validate_case(view.case.replace(**{layer: frame}))
    seen = {str(p) for p in problems}
    return problems + [p for p in report.errors if p.layer != layer and str(p) not in seen]


def save_edits(view: CaseView, layer: str, table: pd.DataFrame) -> int:
    """Save the edited table as row changes, all or nothing; return the new version."""
    frame = _with_geometry(view, layer, table)
    return session.secure().replace_layer(view.ref, layer, frame, base_version=view.version,
                                          reason=f"edited {layer} in the app")


def preview_import(view: CaseView, layer: str, upload):
    """The rows a file would add to a layer (checked with the case), nothing saved yet.

    Returns the new rows. Raises :class:`ValidationError` listing every bad row.
    """
    with saved_upload(upload, data.settings()) as path:
        merged, summary = import_file(view.case, layer, path, settings=data.settings(),
                                      display_name=upload.name)
    added = merged[layer].iloc[len(view.case[layer]):]
    return added, summary


def save_import(view: CaseView, layer: str, rows: pd.DataFrame, *, name: str) -> int:
    return session.secure().save_changes(view.ref, Changes().add(layer, rows),
                                         base_version=view.version, reason=f"imported {name}")


def policy_text(view: CaseView) -> str:
    layer = view.case["policy"]
    if len(layer) and isinstance(layer["toml"].iloc[0], str):
        return layer["toml"].iloc[0]
    return ""


def save_policy(view: CaseView, text: str) -> int:
    """Check a case policy (TOML overrides) and store it; an error names the key."""
    Policy.default().with_overrides(text, origin="the case's policy")
    frame = pd.DataFrame({"toml": [text]}) if text.strip() else pd.DataFrame({"toml": []})
    return session.secure().replace_layer(view.ref, "policy", frame,
                                          base_version=view.version,
                                          reason="changed the case's risk policy")


def problems_table(problems) -> pd.DataFrame:
    return pd.DataFrame({"": ["error" if p.severity == "error" else "warning"
                              for p in problems],
                         "row": [p.row for p in problems],
                         "column": [p.column for p in problems],
                         "problem": [p.message for p in problems]})


__all__ = ["InputError", "ValidationError"]

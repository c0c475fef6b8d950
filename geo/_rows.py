"""Layer rows to and from what the store keeps: JSON attributes, WKB geometry, column dtypes.

A layer is stored as its columns (name and pandas dtype, in order) plus, per row, a JSON
object of the non-missing values and the geometry as WKB. :func:`frame_from_rows` rebuilds
the same frame, column order and dtypes included, so a stored case exports exactly as it was
imported. Missing values are left out of the JSON and come back as the dtype's missing value.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import BNG
from geo.errors import InputError

GEOMETRY = "geometry"

ColumnSpec = list[tuple[str, str]]
"""``[(name, dtype), ...]`` in order; the geometry column is not listed."""


def column_spec(frame: pd.DataFrame) -> ColumnSpec:
    """The non-geometry columns of ``frame`` with their dtypes, in order."""
    geom = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    return [(str(c), str(frame[c].dtype)) for c in frame.columns if c != geom]


def dumps(value: object) -> str:
    """Compact JSON, key order kept (rows are compared as parsed objects, not text)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _column_values(series: pd.Series, layer: str) -> list[Any]:
    """Plain Python values for JSON, ``None`` where missing."""
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return [None if pd.isna(v) else v.isoformat() for v in series]
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.BooleanDtype):
        return series.tolist()
    values = series.astype(object).where(series.notna(), None).tolist()
    if not pd.api.types.is_object_dtype(dtype):  # text, numbers: plain Python values
        return values
    out: list[Any] = []
    for v in values:
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, bytes | bytearray | memoryview):
            v = {"$base64": base64.b64encode(bytes(v)).decode("ascii")}
        elif isinstance(v, pd.Timestamp):
            v = v.isoformat()
        elif not (v is None or isinstance(v, str | int | float | bool | list | dict)):
            msg = (
                f"layer {layer} column {series.name!r} holds {type(v).__name__} values, "
                "which cannot be stored; use text or numbers"
            )
            raise InputError(msg)
        out.append(v)
    return out


def encode_rows(frame: pd.DataFrame, *, layer: str) -> tuple[list[str], list[bytes | None]]:
    """Each row's attributes as a JSON object (missing values left out) and geometry as WKB.

    Geometry is written in 2D ISO WKB. The frame must already be in EPSG:27700.
    """
    names = [name for name, _ in column_spec(frame)]
    columns = [_column_values(frame[name], layer) for name in names]
    attrs = [
        dumps({k: v for k, v in zip(names, values, strict=True) if v is not None})
        for values in zip(*columns, strict=True)
    ] if names else ["{}"] * len(frame)
    if isinstance(frame, gpd.GeoDataFrame):
        geoms = np.asarray(frame.geometry.values, dtype=object)
        wkb = shapely.to_wkb(geoms, output_dimension=2)
        return attrs, [None if w is None else bytes(w) for w in wkb]
    return attrs, [None] * len(frame)


def row_object(attrs: str, wkb: bytes | None) -> dict[str, Any]:
    """One stored row as a JSON-ready object, as kept in the change log."""
    return {"attrs": json.loads(attrs), "wkb": None if wkb is None else wkb.hex()}


def _decode_bytes(v: object) -> object:
    if isinstance(v, dict) and "$base64" in v:
        return base64.b64decode(v["$base64"])
    return v


def series_from_values(values: Sequence[Any], dtype: str, name: str) -> pd.Series:
    """A column of plain values (``None`` missing) as ``dtype``."""
    if dtype.startswith("datetime64"):
        aware = "," in dtype  # datetime64[ms, Europe/London]
        stamps = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601", utc=aware)
        if aware:
            stamps = stamps.dt.tz_convert(dtype.split(",", 1)[1].strip(" ]"))
        return stamps.astype(dtype).rename(name)
    if dtype == "object":
        return pd.Series([_decode_bytes(v) for v in values], dtype=object, name=name)
    if dtype == "bool":
        return pd.Series([bool(v) for v in values], dtype=bool, name=name)
    return pd.Series(values, dtype=object, name=name).astype(dtype)


def frame_from_rows(
    columns: ColumnSpec,
    attrs: Iterable[str],
    wkb: Sequence[bytes | None] | None,
) -> pd.DataFrame:
    """Rebuild a layer from stored rows: columns in order, dtypes as saved, EPSG:27700.

    ``wkb`` is ``None`` for a layer without geometry.
    """
    texts = list(attrs)
    rows = json.loads("[" + ",".join(texts) + "]") if texts else []
    data = {
        name: series_from_values([r.get(name) for r in rows], dtype, name)
        for name, dtype in columns
    }
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(rows)), columns=[n for n, _ in columns])
    if wkb is None:
        return frame
    geoms = shapely.from_wkb(np.asarray(wkb, dtype=object)) if len(wkb) else []
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=BNG, name=GEOMETRY),
                            crs=BNG)

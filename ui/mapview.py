"""The map widget: the folium map in Streamlit, what was clicked, and a drawn zone."""

from __future__ import annotations

import datetime as dt
import json

import folium
import geopandas as gpd
import pandas as pd
import shapely
from streamlit_folium import st_folium

from geo.crs import BNG, WGS84
from geo.maps import case_map, feature_at
from geo.model import Case
from geo.settings import Policy, Settings

RETURNED = ["last_object_clicked", "last_active_drawing"]


def tiles(settings: Settings) -> tuple[str, str] | None:
    """The tile server an administrator configured, if any (none by default)."""
    if settings.tile_url:
        return settings.tile_url, settings.tile_attribution
    return None


def build_map(case: Case, policy: Policy, layers: dict, settings: Settings, *,
              as_of: dt.date, draw: bool, show_heat: bool, top_n: int) -> folium.Map:
    """The folium map for a case and its derived layers (built afresh on each run: the
    map widget changes the map object as it renders it, so one cannot be reused)."""
    return case_map(case, policy=policy, as_of=dt.datetime.combine(as_of, dt.time(23, 59)),
                    tiles=tiles(settings), draw=draw, show_heat=show_heat, top_n=top_n,
                    **layers)


def show(m: folium.Map, *, key: str, height: int = 620) -> dict:
    """Render the map; returns what the user clicked or drew (only those, to rerun less)."""
    return st_folium(m, key=key, height=height, use_container_width=True,
                     returned_objects=RETURNED) or {}


def clicked(result: dict, layers: dict[str, gpd.GeoDataFrame]) -> tuple[str, pd.Series] | None:
    """The feature under the last click, looked up in ``layers`` (EPSG:27700 frames)."""
    point = result.get("last_object_clicked")
    if not point or "lat" not in point:
        return None
    return feature_at(layers, float(point["lat"]), float(point["lng"]))


def drawn_polygon(result: dict) -> shapely.Geometry | None:
    """The polygon just drawn, in EPSG:27700, or None."""
    drawing = result.get("last_active_drawing")
    if not drawing or not drawing.get("geometry"):
        return None
    geom = shapely.from_geojson(json.dumps(drawing["geometry"]))
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
        return None
    return gpd.GeoSeries([geom], crs=WGS84).to_crs(BNG).iloc[0]


def details_table(row: pd.Series) -> pd.DataFrame:
    """A feature's attributes as a two-column table (shown as text, never as HTML)."""
    items = [(str(k).replace("_", " ").capitalize(),
              "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
             for k, v in row.items() if k != "geometry"]
    return pd.DataFrame(items, columns=["field", "value"])

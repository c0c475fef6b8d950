"""Projection helpers: all maths in British National Grid, WGS84 only at the edges.

Notes
-----
EPSG:27700 (OSGB36 / British National Grid) has metre units and is what every distance and
buffer in this project uses. EPSG:4326 (WGS84 longitude/latitude) is used for input, the map
and exports.
"""

from __future__ import annotations

from functools import cache

import geopandas as gpd
import numpy as np
from pyproj import CRS, Transformer

BNG = 27700
WGS84 = 4326

#: Great Britain and its islands in EPSG:27700 (x_min, y_min, x_max, y_max), with a margin.
GB_BOUNDS_BNG = (-10_000.0, -10_000.0, 700_000.0, 1_300_000.0)
#: The same in WGS84 longitude/latitude.
GB_BOUNDS_WGS84 = (-9.0, 49.7, 2.1, 61.0)


@cache
def _transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def wgs84_to_bng(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude arrays (degrees) to easting/northing arrays (metres)."""
    return _transformer(WGS84, BNG).transform(np.asarray(lon, float), np.asarray(lat, float))


def bng_to_wgs84(easting, northing) -> tuple[np.ndarray, np.ndarray]:
    """Easting/northing arrays (metres) to longitude/latitude arrays (degrees)."""
    return _transformer(BNG, WGS84).transform(
        np.asarray(easting, float), np.asarray(northing, float)
    )


def is_bng(crs) -> bool:
    """Whether ``crs`` is British National Grid."""
    return crs is not None and CRS.from_user_input(crs).to_epsg() == BNG


def to_bng(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:27700 (unchanged object if it already is)."""
    return gdf if is_bng(gdf.crs) else gdf.to_crs(BNG)


def to_wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326 for maps and exports."""
    return gdf.to_crs(WGS84)


def inside(x, y, bounds: tuple[float, float, float, float]) -> np.ndarray:
    """Boolean mask of coordinates inside ``(x_min, y_min, x_max, y_max)``."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    return (x >= bounds[0]) & (x <= bounds[2]) & (y >= bounds[1]) & (y <= bounds[3])

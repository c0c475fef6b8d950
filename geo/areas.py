"""Safe housing areas: the case's rules evaluated on a grid, merged into named areas.

Housing providers need to know where to look before any address exists. The same rules that
rank candidate addresses (:mod:`geo.rank`) are applied to the centre of every cell of a
square grid over a study region, as if each centre were a vacancy:

1. **Surface** (:func:`grid_surface`): cells of ``areas.cell_m`` over the study region (the
   extent of the case's features plus ``areas.margin_m``, or a named boundary); every centre
   is assessed and judged exactly as a candidate is (:func:`geo.rank.assess`,
   :func:`geo.rank.judge`): exclusions, zones, threat score, school and support limits.
2. **Areas** (:func:`areas_from_surface`): eligible cells scoring at least
   ``areas.min_score`` are joined with their edge neighbours into connected areas; an area
   larger than ``areas.max_area_km2`` is split along postcode districts (each cell belongs to
   the district of its nearest postcode unit) so that it reads as places to ask about. Each
   outline is smoothed (by 0.4 of a cell, so it never reaches the centre of a cell that is
   not part of it), clipped to the study region, and every zone that
   excludes a home is cut out with a clearance of :data:`CLEARANCE_M`, so **no area touches
   an exclusion zone** even where a cell's centre was clear of it but its corner was not.
   Pieces smaller than ``areas.min_area_km2`` are dropped.
3. **Ranking and names**: areas rank by their mean cell score (high first), then by size
   (large first), then by name; the best ``areas.max_areas`` are kept and numbered ``S01``,
   ``S02`` ... Each is named by the postcode districts and sectors it covers (Code-Point Open
   sector outlines, :func:`geo.geocode.sector_outlines`; only sectors that overlap it by at
   least a hectare, most-covered first) and by the named boundaries it overlaps, and says in
   words why it is suggested and what limits it.

Notes
-----
All geometry is in British National Grid (EPSG:27700), metres. Cell values are measured at
cell centres; area outlines follow cells to within 0.4 of a cell, except where an exclusion
zone cuts them exactly. School runs in the reasons are measured on the area's outline
(nearest edge and farthest corner) and are straight-line estimates unless a street graph is
given.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import _text as T
from geo.crs import BNG
from geo.errors import InputError
from geo.model import Case
from geo.rank import Assessment, Judgement, Travel, assess, judge
from geo.settings import Policy
from geo.sources import household, threat_sources
from geo.zones import exclusion_zones, radius_text

#: Columns of ``safeplan areas`` output, in order (then the extra columns below).
AREA_COLUMNS = ["area_id", "rank", "score", "name", "postcode_sectors", "reasons", "area_km2"]
EXTRA_COLUMNS = ["postcode_districts", "boundaries", "why", "limits", "score_min", "score_max",
                 "threat_max", "nearest_threat", "nearest_threat_m", "school_min_max", "cells"]

#: Metres kept clear between a safe area and any zone that excludes a home.
CLEARANCE_M = 1.0
#: Most cells a surface may have (a 1,000 km x 1,000 km region at 250 m would be 16 million).
MAX_CELLS = 2_000_000
#: A sector must overlap an area by this much (square metres) to name it.
MIN_SECTOR_OVERLAP_M2 = 10_000.0

_THREAT_WORDS = ["none", "low", "moderate", "high", "very high"]
_THREAT_STEPS = np.array([1e-9, 0.1, 0.5, 1.0])


@dataclass(frozen=True)
class Region:
    """The study region: its outline, a name for messages and any named boundaries in it."""

    geometry: shapely.Geometry
    name: str
    boundaries: gpd.GeoDataFrame


@dataclass(frozen=True)
class Surface:
    """The rules evaluated at the centre of every grid cell of a study region.

    Attributes
    ----------
    region
        The study region.
    cell_m
        Side of a cell in metres.
    origin
        ``(x, y)`` of the lower-left corner of grid cell (row 0, column 0), metres.
    shape
        ``(rows, columns)`` of the grid; only cells whose centre lies in the region are
        evaluated.
    row, col
        Grid position of each evaluated cell (the order of ``assessment.candidates``).
    assessment, judgement
        As for candidate addresses (:func:`geo.rank.assess`, :func:`geo.rank.judge`).
    case
        The case the surface was made from.
    """

    region: Region
    cell_m: float
    origin: tuple[float, float]
    shape: tuple[int, int]
    row: np.ndarray
    col: np.ndarray
    assessment: Assessment
    judgement: Judgement
    case: Case

    @cached_property
    def blocked(self) -> gpd.GeoDataFrame:
        """Every zone that excludes a home for this household (derived exclusion zones and
        the case's zones that apply), with ``zone_id, reason``; made when first asked for."""
        a = self.assessment
        return _blocked_zones(self.case, a.policy, a.sources, a.household.zones)

    @property
    def x(self) -> np.ndarray:
        return self.origin[0] + (self.col + 0.5) * self.cell_m

    @property
    def y(self) -> np.ndarray:
        return self.origin[1] + (self.row + 0.5) * self.cell_m

    def boxes(self, idx: np.ndarray | None = None) -> np.ndarray:
        """The squares of the cells ``idx`` (all by default) as shapely polygons."""
        idx = np.arange(len(self.row)) if idx is None else idx
        x0 = self.origin[0] + self.col[idx] * self.cell_m
        y0 = self.origin[1] + self.row[idx] * self.cell_m
        return shapely.box(x0, y0, x0 + self.cell_m, y0 + self.cell_m)

    def cells(self) -> gpd.GeoDataFrame:
        """Every evaluated cell as a square with its values, for a map or an export.

        Columns ``cell_id, eligible, score, threat_score, school_min, support_km`` and the
        square (EPSG:27700).
        """
        a, j = self.assessment, self.judgement
        return gpd.GeoDataFrame({
            "cell_id": a.candidates["candidate_id"].to_numpy(),
            "eligible": j.eligible,
            "score": j.score,
            "threat_score": np.round(a.threat, 3),
            "school_min": np.round(a.school_min, 1),
            "support_km": np.round(a.support_km, 2),
        }, geometry=self.boxes(), crs=BNG)


# ---------------------------------------------------------------------------------------------
# the study region


def _named(frame: gpd.GeoDataFrame, origin: str) -> gpd.GeoDataFrame:
    """Polygons with a ``name`` column (``name``, else a column ending in ``name``) in BNG."""
    if frame.crs is None:
        msg = f"{origin}: the boundary file has no coordinate reference system"
        raise InputError(msg)
    frame = frame.to_crs(BNG)
    columns = {str(c).lower(): c for c in frame.columns if c != frame.geometry.name}
    key = columns.get("name") or next(
        (columns[c] for c in sorted(columns) if c.endswith("name")), None)
    names = (frame[key].astype(str) if key is not None
             else pd.Series([f"{origin} {i + 1}" for i in range(len(frame))], index=frame.index))
    polygons = frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if not polygons.any():
        msg = f"{origin}: no polygons to use as a boundary"
        raise InputError(msg)
    out = gpd.GeoDataFrame({"name": names[polygons].to_numpy()},
                           geometry=shapely.make_valid(frame.geometry[polygons].to_numpy()),
                           crs=BNG)
    return out.reset_index(drop=True)


def _case_boundaries(case: Case) -> gpd.GeoDataFrame:
    b = case["boundaries"]
    if not len(b):
        return gpd.GeoDataFrame({"name": pd.Series([], dtype="str")},
                                geometry=gpd.GeoSeries([], crs=BNG), crs=BNG)
    return gpd.GeoDataFrame({"name": b["name"].astype(str).to_numpy()},
                            geometry=b.geometry.to_numpy(), crs=BNG)


#: The layers whose extent (plus a margin) is the study region when no boundary is given.
STUDY_LAYERS = ("addresses", "incidents", "activity_areas", "candidates", "zones")


def study_region(case: Case, policy: Policy, *,
                 within: str | os.PathLike | gpd.GeoDataFrame | None = None) -> Region:
    """The region to search: the case's features plus a margin, or a boundary.

    Parameters
    ----------
    case
        A validated case.
    policy
        The risk policy (``areas.margin_m``).
    within
        None: the bounding box of the case's addresses, incidents, activity areas, candidates
        and zones, widened by ``areas.margin_m``. A name: the case's ``boundaries`` row(s) of
        that name (case-insensitive). A path: every polygon of that GeoJSON, GeoPackage or KML
        file. A GeoDataFrame: its polygons.

    Returns
    -------
    Region whose ``boundaries`` (``name`` and polygon) are the case's boundaries plus those
    of a boundary file, used to name areas.

    Raises
    ------
    InputError
        An unknown boundary name (the message lists the known ones), an unreadable file, or a
        case with no features and no boundary.
    """
    named = _case_boundaries(case)
    if within is None:
        frames = [case[n] for n in STUDY_LAYERS if len(case[n])]
        if not frames:
            msg = ("the case has no addresses, incidents, areas or candidates to set a study "
                   "region: add some, or search within a boundary (imported into the case, or "
                   "--within NAME or FILE on the command line)")
            raise InputError(msg)
        bounds = np.array([f.total_bounds for f in frames])
        margin = float(policy.get("areas.margin_m"))
        box = shapely.box(bounds[:, 0].min() - margin, bounds[:, 1].min() - margin,
                          bounds[:, 2].max() + margin, bounds[:, 3].max() + margin)
        return Region(box, f"the case's features plus {radius_text(margin)}", named)
    if isinstance(within, gpd.GeoDataFrame):
        given = _named(within, "boundary")
        return Region(shapely.union_all(given.geometry.to_numpy()), "the boundary given",
                      pd.concat([named, given], ignore_index=True))
    text = str(within).strip()
    if len(named):
        hit = named[named["name"].str.lower() == text.lower()]
        if len(hit):
            return Region(shapely.union_all(hit.geometry.to_numpy()), str(hit["name"].iloc[0]),
                          named)
    path = Path(text)
    if path.suffix.lower() in (".geojson", ".json", ".gpkg", ".kml", ".shp") and path.exists():
        from geo.io import read_boundary_file

        frame = read_boundary_file(path)
        given = _named(frame, path.name)
        return Region(shapely.union_all(given.geometry.to_numpy()), path.stem,
                      pd.concat([named, given], ignore_index=True))
    known = ", ".join(sorted(named["name"].unique())) if len(named) else "none"
    msg = (f"--within {text!r}: neither a boundary of the case (known: {known}) nor a "
           f"boundary file (.geojson, .gpkg, .kml)")
    raise InputError(msg)


def grid_cells(region: shapely.Geometry, cell_m: float):
    """The cells of a grid aligned on multiples of ``cell_m`` whose centres lie in ``region``.

    Returns ``(row, col, origin, shape)``: the grid position of each cell (row 0 is the
    southernmost), the ``(x, y)`` of the grid's lower-left corner and ``(rows, columns)``.

    Raises
    ------
    InputError
        The region would need more than :data:`MAX_CELLS` cells, or is empty.
    """
    if region is None or shapely.is_empty(region):
        msg = "the study region is empty"
        raise InputError(msg)
    minx, miny, maxx, maxy = shapely.bounds(region)
    x0 = math.floor(minx / cell_m) * cell_m
    y0 = math.floor(miny / cell_m) * cell_m
    cols = max(1, math.ceil((maxx - x0) / cell_m))
    rows = max(1, math.ceil((maxy - y0) / cell_m))
    if rows * cols > MAX_CELLS:
        msg = (f"the study region ({(maxx - minx) / 1000:.0f} x {(maxy - miny) / 1000:.0f} km) "
               f"would need {rows * cols:,} cells of {cell_m:g} m; use larger cells "
               f"(areas.cell_m) or a smaller boundary")
        raise InputError(msg)
    row, col = np.divmod(np.arange(rows * cols, dtype=np.int64), cols)
    x = x0 + (col + 0.5) * cell_m
    y = y0 + (row + 0.5) * cell_m
    shapely.prepare(region)
    inside = shapely.contains_xy(region, x, y)
    return row[inside], col[inside], (float(x0), float(y0)), (rows, cols)


# ---------------------------------------------------------------------------------------------
# the surface


def _blocked_zones(case: Case, policy: Policy, sources: gpd.GeoDataFrame,
                   zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    derived = exclusion_zones(case, policy, sources=sources, include_case_zones=False)
    parts = [derived[["zone_id", "reason", "geometry"]]]
    if len(zones):
        parts.append(gpd.GeoDataFrame(
            {"zone_id": zones["zone_id"].astype(str).to_numpy(),
             "reason": zones["reason"].astype(str).to_numpy()},
            geometry=zones.geometry.to_numpy(), crs=BNG))
    out = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=BNG)


def grid_surface(
    case: Case,
    policy: Policy,
    *,
    person_ids: list[str] | None = None,
    within: str | os.PathLike | gpd.GeoDataFrame | None = None,
    as_of: dt.datetime | None = None,
    travel: Travel | None = None,
) -> Surface:
    """Evaluate the case's rules at the centre of every cell of the study region.

    Parameters
    ----------
    case
        A validated case.
    policy
        The risk policy (``areas.cell_m``, ``areas.margin_m`` and every rule of ranking).
    person_ids
        Who is being relocated (default: as :func:`geo.sources.household` chooses).
    within
        The study region (see :func:`study_region`).
    as_of
        The moment incidents fade to (default: now).
    travel
        A street-graph router for school runs; without one, times are estimated.

    Notes
    -----
    Cells are squares of ``areas.cell_m`` metres in EPSG:27700 with edges on multiples of the
    cell size, so two runs over overlapping regions share cells.
    """
    from geo.hotspots import find_hotspots

    region = study_region(case, policy, within=within)
    cell_m = float(policy.get("areas.cell_m"))
    row, col, origin, shape = grid_cells(region.geometry, cell_m)
    if not len(row):
        msg = f"no cell of {cell_m:g} m has its centre inside {region.name}"
        raise InputError(msg)
    hot = None
    if policy.get("rules.use_derived_hotspots"):
        hot = find_hotspots(case["incidents"], policy, as_of=as_of)
    sources = threat_sources(case, policy, as_of=as_of, hotspots=hot)
    members = household(case, person_ids)
    x = origin[0] + (col + 0.5) * cell_m
    y = origin[1] + (row + 0.5) * cell_m
    cells = gpd.GeoDataFrame(
        {"candidate_id": pd.Series(row, dtype="str").str.cat(pd.Series(col, dtype="str"),
                                                             sep="-").radd("cell-").to_numpy(),
         "label": "grid cell"},
        geometry=shapely.points(x, y), crs=BNG)
    a = assess(cells, sources, members, policy, travel=travel)
    return Surface(region, cell_m, origin, shape, row, col, a, judge(a), case)


# ---------------------------------------------------------------------------------------------
# areas


def _components(surface: Surface, good: np.ndarray, split_cells: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Connected areas of ``good`` cells (edge neighbours); areas of more than
    ``split_cells`` cells are split where the postcode district changes.

    Returns the area label of each cell (-1 for cells not good) and whether the cell's area
    was split from a larger one."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from geo.geocode import nearest_postcodes

    idx = np.flatnonzero(good)
    label = np.full(len(good), -1, dtype=np.int64)
    split = np.zeros(len(good), dtype=bool)
    if not len(idx):
        return label, split
    rows, cols = surface.shape
    where = np.full(rows * cols, -1, dtype=np.int64)
    where[surface.row[idx] * cols + surface.col[idx]] = np.arange(len(idx))
    r, c = surface.row[idx], surface.col[idx]
    a_edge, b_edge = [], []
    for dr, dc in ((0, 1), (1, 0)):
        ok = (r + dr < rows) & (c + dc < cols)
        other = np.full(len(idx), -1, dtype=np.int64)
        other[ok] = where[(r[ok] + dr) * cols + c[ok] + dc]
        has = other >= 0
        a_edge.append(np.flatnonzero(has))
        b_edge.append(other[has])
    a_edge = np.concatenate(a_edge)
    b_edge = np.concatenate(b_edge)

    def connect(a_e, b_e):
        graph = coo_matrix((np.ones(len(a_e)), (a_e, b_e)), shape=(len(idx), len(idx)))
        return connected_components(graph, directed=False)[1]

    first = connect(a_edge, b_edge)
    size = np.bincount(first)
    big = size[first] > split_cells
    if big.any():
        district = np.full(len(idx), "", dtype=object)
        found = nearest_postcodes(surface.x[idx[big]], surface.y[idx[big]])
        district[big] = found["district"].fillna("").to_numpy(dtype=object)
        keep = ~(big[a_edge] | big[b_edge]) | (district[a_edge] == district[b_edge])
        first = connect(a_edge[keep], b_edge[keep])
        split[idx] = big
    label[idx] = first
    return label, split


def _pieces(surface: Surface, label: np.ndarray, min_area_m2: float):
    """Polygons of each labelled group of cells, smoothed, clipped and with zones cut out.

    Yields ``(polygon, cell indices inside it)`` for every piece of at least ``min_area_m2``.
    """
    cell_area = surface.cell_m ** 2
    groups = pd.Series(np.flatnonzero(label >= 0)).groupby(label[label >= 0]).agg(list)
    groups = groups[groups.map(len) * cell_area >= min_area_m2]
    if not len(groups):
        return
    blocked = surface.blocked
    cut = (shapely.union_all(shapely.buffer(blocked.geometry.to_numpy(), CLEARANCE_M,
                                            quad_segs=16))
           if len(blocked) else None)
    if cut is not None:
        shapely.prepare(cut)
    region = surface.region.geometry
    x, y = surface.x, surface.y
    for cells in groups:
        cells = np.asarray(cells)
        outline = shapely.coverage_union_all(surface.boxes(cells))
        outline = shapely.simplify(outline, 0.4 * surface.cell_m)
        outline = shapely.intersection(outline, region)
        if cut is not None:
            outline = shapely.difference(outline, cut)
        for part in shapely.get_parts(outline):
            if shapely.get_type_id(part) != 3 or part.area < min_area_m2:
                continue
            inside = cells[shapely.contains_xy(part, x[cells], y[cells])]
            if len(inside):
                yield part, inside


def overlaps(polys: np.ndarray, others: pd.DataFrame, key: str, *,
             min_overlap_m2: float = MIN_SECTOR_OVERLAP_M2
             ) -> list[list[tuple[str, float, float]]]:
    """What named polygons each polygon overlaps, and by how much.

    Returns, for each of ``polys``, ``(name, square metres overlapped, share of the named
    polygons covered)`` for each value of ``others[key]`` overlapped by at least
    ``min_overlap_m2``, most overlapped first (ties by name). Metres in EPSG:27700.
    """
    out: list[list[tuple[str, float, float]]] = [[] for _ in polys]
    if not len(others) or not len(polys):
        return out
    geoms = np.asarray(others.geometry.values, dtype=object)
    hit_p, hit_o = shapely.STRtree(geoms).query(polys, predicate="intersects")
    if not len(hit_p):
        return out
    area = shapely.area(shapely.intersection(polys[hit_p], geoms[hit_o]))
    frame = pd.DataFrame({"p": hit_p, "name": others[key].astype(str).to_numpy()[hit_o],
                          "area": area, "whole": shapely.area(geoms[hit_o])})
    frame = frame.groupby(["p", "name"], as_index=False)[["area", "whole"]].sum()
    frame = frame[frame["area"] >= min_overlap_m2].sort_values(
        ["p", "area", "name"], ascending=[True, False, True])
    for p, part in frame.groupby("p"):
        out[int(p)] = list(zip(part["name"], part["area"], part["area"] / part["whole"],
                               strict=True))
    return out


def _distance_words(d_m: float) -> str:
    return T.distance(np.array([d_m]))[0].as_py()


def _list_words(items: list[str], *, most: int) -> str:
    if len(items) <= most:
        return ", ".join(items)
    return f"{', '.join(items[:most])} and {len(items) - most} more"


def _main(names: list[str], covered_m2: dict[str, float], area_m2: float) -> list[str]:
    """The names covering a fifth of an area or more (at least the most covering one)."""
    return [n for n in names if covered_m2[n] >= 0.2 * area_m2] or names[:1]


def _name(districts: list[str], names: list[str], sectors: list[str]) -> str:
    head = ", ".join(districts[:3]) if districts else "No postcode district"
    if names:
        head += " / " + ", ".join(names[:2])
    if not sectors:
        return head
    noun = "sector" if len(sectors) == 1 else "sectors"
    return f"{head}: {noun} {_list_words(sectors, most=6)}"


def _minutes(d_m, policy: Policy):
    t = policy.table("travel")
    return np.asarray(d_m, float) * t["detour_factor"] / (t["speed_kph"] * 1000.0 / 60.0)


def _why_and_limits(surface: Surface, part, cells: np.ndarray, min_score: float,
                    split: bool) -> tuple[list[str], list[str], dict]:
    """Why an area is suggested and what limits it, in words; and a few values."""
    a, j = surface.assessment, surface.judgement
    policy = a.policy
    members = a.household
    why: list[str] = []
    limits: list[str] = []
    values: dict = {}

    threat_max = float(a.threat[cells].max())
    level = _THREAT_WORDS[int(np.searchsorted(_THREAT_STEPS, threat_max, side="right"))]
    why.append(f"threat {level} (at most {threat_max:.2f})" if threat_max > 1e-9
               else "threat none")
    values["threat_max"] = round(threat_max, 3)

    src = a.sources
    if len(src):
        d = shapely.distance(part, src.geometry.to_numpy())
        k = int(np.argmin(d))
        label = str(src["label"].iloc[k])
        why.append(f"{_distance_words(float(d[k]))} from the nearest threat ({label}) at its "
                   f"closest edge")
        values["nearest_threat"], values["nearest_threat_m"] = label, round(float(d[k]), 1)
    else:
        why.append("no known threat source")
        values["nearest_threat"], values["nearest_threat_m"] = "none", np.nan

    ring = shapely.get_coordinates(part)
    max_school = j.max_school_min
    school_max = np.nan
    schools = members.schools
    if len(schools):
        if bool(a.school_estimated[cells].all()):
            runs = []
            for s in schools.itertuples():
                near_min, far_min = _minutes(
                    [s.geometry.distance(part),
                     np.hypot(ring[:, 0] - s.geometry.x, ring[:, 1] - s.geometry.y).max()],
                    policy)
                runs.append((far_min, near_min, str(s.label)))
            runs.sort(reverse=True)
            why.append("school run " + "; ".join(
                f"{near:.0f} to {far:.0f} min to {name}" for far, near, name in runs)
                + " (estimated)")
            school_max, far_name = runs[0][0], runs[0][2]
        else:
            vals = a.school_min[cells]
            school_max, far_name = float(np.nanmax(vals)), "the farthest school"
            on_net = int((~a.school_estimated[cells]).sum())
            how = (a.travel_note if on_net == len(vals) else
                   f"{a.travel_note} for {on_net} of {len(vals)} cells, the rest estimated")
            why.append(f"school run {np.nanmin(vals):.0f} to {school_max:.0f} min "
                       f"({how}, at cell centres)")
        if max_school > 0 and school_max >= 0.75 * max_school:
            limits.append(f"school run up to {school_max:.0f} min to {far_name} at its far "
                          f"edge (limit {max_school:g} min)")
    values["school_min_max"] = round(float(school_max), 1) if np.isfinite(school_max) else np.nan

    support = members.support
    if len(support):
        pts = support.geometry.to_numpy()
        d_near = shapely.distance(part, pts)
        k = int(np.argmin(d_near))
        detour = policy.table("travel")["detour_factor"]
        far_km = np.min(np.hypot(ring[:, 0, None] - support.geometry.x.to_numpy()[None, :],
                                 ring[:, 1, None] - support.geometry.y.to_numpy()[None, :]),
                        axis=1).max() * detour / 1000.0
        why.append(f"support {d_near[k] * detour / 1000:.1f} to {far_km:.1f} km from "
                   f"{support['label'].iloc[k]} (estimated: straight line x {detour:g})")
        max_support = j.max_support_km
        if max_support > 0 and far_km >= 0.75 * max_support:
            limits.append(f"support up to {far_km:.1f} km away at its far edge (limit "
                          f"{max_support:g} km)")

    blocked = surface.blocked
    if len(blocked):
        d = shapely.distance(part, blocked.geometry.to_numpy())
        near = np.flatnonzero(d <= CLEARANCE_M + surface.cell_m)
        near = near[np.lexsort((blocked["zone_id"].to_numpy()[near], d[near]))]
        words = [f"{blocked['zone_id'].iloc[i]} ({blocked['reason'].iloc[i]})" for i in near]
        if words:
            limits.append("next to exclusion zone" + ("s " if len(words) > 1 else " ")
                          + _list_words(words, most=3))

    # cells just beyond its edge that are allowed but score too low
    rows, cols = surface.shape
    where = np.full(rows * cols, -1, dtype=np.int64)
    where[surface.row * cols + surface.col] = np.arange(len(surface.row))
    r, c = surface.row[cells], surface.col[cells]
    beyond = []
    for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        ok = (r + dr >= 0) & (r + dr < rows) & (c + dc >= 0) & (c + dc < cols)
        beyond.append(where[(r[ok] + dr) * cols + c[ok] + dc])
    beyond = np.unique(np.concatenate(beyond))
    beyond = beyond[beyond >= 0]
    low = beyond[j.eligible[beyond] & (j.score[beyond] < min_score)]
    if len(low):
        limits.append(f"beyond parts of its edge the score falls below {min_score:g} "
                      f"(threat up to {a.threat[low].max():.2f})")
    if split:
        limits.append("a larger safe area continues into the next postcode district "
                      "(split at the district's edge)")
    if part.distance(surface.region.geometry.boundary) <= surface.cell_m:
        limits.append(f"the edge of the study region ({surface.region.name})")
    return why, limits, values


def areas_from_surface(
    surface: Surface,
    *,
    min_score: float | None = None,
    min_area_km2: float | None = None,
    max_area_km2: float | None = None,
    max_areas: int | None = None,
) -> gpd.GeoDataFrame:
    """Merge a surface's good cells into ranked, named areas (policy values by default).

    Returns
    -------
    GeoDataFrame in EPSG:27700 with :data:`AREA_COLUMNS` then :data:`EXTRA_COLUMNS` and the
    area's outline, sorted by ``rank``; empty (with those columns) when no area qualifies.
    ``postcode_sectors``, ``postcode_districts`` and ``boundaries`` are comma-separated, most
    covered first; ``reasons`` is ``why`` and ``limits`` in one sentence each.
    """
    from geo.geocode import sector_outlines

    opts = surface.assessment.policy.table("areas")
    min_score = float(opts["min_score"] if min_score is None else min_score)
    min_area_m2 = 1e6 * float(opts["min_area_km2"] if min_area_km2 is None else min_area_km2)
    max_area_m2 = 1e6 * float(opts["max_area_km2"] if max_area_km2 is None else max_area_km2)
    max_areas = int(opts["max_areas"] if max_areas is None else max_areas)
    j = surface.judgement
    good = j.eligible & (j.score >= min_score)
    label, split = _components(surface, good, int(max_area_m2 // surface.cell_m ** 2))
    found = list(_pieces(surface, label, max(min_area_m2, 1.0)))
    if not found:
        return _empty_areas()
    polys = np.array([p for p, _ in found], dtype=object)
    cell_sets = [c for _, c in found]
    mean = np.array([j.score[c].mean() for c in cell_sets])
    area = shapely.area(polys)

    sectors = sector_outlines(tuple(shapely.total_bounds(polys)), margin_m=0.0)
    by_sector = overlaps(polys, sectors, "sector")
    by_name = overlaps(polys, surface.region.boundaries, "name")
    rows = []
    for i in range(len(polys)):
        sector_list = [s for s, _, _ in by_sector[i]]
        district_area: dict[str, float] = {}
        for s, m2, _ in by_sector[i]:
            district_area[s.split(" ")[0]] = district_area.get(s.split(" ")[0], 0.0) + m2
        districts = sorted(district_area, key=lambda d: (-district_area[d], d))
        names = [n for n, _, _ in by_name[i]]
        name_area = {n: m2 for n, m2, _ in by_name[i]}
        rows.append({"name": _name(_main(districts, district_area, area[i]),
                                   _main(names, name_area, area[i]), sector_list),
                     "postcode_sectors": ", ".join(sector_list),
                     "postcode_districts": ", ".join(districts),
                     "boundaries": ", ".join(names)})
    frame = pd.DataFrame(rows)
    frame["score"] = np.round(mean, 1)
    frame["area_m2"] = area
    order = np.lexsort((frame["name"].to_numpy(dtype=str), -area, -np.round(mean, 1)))[:max_areas]

    out = []
    seen: dict[str, int] = {}
    for rank_, i in enumerate(order, start=1):
        why, limits, values = _why_and_limits(surface, polys[i], cell_sets[i], min_score,
                                              bool(split[cell_sets[i]].any()))
        name = frame["name"].iloc[i]
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name} (part {seen[name]})"
        scores = j.score[cell_sets[i]]
        limit_text = "; ".join(limits) if limits else "nothing nearby"
        out.append({
            "area_id": f"S{rank_:02d}",
            "rank": rank_,
            "score": float(frame["score"].iloc[i]),
            "name": name,
            "postcode_sectors": frame["postcode_sectors"].iloc[i],
            "reasons": (f"Suggested: {'; '.join(why)}. Limited by: {limit_text}."),
            "area_km2": round(float(area[i]) / 1e6, 2),
            "postcode_districts": frame["postcode_districts"].iloc[i],
            "boundaries": frame["boundaries"].iloc[i],
            "why": "; ".join(why),
            "limits": "; ".join(limits),
            "score_min": float(scores.min()),
            "score_max": float(scores.max()),
            **values,
            "cells": len(cell_sets[i]),
        })
    result = pd.DataFrame(out)[AREA_COLUMNS + EXTRA_COLUMNS]
    return gpd.GeoDataFrame(result, geometry=polys[order], crs=BNG)


def _empty_areas() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in AREA_COLUMNS + EXTRA_COLUMNS},
                            geometry=gpd.GeoSeries([], crs=BNG), crs=BNG)


def safe_areas(
    case: Case,
    policy: Policy,
    *,
    person_ids: list[str] | None = None,
    within: str | os.PathLike | gpd.GeoDataFrame | None = None,
    as_of: dt.datetime | None = None,
    travel: Travel | None = None,
) -> gpd.GeoDataFrame:
    """Suggested safe housing areas for a case: :func:`grid_surface` then
    :func:`areas_from_surface` with the policy's settings (see both)."""
    surface = grid_surface(case, policy, person_ids=person_ids, within=within, as_of=as_of,
                           travel=travel)
    return areas_from_surface(surface)

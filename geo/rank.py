"""Ranking candidate addresses: hard constraints, then threat and disruption, explained.

Two steps, so that a weight change is cheap:

1. :func:`assess` does the geometry once per case and candidate list: the distance from every
   candidate to every threat source in reach, the threat score, exclusions, zones, school
   runs and support distances. It is pure numpy/shapely over whole arrays (no loop over
   candidates; see :mod:`geo._spatial`).
2. :func:`rank` applies weights and limits and writes the reasons. Re-ranking with new
   weights only repeats this step.

The model (DESIGN section 5)
----------------------------
``threat(x) = sum_s strength_s * K(d(x, s) / bandwidth_s)`` with ``K(u) = (1 - u^2)^2`` for
``u < 1`` (0 beyond), ``d`` the distance to the source (0 inside a polygon) and ``strength``
the source's weight x multipliers x fade (:mod:`geo.sources`). A candidate is **eligible**
when it is farther than ``exclude_m`` from every source, outside every zone that applies to
the household, and meets the policy's limits (school run, support distance, bedrooms).

``score = 100 * (1 - (w_t * t + w_s * s + w_p * p) / (w_t + w_s + w_p))`` where
``t = 1 - exp(-threat / scale.threat)``, ``s = school_min / max_school_min`` and
``p = support_km / scale.support_km`` (each capped at 1): 100 is the best possible.

Ties are broken by a stated rule: eligible rows by score (high first, unrounded), then threat
(low first), school run (short first) and candidate id; ineligible rows after them by the number of
hard constraints broken (few first), then score and candidate id.

Travel times are estimated as straight-line distance x ``travel.detour_factor`` at
``travel.speed_kph`` (``school_min_estimated`` true) unless a street graph is given; the
distance to support is likewise straight line x ``travel.detour_factor`` unless the graph
gives a road distance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from geo import _text as T
from geo._spatial import Pairs, nearest, nearest_point, point_pairs, polygon_pairs
from geo.crs import bng_to_wgs84
from geo.errors import InputError
from geo.model import Case
from geo.settings import Policy
from geo.sources import Household, household, threat_sources

#: Columns of ``safeplan rank`` output, in order (DESIGN section 6: a contract).
RANK_COLUMNS = [
    "rank", "candidate_id", "label", "postcode", "lat", "lon", "eligible", "score",
    "threat_score", "nearest_threat", "nearest_threat_m", "school_min",
    "school_min_estimated", "reasons",
]


class Travel(Protocol):
    """Travel on a street graph (:class:`geo.network.NetworkTravel`)."""

    mode: str

    def minutes_to(self, x: np.ndarray, y: np.ndarray, dest_x: float, dest_y: float
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Minutes from each point to the destination and a status per point (``ok``, or
        why not: ``too_far_from_street``, ``unreachable``)."""

    def distance_to_nearest(self, x: np.ndarray, y: np.ndarray, dests_xy: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
        """Street distance in metres from each point to the nearest destination, and why
        not."""


def kernel(u: np.ndarray) -> np.ndarray:
    """The threat kernel ``(1 - u^2)^2`` for ``0 <= u < 1``, else 0: smooth and decreasing."""
    u = np.asarray(u, float)
    return np.where(u < 1.0, (1.0 - u * u) ** 2, 0.0)


@dataclass(frozen=True)
class Assessment:
    """Everything about the candidates that does not depend on the weights."""

    candidates: gpd.GeoDataFrame
    sources: gpd.GeoDataFrame
    household: Household
    policy: Policy
    threat: np.ndarray
    top_source: np.ndarray
    top_share: np.ndarray
    top_m: np.ndarray
    nearest_source: np.ndarray
    nearest_m: np.ndarray
    violations: Pairs
    zone_hits: Pairs
    school_min: np.ndarray
    school_idx: np.ndarray
    school_estimated: np.ndarray
    school_status: np.ndarray
    support_km: np.ndarray
    support_idx: np.ndarray
    support_estimated: np.ndarray
    travel_note: str
    lat: np.ndarray
    lon: np.ndarray
    extra: dict = field(default_factory=dict)


def _arg_extreme(point: np.ndarray, value: np.ndarray, n: int, *, largest: bool) -> np.ndarray:
    """Per point, the row with the largest (or smallest) value; -1 for points with none.

    Ties go to the lowest row number, so the answer does not depend on sorting.
    """
    best = np.full(n, -np.inf if largest else np.inf)
    (np.maximum if largest else np.minimum).at(best, point, value)
    winner = value == best[point]
    rows = np.flatnonzero(winner)
    out = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, point[rows], rows)
    return np.where(out == np.iinfo(np.int64).max, -1, out)


def _threat(px, py, points: np.ndarray, sources: gpd.GeoDataFrame):
    n = len(px)
    geoms = np.asarray(sources.geometry.values, dtype=object)
    strength = sources["strength"].to_numpy(float)
    bandwidth = sources["bandwidth_m"].to_numpy(float)
    exclude = sources["exclude_m"].to_numpy(float)
    reach = np.maximum(bandwidth, exclude)
    is_point = shapely.get_type_id(geoms) == 0
    polys = np.flatnonzero(~is_point)
    on_poly = polygon_pairs(px, py, geoms[polys], reach[polys], points=points)
    on_poly = Pairs(on_poly.point, polys[on_poly.source], on_poly.dist_m)
    parts = []
    # one pass per distinct reach (radii differ by kind, and a tight radius is cheaper):
    # point sources, then polygons
    for radius in np.unique(reach):
        idx = np.flatnonzero(is_point & (reach == radius))
        if len(idx):
            xy = shapely.get_coordinates(geoms[idx])
            found = point_pairs(px, py, xy[:, 0], xy[:, 1], float(radius))
            parts.append(Pairs(found.point, idx[found.source], found.dist_m))
        if len(polys):
            parts.append(on_poly.where(reach[on_poly.source] == radius))
    pairs = Pairs(*(np.concatenate([getattr(p, f) for p in parts]) if parts else np.empty(0)
                    for f in ("point", "source", "dist_m")))
    if not parts:
        pairs = Pairs.empty()
    contrib = strength[pairs.source] * kernel(pairs.dist_m / bandwidth[pairs.source])
    threat = np.bincount(pairs.point, weights=contrib, minlength=n)
    top = _arg_extreme(pairs.point, contrib, n, largest=True)
    top_source = np.full(n, -1, dtype=np.int64)
    top_share = np.zeros(n)
    top_m = np.full(n, np.nan)
    sel = np.flatnonzero(top >= 0)
    sel = sel[contrib[top[sel]] > 0]
    top_source[sel] = pairs.source[top[sel]]
    top_share[sel] = contrib[top[sel]]
    top_m[sel] = pairs.dist_m[top[sel]]
    excluded = (exclude[pairs.source] > 0) & (pairs.dist_m <= exclude[pairs.source])
    violations = pairs.where(excluded)
    nearest_source, nearest_m = _nearest_sources(px, py, geoms, reach, pairs, on_poly)
    return threat, top_source, top_share, top_m, nearest_source, nearest_m, violations


def _nearest_sources(px, py, geoms: np.ndarray, reach: np.ndarray, pairs: Pairs,
                     poly_pairs: Pairs):
    """The nearest source of each point, exactly, reusing the pairs already found
    (``poly_pairs``: those of polygon sources).

    A pass of radius R finds every source of its kinds within R, so a pair at a distance no
    more than the smallest radius of any pass is the nearest. For the other points, point
    sources are searched with a k-d tree, and polygon sources (whose pairs are exact up to
    the smallest polygon radius) only when no point source is nearer than that radius, and
    then only near enough to beat the nearest point source.
    """
    n = len(px)
    best = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.inf)
    if not len(geoms):
        return best, dist
    is_point = shapely.get_type_id(geoms) == 0
    if len(pairs):
        pick = _arg_extreme(pairs.point, pairs.dist_m, n, largest=False)
        has = pick >= 0
        best[has] = pairs.source[pick[has]]
        dist[has] = pairs.dist_m[pick[has]]
    todo = np.flatnonzero(dist > reach.min())
    if not len(todo):
        return best, dist
    if is_point.any():
        idx = np.flatnonzero(is_point)
        j, d = nearest_point(np.column_stack([px[todo], py[todo]]),
                             shapely.get_coordinates(geoms[idx]))
        closer = d < dist[todo]
        best[todo[closer]] = idx[j[closer]]
        dist[todo[closer]] = d[closer]
    if (~is_point).any():
        # a polygon pair is nearer than any pair of a point source, so only points with no
        # polygon within the smallest polygon radius are left to search
        poly_reach = reach[~is_point].min()
        poly_dist = np.full(n, np.inf)
        np.minimum.at(poly_dist, poly_pairs.point, poly_pairs.dist_m)
        search = todo[(poly_dist[todo] > poly_reach) & (dist[todo] > poly_reach)]
        if len(search):
            idx = np.flatnonzero(~is_point)
            j, d = nearest(px[search], py[search], geoms[idx], nearer_than=dist[search])
            found = (j >= 0) & (d < dist[search])
            best[search[found]] = idx[j[found]]
            dist[search[found]] = d[found]
    return best, dist


def _zone_hits(points: np.ndarray, zones: gpd.GeoDataFrame) -> Pairs:
    if not len(zones) or not len(points):
        return Pairs.empty()
    tree = shapely.STRtree(np.asarray(zones.geometry.values, dtype=object))
    hit = tree.query(points, predicate="intersects")
    return Pairs(hit[0].astype(np.int64), hit[1].astype(np.int64), np.zeros(hit.shape[1]))


def _repeat(word: str, shape) -> np.ndarray:
    """``np.full(shape, word, dtype=object)``, ten times faster."""
    return np.array([word], dtype=object).repeat(int(np.prod(shape))).reshape(shape)


def _estimated_minutes(d_m: np.ndarray, policy: Policy) -> np.ndarray:
    travel = policy.table("travel")
    return d_m * travel["detour_factor"] / (travel["speed_kph"] * 1000.0 / 60.0)


def _school_runs(px, py, schools: gpd.GeoDataFrame, policy: Policy, travel: Travel | None):
    n = len(px)
    if not len(schools):
        empty = np.full(n, np.nan)
        return empty, np.full(n, -1), np.ones(n, dtype=bool), _repeat("no school", n)
    sx = schools.geometry.x.to_numpy()
    sy = schools.geometry.y.to_numpy()
    straight = np.hypot(px[:, None] - sx[None, :], py[:, None] - sy[None, :])
    minutes = _estimated_minutes(straight, policy)
    estimated = np.ones(minutes.shape, dtype=bool)
    status = _repeat("estimated", minutes.shape)
    if travel is not None:
        for j in range(len(schools)):
            net_min, net_status = travel.minutes_to(px, py, float(sx[j]), float(sy[j]))
            ok = net_status == "ok"
            minutes[ok, j] = net_min[ok]
            estimated[ok, j] = False
            status[:, j] = np.where(ok, "ok", net_status)
    worst = np.argmax(minutes, axis=1)
    rows = np.arange(n)
    return minutes[rows, worst], worst, estimated[rows, worst], status[rows, worst]


def assess(
    candidates: gpd.GeoDataFrame,
    sources: gpd.GeoDataFrame,
    members: Household,
    policy: Policy,
    *,
    travel: Travel | None = None,
) -> Assessment:
    """Measure every candidate against every source, zone, school and support address.

    Parameters
    ----------
    candidates
        Points in EPSG:27700 with ``candidate_id, label`` (``postcode, bedrooms`` if known).
    sources
        From :func:`geo.sources.threat_sources`.
    members
        From :func:`geo.sources.household`: schools, support and zones of the people moving.
    policy
        The risk policy.
    travel
        A street-graph router for school runs; without one, times are estimated.

    Notes
    -----
    All distances are in metres in EPSG:27700 and exact (not sampled).
    """
    candidates = candidates.reset_index(drop=True)
    points = np.asarray(candidates.geometry.values, dtype=object)
    if (shapely.get_type_id(points) == 0).all():
        px, py = shapely.get_x(points), shapely.get_y(points)
    else:  # geopandas says what is wrong
        px, py = candidates.geometry.x.to_numpy(), candidates.geometry.y.to_numpy()
    (threat, top_source, top_share, top_m, near_src, near_m, violations) = _threat(
        px, py, points, sources)
    zone_hits = _zone_hits(points, members.zones)
    school_min, school_idx, school_est, school_status = _school_runs(
        px, py, members.schools, policy, travel)
    t = policy.table("travel")
    if len(members.support):
        sup_geoms = np.asarray(members.support.geometry.values, dtype=object)
        sup_idx, sup_m = nearest(px, py, sup_geoms)
        support_km = sup_m * t["detour_factor"] / 1000.0  # estimated road distance
        support_est = np.ones(len(px), dtype=bool)
        if travel is not None:
            by_road, status = travel.distance_to_nearest(px, py,
                                                         shapely.get_coordinates(sup_geoms))
            ok = status == "ok"
            support_km[ok] = by_road[ok] / 1000.0
            support_est[ok] = False
    else:
        sup_idx = np.full(len(px), -1)
        support_km = np.full(len(px), np.nan)
        support_est = np.ones(len(px), dtype=bool)
    note = (f"estimated: straight line x {t['detour_factor']:g} at {t['speed_kph']:g} km/h"
            if travel is None else f"street network ({travel.mode})")
    lon, lat = bng_to_wgs84(px, py)
    return Assessment(candidates, sources, members, policy, threat, top_source, top_share,
                      top_m, near_src, near_m, violations, zone_hits, school_min, school_idx,
                      school_est, school_status, support_km, sup_idx, support_est, note,
                      np.round(lat, 6), np.round(lon, 6))


def assess_case(
    case: Case,
    policy: Policy,
    *,
    person_ids: list[str] | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    as_of: dt.datetime | None = None,
    travel: Travel | None = None,
) -> Assessment:
    """:func:`assess` for a case: its sources, household and candidates (or others given)."""
    from geo.hotspots import find_hotspots

    hot = None
    if policy.get("rules.use_derived_hotspots"):
        hot = find_hotspots(case["incidents"], policy, as_of=as_of)
    sources = threat_sources(case, policy, as_of=as_of, hotspots=hot)
    members = household(case, person_ids)
    cands = case["candidates"] if candidates is None else candidates
    if not len(cands):
        msg = "the case has no candidate addresses: import a vacancy list first"
        raise InputError(msg)
    return assess(cands, sources, members, policy, travel=travel)


# ---------------------------------------------------------------------------------------------
# ranking and reasons


_THREAT_WORDS = ["none", "low", "moderate", "high", "very high"]
_THREAT_STEPS = np.array([1e-9, 0.1, 0.5, 1.0])


def _radius_words(r_m) -> list[str]:
    """Policy radii as written: ``500 m``, ``1.5 km``."""
    return [f"{r:g} m" if r < 1000 else f"{r / 1000:g} km" for r in np.asarray(r_m, float)]


def _first_of_each(point: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by point: the position of each point's first row, and rows per point."""
    count = np.bincount(point, minlength=n)
    first = np.ones(len(point), dtype=bool)
    first[1:] = point[1:] != point[:-1]
    return np.flatnonzero(first), count


@dataclass(frozen=True)
class Judgement:
    """Eligibility and score of every assessed point, without the words (see :func:`judge`).

    Attributes
    ----------
    eligible
        True where no hard constraint is broken.
    score
        0 to 100 (best), rounded to 0.1; ``exact`` unrounded (the order uses it).
    broken
        How many hard constraints each point breaks (exclusion, zone, school, support, beds,
        school route).
    school_fail, support_fail, beds_fail, route_fail
        Which limits each point breaks.
    beds
        Bedrooms of each candidate (NaN where unknown).
    max_school_min, max_support_km, min_bedrooms
        The limits applied (0: no limit).
    route_text
        What each checked school route passes through, in words (empty if not checked).
    """

    eligible: np.ndarray
    score: np.ndarray
    exact: np.ndarray
    broken: np.ndarray
    school_fail: np.ndarray
    support_fail: np.ndarray
    beds_fail: np.ndarray
    beds: np.ndarray
    max_school_min: float
    max_support_km: float
    min_bedrooms: int
    route_text: np.ndarray
    route_fail: np.ndarray


def judge(
    assessment: Assessment,
    *,
    weights: Mapping[str, float] | None = None,
    limits: Mapping[str, float] | None = None,
    routes: pd.DataFrame | None = None,
) -> Judgement:
    """Hard constraints and score of every assessed point (policy weights and limits by
    default); :func:`rank` orders and explains them, :mod:`geo.areas` maps them."""
    a = assessment
    policy = a.policy
    w = {**policy.table("weights"), **(weights or {})}
    lim = {**policy.table("limits"), **(limits or {})}
    unknown = set(w) - {"threat", "school", "support"} | (
        set(lim) - {"max_school_min", "max_support_km", "min_bedrooms"})
    if unknown:
        msg = f"unknown weight or limit: {', '.join(sorted(unknown))}"
        raise InputError(msg)
    if any(v < 0 for v in w.values()):
        msg = "weights cannot be negative"
        raise InputError(msg)
    cands = a.candidates
    n = len(cands)
    scale = policy.table("scale")

    # hard constraints
    max_school = float(lim["max_school_min"])
    school = a.school_min
    has_school = ~np.isnan(school)
    school_fail = has_school & (max_school > 0) & (school > max_school)
    max_support = float(lim["max_support_km"])
    support_fail = (max_support > 0) & ~np.isnan(a.support_km) & (a.support_km > max_support)
    need = int(lim["min_bedrooms"])
    beds = (pd.to_numeric(cands["bedrooms"], errors="coerce").to_numpy(float)
            if "bedrooms" in cands.columns else np.full(n, np.nan))
    beds_fail = (need > 0) & ~np.isnan(beds) & (beds < need)
    n_violate = np.bincount(a.violations.point, minlength=n)
    n_zone = np.bincount(a.zone_hits.point, minlength=n)
    route_text, crosses = _route_words(cands, routes)
    route_fail = crosses & bool(policy.get("network.refuse_routes_through_zones"))
    broken = ((n_violate > 0).astype(int) + (n_zone > 0) + school_fail + support_fail
              + beds_fail + route_fail)
    eligible = broken == 0

    # score
    t = 1.0 - np.exp(-a.threat / scale["threat"])
    s = np.where(has_school, np.minimum(school / (max_school if max_school > 0 else 60.0), 1.0),
                 0.0)
    p = np.where(np.isnan(a.support_km), 0.0,
                 np.minimum(a.support_km / scale["support_km"], 1.0))
    total = w["threat"] + w["school"] + w["support"]
    loss = (w["threat"] * t + w["school"] * s + w["support"] * p) / total if total > 0 else 0.0
    exact = 100.0 * (1.0 - loss) * np.ones(n)
    return Judgement(eligible, np.round(exact, 1), exact, broken, school_fail, support_fail,
                     beds_fail, beds, max_school, max_support, need, route_text, route_fail)


def rank(
    assessment: Assessment,
    *,
    weights: Mapping[str, float] | None = None,
    limits: Mapping[str, float] | None = None,
    routes: pd.DataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Rank the assessed candidates with weights and limits (policy values by default).

    ``routes`` are school-route checks (:func:`check_school_routes`): a route through a zone
    is said in the reasons, and makes the candidate ineligible when the policy's
    ``network.refuse_routes_through_zones`` is true.

    Returns
    -------
    GeoDataFrame with :data:`RANK_COLUMNS` first, then ``support_km``, ``constraints_broken``
    and the candidate's geometry (EPSG:27700), sorted by ``rank``.
    """
    a = assessment
    j = judge(a, weights=weights, limits=limits, routes=routes)
    cands = a.candidates
    n = len(cands)
    school = a.school_min
    eligible, score, exact, broken = j.eligible, j.score, j.exact, j.broken

    ids = cands["candidate_id"].astype(str)
    order = _rank_order(np.where(eligible, 0, broken), exact, a.threat,
                        np.where(np.isnan(school), 0.0, school), ids)
    labels = [*a.sources["label"].astype(str).tolist(), "none"]
    nearest_label = T.take(labels, np.where(a.nearest_source >= 0, a.nearest_source,
                                            len(labels) - 1)[order])
    columns = {
        "rank": np.arange(1, n + 1),
        "candidate_id": _take_text(ids, order),
        "label": _take_text(cands["label"].astype(str), order),
        "postcode": (cands["postcode"].to_numpy()[order] if "postcode" in cands.columns
                     else np.full(n, None)),
        "lat": a.lat[order],
        "lon": a.lon[order],
        "eligible": eligible[order],
        "score": score[order],
        "threat_score": np.round(a.threat, 3)[order],
        "nearest_threat": pd.arrays.ArrowStringArray(nearest_label),
        "nearest_threat_m": np.round(np.where(np.isfinite(a.nearest_m), a.nearest_m, np.nan),
                                     1)[order],
        "school_min": np.round(school, 1)[order],
        "school_min_estimated": a.school_estimated[order],
        "reasons": pd.arrays.ArrowStringArray(_reasons(a, j, order)),
        "support_km": np.round(a.support_km, 2)[order],
        "constraints_broken": broken[order],
    }
    return gpd.GeoDataFrame(columns, geometry=cands.geometry.array.take(order), crs=cands.crs)


def _take_text(column: pd.Series, order: np.ndarray):
    """The text column's rows in ``order``, as its own (Arrow) array; an empty one as
    objects, which is what pandas makes of no rows."""
    return column.array.take(order) if len(column) else column.to_numpy()[order]


def _rank_order(group: np.ndarray, exact: np.ndarray, threat: np.ndarray, school: np.ndarray,
                ids: pd.Series) -> np.ndarray:
    """The ranking order: by group (low first), exact score (high first), threat (low first),
    school run (short first), then candidate id; the same as one ``np.lexsort`` of the five,
    but sorting strings and the later keys only among rows that tie on the first two."""
    key = -exact
    order = np.argsort(key)  # not stable: ties are settled below, by row number last
    order = order[np.argsort(group[order].astype(np.int8), kind="stable")]
    g, k = group[order], key[order]
    tie = (g[1:] == g[:-1]) & ((k[1:] == k[:-1]) | (np.isnan(k[1:]) & np.isnan(k[:-1])))
    if tie.any():
        tied = np.zeros(len(order), dtype=bool)
        tied[1:] |= tie
        tied[:-1] |= tie
        at = np.flatnonzero(tied)
        run = np.cumsum(np.concatenate([[True], ~tie]))[at]  # one number per run of ties
        sub = order[at]
        order[at] = sub[np.lexsort((sub, ids.iloc[sub].to_numpy(), school[sub], threat[sub],
                                    run))]
    return order


def _route_words(cands: pd.DataFrame, routes: pd.DataFrame | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: what its checked school route crosses, in words, and whether it does."""
    n = len(cands)
    text = np.full(n, "", dtype=object)
    crosses = np.zeros(n, dtype=bool)
    if routes is None or not len(routes):
        return text, crosses
    by_id = routes.set_index("candidate_id")
    ids = cands["candidate_id"].astype(str).to_numpy()
    for i in np.flatnonzero(np.isin(ids, by_id.index.astype(str))):
        row = by_id.loc[ids[i]]
        if bool(row["crosses_zone"]):
            crosses[i] = True
            text[i] = (f"school route to {row['school']} passes through "
                       f"{row['zone_reasons']} ({row['zone_ids']}) for "
                       f"{row['crossing_m']:.0f} m")
        elif row["status"] == "ok":
            text[i] = (f"school route to {row['school']} checked: it passes through no "
                       f"no-go area or exclusion zone")
    return text, crosses


def _reasons(a: Assessment, j: Judgement, order: np.ndarray | None = None) -> pa.Array:
    """The reasons column: why not (if not eligible), then what the place is like.

    Rows come in ``order`` (all rows as assessed by default). Built column by column with
    Arrow kernels (:mod:`geo._text`), not row by row: each sentence is a few pieces, each
    piece chosen per row from a table of its distinct texts (a source's label, a distance, a
    score), and the pieces are joined once at the end.
    """
    n = len(a.candidates)
    at = np.arange(n) if order is None else np.asarray(order)

    def rows(values):
        return np.asarray(values)[at]

    eligible = rows(j.eligible)
    src = a.sources
    labels = src["label"].astype(str).tolist() or [""]
    exclude = src["exclude_m"].to_numpy(float) if len(src) else np.zeros(1)
    n_src = len(labels)
    label = pa.array(labels, type=pa.string())
    radius = pa.array(_radius_words(exclude), type=pa.string())

    # why not, item by item, each after "; " when an earlier one is there
    v = a.violations
    count = np.bincount(v.point, minlength=n)
    deepest = _first_by(v.point, v.dist_m - exclude[v.source], v.source, n)
    src_first = np.where(deepest >= 0, v.source[np.maximum(deepest, 0)], 0) if len(v) else (
        np.zeros(n, dtype=np.int64))
    d_first = np.where(deepest >= 0, v.dist_m[np.maximum(deepest, 0)], 0.0) if len(v) else (
        np.zeros(n))
    count, src_first, d_first = rows(count), rows(src_first), rows(d_first)
    earlier = count > 0  # the deepest exclusion is always the first item
    inside = earlier & (d_first <= 0)
    away = earlier & ~inside
    # "Eligible." or "Not eligible: ", and how far from the deepest exclusion's source
    pieces = [T.lookup(np.where(eligible, 0, np.where(away, 2 + T.distance_key(d_first), 1)),
                       _head_words)]
    if earlier.any():
        variants = T.stack([""], T.concat("inside ", label, n=n_src),
                           T.concat(" from ", label, ", inside its ", radius, " exclusion",
                                    n=n_src))
        most = int(count.max()) + 1

        def exclusion_words(k):
            return T.concat(T.take(variants, k // most), _more_exclusions(k % most),
                            n=len(k))

        pieces.append(T.lookup(
            np.where(earlier, np.where(inside, 1, 1 + n_src) + src_first, 0) * most + count,
            exclusion_words))
    if len(a.zone_hits):
        zones = a.household.zones
        words = zones["kind"].map({"exclusion": "exclusion zone", "no_go": "no-go area"})
        zone_text = ("inside " + words.astype(str) + " " + zones["zone_id"].astype(str)
                     + " (" + zones["reason"].astype(str) + ")").tolist()
        z = a.zone_hits
        order_z = np.lexsort((z.source, z.point))
        zp, zs = z.point[order_z], z.source[order_z]
        zfirst, zcount = _first_of_each(zp, n)
        zone_first = np.zeros(n, dtype=np.int64)
        zone_first[zp[zfirst]] = zs[zfirst]
        zcount, zone_first = rows(zcount), rows(zone_first)
        has = zcount > 0
        pieces += [
            T.take(T.stack([""], zone_text, [f"; {t}" for t in zone_text]),
                   np.where(has, 1 + zone_first + earlier * len(zone_text), 0)),
            T.lookup(zcount, lambda k: T.concat(" (and ", T.integer(k - 1), " more)",
                                                n=len(k)), zcount > 1),
        ]
        earlier = earlier | has
    schools = a.household.schools
    school_names = schools["label"].astype(str).tolist() or [""]
    n_schools = len(school_names)
    minutes = np.round(np.nan_to_num(rows(a.school_min))).astype(np.int64)
    worst = np.maximum(rows(a.school_idx), 0)
    support_tenths = T.decimal_key(rows(a.support_km), 1)
    beds = np.nan_to_num(rows(j.beds)).astype(np.int64)
    route_fail = rows(j.route_fail)
    route_text = rows(j.route_text) if (j.route_text != "").any() else np.full(n, "")

    def school_words(k):
        return T.concat(T.take(["", "; "], k % 2), "school run ", T.integer(k // 2 // n_schools),
                        " min to ", T.take(school_names, k // 2 % n_schools),
                        f" exceeds the {j.max_school_min:g} min limit", n=len(k))

    def support_words(k):
        return T.concat(T.take(["", "; "], k % 2), T.decimal_words(k // 2, 1),
                        f" km from support exceeds the {j.max_support_km:g} km limit",
                        n=len(k))

    def beds_words(k):
        return T.concat(T.take(["", "; "], k % 2), T.integer(k // 2),
                        f" bedroom(s), fewer than the {j.min_bedrooms} needed", n=len(k))

    for fail, key, words in ((rows(j.school_fail), minutes * n_schools + worst, school_words),
                             (rows(j.support_fail), support_tenths, support_words),
                             (rows(j.beds_fail), beds, beds_words)):
        if fail.any():
            pieces.append(T.lookup(2 * key + earlier, words, fail))
            earlier = earlier | fail
    said = route_fail & (route_text != "")
    if said.any():
        pieces.append(pa.array(np.where(said, np.where(earlier, "; ", "") + route_text, ""),
                               type=pa.string()))

    # what it is like: nearest threat, threat score, school run, support
    near_src = rows(a.nearest_source)
    near_m = rows(a.nearest_m)
    has = near_src >= 0
    near = np.maximum(near_src, 0)
    inside = has & (near_m <= 0)
    margin = near_m - exclude[near]
    beyond = has & (exclude[near] > 0) & (margin > 0)
    nearest = T.stack(["No known threat source."], T.concat("Nearest threat: inside ", label,
                                                             n=n_src),
                      T.concat("Nearest threat: ", label, ", ", n=n_src))
    threat = rows(a.threat)
    n_words = len(_THREAT_WORDS)
    level = T.decimal_key(threat, 2) * n_words + np.searchsorted(_THREAT_STEPS, threat,
                                                                  side="right")
    levels = int(level.max()) + 1 if n else 1
    # how a nearest threat's sentence ends (its exclusion's radius), then the threat score
    radii, radius_of = np.unique(_radius_words(exclude), return_inverse=True)
    ending = T.stack(["", "."], [f"{r} exclusion)." for r in radii])

    def threat_words(k):
        level = k % levels
        return T.concat(T.take(ending, k // levels), " Threat ",
                        T.decimal_words(level // n_words, 2), " (",
                        T.take(_THREAT_WORDS, level % n_words), ")", n=len(k))

    pieces += [
        T.take(T.stack(T.concat(" ", nearest, n=len(nearest)),
                       T.concat(". ", nearest, n=len(nearest))),
               (~eligible) * len(nearest) + np.where(has, np.where(inside, 1, 1 + n_src) + near,
                                                     0)),
        T.distance(near_m, has & ~inside, after=" away"),
        T.distance(margin, beyond, before=" (", after=" beyond its "),
        T.lookup(np.where(has, np.where(beyond, 2 + radius_of[near], 1), 0) * levels + level,
                 threat_words),
    ]
    top_src = rows(a.top_source)
    top = np.maximum(top_src, 0)
    top_m = np.nan_to_num(rows(a.top_m))
    pieces += [
        T.take(T.stack([""], T.concat(", mostly from being inside ", label, n=n_src),
                       T.concat(", mostly from ", label, ", ", n=n_src)),
               np.where(top_src < 0, 0, np.where(top_m <= 0, 1, 1 + n_src) + top)),
        T.distance(top_m, (top_src >= 0) & (top_m > 0), after=" away"),
    ]
    status = a.school_status
    blocked = rows((status == "too_far_from_street") + 2 * (status == "unreachable"))
    how = 3 * ~rows(a.school_estimated) + blocked  # 0 to 5

    def school_run_words(k):
        m = len(k)
        run = T.concat(". School run ", T.integer(k // 6 // n_schools), " min to ",
                       T.take(school_names, k // 6 % n_schools), " (",
                       T.take(["estimated"] * 3 + ["street network"] * 3, k % 6),
                       T.take(["", "; no street route: too far from a street",
                               "; no street route: unreachable"], k % 3), ").", n=m)
        return T.where(k < 0, ". No school run.", run, n=m)

    pieces.append(T.lookup(np.where(np.isnan(rows(a.school_min)), -1,
                                    6 * (minutes * n_schools + worst) + how),
                           school_run_words))
    support = a.household.support
    if len(support):
        detour = a.policy.table("travel")["detour_factor"]
        support_names = support["label"].astype(str).tolist()
        n_support = len(support_names)
        pieces.append(T.lookup(
            (2 * support_tenths + rows(a.support_estimated)) * n_support
            + np.maximum(rows(a.support_idx), 0),
            lambda k: T.concat(" Support ", T.decimal_words(k // n_support // 2, 1),
                               T.take([" km by road from ",
                                       f" km (estimated: straight line x {detour:g}) from "],
                                      k // n_support % 2),
                               T.take(support_names, k % n_support), ".", n=len(k))))
    else:
        pieces.append(T.take([" No support address."], np.zeros(n, dtype=np.int64)))
    noted = (route_text != "") & ~route_fail
    if noted.any():  # only the checked few
        note = np.full(n, "", dtype=object)
        for i in np.flatnonzero(noted):
            note[i] = f" {route_text[i][:1].upper()}{route_text[i][1:]}."
        pieces.append(pa.array(note, type=pa.string()))
    return T.concat(*pieces, n=n)


def _first_by(point: np.ndarray, value: np.ndarray, tie: np.ndarray, n: int) -> np.ndarray:
    """Per point, the row with the smallest value (ties: the smallest ``tie``); -1 for none.

    The same row as sorting by point, value and tie and taking each point's first.
    """
    rows = _arg_extreme(point, value, n, largest=False)
    if not len(point):
        return rows
    best = value[np.maximum(rows, 0)]
    level = np.flatnonzero(value == best[point])
    out = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, point[level], tie[level])
    chosen = np.flatnonzero((value == best[point]) & (tie == out[point]))
    rows[point[chosen]] = chosen
    return rows


def _more_exclusions(count: np.ndarray) -> pa.Array:
    n = len(count)
    return T.where(count > 2, T.concat(" (and ", T.integer(count - 1), " more exclusions)", n=n),
                   T.where(count == 2, " (and 1 more exclusion)", "", n=n), n=n)


def _head_words(k: np.ndarray) -> pa.Array:
    """0: eligible; 1: not; 2 on: not, and this far (:func:`geo._text.distance_key` + 2)."""
    n = len(k)
    return T.where(k == 0, "Eligible.", T.concat("Not eligible: ", T.where(
        k > 1, T.distance_words(k - 2), "", n=n), n=n), n=n)


def check_school_routes(
    assessment: Assessment,
    ranked: pd.DataFrame,
    travel,
    zones: gpd.GeoDataFrame,
    *,
    candidate_ids: list[str],
) -> gpd.GeoDataFrame:
    """The fastest route from each named candidate to each of the household's schools, and
    the zones (exclusion zones, no-go areas) it passes through.

    Returns
    -------
    GeoDataFrame with ``candidate_id, school, status, minutes, crossing_m, zone_ids,
    zone_reasons, crosses_zone`` and the route line (EPSG:27700); one row per candidate (its
    worst school route: the one crossing most, else the longest).
    """
    from geo.network import check_routes

    schools = assessment.household.schools
    chosen = ranked[ranked["candidate_id"].isin(candidate_ids)]
    if not len(schools) or not len(chosen):
        return gpd.GeoDataFrame(
            {c: [] for c in ("candidate_id", "school", "status", "minutes", "crossing_m",
                             "zone_ids", "zone_reasons", "crosses_zone")},
            geometry=gpd.GeoSeries([], crs=27700), crs=27700)
    parts = []
    for school in schools.itertuples():
        try:
            found = check_routes(travel.graph, (school.geometry.x, school.geometry.y),
                                 chosen[["candidate_id", "geometry"]], zones,
                                 top_n=len(chosen))
        except InputError:  # the school is off this street graph: no route to check
            continue
        parts.append(found.assign(school=str(school.label)))
    if not parts:
        return check_school_routes(assessment, ranked, travel, zones, candidate_ids=[])
    both = pd.concat(parts, ignore_index=True)
    both = both.sort_values(["candidate_id", "crossing_m", "minutes"],
                            ascending=[True, False, False], na_position="last")
    worst = both.drop_duplicates("candidate_id", keep="first")
    return gpd.GeoDataFrame(worst.reset_index(drop=True), geometry="geometry", crs=27700)


def rank_with_routes(
    assessment: Assessment,
    travel,
    zones: gpd.GeoDataFrame,
    *,
    weights: Mapping[str, float] | None = None,
    limits: Mapping[str, float] | None = None,
    top_n: int | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Rank, then check the school routes of the best eligible candidates, re-ranking until
    the best ``top_n`` (``network.route_check_top``) have all been checked.

    Returns the ranking and the checked routes (lines, for the map).
    """
    top_n = int(assessment.policy.get("network.route_check_top") if top_n is None else top_n)
    ranked = rank(assessment, weights=weights, limits=limits)
    checked: list[gpd.GeoDataFrame] = []
    done: set[str] = set()
    for _ in range(10):  # refusing a route can bring unchecked candidates up: check them too
        best = ranked[ranked["eligible"]].head(top_n)["candidate_id"].tolist()
        todo = [c for c in best if c not in done]
        if not todo:
            break
        checked.append(check_school_routes(assessment, ranked, travel, zones,
                                           candidate_ids=todo))
        done.update(todo)
        ranked = rank(assessment, weights=weights, limits=limits,
                      routes=pd.concat(checked, ignore_index=True))
    if checked:
        routes = gpd.GeoDataFrame(pd.concat(checked, ignore_index=True), geometry="geometry",
                                  crs=27700)
    else:
        routes = check_school_routes(assessment, ranked, travel, zones, candidate_ids=[])
    routes["crosses_zone"] = routes["crosses_zone"].astype(bool)
    return ranked, routes


def rank_case(
    case: Case,
    policy: Policy,
    *,
    person_ids: list[str] | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    as_of: dt.datetime | None = None,
    travel: Travel | None = None,
    weights: Mapping[str, float] | None = None,
) -> gpd.GeoDataFrame:
    """Assess and rank in one call (see :func:`assess_case` and :func:`rank`)."""
    assessment = assess_case(case, policy, person_ids=person_ids, candidates=candidates,
                             as_of=as_of, travel=travel)
    return rank(assessment, weights=weights)

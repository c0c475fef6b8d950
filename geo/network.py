"""Street networks: graphs loaded offline, travel times to many points, reachable areas, routes.

A :class:`StreetGraph` is prepared once from a local OpenStreetMap XML file or a GraphML file
(:func:`load_graph`), keeping only the ways a mode may use (:data:`MODE_RULES`), with a speed
and a travel time on every edge. It then answers, with one shortest-path run on a compressed
sparse graph each:

- :func:`travel_times`: minutes between one place (a school) or the nearest of several places
  (support addresses) and any number of points (candidates, grid cells);
  :func:`network_distances`: the same in metres along the streets;
- :func:`isochrones` / :func:`isochrone`: the area within N minutes, following the streets;
- :func:`check_routes` / :func:`route`: the fastest route of each top candidate, and how far it
  runs through exclusion zones or no-go areas (:func:`route_crossings`).

Points are snapped to the nearest street (not the nearest junction) within ``max_snap_m``;
a point further than that from every street is reported, never silently snapped.

Nothing is fetched from the internet unless an administrator sets
``SAFEPLAN_ALLOW_OSM_DOWNLOAD=true`` (:func:`fetch_graph`).

Notes
-----
Every coordinate, length and geometry here is in British National Grid (EPSG:27700), metres.
Edge ``length`` is osmnx's great-circle length in metres; ``travel_time`` is in seconds;
results are in minutes. A point part-way along an edge is timed pro rata to its map length
(graphs keep a node wherever the speed changes, so an edge has one speed). Map data:
(c) OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import KDTree
from shapely import ops

from geo import _street_files as files
from geo._street_files import Progress, configure_osmnx
from geo._street_rules import (
    DENIED_ACCESS,
    DRIVE_SPEEDS_KPH,
    MODE_RULES,
    WALK_SPEED_KPH,
    Mode,
    ModeRule,
    check_choice,
    check_mode,
    speed_table,
    tag_value,
    way_allowed,
)
from geo.crs import BNG, bng_to_wgs84, is_bng, to_bng
from geo.errors import GeoError, InputError
from geo.settings import Settings

__all__ = [
    "DEFAULT_MAX_SNAP_M", "DENIED_ACCESS", "DRIVE_SPEEDS_KPH", "MODE_RULES", "WALK_SPEED_KPH",
    "Direction", "Mode", "ModeRule", "Route", "StreetGraph", "check_routes", "configure_osmnx",
    "fetch_graph", "isochrone", "isochrones", "load_graph", "network_distances",
    "policy_speeds", "route", "route_crossings", "save_graph", "snap", "speed_table",
    "travel_times", "way_allowed",
]

Direction = Literal["to_origin", "from_origin"]
_DIRECTIONS: tuple[str, ...] = get_args(Direction)
Weight = Literal["time", "length"]

#: Default maximum distance (metres) from a point to the street it is snapped to.
DEFAULT_MAX_SNAP_M = 250.0


def _check_direction(direction: object) -> Direction:
    return check_choice("direction", direction, _DIRECTIONS)  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# The prepared graph
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Costs:
    """One edge cost (travel seconds, or ground metres) in the forms the solver needs."""

    forward: np.ndarray  # per street, from its start node to its end node; inf: not allowed
    backward: np.ndarray  # per street, from its end node to its start node
    csr: sparse.csr_matrix  # node to node, the cheapest of any parallel edges
    csr_reverse: sparse.csr_matrix  # the same with every edge turned round
    chosen: np.ndarray  # per CSR entry, the edge it came from


class StreetGraph:
    """A street graph prepared for one mode, with the arrays fast queries need.

    Build one with :func:`load_graph` (or :func:`fetch_graph`); the constructor takes a
    prepared osmnx graph (projected to EPSG:27700, ``travel_time`` on every edge). Treat it as
    read-only: it is safe to share between users (e.g. in ``st.cache_resource``).

    Attributes
    ----------
    G
        The osmnx ``MultiDiGraph`` (EPSG:27700; edge ``length`` m, ``speed_kph``,
        ``travel_time`` s).
    mode
        ``"drive"`` or ``"walk"``.
    source
        Where the graph came from (a file name), for labels and messages.
    speeds_kph
        The speed table used (highway type to km/h).
    node_ids, x, y
        OSM node ids and their easting/northing (m), in the internal node order.
    n_nodes, n_edges, n_streets
        Graph nodes, directed edges, and streets (an edge and its reverse count once).
    length_km
        Total length of the streets, measured on the map (EPSG:27700).
    bounds
        ``(x_min, y_min, x_max, y_max)`` of the nodes, metres.

    Notes
    -----
    Internally, travel times and lengths are ``scipy.sparse`` CSR matrices (seconds, metres:
    the cheapest of any parallel edges), and every street's geometry is split into pieces of at most
    ``piece_m`` metres indexed by a KD-tree over their midpoints, so that the nearest street
    to 100,000 points is found exactly in a fraction of a second.
    """

    def __init__(
        self,
        G: nx.MultiDiGraph,
        *,
        mode: Mode,
        source: str = "",
        speeds_kph: Mapping[str, float] | None = None,
        piece_m: float = 40.0,
    ) -> None:
        self.G = G
        self.mode = check_mode(mode)
        self.source = source or str(G.graph.get("safeplan_source", "street graph"))
        self.speeds_kph = dict(speeds_kph or {})
        self._coverage: dict[float, shapely.Geometry] = {}
        self._build_nodes()
        self._build_streets()
        self._build_matrix()
        self._build_snap_index(piece_m)

    # -- construction -----------------------------------------------------------------------

    def _build_nodes(self) -> None:
        G = self.G
        if not is_bng(G.graph.get("crs")):
            msg = f"{self.source}: the graph must be projected to EPSG:{BNG}"
            raise InputError(msg)
        if G.number_of_edges() == 0:
            msg = f"{self.source}: the street graph has no streets"
            raise InputError(msg)
        self.node_ids = np.fromiter(G.nodes, dtype=np.int64, count=len(G))
        self.x = np.fromiter((d["x"] for _, d in G.nodes(data=True)), float, count=len(G))
        self.y = np.fromiter((d["y"] for _, d in G.nodes(data=True)), float, count=len(G))
        self._node_index = {node: i for i, node in enumerate(G.nodes)}

    def _build_streets(self) -> None:
        """Group each directed edge with its reverse into one street with two travel times."""
        G, index = self.G, self._node_index
        m = G.number_of_edges()
        u = np.empty(m, np.int64)
        v = np.empty(m, np.int64)
        seconds = np.empty(m, float)
        metres = np.empty(m, float)
        geoms = np.empty(m, object)
        highway = np.empty(m, object)
        for k, (a, b, data) in enumerate(G.edges(data=True)):
            u[k] = index[a]
            v[k] = index[b]
            seconds[k] = data.get("travel_time", np.nan)
            metres[k] = data.get("length", np.nan)
            geoms[k] = data.get("geometry")
            highway[k] = tag_value(data.get("highway"))
        for values, what in ((seconds, "travel time"), (metres, "length")):
            if not (np.isfinite(values) & (values >= 0)).all():
                msg = f"{self.source}: some edges have no {what}"
                raise InputError(msg)
        straight = pd.isna(geoms)
        if straight.any():
            ends = np.stack([np.column_stack([self.x[u], self.y[u]]),
                             np.column_stack([self.x[v], self.y[v]])], axis=1)
            geoms[straight] = shapely.linestrings(ends[straight])
        # canonical orientation: from the lower to the higher node index (loops: by shape)
        flip = u > v
        loops = np.flatnonzero(u == v)
        for k in loops:
            coords = shapely.get_coordinates(geoms[k])
            flip[k] = tuple(coords[1]) > tuple(coords[-2])
        canon = geoms.copy()
        canon[flip] = shapely.reverse(geoms[flip])
        canon_len = shapely.length(canon)
        lo = np.minimum(u, v)
        hi = np.maximum(u, v)
        order = np.lexsort((canon_len, hi, lo))
        new_group = np.ones(m, bool)
        new_group[1:] = ((np.diff(lo[order]) != 0) | (np.diff(hi[order]) != 0)
                         | (np.diff(canon_len[order]) != 0))
        starts = np.flatnonzero(new_group)
        street_of_edge = np.empty(m, np.int64)
        street_of_edge[order] = np.cumsum(new_group) - 1
        first = order[starts]
        self._street_u = lo[first]
        self._street_v = hi[first]
        self._street_geom = canon[first]
        self._street_len_m = canon_len[first]
        self._street_highway = highway[first]
        self._edge_u, self._edge_v = u, v
        self._edge_street, self._edge_forward = street_of_edge, ~flip
        self._edge_cost = {"time": seconds, "length": metres}
        self._street_cost = {
            weight: (np.minimum.reduceat(np.where(flip, np.inf, values)[order], starts),
                     np.minimum.reduceat(np.where(flip, values, np.inf)[order], starts))
            for weight, values in self._edge_cost.items()
        }
        self.n_nodes = len(self.node_ids)
        self.n_edges = m
        self.n_streets = len(starts)
        self.length_km = float(self._street_len_m.sum() / 1000)
        self.bounds = (float(self.x.min()), float(self.y.min()),
                       float(self.x.max()), float(self.y.max()))

    def _build_matrix(self) -> None:
        """Per cost, CSR matrices of the cheapest edge between each ordered node pair."""
        self._costs: dict[str, _Costs] = {}
        keep = np.flatnonzero(self._edge_u != self._edge_v)
        n = self.n_nodes
        for weight, values in self._edge_cost.items():
            u, v, c = self._edge_u[keep], self._edge_v[keep], values[keep]
            order = np.lexsort((c, v, u))
            u, v = u[order], v[order]
            first = np.ones(len(order), bool)
            first[1:] = (np.diff(u) != 0) | (np.diff(v) != 0)
            chosen = keep[order[first]]
            indptr = np.zeros(n + 1, np.int32)
            np.cumsum(np.bincount(u[first], minlength=n), out=indptr[1:])
            csr = sparse.csr_matrix((values[chosen], v[first].astype(np.int32), indptr),
                                    shape=(n, n))
            forward, backward = self._street_cost[weight]
            self._costs[weight] = _Costs(forward, backward, csr, csr.T.tocsr(), chosen)

    def _build_snap_index(self, piece_m: float) -> None:
        """Split street geometries into short straight pieces and index their midpoints."""
        coords, owner = shapely.get_coordinates(self._street_geom, return_index=True)
        same = owner[:-1] == owner[1:]
        start, end, street = coords[:-1][same], coords[1:][same], owner[:-1][same]
        seg_len = np.hypot(*(end - start).T)
        before = np.cumsum(seg_len) - seg_len
        along0 = before - before[np.searchsorted(street, street, side="left")]
        parts = np.maximum(1, np.ceil(seg_len / piece_m)).astype(np.int64)
        seg = np.repeat(np.arange(len(seg_len)), parts)
        j = np.arange(len(seg)) - np.repeat(np.cumsum(parts) - parts, parts)
        t0 = j / parts[seg]
        t1 = (j + 1) / parts[seg]
        delta = end[seg] - start[seg]
        self._piece_start = start[seg] + t0[:, None] * delta
        self._piece_delta = (t1 - t0)[:, None] * delta
        self._piece_len = seg_len[seg] * (t1 - t0)
        self._piece_along0 = along0[seg] + seg_len[seg] * t0
        self._piece_street = street[seg]
        self._piece_half_m = float(self._piece_len.max() / 2) if len(seg) else 0.0
        self._tree = KDTree(self._piece_start + self._piece_delta / 2)

    # -- views for maps and the app ---------------------------------------------------------

    def streets_gdf(self) -> gpd.GeoDataFrame:
        """The streets as a GeoDataFrame (EPSG:27700) for a map layer.

        Columns: ``highway``, ``length_m``, ``minutes_forward`` and ``minutes_backward``
        (along and against the line's drawing direction; NaN where that way is not allowed).
        """
        return gpd.GeoDataFrame(
            {
                "highway": self._street_highway,
                "length_m": self._street_len_m,
                "minutes_forward": _minutes(self._costs["time"].forward),
                "minutes_backward": _minutes(self._costs["time"].backward),
            },
            geometry=self._street_geom,
            crs=BNG,
        )

    def coverage(self, *, buffer_m: float = DEFAULT_MAX_SNAP_M) -> shapely.Geometry:
        """The area within ``buffer_m`` metres of a street (EPSG:27700), cached per distance.

        With ``buffer_m`` equal to the ``max_snap_m`` of a query, this is exactly where points
        get network times rather than ``too_far_from_street``.
        """
        key = float(buffer_m)
        if key not in self._coverage:
            lines = shapely.simplify(self._street_geom, min(5.0, key / 10))
            self._coverage[key] = shapely.union_all(shapely.buffer(lines, key, quad_segs=4))
        return self._coverage[key]

    def __repr__(self) -> str:
        return (f"StreetGraph({self.source!r}, mode={self.mode!r}, nodes={self.n_nodes:,}, "
                f"streets={self.n_streets:,}, length_km={self.length_km:.1f})")


def _minutes(seconds: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(seconds), seconds / 60.0, np.nan)


# --------------------------------------------------------------------------------------------
# Loading, caching, downloading
# --------------------------------------------------------------------------------------------


def load_graph(
    path: str | os.PathLike[str],
    *,
    mode: Mode,
    speeds_kph: Mapping[str, float] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> StreetGraph:
    """Load a street graph for ``mode`` from a local OSM XML or GraphML file, with no network.

    Parameters
    ----------
    path
        ``.osm`` / ``.xml`` (optionally ``.gz`` or ``.bz2``): raw OpenStreetMap XML, e.g. an
        Overpass or osmium export. ``.graphml``: a graph saved by :func:`save_graph` (used as
        it is when made for the same mode and speeds) or by osmnx (filtered by the mode rules
        and re-timed with osmnx's per-edge speed imputation).
    mode
        ``"drive"`` or ``"walk"``; which ways are kept is in :data:`MODE_RULES`.
    speeds_kph
        Policy overrides of the speed table by highway type (see :func:`speed_table`).
    cache_dir
        Where prepared graphs are kept; default ``Settings.from_env().data_dir / "graphs"``.
    use_cache
        Reuse and write the prepared graph there (OSM XML only; keyed by the file's content
        hash, the mode, the speeds and the preparation rules' version).
    progress
        Called as ``progress(fraction, message)`` while the graph is prepared.

    Returns
    -------
    StreetGraph

    Raises
    ------
    InputError
        The file is missing, empty, unreadable, not OSM XML/GraphML, declares a DTD, or has
        no street the mode can use; the mode or a speed is invalid. Messages name the file.

    Notes
    -----
    OSM XML is read by ``osmnx.graph_from_xml`` unsimplified, filtered way by way, reduced to
    its largest weakly connected component, given speeds (a tagged ``maxspeed`` first, then
    the table; walking: the table only) and travel times per OSM segment, then simplified
    (lengths and travel times summed) and projected to EPSG:27700.
    """
    path = Path(path)
    mode = check_mode(mode)
    speeds = speed_table(mode, speeds_kph)
    report = progress or files.no_progress
    kind = files.file_kind(path)
    files.check_file(path, root="graphml" if kind == "graphml" else "osm")
    if kind == "graphml":
        report(0.1, f"reading {path.name}")
        G = files.read_graphml(path, mode=mode, speeds=speeds)
        report(0.8, "indexing the streets")
        graph = StreetGraph(G, mode=mode, source=path.name, speeds_kph=speeds)
        report(1.0, "ready")
        return graph
    report(0.0, f"hashing {path.name}")
    digest = files.sha256(path)
    cache_file = None
    if use_cache:
        folder = Path(cache_dir) if cache_dir is not None else (
            Settings.from_env().data_dir / "graphs")
        cache_file = folder / files.cache_name(digest, mode, speeds)
        G = files.read_cached(cache_file)
        if G is not None:
            report(0.8, "indexing the streets (prepared graph from the cache)")
            graph = StreetGraph(G, mode=mode, source=path.name, speeds_kph=speeds)
            report(1.0, "ready")
            return graph
    report(0.05, f"reading {path.name}")
    G = files.read_osm_xml(path, mode=mode)
    G = files.prepare(G, mode=mode, speeds=speeds, source=path.name, progress=report)
    G.graph["safeplan_source_sha256"] = digest
    if cache_file is not None:
        report(0.85, "saving the prepared graph")
        files.write_cache(G, cache_file)
    report(0.9, "indexing the streets")
    graph = StreetGraph(G, mode=mode, source=path.name, speeds_kph=speeds)
    report(1.0, "ready")
    return graph


def save_graph(graph: StreetGraph, path: str | os.PathLike[str]) -> Path:
    """Save the prepared graph as GraphML; :func:`load_graph` reads it back as it is.

    The file is written under a temporary name beside ``path`` and renamed into place, so a
    reader never sees half a file.
    """
    path = Path(path)
    if path.suffix.lower() != ".graphml":
        msg = f"{path.name}: a street graph is saved as .graphml"
        raise InputError(msg)
    try:
        files.write_graphml(graph.G, path)
    except OSError as e:
        msg = f"{path.name}: cannot be written ({e.strerror or type(e).__name__})"
        raise InputError(msg) from None
    return path


def fetch_graph(
    bounds: tuple[float, float, float, float],
    *,
    mode: Mode,
    settings: Settings,
    speeds_kph: Mapping[str, float] | None = None,
) -> StreetGraph:
    """Download the street graph of a study area from OpenStreetMap (only if allowed).

    Parameters
    ----------
    bounds
        ``(x_min, y_min, x_max, y_max)`` in EPSG:27700 metres.
    mode, speeds_kph
        As for :func:`load_graph`.
    settings
        Downloading sends the area to a third party (the Overpass API), so it is refused
        unless ``settings.allow_osm_download`` (``SAFEPLAN_ALLOW_OSM_DOWNLOAD=true``).

    Raises
    ------
    GeoError
        Downloading is turned off, or the download failed.

    Notes
    -----
    Goes through ``osmnx.graph_from_bbox`` with osmnx's cache in
    ``settings.data_dir / "osmnx-cache"`` (see :func:`configure_osmnx`), then the same
    preparation as :func:`load_graph`.
    """
    mode = check_mode(mode)
    speeds = speed_table(mode, speeds_kph)
    if not settings.allow_osm_download:
        msg = ("downloading a street graph is turned off: it would send the study area to a "
               "third party (OpenStreetMap's Overpass service). Load a local .osm or .graphml "
               "file instead, or ask an administrator to set SAFEPLAN_ALLOW_OSM_DOWNLOAD=true")
        raise GeoError(msg)
    x_min, y_min, x_max, y_max = (float(b) for b in bounds)
    if not (x_min < x_max and y_min < y_max):
        msg = f"the study area's bounds must be (x_min, y_min, x_max, y_max), got {bounds!r}"
        raise InputError(msg)
    lon, lat = bng_to_wgs84([x_min, x_min, x_max, x_max], [y_min, y_max, y_min, y_max])
    configure_osmnx(settings)
    source = "OpenStreetMap download"
    try:
        G = ox.graph_from_bbox(
            (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())),
            network_type="drive_service" if mode == "drive" else "walk",
            simplify=False, retain_all=True,
        )
    except (OSError, ValueError) as e:  # requests' errors are OSErrors; osmnx's ValueErrors
        msg = f"downloading the street graph failed: {type(e).__name__}"
        raise GeoError(msg) from e
    G = files.prepare(G, mode=mode, speeds=speeds, source=source, progress=files.no_progress)
    return StreetGraph(G, mode=mode, source=source, speeds_kph=speeds)


# --------------------------------------------------------------------------------------------
# Snapping points to streets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapped:
    """Where points meet the streets: street index, fraction along it, distance, status."""

    street: np.ndarray
    fraction: np.ndarray
    snap_x: np.ndarray
    snap_y: np.ndarray
    snap_m: np.ndarray
    status: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        return self.status == "ok"

    def take(self, mask: np.ndarray) -> _Snapped:
        return _Snapped(self.street[mask], self.fraction[mask], self.snap_x[mask],
                        self.snap_y[mask], self.snap_m[mask], self.status[mask])


def _project(graph: StreetGraph, px, py, pieces: np.ndarray):
    """Distance from each point to each candidate piece, and the position along it."""
    start = graph._piece_start[pieces]
    delta = graph._piece_delta[pieces]
    if pieces.ndim == 2:  # (points, k) candidates
        px, py = px[:, None], py[:, None]
    rel_x = px - start[..., 0]
    rel_y = py - start[..., 1]
    len2 = delta[..., 0] ** 2 + delta[..., 1] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(len2 > 0, (rel_x * delta[..., 0] + rel_y * delta[..., 1]) / len2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    dist = np.hypot(rel_x - t * delta[..., 0], rel_y - t * delta[..., 1])
    return dist, t


def _nearest_pieces(graph: StreetGraph, px: np.ndarray, py: np.ndarray):
    """Exact nearest street piece per point: k nearest midpoints, widened where unsure.

    Points are looked up in 500 m bands (memory locality halves the KD-tree's time) and the
    answers put back in the caller's order.
    """
    order = np.lexsort((px, np.floor(py / 500.0)))
    best, best_d, best_t = _nearest_pieces_sorted(graph, px[order], py[order])
    out = np.empty_like(best), np.empty_like(best_d), np.empty_like(best_t)
    out[0][order], out[1][order], out[2][order] = best, best_d, best_t
    return out


def _nearest_pieces_sorted(graph: StreetGraph, px: np.ndarray, py: np.ndarray):
    n_pieces = len(graph._piece_len)
    best = np.full(len(px), -1, np.int64)
    best_d = np.full(len(px), np.inf)
    best_t = np.zeros(len(px))
    todo = np.arange(len(px))
    for k in (8, 64):
        if not len(todo):
            break
        k = min(k, n_pieces)
        mid_d, pieces = graph._tree.query(np.column_stack([px[todo], py[todo]]), k=k)
        pieces = pieces.reshape(len(todo), k)
        mid_d = mid_d.reshape(len(todo), k)
        dist, t = _project(graph, px[todo], py[todo], pieces)
        pick = np.argmin(dist, axis=1)
        rows = np.arange(len(todo))
        best[todo] = pieces[rows, pick]
        best_d[todo] = dist[rows, pick]
        best_t[todo] = t[rows, pick]
        # a piece beyond the k-th midpoint is at least (that distance - half a piece) away
        sure = (k == n_pieces) | (mid_d[:, -1] - graph._piece_half_m >= best_d[todo])
        todo = todo[~sure]
    for i in todo:  # rare: points with many pieces at nearly the same distance
        pieces = np.asarray(graph._tree.query_ball_point(
            [px[i], py[i]], r=best_d[i] + graph._piece_half_m + 1e-6), dtype=np.int64)
        dist, t = _project(graph, px[i], py[i], pieces)
        j = int(np.argmin(dist))
        best[i], best_d[i], best_t[i] = pieces[j], dist[j], t[j]
    return best, best_d, best_t


def _snap(graph: StreetGraph, x, y, *, max_snap_m: float) -> _Snapped:
    px = np.asarray(x, float).ravel()
    py = np.asarray(y, float).ravel()
    if px.shape != py.shape:
        msg = f"x and y must have the same length, got {len(px)} and {len(py)}"
        raise InputError(msg)
    if not max_snap_m >= 0:
        msg = f"max_snap_m must be 0 or more metres, got {max_snap_m!r}"
        raise InputError(msg)
    n = len(px)
    street = np.full(n, -1, np.int64)
    fraction = np.full(n, np.nan)
    snap_x = np.full(n, np.nan)
    snap_y = np.full(n, np.nan)
    snap_m = np.full(n, np.nan)
    status = np.full(n, "no_location", dtype=object)
    located = np.flatnonzero(np.isfinite(px) & np.isfinite(py))
    if len(located):
        piece, dist, t = _nearest_pieces(graph, px[located], py[located])
        s = graph._piece_street[piece]
        along = graph._piece_along0[piece] + t * graph._piece_len[piece]
        length = graph._street_len_m[s]
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(length > 0, along / length, 0.0)
        f = np.where(along <= 1e-3, 0.0, np.where(length - along <= 1e-3, 1.0, f))
        point = graph._piece_start[piece] + t[:, None] * graph._piece_delta[piece]
        street[located], fraction[located] = s, np.clip(f, 0.0, 1.0)
        snap_x[located], snap_y[located] = point[:, 0], point[:, 1]
        snap_m[located] = dist
        status[located] = np.where(dist <= max_snap_m, "ok", "too_far_from_street")
    return _Snapped(street, fraction, snap_x, snap_y, snap_m, status)


def snap(graph: StreetGraph, x, y, *, max_snap_m: float = DEFAULT_MAX_SNAP_M) -> pd.DataFrame:
    """Snap points to the nearest street (not the nearest junction), within ``max_snap_m``.

    Parameters
    ----------
    graph
        The prepared street graph.
    x, y
        Easting and northing arrays (EPSG:27700, metres).
    max_snap_m
        The furthest a point may be from a street to get a network time.

    Returns
    -------
    pandas.DataFrame
        One row per point, in order: ``street`` (index into ``graph.streets_gdf()``, -1 if no
        location), ``fraction`` (0..1 along the street's line), ``snap_x``, ``snap_y`` (the
        nearest point on the street), ``snap_m`` (distance to it, metres) and ``status``:
        ``ok``, ``too_far_from_street`` (still reported with its distance, never used) or
        ``no_location`` (a missing coordinate).

    Notes
    -----
    The nearest street is exact (not approximate): each street is cut into straight pieces of
    at most 40 m and the nearest piece is confirmed against a KD-tree bound.
    """
    s = _snap(graph, x, y, max_snap_m=max_snap_m)
    return pd.DataFrame({"street": s.street, "fraction": s.fraction, "snap_x": s.snap_x,
                         "snap_y": s.snap_y, "snap_m": s.snap_m,
                         "status": pd.Series(s.status, dtype="str")})


# --------------------------------------------------------------------------------------------
# One-to-many shortest paths
# --------------------------------------------------------------------------------------------


def _partial(fraction: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """The cost of ``fraction`` of an edge; 0 for no distance even where not allowed."""
    with np.errstate(invalid="ignore"):
        return np.where(fraction <= 0, 0.0, fraction * cost)


def _street_costs(costs: _Costs, direction: Direction, street: np.ndarray):
    """(p, q): whole-street costs for a trip between a point on the street and its end
    node ``v`` (p) or its start node ``u`` (q), in the direction the trip runs.

    ``to_origin`` trips leave the point: toward ``v`` is the street's forward direction.
    ``from_origin`` trips arrive at the point: from ``v`` is the backward direction.
    """
    fwd, bwd = costs.forward[street], costs.backward[street]
    return (fwd, bwd) if direction == "to_origin" else (bwd, fwd)


@dataclass(frozen=True)
class _Solution:
    direction: Direction
    costs: _Costs
    origins: _Snapped  # the usable origins only
    origin_index: np.ndarray  # their positions in the caller's list
    cost: np.ndarray  # per node (n + k virtual origin nodes): seconds or metres
    predecessors: np.ndarray
    sources: np.ndarray


def _solve(
    graph: StreetGraph,
    origins_xy,
    *,
    direction: Direction,
    max_snap_m: float,
    weight: Weight = "time",
    limit: float = np.inf,
) -> tuple[_Solution, list[int]]:
    """One Dijkstra run from virtual nodes placed where the origins meet their streets.

    ``limit`` is in the cost's unit (seconds for ``time``, metres for ``length``).
    """
    xy = np.asarray(origins_xy, float)
    if xy.ndim == 1:
        xy = xy[None, :]
    if xy.ndim != 2 or xy.shape[1] != 2 or not len(xy):
        msg = f"origins must be one (x, y) pair or a list of them, got shape {xy.shape}"
        raise InputError(msg)
    snapped = _snap(graph, xy[:, 0], xy[:, 1], max_snap_m=max_snap_m)
    usable = np.flatnonzero(snapped.ok)
    too_far = [int(i) for i in np.flatnonzero(~snapped.ok)]
    if not len(usable):
        nearest = np.nanmin(snapped.snap_m) if np.isfinite(snapped.snap_m).any() else np.nan
        where = "has no location" if np.isnan(nearest) else (
            f"is {nearest:,.0f} m from the nearest street")
        msg = (f"the origin {where} in {graph.source} (the limit is {max_snap_m:,.0f} m); "
               f"no network times can be given")
        raise InputError(msg)
    origins = snapped.take(usable)
    n, k = graph.n_nodes, len(usable)
    costs = graph._costs[weight]
    base = costs.csr_reverse if direction == "to_origin" else costs.csr
    a = graph._street_u[origins.street]
    b = graph._street_v[origins.street]
    p, q = _street_costs(costs, direction, origins.street)
    g = origins.fraction
    w_a = _partial(g, p)  # virtual node -> a
    w_b = _partial(1.0 - g, q)  # virtual node -> b
    loop = a == b
    w_a = np.where(loop, np.minimum(w_a, w_b), w_a)
    rows_cols: list[np.ndarray] = []
    rows_w: list[np.ndarray] = []
    counts = np.zeros(k, np.int64)
    for i in range(k):
        cols, ws = [a[i]], [w_a[i]]
        if not loop[i]:
            cols.append(b[i])
            ws.append(w_b[i])
        keep = np.isfinite(ws)
        rows_cols.append(np.asarray(cols, np.int32)[keep])
        rows_w.append(np.asarray(ws, float)[keep])
        counts[i] = keep.sum()
    indptr = np.concatenate([base.indptr, base.indptr[-1] + np.cumsum(counts)]).astype(np.int32)
    matrix = sparse.csr_matrix(
        (np.concatenate([base.data, *rows_w]),
         np.concatenate([base.indices, *rows_cols]).astype(np.int32), indptr),
        shape=(n + k, n + k))
    cost, pred, sources = dijkstra(matrix, directed=True, indices=np.arange(n, n + k),
                                   min_only=True, limit=limit, return_predecessors=True)
    return _Solution(direction, costs, origins, usable, cost, pred, sources), too_far


def _target_costs(graph: StreetGraph, sol: _Solution, targets: _Snapped):
    """Cost per target (inf where unreachable), the origin used, and how (via a, b, direct)."""
    n = graph.n_nodes
    s = np.where(targets.ok, targets.street, 0)
    f = np.where(targets.ok, targets.fraction, 0.0)
    a, b = graph._street_u[s], graph._street_v[s]
    p, q = _street_costs(sol.costs, sol.direction, s)
    via_a = _partial(f, q) + sol.cost[a]
    via_b = _partial(1.0 - f, p) + sol.cost[b]
    cost = np.minimum(via_a, via_b)
    how = np.where(via_a <= via_b, 0, 1)
    origin = np.where(how == 0, sol.sources[a], sol.sources[b]) - n
    for j, (street_j, g) in enumerate(zip(sol.origins.street, sol.origins.fraction,
                                          strict=True)):
        same = np.flatnonzero(targets.ok & (targets.street == street_j))
        if not len(same):
            continue
        fj = f[same]
        direct = np.where(fj <= g, _partial(g - fj, p[same]), _partial(fj - g, q[same]))
        better = direct < cost[same]
        cost[same[better]] = direct[better]
        how[same[better]] = 2
        origin[same[better]] = j
    cost = np.where(targets.ok, cost, np.inf)
    origin = np.where(np.isfinite(cost), origin, -1)
    return cost, origin, how


def _one_to_many(graph, origin_xy, targets_x, targets_y, *, direction, max_snap_m, weight,
                 column: str, scale: float) -> pd.DataFrame:
    """The frame :func:`travel_times` and :func:`network_distances` return."""
    direction = _check_direction(direction)
    sol, too_far = _solve(graph, origin_xy, direction=direction, max_snap_m=max_snap_m,
                          weight=weight)
    targets = _snap(graph, targets_x, targets_y, max_snap_m=max_snap_m)
    cost, origin, _ = _target_costs(graph, sol, targets)
    reachable = np.isfinite(cost)
    status = np.where(targets.ok & ~reachable, "unreachable", targets.status)
    out = pd.DataFrame({
        column: np.where(reachable, cost * scale, np.nan),
        "snap_m": targets.snap_m,
        "reachable": reachable,
        "status": pd.Series(status, dtype="str"),
        "origin": np.where(origin >= 0, sol.origin_index[np.maximum(origin, 0)], -1),
    })
    out.attrs["origins_too_far"] = too_far
    return out


def travel_times(
    graph: StreetGraph,
    origin_xy,
    targets_x,
    targets_y,
    *,
    direction: Direction = "to_origin",
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> pd.DataFrame:
    """Network travel time between an origin (or the nearest of several) and many points.

    Parameters
    ----------
    graph
        The prepared street graph (its mode decides who travels: car or on foot).
    origin_xy
        One ``(x, y)`` (the school) or an array of shape ``(k, 2)`` (support addresses: each
        target then gets the time to the nearest one).
    targets_x, targets_y
        Easting and northing arrays of the targets (candidates, grid-cell centres).
    direction
        ``"to_origin"`` (default): from each target to the origin, e.g. home to school in the
        morning; ``"from_origin"``: from the origin to each target. They differ when driving
        on one-way streets.
    max_snap_m
        Targets (and origins) further than this from every street get no time.

    Returns
    -------
    pandas.DataFrame
        One row per target, in order: ``minutes`` (NaN unless ``ok``), ``snap_m``,
        ``reachable`` (bool), ``status`` (``ok``, ``too_far_from_street``, ``unreachable``,
        ``no_location``) and ``origin`` (position of the nearest origin, -1 if none).
        ``attrs["origins_too_far"]`` lists origins that were further than ``max_snap_m``
        from a street and so were not used.

    Raises
    ------
    InputError
        No origin is within ``max_snap_m`` of a street, or the arrays are malformed.

    Notes
    -----
    One Dijkstra run (``scipy.sparse.csgraph``) from virtual nodes where the origins meet
    their streets, on the reversed graph for ``to_origin``. Each point joins the network where
    it meets the nearest street, and the part-edge to either end is timed at that edge's
    speed; the straight ``snap_m`` from the point to the street is not added. Coordinates in
    EPSG:27700 metres.
    """
    return _one_to_many(graph, origin_xy, targets_x, targets_y, direction=direction,
                        max_snap_m=max_snap_m, weight="time", column="minutes",
                        scale=1 / 60)


def network_distances(
    graph: StreetGraph,
    origin_xy,
    targets_x,
    targets_y,
    *,
    direction: Direction = "to_origin",
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> pd.DataFrame:
    """Shortest distance along the streets between an origin (or the nearest of several) and
    many points: :func:`travel_times` measured in metres instead of minutes.

    Returns
    -------
    pandas.DataFrame
        As :func:`travel_times`, with ``distance_m`` (ground metres along the shortest way
        the mode may use; NaN unless ``ok``) in place of ``minutes``.

    Notes
    -----
    The shortest way, not the length of the fastest route. Lengths are osmnx's great-circle
    edge lengths; a part-edge counts pro rata. One Dijkstra run, like :func:`travel_times`.
    """
    return _one_to_many(graph, origin_xy, targets_x, targets_y, direction=direction,
                        max_snap_m=max_snap_m, weight="length", column="distance_m",
                        scale=1.0)


# --------------------------------------------------------------------------------------------
# Reachable areas
# --------------------------------------------------------------------------------------------


def isochrones(
    graph: StreetGraph,
    origin_xy,
    minutes: Sequence[float],
    *,
    direction: Direction = "to_origin",
    buffer_m: float = 50.0,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> gpd.GeoDataFrame:
    """The areas within each number of ``minutes`` of the origin, following the streets.

    Parameters
    ----------
    graph, origin_xy, direction, max_snap_m
        As for :func:`travel_times` (``to_origin``: every place from which the origin can be
        reached within the time).
    minutes
        The limits, e.g. ``[10, 20, 30]``; one shortest-path run serves them all.
    buffer_m
        How far either side of a reachable street counts as reached (homes face streets).

    Returns
    -------
    geopandas.GeoDataFrame
        ``minutes`` and ``geometry`` (Polygon or MultiPolygon, EPSG:27700), one row per limit
        in the order given.

    Notes
    -----
    Each area is the union of the reachable parts of the streets buffered by ``buffer_m``:
    a street reached part of the way is cut at the exact fraction the time allows, so the
    shape follows the network (it is not a convex hull and has holes where streets do not go).
    """
    direction = _check_direction(direction)
    limits = [float(m) for m in minutes]
    if not limits or not all(m >= 0 for m in limits):
        msg = f"minutes must be a list of limits of 0 or more, got {list(minutes)!r}"
        raise InputError(msg)
    if not buffer_m > 0:
        msg = f"buffer_m must be more than 0 metres, got {buffer_m!r}"
        raise InputError(msg)
    sol, _ = _solve(graph, origin_xy, direction=direction, max_snap_m=max_snap_m,
                    limit=max(limits) * 60.0)
    shapes = [_reachable_area(graph, sol, m * 60.0, buffer_m) for m in limits]
    return gpd.GeoDataFrame({"minutes": limits}, geometry=shapes, crs=BNG)


def isochrone(
    graph: StreetGraph,
    origin_xy,
    minutes: float,
    *,
    direction: Direction = "to_origin",
    buffer_m: float = 50.0,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> shapely.Geometry:
    """The area within ``minutes`` of the origin (one limit of :func:`isochrones`)."""
    frame = isochrones(graph, origin_xy, [minutes], direction=direction, buffer_m=buffer_m,
                       max_snap_m=max_snap_m)
    return frame.geometry.iloc[0]


def _reachable_area(graph: StreetGraph, sol: _Solution, limit_s: float, buffer_m: float):
    """Buffered union of the reachable stretches of every street."""
    streets = np.arange(graph.n_streets)
    a, b = graph._street_u, graph._street_v
    p, q = _street_costs(sol.costs, sol.direction, streets)
    left_a = limit_s - sol.cost[a]
    left_b = limit_s - sol.cost[b]
    with np.errstate(invalid="ignore", divide="ignore"):
        # reached from end a: fractions [0, hi_a]; from end b: [lo_b, 1]
        hi_a = np.where(left_a >= 0, np.where(q > 0, left_a / q, np.inf), -1.0)
        lo_b = np.where(left_b >= 0, np.where(p > 0, 1.0 - left_b / p, -np.inf), 2.0)
    hi_a = np.nan_to_num(hi_a, nan=0.0)
    lo_b = np.nan_to_num(lo_b, nan=1.0)
    full = (hi_a >= 1) | (lo_b <= 0) | (hi_a >= lo_b)
    pieces: list[tuple[int, float, float]] = []
    for i in np.flatnonzero(~full & (hi_a > 0)):
        pieces.append((int(i), 0.0, float(hi_a[i])))
    for i in np.flatnonzero(~full & (lo_b < 1)):
        pieces.append((int(i), float(lo_b[i]), 1.0))
    po, qo = _street_costs(sol.costs, sol.direction, sol.origins.street)
    for s, g, ps, qs in zip(sol.origins.street, sol.origins.fraction, po, qo, strict=True):
        with np.errstate(invalid="ignore", divide="ignore"):
            lo = g - (limit_s / ps if ps > 0 else np.inf)
            hi = g + (limit_s / qs if qs > 0 else np.inf)
        pieces.append((int(s), max(0.0, float(lo)), min(1.0, float(hi))))
    lines = list(graph._street_geom[full])
    for s, lo, hi in pieces:
        length = graph._street_len_m[s]
        if (hi - lo) * length > 1e-6:
            lines.append(ops.substring(graph._street_geom[s], lo * length, hi * length))
    starts = shapely.points(sol.origins.snap_x, sol.origins.snap_y)
    return shapely.union_all(shapely.buffer(np.asarray([*lines, *starts], dtype=object),
                                            buffer_m, quad_segs=4))


# --------------------------------------------------------------------------------------------
# Routes and the zones they cross
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One fastest route (EPSG:27700).

    ``geometry`` runs along the streets from where the start meets its street to where the
    end meets its street (the straight snaps are not part of it); ``minutes`` and
    ``length_m`` are its travel time and length.
    """

    geometry: shapely.LineString
    minutes: float
    length_m: float


def _coords_between(geom: shapely.LineString, length: float, f0: float, f1: float) -> np.ndarray:
    """Coordinates along ``geom`` from fraction ``f0`` to ``f1`` (reversed if f1 < f0)."""
    if abs(f1 - f0) * length <= 1e-9:
        return shapely.get_coordinates(shapely.line_interpolate_point(geom, f0, normalized=True))
    return shapely.get_coordinates(ops.substring(geom, f0 * length, f1 * length))


def _edge_coords(graph: StreetGraph, u: int, v: int) -> np.ndarray:
    """Coordinates of the fastest edge from node ``u`` to node ``v``, in travel order."""
    csr = graph._costs["time"].csr
    row = slice(csr.indptr[u], csr.indptr[u + 1])
    entry = row.start + int(np.flatnonzero(csr.indices[row] == v)[0])
    edge = graph._costs["time"].chosen[entry]
    coords = shapely.get_coordinates(graph._street_geom[graph._edge_street[edge]])
    return coords if graph._edge_forward[edge] else coords[::-1]


def _entry_fraction(graph: StreetGraph, sol: _Solution, origin: int, entry: int) -> float:
    """0.0 if the route joins the origin's street at its start node, 1.0 at its end node."""
    s = sol.origins.street[origin : origin + 1]
    if graph._street_u[s[0]] != graph._street_v[s[0]]:
        return 0.0 if entry == graph._street_u[s[0]] else 1.0
    # a loop: both ends are the same node, so take the cheaper way round (as _solve did)
    g = sol.origins.fraction[origin : origin + 1]
    p, q = _street_costs(sol.costs, sol.direction, s)
    return 0.0 if _partial(g, p)[0] <= _partial(1.0 - g, q)[0] else 1.0


def _route_geometry(graph: StreetGraph, sol: _Solution, targets: _Snapped, i: int,
                    how: int, origin: int) -> shapely.LineString:
    """Rebuild the route of target ``i`` from the shortest-path tree's predecessors.

    Parts are built in the ``to_origin`` order (target, nodes, origin) and reversed as a
    whole for ``from_origin``.
    """
    s, f = int(targets.street[i]), float(targets.fraction[i])
    s_o, g = int(sol.origins.street[origin]), float(sol.origins.fraction[origin])
    geom, length = graph._street_geom[s], graph._street_len_m[s]
    geom_o, length_o = graph._street_geom[s_o], graph._street_len_m[s_o]
    to_origin = sol.direction == "to_origin"
    if how == 2:  # on the origin's own street
        parts = [_coords_between(geom, length, f, g)]
    else:
        end = int(graph._street_u[s] if how == 0 else graph._street_v[s])
        chain = [end]  # follows the tree toward the origin's virtual node
        while 0 <= sol.predecessors[chain[-1]] < graph.n_nodes:
            chain.append(int(sol.predecessors[chain[-1]]))
        nodes = chain if to_origin else chain[::-1]
        edges = [_edge_coords(graph, u, v) for u, v in itertools.pairwise(nodes)]
        if not to_origin:
            edges = [c[::-1] for c in edges[::-1]]
        entry_f = _entry_fraction(graph, sol, origin, chain[-1])
        parts = [_coords_between(geom, length, f, 0.0 if how == 0 else 1.0), *edges,
                 _coords_between(geom_o, length_o, entry_f, g)]
    coords = np.concatenate(parts)
    return _linestring(coords if to_origin else coords[::-1])


def _linestring(coords: np.ndarray) -> shapely.LineString:
    keep = np.ones(len(coords), bool)
    keep[1:] = np.any(np.diff(coords, axis=0) != 0, axis=1)
    coords = coords[keep]
    if len(coords) == 1:
        coords = np.vstack([coords, coords])
    return shapely.LineString(coords)


def route(
    graph: StreetGraph,
    from_xy,
    to_xy,
    *,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> Route:
    """The fastest route from one point to another.

    Raises
    ------
    InputError
        Either point is further than ``max_snap_m`` from a street, or no route exists (e.g.
        one-way streets at the edge of the extract).
    """
    sol, _ = _solve(graph, to_xy, direction="to_origin", max_snap_m=max_snap_m)
    start = _snap(graph, [from_xy[0]], [from_xy[1]], max_snap_m=max_snap_m)
    if not start.ok[0]:
        msg = (f"the start is {start.snap_m[0]:,.0f} m from the nearest street in "
               f"{graph.source} (the limit is {max_snap_m:,.0f} m)")
        raise InputError(msg)
    seconds, origin, how = _target_costs(graph, sol, start)
    if not np.isfinite(seconds[0]):
        msg = f"no {graph.mode} route between these points in {graph.source}"
        raise InputError(msg)
    line = _route_geometry(graph, sol, start, 0, int(how[0]), int(origin[0]))
    return Route(line, float(seconds[0] / 60.0), float(line.length))


def route_crossings(route_line: shapely.Geometry, zones: gpd.GeoDataFrame) -> pd.DataFrame:
    """How far a route runs through each zone it crosses.

    Parameters
    ----------
    route_line
        A route (EPSG:27700), e.g. :attr:`Route.geometry`.
    zones
        Polygons with a ``zone_id`` column (and ``kind``, ``reason`` if present), any CRS.

    Returns
    -------
    pandas.DataFrame
        ``zone_id``, ``kind``, ``reason``, ``crossing_m`` (metres of the route inside the
        zone, its boundary included), longest first; only zones the route enters.
    """
    columns = ["zone_id", "kind", "reason", "crossing_m"]
    if "zone_id" not in zones.columns:
        msg = f"zones need a 'zone_id' column, got {list(zones.columns)}"
        raise InputError(msg)
    if zones.empty or route_line is None or route_line.is_empty:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "crossing_m" else "str")
                             for c in columns})
    zones = to_bng(zones) if zones.crs is not None else zones
    hits = zones.sindex.query(route_line, predicate="intersects")
    hit = zones.iloc[np.sort(hits)]
    lengths = shapely.length(shapely.intersection(route_line, hit.geometry.to_numpy()))
    out = pd.DataFrame({
        "zone_id": hit["zone_id"].astype("str").to_numpy(),
        "kind": (hit["kind"] if "kind" in hit else pd.Series("", index=hit.index))
        .astype("str").to_numpy(),
        "reason": (hit["reason"] if "reason" in hit else pd.Series("", index=hit.index))
        .astype("str").to_numpy(),
        "crossing_m": lengths,
    })
    out = out[out["crossing_m"] > 0]
    return out.sort_values("crossing_m", ascending=False, kind="stable").reset_index(drop=True)


def check_routes(
    graph: StreetGraph,
    school_xy,
    candidates: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame | None,
    *,
    top_n: int = 10,
    id_column: str = "candidate_id",
    direction: Direction = "to_origin",
    zone_kinds: Sequence[str] = ("exclusion", "no_go"),
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> gpd.GeoDataFrame:
    """The fastest school route of each top candidate, and the zones it runs through.

    Parameters
    ----------
    graph
        The prepared street graph.
    school_xy
        The school, ``(x, y)`` in EPSG:27700.
    candidates
        Candidate points, best first; the first ``top_n`` rows are checked (taken to be in
        EPSG:27700 when the frame has no CRS).
    zones
        The case's zones (``zone_id``, ``kind``, ``reason``); only kinds in ``zone_kinds``
        count. Filter by ``applies_to`` before calling when a route is one person's.
    direction
        ``"to_origin"`` (default): home to school; ``"from_origin"``: school to home.

    Returns
    -------
    geopandas.GeoDataFrame
        Per candidate (EPSG:27700): ``id_column``, ``status`` (as :func:`travel_times`),
        ``minutes``, ``length_m``, ``crossing_m`` (metres inside the zones, summed),
        ``zone_ids`` and ``zone_reasons`` (``; ``-joined, longest crossing first),
        ``crosses_zone`` (bool: the flag a policy may treat as a hard limit) and ``geometry``
        (the route; None without one).

    Notes
    -----
    One shortest-path run with predecessors serves every candidate.
    """
    direction = _check_direction(direction)
    top = (candidates if candidates.crs is None else to_bng(candidates)).head(int(top_n))
    if id_column not in top.columns:
        msg = f"candidates need a {id_column!r} column, got {list(candidates.columns)}"
        raise InputError(msg)
    if zones is not None and not zones.empty:
        if "kind" in zones.columns:
            zones = zones[zones["kind"].isin(list(zone_kinds))]
    else:
        zones = None
    sol, _ = _solve(graph, school_xy, direction=direction, max_snap_m=max_snap_m)
    targets = _snap(graph, top.geometry.x.to_numpy(), top.geometry.y.to_numpy(),
                    max_snap_m=max_snap_m)
    seconds, origin, how = _target_costs(graph, sol, targets)
    rows = []
    for i in range(len(top)):
        row = {id_column: top[id_column].iloc[i], "status": targets.status[i],
               "minutes": np.nan, "length_m": np.nan, "crossing_m": 0.0, "zone_ids": "",
               "zone_reasons": "", "crosses_zone": False, "geometry": None}
        if targets.ok[i] and not np.isfinite(seconds[i]):
            row["status"] = "unreachable"
        if row["status"] == "ok":
            line = _route_geometry(graph, sol, targets, i, int(how[i]), int(origin[i]))
            row.update(minutes=float(seconds[i] / 60.0), length_m=float(line.length),
                       geometry=line)
            if zones is not None:
                crossed = route_crossings(line, zones)
                row.update(crossing_m=float(crossed["crossing_m"].sum()),
                           zone_ids="; ".join(crossed["zone_id"]),
                           zone_reasons="; ".join(crossed["reason"]),
                           crosses_zone=bool(len(crossed)))
        rows.append(row)
    columns = [id_column, "status", "minutes", "length_m", "crossing_m", "zone_ids",
               "zone_reasons", "crosses_zone", "geometry"]
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=columns), geometry="geometry", crs=BNG)


# --------------------------------------------------------------------------------------------
# The ranking's router
# --------------------------------------------------------------------------------------------


class NetworkTravel:
    """School runs and support distances on a street graph, for :func:`geo.rank.assess`.

    Parameters
    ----------
    graph
        The prepared street graph; its mode says who travels (car or on foot).
    max_snap_m
        Points further than this from every street get no network value (and the ranking
        falls back to its labelled straight-line estimate).
    """

    def __init__(self, graph: StreetGraph, *, max_snap_m: float = DEFAULT_MAX_SNAP_M):
        self.graph = graph
        self.mode = graph.mode
        self.max_snap_m = max_snap_m

    def minutes_to(self, x, y, dest_x: float, dest_y: float) -> tuple[np.ndarray, np.ndarray]:
        """Minutes from each point to the destination (the morning school run) and why not."""
        try:
            out = travel_times(self.graph, (dest_x, dest_y), x, y, direction="to_origin",
                               max_snap_m=self.max_snap_m)
        except InputError:  # the school itself is off this graph: nobody gets a time
            n = len(np.asarray(x))
            return np.full(n, np.nan), np.full(n, "too_far_from_street", dtype=object)
        return out["minutes"].to_numpy(float), out["status"].to_numpy(object)

    def distance_to_nearest(self, x, y, dests_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Street distance (metres) from each point to the nearest destination, and why not."""
        try:
            out = network_distances(self.graph, np.asarray(dests_xy, float), x, y,
                                    direction="to_origin", max_snap_m=self.max_snap_m)
        except InputError:
            n = len(np.asarray(x))
            return np.full(n, np.nan), np.full(n, "too_far_from_street", dtype=object)
        return out["distance_m"].to_numpy(float), out["status"].to_numpy(object)


def policy_speeds(policy) -> dict[str, float]:
    """The policy's speeds for its mode: ``network.drive_speed_kph`` by highway type when
    driving, ``network.walk_speed_kph`` on every way a walker uses."""
    net = policy.table("network")
    if net["mode"] == "drive":
        return dict(net["drive_speed_kph"])
    return dict.fromkeys(MODE_RULES["walk"].highways, float(net["walk_speed_kph"]))


def router_from_file(path: str | os.PathLike[str], *, policy, settings: Settings,
                     progress: Progress | None = None) -> NetworkTravel:
    """Load (or reuse from the cache) the street graph in ``path`` for the policy's mode."""
    net = policy.table("network")
    mode = net["mode"]
    graph = load_graph(path, mode=mode, speeds_kph=policy_speeds(policy),
                       cache_dir=Path(settings.data_dir) / "graphs", progress=progress)
    return NetworkTravel(graph, max_snap_m=float(net["max_snap_m"]))

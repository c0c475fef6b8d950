"""Exact distances between many points and many sources, fast (private helpers).

The engine needs, for every candidate, its distance to every threat source within a radius
(for the threat kernel and the exclusions) and to the nearest one. Asking GEOS pair by pair
costs microseconds a pair and hundreds of thousands of pairs are normal, so the work is done
in blocks. Point sources: a grid of cells as wide as the radius, each cell of points compared
with the sources of its 3 x 3 neighbourhood in one dense numpy block (a loop over occupied
cells, never over points). Polygon sources: one GEOS call per prepared polygon on the points
of its widened bounding box (a loop over polygons, never over points); inside is 0.

Notes
-----
Coordinates are metres in EPSG:27700. Distances are exact Euclidean point-to-geometry
distances (the same as ``shapely.distance`` to floating-point rounding), not approximations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely


@dataclass(frozen=True)
class Pairs:
    """Point/source pairs within a radius: ``point[k]`` is ``dist_m[k]`` from ``source[k]``."""

    point: np.ndarray
    source: np.ndarray
    dist_m: np.ndarray

    def __len__(self) -> int:
        return len(self.point)

    def where(self, mask: np.ndarray) -> Pairs:
        return Pairs(self.point[mask], self.source[mask], self.dist_m[mask])

    @classmethod
    def empty(cls) -> Pairs:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, float))


def _cells(x: np.ndarray, y: np.ndarray, origin: tuple[float, float], size: float):
    return (
        np.floor((x - origin[0]) / size).astype(np.int64),
        np.floor((y - origin[1]) / size).astype(np.int64),
    )


def _blocks(px, py, qx, qy, size: float):
    """For each occupied cell of points P: the P indices and the Q indices in its 3 x 3 block.

    Yields ``(p_idx, q_idx)`` arrays; Q are "items" located by a representative point.
    """
    if len(px) == 0 or len(qx) == 0:
        return
    origin = (min(px.min(), qx.min()) - size, min(py.min(), qy.min()) - size)
    pi, pj = _cells(px, py, origin, size)
    qi, qj = _cells(qx, qy, origin, size)
    span = int(max(pj.max(), qj.max())) + 3
    pkey = pi * span + pj
    qkey = qi * span + qj
    porder = np.argsort(pkey, kind="stable")
    qorder = np.argsort(qkey, kind="stable")
    pkey_sorted = pkey[porder]
    qkey_sorted = qkey[qorder]
    cells, starts = np.unique(pkey_sorted, return_index=True)
    ends = np.append(starts[1:], len(porder))
    offsets = np.array([di * span + dj for di in (-1, 0, 1) for dj in (-1, 0, 1)])
    neighbours = cells[:, None] + offsets[None, :]
    lo = np.searchsorted(qkey_sorted, neighbours, side="left")
    hi = np.searchsorted(qkey_sorted, neighbours, side="right")
    for c in range(len(cells)):
        ranges = [(a, b) for a, b in zip(lo[c], hi[c], strict=True) if b > a]
        if not ranges:
            continue
        q_idx = (
            qorder[ranges[0][0]:ranges[0][1]]
            if len(ranges) == 1
            else np.concatenate([qorder[a:b] for a, b in ranges])
        )
        yield porder[starts[c]:ends[c]], q_idx


def point_pairs(px, py, sx, sy, radius_m: float) -> Pairs:
    """All (point, source point) pairs no further apart than ``radius_m``."""
    px, py, sx, sy = (np.asarray(a, float) for a in (px, py, sx, sy))
    out_p, out_s, out_d = [], [], []
    r2 = radius_m * radius_m
    for p_idx, s_idx in _blocks(px, py, sx, sy, max(radius_m, 1.0)):
        dx = px[p_idx][:, None] - sx[s_idx][None, :]
        dy = py[p_idx][:, None] - sy[s_idx][None, :]
        d2 = dx * dx + dy * dy
        rows, cols = np.nonzero(d2 <= r2)
        if len(rows):
            out_p.append(p_idx[rows])
            out_s.append(s_idx[cols])
            out_d.append(np.sqrt(d2[rows, cols]))
    if not out_p:
        return Pairs.empty()
    return Pairs(np.concatenate(out_p), np.concatenate(out_s), np.concatenate(out_d))


def polygon_pairs(px, py, polygons: np.ndarray, radius_m: float, *,
                  points: np.ndarray | None = None) -> Pairs:
    """All (point, polygon) pairs with the point no further than ``radius_m`` from the polygon.

    The distance is 0 for a point inside (or on) the polygon. Points are swept by x so each
    polygon sees only the points in its bounding box widened by the radius; distances come
    from GEOS on the prepared polygon (an indexed facet distance, microseconds for thousands
    of points), one call per polygon. ``points`` may pass the points as shapely geometries
    already made (the same as ``shapely.points(px, py)``).
    """
    px = np.asarray(px, float)
    py = np.asarray(py, float)
    polygons = np.asarray(polygons, dtype=object)
    if len(px) == 0 or len(polygons) == 0:
        return Pairs.empty()
    if points is None:
        points = shapely.points(px, py)
    order = np.argsort(px, kind="stable")
    xs = px[order]
    ys = py[order]
    bounds = shapely.bounds(polygons)
    # a circle around each polygon, to drop the corners of its widened bounding box
    centre = shapely.get_coordinates(shapely.centroid(polygons))
    corners = np.stack([bounds[:, [0, 1]], bounds[:, [0, 3]], bounds[:, [2, 1]],
                        bounds[:, [2, 3]]], axis=1)
    circle = np.hypot(*(corners - centre[:, None, :]).transpose(2, 0, 1)).max(axis=1)
    out_p, out_s, out_d = [], [], []
    for j, geom in enumerate(polygons):
        if geom is None or shapely.is_empty(geom):
            continue
        lo = np.searchsorted(xs, bounds[j, 0] - radius_m, side="left")
        hi = np.searchsorted(xs, bounds[j, 2] + radius_m, side="right")
        band_x = xs[lo:hi]
        band = ys[lo:hi]
        hit = (band >= bounds[j, 1] - radius_m) & (band <= bounds[j, 3] + radius_m)
        reach = radius_m + circle[j]
        hit &= (band_x - centre[j, 0]) ** 2 + (band - centre[j, 1]) ** 2 <= reach * reach
        idx = order[lo:hi][hit]
        if len(idx) == 0:
            continue
        prepared = _prepared(geom)
        d = shapely.distance(prepared, points[idx])
        near = d <= radius_m
        out_p.append(idx[near])
        out_s.append(np.full(int(near.sum()), j, dtype=np.int64))
        out_d.append(d[near])
    if not out_p:
        return Pairs.empty()
    return Pairs(np.concatenate(out_p), np.concatenate(out_s), np.concatenate(out_d))


def _prepared(geom):
    """A prepared copy of ``geom`` (the caller's geometry is left as it was)."""
    copy = shapely.from_wkb(shapely.to_wkb(geom))
    shapely.prepare(copy)
    return copy


def min_per_pair(pairs: Pairs, n_sources: int) -> Pairs:
    """Keep one row per (point, source): the smallest distance."""
    if len(pairs) == 0:
        return pairs
    key = pairs.point * np.int64(n_sources) + pairs.source
    order = np.lexsort((pairs.dist_m, key))
    key_sorted = key[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = key_sorted[1:] != key_sorted[:-1]
    keep = order[first]
    return Pairs(pairs.point[keep], pairs.source[keep], pairs.dist_m[keep])


def geometry_pairs(px, py, geoms: np.ndarray, radius_m: float, *,
                   points: np.ndarray | None = None) -> Pairs:
    """Pairs for any mix of point and polygon sources (points measured directly)."""
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return Pairs.empty()
    is_point = shapely.get_type_id(geoms) == 0
    parts = []
    if is_point.any():
        idx = np.flatnonzero(is_point)
        xy = shapely.get_coordinates(geoms[idx])
        found = point_pairs(px, py, xy[:, 0], xy[:, 1], radius_m)
        parts.append(Pairs(found.point, idx[found.source], found.dist_m))
    if (~is_point).any():
        idx = np.flatnonzero(~is_point)
        found = polygon_pairs(px, py, geoms[idx], radius_m, points=points)
        parts.append(Pairs(found.point, idx[found.source], found.dist_m))
    if len(parts) == 1:
        return parts[0]
    return Pairs(*(np.concatenate([getattr(p, f) for p in parts])
                   for f in ("point", "source", "dist_m")))


@dataclass(frozen=True)
class Segments:
    """Boundary segments of polygons, each tagged with the index of its polygon."""

    x1: np.ndarray
    y1: np.ndarray
    x2: np.ndarray
    y2: np.ndarray
    owner: np.ndarray

    @classmethod
    def of(cls, polygons: np.ndarray, *, max_length_m: float) -> Segments:
        """Segments no longer than ``max_length_m`` along every ring of every polygon."""
        rings = shapely.segmentize(shapely.boundary(np.asarray(polygons, dtype=object)),
                                   max_length_m)
        parts, part_owner = shapely.get_parts(rings, return_index=True)
        coords, part = shapely.get_coordinates(parts, return_index=True)
        start = np.flatnonzero(part[1:] == part[:-1])
        return cls(coords[start, 0], coords[start, 1], coords[start + 1, 0],
                   coords[start + 1, 1], part_owner[part[start]].astype(np.int64))

    def distance(self, px: np.ndarray, py: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Distance from point ``i`` to segment ``idx[i, j]``, for every ``i, j``."""
        x1, y1 = self.x1[idx], self.y1[idx]
        vx, vy = self.x2[idx] - x1, self.y2[idx] - y1
        length2 = vx * vx + vy * vy
        wx, wy = px[:, None] - x1, py[:, None] - y1
        t = np.clip((wx * vx + wy * vy) / np.where(length2 == 0, 1.0, length2), 0.0, 1.0)
        dx, dy = wx - t * vx, wy - t * vy
        return np.sqrt(dx * dx + dy * dy)


def nearest(px, py, geoms: np.ndarray, *, spacing_m: float = 100.0, k: int = 8
            ) -> tuple[np.ndarray, np.ndarray]:
    """Index of and exact distance to the nearest geometry for each point (-1, inf if none).

    Points are found with a k-d tree. For polygons, the boundary is cut into segments no
    longer than ``spacing_m`` and the ``k`` segments whose midpoints are nearest are measured
    exactly; that is provably the nearest whenever it is no farther than the k-th midpoint
    less half a segment (any other segment is at least that far). The few points where the
    proof fails, and points inside a polygon (distance 0), are settled by GEOS.
    """
    from scipy.spatial import cKDTree

    px = np.asarray(px, float)
    py = np.asarray(py, float)
    geoms = np.asarray(geoms, dtype=object)
    n = len(px)
    best = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.inf)
    if n == 0 or len(geoms) == 0:
        return best, dist
    xy = np.column_stack([px, py])
    is_point = shapely.get_type_id(geoms) == 0
    if is_point.any():
        idx = np.flatnonzero(is_point)
        d, j = cKDTree(shapely.get_coordinates(geoms[idx])).query(xy)
        best, dist = idx[j], d
    if (~is_point).any():
        idx = np.flatnonzero(~is_point)
        polys = geoms[idx]
        seg = Segments.of(polys, max_length_m=spacing_m)
        kk = min(k, len(seg.x1))
        mid = np.column_stack([(seg.x1 + seg.x2) / 2, (seg.y1 + seg.y2) / 2])
        dm, jm = cKDTree(mid).query(xy, k=kk)
        dm, jm = dm.reshape(n, kk), jm.reshape(n, kk)
        exact = seg.distance(px, py, jm)
        col = np.argmin(exact, axis=1)
        rows = np.arange(n)
        d_poly = exact[rows, col]
        owner = seg.owner[jm[rows, col]]
        half = np.hypot(seg.x2 - seg.x1, seg.y2 - seg.y1).max() / 2
        proven = (d_poly <= dm[:, -1] - half) | (kk == len(seg.x1))
        tree = shapely.STRtree(polys)
        points = shapely.points(px, py)
        inside = tree.query(points, predicate="intersects")
        d_poly[inside[0]] = 0.0
        owner[inside[0]] = inside[1]
        proven[inside[0]] = True
        unsure = np.flatnonzero(~proven)
        if len(unsure):
            j, d = tree.query_nearest(points[unsure], return_distance=True, all_matches=False)
            d_poly[unsure[j[0]]] = d
            owner[unsure[j[0]]] = j[1]
        closer = d_poly < dist
        best[closer] = idx[owner[closer]]
        dist[closer] = d_poly[closer]
    return best, dist

"""Exact distances between many points and many sources, fast (private helpers).

The engine needs, for every candidate, its distance to every threat source within a radius
(for the threat kernel and the exclusions) and to the nearest one. Asking GEOS pair by pair
costs microseconds a pair and hundreds of thousands of pairs are normal, so the work is done
in blocks. Point sources: a grid of cells as wide as the radius, each point compared with the
sources of the 3 x 3 cells around its own, all points at once in cache-sized blocks (a loop
over blocks, never over points). Polygon sources: one GEOS call per polygon on the points of
its widened bounding box (a loop over polygons, never over points); inside is 0.

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


def distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct integer keys (sorted) and each row's position among them, as
    ``np.unique(keys, return_inverse=True)``, without sorting when they span a short range."""
    keys = np.asarray(keys, dtype=np.int64)
    if len(keys) == 0:
        return keys, np.empty(0, dtype=np.int64)
    lo, hi = int(keys.min()), int(keys.max())
    if hi - lo > max(4 * len(keys), 4096):
        return np.unique(keys, return_inverse=True)
    present = np.bincount(keys - lo, minlength=hi - lo + 1) > 0
    position = np.cumsum(present) - 1
    return np.flatnonzero(present) + lo, position[keys - lo]


def point_pairs(px, py, sx, sy, radius_m: float, *, block: int = 1 << 16) -> Pairs:
    """All (point, source point) pairs no further apart than ``radius_m``.

    Each point is compared with the sources in the 3 x 3 cells (as wide as the radius) around
    its own: in that order of cells, and by source number within a cell. The comparisons are
    made ``block`` at a time (so the arrays stay in the processor's cache), for all points
    at once: a loop over blocks, not over points or cells. Pairs come by point.
    """
    px, py, sx, sy = (np.asarray(a, float) for a in (px, py, sx, sy))
    if len(px) == 0 or len(sx) == 0:
        return Pairs.empty()
    size = max(radius_m, 1.0)
    origin = (min(px.min(), sx.min()) - size, min(py.min(), sy.min()) - size)
    pi, pj = _cells(px, py, origin, size)
    qi, qj = _cells(sx, sy, origin, size)
    span = int(max(pj.max(), qj.max())) + 3
    qorder = np.argsort(qi * span + qj, kind="stable")
    qkey = (qi * span + qj)[qorder]
    cells, cell_of = distinct(pi * span + pj)
    around = (cells[:, None] + np.array([di * span + dj for di in (-1, 0, 1)
                                         for dj in (-1, 0, 1)])[None, :]).ravel()
    lo = np.searchsorted(qkey, around, side="left")
    count = np.searchsorted(qkey, around, side="right") - lo
    # the sources around each occupied cell, one cell's list after the other
    ends = np.cumsum(count)
    near = qorder[np.repeat(lo - (ends - count), count) + np.arange(ends[-1])]
    per_cell = count.reshape(-1, 9).sum(axis=1)
    cell_start = np.cumsum(per_cell) - per_cell
    k = per_cell[cell_of]
    todo = np.flatnonzero(k)
    if not len(todo):
        return Pairs.empty()
    r2 = radius_m * radius_m
    out_p, out_s, out_d = [], [], []
    cuts = np.searchsorted(np.cumsum(k[todo]), np.arange(block, int(k.sum()), block))
    for part in np.split(todo, cuts):
        if not len(part):
            continue
        kp = k[part]
        first = np.cumsum(kp) - kp
        s = near[np.arange(int(kp.sum())) - np.repeat(first - cell_start[cell_of[part]], kp)]
        p = np.repeat(part, kp)
        dx = px[p] - sx[s]
        dy = py[p] - sy[s]
        d2 = dx * dx + dy * dy
        keep = np.flatnonzero(d2 <= r2)
        out_p.append(p[keep])
        out_s.append(s[keep])
        out_d.append(np.sqrt(d2[keep]))
    return Pairs(np.concatenate(out_p), np.concatenate(out_s), np.concatenate(out_d))


def polygon_pairs(px, py, polygons: np.ndarray, radius_m, *,
                  points: np.ndarray | None = None) -> Pairs:
    """All (point, polygon) pairs with the point no further than ``radius_m`` from the polygon
    (one radius for all, or one per polygon).

    The distance is 0 for a point inside (or on) the polygon. Points are swept by x so each
    polygon sees only the points in its bounding box widened by the radius; distances come
    from GEOS (a point-in-polygon test, then the nearest of the polygon's segments), one call
    per polygon. Pairs come by polygon. ``points`` may pass the points as shapely geometries
    already made (the same as ``shapely.points(px, py)``).
    """
    px = np.asarray(px, float)
    py = np.asarray(py, float)
    polygons = np.asarray(polygons, dtype=object)
    if len(px) == 0 or len(polygons) == 0:
        return Pairs.empty()
    radii = np.broadcast_to(np.asarray(radius_m, float), (len(polygons),))
    if points is None:
        points = shapely.points(px, py)
    order = np.argsort(px)
    xs = px[order]
    ys = py[order]
    bounds = shapely.bounds(polygons)
    # a circle around each polygon (its centroid to its farthest vertex), to drop the
    # corners of its widened bounding box; both tests with a hair to spare for rounding
    centre = shapely.get_coordinates(shapely.centroid(polygons))
    xy, owner = shapely.get_coordinates(polygons, return_index=True)
    circle = np.zeros(len(polygons))
    np.maximum.at(circle, owner, np.hypot(xy[:, 0] - centre[owner, 0],
                                          xy[:, 1] - centre[owner, 1]))
    out_p, out_s, out_d = [], [], []
    for j, geom in enumerate(polygons):
        if geom is None or shapely.is_empty(geom):
            continue
        radius_m = radii[j]
        lo = np.searchsorted(xs, bounds[j, 0] - radius_m, side="left")
        hi = np.searchsorted(xs, bounds[j, 2] + radius_m, side="right")
        band_x = xs[lo:hi]
        band = ys[lo:hi]
        dx = np.maximum(np.maximum(bounds[j, 0] - band_x, band_x - bounds[j, 2]), 0.0)
        dy = np.maximum(np.maximum(bounds[j, 1] - band, band - bounds[j, 3]), 0.0)
        hit = dx * dx + dy * dy <= radius_m * radius_m * (1 + 1e-9) + 1e-6
        reach = (radius_m + circle[j]) * (1 + 1e-9) + 1e-3
        hit &= (band_x - centre[j, 0]) ** 2 + (band - centre[j, 1]) ** 2 <= reach * reach
        idx = order[lo:hi][hit]
        if len(idx) == 0:
            continue
        d = shapely.distance(geom, points[idx])  # unprepared: faster for a point at a time
        near = d <= radius_m
        out_p.append(idx[near])
        out_s.append(np.full(int(near.sum()), j, dtype=np.int64))
        out_d.append(d[near])
    if not out_p:
        return Pairs.empty()
    return Pairs(np.concatenate(out_p), np.concatenate(out_s), np.concatenate(out_d))


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


def nearest(px, py, geoms: np.ndarray, *, spacing_m: float = 100.0, k: int = 8,
            nearer_than: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index of and exact distance to the nearest geometry for each point (-1, inf if none).

    Points are found with a k-d tree. For polygons, the boundary is cut into segments no
    longer than ``spacing_m`` and the ``k`` segments whose midpoints are nearest are measured
    exactly; that is provably the nearest whenever it is no farther than the k-th midpoint
    less half a segment (any other segment is at least that far). The few points where the
    proof fails, and points inside a polygon (distance 0), are settled by GEOS.

    ``nearer_than`` (one distance per point) says that only polygons strictly nearer matter:
    a point with no segment midpoint within that distance plus half a segment has none (nor
    is it inside one: a point inside a polygon is no farther from its boundary than half the
    shorter side of its bounding box), and is answered -1, inf without measuring.
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
        j, dist = nearest_point(xy, shapely.get_coordinates(geoms[idx]))
        best = idx[j]
    if (~is_point).any():
        idx = np.flatnonzero(~is_point)
        polys = geoms[idx]
        seg = Segments.of(polys, max_length_m=spacing_m)
        mid = np.column_stack([(seg.x1 + seg.x2) / 2, (seg.y1 + seg.y2) / 2])
        half = np.hypot(seg.x2 - seg.x1, seg.y2 - seg.y1).max() / 2
        mids = cKDTree(mid)
        rows = np.arange(n)
        if nearer_than is not None:
            # a segment nearer than D has its midpoint within D + half (1 m for rounding)
            bound = np.asarray(nearer_than, float)
            ok = np.isfinite(bound)
            box = shapely.bounds(polys)
            inner = np.nanmax(np.minimum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])) / 2
            reach = np.maximum(np.where(ok, bound, 0.0), inner) + half + 1.0
            maybe = ~ok | (mids.query_ball_point(xy, reach, return_length=True) > 0)
            rows = rows[maybe]
        d_poly, owner = _nearest_polygon(px[rows], py[rows], polys, seg, mids, half, k)
        closer = d_poly < dist[rows]
        best[rows[closer]] = idx[owner[closer]]
        dist[rows[closer]] = d_poly[closer]
    return best, dist


def nearest_point(xy: np.ndarray, sxy: np.ndarray, *, few: int = 8
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to the nearest of the points ``sxy``, as a k-d tree answers;
    for a few points, measured directly (the same numbers, without building the tree)."""
    from scipy.spatial import cKDTree

    if len(sxy) > few:
        d, j = cKDTree(sxy).query(xy)
        return j, d
    dx = xy[:, 0, None] - sxy[None, :, 0]
    dy = xy[:, 1, None] - sxy[None, :, 1]
    d = np.sqrt(dx * dx + dy * dy)
    j = np.argmin(d, axis=1)
    rows = np.arange(len(xy))
    best = d[rows, j]
    tied = np.flatnonzero((d == best[:, None]).sum(axis=1) > 1)
    if len(tied):  # equally near: whichever the tree would give
        j[tied] = cKDTree(sxy).query(xy[tied])[1]
    return j, best


def _nearest_polygon(px, py, polys, seg: Segments, mids, half: float, k: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Exact distance to and index of the nearest of ``polys`` (see :func:`nearest`)."""
    n = len(px)
    if n == 0:
        return np.empty(0), np.empty(0, dtype=np.int64)
    kk = min(k, len(seg.x1))
    dm, jm = mids.query(np.column_stack([px, py]), k=kk)
    dm, jm = dm.reshape(n, kk), jm.reshape(n, kk)
    exact = seg.distance(px, py, jm)
    col = np.argmin(exact, axis=1)
    rows = np.arange(n)
    d_poly = exact[rows, col]
    owner = seg.owner[jm[rows, col]]
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
    return d_poly, owner

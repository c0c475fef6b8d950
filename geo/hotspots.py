"""Activity hot spots derived from incident points with DBSCAN, per group.

Incidents attributed to a group are clustered in metres (EPSG:27700) with scikit-learn's
DBSCAN (``hotspots.eps_m``, ``hotspots.min_incidents``); incidents older than
``hotspots.max_age_days`` and unattributed ones are left out. Noise points are not areas. Each
cluster becomes a readable polygon: the concave hull of its incidents, buffered by
``hotspots.buffer_m`` so that even two or three incidents make a shape, with its incident
count, time span and a confidence from the count and the incidents' own confidence.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sklearn.cluster import DBSCAN

from geo.crs import BNG
from geo.settings import Policy

HOTSPOT_COLUMNS = ["area_id", "group_id", "kind", "confidence", "source", "observed_from",
                   "observed_to", "incident_count", "incident_ids"]
_CONFIDENCE_SCORE = {"low": 1, "medium": 2, "high": 3}


def _empty() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in HOTSPOT_COLUMNS},
                            geometry=gpd.GeoSeries([], crs=BNG), crs=BNG)


def _confidence(count: int, mean_score: float, min_incidents: int) -> str:
    """``high`` for a cluster at least twice the minimum of mostly medium or high incidents,
    ``low`` for a minimal cluster of mostly low-confidence ones, else ``medium``."""
    if count >= 2 * min_incidents and mean_score >= 2.0:
        return "high"
    if count <= min_incidents and mean_score < 2.0:
        return "low"
    return "medium"


def find_hotspots(
    incidents: gpd.GeoDataFrame,
    policy: Policy,
    *,
    as_of: dt.datetime | None = None,
) -> gpd.GeoDataFrame:
    """Hot spots per group, as rows for the ``activity_areas`` layer (kind ``derived_hotspot``).

    Returns
    -------
    GeoDataFrame in EPSG:27700 with ``area_id`` (``HS-<group>-<n>``, numbered west to east),
    ``group_id, kind, confidence, source, observed_from, observed_to, incident_count,
    incident_ids`` and the polygon. Empty when no group has a cluster.
    """
    p = policy.table("hotspots")
    as_of = as_of or dt.datetime.now()
    if not len(incidents):
        return _empty()
    when = pd.to_datetime(incidents["occurred_at"], format="ISO8601")
    recent = (pd.Timestamp(as_of) - when).dt.days <= p["max_age_days"]
    usable = incidents[recent.to_numpy() & incidents["group_id"].notna().to_numpy()]
    rows = []
    for group_id, members in usable.groupby("group_id", sort=True):
        xy = np.column_stack([members.geometry.x, members.geometry.y])
        labels = DBSCAN(eps=p["eps_m"], min_samples=int(p["min_incidents"])).fit_predict(xy)
        clusters = []
        for label in sorted(set(labels) - {-1}):
            part = members[labels == label]
            pts = shapely.multipoints(np.asarray(part.geometry.values, dtype=object))
            hull = shapely.concave_hull(pts, ratio=p["concave_ratio"])
            shape = shapely.simplify(shapely.buffer(hull, p["buffer_m"], quad_segs=8), 10.0)
            stamps = pd.to_datetime(part["occurred_at"], format="ISO8601")
            conf = part["confidence"].map(_CONFIDENCE_SCORE).fillna(2).mean()
            clusters.append({
                "group_id": str(group_id),
                "kind": "derived_hotspot",
                "confidence": _confidence(len(part), float(conf), int(p["min_incidents"])),
                "source": (f"DBSCAN of {len(part)} incidents (eps {p['eps_m']:g} m, "
                           f"min {int(p['min_incidents'])})"),
                "observed_from": stamps.min().strftime("%Y-%m-%d"),
                "observed_to": stamps.max().strftime("%Y-%m-%d"),
                "incident_count": len(part),
                "incident_ids": ",".join(sorted(part["incident_id"].astype(str))),
                "geometry": shape,
            })
        clusters.sort(key=lambda c: c["geometry"].centroid.x)
        for n, cluster in enumerate(clusters, start=1):
            cluster["area_id"] = f"HS-{group_id}-{n}"
            rows.append(cluster)
    if not rows:
        return _empty()
    frame = pd.DataFrame(rows)
    return gpd.GeoDataFrame(frame[HOTSPOT_COLUMNS], geometry=frame["geometry"].to_numpy(),
                            crs=BNG)

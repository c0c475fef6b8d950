"""Exclusion zones: threat sources turned into areas with their reasons.

Each source with an ``exclude_m`` (:mod:`geo.sources`) is buffered by it (0 m: no zone).
Buffers are merged per reason, the reason being the kind of source, what it is (a group's
areas, a kind of incident, a kind of address) and the radius, so a zone reads as one rule
("Within 1 km of shootings") while ``sources`` still names every source that made it. The
case's own exclusion zones and no-go areas follow, unchanged, so the output is the whole
picture of where a family cannot live.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import BNG
from geo.model import INCIDENT_KINDS, Case
from geo.settings import Policy
from geo.sources import threat_sources

ZONE_COLUMNS = ["zone_id", "kind", "reason", "sources", "applies_to", "source"]

_PLURAL = {
    "shooting": "shootings",
    "firearm_discharge": "firearm discharges",
    "stabbing": "stabbings",
    "arson": "arson attacks",
    "assault": "assaults",
    "threat": "threats",
    "other": "other incidents",
}
_ADDRESS_WORDS = {
    "subject_home": "the subject's current and former homes",
    "linked_address": "addresses known to rivals",
    "frequented": "places the subject frequents or works",
    "rival_address": "where rivals live",
}


def radius_text(r_m: float) -> str:
    """``500 m`` or ``1.5 km``."""
    return f"{r_m:g} m" if r_m < 1000 else f"{r_m / 1000:g} km"


def _reason_keys(sources: gpd.GeoDataFrame, case: Case) -> pd.Series:
    """The reason each source's buffer is merged under."""
    names = dict(zip(case["groups"]["group_id"].astype(str),
                     case["groups"]["name"].astype(str), strict=True))
    incident_kind = case["incidents"].set_index("incident_id")["kind"].astype(str)
    reasons = []
    for kind, ref, group, radius in zip(sources["kind"], sources["ref"], sources["group_id"],
                                        sources["exclude_m"], strict=True):
        within = f"Within {radius_text(radius)} of"
        if kind == "rival_area":
            reasons.append(f"{within} {names.get(str(group), group)} activity areas")
        elif kind == "own_area":
            reasons.append(f"{within} the subject's own group's areas")
        elif kind == "incident":
            what = _PLURAL.get(incident_kind.get(ref, "other"), "incidents")
            reasons.append(f"{within} {what}")
        else:
            reasons.append(f"{within} {_ADDRESS_WORDS[kind]}")
    return pd.Series(reasons, index=sources.index)


def exclusion_zones(
    case: Case,
    policy: Policy,
    *,
    as_of: dt.datetime | None = None,
    include_case_zones: bool = True,
    sources: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Exclusion zones with reasons, merged per reason, never losing their sources.

    Returns
    -------
    GeoDataFrame in EPSG:27700 with ``zone_id, kind, reason, sources, applies_to, source``:
    derived zones (``X01``, ``X02`` ... in a fixed order; ``sources`` lists the source ids,
    comma-separated) and, if ``include_case_zones``, the case's own exclusion zones and
    no-go areas with their own ids.
    """
    if sources is None:
        sources = threat_sources(case, policy, as_of=as_of)
    excl = sources[sources["exclude_m"] > 0]
    rows = []
    if len(excl):
        buffers = shapely.buffer(np.asarray(excl.geometry.values, dtype=object),
                                 excl["exclude_m"].to_numpy(float), quad_segs=16)
        severity = {k: i for i, k in enumerate(INCIDENT_KINDS)}
        incident_kind = case["incidents"].set_index("incident_id")["kind"]
        frame = pd.DataFrame({
            "reason": _reason_keys(excl, case).to_numpy(),
            "sub_order": excl["ref"].map(incident_kind).map(severity).fillna(0).to_numpy(),
            "kind_order": excl["kind"].map(
                {k: i for i, k in enumerate(sources["kind"].unique())}).to_numpy(),
            "radius": excl["exclude_m"].to_numpy(),
            "ref": excl["ref"].to_numpy(),
            "geometry": buffers,
        })
        for reason, part in frame.groupby("reason", sort=False):
            rows.append({
                "order": (int(part["kind_order"].min()), -float(part["radius"].max()),
                          int(part["sub_order"].min()), reason),
                "kind": "exclusion",
                "reason": reason,
                "sources": ",".join(sorted(part["ref"].astype(str))),
                "applies_to": None,
                "source": "derived",
                "geometry": shapely.union_all(part["geometry"].to_numpy()),
            })
    rows.sort(key=lambda r: r["order"])
    for n, row in enumerate(rows, start=1):
        row["zone_id"] = f"X{n:02d}"
        del row["order"]
    if include_case_zones and len(case["zones"]):
        own = case["zones"][case["zones"]["kind"].isin(["exclusion", "no_go"])]
        for z in own.itertuples():
            rows.append({
                "zone_id": z.zone_id, "kind": z.kind, "reason": z.reason,
                "sources": z.zone_id,
                "applies_to": None if pd.isna(z.applies_to) else z.applies_to,
                "source": z.source, "geometry": z.geometry,
            })
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in ZONE_COLUMNS},
                                geometry=gpd.GeoSeries([], crs=BNG), crs=BNG)
    out = pd.DataFrame(rows)
    return gpd.GeoDataFrame(out[ZONE_COLUMNS], geometry=out["geometry"].to_numpy(), crs=BNG)


def route_zones(case: Case, policy: Policy, household_zones: gpd.GeoDataFrame, *,
                as_of: dt.datetime | None = None) -> gpd.GeoDataFrame:
    """The zones a school route should not pass through: every derived exclusion zone, and
    the case's exclusion zones and no-go areas that apply to the household."""
    derived = exclusion_zones(case, policy, as_of=as_of, include_case_zones=False)
    own = household_zones[[c for c in derived.columns if c in household_zones.columns]]
    return gpd.GeoDataFrame(pd.concat([derived, own], ignore_index=True), geometry="geometry",
                            crs=BNG)

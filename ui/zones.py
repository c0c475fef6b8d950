"""Saving a zone drawn on the map into the store, with who drew it."""

from __future__ import annotations

import geopandas as gpd
import shapely
import streamlit as st

from geo.access import CaseView
from geo.crs import BNG
from geo.errors import InputError
from geo.store import Changes
from ui import session

SAVED_KEY = "map_saved_drawings"


def already_saved(polygon: shapely.Geometry) -> bool:
    """Whether this drawing was saved already (the map keeps showing it after the save)."""
    return polygon.wkb_hex in st.session_state.get(SAVED_KEY, set())


def next_zone_id(existing) -> str:
    """``Z-001``, ``Z-002`` ... the first free one."""
    taken = set(map(str, existing))
    n = 1
    while f"Z-{n:03d}" in taken:
        n += 1
    return f"Z-{n:03d}"


def save_drawn(view: CaseView, polygon: shapely.Geometry, *, kind: str, reason: str,
               applies_to: list[str]) -> str:
    """Store a drawn polygon as a zone (one transaction, checked against the version the
    user was looking at); return its id."""
    if not reason or not reason.strip():
        msg = "give the reason for the zone: it is shown to everyone who sees it"
        raise InputError(msg)
    if polygon.area < 100:
        msg = "the drawn area is too small to be a zone (under 100 m²)"
        raise InputError(msg)
    zone_id = next_zone_id(view.case["zones"]["zone_id"])
    row = gpd.GeoDataFrame(
        {"zone_id": [zone_id], "kind": [kind], "reason": [reason.strip()],
         "applies_to": [",".join(applies_to) or None], "source": ["drawn"],
         "drawn_by": [session.user().username]},
        geometry=[shapely.make_valid(polygon)], crs=BNG)
    session.secure().save_changes(view.ref, Changes().add("zones", row),
                                  base_version=view.version, reason=f"drew zone {zone_id}")
    st.session_state.setdefault(SAVED_KEY, set()).add(polygon.wkb_hex)
    return zone_id

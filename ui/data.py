"""Cached access to the store and to what is derived from a case.

Shared, read-only things are cached per server process (``st.cache_resource``): the store,
and each case as loaded at a given version. Everything derived from a case (zones, hot spots,
the ranking assessment, sector outlines) is keyed by the case reference *and version*, so an
edit by anyone invalidates it. Per-user state lives in ``st.session_state`` (:mod:`ui.state`).
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import streamlit as st

from geo.demo import build_demo_case
from geo.geocode import sector_outlines
from geo.hotspots import find_hotspots
from geo.maps import SectorLayer, sector_layer
from geo.model import Case
from geo.rank import Assessment, assess_case
from geo.settings import Policy, Settings
from geo.sources import policy_for_case
from geo.store import CaseInfo, LoadedCase, Store
from geo.zones import exclusion_zones


@st.cache_resource
def settings() -> Settings:
    """The deployment settings, read once."""
    return Settings.from_env()


@st.cache_resource
def store() -> Store:
    """The case store named by the settings (a SQLite file by default)."""
    return Store.from_settings(settings())


@st.cache_resource(show_spinner="Setting up the fictional demo case...")
def ensure_demo_case() -> str | None:
    """On a brand-new store, add the fictional demo case so the app opens on it."""
    s = store()
    if s.list_cases(include_archived=True):
        return None
    return s.create_case(build_demo_case(), actor="safeplan (demo set-up)",
                         reason="fictional demo case for a first start")


def list_cases(*, include_archived: bool = False) -> list[CaseInfo]:
    return store().list_cases(include_archived=include_archived)


def case_version(ref: str) -> int:
    """The stored version of a case now (a cheap query: keys the caches below)."""
    return store().case_info(ref).version


@st.cache_resource(max_entries=16, show_spinner="Opening the case...")
def _load(ref: str, version: int) -> LoadedCase:
    # keyed by version: a save by anyone makes the next look-up load afresh
    return store().load_case(ref)


def load(ref: str) -> LoadedCase:
    """The case as stored now (cached per version; treat it as read-only)."""
    return _load(ref, case_version(ref))


def policy(loaded: LoadedCase) -> Policy:
    return policy_for_case(loaded.case)


@st.cache_resource(max_entries=16, show_spinner="Drawing exclusion zones...")
def zones(ref: str, version: int, as_of: dt.date) -> gpd.GeoDataFrame:
    loaded = _load(ref, version)
    return exclusion_zones(loaded.case, policy(loaded), as_of=_moment(as_of))


@st.cache_resource(max_entries=16, show_spinner="Finding hot spots...")
def hotspots(ref: str, version: int, as_of: dt.date) -> gpd.GeoDataFrame:
    loaded = _load(ref, version)
    return find_hotspots(loaded.case["incidents"], policy(loaded), as_of=_moment(as_of))


@st.cache_resource(max_entries=8, show_spinner="Drawing postcode sectors (offline)...")
def sectors(bounds: tuple[float, float, float, float]) -> SectorLayer:
    """The postcode-sector base map for a study area rounded to 1 km, ready to draw."""
    return sector_layer(sector_outlines(bounds, margin_m=1_000.0))


def study_bounds(case: Case) -> tuple[float, float, float, float]:
    """The extent of the case's features, rounded out to whole kilometres (cache-friendly)."""
    import math

    frames = [case[n] for n in ("activity_areas", "incidents", "addresses", "candidates")
              if len(case[n])]
    if not frames:
        return (380_000.0, 394_000.0, 388_000.0, 402_000.0)  # central Manchester
    b = gpd.GeoSeries([f.geometry.union_all() for f in frames], crs=27700).total_bounds
    return (math.floor(b[0] / 1000) * 1000.0, math.floor(b[1] / 1000) * 1000.0,
            math.ceil(b[2] / 1000) * 1000.0, math.ceil(b[3] / 1000) * 1000.0)


@st.cache_resource(max_entries=16, show_spinner="Measuring every candidate...")
def assessment(ref: str, version: int, person_ids: tuple[str, ...], as_of: dt.date,
               candidates_key: str = "", _candidates: gpd.GeoDataFrame | None = None,
               graph_key: str = "", _travel=None) -> Assessment:
    """The expensive, weight-independent part of ranking, cached: sliders only re-rank.
    ``candidates_key`` and ``graph_key`` name the uploaded vacancy list and street graph."""
    loaded = _load(ref, version)
    return assess_case(loaded.case, policy(loaded), person_ids=list(person_ids) or None,
                       candidates=_candidates, as_of=_moment(as_of), travel=_travel)


@st.cache_resource(max_entries=4, show_spinner=False)
def route_zones(ref: str, version: int, person_ids: tuple[str, ...], as_of: dt.date):
    """The zones a school route should avoid, for the household."""
    from geo.sources import household
    from geo.zones import route_zones as zones_for_routes

    loaded = _load(ref, version)
    members = household(loaded.case, list(person_ids) or None)
    return zones_for_routes(loaded.case, policy(loaded), members.zones, as_of=_moment(as_of))


@st.cache_resource(max_entries=16, show_spinner="Ranking the candidates...")
def default_ranking(ref: str, version: int, as_of: dt.date) -> gpd.GeoDataFrame | None:
    """The ranking with the policy's own weights for the default household (for the map);
    None when the case cannot be ranked yet (no subject, no candidates)."""
    from geo.errors import GeoError
    from geo.rank import rank

    try:
        return rank(assessment(ref, version, (), as_of))
    except GeoError:
        return None


def _moment(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59))


@st.cache_resource(max_entries=8, show_spinner="Evaluating the grid of the study area...")
def surface(ref: str, version: int, person_ids: tuple[str, ...], as_of: dt.date):
    """The safe-area surface (every 250 m cell judged like a candidate), cached."""
    from geo.areas import grid_surface

    loaded = _load(ref, version)
    return grid_surface(loaded.case, policy(loaded), person_ids=list(person_ids) or None,
                        as_of=_moment(as_of))

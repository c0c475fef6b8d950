"""Cached access to the store and to what is derived from a case.

Shared, read-only things are cached per server process (``st.cache_resource``): the store and
everything derived from a case (zones, hot spots, the ranking assessment, safe-area grids,
sector outlines). Derived results are keyed by the case reference, its *version* and the
*kind of view* (full, housing, social worker, meeting), and are computed from the view's own
analysis case (:meth:`geo.access.CaseView.analysis_case`), so no role's results carry text
it may not read, and an edit by anyone makes the next look-up compute afresh. What a user may
see comes only through :mod:`ui.session` (per browser session).
"""

from __future__ import annotations

import datetime as dt
import math

import geopandas as gpd
import streamlit as st

from geo.access import CaseView
from geo.demo import build_demo_case
from geo.geocode import sector_outlines
from geo.hotspots import find_hotspots
from geo.maps import SectorLayer, sector_layer
from geo.model import Case
from geo.rank import Assessment, assess_case
from geo.settings import Policy, Settings
from geo.sources import policy_for_case
from geo.store import Store
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
def first_start() -> str | None:
    """On a brand-new store: add the fictional demo case and a ``demo`` user whose one-time
    password is printed on the console (once). Returns that password, or None."""
    from geo import auth

    s = store()
    if not s.list_cases(include_archived=True):
        s.create_case(build_demo_case(), actor="safeplan (first start)",
                      reason="fictional demo case for a first start")
    password = auth.ensure_demo_user(s)
    if password:
        print(
            "\nSafe Location Planner, first start: sign in as user 'demo' with the one-time "
            f"password  {password}  (you will choose your own). It is not shown again; an "
            "administrator can reset it with `safeplan users reset demo`.\n", flush=True)
    return password


def policy(view: CaseView) -> Policy:
    return policy_for_case(view.analysis_case())


def _moment(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59))


@st.cache_resource(max_entries=32, show_spinner="Drawing exclusion zones...")
def _zones(ref: str, version: int, kind: str, as_of: dt.date, _case: Case) -> gpd.GeoDataFrame:
    return exclusion_zones(_case, policy_for_case(_case), as_of=_moment(as_of))


def zones(view: CaseView, as_of: dt.date) -> gpd.GeoDataFrame:
    """Exclusion zones (derived and the case's own), as this view may show them."""
    return view.screen(_zones(view.ref, view.version, view.view, as_of,
                              view.analysis_case()))


@st.cache_resource(max_entries=32, show_spinner="Finding hot spots...")
def _hotspots(ref: str, version: int, kind: str, as_of: dt.date, _case: Case
              ) -> gpd.GeoDataFrame:
    return find_hotspots(_case["incidents"], policy_for_case(_case), as_of=_moment(as_of))


def hotspots(view: CaseView, as_of: dt.date) -> gpd.GeoDataFrame:
    return view.screen(_hotspots(view.ref, view.version, view.view, as_of,
                                 view.analysis_case()))


@st.cache_resource(max_entries=8, show_spinner="Drawing postcode sectors (offline)...")
def sectors(bounds: tuple[float, float, float, float]) -> SectorLayer:
    """The postcode-sector base map for a study area rounded to 1 km, ready to draw."""
    return sector_layer(sector_outlines(bounds, margin_m=1_000.0))


def study_bounds(case: Case) -> tuple[float, float, float, float]:
    """The extent of the case's features, rounded out to whole kilometres (cache-friendly)."""
    frames = [case[n] for n in ("activity_areas", "incidents", "addresses", "candidates")
              if len(case[n])]
    if not frames:
        return (380_000.0, 394_000.0, 388_000.0, 402_000.0)  # central Manchester
    b = gpd.GeoSeries([f.geometry.union_all() for f in frames], crs=27700).total_bounds
    return (math.floor(b[0] / 1000) * 1000.0, math.floor(b[1] / 1000) * 1000.0,
            math.ceil(b[2] / 1000) * 1000.0, math.ceil(b[3] / 1000) * 1000.0)


@st.cache_resource(max_entries=16, show_spinner="Measuring every candidate...")
def _assessment(ref: str, version: int, kind: str, person_ids: tuple[str, ...],
                as_of: dt.date, candidates_key: str, graph_key: str, _case: Case,
                _candidates: gpd.GeoDataFrame | None, _travel) -> Assessment:
    return assess_case(_case, policy_for_case(_case), person_ids=list(person_ids) or None,
                       candidates=_candidates, as_of=_moment(as_of), travel=_travel)


def assessment(view: CaseView, person_ids: tuple[str, ...], as_of: dt.date, *,
               candidates_key: str = "", candidates: gpd.GeoDataFrame | None = None,
               graph_key: str = "", travel=None) -> Assessment:
    """The expensive, weight-independent part of ranking, cached: sliders only re-rank.
    ``candidates_key`` and ``graph_key`` name an uploaded vacancy list and a street graph."""
    return _assessment(view.ref, view.version, view.view, person_ids, as_of, candidates_key,
                       graph_key, view.analysis_case(), candidates, travel)


@st.cache_resource(max_entries=16, show_spinner="Ranking the candidates...")
def _default_ranking(ref: str, version: int, kind: str, as_of: dt.date, _view: CaseView
                     ) -> gpd.GeoDataFrame | None:
    from geo.errors import GeoError
    from geo.rank import rank

    try:
        return rank(assessment(_view, (), as_of))
    except GeoError:
        return None


def default_ranking(view: CaseView, as_of: dt.date) -> gpd.GeoDataFrame | None:
    """The ranking with the policy's own weights for the default household (for the map);
    None when the case cannot be ranked yet (no subject, no candidates) or the view shows no
    candidates."""
    if not len(view.case["candidates"]):
        return None
    return _default_ranking(view.ref, view.version, view.view, as_of, view)


@st.cache_resource(max_entries=4, show_spinner=False)
def _route_zones(ref: str, version: int, kind: str, person_ids: tuple[str, ...],
                 as_of: dt.date, _case: Case) -> gpd.GeoDataFrame:
    from geo.sources import household
    from geo.zones import route_zones as zones_for_routes

    members = household(_case, list(person_ids) or None)
    return zones_for_routes(_case, policy_for_case(_case), members.zones, as_of=_moment(as_of))


def route_zones(view: CaseView, person_ids: tuple[str, ...], as_of: dt.date
                ) -> gpd.GeoDataFrame:
    """The zones a school route should avoid, for the household."""
    return _route_zones(view.ref, view.version, view.view, person_ids, as_of,
                        view.analysis_case())


@st.cache_resource(max_entries=8, show_spinner="Evaluating the grid of the study area...")
def _surface(ref: str, version: int, kind: str, person_ids: tuple[str, ...],
             as_of: dt.date, within: str | None, graph_key: str, _case: Case, _travel):
    from geo.areas import grid_surface

    return grid_surface(_case, policy_for_case(_case), person_ids=list(person_ids) or None,
                        as_of=_moment(as_of), within=within, travel=_travel)


def surface(view: CaseView, person_ids: tuple[str, ...], as_of: dt.date, *,
            within: str | None = None, graph_key: str = "", travel=None):
    """The safe-area surface (every 250 m cell judged like a candidate), cached; ``within``
    names one of the case's boundaries to search instead of the case's extent; ``travel``
    (named by ``graph_key``) gives school runs on the case's street graph."""
    return _surface(view.ref, view.version, view.view, person_ids, as_of, within, graph_key,
                    view.analysis_case(), travel)


def moment(day: dt.date) -> dt.datetime:
    """The end of a day, the moment incidents fade to."""
    return _moment(day)


@st.cache_resource(max_entries=8, show_spinner="Drawing the annex and its map...")
def _agreement(ref: str, version: int, kind: str, person: str, worker: str,
               review: dt.date | None, template: str, as_of: dt.date, _case: Case):
    from geo.agreement import agreement_html, build_agreement
    from ui.agreements import template_from_text

    made = build_agreement(_case, person, policy_for_case(_case), worker=worker, review=review,
                           template=template_from_text(template), as_of=_moment(as_of))
    return made, agreement_html(made)


def agreement(view: CaseView, person: str, *, worker: str, review: dt.date | None,
              template: str, as_of: dt.date):
    """A person's working agreement and its HTML, made once per case version, person,
    worker, review date, wording and day (drawing its map takes seconds)."""
    return _agreement(view.ref, view.version, view.view, person, worker, review, template,
                      as_of, view.analysis_case())


@st.cache_resource(max_entries=8, show_spinner="Printing the annex...")
def _agreement_pdf(html: str, _made) -> bytes:
    from geo.agreement import agreement_pdf

    return agreement_pdf(_made)


def agreement_pdf(made, html: str) -> bytes:
    """The annex as PDF, made once per annex (keyed by its HTML, which says all it holds)."""
    return _agreement_pdf(html, made)

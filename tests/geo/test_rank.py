"""Ranking: hard constraints, threat and disruption, explained; properties and exact values."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer

from geo import _text as T
from geo._spatial import nearest, point_pairs, polygon_pairs
from geo.errors import InputError
from geo.model import validate_case
from geo.rank import RANK_COLUMNS, _rank_order, assess, assess_case, kernel, rank, rank_case
from geo.settings import Policy
from geo.sources import household, threat_sources
from tests.geo.conftest import NOW

POLICY = Policy.default()


def ranked(case, **kwargs):
    return rank_case(case, POLICY, as_of=NOW, **kwargs)


def by_id(frame):
    return frame.set_index("candidate_id")


# --- the tiny case, by hand --------------------------------------------------------------------


def test_output_columns_are_the_contract(tiny_case):
    out = ranked(tiny_case)
    assert list(out.columns[:14]) == RANK_COLUMNS
    assert out["rank"].tolist() == [1, 2, 3]


def test_candidates_near_threats_are_refused_with_reasons(tiny_case):
    out = by_id(ranked(tiny_case))
    # C1 is 100 m inside rival territory AR1 (Bravo): inside the area itself
    assert not out.loc["C1", "eligible"]
    assert out.loc["C1", "reasons"].startswith("Not eligible: inside Bravo territory AR1.")
    # C3 is 141 m from the subject's home, where the shooting was
    assert not out.loc["C3", "eligible"]
    assert out.loc["C3", "reasons"].startswith(
        "Not eligible: 140 m from Home (A1, the subject's home), inside its 1.5 km exclusion "
        "(and 1 more exclusion).")
    # C2 is far from every threat, but 52 minutes from the school: over the 45 min limit
    assert out.loc["C2", "reasons"].startswith(
        "Not eligible: school run 52 min to School exceeds the 45 min limit.")
    # ranked: the one breaking only a limit first, then by score
    assert out.loc["C2", "rank"] == 1


def test_a_candidate_clear_of_everything_is_eligible_and_first(tiny_case):
    a = assess_case(tiny_case, POLICY, as_of=NOW)
    out = by_id(rank(a, limits={"max_school_min": 60}))
    assert out.loc["C2", "eligible"]
    assert out.loc["C2", "rank"] == 1
    assert out.loc["C2", "reasons"] == (
        "Eligible. Nearest threat: Bravo drug market AR2, 8.94 km away (8.44 km beyond its "
        "500 m exclusion). Threat 0.00 (none). School run 52 min to School (estimated). "
        "Support 12.0 km (estimated: straight line x 1.4) from Aunt.")


def test_nearest_threat_and_distance_by_hand(tiny_case):
    out = by_id(ranked(tiny_case))
    c2 = shapely.Point(395_000, 390_000)
    ar2 = tiny_case["activity_areas"].set_index("area_id").loc["AR2"].geometry
    assert out.loc["C2", "nearest_threat_m"] == pytest.approx(c2.distance(ar2), abs=0.05)
    assert out.loc["C2", "nearest_threat"] == "Bravo drug market AR2"
    assert out.loc["C1", "nearest_threat_m"] == 0.0


def test_support_distance_is_estimated_with_the_detour_factor(tiny_case):
    out = by_id(ranked(tiny_case))
    straight_km = shapely.Point(395_000, 390_000).distance(shapely.Point(392_000, 398_000)) / 1e3
    assert out.loc["C2", "support_km"] == pytest.approx(straight_km * 1.4, abs=0.005)
    assert "Support 12.0 km (estimated: straight line x 1.4) from Aunt." in out.loc["C2",
                                                                                   "reasons"]


def test_school_run_is_estimated_and_labelled(tiny_case):
    out = by_id(ranked(tiny_case))
    school = shapely.Point(383_000, 399_000)
    d = shapely.Point(395_000, 390_000).distance(school)
    minutes = d * 1.4 / (24 * 1000 / 60)
    assert out.loc["C2", "school_min"] == pytest.approx(minutes, abs=0.05)
    assert bool(out.loc["C2", "school_min_estimated"]) is True


def test_threat_score_by_hand():
    case = validate_case({
        "case": pd.DataFrame({"case_ref": ["K"]}),
        "groups": pd.DataFrame({"group_id": ["GA", "GB"], "name": ["A", "B"]}),
        "people": pd.DataFrame({"person_id": ["S", "P"], "label": ["s", "p"],
                                "role": ["subject", "partner"], "group_id": ["GA", None],
                                "ttl_risk": [None, "high"]}),
        "incidents": gpd.GeoDataFrame(
            {"incident_id": ["I"], "occurred_at": ["2026-11-25"], "kind": ["assault"],
             "group_id": ["GB"], "confidence": ["high"]},
            geometry=[shapely.Point(384_000, 398_000)], crs=27700),
        "candidates": gpd.GeoDataFrame(
            {"candidate_id": ["A", "B"], "label": ["a", "b"]},
            geometry=[shapely.Point(384_750, 398_000), shapely.Point(385_600, 398_000)],
            crs=27700),
    }, now=NOW).raise_if_fatal()
    out = by_id(rank_case(case, POLICY, as_of=dt.datetime(2026, 11, 25), person_ids=["P"]))
    # assault x high confidence x no fading = 1.0 x 0.4 x 1.0; u = 750 / 1500 = 0.5
    assert out.loc["A", "threat_score"] == pytest.approx(0.4 * (1 - 0.25) ** 2, abs=1e-3)
    # B is beyond the 1.5 km bandwidth: no threat at all
    assert out.loc["B", "threat_score"] == 0.0
    assert out.loc["A", "eligible"]  # 750 m is beyond an assault's 200 m exclusion


def test_zones_that_apply_exclude(tiny_case):
    zones = gpd.GeoDataFrame(
        {"zone_id": ["Z1", "Z2"], "kind": ["no_go", "no_go"],
         "reason": ["Market where P4 deals", "Only for P1"], "applies_to": [None, "P1"]},
        geometry=[shapely.box(394_000, 389_000, 396_000, 391_000)] * 2, crs=27700)
    case = validate_case({**tiny_case, "zones": zones}, now=NOW).raise_if_fatal()
    a = assess_case(case, POLICY, as_of=NOW, person_ids=["P2", "P3"])
    out = by_id(rank(a, limits={"max_school_min": 60}))
    assert not out.loc["C2", "eligible"]
    assert "inside no-go area Z1 (Market where P4 deals)" in out.loc["C2", "reasons"]
    assert "Z2" not in out.loc["C2", "reasons"]  # applies to P1 only


def test_limits_are_hard(tiny_case):
    a = assess_case(tiny_case, POLICY, as_of=NOW, person_ids=["P2", "P3"])
    out = by_id(rank(a, limits={"max_school_min": 20}))
    assert not out.loc["C2", "eligible"]
    assert "school run 52 min to School exceeds the 20 min limit" in out.loc["C2", "reasons"]
    out = by_id(rank(a, limits={"max_school_min": 60}))
    assert out.loc["C2", "eligible"]
    out = by_id(rank(a, limits={"max_school_min": 60, "max_support_km": 5}))
    assert "12.0 km from support exceeds the 5 km limit" in out.loc["C2", "reasons"]


def test_weights_change_the_order_and_scores():
    rng = np.random.default_rng(5)
    case = _random_case(rng, n_candidates=200)
    a = assess_case(case, POLICY, as_of=NOW, person_ids=["P"])
    threat_first = rank(a, weights={"threat": 1, "school": 0, "support": 0})
    school_first = rank(a, weights={"threat": 0, "school": 1, "support": 0})
    ok1 = threat_first[threat_first.eligible]
    ok2 = school_first[school_first.eligible]
    assert ok1["threat_score"].is_monotonic_increasing
    assert ok2["school_min"].is_monotonic_increasing
    assert ok1["candidate_id"].tolist() != ok2["candidate_id"].tolist()


def test_same_inputs_same_order_and_ties_broken_by_id(tiny_case):
    twins = gpd.GeoDataFrame({"candidate_id": ["T-b", "T-a", "T-c"], "label": ["b", "a", "c"]},
                             geometry=[shapely.Point(395_000, 390_000)] * 3, crs=27700)
    case = validate_case({**tiny_case, "candidates": twins}, now=NOW).raise_if_fatal()
    first = rank(assess_case(case, POLICY, as_of=NOW), limits={"max_school_min": 60})
    assert first["eligible"].all()
    assert first["candidate_id"].tolist() == ["T-a", "T-b", "T-c"]
    again = rank(assess_case(case, POLICY, as_of=NOW), limits={"max_school_min": 60})
    pd.testing.assert_frame_equal(pd.DataFrame(first), pd.DataFrame(again))


def test_bad_weights_and_limits(tiny_case):
    a = assess_case(tiny_case, POLICY, as_of=NOW)
    with pytest.raises(InputError, match="unknown weight or limit: speed"):
        rank(a, weights={"speed": 1})
    with pytest.raises(InputError, match="weights cannot be negative"):
        rank(a, weights={"threat": -1})


def test_no_candidates_is_a_clear_message(tiny_case):
    empty = tiny_case.replace(candidates=tiny_case["candidates"].iloc[:0])
    with pytest.raises(InputError, match="no candidate addresses: import a vacancy list"):
        ranked(empty)


def test_unknown_person_to_relocate(tiny_case):
    with pytest.raises(InputError, match="unknown person id"):
        ranked(tiny_case, person_ids=["P99"])


# --- the demo case: what an analyst sees ----------------------------------------------------


@pytest.fixture(scope="module")
def demo_ranked():
    from geo.demo import AS_OF, build_demo_case

    return rank_case(build_demo_case(), POLICY, as_of=AS_OF)


def test_demo_top_rows_are_safe_and_explained(demo_ranked):
    top = demo_ranked.head(10)
    assert top["eligible"].all()
    assert (top["threat_score"] < 0.1).all()
    assert (top["nearest_threat_m"] > 1_500).all()
    for reason in top["reasons"]:
        assert reason.startswith("Eligible. Nearest threat: ")
        assert "School run" in reason
        assert "Support" in reason


def test_demo_bottom_rows_say_why_not(demo_ranked):
    refused = demo_ranked[~demo_ranked["eligible"]]
    assert len(refused) > 50
    assert refused["rank"].min() == demo_ranked["eligible"].sum() + 1
    assert refused["reasons"].str.startswith("Not eligible: ").all()
    shot_at = refused[refused["reasons"].str.contains("Subject's home, Harpurhey")]
    assert len(shot_at) > 0


def test_no_demo_candidate_near_the_shooting_is_eligible(demo_ranked):
    from geo.demo import build_demo_case

    case = build_demo_case()
    shooting = case["incidents"].set_index("incident_id").loc["INC-001"].geometry
    pts = gpd.GeoSeries(gpd.points_from_xy(demo_ranked["lon"], demo_ranked["lat"]),
                        crs=4326).to_crs(27700)
    close = pts.distance(shooting) < 1_500
    assert close.sum() > 3
    assert not demo_ranked.loc[close.to_numpy(), "eligible"].any()


# --- properties --------------------------------------------------------------------------------


def _random_case(rng, n_candidates=50, n_incidents=20, n_areas=4):
    cx, cy = 384_000.0, 398_000.0
    areas = [shapely.Point(cx + dx, cy + dy).buffer(r, 6)
             for dx, dy, r in zip(rng.normal(0, 3000, n_areas), rng.normal(0, 3000, n_areas),
                                  rng.uniform(200, 900, n_areas), strict=True)]
    layers = {
        "case": pd.DataFrame({"case_ref": ["R"]}),
        "groups": pd.DataFrame({"group_id": ["GA", "GB"], "name": ["A", "B"]}),
        "people": pd.DataFrame({"person_id": ["S", "P"], "label": ["s", "p"],
                                "role": ["subject", "partner"], "group_id": ["GA", None]}),
        "activity_areas": gpd.GeoDataFrame(
            {"area_id": [f"AR{i}" for i in range(n_areas)], "group_id": ["GB"] * n_areas},
            geometry=areas, crs=27700),
        "incidents": gpd.GeoDataFrame(
            {"incident_id": [f"I{i}" for i in range(n_incidents)],
             "occurred_at": ["2026-06-01"] * n_incidents,
             "kind": rng.choice(["shooting", "assault", "threat"], n_incidents),
             "group_id": ["GB"] * n_incidents},
            geometry=gpd.points_from_xy(rng.normal(cx, 4000, n_incidents),
                                        rng.normal(cy, 4000, n_incidents)), crs=27700),
        "addresses": gpd.GeoDataFrame(
            {"address_id": ["H", "SC"], "label": ["home", "school"], "kind": ["home", "school"]},
            geometry=[shapely.Point(cx, cy), shapely.Point(cx + 2000, cy)], crs=27700),
        "links": pd.DataFrame({"person_id": ["S", "P"], "address_id": ["H", "SC"],
                               "relation": ["resides", "attends"]}),
        "candidates": gpd.GeoDataFrame(
            {"candidate_id": [f"C{i:03d}" for i in range(n_candidates)],
             "label": ["c"] * n_candidates},
            geometry=gpd.points_from_xy(rng.normal(cx, 6000, n_candidates),
                                        rng.normal(cy, 6000, n_candidates)), crs=27700),
    }
    return validate_case(layers, now=NOW).raise_if_fatal()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.floats(0, 3000), st.floats(0, 3000))
def test_no_eligible_candidate_is_within_exclude_m_of_any_source(seed, area_m, incident_m):
    rng = np.random.default_rng(seed)
    case = _random_case(rng)
    policy = POLICY.with_overrides(
        {"sources": {"rival_area": {"exclude_m": area_m},
                     "incident": {"exclude_m": {"shooting": incident_m, "assault": incident_m,
                                                "threat": incident_m}}}}, origin="test")
    out = rank_case(case, policy, as_of=NOW, person_ids=["P"])
    sources = threat_sources(case, policy, as_of=NOW)
    pts = gpd.GeoSeries(gpd.points_from_xy(out["lon"], out["lat"]), crs=4326).to_crs(27700)
    xy = np.asarray(pts.values, dtype=object)
    for geom, exclude in zip(sources.geometry, sources["exclude_m"], strict=True):
        if exclude <= 0:
            continue
        d = shapely.distance(xy, geom)
        # every candidate within the exclusion radius of a source is refused
        assert not out.loc[d <= exclude - 0.01, "eligible"].any()
        # (lat/lon round to 6 decimals, about 0.1 m: keep clear of the boundary)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(0, 5_000), st.floats(-2_000, 2_000))
def test_moving_away_from_every_source_never_raises_the_threat(seed, step_m, drift_m):
    rng = np.random.default_rng(seed)
    # sources all west of x = 390 km; a candidate east of them moves further east
    geoms = [shapely.Point(x, y) for x, y in zip(rng.uniform(380_000, 389_000, 15),
                                                  rng.uniform(395_000, 401_000, 15),
                                                  strict=True)]
    geoms += [shapely.box(x, y, x + 500, y + 400) for x, y in
              zip(rng.uniform(380_000, 388_000, 3), rng.uniform(395_000, 400_000, 3),
                  strict=True)]
    sources = gpd.GeoDataFrame(
        {"source_id": [f"s{i}" for i in range(len(geoms))], "kind": "incident",
         "ref": [f"s{i}" for i in range(len(geoms))], "label": "s", "rule": "R3",
         "group_id": None, "strength": rng.uniform(0.1, 1.5, len(geoms)),
         "exclude_m": 0.0, "bandwidth_m": rng.uniform(500, 4000, len(geoms)), "fade": 1.0,
         "occurred_at": None}, geometry=geoms, crs=27700)
    y0 = 398_000 + drift_m
    here = shapely.Point(390_000 + rng.uniform(0, 2000), y0)
    there = shapely.Point(here.x + step_m, y0)
    for s in geoms:  # the move really is away from every source
        assert there.distance(s) >= here.distance(s) - 1e-9
    cands = gpd.GeoDataFrame({"candidate_id": ["here", "there"], "label": ["a", "b"]},
                             geometry=[here, there], crs=27700)
    members = household(_random_case(np.random.default_rng(0), n_candidates=1), ["P"])
    a = assess(cands, sources, members, POLICY)
    assert a.threat[1] <= a.threat[0] + 1e-12


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2000), st.integers(0, 2000))
def test_a_fading_source_never_weighs_more_later(days_a, days_b):
    case = _random_case(np.random.default_rng(1))
    early, late = sorted([days_a, days_b])
    base = dt.datetime(2026, 6, 1)
    s1 = threat_sources(case, POLICY, as_of=base + dt.timedelta(days=early))
    s2 = threat_sources(case, POLICY, as_of=base + dt.timedelta(days=late))
    inc1 = s1[s1.kind == "incident"].set_index("ref")["strength"]
    inc2 = s2[s2.kind == "incident"].set_index("ref")["strength"]
    assert (inc2 <= inc1 + 1e-12).all()
    floor = POLICY.get("sources.incident.floor")
    assert (s2[s2.kind == "incident"]["fade"] >= floor).all()


def test_kernel_is_smooth_and_decreasing():
    u = np.linspace(0, 1.5, 301)
    k = kernel(u)
    assert k[0] == 1.0
    assert (np.diff(k) <= 0).all()
    assert k[u >= 1].max() == 0.0


# --- distances agree with independent computations ----------------------------------------


def test_distances_agree_with_shapely_within_a_metre():
    rng = np.random.default_rng(11)
    px = rng.uniform(380_000, 390_000, 3000)
    py = rng.uniform(393_000, 403_000, 3000)
    pts = shapely.points(px, py)
    polys = np.array([shapely.Point(x, y).buffer(r, 5) for x, y, r in zip(
        rng.uniform(382_000, 388_000, 12), rng.uniform(395_000, 401_000, 12),
        rng.uniform(100, 800, 12), strict=True)], dtype=object)
    found = polygon_pairs(px, py, polys, 1500.0)
    want = shapely.distance(pts[:, None], polys[None, :])
    assert len(found) == int((want <= 1500).sum())
    assert np.abs(found.dist_m - want[found.point, found.source]).max() < 1e-6
    sx, sy = rng.uniform(380_000, 390_000, 40), rng.uniform(393_000, 403_000, 40)
    found = point_pairs(px, py, sx, sy, 1000.0)
    want = np.hypot(px[:, None] - sx[None, :], py[:, None] - sy[None, :])
    assert len(found) == int((want <= 1000).sum())
    mixed = np.concatenate([polys, shapely.points(sx, sy)])
    idx, dist = nearest(px, py, mixed)
    all_d = shapely.distance(pts[:, None], mixed[None, :])
    assert np.abs(dist - all_d.min(axis=1)).max() < 1e-6
    assert np.abs(all_d[np.arange(len(px)), idx] - dist).max() < 1e-6


def test_reported_distances_agree_with_pyproj_on_the_ground():
    """nearest_threat_m is a grid distance in EPSG:27700; on the ground (geodesic) it
    differs by the grid's scale factor, 0.04% in Manchester: within a metre up to 2.5 km."""
    case = _random_case(np.random.default_rng(3), n_candidates=400, n_incidents=60)
    out = rank_case(case, POLICY, as_of=NOW, person_ids=["P"])
    sources = threat_sources(case, POLICY, as_of=NOW)
    points = sources[sources.geom_type == "Point"].set_index("label")
    near = out[out["nearest_threat"].isin(points.index) & (out["nearest_threat_m"] < 2_500)]
    assert len(near) > 30
    to_wgs = Transformer.from_crs(27700, 4326, always_xy=True)
    src = points.loc[near["nearest_threat"]].geometry
    slon, slat = to_wgs.transform(src.x.to_numpy(), src.y.to_numpy())
    _, _, ground = Geod(ellps="WGS84").inv(near["lon"].to_numpy(), near["lat"].to_numpy(),
                                           slon, slat)
    assert np.abs(ground - near["nearest_threat_m"].to_numpy()).max() < 1.0


def test_lat_lon_are_the_candidates_own_position(tiny_case):
    out = by_id(ranked(tiny_case))
    back = Transformer.from_crs(4326, 27700, always_xy=True).transform(
        out.loc["C2", "lon"], out.loc["C2", "lat"])
    assert back == pytest.approx((395_000, 390_000), abs=0.2)


# --- the fast paths give the plain answers ------------------------------------------------


def test_point_pairs_in_small_blocks_with_coincident_points():
    rng = np.random.default_rng(5)
    px = np.round(rng.uniform(380_000, 386_000, 2000), -2)  # many on the same spot
    py = np.round(rng.uniform(393_000, 399_000, 2000), -2)
    sx, sy = px[:60].copy(), py[:60].copy()
    found = point_pairs(px, py, sx, sy, 700.0, block=500)
    want = np.hypot(px[:, None] - sx[None, :], py[:, None] - sy[None, :])
    assert sorted(zip(found.point.tolist(), found.source.tolist(), strict=True)) == sorted(
        zip(*np.nonzero(want <= 700.0), strict=True))
    assert np.array_equal(found.dist_m, want[found.point, found.source])


def test_nearest_polygon_only_where_it_can_beat_a_bound():
    rng = np.random.default_rng(8)
    px, py = rng.uniform(380_000, 390_000, 2000), rng.uniform(393_000, 403_000, 2000)
    polys = np.array([shapely.Point(x, y).buffer(r, 5) for x, y, r in zip(
        rng.uniform(382_000, 388_000, 8), rng.uniform(395_000, 401_000, 8),
        rng.uniform(100, 600, 8), strict=True)], dtype=object)
    full_idx, full_d = nearest(px, py, polys)
    bound = rng.uniform(0, 3000, len(px))
    idx, dist = nearest(px, py, polys, nearer_than=bound)
    beat = full_d < bound
    assert np.array_equal(idx[beat], full_idx[beat])
    assert np.array_equal(dist[beat], full_d[beat])
    assert (dist[~beat] >= bound[~beat]).all()


def test_rank_order_is_one_lexsort_of_its_keys():
    rng = np.random.default_rng(2)
    n = 5000
    group = rng.integers(0, 3, n)
    exact = rng.choice([50.0, 62.5, 75.0, np.nan, -0.0, 0.0], n)  # many ties
    threat = rng.choice([0.0, 0.1, 0.2], n)
    school = rng.choice([0.0, 12.5], n)
    ids = pd.Series(rng.choice([f"C{i}" for i in range(300)], n), dtype="str")
    want = np.lexsort((ids.to_numpy(), school, threat, -exact, group))
    assert np.array_equal(_rank_order(group, exact, threat, school, ids), want)


def test_distances_in_words_are_written_once_per_value_and_right():
    d = np.concatenate([[0, 4.9, 5, 994.9, 995, 999.99, 1000, 1004.9, 1005, 9994.9, 9995,
                         10_000, 10_049, 10_050, 123_456.7, np.inf, np.nan],
                        np.random.default_rng(1).uniform(0, 60_000, 3000)])

    def by_hand(v):
        v = v if np.isfinite(v) else 0.0
        if v < 1000:
            return f"{int(np.round(v / 10)) * 10} m"
        if v < 10_000:
            return f"{int(np.round(v / 10)) / 100:.2f} km"
        return f"{int(np.round(v / 100)) / 10:.1f} km"

    assert T.distance(d).to_pylist() == [by_hand(v) for v in d]
    assert T.distance(d, d > 1000, before="(", after=")").to_pylist() == [
        f"({by_hand(v)})" if v > 1000 else "" for v in d]
    v = np.array([0, 0.004, 0.006, 1.999, 2.0, 12.346, 99.996, np.nan])
    assert T.decimal(v, 2).to_pylist() == ["0.00", "0.00", "0.01", "2.00", "2.00", "12.35",
                                           "100.00", "0.00"]


def test_no_candidates_ranks_to_an_empty_frame(tiny_case):
    a = assess(tiny_case["candidates"].iloc[:0], threat_sources(tiny_case, POLICY, as_of=NOW),
               household(tiny_case, None), POLICY)
    out = rank(a)
    assert len(out) == 0
    assert list(out.columns[:14]) == RANK_COLUMNS

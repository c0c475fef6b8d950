"""Hot spots from incident points, and exclusion zones that keep their sources."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import shapely

from geo.hotspots import find_hotspots
from geo.model import validate_case
from geo.settings import Policy
from geo.sources import RULES, household, threat_sources
from geo.zones import exclusion_zones
from tests.geo.conftest import NOW

POLICY = Policy.default()


def incidents_cloud(seed=0, n_noise=15):
    rng = np.random.default_rng(seed)
    a = rng.normal((383_000, 396_000), 120, (12, 2))
    b = rng.normal((387_000, 401_000), 150, (8, 2))
    noise = np.column_stack([rng.uniform(375_000, 395_000, n_noise),
                             rng.uniform(388_000, 408_000, n_noise)])
    xy = np.vstack([a, b, noise])
    n = len(xy)
    days = rng.integers(0, 300, n)
    return gpd.GeoDataFrame({
        "incident_id": [f"I{i:02d}" for i in range(n)],
        "occurred_at": [(NOW - dt.timedelta(days=int(d))).strftime("%Y-%m-%d") for d in days],
        "kind": "assault", "group_id": "GB",
        "confidence": ["high"] * 12 + ["low"] * 8 + ["medium"] * n_noise},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=27700)


def test_two_clusters_plus_noise_make_two_areas():
    cloud = incidents_cloud()
    found = find_hotspots(cloud, POLICY, as_of=NOW)
    assert len(found) == 2
    assert found["area_id"].tolist() == ["HS-GB-1", "HS-GB-2"]  # west to east
    assert found["incident_count"].tolist() == [12, 8]
    assert found.geometry.iloc[0].contains(shapely.Point(383_000, 396_000))
    assert found.geometry.iloc[1].contains(shapely.Point(387_000, 401_000))
    # noise is not an area: no hot spot lies near the noise points alone
    noise = cloud.iloc[20:]
    inside = noise.geometry.apply(lambda p: found.geometry.contains(p).any())
    assert not inside.any()
    assert found["confidence"].tolist() == ["high", "medium"]
    assert (found["kind"] == "derived_hotspot").all()
    assert found["observed_from"].iloc[0] <= found["observed_to"].iloc[0]


def test_hotspots_are_readable_polygons_that_can_be_activity_areas():
    found = find_hotspots(incidents_cloud(), POLICY, as_of=NOW)
    assert (found.geom_type == "Polygon").all()
    assert found.is_valid.all()
    # a few hundred vertices at most: a shape a person can read
    assert max(len(g.exterior.coords) for g in found.geometry) < 200
    from geo.model import check_layer

    _, problems = check_layer("activity_areas", found, now=NOW)
    assert [p for p in problems if p.severity == "error"] == []


def test_old_and_unattributed_incidents_are_left_out():
    cloud = incidents_cloud()
    cloud.loc[:11, "occurred_at"] = "2020-01-01"
    cloud.loc[12:19, "group_id"] = None
    assert len(find_hotspots(cloud, POLICY, as_of=NOW)) == 0


def test_hotspot_parameters_come_from_the_policy():
    strict = POLICY.with_overrides({"hotspots": {"min_incidents": 10}}, origin="t")
    assert len(find_hotspots(incidents_cloud(), strict, as_of=NOW)) == 1


def test_the_outline_follows_the_policy_from_hugging_to_convex():
    areas = {}
    for ratio in (0.0, 1.0):
        p = POLICY.with_overrides({"hotspots": {"concave_ratio": ratio, "buffer_m": 1}},
                                  origin="t")
        areas[ratio] = find_hotspots(incidents_cloud(), p, as_of=NOW).geometry.area.to_numpy()
    assert (areas[0.0] < areas[1.0]).all()


def test_demo_hotspots_find_the_three_clusters():
    from geo.demo import AS_OF, build_demo_case

    found = find_hotspots(build_demo_case()["incidents"], POLICY, as_of=AS_OF)
    assert sorted(found["group_id"]) == ["G-HER", "G-HER", "G-KES"]


# --- who is at risk from whom ------------------------------------------------------------


def test_rules_make_the_right_sources(tiny_case):
    s = threat_sources(tiny_case, POLICY, as_of=NOW).set_index("source_id")
    assert s.loc["rival_area:AR1", "rule"] == "R1"  # Bravo is a rival of the subject (Alpha)
    assert s.loc["own_area:AR3", "rule"] == "R2"
    assert s.loc["own_area:AR3", "exclude_m"] == 0
    assert s.loc["incident:I1", "rule"] == "R3"
    assert s.loc["incident:I3", "rule"] == "R5"  # no group, no target: reduced weight
    assert s.loc["subject_home:A1", "rule"] == "R6"
    assert "linked_address:A2" not in s.index  # a school is a destination, not a source
    assert {r.rule_id for r in RULES} >= {"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8",
                                          "R9", "R10"}


def test_an_incident_aimed_at_the_family_counts_whoever_did_it(tiny_layers):
    tiny_layers["incidents"].loc[1, "group_id"] = "GA"  # the subject's own group...
    tiny_layers["incidents"].loc[1, "target_address_id"] = "A1"  # ...at his own home
    case = validate_case(tiny_layers, now=NOW).raise_if_fatal()
    s = threat_sources(case, POLICY, as_of=NOW).set_index("source_id")
    assert s.loc["incident:I2", "rule"] == "R4"
    tiny_layers["incidents"].loc[1, "target_address_id"] = None
    case = validate_case(tiny_layers, now=NOW).raise_if_fatal()
    assert "incident:I2" not in threat_sources(case, POLICY, as_of=NOW)["source_id"].tolist()


def test_the_former_home_counts_even_if_not_marked_known(tiny_layers):
    tiny_layers["addresses"].loc[0, "known_to_rivals"] = False
    tiny_layers["links"].loc[0, "relation"] = "resided"
    case = validate_case(tiny_layers, now=NOW).raise_if_fatal()
    s = threat_sources(case, POLICY, as_of=NOW).set_index("source_id")
    assert s.loc["subject_home:A1", "exclude_m"] == 1500


def test_household_by_default_and_by_choice():
    from geo.demo import build_demo_case

    case = build_demo_case()
    h = household(case)
    assert h.person_ids == ("P02", "P03", "P04")
    assert h.note == "the people living at a temporary address"
    assert h.schools["address_id"].tolist() == ["A07"]
    assert h.support["address_id"].tolist() == ["A09"]
    assert h.zones["zone_id"].tolist() == ["Z-D01"]
    h = household(case, ["P05", "P06", "P07"])
    assert sorted(h.schools["address_id"]) == ["A07", "A08"]
    assert h.support["address_id"].tolist() == ["A10"]


# --- exclusion zones ----------------------------------------------------------------------


def test_zones_merge_per_reason_and_keep_their_sources():
    from geo.demo import AS_OF, build_demo_case

    case = build_demo_case()
    zones = exclusion_zones(case, POLICY, as_of=AS_OF)
    assert list(zones.columns[:4]) == ["zone_id", "kind", "reason", "sources"]
    by_reason = zones.set_index("reason")
    homes = by_reason.loc["Within 1.5 km of the subject's current and former homes"]
    assert homes["sources"] == "A01,A02"
    assert by_reason.loc["Within 1 km of shootings", "sources"] == "INC-001"
    heron = by_reason.loc["Within 500 m of Heron (south) activity areas", "sources"]
    assert heron == "AA-H1,AA-H2,AA-H3,AA-H4"
    # the merged zone covers each source's own buffer
    addr = case["addresses"].set_index("address_id")
    for a in ("A01", "A02"):
        assert homes.geometry.contains(addr.loc[a].geometry.buffer(1499, 16))
    # the case's own drawn zone follows, unchanged
    assert zones["zone_id"].iloc[-1] == "Z-D01"
    assert zones["source"].iloc[-1] == "drawn"
    assert zones["zone_id"].iloc[0] == "X01"


def test_no_exclusion_no_zone(tiny_case):
    none = POLICY.with_overrides({"sources": {k: {"exclude_m": 0} for k in (
        "rival_area", "subject_home", "linked_address", "frequented", "rival_address")}
        | {"incident": {"exclude_m": {k: 0 for k in ("shooting", "firearm_discharge",
                                                    "stabbing", "arson", "assault",
                                                    "threat", "other")}}}}, origin="t")
    zones = exclusion_zones(tiny_case, none, as_of=NOW)
    assert len(zones) == 0
    assert list(zones.columns) == ["zone_id", "kind", "reason", "sources", "applies_to",
                                   "source", "geometry"]


def test_zones_and_ranking_agree(tiny_case):
    from geo.rank import assess_case, rank

    zones = exclusion_zones(tiny_case, POLICY, as_of=NOW, include_case_zones=False)
    out = rank(assess_case(tiny_case, POLICY, as_of=NOW), limits={"max_school_min": 0})
    inside = out.geometry.within(zones.union_all()).to_numpy()
    assert (inside == ~out["eligible"].to_numpy()).all()
    assert inside.any()
    assert not inside.all()

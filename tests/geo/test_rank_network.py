"""Ranking on a real street network: school runs by road, routes through no-go areas."""

from __future__ import annotations

import datetime as dt
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import wgs84_to_bng
from geo.model import validate_case
from geo.network import NetworkTravel, load_graph, travel_times
from geo.rank import assess_case, rank, rank_with_routes
from geo.settings import Policy

NOW = dt.datetime(2026, 11, 25, 12, 0)


def bng(lon: float, lat: float) -> shapely.Point:
    x, y = wgs84_to_bng([lon], [lat])
    return shapely.Point(float(x[0]), float(y[0]))


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def stretford(shared, tmp_path_factory):
    """The Stretford extract's walking graph (a clipped drive graph falls apart into pieces
    that cannot reach each other), and a small case on it: the school in the north,
    one candidate north of a no-go band across the whole extract, one south of it."""
    graph = load_graph(shared / "osm" / "stretford_kingsway_junction.osm", mode="walk",
                       cache_dir=tmp_path_factory.mktemp("graphs"))
    school = bng(-2.3062, 53.4467)
    north = bng(-2.3090, 53.4463)
    south = bng(-2.3072, 53.4439)
    band = shapely.box(bng(-2.3200, 53.4451).x, bng(-2.3200, 53.4451).y,
                       bng(-2.2950, 53.4455).x, bng(-2.2950, 53.4455).y)
    layers = {
        "case": pd.DataFrame({"case_ref": ["NET"]}),
        "groups": pd.DataFrame({"group_id": ["GA", "GB"], "name": ["A", "B"]}),
        "people": pd.DataFrame({"person_id": ["S", "P", "C"], "label": ["s", "p", "c"],
                                "role": ["subject", "partner", "child"],
                                "group_id": ["GA", None, None]}),
        "addresses": gpd.GeoDataFrame(
            {"address_id": ["SC"], "label": ["Stretford school"], "kind": ["school"]},
            geometry=[school], crs=27700),
        "links": pd.DataFrame({"person_id": ["C"], "address_id": ["SC"],
                               "relation": ["attends"]}),
        "candidates": gpd.GeoDataFrame(
            {"candidate_id": ["NORTH", "SOUTH"], "label": ["north flat", "south flat"]},
            geometry=[north, south], crs=27700),
        "zones": gpd.GeoDataFrame(
            {"zone_id": ["Z-BAND"], "kind": ["no_go"], "reason": ["Kingsway band"],
             "applies_to": [None]}, geometry=[band], crs=27700),
    }
    case = validate_case(layers, now=NOW).raise_if_fatal()
    return graph, case, school


def test_school_runs_come_from_the_street_network(stretford):
    graph, case, school = stretford
    travel = NetworkTravel(graph)
    a = assess_case(case, Policy.default(), person_ids=["P", "C"], as_of=NOW, travel=travel)
    out = rank(a).set_index("candidate_id")
    direct = travel_times(graph, (school.x, school.y),
                          case["candidates"].geometry.x.to_numpy(),
                          case["candidates"].geometry.y.to_numpy())
    assert (direct["status"] == "ok").all()
    assert out.loc["NORTH", "school_min"] == pytest.approx(direct["minutes"].iloc[0], abs=0.05)
    assert not out["school_min_estimated"].any()
    assert "(street network)" in out.loc["NORTH", "reasons"]
    # the straight-line estimate differs: the network time is a real, different number
    estimated = rank(assess_case(case, Policy.default(), person_ids=["P", "C"], as_of=NOW))
    assert estimated["school_min_estimated"].all()
    assert not np.isclose(estimated.set_index("candidate_id").loc["SOUTH", "school_min"],
                          out.loc["SOUTH", "school_min"], atol=0.05)


def test_a_route_through_a_no_go_area_is_flagged_then_refused(stretford):
    graph, case, _ = stretford
    travel = NetworkTravel(graph)
    policy = Policy.default()
    a = assess_case(case, policy, person_ids=["P", "C"], as_of=NOW, travel=travel)
    zones = a.household.zones
    ranked, routes = rank_with_routes(a, travel, zones, top_n=5)
    by_id = routes.set_index("candidate_id")
    assert bool(by_id.loc["SOUTH", "crosses_zone"]) is True
    assert by_id.loc["SOUTH", "crossing_m"] > 30  # the band is 44 m from north to south
    assert bool(by_id.loc["NORTH", "crosses_zone"]) is False
    out = ranked.set_index("candidate_id")
    assert out.loc["SOUTH", "eligible"]  # flagged, not refused, by default
    assert "School route to Stretford school passes through Kingsway band (Z-BAND)" in (
        out.loc["SOUTH", "reasons"])
    assert "passes through no no-go area" in out.loc["NORTH", "reasons"]
    # the routes are lines from the candidate to the school
    line = by_id.loc["SOUTH", "geometry"]
    assert line.geom_type == "LineString"
    assert line.intersection(zones.geometry.iloc[0]).length == pytest.approx(
        by_id.loc["SOUTH", "crossing_m"], rel=0.01)

    strict = policy.with_overrides({"network": {"refuse_routes_through_zones": True}},
                                   origin="test")
    a = assess_case(case, strict, person_ids=["P", "C"], as_of=NOW, travel=travel)
    ranked, _ = rank_with_routes(a, travel, zones, top_n=5)
    out = ranked.set_index("candidate_id")
    assert not out.loc["SOUTH", "eligible"]
    assert out.loc["SOUTH", "reasons"].startswith(
        "Not eligible: school route to Stretford school passes through Kingsway band")
    assert out.loc["NORTH", "eligible"]
    assert out.loc["NORTH", "rank"] == 1


def test_rank_command_with_a_graph(stretford, shared, tmp_path, capsys):
    from geo.cli import main
    from geo.io import write_case

    _, case, _ = stretford
    path = write_case(case, tmp_path / "net.gpkg")
    out = tmp_path / "ranked.csv"
    walk = tmp_path / "walk.toml"
    walk.write_text('[network]\nmode = "walk"\n')
    code = main(["rank", str(path), "--for", "P,C", "--out", str(out), "--as-of",
                 "2026-11-25", "--policy", str(walk), "--graph",
                 str(shared / "osm" / "stretford_kingsway_junction.osm")])
    printed = capsys.readouterr().out
    assert code == 0
    assert "school routes checked for 2 of the best 2 candidates; 1 pass through" in printed
    frame = pd.read_csv(out)
    assert not frame["school_min_estimated"].any()


def test_safe_areas_say_how_many_school_runs_came_from_the_street_network(stretford):
    """The extract covers a few streets; an area reaching past it is not all 'street network'."""
    from geo.areas import grid_surface, safe_areas

    graph, case, _ = stretford
    policy = Policy.default().with_overrides(
        {"network": {"mode": "walk"}, "areas": {"cell_m": 100, "min_area_km2": 0.05}},
        origin="test")
    travel = NetworkTravel(graph)
    surface = grid_surface(case, policy, person_ids=["P", "C"], as_of=NOW, travel=travel)
    on_net = int((~surface.assessment.school_estimated).sum())
    assert 0 < on_net < len(surface.assessment.school_estimated)
    [reasons] = safe_areas(case, policy, person_ids=["P", "C"], as_of=NOW,
                           travel=travel)["reasons"]
    assert re.search(r"school run \d+ to \d+ min \(street network \(walk\) for \d+ of \d+ "
                     r"cells, the rest estimated, at cell centres\)", reasons), reasons


def test_the_walking_speed_comes_from_the_policy(shared, tmp_path):
    from geo.network import router_from_file
    from geo.settings import Settings

    osm = shared / "osm" / "stretford_kingsway_junction.osm"
    settings = Settings(data_dir=tmp_path)
    origin = bng(-2.3062, 53.4467)
    to = bng(-2.3072, 53.4439)
    minutes = []
    for kph in (4.8, 2.4):
        policy = Policy.default().with_overrides(
            {"network": {"mode": "walk", "walk_speed_kph": kph}}, origin="test")
        travel = router_from_file(osm, policy=policy, settings=settings)
        times, status = travel.minutes_to([to.x], [to.y], origin.x, origin.y)
        assert status[0] == "ok"
        minutes.append(times[0])
    assert minutes[1] == pytest.approx(2 * minutes[0], rel=1e-6)

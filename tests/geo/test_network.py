"""Street networks: loading offline, mode rules, travel times, snapping, isochrones, routes.

The hand-built grid (``grid_osm``), south to north rows and west to east columns::

    7 ----- 8 -------- 9            rows 100 m apart (0.0009 deg of latitude);
    |       ^          |            columns 0.0015 and 0.0018 deg of longitude apart
    4 ----- 5 -------- 6 ---- 10    (about 99 m and 119 m), so going east costs more.
    |       ^          |   Dead End Close
    1 ----- 2 -------- 3
            (One Way Street, 2 -> 5 -> 8, north only)  3 -- 11 footway (walk only)

Also a motorway 1 -> 9 (one way, 70 mph, no junctions on the way, not for walkers), a
building (20-23) and a railway from 30 (300 m west) to 4, which no mode may use.

Expected times are worked out by hand from great-circle lengths (the haversine formula osmnx
uses, radius 6,371,009 m) and the stated speeds: residential 36 km/h (10 m/s) when driving,
the motorway's ``maxspeed`` 70 mph (x 1.60934 km/mile, osmnx's factor), walking 4.8 km/h.
"""

from __future__ import annotations

import gzip
import itertools
import math
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import shapely

from geo import network
from geo.crs import BNG, wgs84_to_bng
from geo.errors import GeoError, InputError
from geo.network import (
    MODE_RULES,
    StreetGraph,
    check_routes,
    fetch_graph,
    isochrone,
    isochrones,
    load_graph,
    network_distances,
    route,
    route_crossings,
    save_graph,
    snap,
    speed_table,
    travel_times,
    way_allowed,
)
from geo.settings import Settings

LAT0, LON0 = 53.45, -2.30
ROWS = [LAT0, LAT0 + 0.0009, LAT0 + 0.0018]
COLS = [LON0, LON0 + 0.0015, LON0 + 0.0033]
NODES: dict[int, tuple[float, float]] = {
    1 + 3 * i + j: (lat, lon) for i, lat in enumerate(ROWS) for j, lon in enumerate(COLS)
}
NODES |= {
    10: (ROWS[1], COLS[2] + 0.0015),  # end of Dead End Close
    11: (ROWS[0] - 0.0009, COLS[2]),  # end of the footway
    20: (LAT0 + 0.0003, LON0 + 0.0004), 21: (LAT0 + 0.0003, LON0 + 0.0010),
    22: (LAT0 + 0.0006, LON0 + 0.0010), 23: (LAT0 + 0.0006, LON0 + 0.0004),  # a building
    30: (ROWS[1], LON0 - 0.0045),  # the railway's far end
}
WAYS = [  # (way id, node ids, tags)
    (101, [1, 2, 3], {"highway": "residential", "name": "South Road"}),
    (102, [4, 5, 6], {"highway": "residential", "name": "Middle Road"}),
    (103, [7, 8, 9], {"highway": "residential", "name": "North Road"}),
    (104, [1, 4, 7], {"highway": "residential", "name": "West Street"}),
    (105, [2, 5, 8], {"highway": "residential", "name": "One Way Street", "oneway": "yes"}),
    (106, [3, 6, 9], {"highway": "residential", "name": "East Street"}),
    (107, [6, 10], {"highway": "residential", "name": "Dead End Close"}),
    (108, [1, 9], {"highway": "motorway", "ref": "M99", "oneway": "yes",
                   "maxspeed": "70 mph"}),
    (109, [3, 11], {"highway": "footway"}),
    (110, [20, 21, 22, 23, 20], {"building": "yes"}),
    (111, [30, 4], {"railway": "rail"}),
]
DRIVE_MPS = 10.0  # residential at 36 km/h
MOTORWAY_MPS = 70 * 1.60934 / 3.6
WALK_MPS = 4.8 / 3.6
SPEEDS = {"residential": 36.0}


def osm_xml(nodes=NODES, ways=WAYS) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for node, (lat, lon) in nodes.items():
        lines.append(f'  <node id="{node}" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for way, refs, tags in ways:
        lines.append(f'  <way id="{way}">')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def metres(*path: int) -> float:
    """Great-circle length of a path through the fixture's nodes, as osmnx measures it."""
    total = 0.0
    for a, b in itertools.pairwise(path):
        (lat1, lon1), (lat2, lon2) = NODES[a], NODES[b]
        p1, p2 = math.radians(lat1), math.radians(lat2)
        h = (math.sin((p2 - p1) / 2) ** 2
             + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
        total += 2 * 6_371_009 * math.asin(math.sqrt(h))
    return total


def xy(node: int) -> tuple[float, float]:
    lat, lon = NODES[node]
    x, y = wgs84_to_bng(lon, lat)
    return float(x), float(y)


def minutes_from(graph, origin_node, *target_nodes, direction="to_origin"):
    pts = np.array([xy(n) for n in target_nodes])
    out = travel_times(graph, xy(origin_node), pts[:, 0], pts[:, 1], direction=direction)
    return out["minutes"].to_numpy()


@pytest.fixture
def grid_osm(tmp_path):
    path = tmp_path / "grid.osm"
    path.write_text(osm_xml())
    return path


@pytest.fixture
def drive(grid_osm, tmp_path):
    return load_graph(grid_osm, mode="drive", speeds_kph=SPEEDS, cache_dir=tmp_path / "c")


@pytest.fixture
def walk(grid_osm, tmp_path):
    return load_graph(grid_osm, mode="walk", cache_dir=tmp_path / "c")


# ---- mode rules and speeds -------------------------------------------------------------------


@pytest.mark.parametrize(("tags", "mode", "allowed"), [
    ({"highway": "residential"}, "drive", True),
    ({"highway": "residential"}, "walk", True),
    ({"highway": "motorway"}, "drive", True),
    ({"highway": "motorway", "foot": "yes"}, "walk", False),
    ({"highway": "motorway_link"}, "walk", False),
    ({"highway": "trunk"}, "walk", True),
    ({"highway": "trunk", "foot": "no"}, "walk", False),
    ({"highway": "footway"}, "drive", False),
    ({"highway": "footway"}, "walk", True),
    ({"highway": "cycleway", "foot": "designated"}, "walk", True),
    ({"highway": "steps"}, "walk", True),
    ({"highway": "service", "service": "parking_aisle"}, "drive", False),
    ({"highway": "service", "service": "parking_aisle"}, "walk", True),
    ({"highway": "service", "access": "private"}, "drive", False),
    ({"highway": "service", "access": "private"}, "walk", False),
    ({"highway": "service", "access": "private", "foot": "yes"}, "walk", True),
    ({"highway": "service", "access": "no", "motor_vehicle": "yes"}, "drive", True),
    ({"highway": "unclassified", "motor_vehicle": "no"}, "drive", False),
    ({"highway": "unclassified", "motor_vehicle": "no"}, "walk", True),
    ({"highway": "residential", "motorcar": "no", "motor_vehicle": "yes"}, "drive", False),
    ({"highway": "pedestrian", "area": "yes"}, "walk", False),
    ({"highway": "construction"}, "drive", False),
    ({"building": "yes"}, "walk", False),
    ({"railway": "rail"}, "drive", False),
    ({"highway": ["residential", "footway"]}, "drive", True),
    ({"highway": "tertiary", "access": "No;private"}, "drive", False),
])
def test_way_rules_follow_the_documented_table(tags, mode, allowed):
    assert way_allowed(tags, mode) is allowed


def test_speed_table_defaults_and_overrides():
    assert speed_table("drive")["residential"] == 32.0
    assert speed_table("drive", {"residential": 25})["residential"] == 25.0
    walk = speed_table("walk", {"steps": 2.4})
    assert walk["steps"] == 2.4
    assert walk["footway"] == 4.8
    assert "motorway" not in walk


@pytest.mark.parametrize(("mode", "speeds", "match"), [
    ("drive", {"residental": 30}, "'residental', which is not a highway type"),
    ("drive", {"footway": 5}, "'footway', which is not a highway type used when the mode"),
    ("drive", {"residential": 0}, "must be more than 0 and at most 200 km/h, got 0"),
    ("walk", {"path": "fast"}, "got 'fast'"),
    ("cycle", None, "mode must be one of 'drive', 'walk', got 'cycle'"),
])
def test_bad_speeds_or_mode_are_refused_by_name(mode, speeds, match):
    with pytest.raises(InputError, match=match):
        speed_table(mode, speeds)


# ---- loading the hand-built grid -------------------------------------------------------------


def test_drive_keeps_streets_and_motorway_but_not_footway_building_or_railway(drive):
    assert set(drive.streets_gdf()["highway"]) == {"residential", "motorway"}
    assert not {11, 20, 21, 22, 23, 30} & set(drive.node_ids)
    assert drive.mode == "drive"
    assert drive.G.graph["crs"] == "EPSG:27700"


def test_walk_keeps_footway_but_not_motorway_building_or_railway(walk):
    assert set(walk.streets_gdf()["highway"]) == {"residential", "footway"}
    assert 11 in set(walk.node_ids)
    assert not {20, 21, 22, 23, 30} & set(walk.node_ids)


def test_total_street_length_is_the_sum_of_the_ways(walk):
    blocks = [(1, 2), (2, 3), (4, 5), (5, 6), (7, 8), (8, 9), (1, 4), (4, 7), (2, 5), (5, 8),
              (3, 6), (6, 9), (6, 10), (3, 11)]
    # street lines are straight between the nodes in British National Grid
    expected = sum(math.dist(xy(a), xy(b)) for a, b in blocks)
    assert walk.length_km * 1000 == pytest.approx(expected, rel=1e-12)
    assert walk.n_streets == len(walk.streets_gdf())
    # on the ground (osmnx's great-circle lengths) the grid is 0.18% shorter than on the map
    assert sum(d["length"] for _, _, d in walk.G.edges(data=True)) / 2 == pytest.approx(
        sum(metres(a, b) for a, b in blocks), rel=1e-9)


def test_one_way_street_makes_the_drive_south_go_round_but_not_the_walk(drive, walk):
    # home 8 -> school 2: One Way Street runs north only, so drivers go 8-7-4-1-2 (the west
    # side is shorter than the east, and the north row is the shortest east-west)
    assert minutes_from(drive, 2, 8)[0] * 60 == pytest.approx(
        metres(8, 7, 4, 1, 2) / DRIVE_MPS, rel=1e-9)
    assert minutes_from(walk, 2, 8)[0] * 60 == pytest.approx(metres(8, 5, 2) / WALK_MPS,
                                                             rel=1e-9)
    # home 2 -> school 8 is straight up One Way Street
    assert minutes_from(drive, 8, 2)[0] * 60 == pytest.approx(metres(2, 5, 8) / DRIVE_MPS,
                                                              rel=1e-9)


def test_direction_from_origin_is_the_return_trip(drive):
    there = minutes_from(drive, 2, 8, direction="from_origin")[0]  # school 2 -> home 8
    back = minutes_from(drive, 2, 8, direction="to_origin")[0]  # home 8 -> school 2
    assert there * 60 == pytest.approx(metres(2, 5, 8) / DRIVE_MPS, rel=1e-9)
    assert back * 60 == pytest.approx(metres(8, 7, 4, 1, 2) / DRIVE_MPS, rel=1e-9)


def test_motorway_is_fast_one_way_and_only_for_drivers(drive, walk):
    # 1 -> 9 on the motorway at 70 mph; 9 -> 1 must use the streets (north row, west side)
    assert minutes_from(drive, 9, 1)[0] * 60 == pytest.approx(metres(1, 9) / MOTORWAY_MPS,
                                                              rel=1e-9)
    assert minutes_from(drive, 1, 9)[0] * 60 == pytest.approx(
        metres(9, 8, 7, 4, 1) / DRIVE_MPS, rel=1e-9)
    # 1 and 9 lie inside simplified walking streets (no junction there), and a point inside
    # a street is timed pro rata to its length on the map: within 0.2% of the ground
    assert minutes_from(walk, 9, 1)[0] * 60 == pytest.approx(
        metres(1, 4, 7, 8, 9) / WALK_MPS, rel=2e-3)


def test_dead_end_and_footway_times(drive, walk):
    assert minutes_from(drive, 2, 10)[0] * 60 == pytest.approx(
        metres(10, 6, 3, 2) / DRIVE_MPS, rel=1e-9)
    assert minutes_from(walk, 2, 11)[0] * 60 == pytest.approx(metres(11, 3, 2) / WALK_MPS,
                                                              rel=1e-9)


def test_a_point_beside_a_street_joins_it_part_way(drive):
    # 20 m north of the middle of Middle Road between 4 and 5
    (x4, y4), (x5, y5) = xy(4), xy(5)
    dx, dy = x5 - x4, y5 - y4
    norm = math.hypot(dx, dy)
    px, py = (x4 + x5) / 2 - 20 * dy / norm, (y4 + y5) / 2 + 20 * dx / norm
    out = travel_times(drive, xy(2), [px], [py])
    assert out["snap_m"][0] == pytest.approx(20.0, abs=1e-6)
    # half of 4-5 westwards, then 4-1-2 (5 -> 2 is against the one-way street)
    expected = (metres(4, 5) / 2 + metres(4, 1, 2)) / DRIVE_MPS
    assert out["minutes"][0] * 60 == pytest.approx(expected, rel=1e-9)
    snapped = snap(drive, [px], [py]).iloc[0]
    assert snapped["fraction"] == pytest.approx(0.5, abs=1e-9)
    assert (snapped["snap_x"], snapped["snap_y"]) == pytest.approx(
        ((x4 + x5) / 2, (y4 + y5) / 2), abs=1e-6)


def test_a_street_whose_speed_changes_keeps_a_node_there(tmp_path):
    # South Road 1-2 at 36 km/h, then 2-3 signed 20 mph: node 2 stays, so a point half-way
    # along 2-3 is timed at 20 mph for its half, not pro rata over 1-3
    ways = [(1, [1, 2], {"highway": "residential"}),
            (2, [2, 3], {"highway": "residential", "maxspeed": "20 mph"})]
    path = tmp_path / "speeds.osm"
    path.write_text(osm_xml({n: NODES[n] for n in (1, 2, 3)}, ways))
    graph = load_graph(path, mode="drive", speeds_kph=SPEEDS, use_cache=False)
    assert graph.n_streets == 2
    (x2, y2), (x3, y3) = xy(2), xy(3)
    out = travel_times(graph, xy(1), [(x2 + x3) / 2], [(y2 + y3) / 2])
    slow_mps = 20 * 1.60934 / 3.6
    assert out["minutes"][0] * 60 == pytest.approx(
        metres(1, 2) / DRIVE_MPS + metres(2, 3) / 2 / slow_mps, rel=1e-9)


def test_origin_and_target_on_the_same_street(drive):
    (x4, y4), (x5, y5) = xy(4), xy(5)
    school = (x4 + 0.25 * (x5 - x4), y4 + 0.25 * (y5 - y4))
    home = (x4 + 0.75 * (x5 - x4), y4 + 0.75 * (y5 - y4))
    out = travel_times(drive, school, [home[0], school[0]], [home[1], school[1]])
    assert out["minutes"][0] * 60 == pytest.approx(0.5 * metres(4, 5) / DRIVE_MPS, rel=1e-9)
    assert out["minutes"][1] == 0.0


def test_points_too_far_from_a_street_are_reported_not_snapped(drive):
    x4, y4 = xy(4)
    out = travel_times(drive, xy(2), [x4, x4 - 2000, xy(30)[0], np.nan], [y4, y4, y4, y4])
    assert list(out["status"]) == ["ok", "too_far_from_street", "too_far_from_street",
                                   "no_location"]
    assert out["snap_m"][1] == pytest.approx(2000.0, abs=1.0)
    assert out["snap_m"][2] > 250
    assert out["minutes"][1:].isna().all()
    assert list(out["reachable"]) == [True, False, False, False]
    wider = travel_times(drive, xy(2), [xy(30)[0]], [y4], max_snap_m=400)
    assert wider["status"][0] == "ok"


def test_an_origin_too_far_from_every_street_is_an_error(drive):
    x, y = xy(4)
    with pytest.raises(InputError, match=r"the origin is 2,000 m from the nearest street in "
                                          r"grid.osm \(the limit is 250 m\)"):
        travel_times(drive, (x - 2000, y), [x], [y])


def test_several_origins_give_the_nearest_and_say_which(walk):
    x5, y5 = xy(5)
    origins = [xy(1), (xy(9)[0] + 5000, xy(9)[1]), xy(9)]
    out = travel_times(walk, origins, [x5, *xy(8)[:1]], [y5, xy(8)[1]])
    assert out.attrs["origins_too_far"] == [1]
    # 5 -> 1: 5-4-1 or 5-2-1, whichever row is shorter; 8 -> 9 is one block (1 and 9 are
    # inside streets: pro rata, within 0.2%)
    assert out["minutes"][0] * 60 == pytest.approx(
        min(metres(5, 4, 1), metres(5, 2, 1)) / WALK_MPS, rel=2e-3)
    assert out["origin"][0] == 0
    assert out["minutes"][1] * 60 == pytest.approx(metres(8, 9) / WALK_MPS, rel=2e-3)
    assert out["origin"][1] == 2


def test_network_distances_are_the_shortest_way_the_mode_may_use(drive, walk):
    pts = np.array([xy(8), xy(10)])
    by_car = network_distances(drive, xy(2), pts[:, 0], pts[:, 1])
    assert list(by_car.columns) == ["distance_m", "snap_m", "reachable", "status", "origin"]
    assert by_car["distance_m"][0] == pytest.approx(metres(8, 7, 4, 1, 2), rel=1e-9)
    assert by_car["distance_m"][1] == pytest.approx(metres(10, 6, 3, 2), rel=1e-9)
    on_foot = network_distances(walk, xy(2), pts[:, 0], pts[:, 1])
    assert on_foot["distance_m"][0] == pytest.approx(metres(8, 5, 2), rel=1e-9)
    # the nearest of several origins, as for support addresses
    nearest = network_distances(walk, [xy(1), xy(10)], pts[:, 0], pts[:, 1])
    assert list(nearest["origin"]) == [0, 1]
    assert nearest["distance_m"][1] == 0.0


def test_bad_direction_is_refused(drive):
    with pytest.raises(InputError, match="direction must be one of 'to_origin', 'from_origin'"):
        travel_times(drive, xy(2), [0.0], [0.0], direction="both")


# ---- snapping is exact -----------------------------------------------------------------------


def test_snap_distance_is_the_exact_distance_to_the_nearest_street(walk):
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = walk.bounds
    px = rng.uniform(x0 - 300, x1 + 300, 400)
    py = rng.uniform(y0 - 300, y1 + 300, 400)
    out = snap(walk, px, py, max_snap_m=100)
    streets = walk.streets_gdf().geometry.to_numpy()
    brute = shapely.distance(shapely.points(px, py)[:, None], streets[None, :]).min(axis=1)
    np.testing.assert_allclose(out["snap_m"], brute, atol=1e-6)
    assert ((out["status"] == "ok") == (brute <= 100)).all()
    on_street = shapely.distance(shapely.points(out["snap_x"], out["snap_y"])[:, None],
                                 streets[None, :]).min(axis=1)
    assert on_street.max() < 1e-6


# ---- reachable areas -------------------------------------------------------------------------


def test_isochrone_follows_the_streets_and_cuts_them_at_the_right_place(walk):
    area = isochrone(walk, xy(5), 1.0, buffer_m=10.0)  # 80 m of walking
    (x5, y5), (x6, y6) = xy(5), xy(6)
    ux, uy = (x6 - x5) / math.hypot(x6 - x5, y6 - y5), (y6 - y5) / math.hypot(x6 - x5, y6 - y5)
    assert area.contains(shapely.Point(x5 + 70 * ux, y5 + 70 * uy))
    assert not area.contains(shapely.Point(x5 + 95 * ux, y5 + 95 * uy))
    # the reachable stretch east ends 80 m (in time) along Middle Road, plus the buffer
    reach = 80.0 / metres(5, 6) * math.dist(xy(5), xy(6))
    assert area.intersection(shapely.LineString([(x5, y5), (x6, y6)])).length == \
        pytest.approx(reach + 10.0, abs=0.01)
    # not a convex hull: the block corner between the arms is not reached
    x4, y4 = xy(4)
    assert not area.contains(shapely.Point(x5 + 50 * ux, y5 + 50 * uy + 50))
    assert not area.contains(shapely.Point((x4 + x5) / 2, (y4 + xy(1)[1]) / 2))


def test_isochrones_grow_with_minutes_and_stay_near_streets(walk):
    areas = isochrones(walk, xy(5), [1, 2, 5], buffer_m=25.0)
    assert list(areas["minutes"]) == [1.0, 2.0, 5.0]
    assert areas.crs.to_epsg() == BNG
    sizes = areas.area.to_numpy()
    assert sizes[0] < sizes[1] < sizes[2]
    assert areas.geometry[0].buffer(-0.01).within(areas.geometry[1])
    near_streets = walk.streets_gdf().union_all().buffer(25.0 + 0.01)
    assert all(area.within(near_streets) for area in areas.geometry)


def test_drive_isochrone_respects_one_way_streets(drive):
    # from 2 (to_origin): can 5 reach 2 in 20 s? Only via 4-1 (one way 5 -> 2 is not allowed)
    areas = isochrones(drive, xy(2), [20 / 60], buffer_m=5.0)
    assert not areas.geometry[0].contains(shapely.Point(*xy(5)))
    there = isochrones(drive, xy(2), [20 / 60], direction="from_origin", buffer_m=5.0)
    assert there.geometry[0].contains(shapely.Point(*xy(5)))  # 2 -> 5 is ~10 s


# ---- routes and the zones they cross ---------------------------------------------------------


def zones_around(node: int, half_m: float = 40.0) -> gpd.GeoDataFrame:
    x, y = xy(node)
    return gpd.GeoDataFrame(
        {"zone_id": ["Z1", "Z2"], "kind": ["no_go", "safe_area"],
         "reason": ["Rival group's street", "Safe area"]},
        geometry=[shapely.box(x - half_m, y - half_m, x + half_m, y + half_m),
                  shapely.box(x - half_m, y - half_m, x + half_m, y + half_m)],
        crs=BNG,
    )


def test_route_follows_the_one_way_detour(drive):
    line = route(drive, xy(8), xy(2))
    coords = shapely.get_coordinates(line.geometry)
    np.testing.assert_allclose(coords, [xy(8), xy(7), xy(4), xy(1), xy(2)], atol=1e-6)
    assert line.minutes * 60 == pytest.approx(metres(8, 7, 4, 1, 2) / DRIVE_MPS, rel=1e-9)
    assert line.length_m == pytest.approx(
        sum(math.dist(xy(a), xy(b)) for a, b in [(8, 7), (7, 4), (4, 1), (1, 2)]), rel=1e-9)


def test_route_starts_and_ends_part_way_along_streets(drive):
    (x4, y4), (x5, y5) = xy(4), xy(5)
    start = ((x4 + x5) / 2, (y4 + y5) / 2 + 3.0)
    (x7, y7), (x8, y8) = xy(7), xy(8)
    end = (x7 + 0.25 * (x8 - x7), y7 + 0.25 * (y8 - y7))
    line = route(drive, start, end).geometry
    coords = shapely.get_coordinates(line)
    # half of 4-5 west, 4 -> 7 north, a quarter of 7-8 east
    assert coords[0] == pytest.approx(((x4 + x5) / 2, (y4 + y5) / 2), abs=0.05)
    np.testing.assert_allclose(coords[1:-1], [xy(4), xy(7)], atol=1e-6)
    assert coords[-1] == pytest.approx(end, abs=1e-6)


def test_route_through_a_no_go_area_is_flagged_with_its_crossing_length(drive, walk):
    zones = zones_around(4)
    homes = gpd.GeoDataFrame({"candidate_id": ["C8", "C6"]},
                             geometry=[shapely.Point(xy(8)), shapely.Point(xy(6))], crs=BNG)
    by_car = check_routes(drive, xy(2), homes, zones, top_n=5)
    c8 = by_car.set_index("candidate_id").loc["C8"]
    # 8-7-4-1-2 runs 40 m into the box from the north and 40 m out to the south
    assert c8["crossing_m"] == pytest.approx(80.0, abs=0.01)
    assert c8["crosses_zone"]
    assert c8["zone_ids"] == "Z1"
    assert c8["zone_reasons"] == "Rival group's street"
    assert c8["minutes"] * 60 == pytest.approx(metres(8, 7, 4, 1, 2) / DRIVE_MPS, rel=1e-9)
    c6 = by_car.set_index("candidate_id").loc["C6"]  # 6-3-2 stays east
    assert not c6["crosses_zone"]
    assert c6["crossing_m"] == 0.0
    on_foot = check_routes(walk, xy(2), homes, zones).set_index("candidate_id")
    assert not on_foot.loc["C8", "crosses_zone"]  # walkers go straight down 8-5-2
    assert by_car.crs.to_epsg() == BNG
    assert list(by_car.columns) == ["candidate_id", "status", "minutes", "length_m",
                                    "crossing_m", "zone_ids", "zone_reasons", "crosses_zone",
                                    "geometry"]


def test_check_routes_takes_the_top_n_and_reports_points_off_the_network(drive):
    x, y = xy(8)
    homes = gpd.GeoDataFrame({"candidate_id": ["far", "C8", "C9"]},
                             geometry=[shapely.Point(x + 3000, y), shapely.Point(x, y),
                                       shapely.Point(*xy(9))], crs=BNG)
    out = check_routes(drive, xy(2), homes, None, top_n=2)
    assert list(out["candidate_id"]) == ["far", "C8"]
    assert list(out["status"]) == ["too_far_from_street", "ok"]
    assert out.geometry[0] is None
    assert out["crossing_m"][1] == 0.0


def test_school_to_home_routes_can_differ(drive):
    zones = zones_around(4)
    homes = gpd.GeoDataFrame({"candidate_id": ["C8"]}, geometry=[shapely.Point(xy(8))],
                             crs=BNG)
    out = check_routes(drive, xy(2), homes, zones, direction="from_origin")
    np.testing.assert_allclose(shapely.get_coordinates(out.geometry[0]),
                               [xy(2), xy(5), xy(8)], atol=1e-6)
    assert not out["crosses_zone"][0]


@pytest.mark.parametrize("direction", ["to_origin", "from_origin"])
def test_times_routes_and_isochrones_agree_for_random_points(drive, direction):
    rng = np.random.default_rng(8)
    x0, y0, x1, y1 = drive.bounds
    px, py = rng.uniform(x0, x1, 150), rng.uniform(y0, y1, 150)
    school = xy(5)
    times = travel_times(drive, school, px, py, direction=direction)
    homes = gpd.GeoDataFrame({"candidate_id": np.arange(150)}, geometry=shapely.points(px, py),
                             crs=BNG)
    routes = check_routes(drive, school, homes, None, top_n=150, direction=direction)
    ok = (times["status"] == "ok").to_numpy()
    assert ok.sum() > 100
    np.testing.assert_allclose(routes["minutes"][ok], times["minutes"][ok], rtol=1e-12)
    snapped = snap(drive, px, py)
    snapped_school = snap(drive, [school[0]], [school[1]])
    for i in np.flatnonzero(ok):
        coords = shapely.get_coordinates(routes.geometry[i])
        home_end, school_end = (0, -1) if direction == "to_origin" else (-1, 0)
        assert coords[home_end] == pytest.approx(
            (snapped["snap_x"][i], snapped["snap_y"][i]), abs=1e-6)
        assert coords[school_end] == pytest.approx(
            (snapped_school["snap_x"][0], snapped_school["snap_y"][0]), abs=1e-6)
    area = isochrone(drive, school, 0.5, direction=direction, buffer_m=1.0)
    within = ok & (times["minutes"] <= 0.5).to_numpy()
    assert within.sum() > 10
    assert shapely.contains_xy(area, snapped["snap_x"][within], snapped["snap_y"][within]).all()


def test_route_crossings_lists_each_zone_longest_first():
    line = shapely.LineString([(0, 0), (100, 0)])
    zones = gpd.GeoDataFrame({"zone_id": ["A", "B", "C"], "kind": ["exclusion"] * 3,
                              "reason": ["a", "b", "c"]},
                             geometry=[shapely.box(10, -5, 20, 5), shapely.box(40, -5, 70, 5),
                                       shapely.box(0, 50, 10, 60)], crs=BNG)
    out = route_crossings(line, zones)
    assert list(out["zone_id"]) == ["B", "A"]
    assert list(out["crossing_m"]) == pytest.approx([30.0, 10.0])
    with pytest.raises(InputError, match="zones need a 'zone_id' column"):
        route_crossings(line, zones.drop(columns="zone_id"))


def test_no_route_is_an_error(tmp_path):
    ways = [(1, [1, 2], {"highway": "residential", "oneway": "yes"}),
            (2, [2, 3], {"highway": "residential", "oneway": "yes"})]
    path = tmp_path / "line.osm"
    path.write_text(osm_xml({n: NODES[n] for n in (1, 2, 3)}, ways))
    graph = load_graph(path, mode="drive", use_cache=False)
    assert route(graph, xy(1), xy(3)).minutes > 0
    with pytest.raises(InputError, match=r"no drive route between these points in line\.osm"):
        route(graph, xy(3), xy(1))
    out = travel_times(graph, xy(1), [xy(3)[0]], [xy(3)[1]])
    assert out["status"][0] == "unreachable"


# ---- files, caching, GraphML, download -------------------------------------------------------


def test_prepared_graph_is_cached_and_reused(grid_osm, tmp_path, monkeypatch):
    calls = []
    real = ox.graph_from_xml

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ox, "graph_from_xml", counting)
    first = load_graph(grid_osm, mode="drive", speeds_kph=SPEEDS, cache_dir=tmp_path / "c")
    again = load_graph(grid_osm, mode="drive", speeds_kph=SPEEDS, cache_dir=tmp_path / "c")
    assert len(calls) == 1
    assert len(list((tmp_path / "c").glob("*-drive-*.graphml"))) == 1
    assert minutes_from(again, 2, 8, 10) == pytest.approx(minutes_from(first, 2, 8, 10),
                                                          rel=1e-12)
    load_graph(grid_osm, mode="drive", cache_dir=tmp_path / "c")  # other speeds
    assert len(calls) == 2
    grid_osm.write_text(osm_xml().replace("South Road", "Southern Road"))  # new content
    load_graph(grid_osm, mode="drive", speeds_kph=SPEEDS, cache_dir=tmp_path / "c")
    assert len(calls) == 3


def test_default_cache_is_in_the_data_folder(grid_osm, isolated_settings):
    load_graph(grid_osm, mode="walk")
    assert len(list((isolated_settings / "graphs").glob("*-walk-*.graphml"))) == 1


def test_damaged_cache_is_rebuilt(grid_osm, tmp_path):
    load_graph(grid_osm, mode="walk", cache_dir=tmp_path / "c")
    (cached,) = (tmp_path / "c").glob("*.graphml")
    cached.write_text("not a graph")
    graph = load_graph(grid_osm, mode="walk", cache_dir=tmp_path / "c")
    assert minutes_from(graph, 2, 8)[0] * 60 == pytest.approx(metres(8, 5, 2) / WALK_MPS,
                                                              rel=1e-9)


def test_graphml_round_trip_keeps_the_times(drive, tmp_path):
    path = save_graph(drive, tmp_path / "grid.graphml")
    again = load_graph(path, mode="drive", speeds_kph=SPEEDS)
    assert again.source == "grid.graphml"
    assert minutes_from(again, 2, 8, 10, 9) == pytest.approx(minutes_from(drive, 2, 8, 10, 9),
                                                             rel=1e-12)
    with pytest.raises(InputError, match=r"grid\.graphml was prepared for mode 'drive', "
                                         r"not 'walk'"):
        load_graph(path, mode="walk")
    with pytest.raises(InputError, match=r"grid\.txt: a street graph is saved as \.graphml"):
        save_graph(drive, tmp_path / "grid.txt")
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(InputError, match=r"grid\.graphml: cannot be written"):
        save_graph(drive, tmp_path / "taken" / "grid.graphml")


def test_a_failed_save_leaves_no_half_written_file(drive, tmp_path, monkeypatch):
    def disk_full(G, filepath):
        Path(filepath).write_text("<graphml>half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ox, "save_graphml", disk_full)
    with pytest.raises(InputError, match=r"out\.graphml: cannot be written \(No space left"):
        save_graph(drive, tmp_path / "out.graphml")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".graphml") == []


def test_graphml_from_plain_osmnx_is_filtered_and_timed(grid_osm, walk, tmp_path):
    raw = ox.graph_from_xml(grid_osm, simplify=True, retain_all=True)  # unfiltered, one-way
    path = tmp_path / "plain.graphml"
    ox.save_graphml(raw, path)
    graph = load_graph(path, mode="walk")
    assert set(graph.streets_gdf()["highway"]) == {"residential", "footway"}
    assert minutes_from(graph, 2, 8, 11, 10) == pytest.approx(minutes_from(walk, 2, 8, 11, 10),
                                                              rel=1e-9)


def test_compressed_osm_file_loads(tmp_path):
    path = tmp_path / "grid.osm.gz"
    path.write_bytes(gzip.compress(osm_xml().encode()))
    graph = load_graph(path, mode="walk", use_cache=False)
    assert minutes_from(graph, 2, 8)[0] * 60 == pytest.approx(metres(8, 5, 2) / WALK_MPS,
                                                              rel=1e-9)


def test_progress_is_reported_in_order(grid_osm):
    seen = []
    load_graph(grid_osm, mode="walk", use_cache=False, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0
    assert seen[-1] == (1.0, "ready")
    assert any("simplifying" in m for _, m in seen)


@pytest.mark.parametrize(("name", "content", "match"), [
    ("missing.osm", None, "missing.osm: no such file"),
    ("empty.osm", "", "empty.osm: the file is empty"),
    ("text.osm", "hello", r"text.osm: not an OpenStreetMap XML file \(no <osm> element"),
    ("cut.osm", '<?xml version="1.0"?>\n<osm version="0.6">\n<node id="1" lat="53',
     r"cut.osm: not a usable OpenStreetMap XML file \(line 3"),
    ("dtd.osm", '<?xml version="1.0"?>\n<!DOCTYPE osm [<!ENTITY x "y">]>\n<osm></osm>',
     "dtd.osm: XML with a DTD or entities is refused"),
    ("roads.txt", "x", "roads.txt: a street graph must be an OpenStreetMap XML file"),
    ("buildings.osm", osm_xml({n: NODES[n] for n in (20, 21, 22, 23)}, [WAYS[9]]),
     "buildings.osm: no streets that can be used when the mode is 'drive'"),
    ("footpaths.osm", osm_xml({n: NODES[n] for n in (3, 11)}, [WAYS[8]]),
     "footpaths.osm: no streets that can be used when the mode is 'drive'"),
    ("nodes.osm", '<osm version="0.6"></osm>', "nodes.osm: not a usable OpenStreetMap XML"),
    ("bad.graphml", "<graphml><oops", "bad.graphml: not a usable GraphML street graph"),
])
def test_unusable_files_are_refused_with_the_file_name(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=match):
        load_graph(path, mode="drive", cache_dir=tmp_path / "c")


def test_download_is_refused_unless_an_administrator_allows_it(monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("osmnx was asked to download")

    monkeypatch.setattr(ox, "graph_from_bbox", must_not_run)
    with pytest.raises(GeoError, match="downloading a street graph is turned off: it would "
                                       "send the study area to a third party") as info:
        fetch_graph((380_000, 395_000, 381_000, 396_000), mode="drive",
                    settings=Settings.from_env())
    assert "SAFEPLAN_ALLOW_OSM_DOWNLOAD=true" in str(info.value)


def test_allowed_download_goes_through_osmnx_and_the_same_preparation(grid_osm, monkeypatch,
                                                                      tmp_path):
    asked = {}

    def fake_bbox(bbox, **kwargs):
        asked.update(bbox=bbox, **kwargs)
        return ox.graph_from_xml(grid_osm, simplify=False, retain_all=True)

    monkeypatch.setattr(ox, "graph_from_bbox", fake_bbox)
    for name in ("cache_folder", "use_cache", "log_console"):  # restored after the test
        monkeypatch.setattr(ox.settings, name, getattr(ox.settings, name))
    settings = Settings.from_env({"SAFEPLAN_ALLOW_OSM_DOWNLOAD": "true",
                                  "SAFEPLAN_DATA_DIR": str(tmp_path)})
    x, y = xy(5)
    graph = fetch_graph((x - 500, y - 500, x + 500, y + 500), mode="drive", settings=settings,
                        speeds_kph=SPEEDS)
    west, south, east, north = asked["bbox"]
    assert west < LON0 < COLS[2] < east
    assert south < LAT0 < ROWS[2] < north
    assert asked["network_type"] == "drive_service"
    assert ox.settings.cache_folder == str(tmp_path / "osmnx-cache")
    assert minutes_from(graph, 2, 8)[0] * 60 == pytest.approx(
        metres(8, 7, 4, 1, 2) / DRIVE_MPS, rel=1e-9)


def test_failed_download_is_one_clear_error(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(ox, "graph_from_bbox", offline)
    for name in ("cache_folder", "use_cache", "log_console"):
        monkeypatch.setattr(ox.settings, name, getattr(ox.settings, name))
    settings = Settings.from_env({"SAFEPLAN_ALLOW_OSM_DOWNLOAD": "1",
                                  "SAFEPLAN_DATA_DIR": str(tmp_path)})
    with pytest.raises(GeoError, match="downloading the street graph failed: ConnectionError"):
        fetch_graph((380_000, 395_000, 381_000, 396_000), mode="walk", settings=settings)
    with pytest.raises(InputError, match=r"bounds must be \(x_min, y_min, x_max, y_max\)"):
        fetch_graph((381_000, 395_000, 380_000, 396_000), mode="walk", settings=settings)


def test_coverage_is_where_points_snap(walk):
    area = walk.coverage(buffer_m=100.0)
    rng = np.random.default_rng(5)
    x0, y0, x1, y1 = walk.bounds
    px, py = rng.uniform(x0 - 200, x1 + 200, 300), rng.uniform(y0 - 200, y1 + 200, 300)
    d = snap(walk, px, py)["snap_m"].to_numpy()
    inside = shapely.contains_xy(area, px, py)
    # drawn from lines simplified by 5 m, with arcs as chords (2 m at 100 m)
    assert inside[d < 93].all()
    assert not inside[d > 105].any()
    assert walk.coverage(buffer_m=100.0) is area  # cached


def test_streets_layer_has_times_both_ways(drive):
    streets = drive.streets_gdf()
    assert streets.crs.to_epsg() == BNG
    one_way = streets[streets["minutes_forward"].isna() | streets["minutes_backward"].isna()]
    # One Way Street's two blocks and the motorway
    assert len(one_way) == 3
    assert streets["minutes_forward"].notna().sum() + streets["minutes_backward"].notna().sum() \
        == 2 * len(streets) - 3


def test_a_graph_must_be_projected_and_timed():
    G = nx.MultiDiGraph(crs="EPSG:4326")
    G.add_node(1, x=-2.3, y=53.45)
    G.add_node(2, x=-2.29, y=53.45)
    G.add_edge(1, 2, length=10.0, travel_time=1.0)
    with pytest.raises(InputError, match="must be projected to EPSG:27700"):
        StreetGraph(G, mode="walk", source="toy")
    G.graph["crs"] = "EPSG:27700"
    G.edges[1, 2, 0]["travel_time"] = float("nan")
    with pytest.raises(InputError, match="toy: some edges have no travel time"):
        StreetGraph(G, mode="walk", source="toy")


# ---- the real extract ------------------------------------------------------------------------


@pytest.fixture
def stretford(shared_data):
    return shared_data / "osm" / "stretford_kingsway_junction.osm"


def test_real_extract_keeps_only_the_streets_each_mode_uses(stretford, tmp_path):
    drive = load_graph(stretford, mode="drive", cache_dir=tmp_path)
    walk = load_graph(stretford, mode="walk", cache_dir=tmp_path)
    assert set(drive.streets_gdf()["highway"]) == {
        "trunk", "trunk_link", "primary", "primary_link", "unclassified", "residential",
        "service"}
    assert {"footway", "cycleway", "steps", "path"} <= set(walk.streets_gdf()["highway"])
    for graph in (drive, walk):
        for _, _, data in graph.G.edges(data=True):
            assert "building" not in data
            assert "railway" not in data
            assert way_allowed(data, graph.mode)
    assert not any(d.get("foot") == "no" for _, _, d in walk.G.edges(data=True))
    assert walk.n_nodes > drive.n_nodes
    x0, y0, x1, y1 = drive.bounds
    assert 378_000 < x0 < x1 < 381_000
    assert 393_000 < y0 < y1 < 395_000


@pytest.mark.parametrize("mode", ["drive", "walk"])
def test_real_extract_times_agree_with_networkx(stretford, tmp_path, mode):
    graph = load_graph(stretford, mode=mode, cache_dir=tmp_path)
    rng = np.random.default_rng(0)
    for origin in rng.choice(graph.n_nodes, 6, replace=False):
        out = travel_times(graph, (graph.x[origin], graph.y[origin]), graph.x, graph.y)
        expected = nx.single_source_dijkstra_path_length(
            graph.G.reverse(copy=False), graph.node_ids[origin], weight="travel_time")
        seconds = out["minutes"].to_numpy() * 60
        for i, node in enumerate(graph.node_ids):
            if node in expected:
                assert seconds[i] == pytest.approx(expected[node], abs=1e-6)
            else:
                assert out["status"][i] == "unreachable"
        sample = rng.choice(graph.n_nodes, 5, replace=False)
        for i in sample:
            node = graph.node_ids[i]
            if node in expected:
                assert seconds[i] == pytest.approx(nx.shortest_path_length(
                    graph.G, node, graph.node_ids[origin], weight="travel_time"), abs=1e-6)


def test_real_extract_distances_agree_with_networkx(stretford, tmp_path):
    graph = load_graph(stretford, mode="drive", cache_dir=tmp_path)
    pairs = 0
    for origin in range(graph.n_nodes):  # every node to every node, school to home
        out = network_distances(graph, (graph.x[origin], graph.y[origin]), graph.x, graph.y,
                                direction="from_origin")
        expected = nx.single_source_dijkstra_path_length(graph.G, graph.node_ids[origin],
                                                         weight="length")
        got = out["distance_m"].to_numpy()
        for i, node in enumerate(graph.node_ids):
            if node in expected:
                pairs += 1
                assert got[i] == pytest.approx(expected[node], abs=1e-6)
            else:
                assert np.isnan(got[i])
    assert pairs > 500


def test_real_extract_routes_match_networkx_paths(stretford, tmp_path):
    graph = load_graph(stretford, mode="walk", cache_dir=tmp_path)
    rng = np.random.default_rng(1)
    for a, b in rng.choice(graph.n_nodes, (5, 2), replace=False):
        got = route(graph, (graph.x[a], graph.y[a]), (graph.x[b], graph.y[b]))
        seconds = nx.shortest_path_length(graph.G, graph.node_ids[a], graph.node_ids[b],
                                          weight="travel_time")
        assert got.minutes * 60 == pytest.approx(seconds, abs=1e-6)
        assert shapely.get_coordinates(got.geometry)[0] == pytest.approx(
            (graph.x[a], graph.y[a]), abs=1e-6)
        assert shapely.get_coordinates(got.geometry)[-1] == pytest.approx(
            (graph.x[b], graph.y[b]), abs=1e-6)


def test_travel_time_frame_columns(walk):
    out = travel_times(walk, xy(5), [xy(1)[0]], [xy(1)[1]])
    assert list(out.columns) == ["minutes", "snap_m", "reachable", "status", "origin"]
    assert out.dtypes["reachable"] == np.dtype(bool)
    assert isinstance(out, pd.DataFrame)
    assert network.DEFAULT_MAX_SNAP_M == 250.0
    assert set(MODE_RULES) == {"drive", "walk"}


def test_no_targets_give_empty_results(drive):
    out = travel_times(drive, xy(2), [], [])
    assert len(out) == 0
    assert list(out.columns) == ["minutes", "snap_m", "reachable", "status", "origin"]
    none = gpd.GeoDataFrame({"candidate_id": []}, geometry=[], crs=BNG)
    routes = check_routes(drive, xy(2), none, zones_around(4))
    assert len(routes) == 0
    assert routes.crs.to_epsg() == BNG

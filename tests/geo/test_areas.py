"""Safe housing areas: the case's rules on a grid, merged into named areas clear of zones."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.areas import (
    AREA_COLUMNS,
    MIN_SECTOR_OVERLAP_M2,
    areas_from_surface,
    grid_cells,
    grid_surface,
    safe_areas,
    study_region,
)
from geo.demo import AS_OF, build_demo_case
from geo.errors import InputError, PolicyError
from geo.geocode import sector_outlines
from geo.model import validate_case
from geo.rank import assess, judge
from geo.settings import Policy
from geo.sources import household, threat_sources
from geo.zones import exclusion_zones
from tests.geo.conftest import NOW

POLICY = Policy.default()
GM_FILE = "boundaries/gm_local_authority_2023_generalised.geojson"


@pytest.fixture(scope="module")
def demo():
    return build_demo_case()


@pytest.fixture
def zoned_case(tiny_layers):
    """The tiny case with a drawn exclusion zone, a no-go area for the household (P2, P3)
    and a no-go area for someone else (P4)."""
    tiny_layers["zones"] = gpd.GeoDataFrame(
        {"zone_id": ["Z1", "Z2", "Z3"], "kind": ["exclusion", "no_go", "no_go"],
         "reason": ["Drawn: estate", "Drawn: market", "For the rival only"],
         "applies_to": [None, "P3", "P4"], "source": ["drawn"] * 3},
        geometry=[shapely.box(388_000, 392_000, 390_000, 393_500),
                  shapely.Point(386_000, 398_500).buffer(600),
                  shapely.box(392_500, 392_500, 394_000, 394_000)],
        crs=27700)
    return validate_case(tiny_layers, now=NOW).raise_if_fatal()


def policy_with(**areas) -> Policy:
    return POLICY.with_overrides({"areas": areas}, origin="test")


def zones_for_household(case, policy, people=None):
    """Every zone that excludes a home for the household: derived ones and its own."""
    derived = exclusion_zones(case, policy, as_of=NOW, include_case_zones=False)
    own = household(case, people).zones
    return list(derived.geometry) + list(own.geometry)


# --- the grid ------------------------------------------------------------------------------


def test_grid_cells_are_aligned_and_only_inside_the_region():
    region = shapely.Polygon([(1_000, 1_000), (2_100, 1_000), (1_000, 2_100)])
    row, col, origin, shape = grid_cells(region, 250.0)
    assert origin == (1_000.0, 1_000.0)
    assert shape == (5, 5)
    x = origin[0] + (col + 0.5) * 250
    y = origin[1] + (row + 0.5) * 250
    assert shapely.contains_xy(region, x, y).all()
    # the triangle holds 10 centres: (1125..2125) with x + y < 3100
    assert len(row) == 10


def test_a_huge_region_is_refused_by_name():
    big = gpd.GeoDataFrame({"name": ["Britain"]},
                           geometry=[shapely.box(0, 0, 700_000, 1_200_000)], crs=27700)
    with pytest.raises(InputError, match=r"would need [\d,]+ cells of 250 m; use larger cells"):
        grid_surface(validate_case({}).case, POLICY, within=big)


def test_the_default_region_is_the_features_plus_the_margin(tiny_case):
    region = study_region(tiny_case, policy_with(margin_m=1000))
    # features span x 380,000..395,000 and y 390,000..402,000 (candidate C2 and area AR3)
    assert shapely.bounds(region.geometry).tolist() == [379_000, 389_000, 396_000, 403_000]
    assert region.name == "the case's features plus 1 km"


def test_an_unknown_boundary_lists_the_known_ones(tiny_layers):
    tiny_layers["boundaries"] = gpd.GeoDataFrame(
        {"name": ["Hulme", "Ardwick"]},
        geometry=[shapely.box(380_000, 394_000, 383_000, 397_000),
                  shapely.box(385_000, 396_000, 388_000, 399_000)], crs=27700)
    case = validate_case(tiny_layers, now=NOW).raise_if_fatal()
    with pytest.raises(InputError, match=re.escape(
            "--within 'Moss Side': neither a boundary of the case (known: Ardwick, Hulme)")):
        study_region(case, POLICY, within="Moss Side")
    region = study_region(case, POLICY, within="hulme")
    assert region.name == "Hulme"
    assert region.geometry.area == pytest.approx(9e6)


def test_a_case_with_nothing_on_the_map_needs_a_boundary():
    with pytest.raises(InputError, match="search within a boundary"):
        study_region(validate_case({}).case, POLICY)


@pytest.mark.parametrize(
    ("areas", "message"),
    [({"cell_m": 10}, "'areas.cell_m' must be between 50 and 2000 metres, got 10"),
     ({"max_areas": 2.5}, "'areas.max_areas' must be a whole number, got 2.5"),
     ({"min_area_km2": -1}, "'areas.min_area_km2' must be between 0 and 10000 square "
                            "kilometres, got -1"),
     ({"min_score": 101}, "'areas.min_score' must be between 0 and 100, got 101")],
)
def test_area_settings_are_checked_by_name(areas, message):
    with pytest.raises(PolicyError, match=re.escape(message)):
        policy_with(**areas)


def test_each_cell_is_judged_exactly_as_a_candidate_at_its_centre(tiny_case):
    surface = grid_surface(tiny_case, POLICY, as_of=NOW)
    pick = np.arange(0, len(surface.row), 97)
    points = gpd.GeoDataFrame({"candidate_id": [f"c{i}" for i in pick], "label": "x"},
                              geometry=shapely.points(surface.x[pick], surface.y[pick]),
                              crs=27700)
    a = assess(points, threat_sources(tiny_case, POLICY, as_of=NOW), household(tiny_case),
               POLICY)
    j = judge(a)
    assert (j.eligible == surface.judgement.eligible[pick]).all()
    assert j.score == pytest.approx(surface.judgement.score[pick])
    assert a.threat == pytest.approx(surface.assessment.threat[pick])


# --- areas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cell_m", [200, 250, 333])
def test_safe_areas_never_intersect_an_exclusion_zone(zoned_case, cell_m):
    policy = policy_with(cell_m=cell_m, min_score=0, min_area_km2=0.2)
    found = safe_areas(zoned_case, policy, as_of=NOW)
    assert len(found) >= 2
    for zone in zones_for_household(zoned_case, policy):
        assert not found.geometry.intersects(zone).any()


def test_a_no_go_area_for_someone_else_does_not_block_the_household(zoned_case):
    policy = policy_with(min_score=0, min_area_km2=0.2, max_areas=100)
    found = safe_areas(zoned_case, policy, as_of=NOW)
    rival_only = zoned_case["zones"].set_index("zone_id").loc["Z3"].geometry
    assert found.geometry.intersects(rival_only).any()


def test_every_cell_inside_an_area_is_eligible_and_scores_enough(zoned_case):
    policy = policy_with(min_score=60, min_area_km2=0.2)
    surface = grid_surface(zoned_case, policy, as_of=NOW)
    found = areas_from_surface(surface)
    assert len(found)
    j = surface.judgement
    for area in found.geometry:
        inside = shapely.contains_xy(area, surface.x, surface.y)
        assert inside.any()
        assert j.eligible[inside].all()
        assert (j.score[inside] >= 60).all()


def test_areas_are_ranked_by_mean_score_and_keep_the_contract(zoned_case):
    policy = policy_with(min_score=0, min_area_km2=0.2, max_areas=3)
    found = safe_areas(zoned_case, policy, as_of=NOW)
    assert list(found.columns[:7]) == AREA_COLUMNS
    assert found["rank"].tolist() == list(range(1, len(found) + 1))
    assert len(found) <= 3
    assert found["area_id"].tolist() == [f"S{i:02d}" for i in range(1, len(found) + 1)]
    assert (np.diff(found["score"].to_numpy()) <= 0).all()
    assert (found["area_km2"] >= 0.2).all()
    assert found["area_km2"].to_numpy() == pytest.approx(found.geometry.area / 1e6, abs=0.01)


def test_slivers_below_the_minimum_size_are_dropped(zoned_case):
    small = safe_areas(zoned_case, policy_with(min_score=0, min_area_km2=0.1, max_areas=100),
                       as_of=NOW)
    large = safe_areas(zoned_case, policy_with(min_score=0, min_area_km2=5, max_areas=100),
                       as_of=NOW)
    assert (large["area_km2"] >= 5).all()
    assert len(large) < len(small)


def test_the_reasons_say_why_and_what_limits_with_exact_distances(zoned_case):
    policy = policy_with(min_score=0, min_area_km2=0.2, max_areas=100)
    found = safe_areas(zoned_case, policy, as_of=NOW)
    sources = threat_sources(zoned_case, policy, as_of=NOW)
    for row in found.itertuples():
        exact = shapely.distance(row.geometry, sources.geometry.to_numpy()).min()
        assert row.nearest_threat_m == pytest.approx(exact, abs=0.1)
        assert row.reasons.startswith("Suggested: threat ")
        assert " min to School (estimated)" in row.reasons
        assert "Limited by: " in row.reasons
    # the school limit (45 min, about 12.9 km in a straight line) bounds the areas
    limited = found[found["limits"].str.contains("school run up to")]
    assert len(limited)
    assert (limited["school_min_max"] <= 45.5).all()


def test_an_area_next_to_a_zone_says_so(zoned_case):
    policy = policy_with(min_score=0, min_area_km2=0.2, max_areas=100)
    found = safe_areas(zoned_case, policy, as_of=NOW)
    estate = zoned_case["zones"].set_index("zone_id").loc["Z1"].geometry
    beside = found[found.geometry.distance(estate) < 50]
    assert len(beside)
    assert beside["limits"].str.contains(r"next to exclusion zones? .*Z1 \(Drawn: estate\)").all()


def test_no_area_qualifies_gives_an_empty_table_with_the_columns(tiny_case):
    found = safe_areas(tiny_case, policy_with(min_score=100), as_of=NOW)
    assert len(found) == 0
    assert list(found.columns[:7]) == AREA_COLUMNS


# --- names ---------------------------------------------------------------------------------


def test_named_sectors_really_intersect_their_area(demo):
    found = safe_areas(demo, POLICY, as_of=AS_OF)
    sectors = sector_outlines(tuple(found.total_bounds), margin_m=0.0).set_index("sector")
    for row in found.itertuples():
        named = row.postcode_sectors.split(", ")
        assert named
        assert named[0]
        overlap = [sectors.loc[s].geometry.intersection(row.geometry).area for s in named]
        assert min(overlap) >= MIN_SECTOR_OVERLAP_M2
        assert overlap == sorted(overlap, reverse=True)  # most covered first
        # the name leads with the main district and lists sectors from the same list
        district = row.name.split(":")[0].split(" / ")[0].split(", ")[0]
        assert district in row.postcode_districts.split(", ")
        assert row.name.split("sectors ")[-1].startswith(", ".join(named[:2]))


def test_demo_shows_three_named_safe_areas_with_reasons(demo):
    """Done when: a strategy meeting can be shown three named safe areas with reasons."""
    found = safe_areas(demo, POLICY, as_of=AS_OF)
    assert len(found) >= 3
    top = found.head(3)
    for row in top.itertuples():
        assert re.match(r"^[A-Z]{1,2}\d{1,2}[A-Z]?(, [A-Z0-9]+)*: sectors? [A-Z0-9 ,]+", row.name)
        assert "School run" not in row.reasons  # lower case inside the sentence
        assert "school run " in row.reasons
        assert "Hollinvale Primary School" in row.reasons
        assert "from the nearest threat" in row.reasons
    # clear of every zone that excludes a home for the household at the temporary address
    for zone in zones_for_household(demo, POLICY):
        assert not found.geometry.intersects(zone).any()
    assert len(set(found["name"])) == len(found)


def test_areas_are_named_by_imported_boundaries(demo, shared_data):
    boundaries = gpd.read_file(shared_data / GM_FILE)
    case = demo.replace(boundaries=gpd.GeoDataFrame(
        {"name": boundaries["area_name"], "code": boundaries["area_code"]},
        geometry=boundaries.geometry, crs=boundaries.crs).to_crs(27700))
    found = safe_areas(case, POLICY, as_of=AS_OF, within="Bury")
    assert len(found)
    bury = case["boundaries"].set_index("name").loc["Bury"].geometry
    for row in found.itertuples():
        assert row.geometry.difference(bury).area < 1.0
        assert " / Bury" in row.name
        assert row.boundaries.split(", ")[0] == "Bury"
    assert found["limits"].str.contains(r"the edge of the study region \(Bury\)").any()


def test_a_boundary_file_sets_the_region_and_names(demo, shared_data):
    found = safe_areas(demo, POLICY, as_of=AS_OF, within=shared_data / GM_FILE)
    assert len(found) >= 3
    names = {"Bolton", "Bury", "Manchester", "Oldham", "Rochdale", "Salford", "Stockport",
             "Tameside", "Trafford", "Wigan"}
    for row in found.itertuples():
        assert set(row.boundaries.split(", ")) <= names
        assert row.name.split(" / ")[1].split(":")[0] in names


def test_big_areas_are_split_by_postcode_district(zoned_case):
    whole = safe_areas(zoned_case, policy_with(min_score=0, max_area_km2=10_000,
                                               max_areas=100), as_of=NOW)
    split = safe_areas(zoned_case, policy_with(min_score=0, max_area_km2=10, max_areas=100),
                       as_of=NOW)
    assert whole["area_km2"].max() > 10
    assert len(split) > len(whole)
    assert split["limits"].str.contains("continues into the next postcode district").any()
    # splitting never adds ground
    assert split.union_all().area <= whole.union_all().area + 1.0


def test_cells_table_for_a_map(tiny_case):
    surface = grid_surface(tiny_case, POLICY, as_of=NOW)
    cells = surface.cells()
    assert len(cells) == len(surface.row)
    assert cells.geometry.area.to_numpy() == pytest.approx(250.0**2)
    assert pd.Series(cells["cell_id"]).is_unique


# --- the command ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    from geo.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo"))


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".kml"])
def test_safeplan_areas_writes_files_that_gis_opens(demo_file, tmp_path, capsys, suffix):
    import pyogrio

    from geo.cli import main

    out = tmp_path / f"areas{suffix}"
    code = main(["areas", str(demo_file), "--out", str(out), "--as-of", "2026-11-25"])
    printed = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^[\d,]+ cells of 250 m over the case's features plus 2 km: ", printed)
    assert re.search(r"^S01  score +\d+\.\d +\d+\.\d+ km2  M\d+", printed, re.M)
    back = pyogrio.read_dataframe(out)
    assert len(back) >= 3
    if suffix == ".kml":  # LIBKML's own fields come first; ``name`` names the placemark
        assert set(AREA_COLUMNS) - {"name"} <= set(back.columns)
        assert back["Name"].str.match(r"^[A-Z]{1,2}\d+").all()
    else:
        assert list(back.columns[:7]) == AREA_COLUMNS
    assert back.crs.to_epsg() == (27700 if suffix == ".gpkg" else 4326)


def test_safeplan_areas_for_another_household(demo_file, tmp_path, capsys):
    from geo.cli import main

    out = tmp_path / "areas.geojson"
    assert main(["areas", str(demo_file), "--out", str(out), "--for", "P05,P06,P07",
                 "--as-of", "2026-11-25"]) == 0
    back = gpd.read_file(out)
    assert back["reasons"].str.contains("Crossacres Academy").all()


def test_safeplan_areas_unknown_boundary_is_one_line_and_exit_2(demo_file, tmp_path, capsys):
    from geo.cli import main

    code = main(["areas", str(demo_file), "--out", str(tmp_path / "a.geojson"),
                 "--within", "Atlantis"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["safeplan areas: --within 'Atlantis': neither a boundary of the case "
                   "(known: none) nor a boundary file (.geojson, .gpkg, .kml)"]

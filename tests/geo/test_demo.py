"""The fictional demo case: deterministic, complete, and telling the story it claims."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from geo.demo import N_CANDIDATES, build_demo_case


@pytest.fixture(scope="module")
def demo():
    return build_demo_case()


def test_the_demo_is_the_same_every_time(demo):
    again = build_demo_case()
    for name in demo:
        pd.testing.assert_frame_equal(pd.DataFrame(demo[name]), pd.DataFrame(again[name]))


def test_people_and_roles(demo):
    roles = demo["people"].set_index("person_id")["role"]
    assert roles["P01"] == "subject"
    assert roles["P02"] == "partner"
    assert roles["P05"] == "former_partner"
    assert (roles == "child").sum() == 4
    assert (roles == "rival").sum() == 2
    assert demo.classification == "OFFICIAL-SENSITIVE"


def test_two_rival_groups_north_and_south(demo):
    areas = demo["activity_areas"]
    north = areas[areas.group_id == "G-KES"].geometry.centroid.y.mean()
    south = areas[areas.group_id == "G-HER"].geometry.centroid.y.mean()
    assert north > south + 4_000  # Harpurhey is several km north of Moss Side


def test_the_shooting_is_at_the_subjects_home_and_the_former_home_is_close(demo):
    inc = demo["incidents"].set_index("incident_id").loc["INC-001"]
    addr = demo["addresses"].set_index("address_id")
    assert inc.kind == "shooting"
    assert inc.target_address_id == "A01"
    assert inc.geometry.distance(addr.loc["A01"].geometry) == 0
    assert addr.loc["A02"].kind == "former_home"
    assert addr.loc["A02"].geometry.distance(addr.loc["A01"].geometry) < 1_000
    links = demo["links"]
    children_of_former = links[(links.address_id == "A02") & links.person_id.isin(["P06", "P07"])]
    assert len(children_of_former) == 2


def test_assaults_and_shots_at_associates_homes_on_both_sides(demo):
    inc = demo["incidents"]
    shots = inc[inc.kind.isin(["shooting", "firearm_discharge"])]
    assert set(shots.group_id) == {"G-KES", "G-HER"}
    assert (inc.kind == "assault").sum() >= 3


def test_candidates_spread_across_greater_manchester(demo, shared_data):
    cands = demo["candidates"]
    assert len(cands) == N_CANDIDATES >= 300
    assert cands["candidate_id"].is_unique
    las = gpd.read_file(shared_data / "boundaries" / "gm_local_authority_2023_generalised.geojson")
    gm = las.to_crs(27700).union_all()
    distance = cands.geometry.distance(gm)
    assert (distance <= 500).mean() > 0.97  # the boundaries are generalised
    assert distance.max() < 3_000
    # spread over at least eight of the ten boroughs
    boroughs = gpd.sjoin(cands, las.to_crs(27700), predicate="within")["area_name"]
    assert boroughs.nunique() >= 8
    districts = cands["postcode"].str.split(" ").str[0].str.extract(r"^([A-Z]+)")[0]
    assert set(districts) >= {"M", "OL", "BL", "SK", "WN"}


def test_support_is_in_another_part_of_greater_manchester(demo):
    addr = demo["addresses"]
    support = addr[addr.kind == "support"]
    home = addr[addr.address_id == "A01"].geometry.iloc[0]
    assert len(support) == 2
    assert (support.geometry.distance(home) > 8_000).all()

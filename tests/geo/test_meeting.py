"""The meeting view never shows where a relocated family lives or may live, nor a name.

The family (P2, P3) has moved to a temporary placement A4. A second record of the same block
(A5), a threat made at the placement (I4, aimed at it; I5, 120 m away), a no-go zone drawn
tight around it (Z3), the child's school (A2) and the partner's sister (A6, support) all say
where they are; every candidate is a place they may move to.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.demo import AS_OF, build_demo_case
from geo.maps import case_map
from geo.meeting import RADIUS_M, meeting_case, role_labels
from geo.model import LAYERS, validate_case
from geo.rank import assess_case, rank
from geo.sources import policy_for_case
from geo.zones import exclusion_zones
from tests.geo.conftest import NOW

PLACEMENT = (390_000.0, 405_000.0)


@pytest.fixture
def moved_case(tiny_layers):
    layers = dict(tiny_layers)
    layers["people"] = pd.concat([layers["people"], pd.DataFrame({
        "person_id": ["P5"], "label": ["Val Subject"], "role": ["relative"],
        "notes": ["the subject's mother, Pat Partner's ally"]})], ignore_index=True)
    layers["groups"] = layers["groups"].assign(notes=["Sam Subject runs it", None])
    x, y = PLACEMENT
    extra = gpd.GeoDataFrame(
        {"address_id": ["A4", "A5", "A6", "A7"],
         "label": ["Placement, Linden Court", "Linden Court, flat 9 (same block)",
                   "Pat's sister Jo", "Val Subject's house"],
         "kind": ["temporary", "associate", "support", "family"],
         "postcode": ["BL1 1RF", None, "WN3 4HE", None],
         "known_to_rivals": [False, False, False, True], "status": ["current"] * 4},
        geometry=[shapely.Point(x, y), shapely.Point(x + 50, y),
                  shapely.Point(360_000, 405_000), shapely.Point(386_000, 400_000)],
        crs=27700)
    layers["addresses"] = pd.concat([layers["addresses"], extra], ignore_index=True)
    layers["links"] = pd.concat([layers["links"], pd.DataFrame({
        "person_id": ["P2", "P3", "P2", "P5"], "address_id": ["A4", "A4", "A6", "A7"],
        "relation": ["resides", "resides", "supports", "resides"]})], ignore_index=True)
    incidents = gpd.GeoDataFrame(
        {"incident_id": ["I4", "I5"], "occurred_at": ["2026-11-22", "2026-11-23"],
         "kind": ["threat", "other"], "group_id": ["GB", "GB"], "target_address_id": ["A4", None],
         "description": ["Rex Rival asked for Pat Partner at the door", "car seen"],
         "confidence": ["high", "low"]},
        geometry=[shapely.Point(x, y), shapely.Point(x + 120, y)], crs=27700)
    layers["incidents"] = pd.concat([layers["incidents"], incidents], ignore_index=True)
    layers["zones"] = gpd.GeoDataFrame(
        {"zone_id": ["Z1", "Z3"], "kind": ["no_go", "safe_area"],
         "reason": ["Bravo's pub: Kit Child's friends", "Kept quiet: where Pat Partner lives"],
         "applies_to": ["P2,P3", None], "source": ["drawn", "drawn"]},
        geometry=[shapely.box(381_000, 394_000, 381_500, 394_500),
                  shapely.Point(x, y).buffer(150)], crs=27700)
    layers["activity_areas"] = layers["activity_areas"].assign(
        source=["Source Rex Rival", "patrols", "Sam Subject's phone"])
    layers["case"] = layers["case"].assign(title=["Move of Pat Partner and Kit"])
    layers["candidates"] = layers["candidates"].assign(
        notes=["landlord knows Sam", None, None])
    return validate_case(layers, now=NOW).raise_if_fatal()


NAMES = ["Sam Subject", "Pat Partner", "Kit Child", "Rex Rival", "Val Subject"]


def text_cells(case) -> list[str]:
    cells = []
    for name, frame in case.items():
        for col in frame.columns:
            if col == "geometry":
                continue
            cells.extend(str(v) for v in frame[col].dropna() if isinstance(v, str))
        cells.append(name)
    return cells


def assert_no_names(cells, names=NAMES) -> None:
    parts = {p for n in names for p in n.split() if len(p) >= 3}
    parts -= {"Subject", "Partner", "Child", "Rival"}  # role words: the labels themselves
    for cell in cells:
        for part in parts:
            assert not re.search(rf"(?<!\w){part}(?!\w)", cell, re.IGNORECASE), (part, cell)
        for name in names:
            assert name.lower() not in cell.lower(), (name, cell)


def test_people_are_shown_by_role_not_name(moved_case):
    meeting = meeting_case(moved_case)
    people = meeting.case["people"]
    assert people["label"].tolist() == ["Subject", "Partner", "Child", "Rival", "Relative"]
    assert people["person_id"].tolist() == ["P1", "P2", "P3", "P4", "P5"]
    assert people["notes"].isna().all()
    assert_no_names(text_cells(meeting.case))
    assert_no_names(text_cells(meeting.analysis_case))


def test_names_inside_free_text_become_roles(moved_case):
    meeting = meeting_case(moved_case)
    zones = meeting.case["zones"].set_index("zone_id")
    assert zones.loc["Z1", "reason"] == "Bravo's pub: Child's friends"
    assert meeting.case["case"]["title"].iloc[0] == "Move of Partner and Child"
    # "Subject" is the surname of two people: whose it is cannot be said, so it is hidden
    addresses = meeting.case["addresses"].set_index("address_id")
    assert addresses.loc["A7", "label"] == "Relative's house"


def test_names_and_places_are_found_however_they_are_written():
    from geo.meeting import NAME_WITHHELD, PLACE_WITHHELD, Scrubber

    people = pd.DataFrame({"person_id": ["P1", "P2", "P3", "P4"],
                           "label": ["Sean O'Neill", "Zoë Ashdown-Smith", "Al Brenwick",
                                     "Ruby Brenwick"],
                           "role": ["subject", "partner", "relative", "child"]})
    scrub = Scrubber.for_case(people, role_labels(people),
                              ["Placement, 14 Deane Road, Bolton", "Hollinvale Primary School",
                               "BL1 1RF"])
    text = ("O’Neill met Zoe and Smith; the Brenwicks and Al were seen at 14  Deane Road "
            "near Hollinvale Primary, bl1\u00a01rf")
    out = scrub(text)
    for word in ("Neill", "Zoe", "Smith", "Brenwick", " Al ", "Deane", "Hollinvale", "1RF",
                 "1rf"):
        assert word not in out, (word, out)
    assert out.startswith("Subject met Partner and Partner; the " + NAME_WITHHELD + "s and "
                          "Relative were seen at " + PLACE_WITHHELD)


def test_role_labels_number_a_role_held_by_several():
    people = pd.DataFrame({"person_id": ["a", "b", "c", "d"],
                           "role": ["child", "partner", "child", "former_partner"]})
    assert role_labels(people) == {"a": "Child 1", "b": "Partner", "c": "Child 2",
                                   "d": "Former partner"}


def test_no_relocated_address_survives_in_any_layer(moved_case):
    meeting = meeting_case(moved_case)
    assert meeting.household == ("P2", "P3")
    shown = meeting.case
    protected = {"A4", "A5", "A2", "A6"}  # placement, same block, school, support
    assert set(shown["addresses"]["address_id"]) == {"A1", "A3", "A7"}
    assert not protected & set(shown["links"]["address_id"])
    assert shown["incidents"]["incident_id"].tolist() == ["I1", "I2", "I3"]
    assert shown["zones"]["zone_id"].tolist() == ["Z1"]
    assert len(shown["candidates"]) == 0
    assert meeting.withheld == {"addresses": 4, "incidents": 2, "links": 4, "candidates": 3,
                                "zones": 1, "activity_areas": 0, "policy": 0}
    # by label, postcode or coordinates, in any layer
    cells = " | ".join(text_cells(shown) + text_cells(meeting.analysis_case)).lower()
    for word in ("linden", "bl1 1rf", "bl11rf", "wn3 4he", "jo", "near rivals", "far away"):
        assert not re.search(rf"(?<!\w){re.escape(word)}(?!\w)", cells), word
    for case in (shown, meeting.analysis_case):
        for name, frame in case.items():
            if not isinstance(frame, gpd.GeoDataFrame) or not len(frame):
                continue
            centres = shapely.centroid(np.asarray(frame.geometry.values, dtype=object))
            for place in (PLACEMENT, (383_000, 399_000), (360_000, 405_000)):
                d = shapely.distance(centres, shapely.Point(place))
                assert (d > RADIUS_M).all(), (name, place)


def test_no_intelligence_detail_is_shown(moved_case):
    shown = meeting_case(moved_case).case
    for layer, cols in {"incidents": ["description", "confidence", "target_address_id"],
                        "activity_areas": ["source", "confidence"],
                        "groups": ["notes"], "people": ["notes"]}.items():
        for col in cols:
            assert shown[layer][col].isna().all(), (layer, col)
    assert len(shown["policy"]) == 0
    assert "floor" not in shown["candidates"].columns
    assert shown.extra_layers == {}


def test_the_analysis_case_keeps_what_the_threat_model_needs(moved_case):
    analysis = meeting_case(moved_case).analysis_case
    assert analysis["incidents"]["confidence"].tolist() == ["high", "medium", "low"]
    assert analysis["incidents"]["target_address_id"].tolist()[0] == "A1"
    assert analysis["incidents"]["description"].isna().all()
    assert analysis["activity_areas"]["confidence"].tolist() == ["high", "medium", "low"]
    assert analysis["activity_areas"]["source"].isna().all()


def test_derived_layers_are_screened(moved_case):
    meeting = meeting_case(moved_case)
    policy = policy_for_case(moved_case)
    zones = exclusion_zones(moved_case, policy, as_of=NOW)  # from the *whole* case
    ranked = rank(assess_case(moved_case, policy, as_of=NOW, person_ids=["P2", "P3"]))
    assert len(meeting.screen(ranked)) == 0  # every candidate is a place they may move to
    safe = meeting.screen(exclusion_zones(meeting.analysis_case, policy, as_of=NOW))
    assert_no_names(text_cells({"zones": safe}))
    assert len(safe) <= len(zones)
    near = gpd.GeoDataFrame({"label": ["Pat Partner's door", "far"]},
                            geometry=[shapely.Point(PLACEMENT[0] + 150, PLACEMENT[1]),
                                      shapely.Point(380_000, 390_000)], crs=27700)
    assert meeting.screen(near)["label"].tolist() == ["far"]
    shape = gpd.GeoDataFrame({"name": ["Kit Child's estate"]},
                             geometry=[shapely.Point(*PLACEMENT).buffer(600)], crs=27700)
    assert len(meeting.screen(shape)) == 0  # centred on the placement


def test_the_meeting_map_shows_no_address_or_name(moved_case):
    meeting = meeting_case(moved_case)
    html = case_map(meeting.case).get_root().render()
    for word in ("Linden", "BL1 1RF", "Pat Partner", "Sam", "Rex", "Kit Child"):
        assert word not in html
    assert "Partner" in html or "Subject" in html


def test_the_demo_meeting_view_hides_the_placement_school_and_support():
    demo = build_demo_case()
    meeting = meeting_case(demo)
    assert meeting.household == ("P02", "P03", "P04")
    shown = meeting.case
    assert {"A06", "A07", "A09"}.isdisjoint(shown["addresses"]["address_id"])
    assert {"A01", "A02", "A12"} <= set(shown["addresses"]["address_id"])  # threat picture
    assert "INC-001" in set(shown["incidents"]["incident_id"])  # the shooting stays
    assert len(shown["candidates"]) == 0
    assert_no_names(text_cells(shown) + text_cells(meeting.analysis_case),
                    demo["people"]["label"].str.replace(r" \(\d+\)", "", regex=True).tolist())
    placement = demo["addresses"].set_index("address_id").geometry
    for frame in (shown["addresses"], shown["incidents"]):
        for aid in ("A06", "A07", "A09"):
            assert (frame.geometry.distance(placement[aid]) > RADIUS_M).all()
    policy = policy_for_case(demo)
    zones = meeting.screen(exclusion_zones(meeting.analysis_case, policy, as_of=AS_OF))
    assert len(zones) > 0
    html = case_map(shown, zones=zones, as_of=AS_OF).get_root().render()
    for word in ("BL1 1RF", "Emergency placement", "Hollinvale", "Brenwick", "Ashdown"):
        assert word not in html


def test_a_second_family_that_moved_on_its_own_is_hidden_too():
    """The former partner and her children move to a new flat: not the household the case's
    rule picks (that is the family at the temporary placement), but still never shown."""
    demo = build_demo_case()
    flat = gpd.GeoDataFrame(
        {"address_id": ["A13"], "label": ["Former partner's new flat, 14 Elm Road"],
         "kind": ["home"], "postcode": ["SK4 1AA"], "known_to_rivals": [False],
         "status": ["current"]}, geometry=[shapely.Point(389_000, 390_500)], crs=27700)
    addresses = pd.concat([demo["addresses"], flat], ignore_index=True)
    links = demo["links"].copy()
    moved = links["person_id"].isin(["P05", "P06", "P07"]) & (links["relation"] == "resides")
    links.loc[moved, "relation"] = "resided"
    links = pd.concat([links, pd.DataFrame({"person_id": ["P05", "P06", "P07"],
                                            "address_id": ["A13"] * 3,
                                            "relation": ["resides"] * 3})], ignore_index=True)
    case = demo.replace(addresses=addresses, links=links)
    meeting = meeting_case(case)
    assert meeting.household == ("P02", "P03", "P04")
    shown = meeting.case["addresses"]
    assert "A13" not in set(shown["address_id"])
    assert "A02" in set(shown["address_id"])  # the former home, known to rivals, stays
    assert (shown.geometry.distance(shapely.Point(389_000, 390_500)) > RADIUS_M).all()
    html = case_map(meeting.case, as_of=AS_OF).get_root().render()
    for word in ("Elm Road", "SK4 1AA"):
        assert word not in html


def test_shapes_drawn_to_the_placement_are_withheld_but_territory_over_it_stays():
    demo = build_demo_case()
    place = demo["addresses"].set_index("address_id").geometry["A06"]
    x, y = place.x, place.y
    zones = gpd.GeoDataFrame(
        {"zone_id": ["Z-COR", "Z-TRI", "Z-SMALL", "Z-BIG"], "kind": ["safe_area", "no_go",
                                                                    "no_go", "no_go"],
         "reason": ["school run corridor", "triangle", "small box", "a whole territory"],
         "applies_to": [None] * 4},
        geometry=[shapely.box(x - 50, y, x + 50, y + 2_500),  # ends at the placement
                  shapely.Polygon([(x, y), (x + 3_000, y + 1_000), (x + 3_000, y - 1_000)]),
                  shapely.box(x - 100, y - 500, x + 900, y + 500),  # covers it, centre 400 m off
                  shapely.box(x - 6_000, y - 6_000, x + 4_000, y + 4_000)],
        crs=27700)
    case = demo.replace(zones=pd.concat([demo["zones"], zones], ignore_index=True))
    shown = set(meeting_case(case).case["zones"]["zone_id"])
    assert {"Z-COR", "Z-TRI", "Z-SMALL"}.isdisjoint(shown)
    assert "Z-BIG" in shown


def test_the_meeting_case_is_a_valid_case(moved_case):
    meeting = meeting_case(moved_case)
    for case in (meeting.case, meeting.analysis_case):
        report = validate_case(case, now=NOW)
        assert report.ok, report.errors
        for name in LAYERS:
            assert list(case[name].columns)[:len(LAYERS[name].columns)] == \
                LAYERS[name].column_names

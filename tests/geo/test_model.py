"""Validation: every rule names layer, row and column; errors and warnings are apart."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo.errors import ValidationError
from geo.model import LAYERS, Case, check_layer, merge_rows, parse_date, validate_case
from tests.geo.conftest import NOW


def report(layers):
    return validate_case(layers, now=NOW)


def only(problems, **where):
    return [p for p in problems if all(getattr(p, k) == v for k, v in where.items())]


def test_tiny_case_is_valid(tiny_layers):
    r = report(tiny_layers)
    assert r.ok, r.problems
    assert r.problems == []
    assert r.case.case_ref == "T-1"
    assert r.case["addresses"].crs.to_epsg() == 27700


def test_every_layer_of_the_design_has_a_spec():
    assert list(LAYERS) == ["case", "groups", "people", "activity_areas", "incidents",
                            "addresses", "links", "candidates", "zones", "boundaries", "policy"]
    assert LAYERS["candidates"].required == ["candidate_id", "label"]
    assert LAYERS["links"].required == ["person_id", "address_id", "relation"]


def test_missing_required_column_is_named(tiny_layers):
    tiny_layers["people"] = tiny_layers["people"].drop(columns="role")
    r = report(tiny_layers)
    [p] = only(r.errors, layer="people", column="role")
    assert p.message == "required column is missing"
    assert str(p) == "error: people [role]: required column is missing"


def test_empty_required_value_names_the_row(tiny_layers):
    tiny_layers["people"].loc[1, "label"] = "  "
    [p] = report(tiny_layers).errors
    assert (p.layer, p.row, p.column, p.message) == ("people", "row 2 (P2)", "label",
                                                    "value is required")


def test_unknown_enumeration_value_lists_the_allowed_ones(tiny_layers):
    tiny_layers["incidents"].loc[1, "kind"] = "drive-by"
    [p] = report(tiny_layers).errors
    assert p.layer == "incidents"
    assert p.row == "row 2 (I2)"
    assert p.column == "kind"
    assert "unknown value 'drive-by'" in p.message
    assert "shooting, firearm_discharge" in p.message


def test_enumerations_are_normalised_to_lower_case(tiny_layers):
    tiny_layers["incidents"].loc[0, "kind"] = " Shooting "
    tiny_layers["incidents"].loc[1, "kind"] = "Firearm discharge"
    r = report(tiny_layers)
    assert r.ok
    assert r.case["incidents"]["kind"].tolist()[:2] == ["shooting", "firearm_discharge"]


def test_enumeration_defaults_fill_blanks(tiny_layers):
    tiny_layers["incidents"].loc[2, "confidence"] = None
    r = report(tiny_layers)
    assert r.case["incidents"]["confidence"].tolist() == ["high", "medium", "medium"]
    assert r.case["case"]["classification"].iloc[0] == "OFFICIAL-SENSITIVE"


def test_duplicate_ids_are_errors(tiny_layers):
    tiny_layers["candidates"].loc[2, "candidate_id"] = "C1"
    [p] = report(tiny_layers).errors
    assert (p.layer, p.row, p.column) == ("candidates", "row 3 (C1)", "candidate_id")
    assert p.message == "duplicate id 'C1'"


def test_dangling_link_to_a_person_who_does_not_exist(tiny_layers):
    tiny_layers["links"].loc[0, "person_id"] = "P9"
    [p] = report(tiny_layers).errors
    assert (p.layer, p.row, p.column) == ("links", "row 1", "person_id")
    assert p.message == "refers to people 'P9', which does not exist"


@pytest.mark.parametrize(
    ("layer", "column", "value", "target"),
    [
        ("people", "group_id", "GX", "groups"),
        ("activity_areas", "group_id", "GX", "groups"),
        ("incidents", "target_address_id", "A9", "addresses"),
        ("links", "address_id", "A9", "addresses"),
    ],
)
def test_every_reference_is_checked(tiny_layers, layer, column, value, target):
    tiny_layers[layer].loc[0, column] = value
    [p] = report(tiny_layers).errors
    assert (p.layer, p.column) == (layer, column)
    assert p.message == f"refers to {target} {value!r}, which does not exist"


def test_zone_applies_to_each_listed_person(tiny_layers):
    tiny_layers["zones"] = gpd.GeoDataFrame(
        {"zone_id": ["Z1"], "kind": ["no_go"], "reason": ["drawn"],
         "applies_to": [" P2 , P8 "]},
        geometry=[shapely.box(383_000, 398_000, 384_000, 399_000)], crs=27700)
    r = report(tiny_layers)
    [p] = r.errors
    assert p.message == "refers to people 'P8', which does not exist"
    assert r.case["zones"]["applies_to"].iloc[0] == "P2,P8"


def test_wrong_geometry_type(tiny_layers):
    inc = tiny_layers["incidents"]
    inc.loc[0, "geometry"] = shapely.LineString([(384_000, 401_000), (384_100, 401_100)])
    [p] = report(tiny_layers).errors
    assert (p.layer, p.row, p.column) == ("incidents", "row 1 (I1)", "geometry")
    assert p.message == "geometry is a LineString; this layer holds Points"


def test_empty_geometry(tiny_layers):
    tiny_layers["candidates"].loc[1, "geometry"] = shapely.Point()
    tiny_layers["candidates"].loc[2, "geometry"] = None
    errors = report(tiny_layers).errors
    assert [(p.row, p.message) for p in errors] == [
        ("row 2 (C2)", "geometry is missing or empty"),
        ("row 3 (C3)", "geometry is missing or empty"),
    ]


def test_invalid_polygon_is_repaired_with_a_warning(tiny_layers):
    bowtie = shapely.Polygon([(380_000, 394_000), (382_000, 396_000), (382_000, 394_000),
                              (380_000, 396_000)])
    assert not bowtie.is_valid
    tiny_layers["activity_areas"].loc[0, "geometry"] = bowtie
    r = report(tiny_layers)
    assert r.ok
    [w] = r.warnings
    assert (w.severity, w.layer, w.row, w.column) == ("warning", "activity_areas",
                                                      "row 1 (AR1)", "geometry")
    assert "Self-intersection" in w.message
    assert "repaired with make_valid" in w.message
    repaired = r.case["activity_areas"].geometry.iloc[0]
    assert repaired.is_valid
    assert repaired.geom_type == "MultiPolygon"
    assert repaired.area == pytest.approx(2_000_000)


def test_missing_crs(tiny_layers):
    tiny_layers["candidates"] = tiny_layers["candidates"].set_crs(None, allow_override=True)
    [p] = report(tiny_layers).errors
    assert (p.layer, p.column) == ("candidates", "geometry")
    assert p.message.startswith("no coordinate reference system")


def test_coordinates_outside_great_britain(tiny_layers):
    tiny_layers["candidates"].loc[0, "geometry"] = shapely.Point(900_000, 100_000)
    [p] = report(tiny_layers).errors
    assert p.row == "row 1 (C1)"
    assert "outside Great Britain" in p.message


def test_wgs84_input_is_projected_and_checked(tiny_layers):
    wgs = tiny_layers["candidates"].to_crs(4326)
    wgs.loc[1, "geometry"] = shapely.Point(2.35, 48.85)  # Paris
    tiny_layers["candidates"] = wgs
    r = report(tiny_layers)
    [p] = r.errors
    assert p.row == "row 2 (C2)"
    assert p.message == "coordinates x=2.35000, y=48.85000 are outside Great Britain"
    assert r.case["candidates"].crs.to_epsg() == 27700
    assert r.case["candidates"].geometry.iloc[0].x == pytest.approx(381_200, abs=0.01)


def test_latitude_and_longitude_swapped(tiny_layers):
    wgs = tiny_layers["candidates"].to_crs(4326)
    wgs.loc[2, "geometry"] = shapely.Point(53.48377, -2.24487)
    tiny_layers["candidates"] = wgs
    [p] = report(tiny_layers).errors
    assert p.row == "row 3 (C3)"
    assert p.message.startswith("latitude and longitude look swapped")


def test_unparsable_date(tiny_layers):
    tiny_layers["incidents"].loc[2, "occurred_at"] = "last Tuesday"
    [p] = report(tiny_layers).errors
    assert (p.row, p.column) == ("row 3 (I3)", "occurred_at")
    assert p.message == "'last Tuesday' is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)"


def test_impossible_date(tiny_layers):
    tiny_layers["incidents"].loc[2, "occurred_at"] = "2026-02-30"
    [p] = report(tiny_layers).errors
    assert p.column == "occurred_at"


def test_future_incident_date_is_an_error(tiny_layers):
    tiny_layers["incidents"].loc[0, "occurred_at"] = "2027-01-01"
    [p] = report(tiny_layers).errors
    assert p.message == "date 2027-01-01 is in the future"


def test_future_review_and_availability_dates_are_fine(tiny_layers):
    tiny_layers["case"]["review_at"] = "2027-03-01"
    tiny_layers["candidates"]["available_from"] = "2027-01-15"
    assert report(tiny_layers).ok


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-11-24", "2026-11-24"),
        ("2026-11-24T23:40", "2026-11-24T23:40:00"),
        ("2026-11-24 23:40:05", "2026-11-24T23:40:05"),
        ("24/11/2026", "2026-11-24"),
        ("24/11/2026 23:40", "2026-11-24T23:40:00"),
        ("2026-07-01T12:00:00Z", "2026-07-01T13:00:00"),  # BST
        ("2026-12-01T12:00:00+00:00", "2026-12-01T12:00:00"),
    ],
)
def test_dates_are_stored_as_canonical_iso_text(text, iso):
    assert parse_date(text) == iso


def test_booleans_from_spreadsheets(tiny_layers):
    tiny_layers["addresses"]["known_to_rivals"] = ["Yes", "no", None]
    r = report(tiny_layers)
    assert r.case["addresses"]["known_to_rivals"].tolist() == [True, False, False]
    tiny_layers["addresses"]["known_to_rivals"] = ["maybe", "no", None]
    [p] = report(tiny_layers).errors
    assert (p.column, p.message) == ("known_to_rivals", "'maybe' is not true or false")


def test_whole_numbers(tiny_layers):
    tiny_layers["candidates"]["bedrooms"] = ["2", 3.0, "two"]
    r = report(tiny_layers)
    [p] = r.errors
    assert (p.row, p.column, p.message) == ("row 3 (C3)", "bedrooms", "'two' is not a number")
    tiny_layers["candidates"]["bedrooms"] = ["2", "2.5", None]
    [p] = report(tiny_layers).errors
    assert p.message == "'2.5' is not a whole number"


def test_case_layer_has_exactly_one_row(tiny_layers):
    tiny_layers["case"] = pd.concat([tiny_layers["case"]] * 2)
    errors = report(tiny_layers).errors
    assert any(p.layer == "case" and p.message == "must have exactly one row, has 2"
               for p in errors)


def test_all_problems_are_reported_at_once(tiny_layers):
    tiny_layers["people"].loc[0, "role"] = "boss"
    tiny_layers["incidents"].loc[0, "occurred_at"] = "soon"
    tiny_layers["links"].loc[3, "address_id"] = "A7"
    tiny_layers["candidates"].loc[0, "geometry"] = None
    errors = report(tiny_layers).errors
    assert {(p.layer, p.column) for p in errors} == {
        ("people", "role"), ("incidents", "occurred_at"), ("links", "address_id"),
        ("candidates", "geometry"),
    }


def test_extra_columns_are_kept_after_the_schema(tiny_layers):
    tiny_layers["candidates"]["landlord_ref"] = ["x1", "x2", "x3"]
    r = report(tiny_layers)
    assert r.ok
    cols = list(r.case["candidates"].columns)
    assert cols[:3] == ["candidate_id", "label", "postcode"]
    assert "landlord_ref" in cols
    assert r.case["candidates"]["landlord_ref"].tolist() == ["x1", "x2", "x3"]


def test_ids_typed_as_numbers_by_a_spreadsheet_come_back_as_text(tiny_layers):
    tiny_layers["groups"]["notes"] = [12.0, None]
    r = report(tiny_layers)
    assert r.case["groups"]["notes"].iloc[0] == "12"


def test_raise_if_fatal_names_the_first_problem_and_counts_the_rest(tiny_layers):
    tiny_layers["people"].loc[0, "role"] = "boss"
    tiny_layers["people"].loc[1, "role"] = "pal"
    with pytest.raises(ValidationError, match=r"^x.gpkg: error: people row 1 \(P1\) \[role\]"
                       r".*\(and 1 more\)$") as info:
        report(tiny_layers).raise_if_fatal(source="x.gpkg")
    assert len(info.value.problems) == 2


def test_unknown_layer_is_refused():
    with pytest.raises(KeyError, match="unknown layer 'suspects'"):
        check_layer("suspects", pd.DataFrame())


def test_merge_rows_is_all_or_nothing(tiny_case):
    new = gpd.GeoDataFrame(
        {"candidate_id": ["C4", "C1"], "label": ["New", "Clash"]},
        geometry=[shapely.Point(385_000, 390_000), shapely.Point(385_100, 390_000)],
        crs=27700,
    )
    with pytest.raises(ValidationError, match=r"row 3 \(C1\).*already exists") as info:
        merge_rows(tiny_case, "candidates", new, now=NOW)
    assert [p.row for p in info.value.problems] == ["row 3 (C1)"]
    assert len(tiny_case["candidates"]) == 3
    merged = merge_rows(tiny_case, "candidates", new.iloc[:1], now=NOW)
    assert merged["candidates"]["candidate_id"].tolist() == ["C1", "C2", "C3", "C4"]
    assert len(tiny_case["candidates"]) == 3


def test_merge_rows_checks_references_against_the_case(tiny_case):
    links = pd.DataFrame({"person_id": ["P2"], "address_id": ["A404"], "relation": ["resides"]})
    with pytest.raises(ValidationError, match="refers to addresses 'A404'"):
        merge_rows(tiny_case, "links", links, now=NOW)


def test_case_replace_returns_a_new_case(tiny_case):
    other = tiny_case.replace(candidates=tiny_case["candidates"].iloc[:1])
    assert len(other["candidates"]) == 1
    assert len(tiny_case["candidates"]) == 3
    with pytest.raises(KeyError, match="unknown layer"):
        tiny_case.replace(suspects=pd.DataFrame())


def test_empty_case_has_every_layer():
    case = Case()
    assert set(case) == set(LAYERS)
    assert case["zones"].crs.to_epsg() == 27700
    assert case.classification == "OFFICIAL-SENSITIVE"
    r = validate_case(case)
    assert [str(p) for p in r.errors] == ["error: case: must have exactly one row, has 0"]


def test_now_defaults_to_the_present(tiny_layers):
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    tiny_layers["incidents"].loc[0, "occurred_at"] = tomorrow
    assert any("in the future" in p.message for p in validate_case(tiny_layers).errors)

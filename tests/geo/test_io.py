"""Case files and imports: lossless round trip, every importer, all-or-nothing refusals."""

from __future__ import annotations

import hashlib
import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo.errors import InputError, ValidationError
from geo.io import (
    POLICE_UK_KINDS,
    csv_safe,
    import_file,
    open_case,
    read_case,
    write_case,
    write_table,
)
from geo.model import LAYER_NAMES, Case, validate_case
from geo.settings import Settings
from tests.geo.conftest import NOW


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_same_case(a, b):
    for name in LAYER_NAMES:
        left, right = a[name], b[name]
        assert list(left.columns) == list(right.columns), name
        pd.testing.assert_frame_equal(
            pd.DataFrame(left).reset_index(drop=True),
            pd.DataFrame(right).reset_index(drop=True),
            check_dtype=True,
            obj=name,
        )


def test_round_trip_is_lossless(tiny_case, tmp_path):
    tiny_case = tiny_case.replace(
        zones=gpd.GeoDataFrame(
            {"zone_id": ["Z1"], "kind": ["no_go"], "reason": ["<b>shops</b> & café"],
             "applies_to": ["P2"], "source": ["drawn"]},
            geometry=[shapely.MultiPolygon([shapely.box(383_000, 398_000, 383_500, 398_500),
                                            shapely.box(384_000, 398_000, 384_100, 398_100)])],
            crs=27700,
        )
    )
    path = write_case(tiny_case, tmp_path / "case.gpkg")
    back = validate_case(read_case(path), now=NOW)
    assert back.ok, back.problems
    assert_same_case(tiny_case, back.case)
    # and again: a second trip is byte-for-byte the same data
    again = validate_case(read_case(write_case(back.case, tmp_path / "again.gpkg")), now=NOW)
    assert_same_case(back.case, again.case)


def test_round_trip_keeps_exact_coordinates_and_types(tiny_case, tmp_path):
    path = write_case(tiny_case, tmp_path / "case.gpkg")
    back = validate_case(read_case(path), now=NOW).case
    assert back["incidents"].geometry.iloc[0].equals_exact(
        tiny_case["incidents"].geometry.iloc[0], tolerance=0
    )
    assert back["addresses"]["known_to_rivals"].dtype == bool
    assert back["incidents"]["occurred_at"].tolist()[0] == "2026-11-20T23:40:00"
    assert back["candidates"]["bedrooms"].dtype == "Int64"


def test_write_case_replaces_the_file_whole(tiny_case, tmp_path, monkeypatch):
    path = write_case(tiny_case, tmp_path / "case.gpkg")
    before = digest(path)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    import geo.io

    monkeypatch.setattr(geo.io.pyogrio, "write_dataframe", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_case(tiny_case, path)
    assert digest(path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["case.gpkg"]


def test_read_case_refuses_what_is_not_a_geopackage(tmp_path):
    with pytest.raises(InputError, match=r"nope.gpkg: no such file"):
        read_case(tmp_path / "nope.gpkg")
    junk = tmp_path / "junk.gpkg"
    junk.write_text("not a database")
    with pytest.raises(InputError, match=r"^junk.gpkg: not a GeoPackage that can be read$"):
        read_case(junk)


def test_open_case_refuses_a_case_with_fatal_problems(tiny_layers, tmp_path):
    tiny_layers["links"].loc[0, "person_id"] = "P404"
    from geo.model import Case

    path = write_case(Case(tiny_layers), tmp_path / "bad.gpkg")
    with pytest.raises(ValidationError, match=r"bad.gpkg: error: links row 1 \[person_id\]"):
        open_case(path)


# --- CSV ------------------------------------------------------------------------------------


def test_csv_candidates_by_postcode_latlon_and_easting(tiny_case, tmp_path):
    f = tmp_path / "vacancies.csv"
    f.write_text(
        "candidate_id,label,postcode,lat,lon,easting,northing\n"
        "N1,By postcode,m11ad,,,,\n"
        "N2,By lat/lon,,53.48,-2.24,,\n"
        "N3,By grid,,,,384000,398000\n",
        encoding="utf-8",
    )
    case, summary = import_file(tiny_case, "candidates", f)
    assert str(summary) == "added 3 rows to candidates"
    new = case["candidates"].set_index("candidate_id").loc[["N1", "N2", "N3"]]
    assert new.geometry.iloc[0].coords[0] == (383848.0, 398589.0)
    assert new.postcode.iloc[0] == "M1 1AD"
    assert new.geometry.iloc[2].coords[0] == (384000.0, 398000.0)
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 27700, always_xy=True).transform(-2.24, 53.48)
    assert new.geometry.iloc[1].coords[0] == pytest.approx((x, y), abs=0.01)


def test_csv_with_bom_and_windows_1252(tiny_case, tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffcandidate_id,label,postcode\nN1,Flat £650,M1 1AD\n".encode())
    case, _ = import_file(tiny_case, "candidates", bom)
    assert case["candidates"]["label"].iloc[-1] == "Flat £650"
    win = tmp_path / "excel.csv"
    win.write_bytes("Candidate ID,Label,Postcode\r\nN2,Café flat £700,M1 1AD\r\n"
                    .encode("cp1252"))
    case, _ = import_file(tiny_case, "candidates", win)
    assert case["candidates"]["label"].iloc[-1] == "Café flat £700"
    assert case["candidates"]["candidate_id"].iloc[-1] == "N2"


def test_one_bad_row_refuses_the_whole_file_with_its_row_number(tiny_case, tmp_path):
    f = tmp_path / "vacancies.csv"
    f.write_text("candidate_id,label,postcode\nN1,Good,M1 1AD\nN2,Bad,ZZ99 9ZZ\n"
                 "N3,Worse,banana\nN4,,M1 1AD\n")
    with pytest.raises(ValidationError) as info:
        import_file(tiny_case, "candidates", f)
    assert [str(p) for p in info.value.problems] == [
        "error: candidates row 3 (N2) [postcode]: 'ZZ99 9ZZ' is not in Code-Point Open",
        "error: candidates row 4 (N3) [postcode]: 'banana' is not a valid UK postcode",
        "error: candidates row 5 (N4) [label]: value is required",
    ]
    assert str(info.value).startswith("vacancies.csv: error: candidates row 3 (N2) [postcode]")
    assert len(tiny_case["candidates"]) == 3


def test_a_row_with_no_location_is_named(tiny_case, tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("candidate_id,label,lat,lon\nN1,Somewhere,,\nN2,Garbled,abc,-2.2\n")
    with pytest.raises(ValidationError) as info:
        import_file(tiny_case, "candidates", f)
    assert [str(p) for p in info.value.problems] == [
        "error: candidates row 2 (N1) [geometry]: no location: give lat and lon, easting and "
        "northing, or a postcode",
        "error: candidates row 3 (N2) [lon/lat]: '-2.2', 'abc' are not numbers",
    ]


def test_swapped_lat_lon_columns_are_reported(tiny_case, tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("candidate_id,label,lat,lon\nN1,Swapped,-2.24487,53.48377\n")
    with pytest.raises(ValidationError, match="latitude and longitude look swapped"):
        import_file(tiny_case, "candidates", f)


def test_import_of_links_and_polygons_from_csv(tiny_case, tmp_path):
    f = tmp_path / "links.csv"
    f.write_text("person_id,address_id,relation\nP4,A3,Frequents\n")
    case, _ = import_file(tiny_case, "links", f)
    assert case["links"]["relation"].iloc[-1] == "frequents"
    z = tmp_path / "zones.csv"
    z.write_text('zone_id,kind,reason,wkt\nZ9,no_go,Market,"POLYGON((383000 398000,383500 '
                 '398000,383500 398500,383000 398000))"\n')
    case, _ = import_file(tiny_case, "zones", z)
    assert case["zones"].geometry.iloc[0].area == pytest.approx(125_000)


def test_file_limits(tiny_case, tmp_path):
    f = tmp_path / "big.csv"
    f.write_text("candidate_id,label,postcode\n" + "".join(
        f"N{i},x,M1 1AD\n" for i in range(20)))
    small = Settings(max_upload_rows=10)
    with pytest.raises(InputError, match=r"big.csv: 20 rows is over the limit of 10"):
        import_file(tiny_case, "candidates", f, settings=small)
    tiny = Settings(max_upload_mb=0.0001)
    with pytest.raises(InputError, match=r"big.csv: 0.0 MB is over the limit of 0.0001 MB"):
        import_file(tiny_case, "candidates", f, settings=tiny)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"candidate_id,label\n", "the file has no rows"),
        (b"\x00\x01\x02binary", "not a CSV text file"),
        (b'a,b\n"unterminated,1\n', "not a readable CSV"),
        (b"a,a\n1,2\n", "column 'a' appears twice"),
    ],
)
def test_unreadable_csvs_are_refused_cleanly(tiny_case, tmp_path, content, message):
    f = tmp_path / "f.csv"
    f.write_bytes(content)
    with pytest.raises(InputError, match=message):
        import_file(tiny_case, "candidates", f)


def test_unknown_layer_and_file_type(tiny_case, tmp_path):
    f = tmp_path / "f.xlsx"
    f.write_bytes(b"PK")
    with pytest.raises(InputError, match=r"unsupported file type .xlsx"):
        import_file(tiny_case, "candidates", f)
    with pytest.raises(InputError, match="unknown layer 'suspects'"):
        import_file(tiny_case, "suspects", f)


# --- GeoJSON and KML --------------------------------------------------------------------------


def test_geojson_activity_areas(tiny_case, tmp_path):
    f = tmp_path / "areas.geojson"
    f.write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "properties": {"Area ID": "AR9", "group_id": "GB", "kind": "Drug market"},
            "geometry": {"type": "Polygon", "coordinates": [[
                [-2.25, 53.46], [-2.24, 53.46], [-2.24, 53.47], [-2.25, 53.46]]]},
        }],
    }))
    case, summary = import_file(tiny_case, "activity_areas", f)
    assert summary.rows == 1
    row = case["activity_areas"].iloc[-1]
    assert (row.area_id, row.kind) == ("AR9", "drug_market")
    assert 383_000 < row.geometry.centroid.x < 384_000


def test_geojson_with_a_bad_feature_is_refused(tiny_case, tmp_path):
    f = tmp_path / "inc.geojson"
    f.write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"incident_id": "I9", "occurred_at": "2030-01-01",
                                               "kind": "assault"},
             "geometry": {"type": "Point", "coordinates": [-2.24, 53.48]}},
        ],
    }))
    with pytest.raises(ValidationError, match=r"row 2 \(I9\) \[occurred_at\]: date 2030-01-01 "
                       "is in the future"):
        import_file(tiny_case, "incidents", f)


def test_kml_placemarks(tiny_case, tmp_path):
    f = tmp_path / "zones.kml"
    f.write_text(
        '<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        "<Placemark><name>Z7</name><ExtendedData>"
        '<Data name="zone_id"><value>Z7</value></Data>'
        '<Data name="kind"><value>no_go</value></Data>'
        '<Data name="reason"><value>Park &amp; shops</value></Data></ExtendedData>'
        "<Polygon><outerBoundaryIs><LinearRing><coordinates>-2.25,53.46 -2.24,53.46 "
        "-2.24,53.47 -2.25,53.46</coordinates></LinearRing></outerBoundaryIs></Polygon>"
        "</Placemark></Document></kml>"
    )
    case, _ = import_file(tiny_case, "zones", f)
    assert case["zones"]["reason"].iloc[-1] == "Park & shops"


def test_kml_with_an_external_entity_is_refused(tiny_case, tmp_path):
    f = tmp_path / "evil.kml"
    f.write_text(
        '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&xxe;</name>'
        "<Point><coordinates>-2.24,53.48</coordinates></Point></Placemark></kml>"
    )
    with pytest.raises(InputError, match="KML with a DTD or entities is refused"):
        import_file(tiny_case, "candidates", f)


# --- police.uk --------------------------------------------------------------------------------

POLICE_UK = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context\n"
    "abc123,2026-03,Greater Manchester Police,Greater Manchester Police,-2.244869,53.483768,"
    "On or near Parking Area,E01005131,Manchester 054C,Violence and sexual offences,"
    "Under investigation,\n"
    ",2026-03,Greater Manchester Police,Greater Manchester Police,-2.240000,53.480000,"
    "On or near Oxford Road,E01005131,Manchester 054C,Anti-social behaviour,,\n"
    "def456,2026-04,Greater Manchester Police,Greater Manchester Police,-2.230000,53.470000,"
    "On or near Kingsway,E01005132,Manchester 055A,Criminal damage and arson,"
    "Investigation complete; no suspect identified,\n"
)


def test_police_uk_street_crime_csv(tiny_case, tmp_path):
    f = tmp_path / "2026-03-greater-manchester-street.csv"
    f.write_text(POLICE_UK)
    case, summary = import_file(tiny_case, "incidents", f)
    assert summary.rows == 3
    new = case["incidents"].iloc[3:]
    assert new["incident_id"].tolist() == ["PUK-abc123", "PUK-2026-03-3", "PUK-def456"]
    assert new["occurred_at"].tolist() == ["2026-03-01", "2026-03-01", "2026-04-01"]
    assert new["kind"].tolist() == ["assault", "other", "arson"]
    assert new["description"].tolist() == [
        "Violence and sexual offences", "Anti-social behaviour", "Criminal damage and arson"]
    assert set(new["confidence"]) == {"low"}
    assert new["location"].iloc[0] == "On or near Parking Area"
    assert new.geometry.iloc[0].coords[0] == pytest.approx((383848, 398589), abs=2)


def test_police_uk_rows_without_location(tiny_case, tmp_path):
    f = tmp_path / "street.csv"
    f.write_text(POLICE_UK + "ghi789,2026-04,GMP,GMP,,,No location,,,Drugs,,\n")
    with pytest.raises(ValidationError, match=r"row 5 \(PUK-ghi789\) \[geometry\]: no location"):
        import_file(tiny_case, "incidents", f)
    case, summary = import_file(tiny_case, "incidents", f, skip_unlocated=True)
    assert len(case["incidents"]) == 6
    assert summary.rows == 3
    assert summary.skipped == ["row 5 (PUK-ghi789)"]
    assert "skipped 1 without a location" in str(summary)


def test_police_uk_only_into_incidents(tiny_case, tmp_path):
    f = tmp_path / "street.csv"
    f.write_text(POLICE_UK)
    with pytest.raises(InputError, match="can only be imported into incidents"):
        import_file(tiny_case, "candidates", f)


def test_police_uk_mapping_covers_its_crime_types():
    assert POLICE_UK_KINDS["Violence and sexual offences"] == "assault"
    assert POLICE_UK_KINDS["Criminal damage and arson"] == "arson"
    assert set(POLICE_UK_KINDS.values()) <= {"assault", "arson", "threat", "other"}
    assert len(POLICE_UK_KINDS) == 14


# --- output ------------------------------------------------------------------------------------


def test_csv_exports_neutralise_formulas_but_not_numbers(tmp_path):
    frame = pd.DataFrame({"label": ["=HYPERLINK(\"http://x\")", "+1", "-cmd", "@sum", "ok"],
                          "lon": [-2.2, -2.3, 1.0, 0.0, 5.0]})
    safe = csv_safe(frame)
    assert safe["label"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+1", "'-cmd", "'@sum", "ok"]
    assert safe["lon"].tolist() == [-2.2, -2.3, 1.0, 0.0, 5.0]
    path = write_table(frame, tmp_path / "out.csv")
    text = path.read_text()
    assert "'=HYPERLINK" in text
    assert "\n\"'=HYPERLINK" in text or "\n'=HYPERLINK" in text
    assert ",-2.2\n" in text


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".kml"])
def test_spatial_exports_open_again(tiny_case, tmp_path, suffix):
    path = write_table(tiny_case["activity_areas"], tmp_path / f"areas{suffix}")
    import pyogrio

    back = pyogrio.read_dataframe(path)
    assert len(back) == 3
    assert sorted(back["area_id"]) == ["AR1", "AR2", "AR3"]


def test_a_layer_without_geometry_imports_from_a_geopackage(tiny_case, tmp_path):
    import pyogrio

    source = tiny_case.replace(people=pd.DataFrame({
        "person_id": ["P7", "P8"], "label": ["Nan Newcomer", "Al Newcomer"],
        "role": ["relative", "relative"]}))
    path = write_case(source, tmp_path / "people.gpkg")
    merged, _ = import_file(tiny_case, "people", path)
    assert merged["people"]["person_id"].tolist()[-2:] == ["P7", "P8"]
    # a layer that needs geometry is refused cleanly from a table without any
    table = tmp_path / "table.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"candidate_id": ["N1"], "label": ["x"]}), table,
                            layer="candidates", driver="GPKG")
    with pytest.raises(InputError, match=r"^table\.gpkg: has no geometry for the candidates "
                                         r"layer$"):
        import_file(tiny_case, "candidates", table)


def test_an_extra_layer_keeps_its_declared_geometry_type(tiny_case, tmp_path):
    import pyogrio

    routes = gpd.GeoDataFrame({"name": ["school run"]},
                              geometry=[shapely.LineString([(383_000, 398_000),
                                                            (384_000, 399_000)])], crs=27700)
    case = Case({**{name: tiny_case[name] for name in tiny_case}, "school_routes": routes})
    path = write_case(case, tmp_path / "case.gpkg")
    assert pyogrio.read_info(path, layer="school_routes")["geometry_type"] == "LineString"
    assert pyogrio.read_info(path, layer="candidates")["geometry_type"] == "Point"

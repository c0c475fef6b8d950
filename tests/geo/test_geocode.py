"""Offline postcodes: normalisation, known positions, row-by-row refusals, no network."""

from __future__ import annotations

import pandas as pd
import pytest
from pyproj import Geod

from geo import geocode
from geo.errors import PostcodeError
from geo.geocode import (
    district_of,
    geocode_postcodes,
    lookup_postcodes,
    nearest_postcodes,
    normalise_postcode,
    normalise_postcodes,
    postcode_units,
    sector_of,
)

GEOD = Geod(ellps="WGS84")


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("m11ad", "M1 1AD"), (" M1 1AD ", "M1 1AD"), ("m1  1ad", "M1 1AD"),
     ("sw1a1aa", "SW1A 1AA"), ("OL16 1AB", "OL16 1AB"), ("wa14 4le", "WA14 4LE"),
     ("M1", None), ("M1 1A", None), ("11AD", None), ("MM1 1ADD", None), ("", None),
     (None, None), (float("nan"), None), ("M1 1AD; DROP TABLE", None)],
)
def test_normalise_postcode(raw, normal):
    assert normalise_postcode(raw) == normal


def test_normalise_postcodes_is_vectorised_and_agrees():
    raw = ["m11ad", " M1 1AD ", "M1", None, "sk3 9ee"]
    out = normalise_postcodes(raw)
    assert out.tolist()[:2] == ["M1 1AD", "M1 1AD"]
    assert out.isna().tolist() == [False, False, True, True, False]
    assert [normalise_postcode(r) for r in raw] == [None if pd.isna(v) else v for v in out]


def test_m1_1ad_is_where_the_ordnance_survey_puts_it():
    row = lookup_postcodes(["M1 1AD"]).iloc[0]
    assert row.status == "ok"
    assert (row.easting, row.northing) == (383848.0, 398589.0)
    _, _, metres = GEOD.inv(row.lon, row.lat, -2.24487, 53.48377)
    assert metres < 5


def test_lookup_reports_each_row_without_raising():
    table = lookup_postcodes(["M1 1AD", "banana", "ZZ99 9ZZ", "M1 9ZZ"])
    assert table["status"].tolist() == ["ok", "malformed", "unknown", "unknown"]
    assert table["lat"].isna().tolist() == [False, True, True, True]
    assert table["input"].tolist()[1] == "banana"


def test_geocode_names_every_bad_postcode_by_row():
    with pytest.raises(PostcodeError) as info:
        geocode_postcodes(["M1 1AD", "banana", "ZZ99 9ZZ"], source="list.csv", row_base=2)
    assert str(info.value) == (
        "list.csv: 2 postcodes could not be geocoded: row 3 'banana' is not a valid UK "
        "postcode; row 4 'ZZ99 9ZZ' is not in Code-Point Open (terminated, new or "
        "non-geographic)"
    )
    assert info.value.problems == [
        (3, "banana", "is not a valid UK postcode"),
        (4, "ZZ99 9ZZ", "is not in Code-Point Open (terminated, new or non-geographic)"),
    ]


def test_geocode_a_whole_column_across_areas():
    column = pd.Series(["M1 1AD", "sk39ee", "WN3 4HE", "BL1 1RF", "SW1A 1AA"] * 200)
    table = geocode_postcodes(column)
    assert len(table) == 1000
    assert (table["status"] == "ok").all()
    assert table["postcode"].iloc[1] == "SK3 9EE"
    assert table["lat"].between(51, 54).all()


def test_areas_are_loaded_lazily_and_once(monkeypatch):
    geocode._area_table.cache_clear()
    calls = []
    real = pd.read_csv

    def counting(path, *args, **kwargs):
        calls.append(str(path).rsplit("/", 1)[-1])
        return real(path, *args, **kwargs)

    monkeypatch.setattr(geocode.pd, "read_csv", counting)
    geocode_postcodes(["M1 1AD"])
    geocode_postcodes(["M2 3AW", "M1 1AD"])
    geocode_postcodes(["OL1 1AA"])
    assert calls == ["m.csv.gz", "ol.csv.gz"]


def test_sector_and_district():
    assert sector_of("M14 4AB") == "M14 4"
    assert district_of("M14 4AB") == "M14"
    assert sector_of("SW1A 1AA") == "SW1A 1"
    assert district_of("SW1A 1AA") == "SW1A"


def test_nearest_postcode_of_a_point():
    out = nearest_postcodes([383848.0, 383850.0, 100.0], [398589.0, 398592.0, 100.0])
    assert out["postcode"].tolist()[:2] == ["M1 1AD", "M1 1AD"]
    assert out["sector"].tolist()[:2] == ["M1 1", "M1 1"]
    assert out["district"].iloc[0] == "M1"
    assert out["distance_m"].iloc[1] == pytest.approx(3.606, abs=0.01)
    assert pd.isna(out["postcode"].iloc[2])  # in the sea off Cornwall's far west


def test_postcode_units_in_a_box():
    units = postcode_units((383_700, 398_500, 384_000, 398_700))
    assert "M1 1AD" in set(units["postcode"])
    assert units.crs.to_epsg() == 27700
    assert ((units.geometry.x >= 383_700) & (units.geometry.x <= 384_000)).all()


def test_sector_outlines_cover_their_postcodes_and_tile_the_area():
    from geo.geocode import sector_outlines

    bounds = (383_000.0, 397_000.0, 386_000.0, 400_000.0)
    sectors = sector_outlines(bounds, margin_m=0.0, simplify_m=0.0)
    assert "M1 1" in set(sectors["sector"])
    assert sectors["sector"].is_unique
    assert sectors.crs.to_epsg() == 27700
    # the outlines tile the study box: no gaps, no overlaps
    import shapely as sh

    box = sh.box(*bounds)
    assert sectors.union_all().symmetric_difference(box).area < 1.0
    assert sectors.area.sum() == pytest.approx(box.area, rel=1e-6)
    # every postcode unit in the box lies in its own sector's outline, except units sharing
    # one centroid with a unit of another sector (a big building): the cell goes to one
    units = postcode_units(bounds)
    units["xy"] = list(zip(units.geometry.x, units.geometry.y, strict=True))
    shared = units.groupby("xy")["sector"].transform("nunique") > 1
    alone = units[~shared]
    assert len(alone) > 0.85 * len(units)
    joined = alone.sjoin(sectors, predicate="within", lsuffix="u", rsuffix="s")
    assert len(joined) == len(alone)
    assert (joined["sector_u"] == joined["sector_s"]).all()

"""A tiny hand-built case: three polygons, a few points, in British National Grid metres.

The subject (P1, group GA) lives at A1; his rival group GB holds the polygon ``AR1``. Points
sit around central Manchester (M1 1AD is at 383848, 398589).
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo.model import Case, validate_case

NOW = dt.datetime(2026, 11, 25, 12, 0)


def points(rows, columns, xy):
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=columns),
        geometry=[shapely.Point(x, y) for x, y in xy],
        crs=27700,
    )


@pytest.fixture
def tiny_layers() -> dict[str, pd.DataFrame]:
    """The layers of the tiny case as plain frames (not yet validated)."""
    return {
        "case": pd.DataFrame({"case_ref": ["T-1"], "title": ["Tiny"],
                              "classification": ["OFFICIAL-SENSITIVE"]}),
        "groups": pd.DataFrame({"group_id": ["GA", "GB"], "name": ["Alpha", "Bravo"]}),
        "people": pd.DataFrame({
            "person_id": ["P1", "P2", "P3", "P4"],
            "label": ["Sam Subject", "Pat Partner", "Kit Child", "Rex Rival"],
            "role": ["subject", "partner", "child", "rival"],
            "group_id": ["GA", None, None, "GB"],
        }),
        "activity_areas": gpd.GeoDataFrame(
            {"area_id": ["AR1", "AR2", "AR3"], "group_id": ["GB", "GB", "GA"],
             "kind": ["territory", "drug_market", "territory"],
             "confidence": ["high", "medium", "low"]},
            geometry=[
                shapely.box(380_000, 394_000, 382_000, 396_000),
                shapely.Polygon([(386_000, 394_000), (387_000, 394_000), (386_500, 395_000)]),
                shapely.box(384_000, 401_000, 385_000, 402_000),
            ],
            crs=27700,
        ),
        "incidents": points(
            [("I1", "2026-11-20T23:40:00", "shooting", "GB", "A1", "shots at home", "high"),
             ("I2", "2026-06-01", "assault", "GB", None, "assault", "medium"),
             ("I3", "2025-01-01", "threat", None, None, "threat", "low")],
            ["incident_id", "occurred_at", "kind", "group_id", "target_address_id",
             "description", "confidence"],
            [(384_500, 401_500), (381_000, 395_000), (390_000, 399_000)],
        ),
        "addresses": points(
            [("A1", "Home", "home", "M8 5EH", True, "vacated"),
             ("A2", "School", "school", None, False, "current"),
             ("A3", "Aunt", "support", None, False, "current")],
            ["address_id", "label", "kind", "postcode", "known_to_rivals", "status"],
            [(384_500, 401_500), (383_000, 399_000), (392_000, 398_000)],
        ),
        "links": pd.DataFrame({
            "person_id": ["P1", "P2", "P3", "P3"],
            "address_id": ["A1", "A1", "A1", "A2"],
            "relation": ["resides", "resided", "resided", "attends"],
        }),
        "candidates": points(
            [("C1", "Near rivals", "M15 4AA"), ("C2", "Far away", None),
             ("C3", "Near home", None)],
            ["candidate_id", "label", "postcode"],
            [(381_200, 395_100), (395_000, 390_000), (384_600, 401_600)],
        ),
    }


@pytest.fixture
def tiny_case(tiny_layers) -> Case:
    """The tiny case, validated."""
    return validate_case(tiny_layers, now=NOW).raise_if_fatal()


@pytest.fixture
def rich_case(tiny_case) -> Case:
    """The tiny case plus a multipolygon zone, an extra column and a layer safeplan ignores."""
    zones = gpd.GeoDataFrame(
        {"zone_id": ["Z1", "Z2"], "kind": ["no_go", "exclusion"],
         "reason": ["<b>shops</b> & café", "rival territory"], "applies_to": ["P2", None],
         "source": ["drawn", "derived"]},
        geometry=[shapely.MultiPolygon([shapely.box(383_000, 398_000, 383_500, 398_500),
                                        shapely.box(384_000, 398_000, 384_100, 398_100)]),
                  shapely.box(380_000, 394_000, 382_500, 396_500)],
        crs=27700,
    )
    candidates = tiny_case["candidates"].copy()
    candidates["floor"] = [0, 3, 1]  # an extra column: kept, with its type
    notes = gpd.GeoDataFrame({"note": ["watch this"], "score": [0.25]},
                             geometry=[shapely.Point(383_100, 398_200)], crs=27700)
    contacts = pd.DataFrame({"agency": ["Police", "Housing"], "phone_ext": [4411, 2290]})
    return validate_case({**dict(tiny_case), "zones": zones, "candidates": candidates,
                          "analyst_notes": notes, "contacts": contacts},
                         now=NOW).raise_if_fatal()

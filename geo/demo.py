"""The fictional demo case "Operation Larkspur", built deterministically.

Every person, group, school, provider and event here is invented. Places are real postcode
centroids from Code-Point Open (public data); no label names a real house or a real person,
and the story does not describe any real case. ``data/demo/README.md`` tells the story.

Build it with ``safeplan demo --out DIR`` (or :func:`build_demo_case`): the same inputs give
the same case, row for row.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import BNG
from geo.geocode import geocode_postcodes, postcode_units
from geo.io import write_case
from geo.model import Case, validate_case

SEED = 20261125
AS_OF = dt.datetime(2026, 11, 25, 9, 0)
#: The demo case's reference.
DEMO_REF = "DEMO-2026-0147"

GROUPS = [
    ("G-KES", "Kestrel (north)", "#1f77b4",
     "Fictional group based in Harpurhey and Cheetham Hill, north Manchester. Head: P01."),
    ("G-HER", "Heron (south)", "#d62728",
     "Fictional rival group based in Moss Side, Hulme and Longsight, south Manchester."),
]

# person_id, label, role, group_id, ttl_risk, notes
PEOPLE = [
    ("P01", "Carl Brenwick", "subject", "G-KES", "high",
     "Head of Kestrel. Intended target of the shooting on 24 November."),
    ("P02", "Leanne Ashdown", "partner", None, "high",
     "Subject's partner; in the house with both children during the shooting."),
    ("P03", "Mason Brenwick (9)", "child", None, "high", "Son of P01 and P02."),
    ("P04", "Ruby Brenwick (6)", "child", None, "high", "Daughter of P01 and P02."),
    ("P05", "Kayla Dorrit", "former_partner", None, "medium",
     "Subject's former partner; lives at his former home, 600 m from the shooting."),
    ("P06", "Tyler Dorrit (12)", "child", None, "medium", "Son of P01 and P05."),
    ("P07", "Ella Dorrit (8)", "child", None, "medium", "Daughter of P01 and P05."),
    ("P08", "Brenda Brenwick", "relative", None, "medium",
     "Subject's mother. Car set alight outside her home in August."),
    ("P09", "Dean Fallows", "associate", "G-KES", "medium",
     "Kestrel associate; shots fired at his home in October."),
    ("P10", "Sharon Ashdown", "relative", None, "none",
     "P02's sister in Wigan: support for P02 and the children."),
    ("P11", "Pauline Dorrit", "relative", None, "none",
     "P05's mother in Stockport: support for P05 and the children."),
    ("P12", "Marcus Tolley", "rival", "G-HER", None, "Head of Heron."),
    ("P13", "Jaden Oakes", "rival", "G-HER", None, "Heron associate."),
]

# address_id, label, kind, postcode, known_to_rivals, status
ADDRESSES = [
    ("A01", "Subject's home, Harpurhey (shot at 24 Nov)", "home", "M8 5EH", True, "vacated"),
    ("A02", "Subject's former home, Harpurhey (P05 and children)", "former_home", "M9 8AG",
     True, "current"),
    ("A03", "Subject's mother, Blackley", "family", "M9 6PL", True, "current"),
    ("A04", "Kestrel associate's home, Moston", "associate", "M40 0BH", True, "current"),
    ("A05", "Car wash, Cheetham Hill (subject's business)", "business", "M8 0SA", True,
     "current"),
    ("A06", "Emergency placement (moved the night of 24 Nov)", "temporary", "BL1 1RF", False,
     "current"),
    ("A07", "Hollinvale Primary School (fictional)", "school", "M9 8FE", False, "current"),
    ("A08", "Crossacres Academy (fictional)", "school", "M9 4BQ", False, "current"),
    ("A09", "Sharon Ashdown's home, Wigan (support)", "support", "WN3 4HE", False, "current"),
    ("A10", "Pauline Dorrit's home, Stockport (support)", "support", "SK3 9EE", False,
     "current"),
    ("A11", "Heron associate's home, Hulme", "associate", "M15 5ZA", False, "current"),
    ("A12", "Heron head's home, Moss Side", "home", "M16 7BY", False, "current"),
]

LINKS = [
    ("P01", "A01", "resides"), ("P01", "A02", "resided"), ("P01", "A05", "works"),
    ("P01", "A03", "frequents"),
    ("P02", "A01", "resided"), ("P02", "A06", "resides"), ("P02", "A09", "supports"),
    ("P03", "A01", "resided"), ("P03", "A06", "resides"), ("P03", "A07", "attends"),
    ("P04", "A01", "resided"), ("P04", "A06", "resides"), ("P04", "A07", "attends"),
    ("P05", "A02", "resides"), ("P05", "A10", "supports"),
    ("P06", "A02", "resides"), ("P06", "A08", "attends"),
    ("P07", "A02", "resides"), ("P07", "A07", "attends"),
    ("P08", "A03", "resides"), ("P09", "A04", "resides"),
    ("P10", "A09", "resides"), ("P11", "A10", "resides"),
    ("P12", "A12", "resides"), ("P13", "A11", "resides"),
]

# area_id, group_id, kind, confidence, sectors, source, observed_from
ACTIVITY_AREAS = [
    ("AA-K1", "G-KES", "territory", "high", ["M8 5", "M9 4", "M9 5"],
     "Neighbourhood policing and intelligence reports", "2024-06-01"),
    ("AA-K2", "G-KES", "drug_market", "medium", ["M8 0", "M8 8"],
     "Drug-market profile", "2025-03-01"),
    ("AA-K3", "G-KES", "frequent_presence", "low", ["M40 0"], "Stop checks", "2025-09-01"),
    ("AA-H1", "G-HER", "territory", "high", ["M16 7", "M14 4"],
     "Neighbourhood policing and intelligence reports", "2023-11-01"),
    ("AA-H2", "G-HER", "territory", "medium", ["M15 5"], "Intelligence reports", "2024-08-01"),
    ("AA-H3", "G-HER", "drug_market", "medium", ["M12 4"], "Drug-market profile",
     "2025-05-01"),
    ("AA-H4", "G-HER", "frequent_presence", "low", ["M4 1"], "Licensed premises reports",
     "2025-10-01"),
]

# incident_id, occurred_at, kind, group_id, target_address_id, anchor postcode, description,
# confidence
INCIDENTS = [
    ("INC-001", "2026-11-24T23:40:00", "shooting", "G-HER", "A01", "M8 5EH",
     "Shots fired at front door and window; partner and two children inside; no injuries.",
     "high"),
    ("INC-002", "2026-10-03T01:15:00", "firearm_discharge", "G-HER", "A04", "M40 0BH",
     "Shots fired at a Kestrel associate's home from a passing car.", "medium"),
    ("INC-003", "2026-09-12T22:30:00", "firearm_discharge", "G-KES", "A11", "M15 5ZA",
     "Shots fired at a Heron associate's home; believed retaliation.", "medium"),
    ("INC-004", "2026-08-20T03:10:00", "arson", "G-HER", "A03", "M9 6PL",
     "Car set alight outside the subject's mother's home.", "medium"),
    ("INC-005", "2026-05-10T14:00:00", "threat", "G-HER", "A05", "M8 0SA",
     "Two men threatened staff at the car wash and asked where the subject lives.", "medium"),
    ("INC-006", "2025-12-06T21:45:00", "shooting", "G-KES", "A12", "M16 7BY",
     "Shots fired near the Heron head's home; one man injured.", "medium"),
    ("INC-007", "2026-07-15T23:20:00", "stabbing", "G-HER", None, "M15 5ZA",
     "Kestrel associate stabbed outside a takeaway.", "medium"),
    ("INC-008", "2026-06-02T01:30:00", "assault", None, None, "M4 1LZ",
     "Fight between members of both groups outside a bar.", "low"),
]

# clusters of lesser incidents: (anchor postcode, group, count, spread_m, kinds)
CLUSTERS = [
    ("M16 7BY", "G-HER", 9, 350.0, ("assault", "threat", "other", "stabbing")),
    ("M8 5EH", "G-KES", 7, 300.0, ("assault", "other", "threat")),
    ("M12 4NH", "G-HER", 6, 300.0, ("assault", "other")),
]

# Greater Manchester postcode districts from which candidate vacancies are drawn
GM_DISTRICT_PREFIXES = (
    [f"M{i}" for i in range(1, 47)]
    + [f"OL{i}" for i in range(1, 17) if i not in (13, 14)]  # Bacup, Todmorden: not GM
    + [f"BL{i}" for i in range(0, 10)]
    + ["SK1", "SK2", "SK3", "SK4", "SK5", "SK6", "SK7", "SK8", "SK14", "SK15", "SK16"]
    + [f"WN{i}" for i in range(1, 8)]
    + ["WA14", "WA15"]
)
# sectors of those districts that lie mostly outside Greater Manchester
NON_GM_SECTORS = ("BL0 0", "BL7 0", "BL7 8", "OL12 8", "WN4 0", "WN5 7", "WN6 9")
# sectors close to the threats, so the demo ranking has refusals to explain
NEAR_THREAT_SECTORS = ("M8 5", "M9 4", "M9 5", "M9 8", "M16 7", "M14 4", "M15 5", "M40 0")
PROVIDERS = ("Alder Homes", "Brookline Housing", "Council temporary stock", "Pinfold Trust")
N_CANDIDATES = 320


def _sector_polygon(units: gpd.GeoDataFrame, sectors: list[str]) -> shapely.Geometry:
    """A readable outline around the postcode units of some sectors (metres)."""
    pts = units.geometry[units["sector"].isin(sectors)].to_numpy()
    hull = shapely.concave_hull(shapely.multipoints(pts), ratio=0.35)
    return shapely.simplify(shapely.buffer(hull, 120.0), 25.0)


def _at(postcodes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    found = geocode_postcodes(postcodes, source="demo")
    return found["easting"].to_numpy(), found["northing"].to_numpy()


def build_demo_case(*, as_of: dt.datetime = AS_OF) -> Case:
    """The demo case, identical on every call (dates fixed relative to ``as_of``)."""
    rng = np.random.default_rng(SEED)
    shift = as_of - AS_OF

    def when(iso: str) -> str:
        stamp = dt.datetime.fromisoformat(iso) + shift
        return stamp.strftime("%Y-%m-%dT%H:%M:%S") if "T" in iso else stamp.strftime("%Y-%m-%d")

    case = pd.DataFrame({
        "case_ref": [DEMO_REF],
        "title": ["Operation Larkspur (fictional demo case)"],
        "classification": ["OFFICIAL-SENSITIVE"],
        "created_at": [when("2026-11-25")],
        "review_at": [when("2027-02-25")],
    })
    groups = pd.DataFrame(GROUPS, columns=["group_id", "name", "colour", "notes"])
    people = pd.DataFrame(
        PEOPLE, columns=["person_id", "label", "role", "group_id", "ttl_risk", "notes"]
    )

    ax, ay = _at([a[3] for a in ADDRESSES])
    addresses = gpd.GeoDataFrame(
        pd.DataFrame(ADDRESSES, columns=["address_id", "label", "kind", "postcode",
                                         "known_to_rivals", "status"]),
        geometry=gpd.points_from_xy(ax, ay), crs=BNG,
    )
    links = pd.DataFrame(LINKS, columns=["person_id", "address_id", "relation"])

    all_sectors = sorted({s for a in ACTIVITY_AREAS for s in a[4]})
    seed_x, seed_y = _at(["M8 5EH", "M16 7BY"])
    units = postcode_units(
        (min(seed_x) - 6000, min(seed_y) - 6000, max(seed_x) + 6000, max(seed_y) + 6000)
    )
    units = units[units["sector"].isin(all_sectors)]
    activity = gpd.GeoDataFrame(
        {
            "area_id": [a[0] for a in ACTIVITY_AREAS],
            "group_id": [a[1] for a in ACTIVITY_AREAS],
            "kind": [a[2] for a in ACTIVITY_AREAS],
            "confidence": [a[3] for a in ACTIVITY_AREAS],
            "source": [a[5] for a in ACTIVITY_AREAS],
            "observed_from": [when(a[6]) for a in ACTIVITY_AREAS],
            "observed_to": [when("2026-11-24")] * len(ACTIVITY_AREAS),
        },
        geometry=[_sector_polygon(units, a[4]) for a in ACTIVITY_AREAS],
        crs=BNG,
    )

    incidents = _incidents(rng, when)
    candidates = _candidates(rng, when)

    zone = shapely.Point(_at(["M8 0SA"])[0][0], _at(["M8 0SA"])[1][0]).buffer(450.0, 8)
    zones = gpd.GeoDataFrame(
        {
            "zone_id": ["Z-D01"],
            "kind": ["no_go"],
            "reason": ["Cheetham Hill Road shops: Heron members seen asking after the family"],
            "applies_to": ["P02,P05"],
            "source": ["drawn"],
            "drawn_by": ["demo"],
        },
        geometry=[zone],
        crs=BNG,
    )
    layers = {
        "case": case, "groups": groups, "people": people, "activity_areas": activity,
        "incidents": incidents, "addresses": addresses, "links": links,
        "candidates": candidates, "zones": zones,
    }
    return validate_case(Case(layers), now=as_of + dt.timedelta(days=1)).raise_if_fatal(
        source="demo case"
    )


def _incidents(rng: np.random.Generator, when) -> gpd.GeoDataFrame:
    rows = []
    ix, iy = _at([i[5] for i in INCIDENTS])
    for (iid, at, kind, gid, target, _pc, desc, conf), x, y in zip(
        INCIDENTS, ix, iy, strict=True
    ):
        dx, dy = (0.0, 0.0) if target else rng.normal(0, 60, 2)
        rows.append((iid, when(at), kind, gid, target, desc, conf, x + dx, y + dy))
    n = len(rows)
    cx, cy = _at([c[0] for c in CLUSTERS])
    start = dt.datetime(2025, 6, 1)
    for (_pc, gid, count, spread, kinds), x0, y0 in zip(CLUSTERS, cx, cy, strict=True):
        for _ in range(count):
            n += 1
            dx, dy = rng.normal(0, spread / 2, 2)
            day = start + dt.timedelta(days=int(rng.integers(0, 530)),
                                       hours=int(rng.integers(0, 24)))
            kind = kinds[int(rng.integers(0, len(kinds)))]
            desc = {
                "assault": "Assault linked to drug supply (intelligence)",
                "threat": "Threats made in the street (intelligence)",
                "other": "Group members seen carrying weapons (intelligence)",
                "stabbing": "Stabbing linked to drug supply",
            }[kind]
            conf = ("low", "medium", "high")[int(rng.integers(0, 3))]
            rows.append((f"INC-{n:03d}", when(day.strftime("%Y-%m-%dT%H:%M:%S")), kind, gid,
                         None, desc, conf, x0 + dx, y0 + dy))
    frame = pd.DataFrame(rows, columns=["incident_id", "occurred_at", "kind", "group_id",
                                        "target_address_id", "description", "confidence",
                                        "x", "y"])
    geometry = gpd.points_from_xy(frame.pop("x").round(1), frame.pop("y").round(1))
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=BNG)


def _candidates(rng: np.random.Generator, when) -> gpd.GeoDataFrame:
    # every Greater Manchester postcode unit, in a fixed order
    units = postcode_units((330_000, 375_000, 410_000, 425_000))
    units = units[units["district"].isin(GM_DISTRICT_PREFIXES)
                  & ~units["sector"].isin(NON_GM_SECTORS)].sort_values("postcode")
    near = units[units["sector"].isin(NEAR_THREAT_SECTORS)]
    rest = units[~units["sector"].isin(NEAR_THREAT_SECTORS)]
    pick_near = near.iloc[np.sort(rng.choice(len(near), 24, replace=False))]
    pick_rest = rest.iloc[np.sort(rng.choice(len(rest), N_CANDIDATES - 24, replace=False))]
    chosen = pd.concat([pick_rest, pick_near]).sort_values("postcode").reset_index(drop=True)
    n = len(chosen)
    bedrooms = rng.choice([1, 2, 2, 3, 3, 3, 4], n)
    kinds = {1: "flat", 2: "flat", 3: "house", 4: "house"}
    providers = rng.choice(PROVIDERS, n)
    days = rng.integers(0, 60, n)
    labels = [
        f"Vacancy V-{i + 1:04d}: {b}-bed {kinds[int(b)]}, {p}"
        for i, (b, p) in enumerate(zip(bedrooms, providers, strict=True))
    ]
    return gpd.GeoDataFrame(
        {
            "candidate_id": [f"V-{i + 1:04d}" for i in range(n)],
            "label": labels,
            "postcode": chosen["postcode"].to_numpy(),
            "bedrooms": bedrooms,
            "provider": providers,
            "available_from": [
                when((AS_OF + dt.timedelta(days=int(d))).strftime("%Y-%m-%d")) for d in days
            ],
            "notes": [""] * n,
        },
        geometry=chosen.geometry.to_numpy(),
        crs=BNG,
    )


def write_demo(out_dir: str | Path) -> Path:
    """Write ``demo_case.gpkg`` and ``demo_vacancies.csv`` (postcodes only) to ``out_dir``."""
    out = Path(out_dir)
    case = build_demo_case()
    path = write_case(case, out / "demo_case.gpkg")
    cands = case["candidates"].head(40)
    pd.DataFrame({
        "candidate_id": cands["candidate_id"].str.replace("V-", "N-", regex=False),
        "label": cands["label"].str.replace("Vacancy V-", "New vacancy N-", regex=False),
        "postcode": cands["postcode"],
    }).to_csv(out / "demo_vacancies.csv", index=False)
    return path

"""The ranking screen's helpers: vacancy lists, the table, the download."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import pandas as pd

from geo.errors import InputError, Problem, ValidationError
from geo.io import csv_safe, read_rows
from geo.model import check_layer
from geo.rank import RANK_COLUMNS
from ui import data
from ui.uploads import saved_upload

TABLE_COLUMNS = {
    "rank": "Rank", "label": "Label", "postcode": "Postcode", "eligible": "Eligible",
    "score": "Score", "nearest_threat": "Nearest threat", "nearest_threat_m": "Distance (m)",
    "school_min": "School run (min)", "reasons": "Reasons",
}


def read_vacancies(upload) -> tuple[gpd.GeoDataFrame, str]:
    """An uploaded vacancy list as candidates (geocoded offline) and a key for caching.

    Raises
    ------
    ValidationError
        Listing every row that failed (bad or unknown postcodes, missing columns); nothing
        is used.
    """
    raw = upload.getvalue()
    with saved_upload(upload, data.settings()) as path:
        frame, problems = read_rows(path, "candidates", settings=data.settings(),
                                    display_name=upload.name)
    checked, found = check_layer("candidates", frame, row_base=2)
    flagged = {p.row for p in problems}
    problems = problems + [p for p in found
                           if not (p.row in flagged and p.column in ("geometry", "postcode"))]
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems, source=upload.name)
    return checked, hashlib.sha256(raw).hexdigest()[:16]


def failed_rows(exc: Exception) -> pd.DataFrame:
    """The rows a vacancy list was refused for, as a table."""
    problems: list[Problem] = getattr(exc, "problems", [])
    return pd.DataFrame({"row": [p.row for p in problems],
                         "column": [p.column for p in problems],
                         "problem": [p.message for p in problems]})


def table(ranked: pd.DataFrame) -> pd.DataFrame:
    """The ranked candidates as the screen shows them."""
    out = pd.DataFrame(ranked[list(TABLE_COLUMNS)]).rename(columns=TABLE_COLUMNS)
    out["Distance (m)"] = out["Distance (m)"].round(0)
    return out


def best_line(ranked: pd.DataFrame, n: int = 3) -> str:
    """The best few eligible candidates in one line (shown as plain text)."""
    best = ranked[ranked["eligible"]].head(n)
    if not len(best):
        return "no candidate is eligible with these limits."
    return ", ".join(f"{i} ({s:.1f})" for i, s in zip(best["candidate_id"], best["score"],
                                                       strict=True))


def download(ranked: pd.DataFrame) -> bytes:
    """The ranking as CSV with the contract columns, safe to open in a spreadsheet."""
    return csv_safe(pd.DataFrame(ranked[RANK_COLUMNS])).to_csv(index=False).encode("utf-8")


def explanation(row: pd.Series) -> list[tuple[str, str]]:
    """A candidate's full explanation, as (heading, text) pairs (shown as text)."""
    return [
        ("Candidate", f"{row['candidate_id']}: {row['label']} ({row['postcode']})"),
        ("Rank", f"{int(row['rank'])} ({'eligible' if row['eligible'] else 'not eligible'})"),
        ("Score", f"{row['score']:.1f} of 100"),
        ("Threat score", f"{row['threat_score']:.2f}"),
        ("School run", "none" if pd.isna(row["school_min"]) else
         f"{row['school_min']:.0f} min"
         + (" (estimated)" if row["school_min_estimated"] else " (street network)")),
        ("Why", str(row["reasons"])),
    ]


def rules_table() -> pd.DataFrame:
    """Who is at risk from whom (:data:`geo.sources.RULES`), one row per rule."""
    from geo.sources import RULES

    return pd.DataFrame({"Rule": [r.rule_id for r in RULES],
                         "Source kind": [r.kind.replace("_", " ") for r in RULES],
                         "What becomes a threat source": [r.text for r in RULES]})


def check_weights(weights: dict[str, float]) -> None:
    if sum(weights.values()) <= 0:
        msg = "set at least one weight above zero"
        raise InputError(msg)

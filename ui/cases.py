"""Case operations for the Cases screen (the page stays a description of the UI)."""

from __future__ import annotations

import pandas as pd

from geo.demo import build_demo_case
from geo.errors import GeoError, ValidationError
from geo.io import read_case
from geo.model import validate_case
from geo.store import CaseInfo, uk_time
from ui import data
from ui.uploads import saved_upload


def table(cases: list[CaseInfo]) -> pd.DataFrame:
    return pd.DataFrame({
        "case": [c.ref for c in cases],
        "title": [c.title for c in cases],
        "classification": [c.classification for c in cases],
        "version": [c.version for c in cases],
        "last change": [f"{uk_time(c.updated_at)} by {c.updated_by}" for c in cases],
        "status": ["archived" if c.archived else "open" for c in cases],
    })


def create_from_upload(upload, *, actor: str) -> str:
    """Check an uploaded case GeoPackage and store it; return its reference."""
    with saved_upload(upload, data.settings()) as path:
        case = read_case(path)
    report = validate_case(case)
    cleaned = report.raise_if_fatal(source=upload.name)
    return data.store().create_case(cleaned, actor=actor,
                                    reason=f"created from {path.name}")


def create_demo(*, actor: str) -> str:
    return data.store().create_case(build_demo_case(), actor=actor,
                                    reason="fictional demo case")


def set_archived(ref: str, archived: bool, *, actor: str, reason: str) -> int:
    s = data.store()
    if archived:
        return s.archive_case(ref, actor=actor, reason=reason)
    return s.restore_case(ref, actor=actor, reason=reason)


def problem_lines(exc: GeoError) -> list[str]:
    """Every problem of a refused case, one per line (errors first)."""
    if isinstance(exc, ValidationError):
        return [str(p) for p in sorted(exc.problems, key=lambda p: p.severity != "error")]
    return []

"""Case operations for the Cases screen (the page stays a description of the UI)."""

from __future__ import annotations

import pandas as pd

from geo.access import PERMISSIONS
from geo.demo import build_demo_case
from geo.errors import GeoError, ValidationError
from geo.io import read_case
from geo.model import validate_case
from geo.store import CaseInfo, uk_time
from ui import data, session
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


def may(permission: str) -> bool:
    """Whether the signed-in user's role may do this (the engine checks again)."""
    user = session.user()
    return user is not None and user.role in PERMISSIONS[permission]


def create_from_upload(upload) -> str:
    """Check an uploaded case GeoPackage and store it; return its reference."""
    with saved_upload(upload, data.settings()) as path:
        case = read_case(path, settings=data.settings())
    cleaned = validate_case(case).raise_if_fatal(source=upload.name)
    return session.secure().create_case(cleaned, reason=f"created from {path.name}")


def create_demo() -> str:
    return session.secure().create_case(build_demo_case(), reason="fictional demo case")


def set_archived(ref: str, archived: bool, *, reason: str) -> int:
    secure = session.secure()
    if archived:
        return secure.archive_case(ref, reason=reason)
    return secure.restore_case(ref, reason=reason)


def problem_lines(exc: GeoError) -> list[str]:
    """Every problem of a refused case, one per line (errors first)."""
    if isinstance(exc, ValidationError):
        return [str(p) for p in sorted(exc.problems, key=lambda p: p.severity != "error")]
    return []

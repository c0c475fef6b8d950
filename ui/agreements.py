"""Helpers for the agreements screen: the default template as text, review date, preview."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pandas as pd

from geo.errors import InputError
from geo.model import Case

TEMPLATE = Path(__file__).resolve().parents[1] / "geo" / "templates" / "agreement.toml"


def template_text() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


def template_from_text(text: str) -> dict:
    """An edited template, parsed; bad TOML is refused with the reason."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"the agreement's words are not valid TOML ({exc})"
        raise InputError(msg) from None


def default_review(case: Case) -> dt.date:
    """The case's review date, or three months from today."""
    value = case["case"]["review_at"].iloc[0] if len(case["case"]) else None
    if isinstance(value, str) and value:
        return pd.Timestamp(value).date()
    return dt.date.today() + dt.timedelta(days=91)

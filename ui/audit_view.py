"""The audit screen's table."""

from __future__ import annotations

import json

import pandas as pd


def table(records) -> pd.DataFrame:
    return pd.DataFrame({
        "#": [r.seq for r in records],
        "when (UK)": [r.uk_time for r in records],
        "user": [r.username for r in records],
        "action": [r.action for r in records],
        "case": [r.case_ref or "" for r in records],
        "what": [json.dumps(r.what, ensure_ascii=False, sort_keys=True) for r in records],
        "why": [r.why for r in records],
    })

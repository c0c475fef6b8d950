"""Filters for the map screen: a date range for incidents and a choice of groups."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from geo.model import Case


def incident_dates(case: Case) -> tuple[dt.date, dt.date]:
    """The first and last incident dates (today twice when there are none)."""
    inc = case["incidents"]
    if not len(inc):
        today = dt.date.today()
        return today, today
    when = pd.to_datetime(inc["occurred_at"], format="ISO8601")
    return when.min().date(), when.max().date()


def filtered(case: Case, *, since: dt.date, until: dt.date, groups: list[str]) -> Case:
    """The case with incidents outside the dates, and areas and incidents of groups not
    chosen, left out (unattributed incidents stay while the dates allow)."""
    inc = case["incidents"]
    when = pd.to_datetime(inc["occurred_at"], format="ISO8601").dt.date
    keep = (when >= since) & (when <= until)
    keep &= inc["group_id"].isna() | inc["group_id"].isin(groups)
    areas = case["activity_areas"]
    return case.replace(incidents=inc[keep.to_numpy()],
                        activity_areas=areas[areas["group_id"].isin(groups).to_numpy()])

"""The meeting view's helpers: one opened view per session and case version, and tables
that show roles, never names."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.access import CaseView
from ui import session

KEY = "_meeting_view"


def kept(ref: str) -> CaseView:
    return st.session_state[KEY]


def needs_opening(ref: str) -> bool:
    """Whether the meeting view must be opened (first look, other case, newer version)."""
    view: CaseView | None = st.session_state.get(KEY)
    return view is None or view.ref != ref or view.version != session.secure().case_info(
        ref).version


def keep(view: CaseView) -> None:
    st.session_state[KEY] = view


def people_table(view: CaseView) -> pd.DataFrame:
    """People by role, as the meeting view names them."""
    people = view.case["people"]
    return pd.DataFrame({"person": people["label"], "role": people["role"].str.replace("_", " ")})


def zones_table(zones: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"zone": zones["zone_id"], "reason": zones["reason"]})

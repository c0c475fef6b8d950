"""The entry page opens on the demo case with its classification banner."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app.py"


def test_app_opens_on_the_demo_case():
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert "OFFICIAL-SENSITIVE" in at.warning[0].value
    assert "DEMO-2026-0147" in at.warning[0].value
    table = at.dataframe[0].value
    assert dict(zip(table["layer"], table["rows"], strict=True))["candidates"] == 320

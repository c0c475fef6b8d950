"""The README's two commands stay true: CI runs the test command exactly as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```(?:sh|bash)\n(.+?)\n```", text)


def test_readme_opens_with_the_two_commands():
    run, test = readme_commands()[:2]
    assert "streamlit run app.py" in run
    assert "pip install" in run
    assert "pytest" in test
    assert "pip install" in test
    head = (ROOT / "README.md").read_text().split("```")[0]
    assert len(head.splitlines()) < 12, "the commands come first"


def test_ci_runs_the_readme_test_command_verbatim():
    test = readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci
    assert ci[-1] == test
    assert "SAFEPLAN_CI=1" in "\n".join(ci)

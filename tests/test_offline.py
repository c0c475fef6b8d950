"""Nothing leaves the machine: the command, run as users run it, with every outbound
connection refused and recorded (the same guard the browser tests put on the app server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GUARD = Path(__file__).parent / "e2e" / "netguard"


@pytest.fixture
def guarded(tmp_path):
    log = tmp_path / "outbound.log"
    log.touch()
    env = dict(os.environ, SAFEPLAN_NETGUARD_LOG=str(log), PYTHONPATH=str(GUARD),
               SAFEPLAN_DATA_DIR=str(tmp_path / "data"))

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "geo.cli", *argv], env=env,
                              capture_output=True, text=True, check=False, cwd=tmp_path)

    yield run, tmp_path
    assert log.read_text().split() == [], "the command tried to reach another host"


def test_every_command_works_offline(guarded):
    run, tmp = guarded
    case = str(tmp / "demo" / "demo_case.gpkg")
    steps = [
        ("demo", "--out", str(tmp / "demo")),
        ("validate", case),
        ("geocode", "M1 1AD", "WN3 4HE"),
        ("import", case, "candidates", str(tmp / "demo" / "demo_vacancies.csv")),
        ("zones", case, "--out", str(tmp / "zones.geojson")),
        ("hotspots", case, "--out", str(tmp / "hot.gpkg")),
        ("rank", case, "--out", str(tmp / "ranked.csv")),
        ("areas", case, "--out", str(tmp / "areas.kml")),
        ("agreement", case, "--person", "P02", "--out", str(tmp / "annex.pdf")),
        ("cases", "add", case),
        ("cases", "list"),
    ]
    for argv in steps:
        done = run(*argv)
        assert done.returncode == 0, (argv, done.stderr)
    assert (tmp / "annex.pdf").stat().st_size > 10_000


def test_streamlit_usage_statistics_are_off():
    import tomllib

    config = tomllib.loads((Path(__file__).parents[1] / ".streamlit" / "config.toml")
                           .read_text())
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["enableStaticServing"] is True

"""Settings: defaults send nothing anywhere; bad values are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo.errors import InputError
from geo.settings import Settings


def test_defaults_send_nothing_anywhere():
    s = Settings.from_env({"HOME": "/home/u"})
    assert s.tile_url == ""
    assert s.allow_osm_download is False
    assert s.data_dir == Path("/home/u/.local/share/safeplan")
    assert s.resolved_database_url == "sqlite:////home/u/.local/share/safeplan/safeplan.db"


def test_values_from_the_environment():
    s = Settings.from_env({
        "SAFEPLAN_DATA_DIR": "/srv/sp", "SAFEPLAN_DATABASE_URL": "postgresql+psycopg://x/y",
        "SAFEPLAN_TILE_URL": "https://tiles.example/{z}/{x}/{y}.png",
        "SAFEPLAN_TILE_ATTRIBUTION": "(c) Example", "SAFEPLAN_ALLOW_OSM_DOWNLOAD": "yes",
        "SAFEPLAN_MAX_UPLOAD_MB": "5",
    })
    assert s.data_dir == Path("/srv/sp")
    assert s.resolved_database_url == "postgresql+psycopg://x/y"
    assert s.allow_osm_download is True
    assert s.max_upload_mb == 5.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SAFEPLAN_ALLOW_OSM_DOWNLOAD": "perhaps"},
         "SAFEPLAN_ALLOW_OSM_DOWNLOAD must be true or false, got 'perhaps'"),
        ({"SAFEPLAN_MAX_UPLOAD_MB": "lots"}, "SAFEPLAN_MAX_UPLOAD_MB must be a number"),
        ({"SAFEPLAN_MAX_UPLOAD_ROWS": "0"}, "SAFEPLAN_MAX_UPLOAD_ROWS must be at least 1"),
        ({"SAFEPLAN_TILE_URL": "https://t/{z}/{x}/{y}.png"},
         "SAFEPLAN_TILE_URL is set but SAFEPLAN_TILE_ATTRIBUTION is empty"),
    ],
)
def test_bad_settings_are_refused_by_name(env, message):
    with pytest.raises(InputError, match=message):
        Settings.from_env(env)


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().tile_url = "x"  # type: ignore[misc]

"""Deployment settings, built once from the environment and passed explicitly.

Every setting that could send data off the machine is off unless an administrator turns it on:
there is no default tile server, no online geocoder and no street-graph download.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from geo.errors import InputError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    msg = f"{name} must be true or false, got {raw!r}"
    raise InputError(msg)


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        msg = f"{name} must be a number, got {raw!r}"
        raise InputError(msg) from None
    if value < minimum:
        msg = f"{name} must be at least {minimum:g}, got {raw!r}"
        raise InputError(msg)
    return value


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", ".")) / ".local" / "share")
    return Path(base) / "safeplan"


@dataclass(frozen=True)
class Settings:
    """What an administrator may configure; the defaults send nothing anywhere.

    Attributes
    ----------
    data_dir
        Folder for the default SQLite database, cached street graphs and uploads.
    database_url
        SQLAlchemy URL; empty means a SQLite file in ``data_dir``.
    tile_url, tile_attribution
        A tile server for the base map. Empty (the default) means the offline
        postcode-sector base map: a tile request would reveal which street is being viewed.
    allow_osm_download
        Whether a street graph may be fetched from the internet for a study area (it sends
        the area to a third party). Off by default.
    max_upload_mb, max_upload_rows
        Limits on any uploaded or imported file.
    idle_timeout_min, max_failed_logins
        Sign-in: idle sessions end, and an account locks after this many failures.
    """

    data_dir: Path = field(default_factory=lambda: _default_data_dir(os.environ))
    database_url: str = ""
    tile_url: str = ""
    tile_attribution: str = ""
    allow_osm_download: bool = False
    max_upload_mb: float = 50.0
    max_upload_rows: int = 200_000
    idle_timeout_min: float = 30.0
    max_failed_logins: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``SAFEPLAN_*`` variables; a bad value raises :class:`InputError` by name."""
        env = os.environ if env is None else env
        data_dir = env.get("SAFEPLAN_DATA_DIR") or str(_default_data_dir(env))
        tile_url = env.get("SAFEPLAN_TILE_URL", "").strip()
        attribution = env.get("SAFEPLAN_TILE_ATTRIBUTION", "").strip()
        if tile_url and not attribution:
            msg = "SAFEPLAN_TILE_URL is set but SAFEPLAN_TILE_ATTRIBUTION is empty"
            raise InputError(msg)
        return cls(
            data_dir=Path(data_dir).expanduser(),
            database_url=env.get("SAFEPLAN_DATABASE_URL", "").strip(),
            tile_url=tile_url,
            tile_attribution=attribution,
            allow_osm_download=_flag(env, "SAFEPLAN_ALLOW_OSM_DOWNLOAD"),
            max_upload_mb=_number(env, "SAFEPLAN_MAX_UPLOAD_MB", 50.0, minimum=0.001),
            max_upload_rows=int(_number(env, "SAFEPLAN_MAX_UPLOAD_ROWS", 200_000, minimum=1)),
            idle_timeout_min=_number(env, "SAFEPLAN_IDLE_TIMEOUT_MIN", 30.0, minimum=1),
            max_failed_logins=int(_number(env, "SAFEPLAN_MAX_FAILED_LOGINS", 5, minimum=1)),
        )

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<data_dir>/safeplan.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'safeplan.db'}"

"""Deployment settings, built once from the environment and passed explicitly.

Every setting that could send data off the machine is off unless an administrator turns it on:
there is no default tile server, no online geocoder and no street-graph download.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
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
    idle_timeout_min, max_failed_logins, lockout_min
        Sign-in: idle sessions end, and an account locks for ``lockout_min`` minutes after
        ``max_failed_logins`` failures in a row.
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
    lockout_min: float = 15.0

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
            lockout_min=_number(env, "SAFEPLAN_LOCKOUT_MIN", 15.0, minimum=1),
        )

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<data_dir>/safeplan.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'safeplan.db'}"


# ---------------------------------------------------------------------------------------------
# the risk policy

_POLICY_FILE = Path(__file__).with_name("policy.toml")
_INTEGER_KEYS = {"min_incidents": (2, 100), "min_bedrooms": (0, 10),
                 "route_check_top": (0, 200), "max_areas": (1, 100)}
#: Text keys with a fixed set of values.
_CHOICES = {"network.mode": ("drive", "walk")}
#: Keys that divide or measure a size, where 0 would crash or silently switch a rule off.
_AT_LEAST = {"bandwidth_m": 1.0, "eps_m": 1.0, "buffer_m": 1.0, "max_snap_m": 1.0,
             "scale.support_km": 0.1, "max_area_km2": 0.01}


def _policy_range(path: str) -> tuple[float, float, str]:
    """The allowed range and unit of a numeric policy key, from its name."""
    parts = path.split(".")
    key = parts[-1]
    parent = parts[-2] if len(parts) > 1 else ""
    if key in _INTEGER_KEYS:
        lo, hi = _INTEGER_KEYS[key]
        return lo, hi, ""
    if key == "floor" or path == "hotspots.concave_ratio":
        return 0.0, 1.0, ""
    if key == "detour_factor":
        return 1.0, 3.0, ""
    if path == "scale.threat":
        return 0.001, 100.0, ""
    if path == "areas.cell_m":
        return 50.0, 2000.0, "metres"
    if path == "areas.min_score":
        return 0.0, 100.0, ""
    for suffix, lo, hi, unit in (("_m", 0, 50_000, "metres"), ("_km", 0, 500, "kilometres"),
                                 ("_km2", 0, 10_000, "square kilometres"),
                                 ("_days", 1, 3650, "days"), ("_min", 0, 600, "minutes"),
                                 ("_kph", 1, 130, "km/h")):
        if key.endswith(suffix) or parent.endswith(suffix):
            return _AT_LEAST.get(path, _AT_LEAST.get(key, lo)), hi, unit
    if key == "weight" or parts[0] == "weights":
        return 0.0, 10.0, ""
    if parent in ("kind", "confidence") or key.endswith("multiplier"):
        return 0.0, 5.0, ""
    return float("-inf"), float("inf"), ""


def _check_policy(
    given: Mapping, defaults: Mapping, *, origin: str, prefix: str = ""
) -> dict:
    """A checked deep copy of ``given``: every key known, every value typed and in range."""
    import difflib

    from geo.errors import PolicyError

    out: dict = {}
    for key, value in given.items():
        path = f"{prefix}{key}"
        if key not in defaults:
            close = difflib.get_close_matches(str(key), [str(k) for k in defaults], n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            msg = f"{origin}: unknown policy key '{path}'{hint}"
            raise PolicyError(msg)
        default = defaults[key]
        if isinstance(default, Mapping):
            if not isinstance(value, Mapping):
                msg = f"{origin}: policy key '{path}' must be a table of keys, got {value!r}"
                raise PolicyError(msg)
            out[key] = _check_policy(value, default, origin=origin, prefix=f"{path}.")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                msg = f"{origin}: policy key '{path}' must be true or false, got {value!r}"
                raise PolicyError(msg)
            out[key] = value
        elif isinstance(default, int | float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                msg = f"{origin}: policy key '{path}' must be a number, got {value!r}"
                raise PolicyError(msg)
            lo, hi, unit = _policy_range(path)
            if key in _INTEGER_KEYS and not float(value).is_integer():
                msg = f"{origin}: policy key '{path}' must be a whole number, got {value!r}"
                raise PolicyError(msg)
            if not lo <= value <= hi:
                unit_text = f" {unit}" if unit else ""
                msg = (f"{origin}: policy key '{path}' must be between {lo:g} and {hi:g}"
                       f"{unit_text}, got {value!r}")
                raise PolicyError(msg)
            out[key] = type(default)(value) if isinstance(default, float) else value
        else:
            if not isinstance(value, str):
                msg = f"{origin}: policy key '{path}' must be text, got {value!r}"
                raise PolicyError(msg)
            if path in _CHOICES and value not in _CHOICES[path]:
                allowed = ", ".join(_CHOICES[path])
                msg = f"{origin}: policy key '{path}' must be one of {allowed}, got {value!r}"
                raise PolicyError(msg)
            out[key] = value
    return out


def _merge(base: Mapping, over: Mapping) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            out[key] = _merge(base[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Policy:
    """The risk policy: the package defaults with overrides applied in order.

    ``origins`` names where each layer of overrides came from, for messages and the audit
    trail. Read values with :meth:`get` (a dotted path) or :meth:`table`.
    """

    data: Mapping = field(repr=False, hash=False, compare=True)
    origins: tuple[str, ...] = ("defaults",)

    @classmethod
    def default(cls) -> Policy:
        return cls(_default_policy_data())

    def with_overrides(self, overrides: Mapping | str, *, origin: str) -> Policy:
        """A new policy with ``overrides`` (a mapping or TOML text) applied on top.

        Raises
        ------
        PolicyError
            TOML that does not parse, an unknown key, a value of the wrong type or out of
            range; the message names ``origin`` and the key.
        """
        import tomllib

        from geo.errors import PolicyError

        if isinstance(overrides, str):
            try:
                overrides = tomllib.loads(overrides)
            except tomllib.TOMLDecodeError as exc:
                msg = f"{origin}: not valid TOML ({exc})"
                raise PolicyError(msg) from None
        checked = _check_policy(overrides, _default_policy_data(), origin=origin)
        return Policy(_merge(self.data, checked), (*self.origins, origin))

    def with_file(self, path: str | os.PathLike) -> Policy:
        """A new policy with a TOML file applied on top."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"{path}: cannot read policy file ({exc.strerror})"
            raise InputError(msg) from None
        return self.with_overrides(text, origin=path.name)

    def get(self, path: str):
        """A value by dotted path, e.g. ``policy.get("sources.incident.half_life_days")``."""
        node = self.data
        for part in path.split("."):
            node = node[part]
        return node

    def table(self, path: str) -> dict:
        """A table by dotted path, as a plain dict."""
        return dict(self.get(path))

    def changes(self) -> dict:
        """The keys that differ from the defaults, as a nested dict."""
        return _diff(self.data, _default_policy_data())

    def to_toml(self) -> str:
        """The overrides (keys that differ from the defaults) as TOML text."""
        return _to_toml(self.changes())


def _diff(data: Mapping, base: Mapping) -> dict:
    out: dict = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            sub = _diff(value, base.get(key, {}))
            if sub:
                out[key] = sub
        elif base.get(key) != value:
            out[key] = value
    return out


def _to_toml(data: Mapping, prefix: str = "") -> str:
    scalars = [(k, v) for k, v in data.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in data.items() if isinstance(v, Mapping)]
    lines: list[str] = []
    if scalars and prefix:
        lines.append(f"[{prefix}]")
    for key, value in scalars:
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            text = repr(value)
        lines.append(f"{key} = {text}")
    out = "\n".join(lines)
    for key, value in tables:
        sub = _to_toml(value, f"{prefix}.{key}" if prefix else key).strip()
        out = f"{out}\n\n{sub}" if out else sub
    return out.strip() + ("\n" if out.strip() else "")


@cache
def _default_policy_text() -> str:
    return _POLICY_FILE.read_text(encoding="utf-8")


def _default_policy_data() -> dict:
    """The defaults, parsed afresh each time so no caller can change another's copy."""
    import tomllib

    return tomllib.loads(_default_policy_text())

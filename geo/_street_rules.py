"""Which OpenStreetMap ways each travel mode uses, and how fast: one explicit table.

Private to :mod:`geo.network`, which re-exports the public names. README "Street networks"
shows the same table in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

from geo.errors import InputError

Mode = Literal["drive", "walk"]
MODES: tuple[str, ...] = get_args(Mode)


@dataclass(frozen=True)
class ModeRule:
    """Which OpenStreetMap ways a mode keeps.

    A way is kept when its ``highway`` value is in ``highways``, it is not an area
    (``area=yes``), its ``service`` value is not in ``excluded_service``, and the most specific
    access tag present, looked up in the order of ``access_keys``, is not in
    :data:`DENIED_ACCESS`. One-way streets (``oneway=yes/-1``, roundabouts) are one-way when
    ``two_way`` is false; walkers use every way in both directions.
    """

    highways: frozenset[str]
    access_keys: tuple[str, ...]
    excluded_service: frozenset[str]
    two_way: bool


#: Access values that shut a way to the mode (``access``, ``foot``, ``motor_vehicle``, ...).
DENIED_ACCESS = frozenset({"no", "private", "agricultural", "forestry", "emergency", "delivery"})

_ROADS = frozenset({
    "trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link",
    "tertiary", "tertiary_link", "unclassified", "residential", "living_street", "service",
    "road",
})

#: The explicit table of what each mode keeps (see :class:`ModeRule`; README "Street networks").
MODE_RULES: Mapping[str, ModeRule] = MappingProxyType({
    "drive": ModeRule(
        highways=_ROADS | {"motorway", "motorway_link"},
        access_keys=("motorcar", "motor_vehicle", "vehicle", "access"),
        # as osmnx's "drive_service" network: no car parks, driveways, alleys, private ways
        excluded_service=frozenset({"alley", "driveway", "emergency_access", "parking",
                                    "parking_aisle", "private"}),
        two_way=False,
    ),
    "walk": ModeRule(
        # never motorways (walking on them is unlawful); every other road unless foot=no
        highways=_ROADS | {"footway", "path", "pedestrian", "steps", "cycleway", "bridleway",
                           "track"},
        access_keys=("foot", "access"),
        excluded_service=frozenset({"private"}),
        two_way=True,
    ),
})

#: Free-flow car speeds (km/h) for ways with no usable ``maxspeed`` tag: the UK limit usual
#: for each road type in towns. A tagged ``maxspeed`` (``30 mph`` is converted) wins.
DRIVE_SPEEDS_KPH: Mapping[str, float] = MappingProxyType({
    "motorway": 112.0, "motorway_link": 64.0,
    "trunk": 64.0, "trunk_link": 48.0,
    "primary": 48.0, "primary_link": 40.0,
    "secondary": 48.0, "secondary_link": 40.0,
    "tertiary": 48.0, "tertiary_link": 40.0,
    "unclassified": 40.0, "residential": 32.0, "road": 32.0,
    "living_street": 16.0, "service": 16.0,
})

#: Walking speed (km/h) on every way, whatever its ``maxspeed``.
WALK_SPEED_KPH = 4.8

#: OSM way tags the rules read; osmnx keeps only the tags in ``settings.useful_tags_way``.
WAY_TAGS = ("access", "area", "foot", "highway", "junction", "maxspeed", "motor_vehicle",
             "motorcar", "name", "oneway", "ref", "service", "vehicle")


def tag_value(value: object) -> str | None:
    """A tag value in lower case (first of a list or of ``a;b``), None when absent."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value).split(";")[0].strip().lower()


def way_allowed(tags: Mapping[str, object], mode: Mode) -> bool:
    """Whether a way with these OSM tags is used by ``mode`` (see :data:`MODE_RULES`).

    >>> way_allowed({"highway": "residential"}, "drive")
    True
    >>> way_allowed({"highway": "trunk", "foot": "no"}, "walk")
    False
    >>> way_allowed({"highway": "service", "access": "no", "motor_vehicle": "yes"}, "drive")
    True
    """
    rule = MODE_RULES[check_mode(mode)]
    if tag_value(tags.get("highway")) not in rule.highways:
        return False
    if tag_value(tags.get("area")) == "yes":
        return False
    if tag_value(tags.get("service")) in rule.excluded_service:
        return False
    for key in rule.access_keys:
        value = tag_value(tags.get(key))
        if value is not None:
            return value not in DENIED_ACCESS
    return True


def speed_table(mode: Mode, speeds_kph: Mapping[str, float] | None = None) -> dict[str, float]:
    """The speed (km/h) per ``highway`` type for ``mode``, with a policy's overrides applied.

    Parameters
    ----------
    mode
        ``"drive"`` starts from :data:`DRIVE_SPEEDS_KPH`; ``"walk"`` gives every way
        :data:`WALK_SPEED_KPH`.
    speeds_kph
        Overrides by highway type, e.g. ``{"residential": 25}`` or, walking,
        ``{"steps": 2.4}``. Keys must be highway types the mode uses.

    Returns
    -------
    dict
        Highway type to km/h, sorted by type.
    """
    rule = MODE_RULES[check_mode(mode)]
    table = dict(DRIVE_SPEEDS_KPH) if mode == "drive" else dict.fromkeys(
        rule.highways, WALK_SPEED_KPH)
    for key, value in (speeds_kph or {}).items():
        if key not in rule.highways:
            msg = (f"speed given for {key!r}, which is not a highway type used when the mode "
                   f"is {mode!r}; expected one of {', '.join(sorted(rule.highways))}")
            raise InputError(msg)
        try:
            speed = float(value)
        except (TypeError, ValueError):
            speed = math.nan
        if not 0 < speed <= 200:
            msg = f"speed for {key!r} must be more than 0 and at most 200 km/h, got {value!r}"
            raise InputError(msg)
        table[key] = speed
    return dict(sorted(table.items()))


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else an InputError naming ``name``."""
    if value not in choices:
        msg = f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}"
        raise InputError(msg)
    return value  # type: ignore[return-value]


def check_mode(mode: object) -> Mode:
    return check_choice("mode", mode, MODES)  # type: ignore[return-value]

"""The case: its layers, their columns, and validation that reports every problem at once.

A case is a set of named layers (DESIGN section 4). Geometry layers are GeoDataFrames in
EPSG:27700; the others are DataFrames. :func:`validate_case` checks a case and returns a
cleaned copy plus a list of :class:`~geo.errors.Problem`, each naming layer, row and column;
fatal problems have severity ``"error"``, repairs and doubts ``"warning"``.

Notes
-----
Canonical in-memory types: text columns are pandas strings (missing = NA); booleans are
``bool``; whole numbers are nullable ``Int64``; dates are ISO 8601 text (``2026-11-24`` or
``2026-11-24T23:40:00``, local UK time) so that a round trip through any store is exact.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import BNG, GB_BOUNDS_BNG, GB_BOUNDS_WGS84, inside
from geo.errors import Problem, ValidationError

ColumnKind = Literal["id", "text", "enum", "bool", "int", "float", "date", "idlist", "postcode"]
GeometryKind = Literal["Point", "Polygon"]


@dataclass(frozen=True)
class Column:
    """A column of a layer: its name, kind, whether it is required and allowed values."""

    name: str
    kind: ColumnKind = "text"
    required: bool = False
    values: tuple[str, ...] = ()
    default: object = None
    future_ok: bool = True
    """For dates: whether a date after today is allowed (a review date, a vacancy)."""


@dataclass(frozen=True)
class LayerSpec:
    """A layer of the case file: geometry kind (or none), id column and columns."""

    name: str
    geometry: GeometryKind | None
    columns: tuple[Column, ...]
    id_column: str | None = None
    rows: Literal["one", "at_most_one", "many"] = "many"
    description: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


CLASSIFICATIONS = ("OFFICIAL", "OFFICIAL-SENSITIVE", "SECRET")
CONFIDENCE = ("low", "medium", "high")
PERSON_ROLES = (
    "subject",
    "partner",
    "former_partner",
    "child",
    "relative",
    "associate",
    "rival",
)
TTL_RISK = ("high", "medium", "low", "none")
AREA_KINDS = ("territory", "drug_market", "frequent_presence", "derived_hotspot")
INCIDENT_KINDS = (
    "shooting",
    "firearm_discharge",
    "stabbing",
    "assault",
    "arson",
    "threat",
    "other",
)
ADDRESS_KINDS = (
    "home",
    "former_home",
    "family",
    "associate",
    "business",
    "school",
    "support",
    "temporary",
)
ADDRESS_STATUS = ("current", "vacated")
RELATIONS = ("resides", "resided", "frequents", "attends", "works", "supports")
ZONE_KINDS = ("exclusion", "no_go", "safe_area")
ZONE_SOURCES = ("derived", "drawn")

LAYERS: dict[str, LayerSpec] = {
    spec.name: spec
    for spec in (
        LayerSpec(
            "case",
            None,
            (
                Column("case_ref", "id", required=True),
                Column("title"),
                Column(
                    "classification",
                    "enum",
                    values=CLASSIFICATIONS,
                    default="OFFICIAL-SENSITIVE",
                ),
                Column("created_at", "date", future_ok=False),
                Column("review_at", "date"),
            ),
            id_column="case_ref",
            rows="one",
            description="The case itself: reference, title, classification, review date.",
        ),
        LayerSpec(
            "groups",
            None,
            (
                Column("group_id", "id", required=True),
                Column("name", required=True),
                Column("colour"),
                Column("notes"),
            ),
            id_column="group_id",
            description="Organised crime groups involved in the case.",
        ),
        LayerSpec(
            "people",
            None,
            (
                Column("person_id", "id", required=True),
                Column("label", required=True),
                Column("role", "enum", required=True, values=PERSON_ROLES),
                Column("group_id", "id"),
                Column("ttl_risk", "enum", values=TTL_RISK),
                Column("notes"),
            ),
            id_column="person_id",
            description="The subject, family, associates and rivals.",
        ),
        LayerSpec(
            "activity_areas",
            "Polygon",
            (
                Column("area_id", "id", required=True),
                Column("group_id", "id", required=True),
                Column("kind", "enum", values=AREA_KINDS, default="territory"),
                Column("confidence", "enum", values=CONFIDENCE, default="medium"),
                Column("source"),
                Column("observed_from", "date", future_ok=False),
                Column("observed_to", "date", future_ok=False),
            ),
            id_column="area_id",
            description="Where each group is active.",
        ),
        LayerSpec(
            "incidents",
            "Point",
            (
                Column("incident_id", "id", required=True),
                Column("occurred_at", "date", required=True, future_ok=False),
                Column("kind", "enum", required=True, values=INCIDENT_KINDS),
                Column("group_id", "id"),
                Column("target_address_id", "id"),
                Column("description"),
                Column("confidence", "enum", values=CONFIDENCE, default="medium"),
            ),
            id_column="incident_id",
            description="Shootings, assaults and other incidents.",
        ),
        LayerSpec(
            "addresses",
            "Point",
            (
                Column("address_id", "id", required=True),
                Column("label", required=True),
                Column("kind", "enum", required=True, values=ADDRESS_KINDS),
                Column("postcode", "postcode"),
                Column("known_to_rivals", "bool", default=False),
                Column("status", "enum", values=ADDRESS_STATUS, default="current"),
            ),
            id_column="address_id",
            description="Homes, family, schools, support and other linked addresses.",
        ),
        LayerSpec(
            "links",
            None,
            (
                Column("person_id", "id", required=True),
                Column("address_id", "id", required=True),
                Column("relation", "enum", required=True, values=RELATIONS),
            ),
            description="Who lives at, lived at, attends or frequents which address.",
        ),
        LayerSpec(
            "candidates",
            "Point",
            (
                Column("candidate_id", "id", required=True),
                Column("label", required=True),
                Column("postcode", "postcode"),
                Column("bedrooms", "int"),
                Column("provider"),
                Column("available_from", "date"),
                Column("notes"),
            ),
            id_column="candidate_id",
            description="Candidate relocation addresses (a vacancy list).",
        ),
        LayerSpec(
            "zones",
            "Polygon",
            (
                Column("zone_id", "id", required=True),
                Column("kind", "enum", required=True, values=ZONE_KINDS),
                Column("reason", required=True),
                Column("applies_to", "idlist"),
                Column("source", "enum", values=ZONE_SOURCES, default="drawn"),
            ),
            id_column="zone_id",
            description="Exclusion zones, no-go areas and safe areas, each with its reason.",
        ),
        LayerSpec(
            "boundaries",
            "Polygon",
            (
                Column("name", required=True),
                Column("code"),
                Column("kind"),
            ),
            description="Optional named areas: local authorities, wards, estates.",
        ),
        LayerSpec(
            "policy",
            None,
            (Column("toml", required=True),),
            rows="at_most_one",
            description="The case's risk policy (TOML), overriding the defaults.",
        ),
    )
}

LAYER_NAMES: tuple[str, ...] = tuple(LAYERS)
GEOMETRY_LAYERS: tuple[str, ...] = tuple(n for n, s in LAYERS.items() if s.geometry)

#: Foreign keys: (layer, column) -> (layer, id column). ``idlist`` columns hold several.
REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("people", "group_id"): ("groups", "group_id"),
    ("activity_areas", "group_id"): ("groups", "group_id"),
    ("incidents", "group_id"): ("groups", "group_id"),
    ("incidents", "target_address_id"): ("addresses", "address_id"),
    ("links", "person_id"): ("people", "person_id"),
    ("links", "address_id"): ("addresses", "address_id"),
    ("zones", "applies_to"): ("people", "person_id"),
}

_BOOL_TRUE = {"true", "t", "yes", "y", "1"}
_BOOL_FALSE = {"false", "f", "no", "n", "0"}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UK_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}( \d{1,2}:\d{2}(:\d{2})?)?$")


def empty_layer(name: str) -> pd.DataFrame:
    """An empty layer with the right columns (and geometry in EPSG:27700 where it has one)."""
    spec = LAYERS[name]
    frame = pd.DataFrame({c.name: pd.Series([], dtype=_dtype(c)) for c in spec.columns})
    if spec.geometry:
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=BNG), crs=BNG)
    return frame


def _dtype(column: Column) -> str:
    return {"bool": "bool", "int": "Int64", "float": "float64"}.get(column.kind, "str")


class Case(Mapping[str, pd.DataFrame]):
    """The layers of one case, every known layer present (empty when not given).

    A case is treated as a value: :meth:`replace` returns a new case. Layers are not copied
    on access; do not modify them in place.
    """

    def __init__(self, layers: Mapping[str, pd.DataFrame] | None = None):
        layers = dict(layers or {})
        self._layers: dict[str, pd.DataFrame] = {}
        for name in LAYER_NAMES:
            frame = layers.pop(name, None)
            self._layers[name] = empty_layer(name) if frame is None else frame
        # layers this version does not know are kept, untouched, so nothing is lost
        self.extra_layers: dict[str, pd.DataFrame] = layers

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self._layers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def replace(self, **layers: pd.DataFrame) -> Case:
        """A new case with some layers replaced."""
        unknown = set(layers) - set(LAYER_NAMES)
        if unknown:
            msg = f"unknown layer(s): {', '.join(sorted(unknown))}"
            raise KeyError(msg)
        merged = {**self._layers, **layers, **self.extra_layers}
        return Case(merged)

    def _case_value(self, column: str, default: str = "") -> str:
        frame = self._layers["case"]
        if len(frame) == 0 or column not in frame.columns:
            return default
        value = frame[column].iloc[0]
        return default if _missing(value) else str(value)

    @property
    def case_ref(self) -> str:
        return self._case_value("case_ref")

    @property
    def title(self) -> str:
        return self._case_value("title")

    @property
    def classification(self) -> str:
        return self._case_value("classification", "OFFICIAL-SENSITIVE")

    def counts(self) -> dict[str, int]:
        """Rows per layer."""
        return {name: len(frame) for name, frame in self._layers.items()}


@dataclass
class Report:
    """The outcome of validation: the cleaned case and every problem found."""

    case: Case
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_if_fatal(self, *, source: str = "") -> Case:
        """Return the cleaned case, or raise :class:`ValidationError` listing the errors."""
        if self.errors:
            raise ValidationError(self.problems, source=source)
        return self.case


def _missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


class RowLabels:
    """Row labels for messages: ``row N (id)``, N as a spreadsheet or file shows it."""

    def __init__(self, frame: pd.DataFrame, spec: LayerSpec, row_base: int):
        n = len(frame)
        ids: list[str] = [""] * n
        if spec.id_column and spec.id_column in frame.columns:
            ids = ["" if _missing(v) else str(v).strip() for v in frame[spec.id_column]]
        self.labels = [
            f"row {i + row_base}" + (f" ({ident})" if ident else "") for i, ident in enumerate(ids)
        ]

    def __getitem__(self, position: int) -> str:
        return self.labels[position]


def _text(series: pd.Series) -> pd.Series:
    """Strings stripped of surrounding space; empty becomes missing."""
    out = series.astype("object").map(
        lambda v: None if _missing(v) else (str(v).strip() if not isinstance(v, float) else _num(v))
    )
    return out.astype("str")


def _num(value: float) -> str:
    # a spreadsheet turns ids such as 12 into 12.0; give back what the user typed
    return str(int(value)) if float(value).is_integer() else repr(value)


def parse_date(value: object, *, now: dt.datetime | None = None) -> str:
    """One date or date-time as canonical ISO 8601 text; raises ``ValueError`` if unparsable.

    Accepts ISO 8601 (``2026-11-24``, ``2026-11-24T23:40``, with an offset or ``Z``, which
    is converted to UK local time) and UK spreadsheet dates (``24/11/2026 23:40``).
    """
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date) and not isinstance(value, str):
        stamp = pd.Timestamp(value)
    else:
        text = str(value).strip()
        if _UK_DATE.match(text):
            fmt = ("%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")[text.count(":")]
            stamp = pd.Timestamp(dt.datetime.strptime(text, fmt))
        elif _ISO_DATE.match(text) or re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d", text):
            stamp = pd.Timestamp(text)
        else:
            msg = f"{text!r} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)"
            raise ValueError(msg)
    if stamp is pd.NaT:
        msg = f"{value!r} is not a date"
        raise ValueError(msg)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("Europe/London").tz_localize(None)
    if stamp.hour == stamp.minute == stamp.second == 0 and stamp.microsecond == 0:
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S")


def _check_dates(
    values: pd.Series, col: Column, rows: RowLabels, layer: str, now: dt.datetime
) -> tuple[pd.Series, list[Problem]]:
    problems: list[Problem] = []
    out: list[str | None] = []
    today = now.strftime("%Y-%m-%d")
    stamp_now = now.strftime("%Y-%m-%dT%H:%M:%S")
    for i, value in enumerate(values):
        if _missing(value):
            out.append(None)
            continue
        try:
            iso = parse_date(value)
        except (ValueError, OverflowError) as exc:
            problems.append(Problem("error", layer, rows[i], col.name, str(exc)))
            out.append(str(value))
            continue
        future = iso > (today if len(iso) == 10 else stamp_now)
        if future and not col.future_ok:
            problems.append(
                Problem("error", layer, rows[i], col.name, f"date {iso} is in the future")
            )
        out.append(iso)
    return pd.Series(out, index=values.index, dtype="str"), problems


def _check_enum(
    values: pd.Series, col: Column, rows: RowLabels, layer: str
) -> tuple[pd.Series, list[Problem]]:
    problems: list[Problem] = []
    upper = col.name == "classification"
    cleaned = values.map(
        lambda v: (
            None
            if _missing(v)
            else (str(v).strip().upper() if upper else str(v).strip().lower().replace(" ", "_"))
        )
    )
    allowed = set(col.values)
    for i, value in enumerate(cleaned):
        if not _missing(value) and value not in allowed:
            problems.append(
                Problem(
                    "error",
                    layer,
                    rows[i],
                    col.name,
                    f"unknown value {values.iloc[i]!r}; expected one of {', '.join(col.values)}",
                )
            )
    if col.default is not None:
        cleaned = cleaned.map(lambda v: col.default if _missing(v) else v)
    return cleaned.astype("str"), problems


def _check_postcodes(
    values: pd.Series, col: Column, rows: RowLabels, layer: str
) -> tuple[pd.Series, list[Problem]]:
    """Postcodes in standard form; a malformed one is kept as typed, with a warning."""
    from geo.geocode import normalise_postcodes

    text = _text(values)
    normal = normalise_postcodes(text)
    problems = [
        Problem("warning", layer, rows[i], col.name,
                f"{text.iloc[i]!r} is not a valid UK postcode; kept as typed")
        for i in np.flatnonzero((text.notna() & normal.isna()).to_numpy())
    ]
    return normal.fillna(text).astype("str"), problems


def _check_bool(
    values: pd.Series, col: Column, rows: RowLabels, layer: str
) -> tuple[pd.Series, list[Problem]]:
    problems: list[Problem] = []
    out: list[bool] = []
    for i, value in enumerate(values):
        if _missing(value):
            out.append(bool(col.default))
        elif isinstance(value, bool | np.bool_):
            out.append(bool(value))
        elif str(value).strip().lower() in _BOOL_TRUE:
            out.append(True)
        elif str(value).strip().lower() in _BOOL_FALSE:
            out.append(False)
        else:
            problems.append(
                Problem("error", layer, rows[i], col.name, f"{value!r} is not true or false")
            )
            out.append(False)
    return pd.Series(out, index=values.index, dtype="bool"), problems


def _check_number(
    values: pd.Series, col: Column, rows: RowLabels, layer: str
) -> tuple[pd.Series, list[Problem]]:
    problems: list[Problem] = []
    numbers = pd.to_numeric(values.map(lambda v: None if _missing(v) else v), errors="coerce")
    for i, (raw, num) in enumerate(zip(values, numbers, strict=True)):
        if _missing(raw):
            continue
        if pd.isna(num):
            problems.append(Problem("error", layer, rows[i], col.name, f"{raw!r} is not a number"))
        elif col.kind == "int" and not float(num).is_integer():
            problems.append(
                Problem("error", layer, rows[i], col.name, f"{raw!r} is not a whole number")
            )
    if col.kind == "int":
        whole = numbers.where(numbers.isna() | (numbers % 1 == 0))
        return whole.astype("Int64"), problems
    return numbers.astype("float64"), problems


def _check_geometry(
    frame: pd.DataFrame, spec: LayerSpec, rows: RowLabels
) -> tuple[gpd.GeoSeries | None, list[Problem]]:
    """Geometry type, emptiness, CRS, swapped or out-of-GB coordinates; polygons repaired."""
    layer = spec.name
    problems: list[Problem] = []
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        if len(frame) == 0:
            return gpd.GeoSeries([], crs=BNG, index=frame.index), problems
        problems.append(
            Problem("error", layer, "", "geometry", f"layer has no {spec.geometry} geometry")
        )
        return None, problems
    geoms = frame.geometry
    if geoms.crs is None:
        if len(frame) == 0:
            return gpd.GeoSeries([], crs=BNG, index=frame.index), problems
        problems.append(
            Problem(
                "error",
                layer,
                "",
                "geometry",
                "no coordinate reference system; expected EPSG:27700 or EPSG:4326",
            )
        )
        return None, problems

    arr = np.asarray(geoms.values, dtype=object)
    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    types = shapely.get_type_id(arr)
    ok_types = {0: (0,), 3: (3, 6)}[0 if spec.geometry == "Point" else 3]
    bad_type = ~missing & ~np.isin(types, ok_types)
    for i in np.flatnonzero(missing):
        problems.append(
            Problem("error", layer, rows[i], "geometry", "geometry is missing or empty")
        )
    for i in np.flatnonzero(bad_type):
        got = shapely.get_type_id(arr[i])
        name = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
                5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}[int(got)]
        problems.append(
            Problem(
                "error",
                layer,
                rows[i],
                "geometry",
                f"geometry is a {name}; this layer holds {spec.geometry}s",
            )
        )
    usable = ~missing & ~bad_type

    crs = CRS.from_user_input(geoms.crs)
    bounds = shapely.bounds(arr)  # NaN for missing
    if crs.is_geographic:
        x_lo, y_lo, x_hi, y_hi = bounds.T
        in_gb = inside(x_lo, y_lo, GB_BOUNDS_WGS84) & inside(x_hi, y_hi, GB_BOUNDS_WGS84)
        swapped = inside(y_lo, x_lo, GB_BOUNDS_WGS84) & inside(y_hi, x_hi, GB_BOUNDS_WGS84)
        for i in np.flatnonzero(usable & ~in_gb):
            if swapped[i]:
                msg = (
                    f"latitude and longitude look swapped (got x={x_lo[i]:.5f}, "
                    f"y={y_lo[i]:.5f}); longitude comes first"
                )
            else:
                msg = f"coordinates x={x_lo[i]:.5f}, y={y_lo[i]:.5f} are outside Great Britain"
            problems.append(Problem("error", layer, rows[i], "geometry", msg))
        usable &= in_gb
    try:
        projected = geoms.to_crs(BNG) if crs.to_epsg() != BNG else geoms
    except Exception as exc:  # pyproj's own errors for odd CRSs
        problems.append(
            Problem("error", layer, "", "geometry", f"cannot convert to EPSG:27700: {exc}")
        )
        return None, problems
    if not crs.is_geographic:
        x_lo, y_lo, x_hi, y_hi = shapely.bounds(np.asarray(projected.values, dtype=object)).T
        in_gb = inside(x_lo, y_lo, GB_BOUNDS_BNG) & inside(x_hi, y_hi, GB_BOUNDS_BNG)
        for i in np.flatnonzero(usable & ~in_gb):
            problems.append(
                Problem(
                    "error",
                    layer,
                    rows[i],
                    "geometry",
                    f"coordinates ({x_lo[i]:.0f}, {y_lo[i]:.0f}) are outside Great Britain "
                    "in EPSG:27700",
                )
            )

    out = np.asarray(projected.values, dtype=object).copy()
    if spec.geometry == "Polygon":
        valid = shapely.is_valid(out)
        for i in np.flatnonzero(usable & ~valid):
            reason = shapely.is_valid_reason(out[i])
            repaired = _polygonal(shapely.make_valid(out[i]))
            if repaired is None:
                problems.append(
                    Problem(
                        "error",
                        layer,
                        rows[i],
                        "geometry",
                        f"invalid polygon ({reason}) that cannot be repaired",
                    )
                )
                continue
            out[i] = repaired
            problems.append(
                Problem(
                    "warning",
                    layer,
                    rows[i],
                    "geometry",
                    f"invalid polygon ({reason}) was repaired with make_valid",
                )
            )
    return gpd.GeoSeries(out, index=frame.index, crs=BNG), problems


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    """The polygon parts of a repaired geometry, or None if none are left."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    merged = shapely.union_all(parts)
    return merged if not merged.is_empty else None


def check_layer(
    name: str,
    frame: pd.DataFrame,
    *,
    now: dt.datetime | None = None,
    row_base: int = 1,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Check and clean one layer on its own.

    Parameters
    ----------
    name
        Layer name (a key of :data:`LAYERS`).
    frame
        The rows; geometry layers as a GeoDataFrame with a CRS (EPSG:27700 or EPSG:4326).
    now
        The moment against which future dates are judged (default: now, local time).
    row_base
        Number of the first row in messages: 1 for a case layer, 2 for a file with a header.

    Returns
    -------
    The cleaned layer (columns of the schema first, in order, then any extra columns kept;
    geometry in EPSG:27700) and the problems found.
    """
    if name not in LAYERS:
        msg = f"unknown layer {name!r}; expected one of {', '.join(LAYER_NAMES)}"
        raise KeyError(msg)
    spec = LAYERS[name]
    now = now or dt.datetime.now()
    problems: list[Problem] = []
    frame = frame.reset_index(drop=True)
    rows = RowLabels(frame, spec, row_base)
    geom_name = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None

    missing_cols = [c for c in spec.required if c not in frame.columns]
    for col in missing_cols:
        problems.append(Problem("error", name, "", col, "required column is missing"))

    if spec.rows == "one" and len(frame) != 1:
        msg = f"must have exactly one row, has {len(frame)}"
        problems.append(Problem("error", name, "", "", msg))
    if spec.rows == "at_most_one" and len(frame) > 1:
        msg = f"must have at most one row, has {len(frame)}"
        problems.append(Problem("error", name, "", "", msg))

    cleaned: dict[str, pd.Series] = {}
    for col in spec.columns:
        if col.name not in frame.columns:
            if col.name in missing_cols:
                continue
            values = pd.Series([None] * len(frame), index=frame.index, dtype="object")
        else:
            values = frame[col.name]
        if col.required:
            for i, value in enumerate(values):
                if _missing(value):
                    problems.append(Problem("error", name, rows[i], col.name, "value is required"))
        if col.kind == "enum":
            series, found = _check_enum(values, col, rows, name)
        elif col.kind == "bool":
            series, found = _check_bool(values, col, rows, name)
        elif col.kind in ("int", "float"):
            series, found = _check_number(values, col, rows, name)
        elif col.kind == "date":
            series, found = _check_dates(values, col, rows, name, now)
        elif col.kind == "postcode":
            series, found = _check_postcodes(values, col, rows, name)
        elif col.kind == "idlist":
            series = _text(values).map(
                lambda v: (
                    v
                    if pd.isna(v)
                    else ",".join(p.strip() for p in str(v).split(",") if p.strip()) or None
                )
            ).astype("str")
            found = []
        else:
            series = _text(values)
            if col.default is not None:
                series = series.fillna(col.default)
            found = []
        problems.extend(found)
        cleaned[col.name] = series

    if spec.id_column and spec.id_column in cleaned:
        ids = cleaned[spec.id_column]
        dup = ids.notna() & ids.duplicated(keep="first")
        for i in np.flatnonzero(dup.to_numpy()):
            problems.append(
                Problem(
                    "error",
                    name,
                    rows[int(i)],
                    spec.id_column,
                    f"duplicate id {ids.iloc[int(i)]!r}",
                )
            )

    extra = [c for c in frame.columns if c not in cleaned and c != geom_name]
    for col in extra:
        cleaned[col] = frame[col]
    out = pd.DataFrame(cleaned, index=frame.index)
    out = out[[c for c in spec.column_names if c in out.columns] + extra]

    if spec.geometry:
        geometry, found = _check_geometry(frame, spec, rows)
        problems.extend(found)
        if geometry is None:
            geometry = gpd.GeoSeries([None] * len(frame), index=frame.index, crs=BNG)
        return gpd.GeoDataFrame(out, geometry=geometry.rename("geometry"), crs=BNG), problems
    return out, problems


def _check_references(layers: Mapping[str, pd.DataFrame], row_base: int) -> list[Problem]:
    problems: list[Problem] = []
    for (layer, column), (target, target_col) in REFERENCES.items():
        frame = layers.get(layer)
        target_frame = layers.get(target)
        if frame is None or column not in frame.columns or len(frame) == 0:
            continue
        known = set()
        if target_frame is not None and target_col in target_frame.columns:
            known = set(target_frame[target_col].dropna().astype(str))
        rows = RowLabels(frame.reset_index(drop=True), LAYERS[layer], row_base)
        for i, value in enumerate(frame[column]):
            if _missing(value):
                continue
            refs = str(value).split(",") if LAYERS[layer].column(column).kind == "idlist" else [
                str(value)
            ]
            for ref in (r.strip() for r in refs):
                if ref and ref not in known:
                    problems.append(
                        Problem(
                            "error",
                            layer,
                            rows[i],
                            column,
                            f"refers to {target} {ref!r}, which does not exist",
                        )
                    )
    return problems


def check_references(layers: Mapping[str, pd.DataFrame], *, row_base: int = 1) -> list[Problem]:
    """Every reference between the given layers that points at a row that does not exist.

    Only references whose layer is given are checked; give their target layers too (a
    missing target layer counts as empty).
    """
    return _check_references(layers, row_base)


def validate_case(
    case: Case | Mapping[str, pd.DataFrame],
    *,
    now: dt.datetime | None = None,
    row_base: int = 1,
) -> Report:
    """Check every layer and every reference between layers; return the cleaned case.

    Nothing is raised for bad data: all problems are in the report, fatal ones with
    severity ``"error"``. Use :meth:`Report.raise_if_fatal` to refuse a bad case.
    """
    layers = case if isinstance(case, Case) else Case(case)
    problems: list[Problem] = []
    cleaned: dict[str, pd.DataFrame] = {}
    for name in LAYER_NAMES:
        frame, found = check_layer(name, layers[name], now=now, row_base=row_base)
        cleaned[name] = frame
        problems.extend(found)
    problems.extend(_check_references(cleaned, row_base))
    out = Case({**cleaned, **layers.extra_layers})
    return Report(out, problems)


def merge_rows(
    case: Case,
    layer: str,
    rows: pd.DataFrame,
    *,
    now: dt.datetime | None = None,
    source: str = "",
    row_numbers: Sequence[int] | None = None,
) -> Case:
    """Append ``rows`` to ``layer`` all-or-nothing; return the new case.

    The new rows are checked on their own (row numbers as in their file: the header is row 1,
    or ``row_numbers`` when some rows of the file were left out) and then with the case
    (duplicate ids, references). Any fatal problem raises
    :class:`ValidationError` naming every bad row, and ``case`` is untouched.
    """
    checked, problems = check_layer(layer, rows, now=now, row_base=2)
    fatal = [p for p in problems if p.severity == "error"]
    if fatal:
        raise ValidationError(problems, source=source)
    spec = LAYERS[layer]
    existing = case[layer]
    if spec.id_column:
        taken = set(existing[spec.id_column].dropna().astype(str))
        numbers = list(row_numbers) if row_numbers is not None else range(2, len(checked) + 2)
        clashes = [
            Problem(
                "error",
                layer,
                f"row {numbers[i]} ({ident})",
                spec.id_column,
                f"id {ident!r} already exists in the case",
            )
            for i, ident in enumerate(checked[spec.id_column])
            if ident in taken
        ]
        if clashes:
            raise ValidationError(clashes, source=source)
    if spec.rows != "many" and len(existing) + len(checked) > 1:
        msg = f"layer {layer} holds one row; the case already has it"
        raise ValidationError([Problem("error", layer, "", "", msg)], source=source)
    combined = _concat(existing, checked)
    merged = case.replace(**{layer: combined})
    before = {str(p) for p in validate_case(case, now=now, row_base=2).errors}
    after = validate_case(merged, now=now, row_base=2)
    new = [p for p in after.errors if str(p) not in before]
    if new:
        # the new rows come after the existing ones: give them their numbers in the file
        numbers = list(row_numbers) if row_numbers is not None else range(2, len(checked) + 2)
        raise ValidationError([renumber(p, numbers, skip=len(existing)) if p.layer == layer
                               else p for p in new], source=source)
    return after.case


def renumber(problem: Problem, numbers: Sequence[int], *, skip: int = 0) -> Problem:
    """A problem found in a frame (header as row 1, first row as row 2) renamed to the row
    it has in its file: position ``i`` after the first ``skip`` rows is ``numbers[i]``.
    Problems not about one of those rows are returned as they are."""
    if not problem.row.startswith("row "):
        return problem
    head, _, rest = problem.row.partition(" (")
    position = int(head.split()[1]) - 2 - skip
    if not 0 <= position < len(numbers):
        return problem
    label = f"row {numbers[position]}" + (f" ({rest}" if rest else "")
    return Problem(problem.severity, problem.layer, label, problem.column, problem.message)


def _concat(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    if len(a) == 0:
        return b.reset_index(drop=True)
    if len(b) == 0:
        return a.reset_index(drop=True)
    out = pd.concat([a, b], ignore_index=True)
    if isinstance(a, gpd.GeoDataFrame):
        return gpd.GeoDataFrame(out, geometry="geometry", crs=BNG)
    return out


def problems_text(problems: Iterable[Problem]) -> str:
    """Problems one per line, errors first."""
    ordered = sorted(problems, key=lambda p: p.severity != "error")
    return "\n".join(str(p) for p in ordered)

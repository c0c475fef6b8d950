"""Case files and imports: the GeoPackage case file, CSV, GeoJSON, KML and police.uk CSVs.

Reading never trusts a file: sizes and row counts are limited, XML is parsed with DTDs and
entities refused, and every row problem is reported by row number (the header is row 1, as a
spreadsheet shows it). Imports are all-or-nothing: :func:`import_file` returns a new case or
raises, and a case file is only ever replaced whole (:func:`write_case` writes a temporary file
and renames it), so a failure leaves the file as it was.

police.uk street-level crime CSVs
---------------------------------
Recognised by their header (``Crime ID, Month, ..., Longitude, Latitude, ..., Crime type``).
``Month`` (``2024-03``) becomes ``occurred_at`` on the first of that month; the crime type is
kept in ``description``; ``confidence`` is ``low`` (police.uk moves every crime to a nearby
anonymised point); ``incident_id`` is ``PUK-`` and the Crime ID, or ``PUK-<month>-<row>``
when police.uk gives none (anti-social behaviour). ``kind`` follows :data:`POLICE_UK_KINDS`.
Rows without a location (police.uk withholds some) are refused unless ``skip_unlocated``.
"""

from __future__ import annotations

import contextlib
import csv
import io as _io
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from geo.crs import BNG, WGS84, to_bng
from geo.errors import InputError, Problem, ValidationError
from geo.geocode import lookup_postcodes
from geo.model import (
    LAYER_NAMES,
    LAYERS,
    Case,
    RowLabels,
    check_layer,
    merge_rows,
    renumber,
    validate_case,
)
from geo.settings import Settings

#: police.uk ``Crime type`` -> incident ``kind``. Anything not listed becomes ``other``.
POLICE_UK_KINDS: dict[str, str] = {
    "Violence and sexual offences": "assault",
    "Robbery": "assault",
    "Criminal damage and arson": "arson",
    "Public order": "threat",
    "Possession of weapons": "other",
    "Drugs": "other",
    "Anti-social behaviour": "other",
    "Burglary": "other",
    "Vehicle crime": "other",
    "Other theft": "other",
    "Theft from the person": "other",
    "Shoplifting": "other",
    "Bicycle theft": "other",
    "Other crime": "other",
}
_POLICE_UK_HEADER = {"crime_id", "month", "longitude", "latitude", "crime_type"}

_LAT = ("lat", "latitude")
_LON = ("lon", "lng", "long", "longitude")
_EAST = ("easting", "x_bng")
_NORTH = ("northing", "y_bng")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NO_LOCATION = "no location: give lat and lon, easting and northing, or a postcode"


@dataclass
class ImportSummary:
    """What an import added: the layer, the number of rows and any warnings."""

    layer: str
    rows: int
    warnings: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"added {self.rows} row{'s' if self.rows != 1 else ''} to {self.layer}"
        if self.skipped:
            text += f"; skipped {len(self.skipped)} without a location"
        if self.warnings:
            text += f"; {len(self.warnings)} warning(s)"
        return text


# ---------------------------------------------------------------------------------------------
# the case GeoPackage


def read_case(path: str | os.PathLike, *, settings: Settings | None = None) -> Case:
    """Read every known layer of a case GeoPackage as stored (check it with ``validate_case``).

    Each layer's feature count is read from the file's own index first
    (:func:`pyogrio.read_info`), so a layer of more than ``settings.max_upload_rows`` rows is
    refused before any of it is loaded.

    Raises
    ------
    InputError
        The file does not exist, is not a GeoPackage, is damaged, or a layer is too big.
    """
    path = existing_file(path)
    settings = settings or Settings.from_env()
    with _quiet_gdal():
        return _read_case(path, settings)


def existing_file(path: str | os.PathLike) -> Path:
    """``path``, or :class:`InputError` saying there is no such file."""
    path = Path(path)
    if not path.exists():
        msg = f"{path}: no such file"
        raise InputError(msg)
    return path


@contextmanager
def _quiet_gdal() -> Iterator[None]:
    """GDAL reports oddities in a damaged file as Python warnings, printed as extra lines;
    the file is refused with one clear message instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _read_case(path: Path, settings: Settings) -> Case:
    check_geopackage(path, path.name)
    try:
        listed = pyogrio.list_layers(path)
    except Exception:  # GDAL's DataSourceError and friends
        msg = f"{path.name}: not a GeoPackage that can be read"
        raise InputError(msg) from None
    present = {str(name) for name, _ in listed}
    if not present & set(LAYER_NAMES):
        msg = f"{path.name}: holds none of the case layers ({', '.join(LAYER_NAMES)})"
        raise InputError(msg)
    for name in sorted(present):
        _check_feature_count(path, path.name, settings, layer=name)
    layers: dict[str, pd.DataFrame] = {}
    for name in sorted(present):
        try:
            if name in LAYERS and not LAYERS[name].geometry:
                frame = pyogrio.read_dataframe(path, layer=name, read_geometry=False)
                frame = pd.DataFrame(frame)
            else:
                frame = pyogrio.read_dataframe(path, layer=name)
        except Exception as exc:
            msg = f"{path.name}: layer {name!r} cannot be read ({type(exc).__name__})"
            raise InputError(msg) from None
        if "fid" in frame.columns:
            frame = frame.drop(columns="fid")
        layers[name] = frame
    return Case(layers)


def _check_feature_count(path: Path, name: str, settings: Settings, *,
                         layer: str | None = None) -> None:
    """Refuse a layer with more rows than allowed, from the file's own count, before reading
    it; a file whose count cannot be read is refused as damaged."""
    where = f"layer {layer!r}" if layer else "the file"
    try:
        info = pyogrio.read_info(path, layer=layer) if layer else pyogrio.read_info(path)
        count = int(info.get("features", -1))
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"{name}: {where} cannot be read ({detail})"
        raise InputError(msg) from None
    if count > settings.max_upload_rows:
        msg = (f"{name}: {where} has {count} rows, over the limit of "
               f"{settings.max_upload_rows}; nothing was read")
        raise InputError(msg)


def open_case(path: str | os.PathLike) -> Case:
    """Read and validate a case GeoPackage; raise :class:`ValidationError` if it is unusable."""
    report = validate_case(read_case(path))
    return report.raise_if_fatal(source=Path(path).name)


@contextmanager
def case_file_lock(path: str | os.PathLike):
    """Hold the case file for a read-change-write, so two imports into one GeoPackage at
    once cannot silently drop each other's rows: the second waits, then reads the first's
    result. The lock is an advisory ``flock`` on ``<file>.lock`` beside it (kept, since
    removing it would let a third writer take a different lock)."""
    import fcntl

    target = existing_file(path)  # no lock file beside a case that is not there
    with open(target.with_name(target.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def case_file_path(path: str | os.PathLike) -> Path:
    """``path`` as a case file to write, or :class:`InputError` if it is not a ``.gpkg``."""
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        msg = f"{path.name}: a case file must end in .gpkg"
        raise InputError(msg)
    return path


def write_case(case: Case, path: str | os.PathLike) -> Path:
    """Write every layer to a GeoPackage in EPSG:27700, replacing ``path`` in one step.

    The file is written beside ``path`` under a temporary name and renamed into place, so a
    reader never sees half a file and a failure leaves the old file untouched.
    """
    path = case_file_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(suffix=".gpkg", prefix=".tmp-", dir=path.parent)
    os.close(handle)
    os.unlink(tmp)
    try:
        for name in list(LAYER_NAMES) + sorted(case.extra_layers):
            frame = case[name] if name in LAYERS else case.extra_layers[name]
            _write_layer(frame, tmp, name, LAYERS[name].geometry if name in LAYERS else None)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _write_layer(frame: pd.DataFrame, path: str, layer: str, geometry: str | None) -> None:
    if isinstance(frame, gpd.GeoDataFrame):
        gdf = to_bng(frame) if frame.crs is not None else frame.set_crs(BNG)
        # one declared type when the rows agree (a case layer's, or an extra layer's own); a
        # generic geometry layer when they mix, so each row keeps its own type
        types = set(gdf.geom_type.dropna())
        geometry_type = "Point" if geometry == "Point" else (
            types.pop() if len(types) == 1 else "Unknown")
        pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG",
                                geometry_type=geometry_type, promote_to_multi=False)
    else:
        pyogrio.write_dataframe(pd.DataFrame(frame), path, layer=layer, driver="GPKG")


# ---------------------------------------------------------------------------------------------
# reading rows to import


def _check_size(path: Path, settings: Settings) -> None:
    existing_file(path)
    size_mb = path.stat().st_size / 1_048_576
    if size_mb > settings.max_upload_mb:
        msg = f"{path.name}: {size_mb:.1f} MB is over the limit of {settings.max_upload_mb:g} MB"
        raise InputError(msg)


def _check_rows(frame: pd.DataFrame, name: str, settings: Settings) -> None:
    if len(frame) > settings.max_upload_rows:
        msg = f"{name}: {len(frame)} rows is over the limit of {settings.max_upload_rows}"
        raise InputError(msg)


def read_csv_text(data: bytes, name: str) -> pd.DataFrame:
    """A CSV as text cells: UTF-8 (with or without BOM) or the Windows-1252 of spreadsheets."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            msg = f"{name}: not a text file in UTF-8 or Windows-1252"
            raise InputError(msg) from None
    if "\x00" in text:
        msg = f"{name}: not a CSV text file (it contains NUL bytes)"
        raise InputError(msg)
    if not text.strip():
        msg = f"{name}: the file is empty"
        raise InputError(msg)
    try:
        _check_row_lengths(text, name)
        frame = pd.read_csv(_io.StringIO(text), dtype="str", keep_default_na=False,
                            skipinitialspace=True, index_col=False)
    except (pd.errors.ParserError, csv.Error) as exc:
        msg = f"{name}: not a readable CSV ({str(exc).splitlines()[0]})"
        raise InputError(msg) from None
    header = next(csv.reader(_io.StringIO(text.splitlines()[0])), [])
    names = [_column_name(c) for c in header]
    dupes = [c for i, c in enumerate(names) if c in names[:i]]
    if dupes:
        msg = f"{name}: column {dupes[0]!r} appears twice"
        raise InputError(msg)
    frame.columns = names
    return frame.replace("", None)


def _check_row_lengths(text: str, name: str) -> None:
    """Refuse a row with more cells than the header: its values would land in the wrong
    columns (usually an unquoted comma, as in WKT). Rows are numbered as in a spreadsheet,
    the header being row 1; blank lines are skipped, as the reader skips them."""
    records = (r for r in csv.reader(_io.StringIO(text)) if r)
    width = len(next(records, []))
    for row, record in enumerate(records, start=2):
        extra = record[width:]
        if any(cell.strip() for cell in extra):
            msg = (f"{name}: row {row} has {len(record)} values but the header names {width} "
                   f"columns (a value containing a comma must be in double quotes)")
            raise InputError(msg)


def _column_name(raw: object) -> str:
    return str(raw).strip().lower().replace(" ", "_")


def _first(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def is_police_uk(frame: pd.DataFrame) -> bool:
    """Whether a CSV has police.uk street-level crime columns."""
    return set(frame.columns) >= _POLICE_UK_HEADER


def police_uk_to_incidents(frame: pd.DataFrame) -> pd.DataFrame:
    """police.uk columns to ``incidents`` columns (see the module notes for the mapping)."""
    month = frame["month"].fillna("")
    occurred = month.where(~month.str.fullmatch(r"\d{4}-\d{2}"), month + "-01")
    crime_id = frame["crime_id"].fillna("").str.strip()
    fallback = "PUK-" + month + "-" + pd.Series(np.arange(2, len(frame) + 2), dtype="str").values
    ident = np.where(crime_id != "", "PUK-" + crime_id, fallback)
    crime_type = frame["crime_type"]
    out = pd.DataFrame(
        {
            "incident_id": ident,
            "occurred_at": occurred.replace("", None),
            "kind": crime_type.map(lambda t: POLICE_UK_KINDS.get(str(t).strip(), "other")),
            "description": crime_type,
            "confidence": "low",
            "lon": frame["longitude"],
            "lat": frame["latitude"],
        }
    )
    for source, target in (("location", "location"), ("lsoa_name", "lsoa_name"),
                           ("last_outcome_category", "last_outcome")):
        if source in frame.columns:
            out[target] = frame[source]
    return out


def row_labels(frame: pd.DataFrame, layer: str) -> list[str]:
    """``row N (id)`` for each row of a file with a header (the first data row is row 2)."""
    return RowLabels(frame.reset_index(drop=True), LAYERS[layer], 2).labels


def points_from_columns(
    frame: pd.DataFrame, layer: str
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Point geometry from ``lat/lon``, ``easting/northing`` or ``postcode``, row by row.

    Coordinates win over a postcode when both are given; postcodes are geocoded offline. A
    row with none of them, or with numbers that do not parse, is a problem.
    """
    n = len(frame)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    crs_of = np.full(n, 0)  # 0 none, 4326, 27700
    problems: list[Problem] = []
    row = row_labels(frame, layer)
    lat_c, lon_c = _first(frame, _LAT), _first(frame, _LON)
    east_c, north_c = _first(frame, _EAST), _first(frame, _NORTH)
    pairs = []
    if lat_c and lon_c:
        pairs.append((lon_c, lat_c, WGS84))
    if east_c and north_c:
        pairs.append((east_c, north_c, BNG))
    for xc, yc, code in pairs:
        given = frame[xc].notna() & frame[yc].notna()
        xs = pd.to_numeric(frame[xc], errors="coerce")
        ys = pd.to_numeric(frame[yc], errors="coerce")
        for i in np.flatnonzero((given & (xs.isna() | ys.isna())).to_numpy()):
            problems.append(
                Problem("error", layer, row[i], f"{xc}/{yc}",
                        f"{frame[xc].iloc[i]!r}, {frame[yc].iloc[i]!r} are not numbers")
            )
        use = (given & xs.notna() & ys.notna()).to_numpy() & (crs_of == 0)
        x[use], y[use], crs_of[use] = xs.to_numpy()[use], ys.to_numpy()[use], code
    if "postcode" in frame.columns:
        need = (crs_of == 0) & frame["postcode"].notna().to_numpy()
        if need.any():
            found = lookup_postcodes(frame["postcode"][need])
            idx = np.flatnonzero(need)
            for j, status in enumerate(found["status"]):
                i = idx[j]
                if status == "ok":
                    x[i], y[i], crs_of[i] = found["easting"][j], found["northing"][j], BNG
                elif status == "malformed":
                    problems.append(Problem("error", layer, row[i], "postcode",
                                            f"{found['input'][j]!r} is not a valid UK postcode"))
                else:
                    problems.append(Problem("error", layer, row[i], "postcode",
                                            f"{found['postcode'][j]!r} is not in Code-Point Open"))
    flagged = {p.row for p in problems}
    for i in np.flatnonzero(crs_of == 0):
        if row[i] not in flagged:
            problems.append(Problem(
                "error", layer, row[i], "geometry", NO_LOCATION,
            ))
    # one CRS for the frame: convert the WGS84 rows to BNG only where they are plausible,
    # so that swapped or out-of-GB values are reported by the model's checks in degrees
    geoms = np.array([None] * n, dtype=object)
    wgs = crs_of == WGS84
    if wgs.any() and not (crs_of == BNG).any():
        geoms[wgs] = shapely.points(x[wgs], y[wgs])
        return gpd.GeoDataFrame(frame, geometry=geoms, crs=WGS84), problems
    if wgs.any():
        from geo.crs import wgs84_to_bng

        ex, ny = wgs84_to_bng(x[wgs], y[wgs])
        x[wgs], y[wgs] = ex, ny
    ok = crs_of != 0
    geoms[ok] = shapely.points(x[ok], y[ok])
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=BNG), problems


def _polygons_from_wkt(frame: pd.DataFrame, layer: str) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    problems: list[Problem] = []
    row = row_labels(frame, layer)
    if "wkt" not in frame.columns:
        problems.append(Problem("error", layer, "", "wkt",
                                "a CSV of polygons needs a 'wkt' column (use GeoJSON or KML)"))
        return gpd.GeoDataFrame(frame, geometry=[None] * len(frame), crs=BNG), problems
    geoms = []
    for i, text in enumerate(frame["wkt"]):
        try:
            geoms.append(shapely.from_wkt(text) if isinstance(text, str) and text.strip()
                         else None)
        except shapely.errors.GEOSException:
            problems.append(Problem("error", layer, row[i], "wkt", "not valid WKT"))
            geoms.append(None)
    series = gpd.GeoSeries(geoms)
    bounds = series.total_bounds
    degrees = len(series.dropna()) and bool(np.all(np.abs(bounds) <= 180))
    crs = WGS84 if degrees else BNG
    return gpd.GeoDataFrame(frame.drop(columns="wkt"), geometry=geoms, crs=crs), problems


def _read_kml(data: bytes, name: str) -> gpd.GeoDataFrame:
    """Placemarks of a KML file: name, ExtendedData fields and Point/Polygon geometry.

    Parsed with defusedxml: a DTD, entity or external reference refuses the file.
    """
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except RecursionError:
        msg = f"{name}: not readable KML (nested too deeply)"
        raise InputError(msg) from None
    except DefusedXmlException:
        msg = f"{name}: KML with a DTD or entities is refused (it could read local files)"
        raise InputError(msg) from None
    except SafeET.ParseError as exc:
        msg = f"{name}: not well-formed XML ({exc})"
        raise InputError(msg) from None

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    def coords(elem) -> list[tuple[float, float]]:
        text = next((e.text or "" for e in elem.iter() if local(e.tag) == "coordinates"), "")
        pts = []
        for token in text.split():
            parts = token.split(",")
            pts.append((float(parts[0]), float(parts[1])))
        return pts

    def geometry(elem):
        kind = local(elem.tag)
        if kind == "Point":
            return shapely.Point(coords(elem)[0])
        if kind == "Polygon":
            outer, holes = None, []
            for child in elem:
                if local(child.tag) == "outerBoundaryIs":
                    outer = coords(child)
                elif local(child.tag) == "innerBoundaryIs":
                    holes.append(coords(child))
            return shapely.Polygon(outer, holes) if outer else None
        if kind == "MultiGeometry":
            parts = [geometry(c) for c in elem]
            parts = [p for p in parts if p is not None]
            return shapely.union_all(parts) if parts else None
        return None

    records, geoms = [], []
    for placemark in (e for e in root.iter() if local(e.tag) == "Placemark"):
        record: dict[str, object] = {}
        geom = None
        for child in placemark:
            tag = local(child.tag)
            if tag in ("name", "description"):
                record[tag] = child.text
            elif tag == "ExtendedData":
                for item in child.iter():
                    if local(item.tag) in ("Data", "SimpleData") and item.get("name"):
                        value = item.text
                        if local(item.tag) == "Data":
                            value = next((v.text for v in item if local(v.tag) == "value"), None)
                        record[_column_name(item.get("name"))] = value
            elif tag in ("Point", "Polygon", "MultiGeometry"):
                try:
                    geom = geometry(child)
                except (ValueError, IndexError, shapely.errors.GEOSException):
                    geom = None
                except RecursionError:
                    msg = f"{name}: not readable KML (geometry nested too deeply)"
                    raise InputError(msg) from None
        records.append(record)
        geoms.append(geom)
    return gpd.GeoDataFrame(pd.DataFrame(records), geometry=geoms, crs=WGS84)


def read_rows(
    path: str | os.PathLike,
    layer: str,
    *,
    settings: Settings | None = None,
    display_name: str | None = None,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Read a file of rows for ``layer``: CSV, police.uk CSV, GeoJSON, KML or GeoPackage.

    Returns the raw rows (geometry built but not yet checked) and the problems found while
    reading; a row with no location has no geometry and a problem saying so.
    """
    if layer not in LAYERS:
        msg = f"unknown layer {layer!r}; expected one of {', '.join(LAYER_NAMES)}"
        raise InputError(msg)
    settings = settings or Settings.from_env()
    path = Path(path)
    name = display_name or path.name
    _check_size(path, settings)
    spec = LAYERS[layer]
    suffix = path.suffix.lower()
    problems: list[Problem] = []
    if suffix in (".csv", ".txt"):
        frame = read_csv_text(path.read_bytes(), name)
        _check_rows(frame, name, settings)
        if is_police_uk(frame):
            if layer != "incidents":
                msg = f"{name}: a police.uk crime file can only be imported into incidents"
                raise InputError(msg)
            frame = police_uk_to_incidents(frame)
        if spec.geometry == "Point":
            frame, problems = points_from_columns(frame.reset_index(drop=True), layer)
        elif spec.geometry == "Polygon":
            frame, problems = _polygons_from_wkt(frame, layer)
    elif suffix in (".geojson", ".json", ".gpkg"):
        if suffix == ".gpkg":
            frame = _read_gpkg_layer(path, name, layer, settings)
        else:
            frame = read_geojson(path.read_bytes(), name, settings)
        geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
        frame.columns = [_column_name(c) if c != geometry else c for c in frame.columns]
        if geometry is None and spec.geometry:
            msg = f"{name}: has no geometry for the {layer} layer"
            raise InputError(msg)
        if geometry is not None and not spec.geometry:
            frame = pd.DataFrame(frame.drop(columns=geometry))
        frame = frame.drop(columns=["fid"], errors="ignore")
        _check_rows(frame, name, settings)
    elif suffix == ".kml":
        frame = _read_kml(path.read_bytes(), name)
        _check_rows(frame, name, settings)
    else:
        msg = f"{name}: unsupported file type {suffix or '(none)'}; use CSV, GeoJSON, KML or GPKG"
        raise InputError(msg)
    if len(frame) == 0:
        msg = f"{name}: the file has no rows"
        raise InputError(msg)
    return frame, problems


def _read_gpkg_layer(path: Path, name: str, layer: str, settings: Settings) -> gpd.GeoDataFrame:
    """One layer of an uploaded GeoPackage, checked by content before GDAL opens it."""
    check_geopackage(path, name)
    try:
        with _quiet_gdal():
            present = [str(n) for n, _ in pyogrio.list_layers(path)]
            if layer not in present:
                shown = ", ".join(present[:10]) or "none"
                msg = f"{name}: has no layer {layer!r} to import (its layers: {shown})"
                raise InputError(msg)
            _check_feature_count(path, name, settings, layer=layer)
            return pyogrio.read_dataframe(path, layer=layer)
    except InputError:
        raise
    except Exception as exc:
        msg = f"{name}: cannot be read as GPKG ({str(exc).splitlines()[0]})"
        raise InputError(msg) from None


#: The first bytes of a GeoPackage (an SQLite 3 database) and its application ids (1.2+,
#: 1.0, 1.1) at byte 68.
_SQLITE_MAGIC = b"SQLite format 3\x00"
_GPKG_IDS = (b"GPKG", b"GP10", b"GP11")


#: What a coordinate-system definition must not contain: references that make PROJ or GDAL
#: open a file or another source (grids, parameter files, init files, virtual paths, URLs).
OUTSIDE_REFERENCE = re.compile(
    r"parameterfile|nadgrids|geoidgrids|gridshift|\+init\s*=|/vsi|https?://|file:",
    re.IGNORECASE)


def check_geopackage(path: Path, name: str) -> None:
    """Refuse a file that is not a GeoPackage by its content, whatever its name.

    GDAL chooses a reader by looking at a file, and some of its formats are instructions to
    read other sources (a VRT or GDALG file can query any file or URL the server can reach).
    Only a real GeoPackage is ever handed to GDAL; other uploads are parsed in Python.
    """
    with open(path, "rb") as handle:
        head = handle.read(72)
    if len(head) < 72 or not head.startswith(_SQLITE_MAGIC) or head[68:72] not in _GPKG_IDS:
        msg = f"{name}: not a GeoPackage that can be read"
        raise InputError(msg)
    # a coordinate system can name a grid or parameter file that PROJ then opens (any path)
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro"
                                                "&immutable=1", uri=True)) as db:
            rows = db.execute("SELECT * FROM gpkg_spatial_ref_sys").fetchall()
    except sqlite3.Error:
        msg = f"{name}: not a GeoPackage that can be read"
        raise InputError(msg) from None
    if any(isinstance(v, str) and OUTSIDE_REFERENCE.search(v) for row in rows for v in row):
        msg = (f"{name}: a coordinate system in it refers to a file or another source; only "
               f"plain definitions (such as EPSG:27700 or EPSG:4326) are accepted")
        raise InputError(msg)


def read_boundary_file(path: str | os.PathLike, *,
                       settings: Settings | None = None) -> gpd.GeoDataFrame:
    """Every feature of a boundary file (GeoJSON, GeoPackage's first layer, KML or an ESRI
    Shapefile), each checked by content as uploads are."""
    settings = settings or Settings.from_env()
    path = Path(path)
    _check_size(path, settings)
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        return read_geojson(path.read_bytes(), path.name, settings)
    if suffix == ".kml":
        return _read_kml(path.read_bytes(), path.name)
    if suffix == ".gpkg":
        check_geopackage(path, path.name)
    elif suffix == ".shp":
        with open(path, "rb") as handle:
            if handle.read(4) != b"\x00\x00\x27\x0a":  # the shapefile's file code, 9994
                msg = f"{path.name}: not an ESRI Shapefile"
                raise InputError(msg)
    else:
        msg = f"{path.name}: a boundary file is .geojson, .gpkg, .kml or .shp"
        raise InputError(msg)
    try:
        with _quiet_gdal():
            _check_feature_count(path, path.name, settings)
            return pyogrio.read_dataframe(path)
    except InputError:
        raise
    except Exception as exc:
        msg = f"{path.name}: cannot read the boundary file ({type(exc).__name__})"
        raise InputError(msg) from None


def read_geojson(data: bytes, name: str, settings: Settings) -> gpd.GeoDataFrame:
    """A GeoJSON FeatureCollection (or one Feature) parsed in Python, never by GDAL.

    Coordinates are WGS84 (RFC 7946) unless the file names EPSG:27700 in the old ``crs``
    member; property names and values are kept as they are.
    """
    import json

    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        msg = f"{name}: not valid GeoJSON ({str(exc).splitlines()[0]})"
        raise InputError(msg) from None
    except RecursionError:
        msg = f"{name}: not valid GeoJSON (nested too deeply)"
        raise InputError(msg) from None
    kind = doc.get("type") if isinstance(doc, dict) else None
    features = doc.get("features") if kind == "FeatureCollection" else [doc]
    if kind not in ("FeatureCollection", "Feature") or not isinstance(features, list):
        msg = f"{name}: not GeoJSON features (expected a FeatureCollection)"
        raise InputError(msg)
    if len(features) > settings.max_upload_rows:
        msg = (f"{name}: the file has {len(features)} rows, over the limit of "
               f"{settings.max_upload_rows}; nothing was read")
        raise InputError(msg)
    rows, shapes = [], []
    for i, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            msg = f"{name}: feature {i} is not a GeoJSON Feature"
            raise InputError(msg)
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            msg = f"{name}: feature {i} has properties that are not an object"
            raise InputError(msg)
        rows.append(props)
        geometry = feature.get("geometry")
        try:
            shapes.append(None if geometry is None else json.dumps(geometry))
        except (TypeError, ValueError):
            msg = f"{name}: feature {i} has a geometry that is not valid GeoJSON"
            raise InputError(msg) from None
    texts = np.array(shapes, dtype=object)
    try:  # every geometry in one call; one at a time only to name a bad one
        shapes = list(shapely.from_geojson(texts))
    except shapely.errors.GEOSException:
        for i, text in enumerate(texts, start=1):
            try:
                shapely.from_geojson(text)
            except shapely.errors.GEOSException:
                msg = f"{name}: feature {i} has a geometry that is not valid GeoJSON"
                raise InputError(msg) from None
        raise
    given = doc.get("crs")
    given = given.get("properties") if isinstance(given, dict) else None
    crs_name = str(given.get("name", "")) if isinstance(given, dict) else ""
    crs = BNG if "27700" in crs_name else WGS84
    frame = pd.DataFrame(rows, index=range(len(rows)))
    if "geometry" in frame.columns:
        msg = (f"{name}: a property is called 'geometry', the name of the features' own "
               f"geometry; rename it")
        raise InputError(msg)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(shapes, crs=crs), crs=crs)


#: Two-part extensions kept whole by :func:`safe_filename`.
_COMPOUND_SUFFIXES = (".osm.gz", ".osm.bz2", ".xml.gz", ".xml.bz2", ".graphml.gz")


def safe_filename(name: str) -> str:
    """A file name that cannot leave its folder: the last part of any path (``/`` or
    ``\\``), no leading dots, only letters, digits, ``_`` and ``-`` in the stem, and a
    lower-case alphanumeric extension; ``upload`` when nothing usable is left.

    Examples
    --------
    >>> safe_filename("../../etc/passwd")
    'passwd'
    >>> safe_filename(r"C:\\Users\\me\\..\\Vacancies (Nov).CSV")
    'Vacancies_Nov.csv'
    >>> safe_filename("..")
    'upload'
    >>> safe_filename("Stretford extract.osm.gz")
    'Stretford_extract.osm.gz'
    """
    base = re.split(r"[\\/]", name or "")[-1]
    compound = next((c for c in _COMPOUND_SUFFIXES if base.lower().endswith(c)), None)
    if compound:  # a compressed street file keeps both parts: x.osm.gz
        stem, ext = base[:-len(compound)], compound[1:]
    else:
        stem, dot, ext = base.rpartition(".")
        if not dot:
            stem, ext = base, ""
        ext = re.sub(r"[^A-Za-z0-9]+", "", ext).lower()[:10]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_.") or "upload"
    return f"{stem[:80]}.{ext}" if ext else stem[:80]


def file_in(folder: str | os.PathLike, name: str) -> Path:
    """Where an uploaded file called ``name`` goes in ``folder``: always inside it.

    Raises
    ------
    InputError
        Cannot happen for names made by :func:`safe_filename`; kept as a last check.
    """
    root = Path(folder).resolve()
    target = (root / safe_filename(name)).resolve()
    if target.parent != root:
        msg = f"{safe_filename(name)}: not a plain file name"
        raise InputError(msg)
    return target


def import_file(
    case: Case,
    layer: str,
    path: str | os.PathLike,
    *,
    settings: Settings | None = None,
    skip_unlocated: bool = False,
    display_name: str | None = None,
) -> tuple[Case, ImportSummary]:
    """Add the rows of a file to a layer, all or nothing.

    Returns the new case and a summary; ``case`` itself is never changed. Every problem in
    the file is collected first; if any is fatal, :class:`ValidationError` lists them all.
    """
    name = display_name or Path(path).name
    frame, problems = read_rows(path, layer, settings=settings, display_name=name)
    frame = frame.reset_index(drop=True)
    file_rows = np.arange(2, len(frame) + 2)
    skipped: list[str] = []
    if skip_unlocated:
        unlocated = {p.row for p in problems if p.message.startswith(NO_LOCATION)}
        labels = row_labels(frame, layer)
        keep = np.array([label not in unlocated for label in labels], dtype=bool)
        skipped = [label for label in labels if label in unlocated]
        problems = [p for p in problems if p.row not in unlocated]
        frame, file_rows = frame[keep].reset_index(drop=True), file_rows[keep]
        if len(frame) == 0:
            msg = f"{name}: no row has a location"
            raise InputError(msg)
    checked, found = check_layer(layer, frame, row_base=2)
    found = [renumber(p, file_rows) for p in found]
    # the reader already said what is wrong with these rows' location: say it once
    flagged = {p.row for p in problems}
    said = {(p.row, p.column) for p in problems}
    found = [p for p in found if not (p.row in flagged and p.column in ("geometry", "postcode"))
             and (p.row, p.column) not in said]
    problems = sorted(problems + found, key=_row_order)
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems, source=name)
    merged = merge_rows(case, layer, checked, source=name, row_numbers=file_rows)
    summary = ImportSummary(layer, len(checked),
                            [p for p in problems if p.severity == "warning"], skipped)
    return merged, summary


def _row_order(problem: Problem) -> int:
    """File-level problems first, then by row number (a stable sort keeps column order)."""
    head = problem.row.split(" (")[0]
    return int(head.split()[1]) if head.startswith("row ") else 0


# ---------------------------------------------------------------------------------------------
# output


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Neutralise spreadsheet formulas: text cells starting with ``= + - @`` get a ``'``.

    Numbers are left as numbers (a negative longitude stays numeric); only text cells that
    a spreadsheet would run as a formula are changed.
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v
            )
    return out


def write_table(frame: pd.DataFrame, path: str | os.PathLike, *, layer: str = "") -> Path:
    """Write a table or layer by extension: ``.csv`` (formula-safe), ``.geojson``, ``.gpkg``
    or ``.kml`` (WGS84 for GeoJSON and KML as their readers expect; BNG in GeoPackage).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        data = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
        csv_safe(data).to_csv(path, index=False, encoding="utf-8")
        return path
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"{path.name}: {suffix} needs geometry; write a table as .csv"
        raise InputError(msg)
    handle, tmp = tempfile.mkstemp(suffix=suffix, prefix=".tmp-", dir=path.parent)
    os.close(handle)
    os.unlink(tmp)
    try:
        if suffix == ".geojson":
            pyogrio.write_dataframe(frame.to_crs(WGS84), tmp, driver="GeoJSON")
        elif suffix == ".gpkg":
            pyogrio.write_dataframe(to_bng(frame), tmp, driver="GPKG",
                                    layer=layer or path.stem)
        elif suffix == ".kml":
            pyogrio.write_dataframe(frame.to_crs(WGS84), tmp, driver="LIBKML",
                                    layer=layer or path.stem)
        else:
            msg = f"{path.name}: unsupported output type {suffix}; use .csv, .geojson, .gpkg, .kml"
            raise InputError(msg)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path

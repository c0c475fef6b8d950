"""The meeting view: the threat picture for a strategy meeting, never where the family lives.

A strategy meeting (police, children's services, schools, health, housing, probation) looks
at one shared screen. :func:`meeting_case` turns a case into what that screen may show:

- **No current or new address of anyone being relocated.** The household
  (:func:`geo.sources.household`: the people at a ``temporary`` address by default) has its
  *protected places* withheld: every ``temporary`` address, and every address a household
  member resides at, attends, works at, is supported at or frequents (the family's school and
  support network are where they can be found). So is every such address of anyone else
  around the subject (not the subject, not a rival) that rivals are not known to know: a
  second family moved on its own is covered too. Every candidate (a possible new address) is
  withheld. Former homes (``resided``) and addresses known to rivals stay: they are part of
  the threat picture.
- **Nothing near them either.** Any other address or incident within :data:`RADIUS_M` of a
  protected place is withheld (a second record of the same house, a threat made at the
  placement), as is any incident aimed at a withheld address, and any zone or activity area
  drawn to a protected place: centred within :data:`RADIUS_M` of one, with an edge or corner
  that close (a corridor ending there), or smaller than :data:`SMALL_SHAPE_M2` and covering
  one. A large shape that merely covers a place (a group's territory) stays.
  Features near a candidate stay: a vacancy list covers a whole region, and hiding everything
  near one would hide the threat picture. Nothing is put in the place of what is withheld:
  no generalised area, since even a postcode district narrows a search.
- **People by role, not by name**: ``Subject``, ``Partner``, ``Child 1``, ``Rival 2`` ...
  Every person's name, and each part of it, is replaced by their role label in every text
  column of every layer (a part shared by several people, such as a surname, becomes
  ``[name]``); the label and postcode of a withheld address become ``[withheld]``.
- **No intelligence detail**: incident descriptions, targets and confidence, the sources and
  confidence of activity areas, and notes are emptied; columns and layers outside the case
  file's schema are dropped.

Derived layers (exclusion zones, safe areas) shown in a meeting are computed from
:attr:`Meeting.analysis_case` (the same rows, with confidence kept for the threat model) and
passed through :meth:`Meeting.screen`, so they are never built from a withheld place.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InputError
from geo.model import LAYER_NAMES, LAYERS, Case
from geo.sources import household

#: Withhold other points (and shapes centred) this close to a protected place, in metres.
RADIUS_M = 200.0
ROLE_TITLES = {
    "subject": "Subject",
    "partner": "Partner",
    "former_partner": "Former partner",
    "child": "Child",
    "relative": "Relative",
    "associate": "Associate",
    "rival": "Rival",
}
#: Links that say where a household member can be found now.
CURRENT_RELATIONS = ("resides", "attends", "works", "supports", "frequents")
NAME_WITHHELD = "[name]"
PLACE_WITHHELD = "[withheld]"
#: Parts of a person's label that are ordinary words, not names, and stay as they are.
_NOT_NAMES = {"the", "and", "mr", "mrs", "ms", "miss", "dr", "jr", "snr", "jnr", "son",
              "daughter", "mother", "father", "sister", "brother", "aunt", "uncle", "nan",
              "baby", *ROLE_TITLES, "former"}
#: Columns emptied in the meeting view (intelligence detail and notes).
MEETING_HIDDEN: dict[str, tuple[str, ...]] = {
    "groups": ("notes",),
    "people": ("notes",),
    "activity_areas": ("source", "confidence"),
    "incidents": ("target_address_id", "description", "confidence"),
}
#: Of those, what the threat model needs and :attr:`Meeting.analysis_case` keeps.
ANALYSIS_KEEPS: dict[str, tuple[str, ...]] = {
    "activity_areas": ("confidence",),
    "incidents": ("target_address_id", "confidence"),
}


def role_labels(people: pd.DataFrame) -> dict[str, str]:
    """Each person's role label: ``Partner``, or ``Child 1``, ``Child 2`` when a role has
    several people (numbered in the order of the people layer)."""
    labels: dict[str, str] = {}
    roles = people["role"].astype(str).tolist()
    ids = people["person_id"].astype(str).tolist()
    totals = pd.Series(roles).value_counts().to_dict()
    seen: dict[str, int] = {}
    for pid, role in zip(ids, roles, strict=True):
        title = ROLE_TITLES.get(role, role.replace("_", " ").capitalize())
        seen[role] = seen.get(role, 0) + 1
        labels[pid] = f"{title} {seen[role]}" if totals[role] > 1 else title
    return labels


#: Two-letter words that are not names (a two-letter name such as "Al" or "Jo" is one).
_SHORT_WORDS = {"of", "to", "in", "on", "at", "by", "an", "as", "is", "it", "or", "be", "do",
                "go", "he", "me", "my", "no", "so", "up", "us", "we", "am", "if", "id"}
#: Common words of an address label that say nothing about where it is.
_PLACE_WORDS = {"road", "street", "lane", "avenue", "close", "court", "drive", "house", "flat",
                "flats", "block", "school", "primary", "academy", "college", "placement",
                "emergency", "temporary", "home", "family", "support", "moved", "night",
                "fictional", "north", "south", "east", "west", "the", "with", "from", "children"}


def _fold_char(ch: str) -> str:
    """One character for matching: lower case, accents off, any apostrophe as ``'`` and any
    space as `` `` (always one character, so positions match the original text)."""
    if ch.isspace():
        return " "
    if ch in "’‘`´":
        return "'"
    base = unicodedata.normalize("NFKD", ch)[0].lower()
    return base[0] if base else ch


def _fold(text: str) -> str:
    return "".join(_fold_char(c) for c in text)


def _name_parts(label: str) -> list[str]:
    parts = []
    for word in re.findall(r"[^\W\d_][\w'’-]*", label):
        pieces = [word, *re.split(r"[-'’]", word)] if re.search(r"[-'’]", word) else [word]
        parts += [p for p in pieces if len(p) >= 2 and p.lower() not in _NOT_NAMES
                  and p.lower() not in _SHORT_WORDS]
    return parts


def _place_parts(label: str) -> list[str]:
    """A withheld place's label, its comma-separated parts and its distinctive words."""
    parts = [label, *(p.strip() for p in re.split(r"[,;()]", label))]
    parts += [w for w in re.findall(r"[^\W\d_][\w'’-]{3,}", label)
              if w[0].isupper() and w.lower() not in _PLACE_WORDS and w.lower() not in _NOT_NAMES]
    return [p for p in parts if len(p.strip()) >= 4]


class Scrubber:
    """Replaces names and withheld places in free text, longest first, whole words only.

    Matching ignores case, accents, the kind of apostrophe and the kind and number of spaces,
    and takes a plural or possessive ending along (``the Brenwicks``, ``Ashdown's``)."""

    def __init__(self, replacements: Mapping[str, str]):
        terms = {_fold(k.strip()): v for k, v in replacements.items() if k and k.strip()}
        self._map = terms
        if terms:
            alternatives = "|".join(re.escape(t).replace("\\ ", " +")
                                    for t in sorted(terms, key=len, reverse=True))
            self._pattern: re.Pattern | None = re.compile(
                rf"(?<!\w)({alternatives})('s|s|es)?(?!\w)")
        else:
            self._pattern = None

    @classmethod
    def for_case(cls, people: pd.DataFrame, labels: Mapping[str, str],
                 places: Iterable[str] = ()) -> Scrubber:
        """Every person's label and name parts, and the given place words (labels,
        postcodes)."""
        replacements: dict[str, str] = {}
        owners: dict[str, set[str]] = {}
        for pid, label in zip(people["person_id"].astype(str), people["label"], strict=True):
            if pd.isna(label):
                continue
            for part in _name_parts(str(label)):
                owners.setdefault(part.lower(), set()).add(labels[pid])
        for part, who in owners.items():
            replacements[part] = next(iter(who)) if len(who) == 1 else NAME_WITHHELD
        for pid, label in zip(people["person_id"].astype(str), people["label"], strict=True):
            if not pd.isna(label) and str(label).strip():
                replacements[str(label)] = labels[pid]
        for place in places:
            for part in _place_parts(place):
                replacements.setdefault(part, PLACE_WITHHELD)
        return cls(replacements)

    def __call__(self, value: object) -> object:
        if self._pattern is None or not isinstance(value, str):
            return value
        folded = _fold(value)
        out, last = [], 0
        for m in self._pattern.finditer(folded):
            key = re.sub(" +", " ", m.group(1))
            ending = value[m.start(2):m.end(2)] if m.group(2) else ""  # plural or possessive
            out += [value[last:m.start()], self._map.get(key, PLACE_WITHHELD), ending]
            last = m.end()
        out.append(value[last:])
        return "".join(out)

    def frame(self, frame: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """A copy with the text columns (or the ``columns`` given) scrubbed."""
        out = frame.copy()
        names = list(columns) if columns is not None else [
            c for c in out.columns
            if c != getattr(out, "_geometry_column_name", None)
            and (out[c].dtype == object or pd.api.types.is_string_dtype(out[c]))]
        for c in names:
            if c in out.columns:
                out[c] = out[c].map(self, na_action="ignore").astype(out[c].dtype)
        return out


def _text_columns(layer: str) -> list[str]:
    return [c.name for c in LAYERS[layer].columns if c.kind == "text"]


def blank_columns(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """The columns kept but emptied (missing values of a type that can hold them)."""
    out = frame.copy()
    for c in columns:
        if c not in out.columns:
            continue
        dtype = out[c].dtype
        if pd.api.types.is_bool_dtype(dtype):
            out[c] = pd.Series(pd.NA, index=out.index, dtype="boolean")
        elif pd.api.types.is_float_dtype(dtype):
            out[c] = np.nan
        else:
            out[c] = pd.Series([None] * len(out), index=out.index, dtype=dtype)
    return out


def _schema_only(frame: pd.DataFrame, layer: str) -> pd.DataFrame:
    keep = [c for c in frame.columns if c in LAYERS[layer].column_names or c == "geometry"]
    return frame[keep]


@dataclass(frozen=True)
class _Protected:
    """Where the household can be found (points, EPSG:27700) and the candidates."""

    address_ids: frozenset[str]
    household_xy: np.ndarray
    candidate_xy: np.ndarray
    person_ids: tuple[str, ...]

    @property
    def all_xy(self) -> np.ndarray:
        return np.vstack([self.household_xy, self.candidate_xy])


def _xy(gdf: gpd.GeoDataFrame) -> np.ndarray:
    if not len(gdf):
        return np.empty((0, 2))
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    return shapely.get_coordinates(shapely.centroid(geoms[ok]))


def _near(xy: np.ndarray, places: np.ndarray, radius_m: float) -> np.ndarray:
    """Which of ``xy`` lie within ``radius_m`` of any of ``places``."""
    if not len(xy) or not len(places):
        return np.zeros(len(xy), dtype=bool)
    tree = shapely.STRtree(shapely.points(places))
    hits = tree.query(shapely.points(xy), predicate="dwithin", distance=radius_m)
    near = np.zeros(len(xy), dtype=bool)
    near[hits[0]] = True
    return near


def _centres(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """The centre of each row's geometry (NaN where it has none), one per row."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    out = np.full((len(geoms), 2), np.nan)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if ok.any():
        out[ok] = shapely.get_coordinates(shapely.centroid(geoms[ok]))
    return out


def _near_rows(gdf: gpd.GeoDataFrame, places: np.ndarray, radius_m: float) -> np.ndarray:
    centres = _centres(gdf)
    ok = ~np.isnan(centres[:, 0])
    near = np.zeros(len(gdf), dtype=bool)
    near[ok] = _near(centres[ok], places, radius_m)
    return near


#: A shape this small (square metres) that contains a protected place narrows a search to it.
SMALL_SHAPE_M2 = 2_000_000.0


def _drawn_to(gdf: gpd.GeoDataFrame, places: np.ndarray, radius_m: float) -> np.ndarray:
    """Shapes that point at a protected place: centred near one, with a corner or edge
    within ``radius_m`` of one (a corridor or triangle drawn to it), or small and containing
    one. A large shape that merely covers a place (a group's territory) stays."""
    near = _near_rows(gdf, places, radius_m)
    if not len(gdf) or not len(places):
        return near
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    pts = shapely.points(places)
    tree = shapely.STRtree(pts)
    boundary = shapely.boundary(geoms[ok])
    edge_hits = tree.query(boundary, predicate="dwithin", distance=radius_m)[0]
    inside = tree.query(geoms[ok], predicate="intersects")[0]
    small = shapely.area(geoms[ok]) < SMALL_SHAPE_M2
    drawn = np.zeros(int(ok.sum()), dtype=bool)
    drawn[edge_hits] = True
    drawn[inside[small[inside]]] = True
    near[np.flatnonzero(ok)[drawn]] = True
    return near


def protected_places(case: Case, person_ids: Iterable[str] | None = None) -> _Protected:
    """The household's protected places and the candidates (see the module notes)."""
    try:
        members = household(case, person_ids).person_ids
    except InputError:
        if person_ids is not None:
            raise
        members = ()
    addresses = case["addresses"]
    links = case["links"]
    people = case["people"]
    current = links[links["person_id"].astype(str).isin(members)
                    & links["relation"].isin(CURRENT_RELATIONS)]
    ids = set(current["address_id"].astype(str))
    ids |= set(addresses.loc[addresses["kind"] == "temporary", "address_id"].astype(str))
    # anyone else around the subject who may have moved too: where they are now, unless the
    # rivals already know it (then it is part of the threat picture, not a secret)
    others = set(people.loc[~people["role"].isin(["subject", "rival"]),
                            "person_id"].astype(str)) - set(members)
    unknown_to_rivals = set(addresses.loc[~addresses["known_to_rivals"].fillna(False)
                                          .astype(bool), "address_id"].astype(str))
    theirs = links[links["person_id"].astype(str).isin(others)
                   & links["relation"].isin(CURRENT_RELATIONS)]
    ids |= set(theirs["address_id"].astype(str)) & unknown_to_rivals
    places = addresses[addresses["address_id"].astype(str).isin(ids)]
    return _Protected(frozenset(ids), _xy(places), _xy(case["candidates"]), tuple(members))


@dataclass(frozen=True)
class Meeting:
    """A case as a strategy meeting may see it (see the module notes).

    Attributes
    ----------
    case
        The layers to show.
    analysis_case
        The same rows for computing derived layers (exclusion zones, safe areas), with the
        threat model's inputs (confidence, incident targets) and the policy kept.
    labels
        Each person's role label, by person id.
    withheld
        How many rows of each layer are not shown.
    household
        Who is being relocated (person ids).
    """

    case: Case
    analysis_case: Case
    labels: dict[str, str]
    withheld: dict[str, int]
    household: tuple[str, ...]
    radius_m: float = RADIUS_M
    _protected: _Protected | None = field(default=None, repr=False)
    _scrub: Scrubber | None = field(default=None, repr=False)

    @property
    def note(self) -> str:
        """What is not shown, in words, for the screen."""
        parts = [f"{n} {layer.replace('_', ' ')}" for layer, n in self.withheld.items() if n]
        shown = ", ".join(parts) if parts else "nothing"
        return (f"Meeting view: people are shown by role; withheld: {shown} (where the family "
                f"lives or may live, and anything within {self.radius_m:g} m of it).")

    def screen(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A derived layer made safe to show: rows at or near a protected place or candidate
        (points), or centred near a protected place (shapes), removed; names and withheld
        places replaced in every text column."""
        out = frame
        if isinstance(frame, gpd.GeoDataFrame) and len(frame) and self._protected is not None:
            geoms = np.asarray(frame.geometry.to_crs(27700).values, dtype=object)
            points = shapely.get_type_id(geoms) == 0
            gdf = gpd.GeoDataFrame(geometry=gpd.GeoSeries(geoms, crs=27700))
            near_any = _near_rows(gdf, self._protected.all_xy, self.radius_m)
            near_home = _near_rows(gdf, self._protected.household_xy, self.radius_m)
            drop = (points & near_any) | (~points & near_home)
            out = frame[~drop]
        return self._scrub.frame(out) if self._scrub is not None else out.copy()


def meeting_case(
    case: Case,
    *,
    person_ids: Iterable[str] | None = None,
    radius_m: float = RADIUS_M,
) -> Meeting:
    """The meeting view of a case (see the module notes).

    Parameters
    ----------
    case
        A validated case.
    person_ids
        Who is being relocated (default: :func:`geo.sources.household`'s choice).
    radius_m
        How close to a protected place other features are withheld, in metres.

    Returns
    -------
    :class:`Meeting`.
    """
    protected = protected_places(case, person_ids)
    people = case["people"]
    labels = role_labels(people)
    addresses = case["addresses"]

    drop_addr = (addresses["address_id"].astype(str).isin(protected.address_ids).to_numpy()
                 | _near_rows(addresses, protected.household_xy, radius_m))
    dropped_ids = set(addresses.loc[drop_addr, "address_id"].astype(str))
    withheld_places = [*addresses.loc[drop_addr, "label"].dropna().astype(str),
                       *addresses.loc[drop_addr, "postcode"].dropna().astype(str)]
    candidates = case["candidates"]
    withheld_places += [*candidates["label"].dropna().astype(str),
                        *candidates["postcode"].dropna().astype(str)]
    withheld_places += [p.replace(" ", "") for p in withheld_places if _is_postcode(p)]
    scrub = Scrubber.for_case(people, labels, withheld_places)

    incidents = case["incidents"]
    drop_inc = (incidents["target_address_id"].astype(str).isin(dropped_ids).to_numpy()
                | _near_rows(incidents, protected.household_xy, radius_m))
    links = case["links"]
    drop_links = links["address_id"].astype(str).isin(dropped_ids).to_numpy()
    rows: dict[str, np.ndarray] = {
        "addresses": drop_addr,
        "incidents": drop_inc,
        "links": drop_links,
        "candidates": np.ones(len(candidates), dtype=bool),
    }
    for layer in ("zones", "activity_areas"):
        rows[layer] = _drawn_to(case[layer], protected.household_xy, radius_m)

    shown: dict[str, pd.DataFrame] = {}
    analysis: dict[str, pd.DataFrame] = {}
    withheld: dict[str, int] = {}
    for layer in LAYER_NAMES:
        frame = _schema_only(case[layer], layer)
        drop = rows.get(layer)
        if drop is not None:
            withheld[layer] = int(drop.sum())
            frame = frame[~drop]
        if layer == "people":
            frame = frame.assign(label=frame["person_id"].astype(str).map(labels))
        frame = scrub.frame(frame, _text_columns(layer))
        hidden = MEETING_HIDDEN.get(layer, ())
        keeps = ANALYSIS_KEEPS.get(layer, ())
        analysis[layer] = blank_columns(
            frame, [c for c in hidden if c not in keeps]).reset_index(drop=True)
        shown[layer] = blank_columns(frame, hidden).reset_index(drop=True)
    withheld["policy"] = len(case["policy"])
    shown["policy"] = shown["policy"].iloc[0:0]
    return Meeting(Case(shown), Case(analysis), labels, withheld, protected.person_ids,
                   radius_m, protected, scrub)


def _is_postcode(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z]{1,2}\d[A-Za-z\d]? ?\d[A-Za-z]{2}", text.strip()))

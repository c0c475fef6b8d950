"""No-go areas for one person and the printable annex of their working agreement.

Which zones apply to a person
----------------------------
Working agreements are for the people being protected: asking for a rival's is refused.
For anyone else:

- every **derived exclusion zone** (:func:`geo.zones.exclusion_zones`): rival activity
  areas, incident sites, the subject's homes, addresses known to rivals, places the subject
  frequents and where rivals live are dangerous to everyone close to the subject;
- every zone of the case's ``zones`` layer of kind ``exclusion`` or ``no_go`` whose
  ``applies_to`` is empty (everyone) or names the person.

Each zone is drawn so that a person can follow it: closed by ``zones.simplify_m`` (narrow
gaps and notches filled) and simplified (no jagged outlines), always **containing** the zone
it came from, and listed with its reason and the postcode sectors and named boundaries it
covers.

The annex
---------
:func:`build_agreement` fills a template (``geo/templates/agreement.toml``, or the user's
copy) with the person's name, the named worker, the review date and the case reference, and
adds the no-go list and a map (matplotlib over the postcode-sector outlines; no tiles, no
network). :func:`agreement_pdf` and :func:`agreement_html` lay it out with the case's
classification marking at the top and bottom of every page.

The annex never shows where the family lives: the map draws only the no-go areas and sector
outlines (no address, no candidate), the no-go list gives reasons rather than addresses, and
text that names the person's home, any temporary address or any candidate (by label or
postcode) is refused.

Notes
-----
Geometry is in British National Grid (EPSG:27700), metres. Postcode-sector outlines are
approximations derived from Code-Point Open postcode positions (Voronoi cells) and are
labelled as such.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import os
import re
import string
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.areas import overlaps
from geo.crs import BNG
from geo.errors import InputError
from geo.geocode import ATTRIBUTION, sector_outlines
from geo.model import Case, parse_date
from geo.settings import Policy
from geo.zones import exclusion_zones

NO_GO_COLUMNS = ["number", "zone_id", "reason", "sources", "postcode_sectors", "whole_sectors",
                 "boundaries", "kind", "source"]
TEMPLATE_FILE = Path(__file__).with_name("templates") / "agreement.toml"
TEMPLATE_KEYS = ("title", "intro", "conditions", "closing", "signatures")
PLACEHOLDERS = ("person", "person_id", "worker", "worker_name", "review_date", "case_ref",
                "subject", "today")
#: A sector counts as covered by a zone when they overlap by this much (square metres).
MIN_OVERLAP_M2 = 10_000.0
#: Share of a sector inside the no-go areas above which the list says "(all)".
WHOLE_SECTOR = 0.9
_BLANK = "_" * 24


# ---------------------------------------------------------------------------------------------
# no-go areas


#: Who a working agreement (and its no-go list) is made with: the adults around the subject.
ADULT_ROLES = ("partner", "former_partner", "relative", "associate")
_NOT_FOR = {
    "subject": "is the subject, the person under threat: working agreements are for the "
               "adults around him",
    "child": "is a child: the agreement is made with the adult who cares for them",
    "rival": "is a rival: working agreements are for the people being protected",
}


def _person(case: Case, person_id: str, *, signs: bool = False) -> pd.Series:
    """The person's row; a rival has no no-go list, and only an adult around the subject
    ``signs`` a working agreement."""
    people = case["people"]
    hit = people[people["person_id"].astype(str) == str(person_id).strip()]
    if not len(hit):
        known = ", ".join(people["person_id"].astype(str)) or "none"
        msg = f"unknown person id {person_id!r} (people in the case: {known})"
        raise InputError(msg)
    row = hit.iloc[0]
    if row["role"] == "rival" or (signs and row["role"] not in ADULT_ROLES):
        adults = ", ".join(people.loc[people["role"].isin(ADULT_ROLES), "person_id"]
                           .astype(str)) or "none"
        msg = (f"{row['person_id']} ({row['label']}) "
               f"{_NOT_FOR.get(row['role'], 'cannot have a working agreement')} "
               f"(adults in the case: {adults})")
        raise InputError(msg)
    return row


def _applies_to(value: object, person_id: str) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value):
        return True
    ids = [i.strip() for i in str(value).split(",") if i.strip()]
    return not ids or person_id in ids


def readable_outline(geom: shapely.Geometry, tolerance_m: float) -> shapely.Geometry:
    """An outline a person can follow that still contains ``geom``.

    Closing by ``tolerance_m`` (grow by twice, shrink by once) fills notches and narrow gaps
    and leaves a margin of about ``tolerance_m``; simplifying by less than that margin removes
    jagged detail without cutting into ``geom``. Should rounding ever leave a sliver of
    ``geom`` outside, it is added back, so the result always contains ``geom``.
    """
    if tolerance_m <= 0:
        return geom
    closed = shapely.buffer(shapely.buffer(geom, 2 * tolerance_m, quad_segs=8),
                            -tolerance_m, quad_segs=8)
    out = shapely.make_valid(shapely.simplify(closed, 0.8 * tolerance_m))
    if not out.contains(geom):
        out = shapely.union(out, geom)
    return out


def no_go_areas(
    case: Case,
    person_id: str,
    policy: Policy,
    *,
    as_of: dt.datetime | None = None,
    merge: bool = True,
) -> gpd.GeoDataFrame:
    """The no-go areas of one person, readable, with reasons, sectors and named areas.

    Parameters
    ----------
    case
        A validated case.
    person_id
        The person the working agreement is for (not a rival).
    policy
        The risk policy (exclusion radii; ``zones.simplify_m`` for the outlines).
    as_of
        The moment incident ages are judged at (default: now).
    merge
        Merge overlapping zones into one area each, keeping every reason (the default, as a
        map and a list are easier to follow that way); False: one row per zone.

    Returns
    -------
    GeoDataFrame in EPSG:27700 with :data:`NO_GO_COLUMNS` and the readable outline, numbered
    1, 2 ... from north to south. ``zone_id``, ``sources`` and ``kind`` are comma-separated
    and ``reason`` is the zones' reasons joined by ``"; "``, in the order of
    :func:`geo.zones.exclusion_zones`; ``postcode_sectors`` lists the sectors the outline
    overlaps by a hectare or more, ``whole_sectors`` those at least 90% inside it (both in
    postcode order); ``boundaries`` the case's named boundaries it overlaps, most covered
    first. Empty when nothing applies.

    Raises
    ------
    InputError
        An unknown person, or a rival.
    """
    person = _person(case, person_id)
    pid = str(person["person_id"])
    zones = exclusion_zones(case, policy, as_of=as_of)
    mine = zones[(zones["source"] == "derived")
                 | zones["applies_to"].map(lambda v: _applies_to(v, pid)).astype(bool)]
    mine = mine.reset_index(drop=True)
    if not len(mine):
        return gpd.GeoDataFrame({c: [] for c in NO_GO_COLUMNS},
                                geometry=gpd.GeoSeries([], crs=BNG), crs=BNG)
    tol = float(policy.get("zones.simplify_m"))
    outlines = np.array([readable_outline(g, tol) for g in mine.geometry], dtype=object)
    if merge:
        parts = shapely.get_parts(shapely.union_all(outlines))
        hit_part, hit_zone = shapely.STRtree(outlines).query(parts, predicate="intersects")
        members = [sorted(set(hit_zone[hit_part == k].tolist())) for k in range(len(parts))]
    else:
        parts = outlines
        members = [[k] for k in range(len(parts))]

    def joined(column: str, sep: str = ",") -> list[str]:
        values = mine[column].astype(str).to_numpy()
        return [sep.join(dict.fromkeys(values[m])) for m in members]

    sources = [",".join(sorted({s for k in m for s in str(mine["sources"].iloc[k]).split(",")}))
               for m in members]
    order = np.lexsort((shapely.get_coordinates(shapely.centroid(parts))[:, 0],
                        -shapely.bounds(parts)[:, 3]))
    out = gpd.GeoDataFrame({
        "number": np.arange(1, len(parts) + 1),
        "zone_id": np.array(joined("zone_id"), dtype=object)[order],
        "reason": np.array(joined("reason", "; "), dtype=object)[order],
        "sources": np.array(sources, dtype=object)[order],
        "postcode_sectors": "",
        "whole_sectors": "",
        "boundaries": "",
        "kind": np.array(joined("kind"), dtype=object)[order],
        "source": np.array(joined("source"), dtype=object)[order],
    }, geometry=np.asarray(parts, dtype=object)[order], crs=BNG)
    polys = np.asarray(out.geometry.values, dtype=object)
    sectors = sector_outlines(tuple(out.total_bounds), margin_m=500.0)
    found = overlaps(polys, sectors, "sector", min_overlap_m2=MIN_OVERLAP_M2)
    out["postcode_sectors"] = [", ".join(sorted((s for s, _, _ in f), key=_postcode_key))
                               for f in found]
    out["whole_sectors"] = [", ".join(sorted((s for s, _, share in f if share >= WHOLE_SECTOR),
                                             key=_postcode_key)) for f in found]
    out["boundaries"] = [", ".join(n for n, _, _ in f) for f in
                         overlaps(polys, case["boundaries"], "name", min_overlap_m2=MIN_OVERLAP_M2)]
    return out


def no_go_sectors(no_go: gpd.GeoDataFrame) -> list[str]:
    """Every postcode sector any no-go area overlaps, in postcode order."""
    found = {s.strip() for text in no_go["postcode_sectors"] for s in str(text).split(",")
             if s.strip()}
    return sorted(found, key=_postcode_key)


def _postcode_key(sector: str) -> tuple:
    district, _, digit = sector.partition(" ")
    letters = re.match(r"[A-Z]+", district)
    number = re.search(r"\d+", district)
    return (letters.group(0) if letters else district, int(number.group(0)) if number else 0,
            district, digit)


# ---------------------------------------------------------------------------------------------
# the template


def load_template(source: str | os.PathLike | Mapping | None = None) -> dict:
    """The agreement template: the package's default, a TOML file, or a mapping.

    Returns a dict with every key of :data:`TEMPLATE_KEYS` (the defaults for those left
    out, except ``conditions``, which is required).

    Raises
    ------
    InputError
        Unreadable TOML, an unknown key, a missing or empty ``conditions`` list, a value of
        the wrong type; the message names the file and key.
    """
    return _template(source)[0]


def _template(source: str | os.PathLike | Mapping | None) -> tuple[dict, str]:
    """The template and the name to use for it in messages."""
    if source is None:
        source = TEMPLATE_FILE
    if isinstance(source, Mapping):
        data, origin = dict(source), "template"
    else:
        path = Path(source)
        origin = path.name
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            msg = f"{path}: cannot read the template ({exc.strerror})"
            raise InputError(msg) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            msg = f"{origin}: not a valid TOML template ({exc})"
            raise InputError(msg) from None
    unknown = sorted(set(data) - set(TEMPLATE_KEYS))
    if unknown:
        msg = (f"{origin}: unknown template key {unknown[0]!r} (known: "
               f"{', '.join(TEMPLATE_KEYS)})")
        raise InputError(msg)
    out = {"title": "Working agreement: no-go areas", "intro": "", "closing": "",
           "signatures": ["$person", "Named worker: $worker_name"], **data}
    for key in ("title", "intro", "closing"):
        if not isinstance(out[key], str):
            msg = f"{origin}: template key {key!r} must be text"
            raise InputError(msg)
    for key in ("conditions", "signatures"):
        value = out.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            msg = f"{origin}: template key {key!r} must be a list of text"
            raise InputError(msg)
    if not [c for c in out["conditions"] if c.strip()]:
        msg = f"{origin}: the template has no conditions"
        raise InputError(msg)
    return out, origin


def _fill(text: str, values: Mapping[str, str], *, origin: str, where: str) -> str:
    try:
        return string.Template(text).substitute(values)
    except KeyError as exc:
        msg = (f"{origin}: unknown placeholder ${exc.args[0]} in {where} (known: "
               f"{', '.join('$' + p for p in PLACEHOLDERS)})")
        raise InputError(msg) from None
    except ValueError:
        msg = f"{origin}: a '$' in {where} is not a placeholder (write $$ for a dollar sign)"
        raise InputError(msg) from None


# ---------------------------------------------------------------------------------------------
# the agreement


@dataclass(frozen=True)
class Agreement:
    """Everything the annex shows, filled in and checked; lay it out with
    :func:`agreement_pdf` or :func:`agreement_html`.

    ``map_png`` is the map (PNG bytes); ``sectors`` every no-go postcode sector.
    """

    case_ref: str
    classification: str
    person_id: str
    person: str
    worker: str
    review_date: str
    prepared: str
    title: str
    intro: str
    conditions: list[str]
    closing: str
    signatures: list[str]
    no_go: gpd.GeoDataFrame
    sectors: list[str]
    map_png: bytes = field(repr=False)


def _date_words(iso: str) -> str:
    stamp = dt.datetime.fromisoformat(iso)
    return f"{stamp.day} {stamp.strftime('%B %Y')}"


def _review(case: Case, review: str | dt.date | None) -> str:
    if review is None or (isinstance(review, str) and not review.strip()):
        value = case._case_value("review_at")
        if not value:
            msg = ("no review date: give one (--review DATE) or set the case's review_at")
            raise InputError(msg)
        return _date_words(value[:10])
    try:
        return _date_words(parse_date(review)[:10])
    except ValueError as exc:
        msg = f"review date: {exc}"
        raise InputError(msg) from None


def _forbidden(case: Case, person_id: str) -> list[str]:
    """Postcodes and labels (of 8 characters or more) that must never appear: where the
    person and their household live now, every temporary address and every candidate."""
    links = case["links"]
    addresses = case["addresses"]
    mine = links[(links["person_id"].astype(str) == person_id)
                 & (links["relation"] == "resides")]["address_id"].astype(str)
    housemates = links[links["address_id"].astype(str).isin(mine)
                       & (links["relation"] == "resides")]["person_id"].astype(str)
    homes = links[links["person_id"].astype(str).isin(set(housemates) | {person_id})
                  & (links["relation"] == "resides")]["address_id"].astype(str)
    chosen = addresses[addresses["address_id"].astype(str).isin(homes)
                       | (addresses["kind"] == "temporary")]
    cands = case["candidates"]
    labels = [*chosen["label"].astype(str), *cands["label"].astype(str)]
    postcodes = [*chosen["postcode"].dropna().astype(str), *cands["postcode"].dropna().astype(str)]
    # a short label ("Home") is not specific enough to refuse text for
    return [*postcodes, *(t for t in labels if len(t.strip()) >= 8)]


def _check_text(texts: list[str], forbidden: list[str], *, origin: str) -> None:
    squash = re.compile(r"\s+")
    blob = squash.sub("", " ".join(texts)).upper()
    for term in forbidden:
        if squash.sub("", term).upper() in blob:
            msg = (f"{origin}: the annex would show {term!r}, an address where the family "
                   f"lives or might live; take it out (the annex never shows an address)")
            raise InputError(msg)


def build_agreement(
    case: Case,
    person_id: str,
    policy: Policy,
    *,
    worker: str = "",
    review: str | dt.date | None = None,
    template: str | os.PathLike | Mapping | None = None,
    as_of: dt.datetime | None = None,
    today: dt.date | None = None,
) -> Agreement:
    """The working-agreement annex for one person, filled in and checked.

    Parameters
    ----------
    case, person_id, policy, as_of
        As for :func:`no_go_areas`.
    worker
        The named worker's name (default: a blank line to write it on).
    review
        The review date (default: the case's ``review_at``).
    template
        A template file or mapping (default: ``geo/templates/agreement.toml``).
    today
        The date the annex is prepared (default: today).

    Raises
    ------
    InputError
        An unknown person or a rival; no zone applies to the person (there is nothing to
        agree); no review date; a bad template; text that would show an address where the
        family lives or might live.
    """
    person = _person(case, person_id, signs=True)
    pid = str(person["person_id"])
    label = str(person["label"])
    tpl, origin = _template(template)
    no_go = no_go_areas(case, pid, policy, as_of=as_of)
    if not len(no_go):
        msg = (f"no no-go area applies to {label} ({pid}): the case has no exclusion zone and "
               f"no no-go area for them, so there is no annex to print")
        raise InputError(msg)
    people = case["people"]
    subjects = people.loc[people["role"] == "subject", "label"].astype(str).tolist()
    worker = (worker or "").strip()
    prepared = _date_words((today or dt.date.today()).isoformat())
    values = {
        "person": label, "person_id": pid,
        "worker": worker or "my named worker", "worker_name": worker or _BLANK,
        "review_date": _review(case, review), "case_ref": case.case_ref,
        "subject": " and ".join(subjects) or "the subject", "today": prepared,
    }
    filled = {key: _fill(tpl[key], values, origin=origin, where=key)
              for key in ("title", "intro", "closing")}
    conditions = [_fill(c, values, origin=origin, where=f"conditions[{i + 1}]")
                  for i, c in enumerate(tpl["conditions"]) if c.strip()]
    signatures = [_fill(s, values, origin=origin, where=f"signatures[{i + 1}]")
                  for i, s in enumerate(tpl["signatures"])]
    _check_text([*filled.values(), *conditions, *signatures, worker], _forbidden(case, pid),
                origin=origin)
    sectors = no_go_sectors(no_go)
    png = no_go_map_png(no_go)
    return Agreement(case.case_ref, case.classification, pid, label, worker,
                     values["review_date"], prepared, filled["title"], filled["intro"],
                     conditions, filled["closing"], signatures, no_go, sectors, png)


# ---------------------------------------------------------------------------------------------
# the map


def _nice_length(span_m: float) -> float:
    """A round scale-bar length, about a quarter of ``span_m``."""
    target = span_m / 4
    for step in (100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 50_000):
        if step >= target * 0.6:
            return float(step)
    return 100_000.0


class _Labels:
    """Places text labels without overlap: a label whose box would overlap one already
    placed is left out (boxes estimated in map units from the font size)."""

    def __init__(self, metres_per_point: float):
        self.m_per_pt = metres_per_point
        self.boxes: list[tuple[float, float, float, float]] = []

    def free(self, x: float, y: float, text: str, size_pt: float, *, pad: float = 1.15
             ) -> bool:
        half_w = 0.31 * size_pt * len(text) * self.m_per_pt * pad
        half_h = 0.55 * size_pt * self.m_per_pt * pad
        box = (x - half_w, y - half_h, x + half_w, y + half_h)
        for b in self.boxes:
            if box[0] < b[2] and box[2] > b[0] and box[1] < b[3] and box[3] > b[1]:
                return False
        self.boxes.append(box)
        return True


def no_go_map_png(no_go: gpd.GeoDataFrame, *, width_in: float = 7.0, height_in: float = 7.4,
                  dpi: int = 200) -> bytes:
    """The no-go areas over postcode-sector outlines, as PNG bytes (matplotlib, offline).

    Shows only the numbered no-go areas, the outlines of the postcode sectors around them
    with their labels (those in the no-go list in bold; labels that would overlap are left
    out), a scale bar, a north arrow, a legend and the Code-Point Open attribution. No
    address, candidate or tile is drawn.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.patheffects import withStroke

    map_h_in = height_in - 0.4  # a strip below the map for the legend and attribution
    minx, miny, maxx, maxy = no_go.total_bounds
    pad = max(maxx - minx, maxy - miny) * 0.06 + 300.0
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    w, h = maxx - minx, maxy - miny
    aspect = width_in / map_h_in
    if w / h < aspect:
        grow = h * aspect - w
        minx, maxx = minx - grow / 2, maxx + grow / 2
    else:
        grow = w / aspect - h
        miny, maxy = miny - grow / 2, maxy + grow / 2
    span_x, span_y = maxx - minx, maxy - miny
    frame = shapely.box(minx, miny, maxx, maxy)
    sectors = sector_outlines((minx, miny, maxx, maxy), margin_m=0.0)
    listed = set(no_go_sectors(no_go))

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    ax = fig.add_axes((0, 0.4 / height_in, 1, map_h_in / height_in))
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.add_patch(Rectangle((minx, miny), span_x, span_y, facecolor="#fcfcfa",
                           edgecolor="#444444", linewidth=0.8, zorder=0))
    if len(sectors):
        sectors.boundary.plot(ax=ax, color="#9a9a9a", linewidth=0.45, zorder=2)
    no_go.plot(ax=ax, facecolor="#e8a3a3", alpha=0.55, edgecolor="none", zorder=3)
    no_go.boundary.plot(ax=ax, color="#a50f15", linewidth=1.6, zorder=4)

    halo = [withStroke(linewidth=2.4, foreground="white")]
    labels = _Labels(span_x / (width_in * 72.0))
    # no-go numbers first (never dropped), then the scale bar and arrow corners
    for z in no_go.itertuples():
        parts = sorted(shapely.get_parts(z.geometry), key=lambda g: -g.area)
        for part in parts:
            if part is not parts[0] and part.area < 0.25 * parts[0].area:
                continue
            at = shapely.point_on_surface(part)
            labels.free(at.x, at.y, "00", 14)
            ax.text(at.x, at.y, str(z.number), ha="center", va="center", zorder=7,
                    fontsize=10, fontweight="bold", color="#a50f15",
                    bbox={"boxstyle": "circle,pad=0.3", "facecolor": "white",
                          "edgecolor": "#a50f15", "linewidth": 1.3})
    labels.boxes.append((minx, miny, minx + span_x * 0.36, miny + span_y * 0.09))
    labels.boxes.append((maxx - span_x * 0.1, maxy - span_y * 0.16, maxx, maxy))
    if len(sectors):
        shown = shapely.intersection(sectors.geometry.to_numpy(), frame)
        area = shapely.area(shown)
        bold = sectors["sector"].isin(listed).to_numpy()
        for i in np.lexsort((-area, ~bold)):
            if area[i] < (span_x / 70) ** 2:
                continue
            at = shapely.point_on_surface(shown[i])
            size = 7.0 if bold[i] else 5.5
            if not labels.free(at.x, at.y, sectors["sector"].iloc[i], size):
                continue
            ax.text(at.x, at.y, sectors["sector"].iloc[i], ha="center", va="center",
                    zorder=6, fontsize=size, fontweight="bold" if bold[i] else "normal",
                    color="#1a1a1a" if bold[i] else "#7a7a7a", path_effects=halo)

    # scale bar, lower left, on a white card
    length = _nice_length(span_x)
    x0, y0 = minx + span_x * 0.04, miny + span_y * 0.035
    bar_h = span_y * 0.009
    ax.add_patch(Rectangle((minx + span_x * 0.015, miny + span_y * 0.012),
                           length + span_x * 0.07, span_y * 0.07, facecolor="white",
                           edgecolor="#888888", linewidth=0.5, alpha=0.9, zorder=8))
    for k in range(4):
        ax.add_patch(Rectangle((x0 + k * length / 4, y0), length / 4, bar_h, zorder=9,
                               facecolor="black" if k % 2 == 0 else "white",
                               edgecolor="black", linewidth=0.6))
    words = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    for xx, text in ((x0, "0"), (x0 + length / 2, ""), (x0 + length, words)):
        if text:
            ax.text(xx, y0 + bar_h * 2.0, text, ha="center", va="bottom", fontsize=7.5,
                    zorder=9)
    # north arrow, upper right (grid north: British National Grid is drawn north up)
    nx, ny = maxx - span_x * 0.05, maxy - span_y * 0.14
    ax.annotate("", xy=(nx, ny + span_y * 0.07), xytext=(nx, ny), zorder=9,
                arrowprops={"arrowstyle": "-|>,head_width=0.45,head_length=0.9",
                            "color": "black", "linewidth": 1.8})
    ax.text(nx, ny + span_y * 0.08, "N", ha="center", va="bottom", fontsize=12,
            fontweight="bold", zorder=9, path_effects=halo)

    fig.legend(handles=[
        Patch(facecolor="#f0c8c8", edgecolor="#a50f15", linewidth=1.6,
              label="No-go area (number as in the list)"),
        Line2D([], [], color="#9a9a9a", linewidth=0.9,
               label="Postcode sector, approximate outline (no-go sectors in bold)"),
    ], loc="lower left", bbox_to_anchor=(0.0, 0.0), ncol=2, fontsize=7, frameon=False,
        handlelength=1.6, columnspacing=1.2)
    ax.text(maxx - span_x * 0.008, miny + span_y * 0.008, ATTRIBUTION, ha="right",
            va="bottom", fontsize=5, color="#444444", zorder=9,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# layouts


def _font_files() -> tuple[Path, Path]:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"


def agreement_pdf(agreement: Agreement) -> bytes:
    """The annex as an A4 PDF: the marking at the top and bottom of every page, page
    numbers, the conditions, the no-go list, the review date, signature lines, then the map
    on a page of its own."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    a = agreement
    regular, bold = _font_files()

    class _Annex(FPDF):
        def header(self) -> None:
            self.set_font("DejaVu", "B", 11)
            self.set_text_color(170, 0, 0)
            self.cell(0, 6, a.classification, align="C", new_x="LMARGIN", new_y="NEXT")
            self.set_text_color(0, 0, 0)
            self.ln(3)

        def footer(self) -> None:
            self.set_y(-16)
            self.set_font("DejaVu", "", 8)
            self.set_text_color(90, 90, 90)
            self.cell(0, 4, f"Case {a.case_ref}  ·  Working agreement annex: {a.person}  ·  "
                      f"Page {self.page_no()} of {{nb}}", align="C", new_x="LMARGIN",
                      new_y="NEXT")
            self.set_font("DejaVu", "B", 11)
            self.set_text_color(170, 0, 0)
            self.cell(0, 6, a.classification, align="C")
            self.set_text_color(0, 0, 0)

    pdf = _Annex(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_font("DejaVu", "", str(regular))
    pdf.add_font("DejaVu", "B", str(bold))
    pdf.set_title(f"{a.title}: {a.person}")
    pdf.set_creator("Safe Location Planner")
    pdf.set_margins(18, 14, 18)
    pdf.add_page()
    width = pdf.epw

    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(width, 8, a.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 10)
    for key, value in (("Case", a.case_ref), ("For", f"{a.person} ({a.person_id})"),
                       ("Named worker", a.worker or _BLANK), ("Prepared", a.prepared),
                       ("Review date", a.review_date)):
        pdf.set_font("DejaVu", "B", 10)
        pdf.cell(32, 6, key)
        pdf.set_font("DejaVu", "", 10)
        pdf.cell(width - 32, 6, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    if a.intro:
        pdf.multi_cell(width, 5.5, a.intro, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)

    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(width, 7, "Conditions", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    for i, condition in enumerate(a.conditions, start=1):
        pdf.cell(8, 5.5, f"{i}.")
        pdf.multi_cell(width - 8, 5.5, condition, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
    pdf.ln(2)

    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(width, 7, "No-go areas", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    heading = FontFace(emphasis="BOLD", fill_color=(235, 235, 235))
    with pdf.table(col_widths=(8, 62, 66, 26), text_align="LEFT", line_height=4.8,
                   headings_style=heading, first_row_as_headings=True) as table:
        row = table.row()
        for text in ("No.", "Why it is a no-go area", "Postcode sectors", "Named areas"):
            row.cell(text)
        for z in a.no_go.itertuples():
            row = table.row()
            row.cell(str(z.number))
            row.cell(str(z.reason).replace("; ", "\n"))
            row.cell(sector_text(z.postcode_sectors, z.whole_sectors))
            row.cell(str(z.boundaries) or "-")
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 8)
    pdf.multi_cell(width, 4, NOTE, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", 10)
    pdf.cell(width, 6, "Every postcode sector with a no-go area in it:", new_x="LMARGIN",
             new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.multi_cell(width, 5.5, ", ".join(a.sectors), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    if a.closing:
        pdf.multi_cell(width, 5.5, a.closing, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    pdf.set_font("DejaVu", "B", 10)
    pdf.cell(width, 6, f"Review date: {a.review_date}", new_x="LMARGIN", new_y="NEXT")
    if pdf.will_page_break(16 * len(a.signatures) + 4):
        pdf.add_page()
    pdf.set_font("DejaVu", "", 10)
    for who in a.signatures:
        pdf.ln(12)
        y = pdf.get_y()
        pdf.line(pdf.l_margin, y, pdf.l_margin + 110, y)
        pdf.line(pdf.l_margin + 122, y, pdf.l_margin + width, y)
        pdf.ln(1)
        pdf.cell(122, 5, f"Signed: {who}")
        pdf.cell(width - 122, 5, "Date", new_x="LMARGIN", new_y="NEXT")

    pdf.add_page()
    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(width, 7, f"Map of the no-go areas for {a.person}", new_x="LMARGIN",
             new_y="NEXT")
    pdf.image(io.BytesIO(a.map_png), w=width)
    pdf.ln(1)
    pdf.set_font("DejaVu", "", 8)
    pdf.multi_cell(width, 4, MAP_NOTE, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


NOTE = ("Postcode sectors: 'all of' means the whole sector is a no-go area, 'part of' that "
        "some of it is. Sector outlines are approximate: when in doubt, follow the map and ask "
        "your named worker.")
MAP_NOTE = ("Numbers match the list of no-go areas. The map shows only the no-go areas and "
            "postcode sectors; it does not show any home.")


def sector_text(sectors: str, whole: str) -> str:
    """``All of: ...`` and ``Part of: ...`` lines from the two sector columns."""
    listed = [s.strip() for s in str(sectors).split(",") if s.strip()]
    all_of = [s.strip() for s in str(whole).split(",") if s.strip()]
    part_of = [s for s in listed if s not in all_of]
    lines = []
    if all_of:
        lines.append("All of: " + ", ".join(all_of))
    if part_of:
        lines.append("Part of: " + ", ".join(part_of))
    return "\n".join(lines) or "none"


_HTML_STYLE = """
@page { size: A4; margin: 22mm 16mm; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 11pt; color: #111;
       max-width: 180mm; margin: 0 auto; }
.marking { color: #aa0000; font-weight: bold; text-align: center; letter-spacing: 0.05em; }
@media print { .marking.top { position: fixed; top: -14mm; left: 0; right: 0; }
               .marking.bottom { position: fixed; bottom: -14mm; left: 0; right: 0; }
               .map { page-break-before: always; } }
dl { display: grid; grid-template-columns: 9em 1fr; gap: 2px 8px; }
dt { font-weight: bold; }
table { border-collapse: collapse; width: 100%; font-size: 9.5pt; }
th, td { border: 1px solid #999; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #eee; }
img { width: 100%; height: auto; border: 1px solid #ccc; }
.note { font-size: 8.5pt; color: #444; }
.signature { display: flex; gap: 12mm; margin-top: 14mm; }
.signature div { border-top: 1px solid #000; padding-top: 2px; }
.signature .who { flex: 3; } .signature .date { flex: 1; }
"""


def agreement_html(agreement: Agreement) -> str:
    """The annex as one self-contained HTML page (the map inline as a PNG; every text
    escaped), with the marking at the top and bottom (repeated on each printed page)."""
    import base64

    a = agreement
    e = html.escape
    marking = e(a.classification)
    rows = "\n".join(
        f"<tr><td>{z.number}</td><td>{'<br>'.join(e(r) for r in str(z.reason).split('; '))}</td>"
        f"<td>{e(sector_text(z.postcode_sectors, z.whole_sectors)).replace(chr(10), '<br>')}"
        f"</td>"
        f"<td>{e(str(z.boundaries) or '-')}</td></tr>" for z in a.no_go.itertuples())
    conditions = "\n".join(f"<li>{e(c)}</li>" for c in a.conditions)
    signatures = "\n".join(
        f'<div class="signature"><div class="who">Signed: {e(who)}</div>'
        f'<div class="date">Date</div></div>' for who in a.signatures)
    image = base64.b64encode(a.map_png).decode("ascii")
    facts = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in (
        ("Case", a.case_ref), ("For", f"{a.person} ({a.person_id})"),
        ("Named worker", a.worker or _BLANK), ("Prepared", a.prepared),
        ("Review date", a.review_date)))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(a.title)}: {e(a.person)}</title>
<style>{_HTML_STYLE}</style></head>
<body>
<div class="marking top">{marking}</div>
<h1>{e(a.title)}</h1>
<dl>{facts}</dl>
<p>{e(a.intro)}</p>
<h2>Conditions</h2>
<ol>
{conditions}
</ol>
<h2>No-go areas</h2>
<table>
<thead><tr><th>No.</th><th>Why it is a no-go area</th><th>Postcode sectors</th>
<th>Named areas</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p class="note">{e(NOTE)}</p>
<p><strong>Every postcode sector with a no-go area in it:</strong> {e(", ".join(a.sectors))}</p>
<p>{e(a.closing)}</p>
<p><strong>Review date: {e(a.review_date)}</strong></p>
{signatures}
<section class="map">
<h2>Map of the no-go areas for {e(a.person)}</h2>
<img alt="Map of the no-go areas over postcode-sector outlines"
     src="data:image/png;base64,{image}">
<p class="note">{e(MAP_NOTE)}</p>
</section>
<div class="marking bottom">{marking}</div>
</body></html>
"""


def write_agreement(agreement: Agreement, path: str | os.PathLike) -> Path:
    """Write the annex as ``.pdf`` or ``.html`` (by extension), replacing ``path`` whole."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        data = agreement_pdf(agreement)
    elif suffix in (".html", ".htm"):
        data = agreement_html(agreement).encode("utf-8")
    else:
        msg = f"{path.name}: an agreement is written as .pdf or .html, not {suffix or 'nothing'}"
        raise InputError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(suffix=suffix, prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path

"""Reading, checking, preparing and caching street graphs for :mod:`geo.network`.

Private: :func:`geo.network.load_graph` and :func:`geo.network.fetch_graph` are the way in.
Every failure a user can cause is an :class:`~geo.errors.InputError` naming the file.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import logging
import os
import re
import tempfile
import xml.sax
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Literal
from xml.etree.ElementTree import ParseError

import networkx as nx
import osmnx as ox
import shapely
from osmnx._errors import InsufficientResponseError

from geo._street_rules import (
    DRIVE_SPEEDS_KPH,
    MODE_RULES,
    WALK_SPEED_KPH,
    WAY_TAGS,
    Mode,
    tag_value,
    way_allowed,
)
from geo.crs import BNG, is_bng
from geo.errors import InputError
from geo.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

#: Bump when the preparation rules change, so cached graphs are rebuilt.
PREP_VERSION = 1

#: What reading a malformed GraphML file can raise (ElementTree's ParseError is a SyntaxError).
_GRAPHML_ERRORS = (OSError, ValueError, KeyError, TypeError, SyntaxError, nx.NetworkXError)


@cache
def keep_way_tags() -> None:
    """Make osmnx keep the access tags the mode rules read (once per process)."""
    ox.settings.useful_tags_way = sorted(set(ox.settings.useful_tags_way) | set(WAY_TAGS))


@cache
def configure_osmnx(settings: Settings) -> None:
    """Start-up configuration of osmnx's process-wide settings; runs once per ``settings``.

    Call it once when the app or the command starts. It makes osmnx keep the access tags
    the mode rules need (``foot``, ``motor_vehicle``, ...; :func:`load_graph` also ensures
    this on first use), keeps osmnx's log off the console, and points osmnx's HTTP cache at
    ``settings.data_dir / "osmnx-cache"`` (used only by :func:`fetch_graph`, only when
    downloading is allowed). The same values serve every user; nothing is set per call.
    """
    keep_way_tags()
    ox.settings.log_console = False
    ox.settings.use_cache = True
    ox.settings.cache_folder = str(settings.data_dir / "osmnx-cache")


def no_progress(fraction: float, message: str) -> None:
    """The default progress callback: does nothing."""


def file_kind(path: Path) -> Literal["osm", "graphml"]:
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    last = suffixes[-1] if suffixes else ""
    if last == ".graphml":
        return "graphml"
    if last in {".osm", ".xml"} or (last in {".gz", ".bz2"} and len(suffixes) == 2
                                     and suffixes[0] in {".osm", ".xml"}):
        return "osm"
    msg = (f"{path.name}: a street graph must be an OpenStreetMap XML file (.osm, .xml, "
           f"optionally .gz or .bz2) or a GraphML file (.graphml)")
    raise InputError(msg)


def _open_binary(path: Path):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")
    if path.suffix.lower() == ".bz2":
        return bz2.open(path, "rb")
    return path.open("rb")


def check_file(path: Path, *, root: str) -> None:
    """Refuse a missing or empty file, one that is not ``<root>`` XML, or one with a DTD."""
    if not path.is_file():
        msg = f"{path.name}: no such file"
        raise InputError(msg)
    try:
        with _open_binary(path) as f:
            head = f.read(65536)
    except (OSError, EOFError) as e:
        msg = f"{path.name}: cannot be read ({e.strerror or type(e).__name__})"
        raise InputError(msg) from None
    if not head.strip():
        msg = f"{path.name}: the file is empty"
        raise InputError(msg)
    first, dtd = _prolog(head)
    if dtd:
        msg = f"{path.name}: XML with a DTD or entities is refused"
        raise InputError(msg)
    if first != root:
        kind = "an OpenStreetMap XML" if root == "osm" else "a GraphML"
        msg = f"{path.name}: not {kind} file (no <{root}> element at its start)"
        raise InputError(msg)
    if root == "graphml" and _names_a_grid(path):
        msg = (f"{path.name}: its coordinate system refers to a file or another source; only "
               f"plain definitions (such as EPSG:4326) are accepted")
        raise InputError(msg)


#: In a GraphML graph's ``crs``: references that make PROJ open a file (grids, parameter or
#: init files, virtual paths).
_GRID_REFERENCE = re.compile(
    rb"parameterfile|nadgrids|geoidgrids|gridshift|\+init\s*=|/vsi|file:", re.IGNORECASE)


def _names_a_grid(path: Path) -> bool:
    tail = b""
    with _open_binary(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            if _GRID_REFERENCE.search(tail + block):
                return True
            tail = block[-64:]
    return False


class _Stop(Exception):
    pass


def _prolog(head: bytes) -> tuple[str | None, bool]:
    """The name of the first element and whether a DTD or entity comes before it, read by
    an XML parser (so a DTD hidden after a comment or in a processing instruction's
    neighbourhood is still seen); the parse stops at the first element."""
    import xml.parsers.expat as expat

    found: dict = {"root": None, "dtd": False}

    def dtd(*_args):
        found["dtd"] = True
        raise _Stop

    def start(name, _attrs):
        found["root"] = name.rsplit(":", 1)[-1]
        raise _Stop

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = dtd
    parser.EntityDeclHandler = dtd
    parser.StartElementHandler = start
    try:
        parser.Parse(head, False)
    except _Stop:
        pass
    except (expat.ExpatError, ValueError, LookupError):  # not well formed (or an encoding
        # expat does not know): say DTD if anything looks like one
        upper = head.upper()
        found["dtd"] = b"<!DOCTYPE" in upper or b"<!ENTITY" in upper
    return found["root"], found["dtd"]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_name(digest: str, mode: Mode, speeds: Mapping[str, float]) -> str:
    speeds_digest = hashlib.sha256(json.dumps(speeds, sort_keys=True).encode()).hexdigest()
    return f"{digest[:32]}-{mode}-{speeds_digest[:12]}-v{PREP_VERSION}.graphml"


def read_cached(cache_file: Path) -> nx.MultiDiGraph | None:
    if not cache_file.is_file():
        return None
    try:
        return ox.load_graphml(cache_file)
    except _GRAPHML_ERRORS:  # a damaged cache is rebuilt, never fatal
        log.warning("ignoring unreadable cached street graph %s", cache_file.name)
        return None


def write_graphml(G: nx.MultiDiGraph, path: Path) -> None:
    """Write GraphML atomically: a temporary file beside ``path``, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".graphml")
    os.close(fd)
    try:
        ox.save_graphml(G, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_cache(G: nx.MultiDiGraph, cache_file: Path) -> None:
    """Keep a prepared graph for next time; a failure only loses the cache."""
    try:
        write_graphml(G, cache_file)
    except OSError as e:
        log.warning("could not cache the street graph in %s: %s", cache_file.parent, e)


def read_osm_xml(path: Path, *, mode: Mode) -> nx.MultiDiGraph:
    keep_way_tags()
    try:
        return ox.graph_from_xml(path, bidirectional=MODE_RULES[mode].two_way,
                                 simplify=False, retain_all=True)
    except xml.sax.SAXParseException as e:
        reason = f"line {e.getLineNumber()}: {e.getMessage()}"
    except ParseError as e:
        reason = f"line {e.position[0]}: not well-formed XML"
    except UnicodeDecodeError:
        reason = "not UTF-8 text"
    except InsufficientResponseError:
        reason = "it holds no nodes or ways"
    except (OSError, EOFError) as e:
        reason = getattr(e, "strerror", None) or "cannot be read"
    except (ValueError, KeyError) as e:
        reason = str(e) or type(e).__name__
    msg = f"{path.name}: not a usable OpenStreetMap XML file ({reason})"
    raise InputError(msg)


def read_graphml(path: Path, *, mode: Mode, speeds: Mapping[str, float]) -> nx.MultiDiGraph:
    try:
        G = ox.load_graphml(path)
    except _GRAPHML_ERRORS as e:
        msg = f"{path.name}: not a usable GraphML street graph ({type(e).__name__})"
        raise InputError(msg) from None
    made_for = G.graph.get("safeplan_mode")
    if made_for is not None and made_for != mode:
        msg = (f"{path.name} was prepared for mode {made_for!r}, not {mode!r}; load the "
               f"OpenStreetMap file for {mode!r}")
        raise InputError(msg)
    same_speeds = G.graph.get("safeplan_speeds_kph") == json.dumps(speeds, sort_keys=True)
    if made_for == mode and same_speeds and is_bng(G.graph.get("crs")):
        return G
    try:
        _filter_ways(G, mode)
        if MODE_RULES[mode].two_way:
            _add_reverse_edges(G)
        G = ox.truncate.largest_component(G, strongly=False)
        _add_speeds(G, mode=mode, speeds=speeds)
        ox.routing.add_edge_travel_times(G)
        if not is_bng(G.graph.get("crs")):
            G = ox.project_graph(G, to_crs=BNG)
    except (ValueError, KeyError) as e:
        msg = f"{path.name}: not a usable GraphML street graph ({e})"
        raise InputError(msg) from None
    _stamp(G, mode=mode, speeds=speeds, source=path.name)
    return G


def _filter_ways(G: nx.MultiDiGraph, mode: Mode) -> None:
    """Drop the edges ``mode`` may not use, then the nodes left without edges (in place)."""
    drop = [(u, v, k) for u, v, k, data in G.edges(keys=True, data=True)
            if not way_allowed(data, mode)]
    G.remove_edges_from(drop)
    G.remove_nodes_from([n for n, degree in G.degree() if degree == 0])


def _add_reverse_edges(G: nx.MultiDiGraph) -> None:
    """Walkers use every way both ways: add the missing reverse of each edge (in place)."""
    pairs = {(u, v) for u, v in G.edges()}
    for u, v, data in list(G.edges(data=True)):
        if (v, u) not in pairs:
            reverse = dict(data)
            if "geometry" in reverse:
                reverse["geometry"] = shapely.reverse(reverse["geometry"])
            G.add_edge(v, u, **reverse)


def _add_speeds(G: nx.MultiDiGraph, *, mode: Mode, speeds: Mapping[str, float]) -> None:
    if mode == "drive":
        ox.routing.add_edge_speeds(G, hwy_speeds=dict(speeds),
                                   fallback=DRIVE_SPEEDS_KPH["residential"])
        return
    values = {(u, v, k): speeds.get(tag_value(data.get("highway")) or "", WALK_SPEED_KPH)
              for u, v, k, data in G.edges(keys=True, data=True)}
    nx.set_edge_attributes(G, values, name="speed_kph")


def _stamp(G: nx.MultiDiGraph, *, mode: Mode, speeds: Mapping[str, float], source: str) -> None:
    G.graph["safeplan_mode"] = mode
    G.graph["safeplan_speeds_kph"] = json.dumps(speeds, sort_keys=True)
    G.graph["safeplan_source"] = source
    G.graph["safeplan_prep_version"] = str(PREP_VERSION)


def prepare(
    G: nx.MultiDiGraph,
    *,
    mode: Mode,
    speeds: Mapping[str, float],
    source: str,
    progress: Progress,
) -> nx.MultiDiGraph:
    """Filter, connect, time, simplify and project a raw unsimplified osmnx graph."""
    progress(0.3, "keeping the ways the mode uses")
    _filter_ways(G, mode)
    if G.number_of_edges() == 0:
        msg = f"{source}: no streets that can be used when the mode is {mode!r}"
        raise InputError(msg)
    G = ox.truncate.largest_component(G, strongly=False)
    progress(0.45, "adding speeds and travel times")
    _add_speeds(G, mode=mode, speeds=speeds)
    ox.routing.add_edge_travel_times(G)
    progress(0.6, "simplifying the street graph")
    # keep a node wherever the speed changes, so each edge has one speed and a point part-way
    # along it is timed exactly pro rata
    G = ox.simplify_graph(G, edge_attrs_differ=["speed_kph"])
    progress(0.75, f"projecting to EPSG:{BNG}")
    G = ox.project_graph(G, to_crs=BNG)
    _stamp(G, mode=mode, speeds=speeds, source=source)
    return G

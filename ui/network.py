"""Street graphs for the app: files in the data folder, one chosen per case, prepared once.

OpenStreetMap extracts (``.osm``, ``.osm.gz``, ``.osm.bz2``) and GraphML files live in
``<data folder>/graphs/files``; which one a case uses is kept in
``<data folder>/graphs/cases.json``. Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from geo.errors import GeoError, InputError
from geo.network import NetworkTravel, load_graph, policy_speeds
from geo.settings import Policy
from ui import data, session
from ui.markup import md
from ui.uploads import safe_name

SUFFIXES = (".osm", ".xml", ".gz", ".bz2", ".graphml")


def folder() -> Path:
    path = Path(data.settings().data_dir) / "graphs" / "files"
    path.mkdir(parents=True, exist_ok=True)
    return path


def files() -> list[str]:
    """The street files available here, by name."""
    return sorted(p.name for p in folder().iterdir()
                  if p.is_file() and p.name.lower().endswith(SUFFIXES))


def save_upload(upload, ref: str) -> str:
    """Keep an uploaded street file (size-limited, under a safe name) and record it for the
    case; return its name. A file of the same name but other content is never replaced
    (another case may use it): the new one gets a numbered name."""
    import hashlib

    name = safe_name(upload.name)
    if not name.lower().endswith(SUFFIXES):
        msg = f"{name}: a street file must be OpenStreetMap XML (.osm) or GraphML (.graphml)"
        raise InputError(msg)
    payload = upload.getvalue()
    limit = data.settings().max_upload_mb * 1_048_576
    if len(payload) > limit:
        msg = (f"{name}: {len(payload) / 1_048_576:.1f} MB is over the limit of "
               f"{data.settings().max_upload_mb:g} MB")
        raise InputError(msg)
    digest = hashlib.sha256(payload).hexdigest()
    target = folder() / name
    n = 1
    while target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() != digest:
        n += 1
        target = target.with_name(f"{Path(name).stem}-{n}{Path(name).suffix}")
    session.secure().record_street_file(ref, op="added", file=target.name, sha256=digest)
    if not target.exists():
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(payload)
        tmp.replace(target)
    return target.name


def _choices_file() -> Path:
    return folder().parent / "cases.json"


def chosen(ref: str) -> str | None:
    """The street file a case uses, if any (and if it is still there)."""
    path = _choices_file()
    if not path.exists():
        return None
    name = json.loads(path.read_text()).get(ref)
    return name if name and (folder() / name).exists() else None


def choose(ref: str, name: str | None) -> None:
    """Use a street file for a case (or none), recorded in the audit trail first."""
    session.secure().record_street_file(ref, op="chosen" if name else "cleared", file=name)
    path = _choices_file()
    choices = json.loads(path.read_text()) if path.exists() else {}
    if name:
        choices[ref] = name
    else:
        choices.pop(ref, None)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(choices, indent=1))
    tmp.replace(path)


def _options(name: str, policy: Policy) -> dict:
    net = policy.table("network")
    return {"mode": net["mode"],
            "speeds_kph": policy_speeds(policy),
            "cache_dir": folder().parent / "prepared"}


def prepare(name: str, policy: Policy, *, progress=None) -> None:
    """Prepare a street file for the policy's mode, with progress; kept on disk, so later
    loads are quick."""
    load_graph(folder() / name, progress=progress, **_options(name, policy))


@st.cache_resource(max_entries=4, show_spinner="Loading the street graph...")
def _travel(name: str, size: int, mtime: float, mode: str, speeds: tuple, snap_m: float,
            _policy: Policy) -> NetworkTravel:
    graph = load_graph(folder() / name, **_options(name, _policy))
    return NetworkTravel(graph, max_snap_m=snap_m)


def travel(name: str, policy: Policy) -> NetworkTravel:
    """The prepared graph for a street file and the policy's mode (cached per process, and
    on disk between runs)."""
    stat = (folder() / name).stat()
    net = policy.table("network")
    speeds = tuple(sorted(policy_speeds(policy).items()))
    return _travel(name, stat.st_size, stat.st_mtime, net["mode"], speeds,
                   float(net["max_snap_m"]), _policy=policy)


def travel_for_case(ref: str, policy: Policy) -> NetworkTravel | None:
    """The case's street graph, prepared (None when the case has none)."""
    name = chosen(ref)
    return travel(name, policy) if name else None


def usable(ref: str, policy: Policy) -> tuple[str | None, NetworkTravel | None]:
    """The case's street file and its prepared graph; a file that cannot be used is said so
    on the screen and school runs fall back to estimates (labelled as such)."""
    name = chosen(ref)
    if not name:
        return None, None
    try:
        return name, travel(name, policy)
    except GeoError as exc:
        st.warning(f"The street file {md(name)} cannot be used, so school runs are estimated: "
                   f"{md(exc)}")
        return None, None

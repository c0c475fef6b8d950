"""The ``safeplan`` command (DESIGN section 6).

Every subcommand exits 0 on success and 2 on bad input with one line on stderr, never a
traceback. Reports (validation problems, tables) go to stdout; ``--out`` output format follows
the file's extension.

Stored cases: the database comes from ``--db`` or ``SAFEPLAN_DATABASE_URL`` (default: a SQLite
file in the data folder), and commands that take a case file also take ``case:REF``.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from geo import __version__
from geo.errors import GeoError, ValidationError
from geo.settings import Settings


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from geo.demo import write_demo

    path = write_demo(args.out)
    print(f"wrote {path} and {path.parent / 'demo_vacancies.csv'} (fictional people only)")
    return 0


def _cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from geo.io import read_case
    from geo.model import problems_text, validate_case
    from geo.store import Store, stored_ref

    ref = stored_ref(args.case)
    if ref is None:
        case = read_case(args.case)
        name = Path(args.case).name
    else:
        with Store.from_settings(settings) as store:
            version = store.case_info(ref).version
            _record(store, args, "case_open", ref, {"view": "full", "version": version})
            case = store.load_case(ref).case
        name = args.case
    report = validate_case(case)
    if report.problems:
        print(problems_text(report.problems))
    if report.errors:
        n = len(report.errors)
        print(f"{name}: {n} fatal problem{'s' if n != 1 else ''}; see above", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k} {v}" for k, v in report.case.counts().items() if v)
    print(f"{name}: valid ({len(report.warnings)} warnings). Layers: {counts}")
    return 0


def _cmd_geocode(args: argparse.Namespace, settings: Settings) -> int:
    from geo.geocode import geocode_postcodes
    from geo.io import write_table

    table = geocode_postcodes(args.postcodes)
    out = table[["postcode", "lat", "lon", "easting", "northing"]].copy()
    out["lat"] = out["lat"].round(6)
    out["lon"] = out["lon"].round(6)
    if args.out:
        write_table(out, args.out)
        print(f"wrote {len(out)} postcodes to {args.out}")
    else:
        out["easting"] = out["easting"].astype(int)
        out["northing"] = out["northing"].astype(int)
        print(out.to_csv(index=False), end="")
    return 0


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from geo.io import case_file_lock, import_file, read_case, write_case
    from geo.model import validate_case
    from geo.store import Changes, Store, stored_ref

    ref = stored_ref(args.case)
    if ref is None:
        case_path = Path(args.case)
        with case_file_lock(case_path):
            case = validate_case(read_case(case_path)).case
            merged, summary = import_file(case, args.layer, args.file, settings=settings,
                                          skip_unlocated=args.skip_unlocated)
            for warning in summary.warnings:
                print(warning)
            write_case(merged, case_path)
        print(f"{Path(args.file).name}: {summary}")
        return 0
    with Store.from_settings(settings) as store:
        loaded = store.load_case(ref)
        merged, summary = import_file(
            loaded.case, args.layer, args.file, settings=settings,
            skip_unlocated=args.skip_unlocated,
        )
        for warning in summary.warnings:
            print(warning)
        added = merged[args.layer].iloc[len(loaded.case[args.layer]):]
        version = store.save_changes(
            ref, Changes().add(args.layer, added), base_version=loaded.version,
            actor=_actor(args), reason=f"import {Path(args.file).name}",
        )
        _record(store, args, "change", ref,
                {"version": version, "layers": {args.layer: {"add": {"rows": len(added)}}},
                 "file": Path(args.file).name}, why=f"import {Path(args.file).name}")
    print(f"{Path(args.file).name}: {summary} (case {ref}, version {version})")
    return 0


def _actor(args: argparse.Namespace) -> str:
    """Who is acting: ``--user``, else the name this process runs as."""
    if args.user:
        return args.user
    return _os_user()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _record(store, args: argparse.Namespace, action: str, case_ref: str | None = None,
            what: dict | None = None, why: str = "") -> None:
    """One audit record for what this command did, by ``--user`` (or the login), noting the
    operating-system account it ran as (``--user`` is what someone says; the login is not)."""
    from geo.audit import record

    command = f"{args.command} {args.action}" if getattr(args, "action", None) else args.command
    record(store, user=_actor(args), action=action, case_ref=case_ref, why=why,
           what={**(what or {}), "via": f"safeplan {command}", "os_user": _os_user()})


def _purpose(args: argparse.Namespace, doing: str) -> str:
    """The ``--purpose`` given, or a clear refusal naming the option."""
    from geo.access import check_purpose

    return check_purpose(getattr(args, "purpose", None), doing, how=" (--purpose TEXT)")


def _cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from geo.store import Store, display_url, upgrade_database

    url = settings.resolved_database_url
    before, after = upgrade_database(url)
    if before != after:
        with Store(url) as store:
            _record(store, args, "db_upgrade", what={"from": before, "to": after})
    where = display_url(url)
    if before == after:
        print(f"{where}: already at schema revision {after}")
    else:
        print(f"{where}: upgraded from {before or 'an empty database'} to revision {after}")
    return 0


def _cmd_cases_add(args: argparse.Namespace, settings: Settings) -> int:
    from geo.io import open_case
    from geo.store import Store

    case = open_case(args.case)
    with Store.from_settings(settings) as store:
        ref = store.create_case(case, actor=_actor(args), reason=args.reason)
        _record(store, args, "change", ref,
                {"op": "create", "version": 1, "file": Path(args.case).name}, why=args.reason)
    print(ref)
    return 0


def _cmd_cases_new(args: argparse.Namespace, settings: Settings) -> int:
    import pandas as pd

    from geo.model import Case
    from geo.store import Store

    row = {"case_ref": [args.ref], "title": [args.title],
           "classification": [args.classification]}
    with Store.from_settings(settings) as store:
        ref = store.create_case(Case({"case": pd.DataFrame(row)}), actor=_actor(args),
                                reason=args.reason)
        _record(store, args, "change", ref, {"op": "create", "version": 1}, why=args.reason)
    print(ref)
    return 0


def _cmd_cases_list(args: argparse.Namespace, settings: Settings) -> int:
    from geo.store import Store, uk_time

    with Store.from_settings(settings) as store:
        found = store.list_cases(include_archived=args.all)
    _print_csv([(c.ref, c.title, c.classification, c.version,
                 "archived" if c.archived else "open", uk_time(c.updated_at), c.updated_by)
                for c in found],
               ["ref", "title", "classification", "version", "status", "updated_at",
                "updated_by"])
    return 0


def _print_csv(rows: list[tuple], columns: list[str]) -> None:
    """A table on stdout as CSV, formula-safe for spreadsheets."""
    import pandas as pd

    from geo.io import csv_safe

    print(csv_safe(pd.DataFrame(rows, columns=columns)).to_csv(index=False), end="")


def _cmd_cases_export(args: argparse.Namespace, settings: Settings) -> int:
    from geo.io import case_file_path, write_case
    from geo.store import Store

    why = _purpose(args, "export a case")
    case_file_path(args.out)  # refused before it could be recorded as an export
    with Store.from_settings(settings) as store:
        loaded = store.load_case(args.ref)  # refuses an archived or unknown case first
        # recorded before the data leaves; a refused export is not recorded as one
        _record(store, args, "export", args.ref,
                {"format": "gpkg", "file": Path(args.out).name, "version": loaded.version},
                why=why)
        path = write_case(loaded.case, args.out)
    print(f"wrote {path} (case {loaded.ref}, version {loaded.version})")
    return 0


def _cmd_cases_archive(args: argparse.Namespace, settings: Settings) -> int:
    return _set_archived(args, settings, archived=True)


def _cmd_cases_restore(args: argparse.Namespace, settings: Settings) -> int:
    return _set_archived(args, settings, archived=False)


def _set_archived(args: argparse.Namespace, settings: Settings, *, archived: bool) -> int:
    from geo.store import Store

    op = "archive" if archived else "restore"
    with Store.from_settings(settings) as store:
        change = store.archive_case if archived else store.restore_case
        version = change(args.ref, actor=_actor(args), reason=args.reason)
        _record(store, args, "change", args.ref, {"op": op, "version": version},
                why=args.reason)
    if archived:
        print(f"archived case {args.ref} (version {version}); "
              f"bring it back with `safeplan cases restore {args.ref}`")
    else:
        print(f"restored case {args.ref} (version {version})")
    return 0


def _cmd_cases_history(args: argparse.Namespace, settings: Settings) -> int:
    from geo.store import Store

    with Store.from_settings(settings) as store:
        revisions = store.history(args.ref)
        _record(store, args, "case_open", args.ref, {"view": "history"})
        for revision in revisions:
            print(revision)
    return 0


def _cmd_cases_undo(args: argparse.Namespace, settings: Settings) -> int:
    from geo.store import Store

    with Store.from_settings(settings) as store:
        version = store.undo(args.ref, args.version, actor=_actor(args), reason=args.reason)
        _record(store, args, "change", args.ref, {"version": version, "undid": args.version},
                why=args.reason)
    print(f"undid version {args.version} of case {args.ref} (now version {version})")
    return 0


def _cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from geo.store import backup_database, backup_target, display_url

    url = settings.resolved_database_url
    backup_target(args.out)  # refused before it could be recorded as a backup
    _record_in(url, args, "backup", what={"file": Path(args.out).name},
               why=" ".join((args.purpose or "").split()))
    path = backup_database(url, args.out)
    print(f"wrote {path}: a backup of {display_url(url)}")
    return 0


def _cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from geo.store import display_url, restore_database

    url = settings.resolved_database_url
    kept = restore_database(url, args.backup, replace=args.replace)
    if kept is not None:
        print(f"kept what the database held in {kept}")
    print(f"restored {Path(args.backup).name} into {display_url(url)}")
    if not _record_in(url, args, "restore", what={"file": Path(args.backup).name,
                                                  "kept": kept.name if kept else None}):
        print("not in the audit trail yet: the restored database needs `safeplan db upgrade`")
    return 0


def _record_in(url: str, args: argparse.Namespace, action: str, *, what: dict,
               why: str = "") -> bool:
    """Record in the database at ``url`` if its schema has the audit trail; say if it did."""
    from geo.errors import StoreError
    from geo.store import Store

    try:
        store = Store(url)
    except StoreError:
        return False
    with store:
        _record(store, args, action, what=what, why=why)
    return True


def _open_case(args: argparse.Namespace, settings: Settings, *, action: str = "export"):
    """A case from a GeoPackage path or ``case:REF`` (stored), validated.

    A stored case's data is about to leave the store in ``--out``: a purpose is required and
    the export (or print) is recorded before the case is read.
    """
    from geo.store import Store, open_case_arg, stored_ref

    ref = stored_ref(args.case)
    if ref is not None:
        why = _purpose(args, "print from a stored case" if action == "print"
                       else "write a stored case's data to a file")
        with Store.from_settings(settings) as store:
            version = store.case_info(ref).version
            _record(store, args, action, ref,
                    {"file": Path(args.out).name, "version": version}, why=why)
    return open_case_arg(args.case, settings=settings).case


def _as_of(text: str | None):
    import datetime as dt

    from geo.errors import InputError
    from geo.model import parse_date

    if not text:
        return dt.datetime.now()
    try:
        return dt.datetime.fromisoformat(parse_date(text))
    except ValueError as exc:
        msg = f"--as-of: {exc}"
        raise InputError(msg) from None


def _policy(case, args):
    from geo.sources import policy_for_case

    return policy_for_case(case, files=[args.policy] if args.policy else [])


def _write(frame, out: str, what: str) -> None:
    from geo.io import write_table

    write_table(frame, out)
    print(f"wrote {len(frame)} {what} to {out}")


def _cmd_hotspots(args: argparse.Namespace, settings: Settings) -> int:
    from geo.hotspots import find_hotspots

    case = _open_case(args, settings)
    found = find_hotspots(case["incidents"], _policy(case, args), as_of=_as_of(args.as_of))
    for row in found.itertuples():
        print(f"{row.area_id}: {row.incident_count} incidents, {row.observed_from} to "
              f"{row.observed_to}, confidence {row.confidence}")
    if not len(found):
        print("no hot spots: no group has enough incidents close together")
    _write(found, args.out, "hot spots")
    return 0


def _cmd_zones(args: argparse.Namespace, settings: Settings) -> int:
    from geo.zones import exclusion_zones

    case = _open_case(args, settings)
    zones = exclusion_zones(case, _policy(case, args), as_of=_as_of(args.as_of))
    for row in zones.itertuples():
        print(f"{row.zone_id}: {row.reason} ({row.sources})")
    _write(zones, args.out, "zones")
    return 0


def _read_candidates(path: str, settings: Settings):
    from geo.errors import ValidationError as _VE
    from geo.io import read_rows
    from geo.model import check_layer

    frame, problems = read_rows(path, "candidates", settings=settings)
    checked, found = check_layer("candidates", frame, row_base=2)
    problems = problems + [p for p in found if p.column != "geometry" or not problems]
    if any(p.severity == "error" for p in problems):
        raise _VE(problems, source=Path(path).name)
    return checked


def _people(args: argparse.Namespace) -> list[str] | None:
    return args.for_people.split(",") if args.for_people else None


def _travel(args: argparse.Namespace, policy, settings: Settings):
    """A street-graph router from ``--graph``, or None (school runs estimated)."""
    if not args.graph:
        return None
    from geo.network import router_from_file

    travel = router_from_file(args.graph, policy=policy, settings=settings)
    g = travel.graph
    print(f"street graph: {g.n_streets} streets, {g.length_km:.1f} km ({g.mode})")
    return travel


def _cmd_rank(args: argparse.Namespace, settings: Settings) -> int:
    from geo.rank import RANK_COLUMNS, assess_case, rank, rank_with_routes

    case = _open_case(args, settings)
    policy = _policy(case, args)
    candidates = _read_candidates(args.candidates, settings) if args.candidates else None
    people = _people(args)
    as_of = _as_of(args.as_of)
    travel = _travel(args, policy, settings)
    assessed = assess_case(case, policy, person_ids=people, candidates=candidates,
                           as_of=as_of, travel=travel)
    if travel is None:
        ranked = rank(assessed)
    else:
        from geo.zones import route_zones

        zones = route_zones(case, policy, assessed.household.zones, as_of=as_of)
        ranked, routes = rank_with_routes(assessed, travel, zones)
        crossing = routes[routes["crosses_zone"]]
        n_ok = int((routes["status"] == "ok").sum())
        print(f"school routes checked for {n_ok} of the best {len(routes)} candidates"
              + (f" ({len(routes) - n_ok} have no street route)" if n_ok < len(routes) else "")
              + f"; {len(crossing)} pass through a no-go area or exclusion zone")
    n_ok = int(ranked["eligible"].sum())
    print(f"ranked {len(ranked)} candidates: {n_ok} eligible, {len(ranked) - n_ok} not")
    for row in ranked.head(args.show).itertuples():
        postcode = row.postcode if isinstance(row.postcode, str) else ""
        print(f"{row.rank:>4}  {row.candidate_id}  {postcode:<9} score {row.score:5.1f}"
              f"  {'eligible' if row.eligible else 'NOT eligible'}")
    out = ranked if not args.out.lower().endswith(".csv") else ranked[RANK_COLUMNS]
    _write(out[[*RANK_COLUMNS, "geometry"]] if "geometry" in out.columns else out, args.out,
           "ranked candidates")
    return 0


def _cmd_areas(args: argparse.Namespace, settings: Settings) -> int:
    from geo.areas import areas_from_surface, grid_surface

    case = _open_case(args, settings)
    policy = _policy(case, args)
    surface = grid_surface(case, policy, person_ids=_people(args), within=args.within,
                           as_of=_as_of(args.as_of), travel=_travel(args, policy, settings))
    found = areas_from_surface(surface)
    n_ok = int(surface.judgement.eligible.sum())
    print(f"{len(surface.row):,} cells of {surface.cell_m:g} m over {surface.region.name}: "
          f"{n_ok:,} eligible")
    for row in found.itertuples():
        print(f"{row.area_id}  score {row.score:5.1f}  {row.area_km2:6.2f} km2  {row.name}")
    if not len(found):
        print(f"no safe area: no {policy.get('areas.min_area_km2'):g} km2 of eligible cells "
              f"scores {policy.get('areas.min_score'):g} or more (see areas.min_score and the "
              f"limits in the policy)")
    _write(found, args.out, "safe areas")
    return 0


def _cmd_agreement(args: argparse.Namespace, settings: Settings) -> int:
    from geo.agreement import build_agreement, write_agreement
    from geo.errors import InputError

    suffix = Path(args.out).suffix.lower()
    if suffix not in (".pdf", ".html", ".htm", ".geojson", ".gpkg", ".kml"):
        msg = (f"{Path(args.out).name}: an agreement is written as .pdf or .html (or its no-go "
               f"areas as .geojson, .gpkg or .kml)")
        raise InputError(msg)
    case = _open_case(args, settings,
                      action="export" if suffix in (".geojson", ".gpkg", ".kml") else "print")
    if suffix in (".geojson", ".gpkg", ".kml"):
        from geo.agreement import no_go_areas

        found = no_go_areas(case, args.person, _policy(case, args), as_of=_as_of(args.as_of))
        if not len(found):
            msg = f"no no-go area applies to {args.person}: nothing to write"
            raise InputError(msg)
        _write(found, args.out, "no-go areas")
        return 0
    agreement = build_agreement(case, args.person, _policy(case, args), worker=args.worker,
                                review=args.review, template=args.template,
                                as_of=_as_of(args.as_of))
    path = write_agreement(agreement, args.out)
    print(f"{agreement.person} ({agreement.person_id}): {len(agreement.no_go)} no-go "
          f"area(s) covering {len(agreement.sectors)} postcode sector(s); review "
          f"{agreement.review_date}")
    print(f"wrote {path}")
    return 0


Handler = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = _Parser(
        prog="safeplan",
        description="Safe Location Planner: threat picture, exclusion zones and explained "
        "ranking of relocation addresses. Nothing is sent off this machine.",
    )
    parser.add_argument("--version", action="version", version=f"safeplan {__version__}")
    parser.add_argument("--db", metavar="URL",
                        help="database of stored cases (default: SAFEPLAN_DATABASE_URL, else "
                        "a SQLite file in the data folder)")
    parser.add_argument("--user", metavar="NAME",
                        help="who is making changes, for the history (default: your login)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("demo", help="write the fictional demo case",
                       description="Write DIR/demo_case.gpkg (the fictional case Operation "
                       "Larkspur) and DIR/demo_vacancies.csv.")
    p.add_argument("--out", metavar="DIR", default=".", help="folder to write to (default: .)")
    p.set_defaults(handler=_cmd_demo)

    p = sub.add_parser("validate", help="report problems in a case file",
                       description="Check every layer and reference; print each problem. "
                       "Exit 2 if any problem is fatal.")
    p.add_argument("case", metavar="CASE.gpkg", help=_CASE_HELP)
    p.set_defaults(handler=_cmd_validate)

    p = sub.add_parser("geocode", help="postcode -> lat, lon, easting, northing (offline)",
                       description="Look postcodes up in Ordnance Survey Code-Point Open, "
                       "installed locally. Exit 2 if any is malformed or unknown.")
    p.add_argument("postcodes", metavar="POSTCODE", nargs="+")
    p.add_argument("--out", metavar="F", help="write .csv or .geojson instead of printing")
    p.set_defaults(handler=_cmd_geocode)

    p = sub.add_parser("import", help="add rows to a layer from CSV, GeoJSON, KML, police.uk",
                       description="Add the rows of FILE to LAYER of the case, all or nothing: "
                       "one bad row refuses the file and the case is unchanged.")
    p.add_argument("case", metavar="CASE.gpkg", help=_CASE_HELP)
    p.add_argument("layer", metavar="LAYER")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--skip-unlocated", action="store_true",
                   help="leave out rows with no location (police.uk withholds some) "
                   "instead of refusing the file")
    p.set_defaults(handler=_cmd_import)

    def engine_options(p: argparse.ArgumentParser,
                       out_help: str = "output file: .csv, .geojson, .gpkg or .kml") -> None:
        p.add_argument("case", metavar="CASE.gpkg", help=_CASE_HELP)
        p.add_argument("--out", metavar="F", required=True, help=out_help)
        p.add_argument("--policy", metavar="TOML",
                       help="risk-policy overrides, on top of the defaults and the case's own")
        p.add_argument("--as-of", metavar="DATE",
                       help="judge incident ages as of this date (default: now)")
        p.add_argument("--purpose", metavar="TEXT",
                       help="why (for the audit trail); required with a stored case:REF")

    def household_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--for", dest="for_people", metavar="PERSON_IDS",
                       help="who is being relocated, comma-separated (default: the people at "
                       "a temporary address)")
        p.add_argument("--graph", metavar="OSM_OR_GRAPHML",
                       help="street graph for school-run times (else estimated)")

    p = sub.add_parser("hotspots", help="activity hot spots derived from incidents",
                       description="Cluster each group's incidents (DBSCAN in metres) into "
                       "readable areas with their incident count, time span and confidence.")
    engine_options(p)
    p.set_defaults(handler=_cmd_hotspots)

    p = sub.add_parser("zones", help="exclusion zones with their reasons",
                       description="Buffer every threat source by its exclusion radius and "
                       "merge the buffers per reason; the case's own zones follow.")
    engine_options(p)
    p.set_defaults(handler=_cmd_zones)

    p = sub.add_parser("rank", help="rank candidate addresses, every rank explained",
                       description="Hard constraints first (exclusions, zones, limits), then "
                       "threat and disruption. CSV columns: rank, candidate_id, label, "
                       "postcode, lat, lon, eligible, score, threat_score, nearest_threat, "
                       "nearest_threat_m, school_min, school_min_estimated, reasons.")
    engine_options(p)
    p.add_argument("--candidates", metavar="F",
                   help="rank these candidates (CSV of postcodes, lat/lon or easting/northing; "
                   "GeoJSON) instead of the case's own")
    household_options(p)
    p.add_argument("--show", type=int, default=10, metavar="N",
                   help="print the top N (default 10)")
    p.set_defaults(handler=_cmd_rank)

    p = sub.add_parser("areas", help="suggested safe housing areas, named and explained",
                       description="Evaluate the case's rules (exclusions, zones, threat, "
                       "school and support limits) on a grid (areas.cell_m, default 250 m) "
                       "over the study region; merge eligible cells scoring at least "
                       "areas.min_score into areas clear of every exclusion zone, named by "
                       "postcode districts, sectors and boundaries. Columns: area_id, rank, "
                       "score, name, postcode_sectors, reasons, area_km2, then details.")
    engine_options(p)
    household_options(p)
    p.add_argument("--within", metavar="NAME_OR_FILE",
                   help="study region: a boundary of the case by name, or a boundary file "
                   "(.geojson, .gpkg, .kml); default: the case's features plus areas.margin_m")
    p.set_defaults(handler=_cmd_areas)

    p = sub.add_parser("agreement", help="a person's working-agreement annex (PDF or HTML)",
                       description="The no-go areas that apply to one person (derived "
                       "exclusion zones and the case's zones for them), simplified so they "
                       "can be followed, with their reasons and postcode sectors; the "
                       "conditions from a template; a map (offline); the review date and "
                       "signature lines; the case's marking on every page. Never shows an "
                       "address where the family lives or might live.")
    engine_options(p, out_help="output file: .pdf or .html; .geojson, .gpkg or .kml for the "
                   "no-go areas alone (for police systems and QGIS)")
    p.add_argument("--person", required=True, metavar="ID",
                   help="the person the agreement is for (a person_id)")
    p.add_argument("--worker", default="", metavar="NAME",
                   help="the named worker (default: a blank line to write the name on)")
    p.add_argument("--review", metavar="DATE",
                   help="review date (default: the case's review_at)")
    p.add_argument("--template", metavar="TOML",
                   help="the agreement's words (default: geo/templates/agreement.toml)")
    p.set_defaults(handler=_cmd_agreement)

    _add_store_commands(sub)
    _add_security_commands(sub)
    return parser


_CASE_HELP = "a case GeoPackage, or case:REF for a stored case"


def _add_store_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="the database of stored cases",
                       description="Manage the database of stored cases.")
    db = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    db.required = True
    q = db.add_parser("upgrade", help="create or upgrade the database's tables",
                      description="Bring the database's schema to the newest revision "
                      "(creating the tables in an empty database). Safe to run again. Back "
                      "the database up first.")
    q.set_defaults(handler=_cmd_db_upgrade)

    p = sub.add_parser("cases", help="stored cases: add, list, export, archive, restore",
                       description="Cases kept in the database, shared by everyone who uses "
                       "it. Nothing is ever deleted: cases are archived.")
    cases = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    cases.required = True
    q = cases.add_parser("add", help="store a case from a GeoPackage; print its reference",
                         description="Validate a case GeoPackage and store it under its "
                         "case_ref, which is printed. Refused if that reference is taken.")
    q.add_argument("case", metavar="CASE.gpkg")
    q.add_argument("--reason", default="", help="why, for the history")
    q.set_defaults(handler=_cmd_cases_add)
    q = cases.add_parser("new", help="start an empty case",
                         description="Store a new case with no layers filled in yet.")
    q.add_argument("ref", metavar="REF")
    q.add_argument("--title", default="", help="the case's title")
    q.add_argument("--classification", default="OFFICIAL-SENSITIVE",
                   help="OFFICIAL, OFFICIAL-SENSITIVE (default) or SECRET")
    q.add_argument("--reason", default="", help="why, for the history")
    q.set_defaults(handler=_cmd_cases_new)
    q = cases.add_parser("list", help="list stored cases (CSV)",
                         description="Print the stored cases as CSV: reference, title, "
                         "classification, version, status, last change.")
    q.add_argument("--all", action="store_true", help="include archived cases")
    q.set_defaults(handler=_cmd_cases_list)
    q = cases.add_parser("export", help="write a stored case to a GeoPackage",
                         description="Write the case, as last saved, to a GeoPackage.")
    q.add_argument("ref", metavar="REF")
    q.add_argument("--out", metavar="F.gpkg", required=True, help="the file to write")
    q.add_argument("--purpose", metavar="TEXT", help="why (required; for the audit trail)")
    q.set_defaults(handler=_cmd_cases_export)
    for name, verb, handler in (("archive", "hide a case and refuse changes to it",
                                 _cmd_cases_archive),
                                ("restore", "bring an archived case back", _cmd_cases_restore)):
        q = cases.add_parser(name, help=verb, description=f"{verb[0].upper()}{verb[1:]}; "
                             "nothing is deleted, and the history records it.")
        q.add_argument("ref", metavar="REF")
        q.add_argument("--reason", default="", help="why, for the history")
        q.set_defaults(handler=handler)
    q = cases.add_parser("history", help="every saved change of a case",
                         description="One line per save: version, who, when, what changed.")
    q.add_argument("ref", metavar="REF")
    q.set_defaults(handler=_cmd_cases_history)
    q = cases.add_parser("undo", help="undo one saved version of a case",
                         description="Undo every row change of one version, as a new "
                         "version. Refused if a later save changed the same rows.")
    q.add_argument("ref", metavar="REF")
    q.add_argument("version", metavar="VERSION", type=int)
    q.add_argument("--reason", default="", help="why, for the history")
    q.set_defaults(handler=_cmd_cases_undo)

    p = sub.add_parser("backup", help="back up the whole database",
                       description="Write a consistent copy of the database to OUT while it "
                       "is in use: SQLite's online backup, or pg_dump -Fc for PostgreSQL. OUT "
                       "must not exist.")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--purpose", metavar="TEXT", default="",
                   help="why (for the audit trail, which records every backup)")
    p.set_defaults(handler=_cmd_backup)
    p = sub.add_parser("restore", help="restore the database from a backup",
                       description="Restore a backup written by `safeplan backup`. SQLite: "
                       "replaces the database (--replace if it holds cases; a copy is kept). "
                       "PostgreSQL: into a new, empty database.")
    p.add_argument("backup", metavar="IN")
    p.add_argument("--replace", action="store_true",
                   help="replace a SQLite database that holds cases")
    p.set_defaults(handler=_cmd_restore)


# ---------------------------------------------------------------------------------------------
# users and the audit trail


def _cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from geo import auth
    from geo.store import Store

    cases = [c.strip() for c in (args.cases or "").split(",") if c.strip()]
    with Store.from_settings(settings) as store:
        password = auth.add_user(store, args.name, args.role, actor=_actor(args),
                                 display_name=args.display_name or "", cases=cases,
                                 external=args.external)
    name = auth.check_username(args.name)
    granted = f"; may open {', '.join(cases)}" if cases else ""
    if args.external:
        print(f"added {name} ({args.role}){granted}; signs in through the identity provider")
        return 0
    print(f"added {name} ({args.role}){granted}")
    print(f"one-time password: {password}")
    print("Give it to them in person or by another channel. It is shown only this once and "
          "must be changed at the first sign-in.")
    return 0


def _cmd_users_reset(args: argparse.Namespace, settings: Settings) -> int:
    from geo import auth
    from geo.store import Store

    with Store.from_settings(settings) as store:
        password = auth.reset_password(store, args.name, actor=_actor(args))
    print(f"new one-time password for {auth.check_username(args.name)}: {password}")
    print("It is shown only this once and must be changed at the next sign-in; the account is "
          "unlocked.")
    return 0


def _users_call(verb: str) -> Handler:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        from geo import auth
        from geo.store import Store

        name = auth.check_username(args.name)
        with Store.from_settings(settings) as store:
            if verb == "disable":
                auth.disable_user(store, name, actor=_actor(args))
                done = f"disabled {name}: they cannot sign in, and an open session stops"
            elif verb == "enable":
                auth.enable_user(store, name, actor=_actor(args))
                done = f"enabled {name}"
            elif verb == "grant":
                auth.grant(store, name, args.ref, actor=_actor(args))
                done = f"{name} may open case {args.ref}"
            elif verb == "revoke":
                auth.revoke(store, name, args.ref, actor=_actor(args))
                done = f"{name} may no longer open case {args.ref}"
            else:
                auth.set_role(store, name, args.role, actor=_actor(args))
                done = f"{name} is now {args.role}"
        print(done)
        return 0

    return handler


def _cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    from geo import auth
    from geo.store import Store, uk_time

    with Store.from_settings(settings) as store:
        found = auth.list_users(store)
    _print_csv([(u.username, u.display_name, u.role, u.status, ";".join(u.cases),
                 uk_time(u.last_sign_in_at) if u.last_sign_in_at else "", u.created_by)
                for u in found],
               ["username", "display_name", "role", "status", "cases", "last_sign_in",
                "created_by"])
    return 0


def _cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from geo.audit import verify
    from geo.store import Store

    with Store.from_settings(settings) as store:
        result = verify(store, head=args.head)
    if not result.ok:
        print(f"safeplan audit verify: audit trail NOT intact: {result.reason} (the "
              f"{result.checked} records before it check out)", file=sys.stderr)
        return 2
    print(f"audit trail intact: {result.checked} records")
    print(f"head {result.head}: note it somewhere else; `safeplan audit verify --head "
          f"{result.head}` shows later whether the trail was rewritten or cut short")
    return 0


def _day(text: str | None, option: str):
    import datetime as dt

    from geo.errors import InputError
    from geo.model import parse_date

    if not text:
        return None
    try:
        iso = parse_date(text)
    except ValueError as exc:
        msg = f"{option}: {exc}"
        raise InputError(msg) from None
    return dt.date.fromisoformat(iso) if len(iso) == 10 else dt.datetime.fromisoformat(iso)


def _cmd_audit_list(args: argparse.Namespace, settings: Settings) -> int:
    from geo.audit import canonical_what, search
    from geo.store import Store

    with Store.from_settings(settings) as store:
        found = search(store, user=args.user_name, case_ref=args.case, action=args.action_name,
                       since=_day(args.since, "--since"), until=_day(args.until, "--until"),
                       text=args.text, limit=args.limit)
    _print_csv([(r.seq, r.uk_time, r.username, r.action, r.case_ref or "", r.why,
                 canonical_what(r.what)) for r in found],
               ["seq", "at", "user", "action", "case", "why", "what"])
    return 0


def _add_security_commands(sub: argparse._SubParsersAction) -> None:
    from geo.audit import ACTIONS
    from geo.auth import ROLES

    roles = ", ".join(ROLES)
    p = sub.add_parser("users", help="accounts: add, disable, reset, grant access to cases",
                       description="Accounts for the app. There are none until an "
                       "administrator adds one; each gets a one-time password, shown once. "
                       f"Roles: {roles}. Admins may open every case; others only the cases "
                       "granted to them. Every change is in the audit trail.")
    users = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    users.required = True
    q = users.add_parser("add", help="add an account; print its one-time password",
                         description="Add an account with a role and print a one-time "
                         "password (shown only this once; changed at the first sign-in).")
    q.add_argument("name", metavar="NAME", help="user name (letters, digits, . _ -)")
    q.add_argument("--role", required=True, metavar="ROLE", help=f"one of {roles}")
    q.add_argument("--name", dest="display_name", metavar="DISPLAY",
                   help="the name shown on screens")
    q.add_argument("--cases", metavar="REF,...", help="cases the user may open")
    q.add_argument("--external", action="store_true",
                   help="signs in through the OpenID Connect provider: no local password")
    q.set_defaults(handler=_cmd_users_add)
    for verb, words in (("disable", "stop an account signing in"),
                        ("enable", "let a disabled account sign in again")):
        q = users.add_parser(verb, help=words, description=f"{words[0].upper()}{words[1:]}.")
        q.add_argument("name", metavar="NAME")
        q.set_defaults(handler=_users_call(verb))
    q = users.add_parser("reset", help="a new one-time password (also unlocks)",
                         description="Give an account a new one-time password, printed "
                         "once; the account is unlocked and must change it at sign-in.")
    q.add_argument("name", metavar="NAME")
    q.set_defaults(handler=_cmd_users_reset)
    q = users.add_parser("list", help="list accounts (CSV)",
                         description="Every account: role, status, cases, last sign-in.")
    q.set_defaults(handler=_cmd_users_list)
    for verb, words in (("grant", "let a user open a case"),
                        ("revoke", "take a user's access to a case away")):
        q = users.add_parser(verb, help=words, description=f"{words[0].upper()}{words[1:]}.")
        q.add_argument("name", metavar="NAME")
        q.add_argument("ref", metavar="REF")
        q.set_defaults(handler=_users_call(verb))
    q = users.add_parser("role", help="change an account's role",
                         description=f"Change an account's role ({roles}).")
    q.add_argument("name", metavar="NAME")
    q.add_argument("role", metavar="ROLE")
    q.set_defaults(handler=_users_call("role"))

    p = sub.add_parser("audit", help="the audit trail: verify it, list records",
                       description="Every sign-in, case opened, change, export and print, "
                       "with who, when, what and why, in a hash-chained log.")
    trail = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    trail.required = True
    q = trail.add_parser("verify", help="check that no record was changed or removed",
                         description="Check the hash chain of the whole trail. Exit 0 if "
                         "intact (printing the head to note elsewhere), 2 naming the first "
                         "record that does not check out.")
    q.add_argument("--head", metavar="SEQ:HASH",
                   help="a head noted earlier: also catch a rewritten or shortened trail")
    q.set_defaults(handler=_cmd_audit_verify)
    q = trail.add_parser("list", help="records, newest first (CSV)",
                         description="Audit records matching every filter given, newest "
                         "first, as CSV: seq, at (UK time), user, action, case, why, what.")
    q.add_argument("--user", dest="user_name", metavar="U")
    q.add_argument("--case", metavar="REF")
    q.add_argument("--action", dest="action_name", metavar="A",
                   help=f"one of {', '.join(ACTIONS)}")
    q.add_argument("--since", metavar="DATE", help="from this day (UK time)")
    q.add_argument("--until", metavar="DATE", help="to this day, included")
    q.add_argument("--text", metavar="T", help="found in the user, case, what or why")
    q.add_argument("--limit", type=int, default=1000, metavar="N",
                   help="at most N records (default 1000)")
    q.set_defaults(handler=_cmd_audit_list)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    action = getattr(args, "action", None)
    name = f"{args.command} {action}" if action else args.command
    try:
        settings = Settings.from_env()
        if args.db:
            settings = dataclasses.replace(settings, database_url=args.db.strip())
        return args.handler(args, settings)
    except ValidationError as exc:
        if len(exc.problems) > 1:
            from geo.model import problems_text

            print(problems_text(exc.problems))
        print(f"safeplan {name}: {exc}", file=sys.stderr)
        return 2
    except GeoError as exc:
        print(f"safeplan {name}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"safeplan {name}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"safeplan {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

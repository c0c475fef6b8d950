"""The ``safeplan`` command (DESIGN section 6).

Every subcommand exits 0 on success and 2 on bad input with one line on stderr, never a
traceback. Reports (validation problems, tables) go to stdout; ``--out`` output format follows
the file's extension.
"""

from __future__ import annotations

import argparse
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

    case = read_case(args.case)
    report = validate_case(case)
    if report.problems:
        print(problems_text(report.problems))
    name = Path(args.case).name
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
    from geo.io import import_file, read_case, write_case
    from geo.model import validate_case

    case = validate_case(read_case(args.case)).case
    merged, summary = import_file(
        case, args.layer, args.file, settings=settings, skip_unlocated=args.skip_unlocated
    )
    for warning in summary.warnings:
        print(warning)
    write_case(merged, args.case)
    print(f"{Path(args.file).name}: {summary}")
    return 0


def _open_case(arg: str, settings: Settings):
    """A case from a GeoPackage path, validated; fatal problems refuse it."""
    from geo.io import open_case

    return open_case(arg)


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

    case = _open_case(args.case, settings)
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

    case = _open_case(args.case, settings)
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

    return router_from_file(args.graph, policy=policy, settings=settings)


def _cmd_rank(args: argparse.Namespace, settings: Settings) -> int:
    from geo.rank import RANK_COLUMNS, rank_case

    case = _open_case(args.case, settings)
    policy = _policy(case, args)
    candidates = _read_candidates(args.candidates, settings) if args.candidates else None
    people = _people(args)
    travel = _travel(args, policy, settings)
    ranked = rank_case(case, policy, person_ids=people, candidates=candidates,
                       as_of=_as_of(args.as_of), travel=travel)
    n_ok = int(ranked["eligible"].sum())
    print(f"ranked {len(ranked)} candidates: {n_ok} eligible, {len(ranked) - n_ok} not")
    for row in ranked.head(args.show).itertuples():
        print(f"{row.rank:>4}  {row.candidate_id}  {row.postcode or '':<9} score {row.score:5.1f}"
              f"  {'eligible' if row.eligible else 'NOT eligible'}")
    out = ranked if not args.out.lower().endswith(".csv") else ranked[RANK_COLUMNS]
    _write(out[[*RANK_COLUMNS, "geometry"]] if "geometry" in out.columns else out, args.out,
           "ranked candidates")
    return 0


def _cmd_areas(args: argparse.Namespace, settings: Settings) -> int:
    from geo.areas import areas_from_surface, grid_surface

    case = _open_case(args.case, settings)
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
    case = _open_case(args.case, settings)
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
    p.add_argument("case", metavar="CASE.gpkg")
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
    p.add_argument("case", metavar="CASE.gpkg")
    p.add_argument("layer", metavar="LAYER")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--skip-unlocated", action="store_true",
                   help="leave out rows with no location (police.uk withholds some) "
                   "instead of refusing the file")
    p.set_defaults(handler=_cmd_import)

    def engine_options(p: argparse.ArgumentParser,
                       out_help: str = "output file: .csv, .geojson, .gpkg or .kml") -> None:
        p.add_argument("case", metavar="CASE.gpkg")
        p.add_argument("--out", metavar="F", required=True, help=out_help)
        p.add_argument("--policy", metavar="TOML",
                       help="risk-policy overrides, on top of the defaults and the case's own")
        p.add_argument("--as-of", metavar="DATE",
                       help="judge incident ages as of this date (default: now)")

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

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.handler(args, settings)
    except ValidationError as exc:
        if len(exc.problems) > 1:
            from geo.model import problems_text

            print(problems_text(exc.problems))
        print(f"safeplan {args.command}: {exc}", file=sys.stderr)
        return 2
    except GeoError as exc:
        print(f"safeplan {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"safeplan {args.command}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"safeplan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

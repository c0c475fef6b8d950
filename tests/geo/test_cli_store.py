"""The ``safeplan`` command with stored cases, on SQLite and on PostgreSQL + PostGIS:
``db upgrade``, ``cases ...``, ``case:REF`` in place of a file, ``backup`` and ``restore``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from geo.cli import build_parser, main
from geo.io import read_case
from geo.model import validate_case
from geo.store import Store
from tests.geo.test_cli import one_line, run
from tests.geo.test_io import assert_same_case

REF = "DEMO-2026-0147"
HEADER = "ref,title,classification,version,status,updated_at,updated_by"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out)]) == 0
    return out


def cli(capsys, db: str, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "--db", db, "--user", "alice", *argv)


def test_a_case_through_the_command(store_url, demo, tmp_path, capsys):
    code, out, err = cli(capsys, store_url, "cases", "add", str(demo / "demo_case.gpkg"))
    assert (code, out, err) == (0, f"{REF}\n", "")

    code, out, _ = cli(capsys, store_url, "cases", "list")
    header, row = out.splitlines()
    assert header == HEADER
    assert row.startswith(f"{REF},Operation Larkspur (fictional demo case),OFFICIAL-SENSITIVE,"
                          "1,open,")
    assert row.endswith(",alice")

    code, out, err = cli(capsys, store_url, "import", f"case:{REF}", "candidates",
                         str(demo / "demo_vacancies.csv"))
    assert code == 0, err
    assert out == f"demo_vacancies.csv: added 40 rows to candidates (case {REF}, version 2)\n"
    code, out, _ = cli(capsys, store_url, "validate", f"case:{REF}")
    assert code == 0
    assert out.startswith(f"case:{REF}: valid (0 warnings).")
    assert "candidates 360" in out

    exported = tmp_path / "out.gpkg"
    code, out, _ = cli(capsys, store_url, "cases", "export", REF, "--out", str(exported),
                       "--purpose", "court bundle")
    assert out == f"wrote {exported} (case {REF}, version 2)\n"
    with Store(store_url) as store:
        assert_same_case(store.load_case(REF).case, validate_case(read_case(exported)).case)

    code, out, _ = cli(capsys, store_url, "cases", "history", REF)
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[1].endswith("candidates: 40 rows added (import demo_vacancies.csv)")
    assert lines[1].startswith("version 2 by alice at ")

    code, out, _ = cli(capsys, store_url, "cases", "undo", REF, "2")
    assert out == f"undid version 2 of case {REF} (now version 3)\n"
    code, out, _ = cli(capsys, store_url, "validate", f"case:{REF}")
    assert "candidates 320" in out


def test_archive_and_restore_through_the_command(store_url, demo, capsys):
    cli(capsys, store_url, "cases", "add", str(demo / "demo_case.gpkg"))
    code, out, _ = cli(capsys, store_url, "cases", "archive", REF, "--reason", "rehoused")
    assert out.startswith(f"archived case {REF} (version 2); bring it back with")
    assert cli(capsys, store_url, "cases", "list")[1] == HEADER + "\n"
    code, out, _ = cli(capsys, store_url, "cases", "list", "--all")
    assert ",2,archived," in out.splitlines()[1]
    code, _, err = cli(capsys, store_url, "import", f"case:{REF}", "candidates",
                       str(demo / "demo_vacancies.csv"))
    assert code == 2
    assert one_line(err) == (f"safeplan import: case {REF} is archived; restore it first "
                             f"(`safeplan cases restore {REF}`)")
    code, out, _ = cli(capsys, store_url, "cases", "restore", REF)
    assert out == f"restored case {REF} (version 3)\n"
    assert ",3,open," in cli(capsys, store_url, "cases", "list")[1]


def test_a_bad_import_into_a_stored_case_changes_nothing(store_url, demo, tmp_path, capsys):
    cli(capsys, store_url, "cases", "add", str(demo / "demo_case.gpkg"))
    bad = tmp_path / "bad.csv"
    bad.write_text("candidate_id,label,postcode\nN1,Fine,M1 1AD\nN2,Broken,QQ1\n")
    code, out, err = cli(capsys, store_url, "import", f"case:{REF}", "candidates", str(bad))
    assert (code, out) == (2, "")
    assert one_line(err) == ("safeplan import: bad.csv: error: candidates row 3 (N2) "
                             "[postcode]: 'QQ1' is not a valid UK postcode")
    with Store(store_url) as store:
        assert store.case_info(REF).version == 1
        assert len(store.load_case(REF).case["candidates"]) == 320


def test_a_new_empty_case(store_url, capsys):
    code, out, _ = cli(capsys, store_url, "cases", "new", "OP-9", "--title", "Referral")
    assert (code, out) == (0, "OP-9\n")
    code, out, _ = cli(capsys, store_url, "validate", "case:OP-9")
    assert out.startswith("case:OP-9: valid (0 warnings). Layers: case 1")


def test_db_upgrade_says_what_it_did(empty_url, capsys):
    code, out, _ = cli(capsys, empty_url, "db", "upgrade")
    assert code == 0
    assert out.endswith(": upgraded from an empty database to revision 0002\n")
    code, out, _ = cli(capsys, empty_url, "db", "upgrade")
    assert out.endswith(": already at schema revision 0002\n")


def test_backup_and_restore_through_the_command(store_url, second_url, demo, tmp_path,
                                                capsys):
    cli(capsys, store_url, "cases", "add", str(demo / "demo_case.gpkg"))
    backup = tmp_path / "nightly.bak"
    code, out, err = cli(capsys, store_url, "backup", str(backup))
    assert code == 0, err
    assert out.startswith(f"wrote {backup}: a backup of ")
    code, out, err = cli(capsys, second_url, "restore", str(backup))
    assert code == 0, err
    assert out.startswith("restored nightly.bak into ")
    with Store(store_url) as before, Store(second_url) as after:
        assert_same_case(before.load_case(REF).case, after.load_case(REF).case)
        assert after.list_cases() == before.list_cases()


def test_the_database_comes_from_the_environment(demo, tmp_path, isolated_settings,
                                                 monkeypatch, capsys):
    code, out, _ = run(capsys, "cases", "add", str(demo / "demo_case.gpkg"))
    assert (code, out) == (0, f"{REF}\n")
    assert (isolated_settings / "safeplan.db").is_file()  # the default: the data folder
    elsewhere = tmp_path / "shared.db"
    monkeypatch.setenv("SAFEPLAN_DATABASE_URL", f"sqlite:///{elsewhere}")
    assert run(capsys, "cases", "list")[1] == HEADER + "\n"
    assert elsewhere.is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cases", "export", "NOPE", "--out", "x.gpkg", "--purpose", "check"],
         "safeplan cases export: no case 'NOPE' in the database (see `safeplan cases list`)"),
        (["import", "case:", "candidates", "f.csv"],
         "safeplan import: 'case:': give a case reference after case: (see `safeplan cases "
         "list`)"),
        (["cases", "add", "/no/such.gpkg"], "safeplan cases add: /no/such.gpkg: no such file"),
        (["restore", "/no/such.db"], "safeplan restore: /no/such.db: no such file"),
        (["cases", "undo", "NOPE", "2"], "safeplan cases undo: no case 'NOPE' in the database"),
        (["--db", "mysql://u@db/x", "cases", "list"],
         "safeplan cases list: database mysql://u@db/x: only SQLite (sqlite:///PATH) and "
         "PostgreSQL with PostGIS (postgresql+psycopg://...) are supported"),
        (["--db", "postgresql://u:pw@127.0.0.1:1/x", "rank"], None),
    ],
    ids=["unknown-ref", "empty-ref", "missing-file", "missing-backup", "undo-unknown",
         "unsupported-db", "usage"],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    if message is None:
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        return
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert one_line(err).startswith(message)


def test_an_unreachable_database_is_one_line_without_the_password(capsys):
    code, _, err = run(capsys, "--db", "postgresql://u:hunter2@127.0.0.1:1/x", "cases", "list")
    assert code == 2
    line = one_line(err)
    assert line.startswith("safeplan cases list: cannot reach the database postgresql")
    assert "u:***@127.0.0.1:1/x" in line
    assert "hunter2" not in err


def test_every_store_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"db", "cases", "backup", "restore"} <= set(sub.choices)
    nested = {}
    for name in ("db", "cases"):
        actions = next(a for a in sub.choices[name]._actions if a.dest == "action")
        nested.update({f"{name} {k}": p for k, p in actions.choices.items()})
    assert set(nested) == {"db upgrade", "cases add", "cases new", "cases list",
                           "cases export", "cases archive", "cases restore", "cases history",
                           "cases undo"}
    for name, p in [*nested.items(), ("backup", sub.choices["backup"]),
                    ("restore", sub.choices["restore"])]:
        text = p.format_help()
        assert name.split()[-1] in text
        assert "usage:" in text
    assert "--db URL" in parser.format_help()


def test_a_stored_case_survives_restarts(store_url, engine_name, demo, tmp_path, request):
    """Add with one process; restart the database server (PostgreSQL); export with another."""
    command = [sys.executable, "-m", "geo.cli", "--db", store_url]
    added = subprocess.run([*command, "cases", "add", str(demo / "demo_case.gpkg")],
                           capture_output=True, text=True, check=False)
    assert (added.returncode, added.stdout) == (0, f"{REF}\n"), added.stderr
    if engine_name == "postgis":
        cluster = request.getfixturevalue("postgres_server").cluster
        if cluster is not None:  # a server given by URL is not ours to restart
            cluster.restart()
    out = tmp_path / "after.gpkg"
    exported = subprocess.run([*command, "cases", "export", REF, "--out", str(out),
                               "--purpose", "check"],
                              capture_output=True, text=True, check=False)
    assert exported.returncode == 0, exported.stderr
    original = validate_case(read_case(demo / "demo_case.gpkg")).case
    assert_same_case(original, validate_case(read_case(out)).case)

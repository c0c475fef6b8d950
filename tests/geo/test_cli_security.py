"""``safeplan users``, ``safeplan audit``, and the audit records and purposes of every command
that touches a stored case. On SQLite and on PostgreSQL + PostGIS."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from geo import audit, auth
from geo.cli import build_parser, main
from geo.store import Store
from tests.geo.test_cli import one_line, run
from tests.geo.test_cli_store import REF, cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out)]) == 0
    return out


def records(db: str, **filters) -> list[audit.AuditRecord]:
    with Store(db) as store:
        return list(reversed(audit.search(store, **filters)))


@pytest.fixture
def stored(store_url, demo, capsys) -> str:
    code, _, err = cli(capsys, store_url, "cases", "add", str(demo / "demo_case.gpkg"))
    assert code == 0, err
    return store_url


# ---------------------------------------------------------------------------------------------
# users


def test_users_add_prints_a_one_time_password_once(stored, capsys):
    code, out, err = cli(capsys, stored, "users", "add", "Bob", "--role", "housing",
                         "--name", "Bob Housing", "--cases", REF)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"added bob (housing); may open {REF}"
    otp = re.fullmatch(r"one-time password: (\S+)", lines[1]).group(1)
    assert lines[2].startswith("Give it to them in person")
    with Store(stored) as store:
        user = auth.authenticate(store, "bob", otp)
    assert (user.role, user.must_change_password) == ("housing", True)
    code, out, _ = cli(capsys, stored, "users", "list")
    header, row = out.splitlines()
    assert header == "username,display_name,role,status,cases,last_sign_in,created_by"
    assert re.fullmatch(rf"bob,Bob Housing,housing,must change password,{REF},"
                        r"\d{4}-\d\d-\d\d \d\d:\d\d,alice", row)
    assert otp not in out
    added = records(stored, action="user_added")[0]
    assert (added.username, added.what["user"]) == ("alice", "bob")


def test_users_are_disabled_reset_granted_revoked_and_given_roles(stored, capsys):
    cli(capsys, stored, "users", "add", "bob", "--role", "analyst")
    assert cli(capsys, stored, "users", "disable", "bob")[1] == (
        "disabled bob: they cannot sign in, and an open session stops\n")
    assert cli(capsys, stored, "users", "enable", "bob")[1] == "enabled bob\n"
    _code, out, _ = cli(capsys, stored, "users", "reset", "bob")
    otp = re.match(r"new one-time password for bob: (\S+)", out).group(1)
    assert cli(capsys, stored, "users", "grant", "bob", REF)[1] == f"bob may open case {REF}\n"
    assert cli(capsys, stored, "users", "role", "bob", "viewer")[1] == "bob is now viewer\n"
    with Store(stored) as store:
        assert auth.authenticate(store, "bob", otp).role == "viewer"
    assert cli(capsys, stored, "users", "revoke", "bob", REF)[1] == (
        f"bob may no longer open case {REF}\n")
    actions = [r.action for r in records(stored)][1:]
    assert actions == ["user_added", "user_disabled", "user_enabled", "password_reset",
                       "access_granted", "role_changed", "sign_in", "access_revoked"]


@pytest.mark.parametrize(("argv", "message"), [
    (["users", "add", "bob", "--role", "boss"],
     "safeplan users add: unknown role 'boss'; expected one of admin, analyst, housing, "
     "social_worker, viewer"),
    (["users", "add", "bad name", "--role", "viewer"],
     "safeplan users add: 'bad name' is not a usable user name"),
    (["users", "disable", "nobody"], "safeplan users disable: no user 'nobody'"),
    (["users", "grant", "nobody", REF], "safeplan users grant: no user 'nobody'"),
    (["users", "add", "carol", "--role", "viewer", "--cases", "NOPE"],
     "safeplan users add: no case 'NOPE' in the database"),
    (["audit", "list", "--action", "peek"],
     "safeplan audit list: unknown audit action 'peek'"),
    (["audit", "list", "--since", "yesterday"],
     "safeplan audit list: --since: 'yesterday' is not a date"),
    (["audit", "verify", "--head", "nonsense"],
     "safeplan audit verify: 'nonsense' is not a noted head"),
])
def test_user_and_audit_mistakes_are_one_line_and_exit_2(stored, capsys, argv, message):
    code, out, err = cli(capsys, stored, *argv)
    assert code == 2
    assert one_line(err).startswith(message)
    assert "one-time password" not in out


def test_no_account_exists_until_an_administrator_adds_one(store_url, capsys):
    code, out, _ = cli(capsys, store_url, "users", "list")
    assert (code, out) == (0, "username,display_name,role,status,cases,last_sign_in,"
                              "created_by\n")


# ---------------------------------------------------------------------------------------------
# the audit trail


def tamper(db: str, statement: str) -> None:
    with Store(db) as store, store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        conn.execute(text(statement))


def test_audit_verify_passes_then_names_an_edited_record(stored, capsys):
    for name in ("bob", "carol", "dave"):
        cli(capsys, stored, "users", "add", name, "--role", "viewer")
    code, out, err = cli(capsys, stored, "audit", "verify")
    assert (code, err) == (0, "")
    first, second = out.splitlines()
    assert first == "audit trail intact: 4 records"
    head = re.match(r"head (\d+:[0-9a-f]{64}): note it", second).group(1)
    tamper(stored, "UPDATE audit_log SET why = 'nothing to see' WHERE seq = 2")
    code, out, err = cli(capsys, stored, "audit", "verify")
    assert (code, out) == (2, "")
    assert one_line(err) == ("safeplan audit verify: audit trail NOT intact: record 2 was "
                             "changed after it was written (its hash does not match) (the 1 "
                             "records before it check out)")
    assert head.startswith("4:")


def test_audit_verify_with_a_noted_head_catches_records_cut_from_the_end(stored, capsys):
    cli(capsys, stored, "users", "add", "bob", "--role", "viewer")
    cli(capsys, stored, "users", "add", "carol", "--role", "viewer")
    out = cli(capsys, stored, "audit", "verify")[1]
    noted = re.search(r"head (\d+:[0-9a-f]{64}):", out).group(1)
    assert noted.startswith("3:")
    tamper(stored, "DELETE FROM audit_log WHERE seq = 3")
    assert cli(capsys, stored, "audit", "verify")[0] == 0  # the chain alone cannot tell
    code, _, err = cli(capsys, stored, "audit", "verify", "--head", noted)
    assert code == 2
    assert one_line(err) == ("safeplan audit verify: audit trail NOT intact: the trail ends at "
                             "record 2, but record 3 was noted: records were removed from its "
                             "end (the 2 records before it check out)")


def test_audit_list_filters_and_neutralises_formulas(stored, tmp_path, capsys):
    cli(capsys, stored, "users", "add", "bob", "--role", "viewer")
    code, _, err = cli(capsys, stored, "cases", "export", REF, "--out",
                       str(tmp_path / "c.gpkg"), "--purpose", "=HYPERLINK(\"http://x\")")
    assert code == 0, err
    code, out, _ = cli(capsys, stored, "audit", "list", "--case", REF, "--action", "change")
    lines = out.splitlines()
    assert lines[0] == "seq,at,user,action,case,why,what"
    assert len(lines) == 2
    assert ",alice,change,DEMO-2026-0147,," in lines[1]
    code, out, _ = cli(capsys, stored, "audit", "list", "--action", "export")
    assert ',"\'=HYPERLINK(""http://x"")",' in out  # a spreadsheet shows it as text
    code, out, _ = cli(capsys, stored, "audit", "list", "--user", "nobody")
    assert out == "seq,at,user,action,case,why,what\n"


# ---------------------------------------------------------------------------------------------
# stored-case commands record what they do, and exports need a purpose


def test_stored_case_commands_leave_audit_records(stored, demo, tmp_path, capsys):
    cli(capsys, stored, "validate", f"case:{REF}")
    cli(capsys, stored, "import", f"case:{REF}", "candidates", str(demo / "demo_vacancies.csv"))
    cli(capsys, stored, "cases", "history", REF)
    code, _, err = cli(capsys, stored, "zones", f"case:{REF}", "--out",
                       str(tmp_path / "z.geojson"), "--purpose", "strategy meeting")
    assert code == 0, err
    code, _, err = cli(capsys, stored, "agreement", f"case:{REF}", "--person", "P02", "--out",
                       str(tmp_path / "a.pdf"), "--purpose", "signing with P02")
    assert code == 0, err
    cli(capsys, stored, "cases", "archive", REF, "--reason", "closed")
    got = [(r.username, r.action, r.case_ref, r.why, r.what.get("via"))
           for r in records(stored)]
    assert got == [
        ("alice", "change", REF, "", "safeplan cases add"),
        ("alice", "case_open", REF, "", "safeplan validate"),
        ("alice", "change", REF, "import demo_vacancies.csv", "safeplan import"),
        ("alice", "case_open", REF, "", "safeplan cases history"),
        ("alice", "export", REF, "strategy meeting", "safeplan zones"),
        ("alice", "print", REF, "signing with P02", "safeplan agreement"),
        ("alice", "change", REF, "closed", "safeplan cases archive"),
    ]
    assert records(stored)[4].what["file"] == "z.geojson"
    assert all(r.what["os_user"] for r in records(stored))
    with Store(stored) as store:
        assert audit.verify(store).ok


@pytest.mark.parametrize("argv", [
    ["cases", "export", REF, "--out", "{out}/case.gpkg"],
    ["rank", f"case:{REF}", "--out", "{out}/ranked.csv"],
    ["areas", f"case:{REF}", "--out", "{out}/areas.geojson"],
    ["hotspots", f"case:{REF}", "--out", "{out}/hot.geojson"],
    ["agreement", f"case:{REF}", "--person", "P02", "--out", "{out}/annex.pdf"],
    ["cases", "export", REF, "--out", "{out}/case.gpkg", "--purpose", " "],
])
def test_a_stored_case_never_leaves_without_a_purpose(stored, tmp_path, capsys, argv):
    folder = tmp_path / "out"
    folder.mkdir()
    argv = [a.replace("{out}", str(folder)) for a in argv]
    code, _out, err = cli(capsys, stored, *argv)
    assert code == 2
    assert "say why before you" in one_line(err)
    assert "(--purpose TEXT)" in err
    assert list(folder.iterdir()) == []
    assert [r.action for r in records(stored)] == ["change"]  # only the add


def test_case_files_need_no_purpose(demo, tmp_path, capsys):
    code, _, err = run(capsys, "zones", str(demo / "demo_case.gpkg"), "--out",
                       str(tmp_path / "z.geojson"))
    assert code == 0, err


def test_backup_and_restore_are_recorded(stored, second_url, tmp_path, capsys):
    backup = tmp_path / "nightly.bak"
    code, _, err = cli(capsys, stored, "backup", str(backup), "--purpose", "nightly")
    assert code == 0, err
    code, _out, err = cli(capsys, second_url, "restore", str(backup))
    assert code == 0, err
    [made] = records(stored, action="backup")
    assert (made.why, made.what["file"]) == ("nightly", "nightly.bak")
    # the restored database holds the trail up to the backup, then the restore itself
    restored = records(second_url)
    assert [r.action for r in restored] == ["change", "backup", "restore"]
    with Store(second_url) as store:
        assert audit.verify(store).ok


def test_refused_exports_and_backups_are_not_recorded_as_done(stored, tmp_path, capsys):
    backup = tmp_path / "taken.bak"
    backup.write_text("somebody else's file")
    code, _, err = cli(capsys, stored, "backup", str(backup), "--purpose", "nightly")
    assert (code, one_line(err)) == (
        2, f"safeplan backup: {backup}: already exists; a backup never overwrites a file")
    code, _, err = cli(capsys, stored, "cases", "export", REF, "--out",
                       str(tmp_path / "case.csv"), "--purpose", "court bundle")
    assert (code, one_line(err)) == (
        2, "safeplan cases export: case.csv: a case file must end in .gpkg")
    assert cli(capsys, stored, "cases", "archive", REF)[0] == 0
    code, _, err = cli(capsys, stored, "cases", "export", REF, "--out",
                       str(tmp_path / "case.gpkg"), "--purpose", "court bundle")
    assert code == 2
    assert "archived" in one_line(err)
    assert records(stored, action="backup") == []
    assert records(stored, action="export") == []
    assert not (tmp_path / "case.gpkg").exists()


def test_db_upgrade_is_recorded(empty_url, capsys):
    cli(capsys, empty_url, "db", "upgrade")
    [upgraded] = records(empty_url)
    assert (upgraded.action, upgraded.what["from"], upgraded.what["to"]) == (
        "db_upgrade", None, "0002")


def test_every_security_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, expected in (("users", {"add", "disable", "enable", "reset", "list", "grant",
                                      "revoke", "role"}),
                           ("audit", {"verify", "list"})):
        actions = next(a for a in sub.choices[name]._actions if a.dest == "action")
        assert set(actions.choices) == expected
        for p in actions.choices.values():
            assert "usage:" in p.format_help()


def test_the_command_sends_nothing_off_the_machine(stored, demo, tmp_path, capsys,
                                                   block_network):
    """Every command a user runs, with the network blocked: no attempt at all."""
    for argv in (["geocode", "M1 1AD"], ["validate", str(demo / "demo_case.gpkg")],
                 ["rank", f"case:{REF}", "--out", str(tmp_path / "r.csv"), "--purpose", "x y"],
                 ["areas", str(demo / "demo_case.gpkg"), "--out", str(tmp_path / "a.kml")],
                 ["agreement", str(demo / "demo_case.gpkg"), "--person", "P02",
                  "--out", str(tmp_path / "a.pdf")],
                 ["users", "add", "bob", "--role", "viewer"], ["audit", "verify"],
                 ["audit", "list"]):
        code, _, err = cli(capsys, stored, *argv)
        assert code == 0, (argv, err)
    assert block_network == []

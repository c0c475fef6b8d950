"""The store's database: migrations from empty, schema checks, backups that restore, and
clean messages for bad or unreachable databases. Each runs on SQLite and on PostGIS."""

from __future__ import annotations

import subprocess
import threading

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from geo._backup import pg_tool
from geo._dbschema import include_object_for, metadata
from geo.errors import InputError, StoreError
from geo.model import Case
from geo.store import (
    Changes,
    Store,
    _alembic_config,
    backup_database,
    head_revision,
    restore_database,
    upgrade_database,
)
from tests.geo.test_io import assert_same_case

OURS = {"alembic_version", "cases", "case_layers", "features", "changes", "users",
        "case_access", "audit_log"}


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names()) - {"spatial_ref_sys"}
    finally:
        engine.dispose()


def sql(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------
# migrations


def test_migrations_build_the_whole_schema_from_an_empty_database(empty_url, engine_name):
    assert head_revision() == "0002"
    assert upgrade_database(empty_url) == (None, "0002")
    assert tables(empty_url) == OURS
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object_for(conn.dialect.name)})
        assert compare_metadata(context, metadata) == []  # the code queries what exists
        if engine_name == "postgis":
            index = conn.execute(text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_features_geom'"))
            assert "USING gist (geom)" in index.scalar_one()
            column = conn.execute(text(
                "SELECT type, srid FROM geometry_columns WHERE f_table_name = 'features'"))
            assert tuple(column.one()) == ("GEOMETRY", 27700)
    engine.dispose()
    # again: nothing to do
    assert upgrade_database(empty_url) == ("0002", "0002")


def test_two_upgrades_at_once_create_the_tables_once(empty_url):
    results: list[object] = []

    def upgrade():
        try:
            results.append(upgrade_database(empty_url))
        except StoreError as exc:
            results.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    head = head_revision()
    assert sorted(results, key=str) == [(head, head), (None, head)]
    assert tables(empty_url) == OURS


def test_migrations_go_down_and_up_again(store_url):
    engine = create_engine(store_url)
    with engine.connect() as conn:
        command.downgrade(_alembic_config(conn), "base")
        conn.commit()
    engine.dispose()
    assert tables(store_url) == {"alembic_version"}
    assert upgrade_database(store_url) == (None, "0002")
    with Store(store_url) as store:
        assert store.list_cases() == []


def test_a_database_at_the_revision_before_users_and_audit_must_be_upgraded(empty_url):
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        command.upgrade(_alembic_config(conn), "0001")
        conn.commit()
    engine.dispose()
    with pytest.raises(StoreError, match=r"is at schema revision 0001; this safeplan needs "
                       r"0002: back it up \(`safeplan backup`\), then run `safeplan db upgrade`"):
        Store(empty_url)
    assert upgrade_database(empty_url) == ("0001", "0002")
    assert tables(empty_url) == OURS
    with Store(empty_url) as store:
        assert store.list_cases() == []


def test_sqlite_is_set_up_for_safe_sharing(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'a.db'}") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30_000


def test_a_new_sqlite_database_and_its_backups_are_the_owners_only(tmp_path, rich_case):
    path = tmp_path / "private" / "safeplan.db"
    with Store(f"sqlite:///{path}") as store:
        store.create_case(rich_case, actor="alice")
        wal = path.with_name("safeplan.db-wal")
        assert wal.exists()
        assert {p.name: p.stat().st_mode & 0o777 for p in (path, wal)} == {
            "safeplan.db": 0o600, "safeplan.db-wal": 0o600}
        assert path.parent.stat().st_mode & 0o777 == 0o700
        backup = store.backup(tmp_path / "b.bak")
    assert backup.stat().st_mode & 0o777 == 0o600


def test_a_brand_new_sqlite_file_is_created_at_the_latest_schema(tmp_path):
    path = tmp_path / "folder" / "safeplan.db"
    with Store(f"sqlite:///{path}") as store:
        assert store.list_cases() == []
    assert tables(f"sqlite:///{path}") == OURS


@pytest.mark.postgis
def test_an_empty_postgres_database_must_be_upgraded_first(postgres_url):
    url = postgres_url.render_as_string(hide_password=False)
    with pytest.raises(StoreError, match=r"is empty: run `safeplan db upgrade`"):
        Store(url)
    assert tables(url) == set()


def test_a_database_from_a_newer_safeplan_is_refused(store_url):
    sql(store_url, "UPDATE alembic_version SET version_num = '0999'")
    with pytest.raises(StoreError, match="at schema revision 0999, newer than this safeplan"):
        Store(store_url)
    with pytest.raises(StoreError, match="which this version of safeplan does not know"):
        upgrade_database(store_url)


def test_a_database_of_something_else_is_refused(empty_url):
    sql(empty_url, "CREATE TABLE invoices (id integer)")
    with pytest.raises(StoreError, match="has tables but is not a safeplan database"):
        Store(empty_url)


# ---------------------------------------------------------------------------------------------
# backups


@pytest.fixture
def saved(store, rich_case) -> Case:
    ref = store.create_case(rich_case, actor="alice")
    store.save_changes(ref, Changes().update("candidates", "C2", {"notes": "viewed"}),
                       base_version=1, actor="bob")
    return store.load_case(ref).case


def test_a_backup_restores_the_same_cases_and_history(store, saved, second_url, tmp_path):
    path = store.backup(tmp_path / "backup.bin")
    assert path.stat().st_size > 0
    assert path.stat().st_mode & 0o777 == 0o600  # the owner's only
    with pytest.raises(InputError, match="already exists; a backup never overwrites"):
        store.backup(path)
    assert restore_database(second_url, path) is None
    with Store(second_url) as restored:
        loaded = restored.load_case("T-1")
        assert loaded.version == 2
        assert_same_case(saved, loaded.case)
        assert [str(r) for r in restored.history("T-1")] == [str(r) for r in
                                                              store.history("T-1")]


def test_restoring_over_a_sqlite_database_keeps_a_copy_of_it(tmp_path, rich_case):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    with Store(url) as store:
        store.create_case(rich_case, actor="alice")
        backup = backup_database(url, tmp_path / "monday.db")
        store.save_changes("T-1", Changes().delete("candidates", "C3"), base_version=1,
                           actor="bob")
    with pytest.raises(InputError, match=r"holds 1 case\(s\); .* pass --replace"):
        restore_database(url, backup)
    kept = restore_database(url, backup, replace=True)
    assert kept is not None
    assert kept.name.startswith("live.db.before-restore-")
    with Store(url) as store:
        assert store.load_case("T-1").version == 1
        assert store.load_case("T-1").keys["candidates"] == ["C1", "C2", "C3"]
    with Store(f"sqlite:///{kept}") as before:
        assert before.load_case("T-1").keys["candidates"] == ["C1", "C2"]


@pytest.mark.postgis
@pytest.mark.parametrize("engine_name", ["postgis"])
def test_a_postgres_backup_only_restores_into_an_empty_database(store, saved, store_url,
                                                                tmp_path):
    path = store.backup(tmp_path / "safeplan.dump")
    assert path.read_bytes()[:5] == b"PGDMP"
    with pytest.raises(InputError, match="already has safeplan tables; restore into a new"):
        restore_database(store_url, path)
    with pytest.raises(InputError, match="a PostgreSQL dump; restore it into PostgreSQL"):
        restore_database(f"sqlite:///{tmp_path / 'x.db'}", path)
    sqlite_backup = tmp_path / "sqlite.db"
    with Store(f"sqlite:///{tmp_path / 'other.db'}") as other:
        other.backup(sqlite_backup)
    with pytest.raises(InputError, match="a SQLite backup; restore it into SQLite"):
        restore_database(store_url, sqlite_backup)


@pytest.mark.postgis
@pytest.mark.parametrize("engine_name", ["postgis"])
def test_pg_dump_and_pg_restore_as_the_readme_says(store, saved, store_url, postgres_server,
                                                   tmp_path):
    """README, "Where cases live": pg_dump -Fc, then pg_restore into a new database."""
    dump = tmp_path / "safeplan.dump"
    libpq = store_url.replace("postgresql+psycopg://", "postgresql://")
    subprocess.run([pg_tool("pg_dump"), "-Fc", "-f", str(dump), libpq], check=True)
    fresh = postgres_server.create_database(postgis=False)
    try:
        fresh_libpq = fresh.set(drivername="postgresql").render_as_string(hide_password=False)
        subprocess.run([pg_tool("pg_restore"), "--no-owner", "-d", fresh_libpq, str(dump)],
                       check=True, capture_output=True)
        with Store(fresh.render_as_string(hide_password=False)) as restored:
            assert_same_case(saved, restored.load_case("T-1").case)
    finally:
        postgres_server.drop_database(fresh)


def test_restore_refuses_what_is_not_a_backup(tmp_path, tiny_case):
    from geo.io import write_case

    gpkg = write_case(tiny_case, tmp_path / "case.gpkg")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(InputError, match=r"case\.gpkg: not a safeplan database backup"):
        restore_database(url, gpkg)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    with pytest.raises(InputError, match=r"notes\.txt: not a safeplan backup"):
        restore_database(url, text_file)
    with pytest.raises(InputError, match=r"missing\.db: no such file"):
        restore_database(url, tmp_path / "missing.db")


# ---------------------------------------------------------------------------------------------
# bad and unreachable databases


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("mysql://u@db/x", InputError, "only SQLite .* and PostgreSQL with PostGIS"),
        ("not a url", InputError, "'not a url' is not a database URL; use sqlite:///PATH"),
        ("postgresql://u:hunter2@127.0.0.1:1/x", StoreError,
         r"cannot reach the database postgresql\S*://u:\*\*\*@127.0.0.1:1/x: .*refused"),
    ],
)
def test_bad_databases_get_a_clear_message_without_the_password(url, error, message):
    with pytest.raises(error, match=message) as info:
        Store(url)
    assert "hunter2" not in str(info.value)

"""Databases for tests: SQLite files, and PostgreSQL + PostGIS (given, or started here).

``SAFEPLAN_TEST_POSTGRES_URL`` (a superuser URL, e.g. ``postgresql+psycopg://postgres@
127.0.0.1:55432/postgres``) names a running server. Otherwise, when Debian's PostgreSQL 15 is
installed (``/usr/lib/postgresql/15/bin``), a cluster is created in a temporary folder and
started on a free loopback port for the test session (as the ``postgres`` OS user when
running as root), then stopped and removed. Otherwise PostGIS tests are skipped with the
reason, which CI (``SAFEPLAN_CI=1``) turns into a failure.

Every test gets a database of its own, copied from a template that already has PostGIS.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url

PG_BIN = Path("/usr/lib/postgresql/15/bin")
TEMPLATE = "safeplan_template"
_names = itertools.count(1)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A throwaway PostgreSQL cluster in a temporary folder, on a loopback port."""

    def __init__(self, bin_dir: Path = PG_BIN):
        self.bin_dir = bin_dir
        self.settings: dict[str, str] = {}  # extra server settings (-c NAME=VALUE)
        self.root = Path(tempfile.mkdtemp(prefix="safeplan-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *argv: str) -> None:
        cmd = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            msg = f"{argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}"
            raise RuntimeError(msg)

    def start(self) -> Cluster:
        if self.as_root:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-locale")
        self._pg_ctl("start")
        return self

    def _pg_ctl(self, action: str) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                  "-o", options, action)

    def restart(self, **settings: str) -> None:
        """Stop and start the server, with any new settings (every connection is dropped)."""
        self.settings.update(settings)
        self._pg_ctl("restart")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def url(self) -> URL:
        return make_url(f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres")


class Server:
    """Create and drop databases on a server through its admin URL."""

    def __init__(self, admin_url: URL, cluster: Cluster | None = None):
        self.admin_url = admin_url
        self.cluster = cluster
        self._engine = create_engine(admin_url, isolation_level="AUTOCOMMIT",
                                     pool_pre_ping=True)

    def execute(self, sql: str, database: str | None = None) -> None:
        if database is None:
            with self._engine.connect() as conn:
                conn.exec_driver_sql(sql)
            return
        engine = create_engine(self.url(database), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(sql)
        finally:
            engine.dispose()

    def url(self, database: str) -> URL:
        return self.admin_url.set(database=database)

    def prepare_template(self) -> None:
        """A template database with PostGIS, so each test's database is a quick copy."""
        self.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        self.execute(f'CREATE DATABASE "{TEMPLATE}"')
        self.execute("CREATE EXTENSION IF NOT EXISTS postgis", TEMPLATE)

    def create_database(self, *, postgis: bool = True) -> URL:
        name = f"safeplan_test_{os.getpid()}_{next(_names)}"
        template = f' TEMPLATE "{TEMPLATE}"' if postgis else " TEMPLATE template0"
        self.execute(f'CREATE DATABASE "{name}"{template}')
        return self.url(name)

    def drop_database(self, url: URL) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')

    def close(self) -> None:
        self._engine.dispose()


def start_server() -> tuple[Server | None, str]:
    """A server to test against, or ``None`` and the reason there is none."""
    given = os.environ.get("SAFEPLAN_TEST_POSTGRES_URL", "").strip()
    if given:
        server = Server(make_url(given))
        server.prepare_template()
        return server, ""
    if not (PG_BIN / "initdb").exists():
        return None, (f"PostgreSQL 15 + PostGIS not installed ({PG_BIN} missing) and "
                      "SAFEPLAN_TEST_POSTGRES_URL not set; apt-get install "
                      "postgresql-15-postgis-3")
    cluster = Cluster().start()
    server = Server(cluster.url, cluster)
    try:
        server.prepare_template()
    except Exception:
        server.close()
        cluster.stop()
        raise
    return server, ""


def stop_server(server: Server) -> None:
    server.close()
    if server.cluster is not None:
        server.cluster.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """The session's PostgreSQL server (skips with the reason when there is none)."""
    server, reason = start_server()
    if server is None:
        pytest.skip(reason)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def postgres_url(postgres_server: Server) -> Iterator[URL]:
    """A new database with PostGIS and no tables, dropped after the test."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


ENGINES = ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)]


@pytest.fixture(params=ENGINES)
def engine_name(request) -> str:
    """Each store test runs once on SQLite and once on PostgreSQL + PostGIS."""
    return request.param


@pytest.fixture
def empty_url(engine_name, request, tmp_path) -> str:
    """A database of the test's engine with no tables yet (PostGIS installed on PostgreSQL)."""
    if engine_name == "sqlite":
        return f"sqlite:///{tmp_path / 'safeplan.db'}"
    return request.getfixturevalue("postgres_url").render_as_string(hide_password=False)


@pytest.fixture
def second_url(engine_name, request, tmp_path) -> Iterator[str]:
    """Another empty database of the test's engine, e.g. to restore a backup into."""
    if engine_name == "sqlite":
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        server.drop_database(url)


@pytest.fixture
def store_url(empty_url) -> str:
    """A migrated, empty database of the test's engine (its URL as text)."""
    from geo.store import upgrade_database

    upgrade_database(empty_url)
    return empty_url


@pytest.fixture
def store(store_url):
    """A :class:`geo.store.Store` on a fresh database of the test's engine."""
    from geo.store import Store

    with Store(store_url) as opened:
        yield opened

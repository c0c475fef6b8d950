"""Backups of the whole store: SQLite's online backup API, or pg_dump/pg_restore.

Used by :func:`geo.store.backup_database` and :func:`geo.store.restore_database`, which check
their arguments first. A backup is written under a temporary name and renamed into place, so
a failed backup never leaves a file that looks complete.

PostgreSQL
----------
``pg_dump -Fc`` writes PostgreSQL's custom archive format; ``pg_restore --no-owner
--no-comments --exit-on-error --single-transaction`` loads it into a new, empty database.
The client programs are looked for in ``/usr/lib/postgresql/<newest>/bin`` (Debian), then on
``PATH``; they must be at least the server's version. The password, if the URL has one, is
passed in ``PGPASSWORD``, never on the command line.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from geo.errors import InputError, StoreError

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PGDUMP_MAGIC = b"PGDMP"


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def _owner_only(path: Path) -> None:
    """An empty file only its owner may read, for a backup to be written into."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def sqlite_backup(engine: Engine, path: Path) -> Path:
    """Copy the live SQLite database to ``path`` with SQLite's online backup, then check it."""
    tmp = _temporary(path)
    tmp.unlink(missing_ok=True)
    try:
        _owner_only(tmp)
        with engine.connect() as conn:
            source = conn.connection.dbapi_connection
            target = sqlite3.connect(tmp)
            try:
                source.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                verdict = target.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                target.close()
        if verdict != "ok":
            msg = f"{path.name}: the backup did not check out ({verdict}); not written"
            raise StoreError(msg)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def sqlite_revision(path: Path) -> str | None:
    """The schema revision in a SQLite backup, or ``None`` if it is not a safeplan database.

    Raises
    ------
    InputError
        The file is a PostgreSQL dump, or not a database at all.
    """
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(_PGDUMP_MAGIC):
        msg = (f"{path.name}: a PostgreSQL dump; restore it into PostgreSQL "
               "(--db postgresql+psycopg://...)")
        raise InputError(msg)
    if head != _SQLITE_MAGIC:
        msg = f"{path.name}: not a safeplan backup (not a SQLite database)"
        raise InputError(msg)
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
    return None if row is None else str(row[0])


def sqlite_restore(engine: Engine, path: Path) -> None:
    """Make the live SQLite database a copy of the backup at ``path`` (online, in one step)."""
    source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        with engine.connect() as conn:
            source.backup(conn.connection.dbapi_connection)
    finally:
        source.close()
        engine.dispose()


def pg_tool(name: str) -> str:
    """The newest ``pg_dump``/``pg_restore``: Debian's versioned folders, then ``PATH``."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if versions:
        return str(versions[-1])
    found = shutil.which(name)
    if found:
        return found
    msg = (f"{name} is not installed: install the PostgreSQL client programs "
           "(apt-get install postgresql-client)")
    raise StoreError(msg)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URL without the password, and an environment carrying it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        detail = lines[0] if lines else f"exit code {done.returncode}"
        msg = f"{what} failed: {detail}"
        raise StoreError(msg)


def pg_dump(url: URL, path: Path) -> Path:
    """``pg_dump -Fc`` of the database to ``path``."""
    tmp = _temporary(path)
    target, env = _libpq(url)
    try:
        _owner_only(tmp)
        _run([pg_tool("pg_dump"), "--format=custom", f"--file={tmp}", f"--dbname={target}"],
             env, "pg_dump")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def check_pg_archive(path: Path) -> None:
    """Refuse a file that is not a ``pg_dump -Fc`` archive, saying what it is instead."""
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(_SQLITE_MAGIC):
        msg = f"{path.name}: a SQLite backup; restore it into SQLite (--db sqlite:///PATH)"
        raise InputError(msg)
    if not head.startswith(_PGDUMP_MAGIC):
        msg = f"{path.name}: not a pg_dump -Fc archive"
        raise InputError(msg)


def pg_restore(url: URL, path: Path) -> None:
    """``pg_restore`` a ``pg_dump -Fc`` archive into an empty database, all or nothing."""
    check_pg_archive(path)
    target, env = _libpq(url)
    _run([pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--no-comments",
          "--exit-on-error", "--single-transaction", f"--dbname={target}", str(path)],
         env, "pg_restore")

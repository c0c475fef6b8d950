"""Where cases live: a SQLite file by default, PostgreSQL with PostGIS when shared.

One schema and one code path serve both engines (SQLAlchemy 2, tables in
:mod:`geo._dbschema`, migrations in ``geo/migrations`` run by ``safeplan db upgrade``). A
case is stored as its layers (DESIGN section 4): every row of every layer is a row of the
``features`` table, geometry as PostGIS ``geometry`` in EPSG:27700 (GiST-indexed) or as WKB
in SQLite, so that a case exports to a GeoPackage exactly as it was imported.

No lost updates: every case has a version. A save names the version it was based on
(``base_version``); if someone saved since, it is refused with :class:`ConflictError` saying
who changed what, and nothing is written. The check and the write happen in one transaction
that holds the case's lock (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
SQLite). Every change is recorded, row by row with before and after, and can be undone.
Cases are archived and restored, never deleted.

Notes
-----
*Schema revisions.* The store refuses a database whose schema is not the one this code
expects, and says to run ``safeplan db upgrade``. One exception: a brand-new, empty SQLite
database (the single-user default) is created at the latest revision on first use.

*Time.* Times are stored in UTC and shown in UK local time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    OperationalError,
)
from sqlalchemy.pool import StaticPool

from geo._dbschema import POSTGIS_TABLES, case_layers, cases, changes, features
from geo._rows import (
    ColumnSpec,
    column_spec,
    dumps,
    encode_rows,
    frame_from_rows,
    row_object,
)
from geo.crs import BNG, to_bng
from geo.errors import (
    ConflictError,
    InputError,
    NotFound,
    Problem,
    StoreError,
    ValidationError,
)
from geo.model import (
    LAYER_NAMES,
    LAYERS,
    REFERENCES,
    Case,
    check_layer,
    check_references,
    validate_case,
)
from geo.settings import Settings

UK = ZoneInfo("Europe/London")
CASE_PREFIX = "case:"
BUSY_TIMEOUT_S = 30.0
_CHUNK = 50_000
_ANALYZE_AFTER = 10_000
_UPGRADE_LOCK = 0x5AFE_91A7  # pg_advisory_xact_lock key held while migrating

Op = Literal["create", "add", "update", "delete", "archive", "restore"]


# ---------------------------------------------------------------------------------------------
# URLs and engines


def database_url(raw: str) -> URL:
    """Parse a database URL; ``postgresql://`` and ``postgres://`` mean psycopg 3.

    Raises
    ------
    InputError
        Not a URL, or an engine other than SQLite or PostgreSQL.
    """
    try:
        url = make_url(raw.strip())
    except (ArgumentError, ValueError):
        msg = (
            f"{_redact(raw)!r} is not a database URL; use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST:PORT/DATABASE"
        )
        raise InputError(msg) from None
    backend = url.get_backend_name()
    if backend == "postgres":
        url = url.set(drivername="postgresql+psycopg")
        backend = "postgresql"
    if backend == "postgresql" and url.get_driver_name() in ("psycopg2", "postgresql", ""):
        url = url.set(drivername="postgresql+psycopg")
    if backend not in ("sqlite", "postgresql"):
        msg = (
            f"database {display_url(url)}: only SQLite (sqlite:///PATH) and PostgreSQL with "
            "PostGIS (postgresql+psycopg://...) are supported"
        )
        raise InputError(msg)
    return url


def _redact(raw: str) -> str:
    """A URL-ish string with anything between ``:`` and ``@`` after the scheme hidden."""
    head, sep, rest = raw.partition("://")
    if sep and "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{head}://{user}:***@{host}" if ":" in creds else raw
    return raw


def display_url(url: URL | str) -> str:
    """The URL with its password hidden, safe to show and log."""
    url = make_url(url) if isinstance(url, str) else url
    return url.render_as_string(hide_password=True)


def _sqlite_path(url: URL) -> Path | None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def private_file(path: Path) -> Path:
    """Create ``path`` (empty) readable and writable by its owner only, if it does not exist;
    a new folder for it is the owner's only too. SQLite gives a database's WAL and journal
    files the database file's permissions."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return path
    os.close(handle)
    return path


def create_store_engine(url: URL | str, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    """An engine set up for the store.

    SQLite: WAL journal, foreign keys on, a busy timeout, and writes that take the database's
    write lock when they begin (``BEGIN IMMEDIATE``), so that two writers queue instead of
    failing half-way. PostgreSQL: connections checked before use.
    """
    url = database_url(url) if isinstance(url, str) else url
    if url.get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        if path is not None:
            private_file(path)
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False,
                                                   "timeout": busy_timeout_s}}
        if path is None:
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)
        _sqlite_events(engine, wal=path is not None, busy_timeout_s=busy_timeout_s)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})


def _sqlite_events(engine: Engine, *, wal: bool, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        # let SQLAlchemy's "begin" below start transactions, not the sqlite3 module
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        mode = "IMMEDIATE" if connection.get_execution_options().get("safeplan_write") else ""
        connection.exec_driver_sql(f"BEGIN {mode}".strip())


def _db_failure(exc: DBAPIError, url: URL) -> StoreError:
    """A driver error as a one-line message that names the database but no password."""
    first = str(getattr(exc, "orig", exc)).strip().splitlines()
    detail = first[0] if first else type(exc).__name__
    if "database is locked" in detail:
        return StoreError(
            f"the database {display_url(url)} is busy with another save; try again"
        )
    postgres = url.get_backend_name() == "postgresql"
    if isinstance(exc, OperationalError) and postgres and "connect" in detail.lower():
        return StoreError(f"cannot reach the database {display_url(url)}: {detail}")
    return StoreError(f"database {display_url(url)}: {detail}")


# ---------------------------------------------------------------------------------------------
# schema revisions (Alembic)


def _alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "geo:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    """The schema revision this code needs (the newest migration)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "geo/migrations has no revisions"
    return head


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    """The schema revision of a database (``None`` if it was never migrated)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade_database(url: URL | str) -> tuple[str | None, str]:
    """Bring a database's schema to the newest revision; return ``(before, after)``.

    Safe to run again: an up-to-date database is left as it is. On PostgreSQL the PostGIS
    extension is created if missing (that needs the right to create extensions).
    """
    from alembic import command

    url = database_url(url) if isinstance(url, str) else url
    engine = create_store_engine(url)
    try:
        # one transaction that holds the write lock (an advisory lock on PostgreSQL), so two
        # processes opening a new database at once do not both create the tables
        with engine.connect() as conn:
            conn.execution_options(safeplan_write=True)
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                 {"key": _UPGRADE_LOCK})
                before = current_revision(conn)
                if before is not None and before not in _known_revisions():
                    msg = (
                        f"the database {display_url(url)} is at schema revision {before}, "
                        "which this version of safeplan does not know (it was upgraded by a "
                        "newer one)"
                    )
                    raise StoreError(msg)
                if before != head_revision():
                    command.upgrade(_alembic_config(conn), "head")
        return before, head_revision()
    except DBAPIError as exc:
        if "postgis" in str(exc.orig).lower() and "extension" in str(exc.orig).lower():
            msg = (
                f"the database {display_url(url)} has no PostGIS and this role may not add "
                "it: ask an administrator to run CREATE EXTENSION postgis, then try again"
            )
            raise StoreError(msg) from None
        raise _db_failure(exc, url) from None
    finally:
        engine.dispose()


def _check_schema(engine: Engine, url: URL, *, create_if_new: bool) -> None:
    """Refuse a database at the wrong revision; create a brand-new SQLite file's schema."""
    with engine.connect() as conn:
        revision = current_revision(conn)
        tables = set(inspect(conn).get_table_names()) - POSTGIS_TABLES
        conn.commit()
    if revision == head_revision():
        return
    where = display_url(url)
    if revision is None and not tables and create_if_new:
        upgrade_database(url)
        return
    if revision is None and not tables:
        msg = f"the database {where} is empty: run `safeplan db upgrade` to create the tables"
    elif revision is None:
        msg = f"the database {where} has tables but is not a safeplan database"
    elif revision in _known_revisions():
        msg = (
            f"the database {where} is at schema revision {revision}; this safeplan needs "
            f"{head_revision()}: back it up (`safeplan backup`), then run `safeplan db upgrade`"
        )
    else:
        msg = (
            f"the database {where} is at schema revision {revision}, newer than this "
            "safeplan knows: upgrade safeplan"
        )
    raise StoreError(msg)


# ---------------------------------------------------------------------------------------------
# what the store returns


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back: they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def uk_time(value: dt.datetime) -> str:
    """A stored time as UK local time, to the minute."""
    return _utc(value).astimezone(UK).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class CaseInfo:
    """A stored case as listed: reference, title, classification, version and status."""

    ref: str
    title: str
    classification: str
    version: int
    archived: bool
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    updated_by: str

    @classmethod
    def _from_row(cls, row: Any) -> CaseInfo:
        return cls(
            ref=row.ref, title=row.title, classification=row.classification,
            version=row.version, archived=bool(row.archived),
            created_at=_utc(row.created_at), created_by=row.created_by,
            updated_at=_utc(row.updated_at), updated_by=row.updated_by,
        )


@dataclass(frozen=True)
class LoadedCase:
    """A case as loaded: its layers, the version they are, and each row's key.

    ``keys[layer][i]`` is the key of row ``i`` of that layer: the row's id, or ``#<n>`` for
    layers without an id column (links, boundaries, policy). Pass it to :class:`Changes`.
    """

    info: CaseInfo
    case: Case
    keys: dict[str, list[str]]

    @property
    def ref(self) -> str:
        return self.info.ref

    @property
    def version(self) -> int:
        return self.info.version


@dataclass(frozen=True)
class RowChange:
    """One row of one layer changed in a save, with the row before and after."""

    version: int
    layer: str
    key: str
    op: Op
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    position: int | None = None


_OP_WORDS = {"add": "added", "update": "changed", "delete": "removed"}


@dataclass(frozen=True)
class Revision:
    """One save: the version it made, who, when, why, and how many rows of which layers."""

    version: int
    actor: str
    at: dt.datetime
    reason: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """What changed, in words: ``candidates: 2 changed; links: 1 added``."""
        if "" in self.counts:
            op = next(iter(self.counts[""]))
            return {"create": "created the case", "archive": "archived the case",
                    "restore": "restored the case"}.get(op, op)
        parts = []
        for layer, ops in self.counts.items():
            words = ", ".join(
                f"{ops[op]} {'row' if ops[op] == 1 else 'rows'} {word}"
                for op, word in _OP_WORDS.items() if op in ops
            )
            parts.append(f"{layer}: {words}")
        return "; ".join(parts) or "no rows changed"

    def __str__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return (f"version {self.version} by {self.actor} at {uk_time(self.at)}: "
                f"{self.summary}{why}")


@dataclass(frozen=True)
class _Add:
    layer: str
    rows: pd.DataFrame
    positions: tuple[int, ...] | None = None


@dataclass(frozen=True)
class _Update:
    layer: str
    key: str
    values: Mapping[str, Any]
    replace: bool = False


@dataclass(frozen=True)
class _Delete:
    layer: str
    key: str


class Changes:
    """Row edits to save together, all or nothing.

    Examples
    --------
    >>> changes = (Changes()
    ...            .update("candidates", "C1", {"label": "Flat 2", "bedrooms": 3})
    ...            .delete("links", "#4"))
    >>> len(changes)
    2

    Notes
    -----
    Geometry goes in the ``geometry`` value (a shapely geometry in EPSG:27700) or the
    geometry column of the added rows. A row's id cannot be changed (delete and add it), and
    each row may be edited once per save.
    """

    def __init__(self) -> None:
        self._ops: list[_Add | _Update | _Delete] = []

    def add(self, layer: str, rows: pd.DataFrame) -> Changes:
        """Append rows to a layer (a GeoDataFrame for a layer with geometry)."""
        if len(rows):
            self._ops.append(_Add(layer, rows))
        return self

    def update(self, layer: str, key: str, values: Mapping[str, Any]) -> Changes:
        """Set some values of one row; the others stay as they are."""
        self._ops.append(_Update(layer, str(key), dict(values)))
        return self

    def delete(self, layer: str, *keys: str) -> Changes:
        """Remove rows by key (kept in the history, so the removal can be undone)."""
        self._ops.extend(_Delete(layer, str(k)) for k in keys)
        return self

    def __len__(self) -> int:
        return sum(len(op.rows) if isinstance(op, _Add) else 1 for op in self._ops)

    def __iter__(self) -> Iterator[_Add | _Update | _Delete]:
        return iter(self._ops)


@dataclass
class _Stored:
    """A stored row as it is in the database."""

    id: int
    key: str
    position: int
    attrs: str
    wkb: bytes | None


@dataclass
class _LayerMeta:
    columns: ColumnSpec
    has_geometry: bool
    next_position: int


@dataclass
class _Written:
    """A row as it will be written, with what it was (``old``) if it existed."""

    key: str
    position: int
    attrs: str
    wkb: bytes | None
    old: _Stored | None = None


@dataclass
class _LayerPlan:
    """Everything a save does to one layer, worked out before anything is written."""

    meta: _LayerMeta
    deletes: list[_Stored] = field(default_factory=list)
    updates: list[_Written] = field(default_factory=list)
    adds: list[_Written] = field(default_factory=list)
    frames: list[pd.DataFrame] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# the store


class Store:
    """Cases in a database: create, list, load, change (versioned), archive, export.

    Parameters
    ----------
    url
        A SQLAlchemy URL: ``sqlite:///PATH`` or ``postgresql+psycopg://USER@HOST/DB``.
    busy_timeout_s
        SQLite only: how long a save waits for another save to finish.

    Raises
    ------
    InputError
        The URL is not one the store supports.
    StoreError
        The database cannot be reached or its schema is not the one this code needs.
    """

    def __init__(self, url: str | URL, *, busy_timeout_s: float = BUSY_TIMEOUT_S):
        self.url = database_url(url) if isinstance(url, str) else url
        self.engine = create_store_engine(self.url, busy_timeout_s=busy_timeout_s)
        self.dialect = self.engine.dialect.name
        try:
            _check_schema(self.engine, self.url, create_if_new=self.dialect == "sqlite")
        except DBAPIError as exc:
            self.engine.dispose()
            raise _db_failure(exc, self.url) from None
        except Exception:
            self.engine.dispose()
            raise

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """The store the settings name (``SAFEPLAN_DATABASE_URL`` or the default SQLite)."""
        return cls(settings.resolved_database_url)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({display_url(self.url)!r})"

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        """One transaction: a write takes the lock at once on SQLite; a read on PostgreSQL
        sees one snapshot (REPEATABLE READ), so a case's layers and version agree."""
        try:
            with self.engine.connect() as conn:
                if write:
                    conn.execution_options(safeplan_write=True)
                elif self.dialect == "postgresql":
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except IntegrityError as exc:
            detail = str(exc.orig).strip().splitlines()[0]
            msg = (f"nothing was saved: the database refused it ({detail}); someone may have "
                   "saved the same thing at the same moment: reload and try again")
            raise ConflictError(msg) from None
        except DBAPIError as exc:
            raise _db_failure(exc, self.url) from None

    def transaction(self, *, write: bool) -> AbstractContextManager[Connection]:
        """One transaction on the store's database, for the modules that keep users and the
        audit trail beside the cases (:mod:`geo.auth`, :mod:`geo.audit`). A write takes the
        SQLite write lock at once; a driver error becomes a :class:`StoreError`."""
        return self._transaction(write=write)

    def _case_row(self, conn: Connection, ref: str, *, lock: bool = False) -> Any:
        query = select(cases).where(cases.c.ref == ref)
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).one_or_none()
        if row is None:
            msg = f"no case {ref!r} in the database (see `safeplan cases list`)"
            raise NotFound(msg)
        return row

    @staticmethod
    def _refuse_archived(row: Any) -> None:
        if row.archived:
            msg = (f"case {row.ref} is archived; restore it first "
                   f"(`safeplan cases restore {row.ref}`)")
            raise InputError(msg)

    # -- cases --------------------------------------------------------------------------------

    def create_case(self, case: Case, *, actor: str, reason: str = "") -> str:
        """Store a new case (validated first); return its reference.

        Raises
        ------
        ValidationError
            The case has fatal problems; nothing is stored.
        ConflictError
            A case with this reference is already stored (archived ones included).
        """
        cleaned = validate_case(case).raise_if_fatal(source=f"case {case.case_ref}".strip())
        ref = cleaned.case_ref
        now = _now()
        layers = {name: cleaned[name] for name in LAYER_NAMES}
        for name, frame in cleaned.extra_layers.items():
            layers[name] = _extra_layer(frame)
        with self._transaction(write=True) as conn:
            if conn.dialect.name == "postgresql":  # two agencies adding the same case at once
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:ref))"), {"ref": ref})
            existing = conn.execute(select(cases.c.archived).where(cases.c.ref == ref))
            taken = existing.one_or_none()
            if taken is not None:
                state = " (archived)" if taken.archived else ""
                msg = f"a case {ref} is already in the database{state}; nothing was stored"
                raise ConflictError(msg)
            case_id = conn.execute(
                cases.insert().values(
                    ref=ref, title=cleaned.title, classification=cleaned.classification,
                    version=1, archived=False, created_at=now, created_by=actor,
                    updated_at=now, updated_by=actor,
                ).returning(cases.c.id)
            ).scalar_one()
            for name, frame in layers.items():
                self._insert_layer(conn, case_id, name, frame)
            counts = {name: len(frame) for name, frame in layers.items()}
            self._log(conn, case_id, 1, actor, now, reason,
                      [("", "", "create", None, None, {"rows": counts})])
        return ref

    def _insert_layer(
        self, conn: Connection, case_id: int, layer: str, frame: pd.DataFrame
    ) -> None:
        columns = column_spec(frame)
        has_geometry = isinstance(frame, gpd.GeoDataFrame)
        attrs, wkb = encode_rows(frame, layer=layer)
        spec = LAYERS.get(layer)
        if spec is not None and spec.id_column:
            keys = [str(k) for k in frame[spec.id_column]]
        else:
            keys = [f"#{i}" for i in range(len(frame))]
        conn.execute(case_layers.insert().values(
            case_id=case_id, layer=layer, columns=dumps(columns),
            has_geometry=has_geometry, next_position=len(frame),
        ))
        self._insert_rows(conn, case_id, layer,
                          [_Written(k, i, a, w) for i, (k, a, w) in
                           enumerate(zip(keys, attrs, wkb, strict=True))])

    def _insert_rows(
        self, conn: Connection, case_id: int, layer: str, rows: Sequence[_Written]
    ) -> None:
        """Insert rows of one layer: COPY on PostgreSQL (ten times faster for a big layer),
        batched INSERTs on SQLite."""
        if not rows:
            return
        if self.dialect == "postgresql":
            geoms = shapely.from_wkb(np.asarray([r.wkb for r in rows], dtype=object))
            ewkb = shapely.to_wkb(shapely.set_srid(geoms, BNG), hex=True, include_srid=True,
                                  output_dimension=2)
            cursor = conn.connection.dbapi_connection.cursor()
            copy_sql = ("COPY features (case_id, layer, row_key, position, attrs, geom) "
                        "FROM STDIN")
            with cursor, cursor.copy(copy_sql) as copy:
                for r, g in zip(rows, ewkb, strict=True):
                    copy.write_row((case_id, layer, r.key, r.position, r.attrs, g))
            if len(rows) >= _ANALYZE_AFTER:
                # fresh statistics, committed with the rows: without them the planner takes
                # a big new layer for a few rows and the pre-filter skips the GiST index
                conn.exec_driver_sql("ANALYZE features")
            return
        for start in range(0, len(rows), _CHUNK):
            conn.execute(features.insert(), [
                {"case_id": case_id, "layer": layer, "row_key": r.key, "position": r.position,
                 "attrs": r.attrs, "geom": r.wkb}
                for r in rows[start:start + _CHUNK]
            ])

    def list_cases(self, *, include_archived: bool = False) -> list[CaseInfo]:
        """The stored cases by reference; archived ones only when asked for."""
        query = select(cases).order_by(cases.c.ref)
        if not include_archived:
            query = query.where(cases.c.archived.is_(False))
        with self._transaction(write=False) as conn:
            return [CaseInfo._from_row(r) for r in conn.execute(query)]

    def case_info(self, ref: str) -> CaseInfo:
        """One case's reference, title, version and status."""
        with self._transaction(write=False) as conn:
            return CaseInfo._from_row(self._case_row(conn, ref))

    def load_case(self, ref: str, *, include_archived: bool = False) -> LoadedCase:
        """The case's layers as they were saved, with the version they are.

        Raises
        ------
        NotFound
            No such case.
        InputError
            The case is archived (unless ``include_archived``).
        """
        with self._transaction(write=False) as conn:
            row = self._case_row(conn, ref)
            if not include_archived:
                self._refuse_archived(row)
            metas = self._metas(conn, row.id)
            layers: dict[str, pd.DataFrame] = {}
            keys: dict[str, list[str]] = {}
            for name, meta in metas.items():
                layers[name], keys[name] = self._read_layer(conn, row.id, name, meta)
        return LoadedCase(CaseInfo._from_row(row), Case(layers), keys)

    def load_layer(
        self, ref: str, layer: str, *, keys: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """One layer of a case, or only the rows with the given keys (in stored order)."""
        with self._transaction(write=False) as conn:
            row = self._case_row(conn, ref)
            self._refuse_archived(row)
            metas = self._metas(conn, row.id)
            if layer not in metas:
                msg = f"case {ref} has no layer {layer!r}"
                raise NotFound(msg)
            frame, _ = self._read_layer(conn, row.id, layer, metas[layer], only=keys)
            return frame

    def _metas(self, conn: Connection, case_id: int) -> dict[str, _LayerMeta]:
        rows = conn.execute(select(case_layers).where(case_layers.c.case_id == case_id))
        metas = {
            r.layer: _LayerMeta([tuple(c) for c in json.loads(r.columns)],
                                bool(r.has_geometry), int(r.next_position))
            for r in rows
        }
        known = [n for n in LAYER_NAMES if n in metas]
        return {n: metas[n] for n in known + sorted(set(metas) - set(known))}

    def _read_layer(
        self,
        conn: Connection,
        case_id: int,
        layer: str,
        meta: _LayerMeta,
        *,
        only: Sequence[str] | None = None,
    ) -> tuple[pd.DataFrame, list[str]]:
        """A stored layer in row order (or only the rows with the keys ``only``)."""
        columns = [features.c.position, features.c.row_key, features.c.attrs]
        if meta.has_geometry:
            columns.append(features.c.geom)
        query = (select(*columns)
                 .where(features.c.case_id == case_id, features.c.layer == layer)
                 .order_by(features.c.position))
        if only is None:
            rows = conn.execute(query).all()
        else:
            rows = []
            wanted = list(dict.fromkeys(str(k) for k in only))
            for start in range(0, len(wanted), 5_000):
                chunk = wanted[start:start + 5_000]
                rows.extend(conn.execute(query.where(features.c.row_key.in_(chunk))).all())
            rows.sort(key=lambda r: r[0])
        keys = [r[1] for r in rows]
        attrs = [r[2] for r in rows]
        wkb = [r[3] for r in rows] if meta.has_geometry else None
        return frame_from_rows(meta.columns, attrs, wkb), keys

    def export_gpkg(self, ref: str, path: str | os.PathLike) -> Path:
        """Write the case to a GeoPackage, as it was imported plus every saved change."""
        from geo.io import write_case

        return write_case(self.load_case(ref).case, path)

    def archive_case(self, ref: str, *, actor: str, reason: str = "") -> int:
        """Hide a case from lists and refuse changes to it; nothing is deleted."""
        return self._set_archived(ref, True, actor=actor, reason=reason)

    def restore_case(self, ref: str, *, actor: str, reason: str = "") -> int:
        """Bring an archived case back, as it was."""
        return self._set_archived(ref, False, actor=actor, reason=reason)

    def _set_archived(self, ref: str, archived: bool, *, actor: str, reason: str) -> int:
        with self._transaction(write=True) as conn:
            row = self._case_row(conn, ref, lock=True)
            if bool(row.archived) == archived:
                state = "archived" if archived else "not archived"
                msg = f"case {ref} is already {state}"
                raise InputError(msg)
            version = row.version + 1
            now = _now()
            conn.execute(cases.update().where(cases.c.id == row.id).values(
                archived=archived, version=version, updated_at=now, updated_by=actor))
            op = "archive" if archived else "restore"
            self._log(conn, row.id, version, actor, now, reason, [("", "", op, None, None, None)])
        return version

    # -- changes ------------------------------------------------------------------------------

    def save_changes(
        self,
        ref: str,
        changes: Changes,
        *,
        base_version: int,
        actor: str,
        reason: str = "",
    ) -> int:
        """Apply row edits of any layers in one transaction; return the new version.

        Parameters
        ----------
        ref
            The case.
        changes
            The edits (:class:`Changes`).
        base_version
            The version the edits were made on (:attr:`LoadedCase.version`).
        actor, reason
            Who saves, and why (kept in the history).

        Raises
        ------
        ConflictError
            Someone saved the case after ``base_version``; the message says who changed
            what. Nothing is written: reload and make the edit again.
        ValidationError
            An edit breaks the case (a bad value, a duplicate id, a dangling reference);
            nothing is written.
        NotFound
            A row to change or remove is not in the case.
        """
        with self._transaction(write=True) as conn:
            row = self._case_row(conn, ref, lock=True)
            self._refuse_archived(row)
            self._check_version(conn, row, base_version)
            return self._apply(conn, row, list(changes), actor=actor, reason=reason)

    def replace_layer(
        self,
        ref: str,
        layer: str,
        frame: pd.DataFrame,
        *,
        base_version: int,
        actor: str,
        reason: str = "",
    ) -> int:
        """Make a layer hold exactly ``frame``, saved as row edits (kept, changed, removed).

        Rows are matched by id; rows of layers without an id column are all replaced. Kept
        rows keep their place; new rows go at the end.
        """
        spec = _layer_spec(layer)
        with self._transaction(write=True) as conn:
            row = self._case_row(conn, ref, lock=True)
            self._refuse_archived(row)
            self._check_version(conn, row, base_version)
            old_keys = list(self._row_positions(conn, row.id, layer))
            cleaned, problems = check_layer(layer, frame)
            if any(p.severity == "error" for p in problems):
                raise ValidationError(problems, source=f"case {ref}")
            ops: list[_Add | _Update | _Delete] = []
            if spec.id_column is None:
                ops.extend(_Delete(layer, k) for k in old_keys)
                ops.append(_Add(layer, cleaned))
            else:
                new_ids = [str(v) for v in cleaned[spec.id_column]]
                ops.extend(_Delete(layer, k) for k in old_keys if k not in set(new_ids))
                old = set(old_keys)
                # every kept row is rewritten whole; rows that did not change are dropped
                # from the save (and the log) when they are encoded
                ops.extend(_Update(layer, key, _record(cleaned, i), replace=True)
                           for i, key in enumerate(new_ids) if key in old)
                added = [i for i, key in enumerate(new_ids) if key not in old]
                if added:
                    ops.append(_Add(layer, cleaned.iloc[added]))
            return self._apply(conn, row, ops, actor=actor, reason=reason)

    def _check_version(self, conn: Connection, row: Any, base_version: int) -> None:
        if base_version == row.version:
            return
        if base_version > row.version or base_version < 1:
            msg = f"case {row.ref} has no version {base_version} (it is at {row.version})"
            raise InputError(msg)
        since = self._revisions(conn, row.id, after=base_version)
        shown = "; ".join(str(r) for r in since[:5])
        more = f"; and {len(since) - 5} more" if len(since) > 5 else ""
        msg = (
            f"case {row.ref} changed since version {base_version}: {shown}{more}. "
            "Nothing was saved: reload the case and make your edit again"
        )
        raise ConflictError(msg)

    def _apply(
        self,
        conn: Connection,
        row: Any,
        ops: list[_Add | _Update | _Delete],
        *,
        actor: str,
        reason: str,
    ) -> int:
        """Check every edit against the case, then write them and the log; new version."""
        ref = row.ref
        metas = self._metas(conn, row.id)
        touched = list(dict.fromkeys(op.layer for op in ops))
        for layer in touched:
            _layer_spec(layer)
        _refuse_repeats(ops)
        problems: list[Problem] = []
        plans: dict[str, _LayerPlan] = {}
        for layer in touched:
            plans[layer], found = self._plan_layer(
                conn, row.id, layer, metas[layer], [op for op in ops if op.layer == layer]
            )
            problems.extend(found)
        problems.extend(self._check_cross_layer(conn, row.id, metas, plans))
        if any(p.severity == "error" for p in problems):
            raise ValidationError(problems, source=f"case {ref}")
        if not any(p.deletes or p.updates or p.adds for p in plans.values()):
            return row.version

        version = row.version + 1
        now = _now()
        log: list[tuple] = []
        for layer, plan in plans.items():
            self._write_plan(conn, row.id, layer, plan)
            log.extend((layer, s.key, "delete", s.position, row_object(s.attrs, s.wkb), None)
                       for s in plan.deletes)
            log.extend((layer, w.key, "update", w.position,
                        row_object(w.old.attrs, w.old.wkb), row_object(w.attrs, w.wkb))
                       for w in plan.updates if w.old is not None)
            log.extend((layer, w.key, "add", w.position, None, row_object(w.attrs, w.wkb))
                       for w in plan.adds)
        self._log(conn, row.id, version, actor, now, reason, log)
        values: dict[str, Any] = {"version": version, "updated_at": now, "updated_by": actor}
        if "case" in plans and (plans["case"].updates or plans["case"].adds):
            written = (plans["case"].updates or plans["case"].adds)[0]
            attrs = json.loads(written.attrs)
            values["title"] = attrs.get("title") or ""
            values["classification"] = attrs.get("classification") or "OFFICIAL-SENSITIVE"
        done = conn.execute(cases.update()
                            .where(cases.c.id == row.id, cases.c.version == row.version)
                            .values(**values))
        if done.rowcount != 1:  # cannot happen while the lock is held; never overwrite
            msg = f"case {ref} changed while saving; nothing was saved"
            raise ConflictError(msg)
        return version

    def _plan_layer(
        self,
        conn: Connection,
        case_id: int,
        layer: str,
        meta: _LayerMeta,
        ops: list[_Add | _Update | _Delete],
    ) -> tuple[_LayerPlan, list[Problem]]:
        """Clean and check one layer's edits: rows changed, rows added, then the row count;
        if all is well, the rows' stored form."""
        plan = _LayerPlan(_LayerMeta(list(meta.columns), meta.has_geometry, meta.next_position))
        existing = self._row_positions(conn, case_id, layer)
        named = [op.key for op in ops if isinstance(op, _Update | _Delete)]
        missing = [k for k in named if k not in existing]
        if missing:
            shown = ", ".join(repr(k) for k in missing[:5])
            msg = f"{layer}: no row {shown} in the case (it may have been removed)"
            raise NotFound(msg)
        stored = self._stored_rows(conn, case_id, layer, named)
        plan.deletes = [stored[op.key] for op in ops if isinstance(op, _Delete)]
        problems = _plan_updates(layer, plan, [op for op in ops if isinstance(op, _Update)],
                                 stored)
        taken = set(existing) - {s.key for s in plan.deletes}
        problems += _plan_adds(layer, plan, [op for op in ops if isinstance(op, _Add)], taken)
        problems += _check_row_count(layer, len(existing) - len(plan.deletes) + len(plan.adds))
        if not any(p.severity == "error" for p in problems):
            untouched = len(existing) - len(plan.deletes) - len(plan.updates)
            self._encode_plan(layer, plan, has_rows=untouched > 0)
        return plan, problems

    def _encode_plan(self, layer: str, plan: _LayerPlan, *, has_rows: bool) -> None:
        """The rows' stored form, the layer's columns grown by any new extra column; every
        row is decoded back with those columns so that what is saved can always be loaded.

        A column that now has a missing value but whose type cannot hold one (whole numbers,
        true/false in an extra column) becomes the nullable kind (``Int64``, ``boolean``).
        """
        frames = plan.frames
        columns = dict(plan.meta.columns)
        for frame in frames:
            for name, dtype in column_spec(frame):
                if name not in columns:
                    others = has_rows or any(name not in f.columns for f in frames)
                    columns[name] = _nullable(dtype) if others else dtype
        for name, dtype in columns.items():
            if any(name not in f.columns or f[name].isna().any() for f in frames):
                columns[name] = _nullable(dtype)
        plan.meta.columns = list(columns.items())
        written = [*plan.updates, *plan.adds]
        attrs: list[str] = []
        wkb: list[bytes | None] = []
        for frame in frames:
            a, w = encode_rows(frame, layer=layer)
            attrs.extend(a)
            wkb.extend(w)
        try:
            frame_from_rows(plan.meta.columns, attrs, wkb if plan.meta.has_geometry else None)
        except (TypeError, ValueError) as exc:
            msg = f"layer {layer}: a value does not fit its column ({exc})"
            raise InputError(msg) from None
        for target, a, w in zip(written, attrs, wkb, strict=True):
            target.attrs, target.wkb = a, w
        plan.updates = [u for u in plan.updates
                        if u.old is None or json.loads(u.attrs) != json.loads(u.old.attrs)
                        or u.wkb != u.old.wkb]

    def _check_cross_layer(
        self,
        conn: Connection,
        case_id: int,
        metas: dict[str, _LayerMeta],
        plans: dict[str, _LayerPlan],
    ) -> list[Problem]:
        """References between layers (DESIGN section 4), before and after: new breaks only."""
        involved = _reference_closure(set(plans))
        if not involved & set(plans):
            return []
        before: dict[str, pd.DataFrame] = {}
        after: dict[str, pd.DataFrame] = {}
        for layer in involved:
            frame, keys = self._read_layer(conn, case_id, layer, metas[layer])
            before[layer] = frame
            plan = plans.get(layer)
            if plan is None:
                after[layer] = frame
                continue
            gone = {s.key for s in plan.deletes} | {w.key for w in plan.updates}
            keep = frame[[k not in gone for k in keys]]
            parts = [keep, *plan.frames] if len(keep) else list(plan.frames)
            after[layer] = pd.concat(parts, ignore_index=True) if parts else frame
        old = {(p.layer, p.column, p.message) for p in check_references(before)}
        return [p for p in check_references(after)
                if (p.layer, p.column, p.message) not in old]

    def _write_plan(self, conn: Connection, case_id: int, layer: str, plan: _LayerPlan) -> None:
        if plan.deletes:
            ids = [s.id for s in plan.deletes]
            for start in range(0, len(ids), 5_000):
                conn.execute(features.delete().where(features.c.id.in_(ids[start:start + 5_000])))
        if plan.updates:
            conn.execute(
                features.update()
                .where(features.c.id == bindparam("_id"))
                .values(attrs=bindparam("_attrs"), geom=bindparam("_geom")),
                [{"_id": w.old.id, "_attrs": w.attrs, "_geom": w.wkb}
                 for w in plan.updates if w.old is not None],
            )
        self._insert_rows(conn, case_id, layer, plan.adds)
        conn.execute(case_layers.update()
                     .where(case_layers.c.case_id == case_id, case_layers.c.layer == layer)
                     .values(columns=dumps(plan.meta.columns),
                             next_position=plan.meta.next_position))

    def _row_positions(self, conn: Connection, case_id: int, layer: str) -> dict[str, int]:
        rows = conn.execute(select(features.c.row_key, features.c.position)
                            .where(features.c.case_id == case_id, features.c.layer == layer))
        return {r[0]: r[1] for r in rows}

    def _stored_rows(
        self, conn: Connection, case_id: int, layer: str, keys: Sequence[str]
    ) -> dict[str, _Stored]:
        found: dict[str, _Stored] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 5_000):
            rows = conn.execute(
                select(features.c.id, features.c.row_key, features.c.position,
                       features.c.attrs, features.c.geom)
                .where(features.c.case_id == case_id, features.c.layer == layer,
                       features.c.row_key.in_(wanted[start:start + 5_000])))
            for r in rows:
                found[r.row_key] = _Stored(r.id, r.row_key, r.position, r.attrs, r.geom)
        return found

    def _log(
        self,
        conn: Connection,
        case_id: int,
        version: int,
        actor: str,
        at: dt.datetime,
        reason: str,
        entries: Sequence[tuple],
    ) -> None:
        """Append to the change log: ``(layer, key, op, position, before, after)`` each."""
        rows = [
            {"case_id": case_id, "version": version, "actor": actor, "at": at,
             "layer": layer, "row_key": key, "op": op, "position": position,
             "before": None if before is None else dumps(before),
             "after": None if after is None else dumps(after), "reason": reason}
            for layer, key, op, position, before, after in entries
        ]
        for start in range(0, len(rows), _CHUNK):
            conn.execute(changes.insert(), rows[start:start + _CHUNK])

    # -- history ------------------------------------------------------------------------------

    def history(self, ref: str) -> list[Revision]:
        """Every save of the case, oldest first, with who, when, why and what changed."""
        with self._transaction(write=False) as conn:
            row = self._case_row(conn, ref)
            return self._revisions(conn, row.id)

    def _revisions(self, conn: Connection, case_id: int, *, after: int = 0) -> list[Revision]:
        query = (
            select(changes.c.version, changes.c.actor, changes.c.at, changes.c.reason,
                   changes.c.layer, changes.c.op, func.count().label("n"))
            .where(changes.c.case_id == case_id, changes.c.version > after)
            .group_by(changes.c.version, changes.c.actor, changes.c.at, changes.c.reason,
                      changes.c.layer, changes.c.op)
            .order_by(changes.c.version, changes.c.layer, changes.c.op)
        )
        revisions: dict[int, Revision] = {}
        for r in conn.execute(query):
            rev = revisions.setdefault(
                r.version, Revision(r.version, r.actor, _utc(r.at), r.reason, {}))
            rev.counts.setdefault(r.layer, {})[r.op] = int(r.n)
        return list(revisions.values())

    def changes_in(self, ref: str, version: int) -> list[RowChange]:
        """The row changes one save made, with each row before and after."""
        with self._transaction(write=False) as conn:
            row = self._case_row(conn, ref)
            return self._row_changes(conn, row.id, version)

    def _row_changes(self, conn: Connection, case_id: int, version: int) -> list[RowChange]:
        rows = conn.execute(
            select(changes).where(changes.c.case_id == case_id, changes.c.version == version)
            .order_by(changes.c.id))
        return [
            RowChange(r.version, r.layer, r.row_key, r.op,
                      None if r.before is None else json.loads(r.before),
                      None if r.after is None else json.loads(r.after), r.position)
            for r in rows
        ]

    def undo(
        self,
        ref: str,
        version: int,
        *,
        actor: str,
        reason: str = "",
        base_version: int | None = None,
    ) -> int:
        """Undo one save (every row it changed) as a new save; return the new version.

        The rows must still be as that save left them: if a later save changed one of them,
        undo that one first. The undo is checked like any edit.

        Raises
        ------
        ConflictError
            A row was changed again since ``version`` (or ``base_version`` is out of date).
        InputError
            The version created, archived or restored the case (use :meth:`archive_case` or
            :meth:`restore_case`), or does not exist.
        """
        with self._transaction(write=True) as conn:
            row = self._case_row(conn, ref, lock=True)
            self._refuse_archived(row)
            if base_version is not None:
                self._check_version(conn, row, base_version)
            done = self._row_changes(conn, row.id, version)
            if not done:
                msg = f"case {ref} has no version {version} to undo"
                raise InputError(msg)
            case_level = {c.op for c in done} - set(_OP_WORDS)
            if case_level:
                did = {"create": "created", "archive": "archived", "restore": "restored"}
                word = did.get(next(iter(case_level)), "changed")
                msg = (f"version {version} {word} case {ref}; that cannot be undone "
                       "(archive or restore the case instead)")
                raise InputError(msg)
            self._check_undoable(conn, row, version, done)
            metas = self._metas(conn, row.id)
            inverse: list[_Add | _Update | _Delete] = [
                _Delete(c.layer, c.key) for c in done if c.op == "add"]
            for layer in dict.fromkeys(c.layer for c in done):
                changed = [c for c in done if c.layer == layer and c.op == "update"]
                before = _logged_rows(metas[layer], [c.before for c in changed])
                inverse.extend(_Update(layer, c.key, _record(before, i), replace=True)
                               for i, c in enumerate(changed))
                removed = [c for c in done if c.layer == layer and c.op == "delete"]
                if removed:  # back in their old places
                    inverse.append(_Add(layer, _logged_rows(metas[layer],
                                                            [c.before for c in removed]),
                                        tuple(int(c.position or 0) for c in removed)))
            why = f"undo version {version}" + (f": {reason}" if reason else "")
            return self._apply(conn, row, inverse, actor=actor, reason=why)

    def _check_undoable(
        self, conn: Connection, row: Any, version: int, done: list[RowChange]
    ) -> None:
        """Each row must be as ``version`` left it; say which later save changed it if not."""
        later: list[str] = []
        for layer in dict.fromkeys(c.layer for c in done):
            mine = [c for c in done if c.layer == layer]
            stored = self._stored_rows(conn, row.id, layer, [c.key for c in mine])
            for c in mine:
                now = stored.get(c.key)
                current = None if now is None else row_object(now.attrs, now.wkb)
                if current != c.after:
                    later.append(f"{layer} {c.key}")
        if later:
            since = self._revisions(conn, row.id, after=version)
            who = "; ".join(str(r) for r in since[:3])
            rows = ", ".join(later[:5]) + (f" and {len(later) - 5} more" if len(later) > 5
                                           else "")
            msg = (f"cannot undo version {version} of case {row.ref}: {rows} changed again "
                   f"since ({who}). Undo the later change first; nothing was saved")
            raise ConflictError(msg)

    # -- pre-filtering ------------------------------------------------------------------------

    def prefilter_candidates(
        self,
        ref: str,
        sources: gpd.GeoSeries | gpd.GeoDataFrame | Sequence[str],
        *,
        distance_m: float | Sequence[float] | None = None,
        layer: str = "candidates",
    ) -> list[str]:
        """Keys of the rows of ``layer`` farther than ``distance_m`` from every source.

        The work happens in the database where it can: on PostGIS one statement with an
        indexed ``ST_DWithin``, so the candidates are never all loaded into memory; on SQLite
        the geometries are read in chunks and tested with a shapely STRtree.

        Parameters
        ----------
        ref
            The case whose ``layer`` (the candidates) is filtered.
        sources
            Threat sources: geometries (a GeoSeries or GeoDataFrame; converted to EPSG:27700),
            or names of the case's own layers (``["incidents", "activity_areas"]``).
        distance_m
            One distance for all sources, or one per source. If omitted, a GeoDataFrame's
            ``distance_m`` column is used.
        layer
            The layer to filter.

        Returns
        -------
        The keys (candidate ids) that are not within the distance of any source, in stored
        order. Fetch their rows with :meth:`load_layer` (``keys=``).

        Notes
        -----
        Distances are in metres in British National Grid; a distance equal to the gap counts
        as within (``ST_DWithin`` and shapely's ``dwithin`` agree).
        """
        with self._transaction(write=False) as conn:
            row = self._case_row(conn, ref)
            self._refuse_archived(row)
            if isinstance(sources, str):
                sources = [sources]
            if isinstance(sources, gpd.GeoSeries | gpd.GeoDataFrame):
                geoms, distances = _source_arrays(sources, distance_m)
                stored_layers: list[str] = []
            else:
                stored_layers = [str(s) for s in sources]
                for name in stored_layers:
                    _layer_spec(name)
                if distance_m is None or not np.isscalar(distance_m):
                    msg = "give one distance_m for sources taken from the case's layers"
                    raise InputError(msg)
                geoms, distances = np.array([], dtype=object), np.array([float(distance_m)])
            if self.dialect == "postgresql":
                return self._prefilter_postgis(conn, row.id, layer, geoms, distances,
                                               stored_layers)
            if stored_layers:
                geoms = self._layer_geoms(conn, row.id, stored_layers)
                distances = np.full(len(geoms), distances[0])
            return self._prefilter_shapely(conn, row.id, layer, geoms, distances)

    def _layer_geoms(self, conn: Connection, case_id: int, layers: list[str]) -> np.ndarray:
        rows = conn.execute(select(features.c.geom).where(
            features.c.case_id == case_id, features.c.layer.in_(layers),
            features.c.geom.is_not(None)))
        return shapely.from_wkb(np.asarray([r[0] for r in rows], dtype=object))

    def _prefilter_shapely(
        self, conn: Connection, case_id: int, layer: str, geoms: np.ndarray,
        distances: np.ndarray,
    ) -> list[str]:
        groups = [(d, shapely.STRtree(geoms[distances == d])) for d in np.unique(distances)]
        query = (select(features.c.row_key, features.c.geom)
                 .where(features.c.case_id == case_id, features.c.layer == layer)
                 .order_by(features.c.position))
        kept: list[str] = []
        result = conn.execution_options(yield_per=_CHUNK).execute(query)
        for chunk in result.partitions(_CHUNK):
            keys = np.asarray([r[0] for r in chunk], dtype=object)
            points = shapely.from_wkb(np.asarray([r[1] for r in chunk], dtype=object))
            near = np.zeros(len(keys), dtype=bool)
            for d, tree in groups:
                hits = tree.query(points, predicate="dwithin", distance=float(d))
                near[hits[0]] = True
            kept.extend(keys[~near].tolist())
        return kept

    def _prefilter_postgis(
        self, conn: Connection, case_id: int, layer: str, geoms: np.ndarray,
        distances: np.ndarray, stored_layers: list[str],
    ) -> list[str]:
        """One statement: the few sources (in a temporary table, given or copied from the
        case's layers) probe the GiST index of the many candidates (indexed ``ST_DWithin``),
        and the rows found are anti-joined away by hash.

        The sources' own index cannot help (each has its own distance), and probing per
        candidate costs a million index scans; this way round costs one per source. JIT is
        off (compiling costs more than it saves here) and ``work_mem`` is raised for this
        transaction only, so the hash and the sort stay in memory. The keys come back as one
        array rather than a million rows.
        """
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        conn.exec_driver_sql(
            "CREATE TEMP TABLE prefilter_sources (geom geometry(Geometry, 27700) NOT NULL,"
            " distance_m double precision NOT NULL) ON COMMIT DROP")
        if stored_layers:
            conn.execute(text(
                "INSERT INTO prefilter_sources (geom, distance_m) SELECT geom, :d FROM features "
                "WHERE case_id = :case_id AND layer = ANY(:layers) AND geom IS NOT NULL"),
                {"d": float(distances[0]), "case_id": case_id, "layers": stored_layers})
        elif len(geoms):
            conn.execute(text("INSERT INTO prefilter_sources (geom, distance_m) "
                              "VALUES (ST_GeomFromWKB(:g, 27700), :d)"),
                         [{"g": bytes(w), "d": float(d)}
                          for w, d in zip(shapely.to_wkb(geoms), distances, strict=True)])
        conn.exec_driver_sql("ANALYZE prefilter_sources")
        statement = text("""
            SELECT array_agg(c.row_key ORDER BY c.position)
            FROM features c
            LEFT JOIN (
                SELECT DISTINCT n.id FROM prefilter_sources s
                JOIN features n ON n.case_id = :case_id AND n.layer = :layer
                 AND ST_DWithin(n.geom, s.geom, s.distance_m)
            ) near ON near.id = c.id
            WHERE c.case_id = :case_id AND c.layer = :layer AND near.id IS NULL
            """)
        kept = conn.execute(statement, {"case_id": case_id, "layer": layer})
        return list(kept.scalar_one() or [])

    # -- backups ------------------------------------------------------------------------------

    def backup(self, path: str | os.PathLike) -> Path:
        """Write a consistent copy of the whole database (see :func:`backup_database`)."""
        return backup_database(self.url, path)


# ---------------------------------------------------------------------------------------------
# helpers


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _nullable(dtype: str) -> str:
    """The dtype that can also hold a missing value: ``int64`` -> ``Int64``."""
    if dtype.startswith(("int", "uint")):
        return "Int64"
    if dtype == "bool":
        return "boolean"
    return dtype


def _layer_spec(layer: str):
    if layer not in LAYERS:
        msg = f"unknown layer {layer!r}; expected one of {', '.join(LAYER_NAMES)}"
        raise InputError(msg)
    return LAYERS[layer]


def _extra_layer(frame: pd.DataFrame) -> pd.DataFrame:
    """A layer this version does not know, stored as :func:`geo.io.write_case` writes it."""
    if isinstance(frame, gpd.GeoDataFrame):
        gdf = to_bng(frame) if frame.crs is not None else frame.set_crs(BNG)
        return gdf.rename_geometry("geometry") if gdf.geometry.name != "geometry" else gdf
    return frame


def _plan_updates(
    layer: str, plan: _LayerPlan, updates: list[_Update], stored: dict[str, _Stored]
) -> list[Problem]:
    """Each changed row as it will be (stored values, then the new ones), cleaned and checked
    by the model; problems are named by the row's key."""
    if not updates:
        return []
    spec = LAYERS[layer]
    base = frame_from_rows(plan.meta.columns, [stored[op.key].attrs for op in updates],
                           [stored[op.key].wkb for op in updates]
                           if plan.meta.has_geometry else None)
    records = []
    for i, op in enumerate(updates):
        record = {} if op.replace else _record(base, i)
        record.update(op.values)
        records.append(record)
    cleaned, found = check_layer(layer, _frame(records, spec.geometry), row_base=1)
    problems = _relabel(found, [op.key for op in updates])
    if spec.id_column:
        for op, new_id in zip(updates, cleaned[spec.id_column], strict=True):
            if str(new_id) != op.key:
                problems.append(Problem(
                    "error", layer, op.key, spec.id_column,
                    f"the id cannot be changed (to {new_id!r}); remove the row and add a new "
                    "one"))
    plan.frames.append(cleaned)
    plan.updates = [_Written(op.key, stored[op.key].position, "", None, stored[op.key])
                    for op in updates]
    return problems


def _plan_adds(layer: str, plan: _LayerPlan, adds: list[_Add], taken: set[str]) -> list[Problem]:
    """New rows cleaned and checked by the model, each given its key and place; an id that
    is already in the layer (or twice in the new rows) is a problem."""
    spec = LAYERS[layer]
    problems: list[Problem] = []
    for op in adds:
        cleaned, found = check_layer(layer, op.rows, row_base=1)
        if spec.id_column:
            ids = [None if pd.isna(v) else str(v) for v in cleaned[spec.id_column]]
        else:
            ids = [None] * len(cleaned)
        labels = [f"new row {i + 1}" + (f" ({k})" if k else "") for i, k in enumerate(ids)]
        problems.extend(_relabel(found, labels))
        if op.positions is not None:
            positions = list(op.positions)
        else:
            start = plan.meta.next_position
            positions = list(range(start, start + len(cleaned)))
        plan.meta.next_position = max([plan.meta.next_position, *(p + 1 for p in positions)])
        for label, ident, position in zip(labels, ids, positions, strict=True):
            key = (ident or "") if spec.id_column else f"#{position}"
            if key and key in taken:
                problems.append(Problem("error", layer, label, spec.id_column or "",
                                        f"id {key!r} already exists in the case"))
            taken.add(key)
            plan.adds.append(_Written(key, position, "", None))
        plan.frames.append(cleaned)
    return problems


def _check_row_count(layer: str, count: int) -> list[Problem]:
    """The ``case`` layer keeps exactly one row, ``policy`` at most one."""
    rows = LAYERS[layer].rows
    if rows == "many" or (count == 1 if rows == "one" else count <= 1):
        return []
    want = "exactly one row" if rows == "one" else "at most one row"
    return [Problem("error", layer, "", "", f"must have {want}; the edit leaves {count}")]


def _refuse_repeats(ops: Sequence[_Add | _Update | _Delete]) -> None:
    seen: set[tuple[str, str]] = set()
    for op in ops:
        if isinstance(op, _Add):
            continue
        if (op.layer, op.key) in seen:
            msg = f"{op.layer} row {op.key!r} is edited twice in one save; combine the edits"
            raise InputError(msg)
        seen.add((op.layer, op.key))


def _plain(value: Any) -> Any:
    """A cell as a plain Python value, ``None`` where missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _record(frame: pd.DataFrame, i: int) -> dict[str, Any]:
    """Row ``i`` as plain values (missing as None), geometry included."""
    return {name: _plain(frame[name].iloc[i]) for name in frame.columns}


def _frame(records: list[dict[str, Any]], geometry: str | None) -> pd.DataFrame:
    """Edited rows as a raw frame for :func:`geo.model.check_layer` (geometry in BNG)."""
    frame = pd.DataFrame.from_records(records)
    frame = frame.astype(object).where(frame.notna(), None) if len(frame.columns) else frame
    if geometry:
        geoms = frame.pop("geometry") if "geometry" in frame.columns else [None] * len(frame)
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(list(geoms), crs=BNG), crs=BNG)
    return frame.drop(columns="geometry", errors="ignore")


def _logged_rows(meta: _LayerMeta, objs: Sequence[dict[str, Any] | None]) -> pd.DataFrame:
    """Rows kept in the change log back as a frame of the layer."""
    rows = [o or {"attrs": {}, "wkb": None} for o in objs]
    wkb = [None if o["wkb"] is None else bytes.fromhex(o["wkb"]) for o in rows]
    return frame_from_rows(meta.columns, [dumps(o["attrs"]) for o in rows],
                           wkb if meta.has_geometry else None)


def _relabel(problems: list[Problem], labels: Sequence[str]) -> list[Problem]:
    """Problems found on edited rows, named by the row's key instead of ``row N``."""
    out = []
    for p in problems:
        row = p.row
        if row.startswith("row "):
            position = int(row.split()[1].split("(")[0]) - 1
            row = labels[position]
        out.append(Problem(p.severity, p.layer, row, p.column, p.message))
    return out


def _reference_closure(layers: set[str]) -> set[str]:
    """The layers needed to check references touching ``layers``: those they refer to,
    those that refer to them, and (so that every checked reference has its target) the
    targets of all of those, until nothing is added."""
    involved = set(layers)
    involved |= {src for (src, _), (dst, _) in REFERENCES.items() if dst in layers}
    involved &= {src for (src, _) in REFERENCES} | {dst for dst, _ in REFERENCES.values()}
    while True:
        grown = involved | {dst for (src, _), (dst, _) in REFERENCES.items() if src in involved}
        if grown == involved:
            return involved
        involved = grown


def _source_arrays(
    sources: gpd.GeoSeries | gpd.GeoDataFrame, distance_m: float | Sequence[float] | None
) -> tuple[np.ndarray, np.ndarray]:
    if sources.crs is None:
        msg = "sources have no coordinate reference system; expected EPSG:27700"
        raise InputError(msg)
    series = sources.geometry if isinstance(sources, gpd.GeoDataFrame) else sources
    series = series.to_crs(BNG)
    if distance_m is None:
        if not isinstance(sources, gpd.GeoDataFrame) or "distance_m" not in sources.columns:
            msg = "give distance_m, or sources with a distance_m column"
            raise InputError(msg)
        distance_m = sources["distance_m"].to_numpy(dtype=float)
    distances = np.broadcast_to(np.asarray(distance_m, dtype=float), (len(series),)).copy()
    if np.isnan(distances).any() or (distances < 0).any():
        msg = "distance_m must be a number of metres, 0 or more"
        raise InputError(msg)
    geoms = np.asarray(series.values, dtype=object)
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    return geoms[usable], distances[usable]


# ---------------------------------------------------------------------------------------------
# backups


def backup_target(path: str | os.PathLike) -> Path:
    """``path`` as a new backup file, or :class:`InputError` if something is there already."""
    path = Path(path)
    if path.exists():
        msg = f"{path}: already exists; a backup never overwrites a file"
        raise InputError(msg)
    return path


def backup_database(url: URL | str, path: str | os.PathLike) -> Path:
    """A consistent copy of the database at ``path`` (which must not exist yet).

    SQLite: SQLite's online backup (safe while others read and write); the copy is itself a
    SQLite database. PostgreSQL: ``pg_dump -Fc`` (custom format, restored with
    ``pg_restore``); the PostgreSQL client programs must be installed.
    """
    from geo import _backup

    url = database_url(url) if isinstance(url, str) else url
    path = backup_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "sqlite":
        engine = create_store_engine(url)
        try:
            return _backup.sqlite_backup(engine, path)
        except DBAPIError as exc:
            raise _db_failure(exc, url) from None
        finally:
            engine.dispose()
    return _backup.pg_dump(url, path)


def restore_database(
    url: URL | str, path: str | os.PathLike, *, replace: bool = False
) -> Path | None:
    """Restore a backup made by :func:`backup_database` into the database at ``url``.

    SQLite: the database becomes the backup. If it holds cases, ``replace`` must be given,
    and a copy of what it held is kept beside it first; that copy's path is returned.
    PostgreSQL: the database must hold no safeplan tables (create a new, empty one);
    ``pg_restore`` fills it.
    """
    from geo import _backup

    url = database_url(url) if isinstance(url, str) else url
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such file"
        raise InputError(msg)
    if url.get_backend_name() == "sqlite":
        revision = _backup.sqlite_revision(path)
        _refuse_unknown_revision(revision, path)
        engine = create_store_engine(url)
        try:
            with engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
                held = (conn.execute(select(func.count()).select_from(cases)).scalar_one()
                        if "cases" in tables else 0)
                conn.commit()
            kept = None
            if held and not replace:
                msg = (f"the database {display_url(url)} holds {held} case(s); restoring "
                       "replaces them all: pass --replace to confirm (a copy is kept)")
                raise InputError(msg)
            if held:
                stamp = _now().strftime("%Y%m%dT%H%M%S")
                live = _sqlite_path(url)
                kept = (live.with_name(f"{live.name}.before-restore-{stamp}") if live
                        else Path(f"before-restore-{stamp}.db"))
                _backup.sqlite_backup(engine, kept)
            _backup.sqlite_restore(engine, path)
            return kept
        except DBAPIError as exc:
            raise _db_failure(exc, url) from None
        finally:
            engine.dispose()
    _backup.check_pg_archive(path)
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            conn.commit()
    except DBAPIError as exc:
        raise _db_failure(exc, url) from None
    finally:
        engine.dispose()
    if tables & {"cases", "features", "alembic_version"}:
        msg = (f"the database {display_url(url)} already has safeplan tables; restore into a "
               "new, empty database (createdb NAME), then point SAFEPLAN_DATABASE_URL at it")
        raise InputError(msg)
    _backup.pg_restore(url, path)
    return None


def _refuse_unknown_revision(revision: str | None, path: Path) -> None:
    if revision is None:
        msg = f"{path.name}: not a safeplan database backup"
        raise InputError(msg)
    if revision not in _known_revisions():
        msg = (f"{path.name}: made by a newer safeplan (schema revision {revision}); "
               "upgrade safeplan to restore it")
        raise InputError(msg)


# ---------------------------------------------------------------------------------------------
# case arguments: a GeoPackage path or case:REF


@dataclass(frozen=True)
class OpenedCase:
    """A case named on the command line: from a GeoPackage file or from the store."""

    case: Case
    path: Path | None = None
    ref: str | None = None
    version: int | None = None

    @property
    def name(self) -> str:
        """How to name it in messages: the file name or ``case:REF``."""
        return self.path.name if self.path else f"{CASE_PREFIX}{self.ref}"


def stored_ref(arg: str) -> str | None:
    """The reference in ``case:REF``, or ``None`` if ``arg`` is not one."""
    if not arg.startswith(CASE_PREFIX):
        return None
    ref = arg[len(CASE_PREFIX):].strip()
    if not ref:
        msg = f"{arg!r}: give a case reference after {CASE_PREFIX} (see `safeplan cases list`)"
        raise InputError(msg)
    return ref


def open_case_arg(arg: str, *, settings: Settings) -> OpenedCase:
    """Open ``case:REF`` from the store the settings name, or a case GeoPackage file.

    Either way the case is validated; an archived stored case is refused.
    """
    from geo.io import open_case

    ref = stored_ref(arg)
    if ref is None:
        return OpenedCase(open_case(arg), path=Path(arg))
    with Store.from_settings(settings) as store:
        loaded = store.load_case(ref)
    return OpenedCase(loaded.case, ref=ref, version=loaded.version)

"""The store's tables, for queries (the migrations in ``geo/migrations`` create them).

One schema serves both engines. Geometry is a :class:`WKBGeometry`: a PostGIS
``geometry(Geometry, 27700)`` column with a GiST index on PostgreSQL, a WKB blob on SQLite.
Python always sees WKB bytes, so the code above the store is the same for both.

Notes
-----
Tables:

``cases``
    One row per case: its reference (unique), title, classification, version (bumped by every
    save), whether it is archived, and who created and last changed it, when (UTC).
``case_layers``
    The columns of each stored layer of a case, in order, with their pandas dtypes, so that a
    layer is rebuilt exactly as it was saved (extra columns and unknown layers included), and
    the next free row position.
``features``
    One row per row of any layer: ``row_key`` (the layer's id, or ``#<position>`` for layers
    without an id column), ``position`` (row order), ``attrs`` (the non-geometry values as
    JSON text) and ``geom``.
``changes``
    Every change, never rewritten: the version it made, who, when (UTC), layer, row, operation,
    the row before and after (JSON), and the reason given.
``users``
    Local accounts (:mod:`geo.auth`): user name (unique), display name, role, argon2 password
    hash, whether disabled, failed sign-ins in a row and until when the account is locked,
    whether the password must be changed at the next sign-in, who created it and when.
``case_access``
    Which user may open which case (admins may open every case), who granted it and when.
``audit_log``
    The audit trail (:mod:`geo.audit`), append-only: ``seq`` (1, 2, 3 ...), when (UTC), who,
    the action, the case, what (JSON text), why (the purpose given), and a hash chain
    (``hash`` = SHA-256 of the previous record's hash and this record). Database triggers
    refuse UPDATE and DELETE on it.
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator

from geo.crs import BNG

#: Whole numbers that are SQLite rowids there (so they autoincrement) and BIGINT elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class _WKBIn(FunctionElement):
    """WKB bytes going into a geometry column: ``ST_GeomFromWKB(x, 27700)`` on PostGIS."""

    type = LargeBinary()
    inherit_cache = True


class _WKBOut(FunctionElement):
    """A geometry column read as WKB bytes: ``ST_AsBinary(geom)`` on PostGIS."""

    type = LargeBinary()
    inherit_cache = True


@compiles(_WKBIn)
def _wkb_in_default(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(_WKBIn, "postgresql")
def _wkb_in_postgresql(element, compiler, **kw):
    return f"ST_GeomFromWKB({compiler.process(element.clauses, **kw)}, {BNG})"


@compiles(_WKBOut)
def _wkb_out_default(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(_WKBOut, "postgresql")
def _wkb_out_postgresql(element, compiler, **kw):
    return f"ST_AsBinary({compiler.process(element.clauses, **kw)})"


class WKBGeometry(TypeDecorator):
    """Geometry as WKB bytes in Python; PostGIS geometry in EPSG:27700 or a SQLite blob."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(
                Geometry(geometry_type="GEOMETRY", srid=BNG, spatial_index=False)
            )
        return dialect.type_descriptor(LargeBinary())

    def bind_expression(self, bindvalue):
        return _WKBIn(bindvalue)

    def column_expression(self, col):
        return _WKBOut(col)

    def process_bind_param(self, value, dialect):
        return value

    def process_result_value(self, value, dialect):
        return bytes(value) if value is not None else None


metadata = MetaData()

cases = Table(
    "cases",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ref", String(100), nullable=False),
    Column("title", Text, nullable=False, default=""),
    Column("classification", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("archived", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
    UniqueConstraint("ref", name="uq_cases_ref"),
)

case_layers = Table(
    "case_layers",
    metadata,
    Column("case_id", BigId, ForeignKey("cases.id"), primary_key=True),
    Column("layer", String(100), primary_key=True),
    Column("columns", Text, nullable=False),
    Column("has_geometry", Boolean, nullable=False),
    Column("next_position", BigInteger, nullable=False),
)

features = Table(
    "features",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", BigId, ForeignKey("cases.id"), nullable=False),
    Column("layer", String(100), nullable=False),
    Column("row_key", String(200), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("attrs", Text, nullable=False),
    Column("geom", WKBGeometry(), nullable=True),
    UniqueConstraint("case_id", "layer", "row_key", name="uq_features_case_layer_key"),
    Index("ix_features_case_layer_position", "case_id", "layer", "position"),
    Index("ix_features_geom", "geom", postgresql_using="gist").ddl_if(dialect="postgresql"),
)

changes = Table(
    "changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", BigId, ForeignKey("cases.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("layer", String(100), nullable=False),
    Column("row_key", String(200), nullable=False),
    Column("op", String(20), nullable=False),
    Column("position", BigInteger, nullable=True),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Index("ix_changes_case_version", "case_id", "version"),
)


users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("display_name", Text, nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("must_change_password", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("last_sign_in_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("username", name="uq_users_username"),
)

case_access = Table(
    "case_access",
    metadata,
    Column("username", String(64), ForeignKey("users.username"), primary_key=True),
    Column("case_ref", String(100), ForeignKey("cases.ref"), primary_key=True),
    Column("granted_by", String(200), nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("case_ref", String(100), nullable=True),
    Column("what", Text, nullable=False),
    Column("why", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_username", "username"),
    Index("ix_audit_log_case_ref", "case_ref"),
    Index("ix_audit_log_at", "at"),
)


#: Tables that PostGIS owns, never ours to create or drop.
POSTGIS_TABLES = frozenset({"spatial_ref_sys", "geography_columns", "geometry_columns"})


def include_object_for(dialect: str):
    """For Alembic: compare only safeplan's own tables (not PostGIS's), and only the objects
    meant for this dialect (the GiST index is PostgreSQL's)."""

    def include(obj, name, type_, reflected, compare_to) -> bool:
        if type_ == "table" and name in POSTGIS_TABLES:
            return False
        only = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return only is None or only == dialect

    return include

"""Cases, their layers and rows (features), and the change log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

On PostgreSQL the PostGIS extension is created if it is missing (that needs a role allowed
to create it; an administrator can run ``CREATE EXTENSION postgis`` beforehand instead), and
``features.geom`` is a ``geometry(Geometry, 27700)`` column with a GiST index. On SQLite it is
a WKB blob. Later tables (users, audit) come in new revisions; this file never changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _geometry_type(dialect: str) -> sa.types.TypeEngine:
    if dialect == "postgresql":
        from geoalchemy2 import Geometry

        return Geometry(geometry_type="GEOMETRY", srid=27700, spatial_index=False)
    return sa.LargeBinary()


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "cases",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(100), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("classification", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("ref", name="uq_cases_ref"),
    )
    op.create_table(
        "case_layers",
        sa.Column("case_id", BigId, sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("layer", sa.String(100), primary_key=True),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("has_geometry", sa.Boolean, nullable=False),
        sa.Column("next_position", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "features",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", BigId, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("layer", sa.String(100), nullable=False),
        sa.Column("row_key", sa.String(200), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("attrs", sa.Text, nullable=False),
        sa.Column("geom", _geometry_type(dialect), nullable=True),
        sa.UniqueConstraint("case_id", "layer", "row_key", name="uq_features_case_layer_key"),
    )
    op.create_index(
        "ix_features_case_layer_position", "features", ["case_id", "layer", "position"]
    )
    if dialect == "postgresql":
        op.create_index("ix_features_geom", "features", ["geom"], postgresql_using="gist")
    op.create_table(
        "changes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", BigId, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("layer", sa.String(100), nullable=False),
        sa.Column("row_key", sa.String(200), nullable=False),
        sa.Column("op", sa.String(20), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=True),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_changes_case_version", "changes", ["case_id", "version"])


def downgrade() -> None:
    op.drop_index("ix_changes_case_version", table_name="changes")
    op.drop_table("changes")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_features_geom", table_name="features")
    op.drop_index("ix_features_case_layer_position", table_name="features")
    op.drop_table("features")
    op.drop_table("case_layers")
    op.drop_table("cases")

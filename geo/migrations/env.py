"""Alembic environment: runs on the connection :func:`geo.store.upgrade_database` hands over.

There is no ``alembic.ini``: ``safeplan db upgrade`` builds the configuration in code, so the
migrations work from an installed package. To write a new revision during development::

    alembic -c /dev/null -x url=sqlite:///dev.db revision -m "what changes"  # then edit it
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from geo._dbschema import include_object_for, metadata

config = context.config
target_metadata = metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object_for(connection.dialect.name),
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # the alembic command line, for developers
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)

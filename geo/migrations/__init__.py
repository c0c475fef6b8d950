"""Alembic migrations of the store's schema (run with ``safeplan db upgrade``)."""

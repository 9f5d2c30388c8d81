"""Alembic migrations: an empty SQLite and an empty PostgreSQL database go to head and back."""

from __future__ import annotations

from sqlalchemy import inspect

from common.db.database import create_database_engine
from common.db.migrate import downgrade, upgrade
from common.db.models import Base


def test_migrations_upgrade_an_empty_database_to_head_and_downgrade_back(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    engine = create_database_engine(empty_database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables

        downgrade(empty_database_url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_head_matches_the_models(database_url: str) -> None:
    """No model change without a migration: autogenerate against head finds nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_database_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []

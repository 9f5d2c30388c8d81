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


def test_times_come_back_aware_utc_on_every_backend(database_url: str) -> None:
    """SQLite has no time zones: stored and read back, a time must still compare with an aware one."""
    from datetime import UTC, datetime, timedelta, timezone

    import pytest

    from common.db.database import Database
    from common.db.models import Scan

    database = Database(database_url)
    moscow = timezone(timedelta(hours=3))
    started = datetime(2026, 3, 2, 15, 0, tzinfo=moscow)
    try:
        with database.session() as session:
            session.add(Scan(task_id="tz", user_id=1, chat_id=1, game="csgo", level="pro", started_at=started))
        with database.session() as session:
            scan = session.query(Scan).filter_by(task_id="tz").one()
            assert scan.started_at == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
            assert scan.started_at.tzinfo == UTC
            assert scan.created_at.tzinfo == UTC
        naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the naive time is the point
        with pytest.raises(Exception, match="naive datetime"), database.session() as session:
            session.add(Scan(task_id="naive", user_id=1, chat_id=1, game="csgo", level="pro", started_at=naive))
    finally:
        database.dispose()

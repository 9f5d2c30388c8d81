"""Alembic environment: runs against the URL given by common.db.migrate (never os.environ)."""

from __future__ import annotations

from alembic import context

from common.db.database import create_database_engine
from common.db.models import Base

url = context.config.get_main_option("sqlalchemy.url")
assert url, "common.db.migrate sets sqlalchemy.url"

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            # Batch mode lets ALTER TABLE migrations run on SQLite too.
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()

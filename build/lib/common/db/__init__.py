"""Database models, the per-process Database, and migrations (SQLite by default, PostgreSQL in compose and CI)."""

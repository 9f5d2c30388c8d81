"""Database models, sessions and migrations (SQLite by default, PostgreSQL in compose and CI)."""

from common.db.models import Base, CleanupAction, CleanupRun, Opportunity, Scan, SentMessage
from common.db.session import get_engine, get_sessionmaker, session_scope

__all__ = [
    "Base",
    "CleanupAction",
    "CleanupRun",
    "Opportunity",
    "Scan",
    "SentMessage",
    "get_engine",
    "get_sessionmaker",
    "session_scope",
]

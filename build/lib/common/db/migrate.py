"""Alembic, driven from code, so no alembic.ini path juggling: `python -m common.db.migrate upgrade`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from common.settings import ConfigError, load_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats % as interpolation; URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.db.migrate", description="Apply database migrations.")
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("upgrade", help="upgrade to a revision (default: head)")
    up.add_argument("revision", nargs="?", default="head")
    down = sub.add_parser("downgrade", help="downgrade to a revision (default: base)")
    down.add_argument("revision", nargs="?", default="base")
    sub.add_parser("current", help="show the current revision")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.action == "upgrade":
        upgrade(settings.database_url, args.revision)
    elif args.action == "downgrade":
        downgrade(settings.database_url, args.revision)
    else:
        command.current(alembic_config(settings.database_url), verbose=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

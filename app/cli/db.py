"""`rxbench-admin db upgrade|status`: bring the schema up to date, or say where it stands."""

from __future__ import annotations

import argparse

from app.config import Settings
from app.db import migrate
from app.db.engine import create_database_engine, describe_database, environment_faults
from app.errors import SchemaOutOfDate, SchemaTooNew


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser("db", help="upgrade the database schema or show its status")
    actions = group.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade",
        help="upgrade the schema to this version of RxBench (a SQLite file is backed up first)",
    )
    upgrade.set_defaults(handler=upgrade_database)
    status = actions.add_parser("status", help="show the database and its schema revision")
    status.set_defaults(handler=show_status)


def _revision(revision: str | None) -> str:
    return revision or "(empty database)"


def upgrade_database(args: argparse.Namespace, settings: Settings) -> int:
    engine = create_database_engine(settings.database_url)
    description = describe_database(engine.url)
    try:
        with environment_faults(description):
            before = migrate.schema_status(engine)
            after = migrate.upgrade(engine, backup_dir=settings.backup_dir)
    finally:
        engine.dispose()
    print(f"Database: {description}")
    if before.current == after.current:
        print(f"The schema is already up to date (revision {after.current}).")
    else:
        print(f"Upgraded the schema from {_revision(before.current)} to {after.current}.")
    return 0


def show_status(args: argparse.Namespace, settings: Settings) -> int:
    engine = create_database_engine(settings.database_url, create_sqlite_dir=False)
    description = describe_database(engine.url)
    try:
        with environment_faults(description):
            status = migrate.schema_status(engine)
            try:
                migrate.check_schema(engine)
                verdict = "up to date"
            except SchemaTooNew:
                verdict = "newer than this RxBench: install the newer version on this workstation"
            except SchemaOutOfDate:
                verdict = "needs upgrading: run “rxbench-admin db upgrade”"
    finally:
        engine.dispose()
    print(f"Database: {description}")
    print(f"Schema revision: {_revision(status.current)}")
    print(f"This RxBench expects: {status.head}")
    print(f"Status: {verdict}")
    return 0

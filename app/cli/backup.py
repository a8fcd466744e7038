"""`rxbench-admin backup|restore`: a consistent copy of the database, and putting one back."""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy import Engine

from app.cli.common import confirm
from app.config import Settings
from app.db import migrate
from app.db.backup import backup_postgres, backup_sqlite, restore_postgres, restore_sqlite
from app.db.engine import (
    DatabaseDescription,
    create_database_engine,
    describe_database,
    environment_faults,
)
from app.errors import DatabaseUnavailable, ValidationFailed


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser(
        "backup",
        help="back up the database (SQLite online backup, or pg_dump for PostgreSQL)",
    )
    backup.add_argument(
        "--to",
        type=Path,
        metavar="DIR",
        help="folder for the backup file (default: the backups folder in the data directory)",
    )
    backup.set_defaults(handler=back_up)
    restore = commands.add_parser(
        "restore",
        help="replace the database's contents with a backup (the current contents are backed "
        "up first)",
    )
    restore.add_argument("file", type=Path, help="a backup made by “rxbench-admin backup”")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.set_defaults(handler=restore_backup)


def _back_up(
    engine: Engine, description: DatabaseDescription, target_dir: Path, reason: str
) -> Path:
    if description.kind == "sqlite":
        if not Path(description.location).is_file():
            raise DatabaseUnavailable(
                f"There is no database file at {description.location}; check --database or the "
                "settings."
            )
        return backup_sqlite(engine, target_dir, reason=reason)
    return backup_postgres(engine.url, target_dir, reason=reason)


def back_up(args: argparse.Namespace, settings: Settings) -> int:
    engine = create_database_engine(settings.database_url, create_sqlite_dir=False)
    description = describe_database(engine.url)
    try:
        with environment_faults(description):
            target = _back_up(engine, description, args.to or settings.backup_dir, "manual")
    finally:
        engine.dispose()
    print(f"Backed up {description} to {target}")
    return 0


def restore_backup(args: argparse.Namespace, settings: Settings) -> int:
    backup_file: Path = args.file
    if not backup_file.is_file():
        raise ValidationFailed(f"There is no backup file at {backup_file}.", path=str(backup_file))
    engine = create_database_engine(settings.database_url)
    description = describe_database(engine.url)
    if not args.yes and not confirm(
        f"This replaces everything in {description} with the backup {backup_file}."
    ):
        raise ValidationFailed("Nothing was restored: the restore was not confirmed.")
    try:
        with environment_faults(description):
            if description.kind == "sqlite" and not Path(description.location).is_file():
                kept = None
            else:
                # A folder of its own: backup file names only carry the second, and this copy
                # must never overwrite the backup being restored.
                kept = _back_up(
                    engine, description, settings.backup_dir / "before-restore", "before-restore"
                )
            if description.kind == "sqlite":
                restore_sqlite(engine, backup_file)
            else:
                restore_postgres(engine.url, backup_file)
            status = migrate.schema_status(engine)
    finally:
        engine.dispose()
    if kept is not None:
        print(f"The database as it was before is kept in {kept}")
    print(f"Restored {description} from {backup_file}")
    if not status.is_current:
        print("The backup is from an older version: run “rxbench-admin db upgrade” next.")
    return 0

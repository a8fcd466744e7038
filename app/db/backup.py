"""Backups: SQLite through its online backup API, PostgreSQL through pg_dump/pg_restore."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from app.errors import EnvironmentFault, ValidationFailed


def _new_backup_path(target_dir: Path, reason: str, suffix: str) -> Path:
    """A name no earlier backup has: UTC time to the microsecond, the reason, a counter."""
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    for attempt in range(1000):
        counter = f"-{attempt}" if attempt else ""
        candidate = target_dir / f"rxbench-{stamp}-{reason}{counter}{suffix}"
        try:
            candidate.touch(exist_ok=False)
        except FileExistsError:
            continue
        return candidate
    raise EnvironmentFault(f"Could not find a free backup file name in {target_dir}.")


def _sqlite_path(engine: Engine) -> Path:
    return Path(engine.url.database or "")


def backup_sqlite(engine: Engine, target_dir: Path, *, reason: str = "manual") -> Path:
    """Copy a live SQLite database consistently, even while other connections write."""
    target = _new_backup_path(target_dir, reason, ".sqlite3")
    source = sqlite3.connect(_sqlite_path(engine))
    try:
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()
    return target


def restore_sqlite(engine: Engine, backup_file: Path) -> None:
    """Replace the database's contents with a backup's, through the same online API."""
    _check_is_sqlite_backup(backup_file)
    engine.dispose()
    source = sqlite3.connect(backup_file)
    try:
        destination = sqlite3.connect(_sqlite_path(engine))
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()


def _check_is_sqlite_backup(path: Path) -> None:
    if not path.is_file():
        raise ValidationFailed(f"There is no backup file at {path}.", path=str(path))
    with path.open("rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            raise ValidationFailed(
                f"{path} is not a SQLite backup made by RxBench.", path=str(path)
            )
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    finally:
        connection.close()
    if "alembic_version" not in tables or "audit_events" not in tables:
        raise ValidationFailed(f"{path} is not an RxBench database backup.", path=str(path))


def _pg_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise EnvironmentFault(
            f"{name} is not installed on this workstation; install the PostgreSQL client tools "
            "or back up on the database server.",
        )
    return tool


def _libpq_url(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def backup_postgres(url: URL, target_dir: Path, *, reason: str = "manual") -> Path:
    target = _new_backup_path(target_dir, reason, ".pgdump")
    result = subprocess.run(
        [_pg_tool("pg_dump"), "--format=custom", f"--file={target}", _libpq_url(url)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        target.unlink(missing_ok=True)
        raise EnvironmentFault(f"pg_dump failed: {result.stderr.strip()}")
    return target


def restore_postgres(url: URL, backup_file: Path) -> None:
    if not backup_file.is_file():
        raise ValidationFailed(f"There is no backup file at {backup_file}.", path=str(backup_file))
    result = subprocess.run(
        [
            _pg_tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={_libpq_url(url)}",
            str(backup_file),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise EnvironmentFault(f"pg_restore failed: {result.stderr.strip()}")

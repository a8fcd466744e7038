"""Engine set-up for SQLite (one workstation) and PostgreSQL (shared), and fault translation.

SQLite runs with foreign keys on, WAL, a busy timeout and synchronous=FULL so a power cut never
loses a committed dispense. PostgreSQL goes through psycopg 3. Driver errors that mean "the
world is broken" become `EnvironmentFault`s a person can act on.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from app.errors import (
    DatabaseReadOnly,
    DatabaseUnavailable,
    DiskFull,
    EnvironmentFault,
    InvalidDatabaseUrl,
)

SQLITE_BUSY_TIMEOUT_MS = 5000
POSTGRES_CONNECT_TIMEOUT_S = 5

_NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb", "smbfs", "smb3", "afs", "9p", "fuse.sshfs"}


@dataclass(frozen=True)
class DatabaseDescription:
    """What the status bar and support messages say about the database in use."""

    kind: str  # "sqlite" or "postgresql"
    location: str  # file path or host:port/database
    on_network_share: bool = False

    def __str__(self) -> str:
        return f"SQLite {self.location}" if self.kind == "sqlite" else f"PostgreSQL {self.location}"


def parse_database_url(raw: str) -> URL:
    """Accept sqlite:///path and postgresql://…; anything else is refused with a sentence."""
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise InvalidDatabaseUrl(
            f"“{raw}” is not a database URL. Use sqlite:///path/to/file.sqlite3 or "
            "postgresql://user@host:5432/database.",
            url=raw,
        ) from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise InvalidDatabaseUrl(
                "A SQLite database URL must name a file, e.g. sqlite:///C:/RxBench/rxbench.sqlite3.",
                url=raw,
            )
        return url.set(drivername="sqlite+pysqlite")
    if backend == "postgresql":
        if not url.database:
            raise InvalidDatabaseUrl(
                "A PostgreSQL URL must name the database, e.g. postgresql://rxbench@server/rxbench.",
                url=raw,
            )
        return url.set(drivername="postgresql+psycopg")
    raise InvalidDatabaseUrl(
        f"RxBench stores its data in SQLite or PostgreSQL, not “{backend}”.", url=raw
    )


def describe_database(url: URL) -> DatabaseDescription:
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        return DatabaseDescription("sqlite", str(path), is_on_network_share(path))
    port = url.port or 5432
    return DatabaseDescription("postgresql", f"{url.host or 'localhost'}:{port}/{url.database}")


def is_on_network_share(path: Path, mounts_file: Path = Path("/proc/mounts")) -> bool:
    """True when the SQLite file sits on NFS/SMB, where SQLite's locking is not reliable."""
    target = str(path.resolve())
    if os.name == "nt":
        return target.startswith("\\\\")
    try:
        lines = mounts_file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    best, best_type = "", ""
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and _is_under(target, parts[1]) and len(parts[1]) > len(best):
            best, best_type = parts[1], parts[2]
    return best_type in _NETWORK_FILESYSTEMS


def _is_under(target: str, mount_point: str) -> bool:
    return mount_point == "/" or target == mount_point or target.startswith(mount_point + "/")


def _configure_sqlite(dbapi_connection: sqlite3.Connection, _: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy own transactions (pysqlite's implicit BEGIN handling is legacy).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.close()


def _begin_sqlite(connection: Any) -> None:
    # IMMEDIATE takes the write lock at BEGIN, so two writers wait instead of deadlocking.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_database_engine(raw_url: str, *, create_sqlite_dir: bool = True) -> Engine:
    url = parse_database_url(raw_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        if create_sqlite_dir:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_pre_ping=False)
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=4,
        max_overflow=4,
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S, "application_name": "rxbench"},
    )


def translate_fault(exc: DBAPIError, description: DatabaseDescription) -> EnvironmentFault | None:
    """Map a driver error to the environment fault a person can act on, or None for a bug."""
    message = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    if (
        "disk is full" in message
        or "no space left" in message
        or "database or disk is full" in message
    ):
        return DiskFull(
            f"The disk holding the database ({description.location}) is full. Free space, then "
            "retry; nothing was saved.",
        )
    if "readonly" in message or "read-only" in message or "read only" in message:
        return DatabaseReadOnly(
            f"The database ({description.location}) can only be read, not written. Check the "
            "file's permissions or the server; nothing was saved.",
        )
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        if "locked" in message and description.kind == "sqlite":
            return DatabaseUnavailable(
                "The database is busy with another program. Wait a moment and retry.",
            )
        return DatabaseUnavailable(
            f"RxBench cannot reach the database ({description}). Check the network or server, "
            "then retry; nothing was saved.",
        )
    return None


@contextmanager
def environment_faults(description: DatabaseDescription) -> Iterator[None]:
    """Re-raise driver errors that mean an environment fault as our typed errors."""
    try:
        yield
    except DBAPIError as exc:
        fault = translate_fault(exc, description)
        if fault is None:
            raise
        raise fault from exc


def ping(engine: Engine) -> None:
    """One round trip; raises the driver error when the database cannot be reached."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))

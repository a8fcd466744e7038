"""Schema upgrades with Alembic, located in code so frozen builds find the scripts.

Start-up only reads the database's revision and compares it with `SCHEMA_HEAD`: importing
Alembic (and Mako, and Pygments) costs ~100 ms that a workstation whose schema is current
should not pay, so Alembic is imported only to upgrade or to judge an unknown revision.

Before an upgrade the SQLite file is backed up; on PostgreSQL the upgrade runs under an
advisory lock so two workstations starting at once cannot both migrate. A database whose
schema is newer than this code is refused, never touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from app.db.migrations import SCHEMA_HEAD
from app.errors import SchemaOutOfDate, SchemaTooNew

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same on every RxBench workstation.
_PG_MIGRATION_LOCK_KEY = 0x52784265  # "RxBe"


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def is_current(self) -> bool:
        return self.current == self.head

    @property
    def is_empty(self) -> bool:
        return self.current is None


def _alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    """The newest migration shipped, as Alembic computes it from the scripts."""
    head = _script().get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


def _current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.scalar(text("SELECT version_num FROM alembic_version"))


def schema_status(engine: Engine) -> SchemaStatus:
    with engine.connect() as connection:
        current = _current_revision(connection)
    return SchemaStatus(current=current, head=SCHEMA_HEAD)


def _known(revision: str) -> bool:
    if revision == SCHEMA_HEAD:
        return True
    script = _script()
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises its own ResolutionError family for unknown ids
        return False


def check_schema(engine: Engine) -> SchemaStatus:
    """Raise when this code cannot work on the database as it is."""
    status = schema_status(engine)
    if status.current is not None and not _known(status.current):
        raise SchemaTooNew(
            "This database was upgraded by a newer RxBench than the one on this workstation. "
            "Install the newer version here before using it.",
            database_revision=status.current,
            code_revision=status.head,
        )
    if not status.is_current:
        raise SchemaOutOfDate(
            "The database needs upgrading before this version of RxBench can use it: run "
            "“rxbench-admin db upgrade”.",
            database_revision=status.current,
            code_revision=status.head,
        )
    return status


def upgrade(engine: Engine, *, backup_dir: Path | None = None) -> SchemaStatus:
    """Bring the schema to head; back up a SQLite file first; refuse a newer schema."""
    status = schema_status(engine)
    if status.current is not None and not _known(status.current):
        check_schema(engine)
    if status.is_current:
        return status
    if engine.dialect.name == "sqlite" and status.current is not None and backup_dir is not None:
        from app.db.backup import backup_sqlite

        target = backup_sqlite(engine, backup_dir, reason=f"before-upgrade-{status.current}")
        log.info("backed up the database before upgrading it: %s", target)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY}
            )
        from alembic import command

        command.upgrade(_alembic_config(connection), "head")
    log.info("database schema upgraded from %s to %s", status.current, status.head)
    return schema_status(engine)

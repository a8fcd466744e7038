"""Real migrations, on the backend under test: up from empty, no drift, newer schema refused."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from app.db import migrate
from app.db.engine import create_database_engine
from app.db.migrations import SCHEMA_HEAD
from app.db.models import Base, managed_by_models
from app.errors import SchemaOutOfDate, SchemaTooNew
from tests.conftest import BACKEND


def test_upgrade_from_empty_reaches_head_and_creates_every_table(empty_database_url: str) -> None:
    engine = create_database_engine(empty_database_url)
    assert migrate.schema_status(engine).is_empty
    status = migrate.upgrade(engine)
    assert status.is_current
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    engine.dispose()


def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": managed_by_models}
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_upgrade_twice_changes_nothing(database_url: str) -> None:
    engine = create_database_engine(database_url)
    before = migrate.schema_status(engine)
    after = migrate.upgrade(engine)
    assert before == after
    engine.dispose()


def test_database_from_a_newer_rxbench_is_refused_and_left_alone(database_url: str) -> None:
    engine = create_database_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed9999'"))
    with pytest.raises(SchemaTooNew, match="newer RxBench"):
        migrate.upgrade(engine)
    with pytest.raises(SchemaTooNew):
        migrate.check_schema(engine)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "f00dfeed9999"
    engine.dispose()


def test_check_schema_asks_for_an_upgrade_on_an_empty_database(empty_database_url: str) -> None:
    engine = create_database_engine(empty_database_url)
    with pytest.raises(SchemaOutOfDate, match="rxbench-admin db upgrade"):
        migrate.check_schema(engine)
    engine.dispose()


@pytest.mark.skipif(BACKEND != "postgresql", reason="the migration lock is PostgreSQL's")
def test_two_workstations_upgrading_at_once_migrate_once(empty_database_url: str) -> None:
    engines = [create_database_engine(empty_database_url) for _ in range(2)]
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        try:
            migrate.upgrade(engine)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert all(migrate.schema_status(engine).is_current for engine in engines)
    for engine in engines:
        engine.dispose()


def test_the_start_up_head_constant_is_alembics_head() -> None:
    assert migrate.head_revision() == SCHEMA_HEAD


def test_sqlite_file_is_backed_up_before_an_upgrade(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(migrate._alembic_config(connection), "0001")
    backups = tmp_path / "backups"
    status = migrate.upgrade(engine, backup_dir=backups)
    assert status.is_current
    [backup] = backups.glob("*.sqlite3")
    assert "before-upgrade-0001" in backup.name
    copy = create_database_engine(f"sqlite:///{backup}")
    assert migrate.schema_status(copy).current == "0001"
    copy.dispose()
    engine.dispose()

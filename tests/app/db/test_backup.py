"""Backups round-trip: SQLite through the online API, PostgreSQL through pg_dump."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import Services
from app.db.backup import backup_postgres, backup_sqlite, restore_postgres, restore_sqlite
from app.db.models import Pharmacy
from app.errors import ValidationFailed
from app.services.unit_of_work import Actor
from tests.conftest import BACKEND


def _pharmacy_name(services: Services) -> str:
    with services.database.reading() as session:
        return session.scalars(select(Pharmacy.name)).one()


def test_backup_then_restore_brings_back_the_old_contents(
    services: Services, admin: Actor, tmp_path: Path
) -> None:
    engine = services.database.engine
    if BACKEND == "sqlite":
        backup = backup_sqlite(engine, tmp_path / "backups")
    elif shutil.which("pg_dump"):
        backup = backup_postgres(engine.url, tmp_path / "backups")
    else:
        pytest.skip("pg_dump is not installed")
    profile = services.pharmacy.profile()
    assert profile is not None
    services.pharmacy.save_profile(admin, replace(profile, name="Changed After Backup"))
    assert _pharmacy_name(services) == "Changed After Backup"
    engine.dispose()
    if BACKEND == "sqlite":
        restore_sqlite(engine, backup)
    else:
        restore_postgres(engine.url, backup)
    assert _pharmacy_name(services) == "Test Pharmacy"


def test_restoring_something_that_is_not_a_backup_is_refused(
    services: Services, tmp_path: Path
) -> None:
    bogus = tmp_path / "notes.sqlite3"
    bogus.write_text("grocery list", encoding="utf-8")
    with pytest.raises(ValidationFailed, match="not a SQLite backup"):
        restore_sqlite(services.database.engine, bogus)
    with pytest.raises(ValidationFailed, match="no backup file"):
        restore_sqlite(services.database.engine, tmp_path / "missing.sqlite3")


@pytest.mark.skipif(BACKEND != "sqlite", reason="naming is the same code for both; SQLite is quick")
def test_backups_in_the_same_instant_never_overwrite_each_other(
    services: Services, admin: Actor, tmp_path: Path
) -> None:
    made = {backup_sqlite(services.database.engine, tmp_path, reason="manual") for _ in range(5)}
    assert len(made) == 5
    assert all(path.stat().st_size > 0 for path in made)

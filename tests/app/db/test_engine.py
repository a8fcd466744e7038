"""Engine set-up and the translation of driver faults into messages a person can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, text

from app.bootstrap import build_services
from app.config import Settings
from app.db.engine import (
    create_database_engine,
    describe_database,
    environment_faults,
    is_on_network_share,
    parse_database_url,
)
from app.errors import DatabaseReadOnly, DatabaseUnavailable, DiskFull, InvalidDatabaseUrl


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://root@localhost/rx", "SQLite or PostgreSQL, not “mysql”"),
        ("sqlite://", "must name a file"),
        ("sqlite:///:memory:", "must name a file"),
        ("postgresql://host", "must name the database"),
    ],
)
def test_malformed_urls_are_refused_with_a_sentence(url: str, message: str) -> None:
    with pytest.raises(InvalidDatabaseUrl, match=message):
        parse_database_url(url)


def test_drivers_are_chosen_for_the_person() -> None:
    assert parse_database_url("postgresql://rx@db/rx").drivername == "postgresql+psycopg"
    assert parse_database_url("sqlite:///x.sqlite3").drivername == "sqlite+pysqlite"


def test_description_names_the_file_or_the_server(tmp_path: Path) -> None:
    assert str(describe_database(parse_database_url("postgresql://rx@db.local/rx"))) == (
        "PostgreSQL db.local:5432/rx"
    )
    description = describe_database(parse_database_url(f"sqlite:///{tmp_path}/a.sqlite3"))
    assert description.kind == "sqlite" and description.location.endswith("a.sqlite3")


def test_sqlite_runs_with_the_safety_pragmas(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path}/deep/dir/a.sqlite3")
    with engine.connect() as connection:
        pragmas = {
            name: connection.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("foreign_keys", "journal_mode", "synchronous", "busy_timeout")
        }
    engine.dispose()
    assert pragmas == {
        "foreign_keys": 1,
        "journal_mode": "wal",
        "synchronous": 2,
        "busy_timeout": 5000,
    }


def test_network_share_is_detected_from_the_mount_table(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    share = tmp_path / "share"
    mounts.write_text(
        f"/dev/vda / ext4 rw 0 0\n//nas/pharmacy {share} cifs rw 0 0\n", encoding="utf-8"
    )
    assert is_on_network_share(share / "rxbench.sqlite3", mounts)
    assert not is_on_network_share(tmp_path / "shared" / "rxbench.sqlite3", mounts)
    assert not is_on_network_share(tmp_path / "local.sqlite3", mounts)


def test_database_or_disk_full_becomes_disk_full(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path}/full.sqlite3")

    @event.listens_for(engine, "connect")
    def _tiny(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA max_page_count = 8")

    description = describe_database(engine.url)
    with pytest.raises(DiskFull, match="is full"), environment_faults(description):
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE filler (payload TEXT)"))
            for _ in range(200):
                connection.execute(text("INSERT INTO filler VALUES (:p)"), {"p": "x" * 4000})
    engine.dispose()


def test_read_only_database_becomes_read_only_fault(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path}/ro.sqlite3")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA query_only = ON")

    engine.dispose()
    with pytest.raises(DatabaseReadOnly, match="can only be read"):
        with environment_faults(describe_database(engine.url)), engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
    engine.dispose()


def test_unreachable_server_is_an_environment_fault_not_a_crash(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:1/rxbench",
        workstation="w",
        config_dir=tmp_path,
        data_dir=tmp_path,
    )
    with pytest.raises(DatabaseUnavailable, match="cannot reach the database"):
        build_services(settings)

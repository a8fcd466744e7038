"""Shared fixtures: a fresh, really migrated database per test on SQLite or PostgreSQL.

The backend comes from RXBENCH_TEST_BACKEND (sqlite, the default, or postgresql); the README's
test command runs the suite once for each. PostgreSQL databases are cloned from a template
migrated once per session, SQLite files are copied from a migrated template file.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything imports Qt or reads settings: never touch a real user's files or screen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_SANDBOX = Path(os.environ.get("RXBENCH_TEST_SANDBOX", f"/tmp/rxbench-tests-{os.getpid()}"))
os.environ["RXBENCH_CONFIG_DIR"] = str(_SANDBOX / "config")
os.environ["RXBENCH_DATA_DIR"] = str(_SANDBOX / "data")
os.environ.pop("RXBENCH_DATABASE_URL", None)

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.bootstrap import Services, build_services  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import migrate  # noqa: E402
from app.db.engine import create_database_engine  # noqa: E402
from app.domain.roles import Role  # noqa: E402
from app.services.pharmacy import PharmacyProfile  # noqa: E402
from app.services.unit_of_work import Actor  # noqa: E402

BACKEND = os.environ.get("RXBENCH_TEST_BACKEND", "sqlite")
POSTGRES_ADMIN_URL = os.environ.get(
    "RXBENCH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
TEST_PASSWORD = "correct horse"

DEMO_PROFILE = PharmacyProfile(
    name="Test Pharmacy",
    address_line1="100 Main Street",
    city="Springfield",
    state="IL",
    postal_code="62701",
    phone="217-555-0100",
    npi="1234567893",
    ncpdp_id="1234567",
    dea_number="BT1234563",
)


def pytest_report_header() -> str:
    return f"rxbench backend: {BACKEND}"


def _postgres_admin():
    url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT")


def _postgres_url(name: str) -> str:
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Path]:
    _SANDBOX.mkdir(parents=True, exist_ok=True)
    yield _SANDBOX
    shutil.rmtree(_SANDBOX, ignore_errors=True)


@pytest.fixture(scope="session")
def template_database(sandbox: Path) -> Iterator[str]:
    """A database migrated to head once; each test gets a copy."""
    if BACKEND == "sqlite":
        path = sandbox / "template.sqlite3"
        engine = create_database_engine(f"sqlite:///{path}")
        migrate.upgrade(engine)
        engine.dispose()
        yield str(path)
        return
    if BACKEND != "postgresql":
        raise pytest.UsageError(f"RXBENCH_TEST_BACKEND must be sqlite or postgresql, not {BACKEND}")
    name = f"rxbench_template_{os.getpid()}"
    admin = _postgres_admin()
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the whole PostgreSQL run is pointless without the server
        pytest.exit(f"PostgreSQL test server unreachable at {POSTGRES_ADMIN_URL}: {exc}", 3)
    engine = create_database_engine(_postgres_url(name))
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(template_database: str, tmp_path: Path) -> Iterator[str]:
    """A database at the current schema head with no rows, for this test only.

    SQLite gets a copy of the template file; PostgreSQL reuses the template database, emptied
    and re-stamped before each test (cloning a database costs half a second, this a few ms).
    """
    if BACKEND == "sqlite":
        path = tmp_path / "rxbench.sqlite3"
        shutil.copyfile(template_database, path)
        yield f"sqlite:///{path}"
        return
    url = _postgres_url(template_database)
    _reset_postgres(url)
    yield url


def _reset_postgres(url: str) -> None:
    engine = create_database_engine(url)
    with engine.begin() as connection:
        tables = connection.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).all()
        emptied = ", ".join(f'"{name}"' for name in tables if name != "alembic_version")
        if emptied:
            connection.execute(text(f"TRUNCATE {emptied} RESTART IDENTITY CASCADE"))
        connection.execute(text("DELETE FROM alembic_version"))
        connection.execute(
            text("INSERT INTO alembic_version VALUES (:head)"), {"head": migrate.head_revision()}
        )
    engine.dispose()


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, for migration tests."""
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    name = f"rxbench_empty_{uuid.uuid4().hex[:12]}"
    admin = _postgres_admin()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield _postgres_url(name)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        workstation="test-workstation",
        config_dir=tmp_path / "config",
        data_dir=tmp_path / "data",
        password_hash_profile="fast-insecure-for-tests",
        max_failed_logins=3,
        lockout_minutes=15,
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings)
    yield built
    built.close()


@pytest.fixture
def admin(services: Services) -> Actor:
    """The first-run administrator (also a pharmacist, as in a small independent pharmacy)."""
    return services.pharmacy.first_run(
        DEMO_PROFILE,
        admin_username="admin",
        admin_full_name="Ada Administrator",
        admin_password=TEST_PASSWORD,
    )


def _add(services: Services, admin: Actor, username: str, role: Role) -> Actor:
    services.users.add_user(
        admin,
        username=username,
        full_name=username.title(),
        password=TEST_PASSWORD,
        roles=frozenset({role}),
    )
    return services.auth.login(username, TEST_PASSWORD)


@pytest.fixture
def technician(services: Services, admin: Actor) -> Actor:
    return _add(services, admin, "tess", Role.TECHNICIAN)


@pytest.fixture
def pharmacist(services: Services, admin: Actor) -> Actor:
    return _add(services, admin, "phil", Role.PHARMACIST)


@pytest.fixture(scope="session")
def python_executable() -> str:
    return sys.executable

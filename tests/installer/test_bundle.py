"""The frozen bundle: installer/rxbench.spec builds it, and both executables run from it."""

from __future__ import annotations

import importlib.metadata
import os
import re
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from app.db import migrate

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "installer" / "rxbench.spec"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXE_SUFFIX = ".exe" if sys.platform == "win32" else ""
BUILD_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 120

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("RXBENCH_TEST_BACKEND", "sqlite") != "sqlite",
        reason="the bundle is the same whatever the database: it is built and run on SQLite only",
    ),
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the one-folder bundle under a temporary directory; return its folder."""
    build_root = tmp_path_factory.mktemp("pyinstaller")
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--distpath",
            str(build_root / "dist"),
            "--workpath",
            str(build_root / "build"),
            str(SPEC),
        ],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"PyInstaller failed:\n{result.stderr[-6000:]}"
    folder = build_root / "dist" / PROJECT["name"]
    files = [path for path in folder.rglob("*") if path.is_file() and not path.is_symlink()]
    size_mb = sum(path.stat().st_size for path in files) / 1e6
    print(f"bundle built in {time.monotonic() - started:.0f} s, {size_mb:.0f} MB: {folder}")
    return folder


@pytest.fixture
def frozen_env(tmp_path: Path) -> dict[str, str]:
    """An environment pointing the frozen executables at a fresh SQLite file inside tmp_path."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RXBENCH_", "PYTHON"))
    }
    env.update(
        QT_QPA_PLATFORM="offscreen",
        RXBENCH_DATABASE_URL=f"sqlite:///{(tmp_path / 'x.sqlite3').as_posix()}",
        RXBENCH_CONFIG_DIR=str(tmp_path / "config"),
        RXBENCH_DATA_DIR=str(tmp_path / "data"),
    )
    return env


def _contents(bundle: Path) -> Path:
    """The folder PyInstaller makes sys._MEIPASS: `_internal` beside the executables."""
    return bundle / "_internal"


def _run(executable: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(executable), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def _explain(result: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    """Everything a failed frozen run left behind: its output and its log files."""
    logs = "\n".join(
        f"--- {path.name}:\n{path.read_text(encoding='utf-8', errors='replace')[-4000:]}"
        for path in sorted((tmp_path / "data" / "logs").glob("*.log"))
    )
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{logs}"


def _schema_revision(database: Path) -> str | None:
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def test_bundle_holds_both_executables_the_migrations_and_the_resources(bundle: Path) -> None:
    assert (bundle / f"rxbench{EXE_SUFFIX}").is_file()
    assert (bundle / f"rxbench-admin{EXE_SUFFIX}").is_file()
    contents = _contents(bundle)
    migrations = ROOT / "app" / "db" / "migrations"
    shipped = contents / "app" / "db" / "migrations"
    for source in [*migrations.glob("*.py"), *migrations.glob("*.mako")]:
        assert (shipped / source.name).read_bytes() == source.read_bytes()
    versions = {path.name for path in (migrations / "versions").glob("*.py")}
    assert {path.name for path in (shipped / "versions").glob("*.py")} == versions
    assert (contents / "resources" / "icons" / "rxbench.svg").is_file()
    assert not list(shipped.rglob("__pycache__"))


def test_bundle_leaves_out_the_qt_modules_it_does_not_use(bundle: Path) -> None:
    unused = re.compile(r"Qt6?(WebEngine|Qml|Quick|3D|Multimedia|Pdf|VirtualKeyboard)", re.I)
    assert [path.name for path in bundle.rglob("*") if unused.search(path.name)] == []
    assert not list(bundle.rglob("*tkinter*"))


def test_bundle_carries_the_project_version(bundle: Path, frozen_env: dict[str, str]) -> None:
    """app.__version__ reads the metadata when frozen; without it the bundle says 0.0.0."""
    found = {
        distribution.metadata["Name"]: distribution.version
        for distribution in importlib.metadata.distributions(path=[str(_contents(bundle))])
    }
    assert found.get(PROJECT["name"]) == PROJECT["version"], found
    result = _run(bundle / f"rxbench-admin{EXE_SUFFIX}", "--version", env=frozen_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"rxbench-admin {PROJECT['version']}"


def test_frozen_workstation_starts_on_an_empty_database(
    bundle: Path, frozen_env: dict[str, str], tmp_path: Path
) -> None:
    result = _run(bundle / f"rxbench{EXE_SUFFIX}", "--smoke", env=frozen_env)
    assert result.returncode == 0, _explain(result, tmp_path)
    ready = re.search(r"ready in (\d+) ms", result.stdout)
    assert ready, _explain(result, tmp_path)
    print(f"frozen rxbench --smoke: ready in {ready.group(1)} ms")
    # The migrations ran from the files shipped in the bundle, up to this code's head.
    assert _schema_revision(tmp_path / "x.sqlite3") == migrate.head_revision()


def test_frozen_admin_reports_and_upgrades_the_schema(
    bundle: Path, frozen_env: dict[str, str], tmp_path: Path
) -> None:
    database = ["--database", frozen_env.pop("RXBENCH_DATABASE_URL")]
    admin = bundle / f"rxbench-admin{EXE_SUFFIX}"

    before = _run(admin, *database, "db", "status", env=frozen_env)
    assert before.returncode == 0, _explain(before, tmp_path)
    assert "Schema revision: (empty database)" in before.stdout

    upgrade = _run(admin, *database, "db", "upgrade", env=frozen_env)
    assert upgrade.returncode == 0, _explain(upgrade, tmp_path)

    after = _run(admin, *database, "db", "status", env=frozen_env)
    assert after.returncode == 0, _explain(after, tmp_path)
    assert f"Schema revision: {migrate.head_revision()}" in after.stdout
    assert "Status: up to date" in after.stdout


def test_frozen_admin_exports_a_label_pdf_without_a_display(
    bundle: Path, frozen_env: dict[str, str], tmp_path: Path
) -> None:
    """`rxbench-admin label` paints with the Qt the bundle ships, offscreen."""
    admin = bundle / f"rxbench-admin{EXE_SUFFIX}"
    frozen_env.pop("QT_QPA_PLATFORM")
    demo = _run(admin, "demo", env=frozen_env)
    assert demo.returncode == 0, _explain(demo, tmp_path)
    exported = _run(admin, "label", "--all", "--pdf", str(tmp_path / "labels"), env=frozen_env)
    assert exported.returncode == 0, _explain(exported, tmp_path)
    pdfs = sorted((tmp_path / "labels").glob("*.pdf"))
    assert pdfs and all(pdf.read_bytes().startswith(b"%PDF") for pdf in pdfs)

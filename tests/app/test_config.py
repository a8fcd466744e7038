"""Settings: file in the config dir, environment overrides, explicit URL wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ENV_DATABASE_URL, load_settings, save_settings


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RXBENCH_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("RXBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    monkeypatch.delenv("RXBENCH_WORKSTATION", raising=False)
    monkeypatch.delenv("RXBENCH_PASSWORD_HASH_PROFILE", raising=False)
    return tmp_path


def test_default_is_a_sqlite_file_in_the_user_data_dir(dirs: Path) -> None:
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{dirs / 'data' / 'rxbench.sqlite3'}"
    assert settings.password_hash_profile == "production"
    assert settings.workstation


def test_settings_file_round_trips_and_env_overrides_it(
    dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = load_settings("postgresql://rx@server/rx")
    written = save_settings(
        original.__class__(
            **{**original.__dict__, "workstation": "counter-2", "idle_lock_minutes": 3}
        )
    )
    assert written == dirs / "config" / "settings.ini"
    reread = load_settings()
    assert (reread.database_url, reread.workstation, reread.idle_lock_minutes) == (
        "postgresql://rx@server/rx",
        "counter-2",
        3,
    )
    monkeypatch.setenv(ENV_DATABASE_URL, "sqlite:////tmp/other.sqlite3")
    assert load_settings().database_url == "sqlite:////tmp/other.sqlite3"
    assert load_settings("postgresql://x@y/z").database_url == "postgresql://x@y/z"


def test_unknown_hash_profile_falls_back_to_production(
    dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RXBENCH_PASSWORD_HASH_PROFILE", "none-please")
    assert load_settings().password_hash_profile == "production"
    monkeypatch.setenv("RXBENCH_PASSWORD_HASH_PROFILE", "fast-insecure-for-tests")
    assert load_settings().password_hash_profile == "fast-insecure-for-tests"

"""Workstation settings: where the database is, who this workstation is, security timings.

Settings live in an INI file in the platform's config directory so a support person can read
and edit it; environment variables override the file (used by tests, CI and benchmarks).
Only workstation-level facts live here; the pharmacy profile is shared and lives in the database.
"""

from __future__ import annotations

import configparser
import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

APP_NAME = "RxBench"
SETTINGS_FILE_NAME = "settings.ini"

ENV_DATABASE_URL = "RXBENCH_DATABASE_URL"
ENV_CONFIG_DIR = "RXBENCH_CONFIG_DIR"
ENV_DATA_DIR = "RXBENCH_DATA_DIR"
ENV_WORKSTATION = "RXBENCH_WORKSTATION"
ENV_PASSWORD_HASH_PROFILE = "RXBENCH_PASSWORD_HASH_PROFILE"

PASSWORD_HASH_PROFILES = ("production", "fast-insecure-for-tests")


@dataclass(frozen=True)
class Settings:
    """Everything the composition root needs to build the engine and the services."""

    database_url: str
    workstation: str
    config_dir: Path
    data_dir: Path
    idle_lock_minutes: int = 5
    max_failed_logins: int = 5
    lockout_minutes: int = 15
    password_hash_profile: str = "production"
    # Where claims go: "" is training mode (the in-process training payer, no network);
    # "host:port" is a switch speaking RxBench's length-framed D.0 over TCP (TLS if claims_tls).
    claims_switch: str = ""
    claims_tls: bool = False
    claims_timeout_seconds: float = 15.0
    # Training mode's plan rules: a JSON rules file (the README's "Claims" section), or "" for
    # the built-in training plans. `rxbench-admin payer serve --rules` reads the same file.
    claims_training_rules: str = ""

    @property
    def settings_file(self) -> Path:
        return self.config_dir / SETTINGS_FILE_NAME

    @property
    def backup_dir(self) -> Path:
        return self.data_dir / "backups"

    def with_database(self, url: str) -> Settings:
        return replace(self, database_url=url)


def default_config_dir() -> Path:
    return Path(os.environ.get(ENV_CONFIG_DIR) or platformdirs.user_config_dir(APP_NAME, False))


def default_data_dir() -> Path:
    return Path(os.environ.get(ENV_DATA_DIR) or platformdirs.user_data_dir(APP_NAME, False))


def default_sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'rxbench.sqlite3').as_posix()}"


def load_settings(database_url: str | None = None) -> Settings:
    """Read the settings file (if any), then environment overrides, then an explicit URL."""
    config_dir = default_config_dir()
    data_dir = default_data_dir()
    parser = configparser.ConfigParser()
    parser.read(config_dir / SETTINGS_FILE_NAME, encoding="utf-8")

    url = (
        database_url
        or os.environ.get(ENV_DATABASE_URL)
        or parser.get("database", "url", fallback="")
        or default_sqlite_url(data_dir)
    )
    workstation = (
        os.environ.get(ENV_WORKSTATION)
        or parser.get("workstation", "name", fallback="")
        or socket.gethostname()
    )
    profile = os.environ.get(ENV_PASSWORD_HASH_PROFILE) or parser.get(
        "security", "password_hash_profile", fallback="production"
    )
    if profile not in PASSWORD_HASH_PROFILES:
        profile = "production"
    return Settings(
        database_url=url,
        workstation=workstation,
        config_dir=config_dir,
        data_dir=data_dir,
        idle_lock_minutes=parser.getint("security", "idle_lock_minutes", fallback=5),
        max_failed_logins=parser.getint("security", "max_failed_logins", fallback=5),
        lockout_minutes=parser.getint("security", "lockout_minutes", fallback=15),
        password_hash_profile=profile,
        claims_switch=parser.get("claims", "switch", fallback=""),
        claims_tls=parser.getboolean("claims", "tls", fallback=False),
        claims_timeout_seconds=parser.getfloat("claims", "timeout_seconds", fallback=15.0),
        claims_training_rules=parser.get("claims", "training_rules", fallback=""),
    )


def save_settings(settings: Settings) -> Path:
    """Write the workstation's settings file; the URL is stored only if it is not the default."""
    parser = configparser.ConfigParser()
    parser["database"] = {}
    if settings.database_url != default_sqlite_url(settings.data_dir):
        parser["database"]["url"] = settings.database_url
    parser["workstation"] = {"name": settings.workstation}
    parser["security"] = {
        "idle_lock_minutes": str(settings.idle_lock_minutes),
        "max_failed_logins": str(settings.max_failed_logins),
        "lockout_minutes": str(settings.lockout_minutes),
        "password_hash_profile": settings.password_hash_profile,
    }
    parser["claims"] = {
        "switch": settings.claims_switch,
        "tls": "yes" if settings.claims_tls else "no",
        "timeout_seconds": f"{settings.claims_timeout_seconds:g}",
        "training_rules": settings.claims_training_rules,
    }
    settings.config_dir.mkdir(parents=True, exist_ok=True)
    with settings.settings_file.open("w", encoding="utf-8") as handle:
        parser.write(handle)
    return settings.settings_file

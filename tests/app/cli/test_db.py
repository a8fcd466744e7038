"""`rxbench-admin db upgrade|status`."""

from __future__ import annotations

from app.db.migrate import head_revision
from tests.app.cli.conftest import RunCli


def test_upgrade_an_empty_database_then_status(run_cli: RunCli, empty_database_url: str) -> None:
    before = run_cli("--database", empty_database_url, "db", "status")
    upgraded = run_cli("--database", empty_database_url, "db", "upgrade")
    after = run_cli("--database", empty_database_url, "db", "status")
    again = run_cli("--database", empty_database_url, "db", "upgrade")

    head = head_revision()
    assert (before.code, upgraded.code, after.code, again.code) == (0, 0, 0, 0)
    assert "Schema revision: (empty database)" in before.out
    assert "needs upgrading" in before.out
    assert f"Upgraded the schema from (empty database) to {head}." in upgraded.out
    assert f"Schema revision: {head}" in after.out
    assert "Status: up to date" in after.out
    assert after.out.startswith("Database: SQLite ") or after.out.startswith(
        "Database: PostgreSQL "
    )
    assert "already up to date" in again.out

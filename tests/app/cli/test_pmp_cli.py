"""`rxbench-admin pmp pending|export|sent` on a pharmacy that dispensed a C-II two days ago."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from app.bootstrap import Services
from app.domain import asap
from app.services.unit_of_work import Actor
from tests.app.cli.conftest import RunCli
from tests.app.services.pmp_data import controlled_fill, dispense
from tests.app.services.verification_data import OXYCODONE


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The folder the files are exported into (tmp_path also holds the SQLite database)."""
    folder = tmp_path / "pmp-files"
    folder.mkdir()
    return folder


@pytest.fixture
def two_days_ago(services: Services, admin: Actor) -> date:
    """The day (the computer's local day, as the CLI counts) a C-II fill was dispensed."""
    day = date.today() - timedelta(days=2)
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)
    dispense(services, admin, fill_id, lot_id, 20, datetime.combine(day, time(12)).astimezone())
    return day


def test_pending_lists_the_days_without_a_file(
    run_cli: RunCli, database_url: str, two_days_ago: date
) -> None:
    result = run_cli("--database", database_url, "pmp", "pending")

    assert result.code == 0, result.err
    yesterday = two_days_ago + timedelta(days=1)
    assert result.out.splitlines() == [
        two_days_ago.isoformat(),
        yesterday.isoformat(),
        "2 day(s) without a PMP file.",
    ]


def test_export_pending_saves_each_days_file_and_sent_records_it(
    run_cli: RunCli, database_url: str, two_days_ago: date, out: Path
) -> None:
    exported = run_cli("--database", database_url, "pmp", "export", "--pending", "--out", str(out))

    assert exported.code == 0, exported.err
    saved = sorted(out.iterdir())
    assert [path.name for path in saved] == [
        f"1234567_IL_{two_days_ago:%Y%m%d}.dat",
        f"1234567_IL_{two_days_ago + timedelta(days=1):%Y%m%d}.dat",
    ]
    assert len(asap.read_file(saved[0].read_text("ascii")).records) == 1
    assert asap.read_file(saved[1].read_text("ascii")).zero_report
    assert "1 record(s)" in exported.out and "zero report" in exported.out
    assert run_cli("--database", database_url, "pmp", "pending").out.strip() == (
        "Every day has its PMP file."
    )

    sent = run_cli("--database", database_url, "pmp", "sent", "--id", "1", "--to", "sftp://pmp")
    assert sent.code == 0, sent.err
    assert "sent to sftp://pmp" in sent.out
    again = run_cli("--database", database_url, "pmp", "sent", "--id", "1", "--to", "sftp://pmp")
    assert again.code == 1 and "already marked sent" in again.err


def test_export_of_a_day_already_made_saves_it_as_made(
    run_cli: RunCli, database_url: str, two_days_ago: date, out: Path
) -> None:
    day = two_days_ago.isoformat()
    first = run_cli("--database", database_url, "pmp", "export", "--date", day, "--out", str(out))
    again = run_cli("--database", database_url, "pmp", "export", "--date", day, "--out", str(out))
    remade = run_cli(
        "--database",
        database_url,
        "pmp",
        "export",
        "--date",
        day,
        "--again",
        "--out",
        str(out),
    )

    assert (first.code, again.code, remade.code) == (0, 0, 0), remade.err
    assert first.out.split(" → ")[0] == again.out.split(" → ")[0]  # the same file, #1
    assert remade.out.startswith("#2 ")
    assert len(list(out.iterdir())) == 2  # the replacement has its own name


def test_refusals_exit_1_with_the_reason(
    run_cli: RunCli, database_url: str, two_days_ago: date, out: Path
) -> None:
    later = (two_days_ago + timedelta(days=1)).isoformat()
    out_of_order = run_cli(
        "--database", database_url, "pmp", "export", "--date", later, "--out", str(out)
    )
    no_folder = run_cli(
        "--database", database_url, "pmp", "export", "--pending", "--out", str(out / "x")
    )
    bad_date = run_cli(
        "--database", database_url, "pmp", "export", "--date", "26/11", "--out", str(out)
    )
    missing = run_cli("--database", database_url, "pmp", "sent", "--id", "9", "--to", "x")

    assert out_of_order.code == 1 and f"first: {two_days_ago.isoformat()}" in out_of_order.err
    assert no_folder.code == 1 and "no folder" in no_folder.err
    assert bad_date.code == 1 and "YYYY-MM-DD" in bad_date.err
    assert missing.code == 1 and "no PMP file 9" in missing.err
    assert list(out.iterdir()) == []

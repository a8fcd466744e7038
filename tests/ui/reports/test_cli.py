"""`rxbench-admin controlled-inventory`: the inventories listed, one exported as PDF and CSV,
each export audited; a wrong command line or inventory is refused with a reason."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent
from app.services.controlled import CSV_COLUMNS
from app.services.unit_of_work import Actor
from tests.app.cli.conftest import CliRun
from tests.app.services.controlled_data import counted_lines, stock_controlled
from ui.admin import main


@pytest.fixture
def run_admin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("RXBENCH_PASSWORD_HASH_PROFILE", "fast-insecure-for-tests")
    monkeypatch.setenv("RXBENCH_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("RXBENCH_WORKSTATION", "cli-inventory")

    def run(*args: str) -> CliRun:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


@pytest.fixture
def inventory_id(services: Services, admin: Actor, technician: Actor) -> int:
    stocked = stock_controlled(services, admin, technician)
    report = services.controlled.take_inventory(
        technician,
        kind="biennial",
        timing="opening",
        taken_on=date.today(),
        lines=counted_lines(stocked),
    )
    return report.inventory_id


def test_list_names_each_inventory(run_admin, database_url: str, inventory_id: int) -> None:
    result = run_admin("--database", database_url, "controlled-inventory", "--list")

    assert result.code == 0, result.err
    assert f"{inventory_id}  {date.today().isoformat()}  Biennial inventory" in result.out
    assert "opening of business; 4 lines; taken by Tess (tess)" in result.out


def test_export_writes_pdf_and_csv_and_audits_each(
    qapp, run_admin, database_url: str, services: Services, inventory_id: int, tmp_path: Path
) -> None:
    pdf, table = tmp_path / "inventory.pdf", tmp_path / "inventory.csv"

    result = run_admin(
        "--database",
        database_url,
        "controlled-inventory",
        "--id",
        str(inventory_id),
        "--pdf",
        str(pdf),
        "--csv",
        str(table),
    )

    assert result.code == 0, result.err
    assert "1 page →" in result.out
    text = " ".join(pypdf.PdfReader(pdf).pages[0].extract_text().split())
    assert "Taken at the opening of business" in text and "SCHEDULE II" in text
    with table.open(newline="", encoding="utf-8") as opened:
        rows = list(csv.reader(opened))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 5
    with services.database.reading() as session:
        exports = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "controlled_inventory.exported")
        ).all()
    assert sorted(event.summary["file_format"] for event in exports) == ["csv", "pdf"]
    assert all(event.username.startswith("cli:") for event in exports)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Give --list, or --id N"),
        (("--id", "1"), "Say where inventory N goes"),
        (("--list", "--pdf", "x.pdf"), "go with --id N"),
        (("--id", "999", "--csv", "x.csv"), "no controlled-substance inventory 999"),
    ],
)
def test_wrong_command_lines_are_refused(
    run_admin, database_url: str, services: Services, args, message
) -> None:
    result = run_admin("--database", database_url, "controlled-inventory", *args)

    assert result.code == 1
    assert message in result.err

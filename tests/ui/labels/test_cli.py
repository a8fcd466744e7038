"""`rxbench-admin label`: label PDFs from the command line, audited as exports, never as prints."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import AuditEvent, LabelPrint
from app.demo import load_demo
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.services.fills import read_fill_row
from app.services.passwords import SecretHasher
from app.services.unit_of_work import Actor
from tests.app.cli.conftest import CliRun
from tests.app.services.verification_data import catalogue_fill
from ui.admin import main

WORKSTATION = "cli-label-workstation"
THERMAL_PAGE = (288.0, 162.0)  # 4 × 2.25 in, in PDF points
LETTER_PAGE = (612.0, 792.0)
RunAdmin = Callable[..., CliRun]


@pytest.fixture
def admin_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Configuration through the environment, as a support person's script would set it."""
    monkeypatch.setenv("RXBENCH_PASSWORD_HASH_PROFILE", "fast-insecure-for-tests")
    monkeypatch.setenv("RXBENCH_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("RXBENCH_WORKSTATION", WORKSTATION)
    return dict(os.environ)


@pytest.fixture
def run_admin(admin_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> RunAdmin:
    """`rxbench-admin ARGS…` as installed (ui.admin, with the label command), in-process."""

    def run(*args: str) -> CliRun:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


def rx_text(services: Services, fill_id: int) -> str:
    with services.database.reading() as session:
        row = read_fill_row(session, fill_id)
    return f"{row.rx_number}-{row.fill_number}"


def page_sizes(path: Path) -> list[tuple[float, float]]:
    return [
        (round(float(page.mediabox.width), 1), round(float(page.mediabox.height), 1))
        for page in pypdf.PdfReader(path).pages
    ]


def pdf_text(path: Path) -> str:
    pages = pypdf.PdfReader(path).pages
    return " ".join(" ".join((page.extract_text() or "").split()) for page in pages)


def exported_events(services: Services) -> list[AuditEvent]:
    with services.database.reading() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "label.exported")
                .order_by(AuditEvent.id)
            )
        )


def print_count(services: Services) -> int:
    with services.database.reading() as session:
        return session.scalar(select(func.count()).select_from(LabelPrint)) or 0


def test_one_fill_exports_to_a_pdf_of_the_stock_page_audited_as_an_export(
    run_admin: RunAdmin, database_url: str, services: Services, admin: Actor, tmp_path: Path
) -> None:
    fill_id = catalogue_fill(services, admin, FillState.FILL)
    rx = rx_text(services, fill_id)
    target = tmp_path / "label.pdf"

    result = run_admin("--database", database_url, "label", rx.split("-")[0], "--pdf", str(target))

    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == f"Rx {rx}: 1 label, 1 page → {target}"
    assert page_sizes(target) == [THERMAL_PAGE]
    text = pdf_text(target)
    for expected in ("Wendell Quibble", "Take 1 tablet by mouth once daily.", f"RX{rx}"):
        assert expected in text
    assert "REPRINT" not in text
    # An export is not a print: no print record, so the first real print is still the original.
    assert print_count(services) == 0
    [event] = exported_events(services)
    assert (event.entity_type, event.entity_id) == ("fills", str(fill_id))
    assert (event.username, event.workstation) == (f"cli:{getpass.getuser()}", WORKSTATION)
    assert event.summary == {"rx": rx, "path": str(target)}


def test_a_named_fill_on_the_letter_sheet_in_english(
    run_admin: RunAdmin, database_url: str, services: Services, admin: Actor, tmp_path: Path
) -> None:
    fill_id = catalogue_fill(services, admin, FillState.FILL)
    rx_number, fill_number = rx_text(services, fill_id).split("-")
    target = tmp_path / "sheet.pdf"

    result = run_admin(
        "--database",
        database_url,
        "label",
        rx_number,
        "--fill",
        fill_number,
        "--stock",
        "LETTER",
        "--language",
        "en",
        "--pdf",
        str(target),
    )

    assert result.code == 0, result.err
    assert page_sizes(target) == [LETTER_PAGE]
    assert f"RX{rx_number}-{fill_number}" in pdf_text(target)


def test_a_fill_before_data_review_exports_as_a_preview_and_says_so(
    run_admin: RunAdmin, database_url: str, services: Services, admin: Actor, tmp_path: Path
) -> None:
    fill_id = catalogue_fill(services, admin, FillState.DATA_REVIEW)
    rx = rx_text(services, fill_id)
    target = tmp_path / "preview.pdf"

    result = run_admin("--database", database_url, "label", rx.split("-")[0], "--pdf", str(target))

    assert result.code == 0, result.err
    assert f"Note: Rx {rx} is at “Pharmacist data review”: its label prints only after" in (
        result.out
    )
    assert f"RX{rx}" in pdf_text(target)
    assert print_count(services) == 0
    assert len(exported_events(services)) == 1


def test_every_printable_demo_fill_exports_to_its_own_pdf(
    run_admin: RunAdmin, database_url: str, services: Services, tmp_path: Path
) -> None:
    loader = Actor(None, "demo-test", "Demo test", frozenset({Role.ADMINISTRATOR}), "test-ws")
    load_demo(services.database, loader, hasher=SecretHasher("fast-insecure-for-tests"))
    printable = services.labels.labelled_fills(loader)
    prints_before = print_count(services)
    folder = tmp_path / "labels" / "today"

    result = run_admin("--database", database_url, "label", "--all", "--pdf", str(folder))

    assert result.code == 0, result.err
    expected = {f"{fill.rx_number}-{fill.fill_number}.pdf" for fill in printable}
    assert len(expected) >= 10
    assert {path.name for path in folder.iterdir()} == expected
    assert result.out.splitlines()[-1] == f"Exported {len(expected)} label PDFs to {folder}."
    for fill in printable[:5]:
        path = folder / f"{fill.rx_number}-{fill.fill_number}.pdf"
        assert all(size == THERMAL_PAGE for size in page_sizes(path))
        assert f"RX{fill.rx_number}-{fill.fill_number}" in pdf_text(path)
    assert sorted(int(event.entity_id or 0) for event in exported_events(services)) == sorted(
        fill.fill_id for fill in printable
    )
    assert print_count(services) == prints_before


def test_a_fill_that_does_not_exist_is_refused_and_nothing_is_written(
    run_admin: RunAdmin, database_url: str, services: Services, admin: Actor, tmp_path: Path
) -> None:
    fill_id = catalogue_fill(services, admin, FillState.FILL)
    rx_number = rx_text(services, fill_id).split("-")[0]
    target = tmp_path / "none.pdf"

    no_rx = run_admin("--database", database_url, "label", "123", "--pdf", str(target))
    no_fill = run_admin(
        "--database", database_url, "label", rx_number, "--fill", "7", "--pdf", str(target)
    )

    assert (no_rx.code, no_rx.err) == (1, "rxbench-admin: There is no Rx 123.\n")
    assert (no_fill.code, no_fill.err) == (1, f"rxbench-admin: Rx {rx_number} has no fill 7.\n")
    assert not target.exists()
    assert exported_events(services) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("label", "--pdf", "x.pdf"), "Name one Rx number, or give --all (not both)."),
        (("label", "1", "--all", "--pdf", "x"), "Name one Rx number, or give --all (not both)."),
        (("label", "--all", "--fill", "1", "--pdf", "x"), "--fill goes with an Rx number"),
        (("label", "1", "--pdf", "x.pdf", "--stock", "vellum"), "“vellum” is not a label stock"),
        (("label", "1", "--pdf", "x.pdf", "--stock", "label"), "“label” matches several stocks"),
    ],
)
def test_invalid_command_lines_are_refused_with_exit_1(
    run_admin: RunAdmin,
    database_url: str,
    admin: Actor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_admin("--database", database_url, *args)

    assert result.code == 1
    assert result.err.startswith("rxbench-admin: ") and message in result.err
    assert list(tmp_path.glob("x*")) == []


def test_a_folder_that_cannot_be_written_is_an_environment_fault(
    run_admin: RunAdmin, database_url: str, services: Services, admin: Actor, tmp_path: Path
) -> None:
    fill_id = catalogue_fill(services, admin, FillState.FILL)
    rx_number = rx_text(services, fill_id).split("-")[0]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")

    result = run_admin(
        "--database", database_url, "label", rx_number, "--pdf", str(blocker / "label.pdf")
    )

    assert result.code == 2
    assert result.err.startswith(f"rxbench-admin: Could not write the label PDF {blocker}")
    assert exported_events(services) == []


def test_the_installed_command_runs_without_a_display_and_the_core_has_no_label_command(
    admin_env: dict[str, str], database_url: str, services: Services, admin: Actor, tmp_path: Path
) -> None:
    """The console script (ui.admin) renders offscreen on its own; `python -m app.cli` stays
    Qt-free, so it does not know the command."""
    fill_id = catalogue_fill(services, admin, FillState.FILL)
    rx_number = rx_text(services, fill_id).split("-")[0]
    target = tmp_path / "script.pdf"
    env = {
        key: value for key, value in admin_env.items() if key not in ("QT_QPA_PLATFORM", "DISPLAY")
    }
    script = Path(sys.executable).with_name("rxbench-admin")

    installed = subprocess.run(
        [str(script), "--database", database_url, "label", rx_number, "--pdf", str(target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    core = subprocess.run(
        [sys.executable, "-m", "app.cli", "label", rx_number, "--pdf", str(target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert installed.returncode == 0, installed.stderr
    assert page_sizes(target) == [THERMAL_PAGE]
    assert core.returncode == 1
    assert "invalid choice: 'label'" in core.stderr

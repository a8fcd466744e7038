"""Importing the drug catalogue from the window: progress, summary, refusals, its age shown."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.bootstrap import Services
from app.demo import DEMO_CATALOGUE_DIR
from app.services.catalogue import SnapshotInfo
from app.services.unit_of_work import Actor
from ui.dialogs.catalogue_import import CatalogueImportDialog, describe_snapshot
from ui.tasks import TaskRunner

IMPORT_TIMEOUT_MS = 30_000


@pytest.fixture
def dialog(qtbot, services: Services, admin: Actor) -> CatalogueImportDialog:
    tasks = TaskRunner()
    shown = CatalogueImportDialog(catalogue=services.catalogue, actor=admin, tasks=tasks)
    qtbot.addWidget(shown)
    shown.show()
    return shown


def test_import_by_keyboard_shows_progress_and_the_summary(
    qtbot, dialog: CatalogueImportDialog, services: Services, tmp_path: Path
) -> None:
    directory = tmp_path / "ndc"
    shutil.copytree(DEMO_CATALOGUE_DIR, directory)
    qtbot.keyClicks(dialog.path, str(directory))
    with qtbot.waitSignal(dialog.imported, timeout=IMPORT_TIMEOUT_MS) as done:
        qtbot.keyClick(dialog.path, Qt.Key.Key_Return)
    report = done.args[0]
    assert report.products > 50
    assert dialog.progress.value() == dialog.progress.maximum()
    assert f"{report.products:,} products" in dialog.summary.text()
    snapshot = services.catalogue.snapshot()
    assert snapshot is not None and snapshot.product_count == report.products


def test_a_file_that_is_not_the_directory_is_refused_inline(
    qtbot, dialog: CatalogueImportDialog, services: Services, tmp_path: Path
) -> None:
    bogus = tmp_path / "not-ndc.zip"
    bogus.write_bytes(b"this is not a zip file")
    qtbot.keyClicks(dialog.path, str(bogus))
    qtbot.keyClick(dialog.path, Qt.Key.Key_Return)
    qtbot.waitUntil(dialog.message.isVisible, timeout=IMPORT_TIMEOUT_MS)
    assert "not-ndc.zip" in dialog.message.text()
    assert dialog.import_button.isEnabled()
    assert services.catalogue.snapshot() is None


def test_a_technician_is_refused_by_the_service(
    qtbot, services: Services, technician: Actor, tmp_path: Path
) -> None:
    dialog = CatalogueImportDialog(
        catalogue=services.catalogue, actor=technician, tasks=TaskRunner()
    )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.path, str(DEMO_CATALOGUE_DIR))
    qtbot.keyClick(dialog.path, Qt.Key.Key_Return)
    qtbot.waitUntil(dialog.message.isVisible, timeout=IMPORT_TIMEOUT_MS)
    assert "pharmacist" in dialog.message.text()
    assert services.catalogue.snapshot() is None


def test_an_empty_path_asks_for_the_file(qtbot, dialog: CatalogueImportDialog) -> None:
    qtbot.keyClick(dialog.path, Qt.Key.Key_Return)
    assert dialog.message.text() == "Choose the directory file to import."


def _snapshot(taken: date) -> SnapshotInfo:
    return SnapshotInfo(
        snapshot_date=taken,
        imported_at=datetime(2026, 11, 1),
        source_name="ndctext.zip",
        product_count=1,
        package_count=1,
    )


def test_drug_data_age_is_stale_after_ninety_days() -> None:
    today = date(2026, 11, 25)
    assert describe_snapshot(None, today=today) == ("Drug data: none imported", True)
    fresh, stale = describe_snapshot(_snapshot(today - timedelta(days=90)), today=today)
    assert (fresh, stale) == ("Drug data: FDA directory of 08/27/2026 (90 days old)", False)
    assert describe_snapshot(_snapshot(date(2019, 4, 29)), today=today)[1] is True

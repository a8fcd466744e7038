"""Scanner settings page and dialog, and the Scanner test dialog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QComboBox, QLineEdit, QPushButton, QSpinBox

from tests.ui.dialogs.helpers import control
from tests.ui.scanner_keys import (
    GS1_WITH_GS,
    SCANNER_GAP_MS,
    FakeClock,
    focus,
    installed_scanner,
    scan,
)
from ui.dialogs.scanner_settings import (
    NO_TERMINATOR_PROBLEM,
    ScannerSettingsDialog,
    ScannerSettingsPage,
    ScannerTestDialog,
)
from ui.scanner import (
    ScannerSettings,
    Terminator,
    WedgeScannerFilter,
    load_scanner_settings,
    save_scanner_settings,
)


@pytest.fixture
def store(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "workstation.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def scanner(qapp: QApplication, clock: FakeClock) -> Iterator[WedgeScannerFilter]:
    with installed_scanner(qapp, clock) as scanner_filter:
        yield scanner_filter


def test_the_page_shows_the_stored_settings_and_saves_changes(qtbot, store):
    save_scanner_settings(store, ScannerSettings(max_gap_ms=50, gs_substitute="^"))
    page = ScannerSettingsPage()
    qtbot.addWidget(page)
    page.load(store)
    gap = control(page, "Longest gap between scanner keys")
    substitute = control(page, "Scanner types for GS separator")
    assert isinstance(gap, QSpinBox) and isinstance(substitute, QComboBox)
    assert gap.value() == 50
    assert substitute.currentData() == "^"

    gap.setValue(40)
    control(page, "Shortest barcode").setValue(8)
    substitute.setCurrentIndex(substitute.findData(None))
    control(page, "Scan ends with Tab").setChecked(False)
    saved = page.save()

    expected = ScannerSettings(
        max_gap_ms=40,
        min_length=8,
        terminators=frozenset({Terminator.ENTER}),
        gs_substitute=None,
    )
    assert saved == expected
    assert load_scanner_settings(store) == expected


def test_the_dialog_applies_saved_settings_to_the_running_filter(qtbot, store):
    scanner_filter = WedgeScannerFilter()
    dialog = ScannerSettingsDialog(store, scanner_filter)
    qtbot.addWidget(dialog)
    control(dialog, "Shortest barcode").setValue(10)
    dialog.accept()
    assert scanner_filter.settings.min_length == 10
    assert load_scanner_settings(store).min_length == 10


def test_a_scan_must_end_with_something(qtbot, store):
    scanner_filter = WedgeScannerFilter()
    dialog = ScannerSettingsDialog(store, scanner_filter)
    qtbot.addWidget(dialog)
    dialog.show()
    control(dialog, "Scan ends with Enter").setChecked(False)
    control(dialog, "Scan ends with Tab").setChecked(False)
    dialog.accept()
    assert control(dialog, "Message").text() == NO_TERMINATOR_PROBLEM
    assert dialog.isVisible()
    assert scanner_filter.settings == ScannerSettings()
    assert load_scanner_settings(store) == ScannerSettings()


@pytest.fixture
def test_dialog(qtbot, scanner) -> ScannerTestDialog:
    dialog = ScannerTestDialog(scanner)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    return dialog


def test_the_scanner_test_shows_gs_timing_and_interpretation(qtbot, scanner, test_dialog, clock):
    scans: list[str] = []
    scanner.scanned.connect(scans.append)
    focus(qtbot, test_dialog.findChild(QPushButton))
    with qtbot.waitSignal(scanner.captured):
        scan(qtbot, clock, GS1_WITH_GS)

    assert test_dialog.value("Characters") == "01003037861800111726043010LOT42␝21SER9⏎"
    assert test_dialog.value("Length") == "38 characters, of which 1 GS separator"
    assert f"longest gap {SCANNER_GAP_MS} ms (limit 35 ms)" in test_dialog.value("Timing")
    assert test_dialog.value("Read as") == "GS1 DataMatrix or GS1-128"
    assert test_dialog.value("NDC").startswith("0378-6180-01 or ")
    assert test_dialog.value("GTIN") == "00303786180011"
    assert test_dialog.value("Lot") == "LOT42"
    assert test_dialog.value("Expiry") == "2026-04-30"
    assert test_dialog.value("Serial") == "SER9"
    assert not control(test_dialog, "Message").isVisible()
    assert scans == []  # a test scan reaches no panel
    assert test_dialog.isVisible()  # and its Enter closed nothing


def test_the_scanner_test_says_why_a_scan_cannot_be_used(qtbot, scanner, test_dialog, clock):
    with qtbot.waitSignal(scanner.captured):
        scan(qtbot, clock, "036000291453")
    message = control(test_dialog, "Message")
    assert message.isVisible()
    assert "check digit" in message.text()
    assert test_dialog.value("Read as") == "—"

    with qtbot.waitSignal(scanner.captured):
        scan(qtbot, clock, "0378ß6180ß01")
    assert "keyboard layout" in message.text()
    assert test_dialog.value("Characters") == "0378ß6180ß01⏎"


def test_scans_reach_panels_again_once_the_test_is_closed(qtbot, scanner, test_dialog, clock):
    test_dialog.close()
    panel = QLineEdit()
    qtbot.addWidget(panel)
    panel.show()
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow)
    focus(qtbot, panel)
    with qtbot.waitSignal(scanner.scanned) as signal:
        scan(qtbot, clock, "0378618001")
    assert signal.args == ["0378618001"]

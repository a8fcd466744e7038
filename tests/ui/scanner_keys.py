"""Keys as a scanner or a person types them, on a fake clock, for the scanner tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QWidget

from ui.scanner import ScannerSettings, WedgeScannerFilter

GS = "\x1d"
GS1_WITH_GS = "01003037861800111726043010LOT42" + GS + "21SER9"  # NDC 0378-6180-01
SCANNER_GAP_MS = 5
PERSON_GAP_MS = 150


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@contextmanager
def installed_scanner(app: QApplication, clock: FakeClock) -> Iterator[WedgeScannerFilter]:
    """A filter on the fake clock, on the application for one test only."""
    scanner_filter = WedgeScannerFilter(ScannerSettings(), clock=clock)
    app.installEventFilter(scanner_filter)
    try:
        yield scanner_filter
    finally:
        app.removeEventFilter(scanner_filter)


def focus(qtbot, widget: QWidget) -> None:
    widget.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget)


def type_keys(qtbot, clock: FakeClock, text: str, gap_ms: int, target=None) -> None:
    """Each character `gap_ms` after the one before, to the focused widget (or `target`)."""
    for char in text:
        clock.advance(gap_ms)
        if char == GS:
            press_ctrl_bracket(qtbot, target or QApplication.focusWidget())
        elif not char.isascii():  # QTest makes text of a key code, Latin-1 only
            send_character(target or QApplication.focusWidget(), char)
        else:
            qtbot.keyClick(target or QApplication.focusWidget(), char)


def send_key(target, kind: QEvent.Type, key: Qt.Key, modifiers: Qt.KeyboardModifier) -> None:
    QApplication.sendEvent(target, QKeyEvent(kind, key, modifiers))


def send_character(target, char: str) -> None:
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        QApplication.sendEvent(target, QKeyEvent(kind, 0, Qt.KeyboardModifier.NoModifier, char))


def press_ctrl_bracket(qtbot, target) -> None:
    qtbot.keyClick(target, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.ControlModifier)


def press(qtbot, clock: FakeClock, key: Qt.Key, gap_ms: int, target=None) -> None:
    clock.advance(gap_ms)
    qtbot.keyClick(target or QApplication.focusWidget(), key)


def scan(qtbot, clock: FakeClock, text: str, key: Qt.Key = Qt.Key.Key_Return) -> None:
    type_keys(qtbot, clock, text, SCANNER_GAP_MS)
    press(qtbot, clock, key, SCANNER_GAP_MS)


def let_time_pass(qtbot, clock: FakeClock, scanner_filter: WedgeScannerFilter, ms: int) -> None:
    """Advance the clock and let the filter's silence timer notice."""
    clock.advance(ms)
    qtbot.wait(scanner_filter.settings.max_gap_ms + 20)

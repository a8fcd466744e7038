"""Keyboard-wedge scanner capture: bursts, typing, GS, routing, settings (ui/scanner.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tests.ui.scanner_keys import (
    GS,
    GS1_WITH_GS,
    PERSON_GAP_MS,
    SCANNER_GAP_MS,
    FakeClock,
    focus,
    installed_scanner,
    let_time_pass,
    press,
    scan,
    send_character,
    send_key,
    type_keys,
)
from ui.scanner import (
    ScanCapture,
    ScanLineEdit,
    ScannerSettings,
    ScanRouter,
    Terminator,
    WedgeScannerFilter,
    install_scanner,
    load_scanner_settings,
    save_scanner_settings,
    visible_controls,
)


class Bench(QDialog):
    """A dialog like the panels': a notes field, a scan field, an OK button that is default."""

    def __init__(self) -> None:
        super().__init__()
        self.notes = QLineEdit()
        self.notes.setObjectName("notes")
        self.scan_field = ScanLineEdit()
        self.ok = QPushButton("OK")
        self.ok.setDefault(True)
        self.ok.clicked.connect(self.accept)
        layout = QVBoxLayout(self)
        for widget in (self.notes, self.scan_field, self.ok):
            layout.addWidget(widget)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def scanner(qapp: QApplication, clock: FakeClock) -> Iterator[WedgeScannerFilter]:
    with installed_scanner(qapp, clock) as scanner_filter:
        yield scanner_filter


@pytest.fixture
def bench(qtbot) -> Bench:
    dialog = Bench()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    focus(qtbot, dialog.notes)
    return dialog


# --- bursts and typing ------------------------------------------------------------------------


def test_a_burst_ended_by_enter_is_one_scan_and_enter_presses_no_default_button(
    qtbot, scanner, bench, clock
):
    scans: list[str] = []
    scanner.scanned.connect(scans.append)

    scan(qtbot, clock, "0378-6180-01")

    assert scans == ["0378-6180-01"]
    assert bench.notes.text() == ""
    assert bench.isVisible() and bench.result() == 0  # the default OK button was not pressed


def test_a_burst_ended_by_tab_keeps_the_focus_where_it_was(qtbot, scanner, bench, clock):
    with qtbot.waitSignal(scanner.scanned) as signal:
        scan(qtbot, clock, "RX1234567-2", Qt.Key.Key_Tab)
    assert signal.args == ["RX1234567-2"]
    assert QApplication.focusWidget() is bench.notes


def test_a_person_typing_slowly_types_into_the_field_and_enter_reaches_it(
    qtbot, scanner, bench, clock
):
    scans: list[str] = []
    scanner.scanned.connect(scans.append)
    returns: list[str] = []
    bench.notes.returnPressed.connect(lambda: returns.append(bench.notes.text()))

    type_keys(qtbot, clock, "hello there", PERSON_GAP_MS)
    press(qtbot, clock, Qt.Key.Key_Return, PERSON_GAP_MS)

    assert scans == []
    assert returns == ["hello there"]
    assert bench.result() == QDialog.DialogCode.Accepted  # a person's Enter still works


def test_typed_keys_show_once_the_filter_knows_it_is_a_person(qtbot, scanner, bench, clock):
    type_keys(qtbot, clock, "ab", PERSON_GAP_MS)
    assert bench.notes.text() == "a"  # "b" waits: it could be a scan's first character
    let_time_pass(qtbot, clock, scanner, PERSON_GAP_MS)
    assert bench.notes.text() == "ab"


def test_a_burst_too_short_for_a_barcode_is_typing(qtbot, scanner, bench, clock):
    scans: list[str] = []
    scanner.scanned.connect(scans.append)

    scan(qtbot, clock, "12345")  # min_length is 6

    assert scans == []
    assert bench.notes.text() == "12345"
    assert bench.result() == QDialog.DialogCode.Accepted


def test_a_burst_without_terminator_is_rejected_and_types_nothing(qtbot, scanner, bench, clock):
    with qtbot.waitSignal(scanner.scan_rejected) as signal:
        type_keys(qtbot, clock, "0378618001", SCANNER_GAP_MS)
        let_time_pass(qtbot, clock, scanner, 100)
    assert "Enter or Tab" in signal.args[0]
    assert bench.notes.text() == ""


def test_a_pause_inside_a_burst_makes_it_typing(qtbot, scanner, bench, clock):
    scans: list[str] = []
    scanner.scanned.connect(scans.append)

    type_keys(qtbot, clock, "abc", SCANNER_GAP_MS)
    type_keys(qtbot, clock, "def", PERSON_GAP_MS)
    press(qtbot, clock, Qt.Key.Key_Return, SCANNER_GAP_MS)

    assert scans == []
    assert bench.notes.text() == "abcdef"


def test_keys_a_scanner_never_sends_settle_the_burst_as_typing(qtbot, scanner, bench, clock):
    type_keys(qtbot, clock, "abc", SCANNER_GAP_MS)
    press(qtbot, clock, Qt.Key.Key_Backspace, SCANNER_GAP_MS)
    assert bench.notes.text() == "ab"


def test_a_held_down_key_repeats_without_delay(qtbot, scanner, bench, clock):
    notes = bench.notes
    for _ in range(8):
        clock.advance(SCANNER_GAP_MS)
        QApplication.sendEvent(
            notes,
            QKeyEvent(
                QEvent.Type.KeyPress, Qt.Key.Key_X, Qt.KeyboardModifier.NoModifier, "x", True
            ),
        )
    assert notes.text() == "x" * 8


def test_non_ascii_in_a_scan_points_at_the_keyboard_layout(qtbot, scanner, bench, clock):
    scans: list[str] = []
    scanner.scanned.connect(scans.append)
    with qtbot.waitSignal(scanner.scan_rejected) as signal:
        scan(qtbot, clock, "0378ß6180ß01")  # "-" on a German layout
    assert "keyboard layout" in signal.args[0]
    assert "ß" in signal.args[0]
    assert scans == []
    assert bench.notes.text() == ""


def test_a_scan_records_its_timing(qtbot, scanner, bench, clock):
    with qtbot.waitSignal(scanner.captured) as signal:
        type_keys(qtbot, clock, "0378", 4)
        type_keys(qtbot, clock, "618001", 7)
        press(qtbot, clock, Qt.Key.Key_Return, 9)
    capture = signal.args[0]
    assert capture == ScanCapture(
        text="0378618001", gaps_ms=(4, 4, 4, 7, 7, 7, 7, 7, 7, 9), terminator=Terminator.ENTER
    )


# --- GS ---------------------------------------------------------------------------------------


def test_gs_typed_as_ctrl_bracket_is_kept(qtbot, scanner, bench, clock):
    with qtbot.waitSignal(scanner.scanned) as signal:
        scan(qtbot, clock, GS1_WITH_GS)
    assert signal.args == [GS1_WITH_GS]
    assert bench.notes.text() == ""


def test_gs_as_a_control_character_is_kept(qtbot, scanner, bench, clock):
    """Some systems deliver Ctrl+] as the character itself, with no key code."""
    lot, serial = GS1_WITH_GS.split(GS)
    with qtbot.waitSignal(scanner.scanned) as signal:
        type_keys(qtbot, clock, lot, SCANNER_GAP_MS)
        clock.advance(SCANNER_GAP_MS)
        send_character(bench.notes, GS)
        scan(qtbot, clock, serial)
    assert signal.args == [GS1_WITH_GS]


@pytest.mark.parametrize(
    "keypad",
    [
        pytest.param([Qt.Key.Key_0, Qt.Key.Key_0, Qt.Key.Key_2, Qt.Key.Key_9], id="num-lock-on"),
        pytest.param(
            [Qt.Key.Key_Insert, Qt.Key.Key_Insert, Qt.Key.Key_Down, Qt.Key.Key_PageUp],
            id="num-lock-off",
        ),
    ],
)
def test_gs_typed_as_alt_0029_is_kept(qtbot, scanner, bench, clock, keypad):
    lot, serial = GS1_WITH_GS.split(GS)
    alt_keypad = Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.KeypadModifier
    with qtbot.waitSignal(scanner.scanned) as signal:
        type_keys(qtbot, clock, lot, SCANNER_GAP_MS)
        # QTest would press and release Alt around each digit; a scanner holds it.
        send_key(bench.notes, QEvent.Type.KeyPress, Qt.Key.Key_Alt, Qt.KeyboardModifier.AltModifier)
        for key in keypad:
            clock.advance(SCANNER_GAP_MS)
            send_key(bench.notes, QEvent.Type.KeyPress, key, alt_keypad)
            send_key(bench.notes, QEvent.Type.KeyRelease, key, alt_keypad)
        send_key(
            bench.notes, QEvent.Type.KeyRelease, Qt.Key.Key_Alt, Qt.KeyboardModifier.NoModifier
        )
        scan(qtbot, clock, serial)
    assert signal.args == [GS1_WITH_GS]
    assert bench.notes.text() == ""


def test_the_configured_substitute_becomes_gs(qtbot, scanner, bench, clock):
    scanner.set_settings(ScannerSettings(gs_substitute="^"))
    with qtbot.waitSignal(scanner.scanned) as signal:
        scan(qtbot, clock, GS1_WITH_GS.replace(GS, "^"))
    assert signal.args == [GS1_WITH_GS]


def test_without_a_substitute_the_character_stays(qtbot, scanner, bench, clock):
    with qtbot.waitSignal(scanner.scanned) as signal:
        scan(qtbot, clock, "ABC^DEF")
    assert signal.args == ["ABC^DEF"]


# --- one physical key, several receivers ------------------------------------------------------


def test_a_key_through_the_window_counts_once(qtbot, scanner, bench, clock):
    """The way a real key arrives: QApplication gives it to the QWidgetWindow, which forwards
    it to the focused widget, so the application filter sees both."""
    seen: list[str] = []

    class Spy(QObject):
        def eventFilter(self, watched, event):
            if event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_7:
                seen.append(type(watched).__name__)
            return False

    spy = Spy()
    QApplication.instance().installEventFilter(spy)  # installed last, called first
    window = bench.windowHandle()
    try:
        with qtbot.waitSignal(scanner.scanned) as signal:
            type_keys(qtbot, clock, "7777777", SCANNER_GAP_MS, target=window)
            press(qtbot, clock, Qt.Key.Key_Return, SCANNER_GAP_MS, target=window)
    finally:
        QApplication.instance().removeEventFilter(spy)
    assert seen[:2] == ["QWindow", "QLineEdit"]  # two sightings of each key...
    assert signal.args == ["7777777"]  # ...counted once
    assert bench.notes.text() == ""
    assert bench.result() == 0


def test_a_key_propagating_to_the_parent_counts_once(qtbot, scanner, bench, clock):
    """A button ignores digits, so each key press goes on to the dialog: counted once."""
    focus(qtbot, bench.ok)
    with qtbot.waitSignal(scanner.scanned) as signal:
        scan(qtbot, clock, "12345678")
    assert signal.args == ["12345678"]
    assert bench.result() == 0


def test_the_same_event_sent_to_window_and_child_counts_once(qtbot, scanner, bench, clock):
    scans: list[str] = []
    scanner.scanned.connect(scans.append)
    for char in "1234567":
        clock.advance(SCANNER_GAP_MS)
        event = QKeyEvent(
            QEvent.Type.KeyPress,
            Qt.Key.Key_0.value + int(char),
            Qt.KeyboardModifier.NoModifier,
            char,
        )
        QApplication.sendEvent(bench, event)
        QApplication.sendEvent(bench.notes, event)
    press(qtbot, clock, Qt.Key.Key_Return, SCANNER_GAP_MS)
    assert scans == ["1234567"]


def test_a_persons_space_on_a_button_clicks_it_once(qtbot, scanner, bench, clock):
    focus(qtbot, bench.ok)
    with qtbot.waitSignal(bench.accepted):
        press(qtbot, clock, Qt.Key.Key_Space, PERSON_GAP_MS)
        let_time_pass(qtbot, clock, scanner, PERSON_GAP_MS)
    assert not bench.ok.isDown()


def test_a_shortcut_fires_for_a_person_but_not_inside_a_scan(qtbot, scanner, bench, clock):
    fired: list[bool] = []
    action = QAction(bench)
    action.setShortcut(QKeySequence("X"))
    action.triggered.connect(lambda: fired.append(True))
    bench.addAction(action)
    focus(qtbot, bench.ok)

    with qtbot.waitSignal(scanner.scanned):
        scan(qtbot, clock, "ABXXCD12")
    assert fired == []

    press(qtbot, clock, Qt.Key.Key_X, PERSON_GAP_MS)
    let_time_pass(qtbot, clock, scanner, PERSON_GAP_MS)
    assert fired == [True]


# --- routing ----------------------------------------------------------------------------------


class SignalPanel(QWidget):
    scanned = Signal(str)


def test_a_scan_goes_to_the_waiting_panel_not_the_focused_notes_field(qtbot, scanner, bench, clock):
    router = ScanRouter()
    scanner.scanned.connect(router.route)
    router.push_receiver(bench.scan_field)

    type_keys(qtbot, clock, "ok ", PERSON_GAP_MS)
    clock.advance(PERSON_GAP_MS)
    with qtbot.waitSignal(bench.scan_field.entry) as entry:
        scan(qtbot, clock, GS1_WITH_GS)

    assert entry.args == [GS1_WITH_GS, False]
    assert bench.scan_field.text() == "01003037861800111726043010LOT42␝21SER9"
    assert bench.notes.text() == "ok "
    assert QApplication.focusWidget() is bench.notes


def test_the_latest_visible_enabled_receiver_wins(qtbot):
    router = ScanRouter()
    first, second, hidden = ScanLineEdit(), SignalPanel(), ScanLineEdit()
    for widget in (first, second, hidden):
        qtbot.addWidget(widget)
    first.show()
    second.show()
    for receiver in (first, second, hidden):
        router.push_receiver(receiver)

    with qtbot.waitSignal(second.scanned) as signal:
        router.route("0378618001")
    assert signal.args == ["0378618001"]

    second.setEnabled(False)
    with qtbot.waitSignal(first.entry):
        router.route("0378618002")

    router.remove_receiver(first)
    with qtbot.waitSignal(router.unclaimed_scan) as unclaimed:
        router.route("RX123-0")
    assert unclaimed.args == ["RX123-0"]


def test_a_receiver_needs_accept_scan_or_a_scanned_signal():
    with pytest.raises(TypeError):
        ScanRouter().push_receiver(QObject())


def test_a_deleted_receiver_is_forgotten(qtbot):
    router = ScanRouter()
    field = ScanLineEdit()
    field.show()
    router.push_receiver(field)
    field.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(field))
    with qtbot.waitSignal(router.unclaimed_scan):
        router.route("0378618001")


def test_a_diverted_scan_is_captured_but_not_routed(qtbot, scanner, bench, clock):
    scans: list[str] = []
    scanner.scanned.connect(scans.append)
    scanner.set_diverted(True)
    with qtbot.waitSignal(scanner.captured) as signal:
        scan(qtbot, clock, "0378618001")
    assert signal.args[0].text == "0378618001"
    assert scans == []


def test_install_scanner_filters_the_application_with_stored_settings(qtbot, qapp, tmp_path):
    store = QSettings(str(tmp_path / "workstation.ini"), QSettings.Format.IniFormat)
    save_scanner_settings(store, ScannerSettings(min_length=8, gs_substitute="~"))
    scanner_filter, router = install_scanner(qapp, store)
    try:
        assert scanner_filter.settings.min_length == 8
        panel = SignalPanel()
        qtbot.addWidget(panel)
        panel.show()
        router.push_receiver(panel)
        with qtbot.waitSignal(panel.scanned) as signal:
            scanner_filter.scanned.emit("01~21")
        assert signal.args == ["01~21"]
    finally:
        qapp.removeEventFilter(scanner_filter)
        scanner_filter.deleteLater()
        router.deleteLater()


# --- the scan field ---------------------------------------------------------------------------


def test_a_typed_ndc_in_the_scan_field_is_manual(qtbot, scanner, bench, clock):
    focus(qtbot, bench.scan_field)
    with qtbot.waitSignal(bench.scan_field.entry) as entry:
        type_keys(qtbot, clock, "0378-6180-01", PERSON_GAP_MS)
        press(qtbot, clock, Qt.Key.Key_Return, PERSON_GAP_MS)
    assert entry.args == ["0378-6180-01", True]


def test_enter_on_an_unchanged_scan_sends_the_scan_again(qtbot):
    field = ScanLineEdit()
    qtbot.addWidget(field)
    field.accept_scan("01" + GS + "21", manual=False)
    with qtbot.waitSignal(field.entry) as entry:
        qtbot.keyClick(field, Qt.Key.Key_Return)
    assert entry.args == ["01\x1d21", False]
    qtbot.keyClick(field, Qt.Key.Key_Backspace)
    with qtbot.waitSignal(field.entry) as entry:
        qtbot.keyClick(field, Qt.Key.Key_Return)
    assert entry.args == ["01␝2", True]


def test_require_scanning_tells_that_typing_is_manual_entry(qtbot):
    field = ScanLineEdit(require_scanning=True)
    qtbot.addWidget(field)
    assert "manual entry" in field.placeholderText()
    field.set_require_scanning(False)
    assert "type the NDC" in field.placeholderText()


def test_control_characters_are_made_visible():
    assert visible_controls("01" + GS + "21\r\t\x04é") == "01␝21␍␉␄é"


# --- settings ---------------------------------------------------------------------------------


def test_settings_round_trip_through_qsettings(tmp_path: Path):
    path = str(tmp_path / "workstation.ini")
    chosen = ScannerSettings(
        max_gap_ms=50,
        min_length=8,
        terminators=frozenset({Terminator.TAB}),
        gs_substitute="^",
    )
    save_scanner_settings(QSettings(path, QSettings.Format.IniFormat), chosen)
    assert load_scanner_settings(QSettings(path, QSettings.Format.IniFormat)) == chosen


def test_missing_settings_are_the_defaults(tmp_path: Path):
    store = QSettings(str(tmp_path / "empty.ini"), QSettings.Format.IniFormat)
    assert load_scanner_settings(store) == ScannerSettings()


def test_an_unusable_stored_value_falls_back_to_its_default(tmp_path: Path):
    store = QSettings(str(tmp_path / "bad.ini"), QSettings.Format.IniFormat)
    store.setValue("scanner/max_gap_ms", "fast")
    store.setValue("scanner/min_length", 1)
    store.setValue("scanner/gs_substitute", "A")
    store.setValue("scanner/terminators", "enter")
    assert load_scanner_settings(store) == ScannerSettings(
        terminators=frozenset({Terminator.ENTER})
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"max_gap_ms": 1},
        {"min_length": 100},
        {"terminators": frozenset()},
        {"gs_substitute": "A"},
    ],
)
def test_impossible_settings_are_refused(bad):
    with pytest.raises(ValueError):
        ScannerSettings(**bad)


def test_changed_settings_apply_to_the_next_burst(qtbot, scanner, bench, clock):
    scanner.set_settings(ScannerSettings(terminators=frozenset({Terminator.TAB})))
    scans: list[str] = []
    scanner.scanned.connect(scans.append)
    scan(qtbot, clock, "0378618001", Qt.Key.Key_Return)
    assert scans == []
    assert bench.notes.text() == "0378618001"  # not a scan by these settings: typing

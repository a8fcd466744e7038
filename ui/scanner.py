"""Keyboard-wedge barcode scanners: scan bursts told apart from typing and routed to panels.

A USB scanner types like a keyboard, a few milliseconds per key, and ends with Enter or Tab.
`WedgeScannerFilter` watches every key the application receives and withholds printable keys
while it cannot yet tell a scan from a person: keys that turn out to be typing are replayed to
the widget they were meant for (about `max_gap_ms` later, unnoticeable), keys of a scan never
reach any widget. So no scanner junk lands in a text field, no terminator presses a default
button, and a person loses no keystroke. `ScanRouter` hands each scan to the panel waiting
for one, whatever widget has the focus.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum, auto

import shiboken6
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QLineEdit, QWidget

from app.domain.barcodes import GS, GS_SUBSTITUTES

log = logging.getLogger(__name__)

Clock = Callable[[], int]
"""Milliseconds from any fixed origin."""

MAX_GAP_RANGE = (5, 200)
MIN_LENGTH_RANGE = (2, 48)
_LAYOUT_SENTENCE = (
    "The scan contained {chars}, which no barcode carries: check the scanner's keyboard "
    "layout (it must match this computer's, US English), then scan again."
)
_NO_TERMINATOR_SENTENCE = (
    "A scan “{text}” arrived without Enter or Tab at its end and was ignored: program the "
    "scanner to send Enter (or Tab) after each barcode, or check which of them RxBench expects "
    "in Tools ▸ Scanner settings."
)

VISIBLE_CONTROLS = {GS: "␝", "\r": "␍", "\n": "␊", "\t": "␉", "\x1e": "␞", "\x04": "␄"}
TERMINATOR_SYMBOLS = {"enter": "⏎", "tab": "⇥"}


def visible_controls(text: str) -> str:
    """`text` with its control characters drawn as the Unicode control pictures (␝ for GS)."""
    return "".join(
        VISIBLE_CONTROLS.get(char, chr(0x2400 + ord(char)) if ord(char) < 0x20 else char)
        for char in text
    )


class Terminator(StrEnum):
    ENTER = "enter"
    TAB = "tab"


@dataclass(frozen=True)
class ScannerSettings:
    """How this workstation's scanner is told from a person; kept per workstation."""

    max_gap_ms: int = 35
    min_length: int = 6
    terminators: frozenset[Terminator] = frozenset({Terminator.ENTER, Terminator.TAB})
    gs_substitute: str | None = None

    def __post_init__(self) -> None:
        if not MAX_GAP_RANGE[0] <= self.max_gap_ms <= MAX_GAP_RANGE[1]:
            raise ValueError(f"max_gap_ms must lie in {MAX_GAP_RANGE}, not {self.max_gap_ms}")
        if not MIN_LENGTH_RANGE[0] <= self.min_length <= MIN_LENGTH_RANGE[1]:
            raise ValueError(f"min_length must lie in {MIN_LENGTH_RANGE}, not {self.min_length}")
        if not self.terminators:
            raise ValueError("A scan must end with Enter or Tab: choose at least one terminator")
        if self.gs_substitute is not None and self.gs_substitute not in GS_SUBSTITUTES:
            raise ValueError(f"{self.gs_substitute!r} cannot stand for GS")


_KEYS = {
    "max_gap_ms": "scanner/max_gap_ms",
    "min_length": "scanner/min_length",
    "terminators": "scanner/terminators",
    "gs_substitute": "scanner/gs_substitute",
}


def load_scanner_settings(store: QSettings) -> ScannerSettings:
    """The stored settings; a value that is missing or unusable falls back to its default."""
    values: dict[str, object] = {}
    for name, parse in (
        ("max_gap_ms", int),
        ("min_length", int),
        ("terminators", _parse_terminators),
        ("gs_substitute", _parse_substitute),
    ):
        raw = store.value(_KEYS[name])
        if raw is None:
            continue
        try:
            candidate = {name: parse(raw)}
            ScannerSettings(**candidate)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            log.warning("Ignoring the stored scanner setting %s=%r", name, raw)
            continue
        values.update(candidate)
    return replace(ScannerSettings(), **values)  # type: ignore[arg-type]


def save_scanner_settings(store: QSettings, settings: ScannerSettings) -> None:
    store.setValue(_KEYS["max_gap_ms"], settings.max_gap_ms)
    store.setValue(_KEYS["min_length"], settings.min_length)
    store.setValue(_KEYS["terminators"], ",".join(sorted(settings.terminators)))
    store.setValue(_KEYS["gs_substitute"], settings.gs_substitute or "")
    store.sync()


def _parse_terminators(raw: object) -> frozenset[Terminator]:
    # QSettings hands a comma-separated INI value back as a list.
    names = raw if isinstance(raw, list) else str(raw).split(",")
    return frozenset(Terminator(str(name).strip()) for name in names if str(name).strip())


def _parse_substitute(raw: object) -> str | None:
    return str(raw) or None


@dataclass(frozen=True)
class ScanCapture:
    """One burst the filter took for a scan, as it understood it.

    `gaps_ms[i]` is the time before the (i+2)-th key, the terminator's gap last; `rejection`
    is the sentence shown instead when the burst cannot be used.
    """

    text: str
    gaps_ms: tuple[int, ...]
    terminator: Terminator | None
    rejection: str | None = None


class _Kind(Enum):
    MODIFIER = auto()  # Shift, Ctrl, Alt, a lock key: scanners press them around characters
    CHARACTER = auto()
    ALT_DIGIT = auto()  # a keypad digit with Alt held: part of an Alt+0029 code
    TERMINATOR = auto()
    OTHER = auto()  # anything a scanner never sends: a person is at the keyboard


# Lock keys too: a scanner typing an Alt code may toggle Num Lock around each keypad digit
# (xdotool does, seen under X11).
_MODIFIER_KEYS = frozenset(
    key.value
    for key in (
        Qt.Key.Key_Shift,
        Qt.Key.Key_Control,
        Qt.Key.Key_Alt,
        Qt.Key.Key_AltGr,
        Qt.Key.Key_Meta,
        Qt.Key.Key_NumLock,
        Qt.Key.Key_CapsLock,
        Qt.Key.Key_ScrollLock,
    )
)
_COMMAND_MODIFIERS = (
    Qt.KeyboardModifier.ControlModifier
    | Qt.KeyboardModifier.AltModifier
    | Qt.KeyboardModifier.MetaModifier
)
# With Num Lock off the keypad sends navigation keys; a scanner typing Alt+0029 does not know
# the host's Num Lock state, so each keypad key stands for its digit either way.
_KEYPAD_DIGITS = {
    **{Qt.Key.Key_0.value + digit: str(digit) for digit in range(10)},
    **{
        key.value: str(digit)
        for digit, key in enumerate(
            (
                Qt.Key.Key_Insert,
                Qt.Key.Key_End,
                Qt.Key.Key_Down,
                Qt.Key.Key_PageDown,
                Qt.Key.Key_Left,
                Qt.Key.Key_Clear,
                Qt.Key.Key_Right,
                Qt.Key.Key_Home,
                Qt.Key.Key_Up,
                Qt.Key.Key_PageUp,
            )
        )
    },
}
_TERMINATOR_KEYS = {
    Qt.Key.Key_Return.value: Terminator.ENTER,
    Qt.Key.Key_Enter.value: Terminator.ENTER,
    Qt.Key.Key_Tab.value: Terminator.TAB,
}
_GS_ALT_CODE = 29


def _classify(event: QKeyEvent) -> tuple[_Kind, str]:
    """What one key press means to a scan, and the character or digit it carries."""
    key = event.key()
    modifiers = event.modifiers()
    if key in _MODIFIER_KEYS:
        return _Kind.MODIFIER, ""
    if (
        modifiers & Qt.KeyboardModifier.AltModifier
        and modifiers & Qt.KeyboardModifier.KeypadModifier
        and key in _KEYPAD_DIGITS
    ):
        return _Kind.ALT_DIGIT, _KEYPAD_DIGITS[key]
    # Ctrl+] is how a keyboard types ASCII 29; its text may be "\x1d", "]" or empty.
    if key == Qt.Key.Key_BracketRight.value and modifiers & Qt.KeyboardModifier.ControlModifier:
        return _Kind.CHARACTER, GS
    if event.text() == GS:
        return _Kind.CHARACTER, GS
    if key in _TERMINATOR_KEYS and not modifiers & _COMMAND_MODIFIERS:
        return _Kind.TERMINATOR, _TERMINATOR_KEYS[key].value
    text = event.text()
    if len(text) == 1 and text.isprintable() and not modifiers & _COMMAND_MODIFIERS:
        return _Kind.CHARACTER, text
    return _Kind.OTHER, ""


def _key_target() -> QWidget | None:
    """The one widget a key press is meant for, where Qt delivers it first.

    An application-wide filter sees one physical key several times: at the window
    (QWidgetWindow), at this widget, and at each parent it propagates to. Only the sighting
    at this widget counts, so each key counts once.
    """
    popup = QApplication.activePopupWidget()
    if popup is not None:
        return popup.focusWidget() or popup
    return QApplication.focusWidget() or QApplication.activeWindow()


@dataclass(eq=False)
class _HeldKey:
    """A key press withheld from `receiver` until we know whether it belongs to a scan."""

    receiver: QObject
    key: int
    modifiers: Qt.KeyboardModifier
    text: str
    native: tuple[int, int, int]
    char: str  # what it adds to the scan text; empty for the digits of an Alt code
    gap_ms: int | None
    released: bool = False
    alt_digit: str = ""


@dataclass
class _Burst:
    keys: list[_HeldKey] = field(default_factory=list)
    last_event_ms: int = 0  # the window system's time of the last key, 0 when it gave none
    last_clock_ms: int = 0

    @property
    def text(self) -> str:
        return "".join(key.char for key in self.keys)


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class WedgeScannerFilter(QObject):
    """Application event filter that turns keyboard-wedge scanner bursts into scans.

    Time: given a `clock`, every gap is measured on it (tests drive it). Without one, a gap is
    measured between the times the window system stamped on the two keys (X11, Wayland and
    Windows all do) when both carry one, so keys queued while the GUI thread was busy keep
    their real spacing; otherwise, and for the silence that ends a burst, a monotonic clock.

    Signals: scanned(str)  # the scan's text, GS (ASCII 29) included, terminator excluded
    scan_rejected(str)  # a sentence saying why a burst was not a usable scan
    captured(object)  # the ScanCapture of every burst taken for a scan, used or rejected
    """

    scanned = Signal(str)
    scan_rejected = Signal(str)
    captured = Signal(object)

    def __init__(
        self,
        settings: ScannerSettings | None = None,
        *,
        clock: Clock | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings or ScannerSettings()
        self._clock = clock or _monotonic_ms
        self._use_event_times = clock is None
        self._burst = _Burst()
        self._alt_code: list[_HeldKey] = []
        self._gs_echo_expected = False
        self._replaying = False
        self._diverted = False
        self._silence = QTimer(self)
        self._silence.setSingleShot(True)
        self._silence.timeout.connect(self._check_silence)

    @property
    def settings(self) -> ScannerSettings:
        return self._settings

    def set_settings(self, settings: ScannerSettings) -> None:
        self._settle_as_typing()
        self._settings = settings

    def set_diverted(self, diverted: bool) -> None:
        """While diverted, scans are only `captured`: a test scan must not reach a panel."""
        self._diverted = diverted

    # --- event filter -------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if self._replaying or kind not in (
            QEvent.Type.KeyPress,
            QEvent.Type.KeyRelease,
            QEvent.Type.ShortcutOverride,
        ):
            return False
        if watched is not _key_target():
            return False
        assert isinstance(event, QKeyEvent)
        if kind == QEvent.Type.ShortcutOverride:
            return self._shortcut_override(event)
        if kind == QEvent.Type.KeyPress:
            return self._key_pressed(watched, event)
        return self._key_released(event)

    def _shortcut_override(self, event: QKeyEvent) -> bool:
        """Claim keys we will withhold, so that no shortcut fires on a scanner's character."""
        what, value = _classify(event)
        if event.isAutoRepeat():
            return False
        claimed = what in (_Kind.CHARACTER, _Kind.ALT_DIGIT) or (
            what == _Kind.TERMINATOR and self._ends_scan(value, event)
        )
        if claimed:
            event.accept()
        return claimed

    def _key_pressed(self, receiver: QObject, event: QKeyEvent) -> bool:
        what, value = _classify(event)
        if what == _Kind.MODIFIER:
            return False
        if event.isAutoRepeat():  # a held-down key: only people hold keys
            self._settle_as_typing()
            return False
        if self._burst.keys and self._gap_ms(event) > self._settings.max_gap_ms:
            self._end_burst_by_silence()
        if what == _Kind.OTHER:
            self._settle_as_typing()
            return False
        if what == _Kind.TERMINATOR:
            if self._ends_scan(value, event):
                self._finish_scan(Terminator(value), self._gap_ms(event))
                return True
            self._settle_as_typing()
            return False
        if value == GS and self._gs_echo_expected and event.text() == GS:
            # The character the system composes from an Alt+0029 we already counted.
            self._gs_echo_expected = False
            event.accept()
            return True
        self._gs_echo_expected = False
        self._hold(receiver, event, what, value)
        event.accept()
        return True

    def _key_released(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_Alt.value:
            self._alt_released()
            return False
        if event.isAutoRepeat():
            return False
        for held in reversed(self._burst.keys):
            if held.key == event.key() and not held.released:
                held.released = True  # replayed with its press, or dropped with the scan
                return True
        return False

    # --- bursts -------------------------------------------------------------------------------

    def _hold(self, receiver: QObject, event: QKeyEvent, what: _Kind, value: str) -> None:
        burst = self._burst
        held = _HeldKey(
            receiver=receiver,
            key=event.key(),
            modifiers=event.modifiers(),
            text=event.text(),
            native=(event.nativeScanCode(), event.nativeVirtualKey(), event.nativeModifiers()),
            char=value if what == _Kind.CHARACTER else "",
            gap_ms=self._gap_ms(event) if burst.keys else None,
            alt_digit=value if what == _Kind.ALT_DIGIT else "",
        )
        if what == _Kind.ALT_DIGIT:
            self._alt_code.append(held)
        burst.keys.append(held)
        burst.last_event_ms = event.timestamp() if self._use_event_times else 0
        burst.last_clock_ms = self._clock()
        self._silence.start(self._settings.max_gap_ms)

    def _alt_released(self) -> None:
        """Alt let go ends an Alt code; 0029 (or 029, 29) held in the burst stands for GS."""
        code, self._alt_code = self._alt_code, []
        still_held = {id(held) for held in self._burst.keys}
        if not code or not all(id(held) in still_held for held in code):
            return
        digits = "".join(held.alt_digit for held in code)
        if len(digits) <= 4 and int(digits) == _GS_ALT_CODE:
            code[-1].char = GS
            self._gs_echo_expected = True

    def _gap_ms(self, event: QKeyEvent) -> int:
        burst = self._burst
        if self._use_event_times and event.timestamp() and burst.last_event_ms:
            return max(0, event.timestamp() - burst.last_event_ms)
        return max(0, self._clock() - burst.last_clock_ms)

    def _ends_scan(self, terminator: str, event: QKeyEvent) -> bool:
        text = self._burst.text
        return (
            Terminator(terminator) in self._settings.terminators
            and len(text) >= self._settings.min_length
            and self._gap_ms(event) <= self._settings.max_gap_ms
        )

    def _check_silence(self) -> None:
        if not self._burst.keys:
            return
        quiet_ms = self._clock() - self._burst.last_clock_ms
        if quiet_ms >= self._settings.max_gap_ms:
            self._end_burst_by_silence()
        else:
            self._silence.start(self._settings.max_gap_ms - quiet_ms)

    def _end_burst_by_silence(self) -> None:
        """Keys stopped coming without a terminator: typing, unless too fast to be a person.

        A person does not type `min_length` keys each within `max_gap_ms` (held keys arrive as
        auto-repeat and are never withheld), so such a run is a scanner without a terminator:
        it is reported and dropped rather than typed into the field.
        """
        text = self._burst.text
        if len(text) < self._settings.min_length:
            self._settle_as_typing()
            return
        reason = _NO_TERMINATOR_SENTENCE.format(text=visible_controls(text))
        self._emit_capture(self._take_burst(), None, reason)

    def _finish_scan(self, terminator: Terminator, gap_ms: int) -> None:
        keys = self._take_burst()
        text = self._substituted("".join(key.char for key in keys))
        foreign = sorted({char for char in text if not char.isascii()})
        reason = _LAYOUT_SENTENCE.format(chars=" ".join(foreign)) if foreign else None
        self._emit_capture(keys, terminator, reason, text=text, last_gap_ms=gap_ms)

    def _substituted(self, text: str) -> str:
        substitute = self._settings.gs_substitute
        return text.replace(substitute, GS) if substitute else text

    def _emit_capture(
        self,
        keys: list[_HeldKey],
        terminator: Terminator | None,
        rejection: str | None,
        *,
        text: str | None = None,
        last_gap_ms: int | None = None,
    ) -> None:
        gaps = [key.gap_ms for key in keys if key.gap_ms is not None]
        if last_gap_ms is not None:
            gaps.append(last_gap_ms)
        capture = ScanCapture(
            text=text if text is not None else self._substituted("".join(k.char for k in keys)),
            gaps_ms=tuple(gaps),
            terminator=terminator,
            rejection=rejection,
        )
        self.captured.emit(capture)
        if rejection is not None:
            log.info("Scanner burst rejected: %r", capture.text)
            self.scan_rejected.emit(rejection)
        elif not self._diverted:
            self.scanned.emit(capture.text)

    def _take_burst(self) -> list[_HeldKey]:
        keys, self._burst = self._burst.keys, _Burst()
        self._silence.stop()
        return keys

    def _settle_as_typing(self) -> None:
        """Give each withheld key to the widget it was meant for, in order, as if just typed."""
        keys = self._take_burst()
        if not keys:
            return
        self._replaying = True
        try:
            for held in keys:
                receiver = held.receiver if shiboken6.isValid(held.receiver) else _key_target()
                if receiver is None:
                    continue
                types = [QEvent.Type.KeyPress]
                if held.released:
                    types.append(QEvent.Type.KeyRelease)
                for kind in types:
                    # Not spontaneous: QApplication offers it to shortcuts first, as it would
                    # have done for the original key.
                    QApplication.sendEvent(
                        receiver, QKeyEvent(kind, held.key, held.modifiers, *held.native, held.text)
                    )
        finally:
            self._replaying = False


class ScanRouter(QObject):
    """Hands each scan to the panel waiting for one, whatever widget has the focus.

    The receiver pushed last that is visible and enabled wins. A receiver implements
    `accept_scan(text: str, *, manual: bool)` or has a `scanned` signal.

    Signals: unclaimed_scan(str)  # no receiver was waiting: the fill queue opens an Rx label
    """

    unclaimed_scan = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._receivers: list[QObject] = []

    def push_receiver(self, receiver: QObject) -> None:
        if not (hasattr(receiver, "accept_scan") or hasattr(receiver, "scanned")):
            raise TypeError(f"{receiver!r} has neither accept_scan() nor a scanned signal")
        self.remove_receiver(receiver)
        self._receivers.append(receiver)

    def remove_receiver(self, receiver: QObject) -> None:
        self._receivers = [each for each in self._receivers if each is not receiver]

    def route(self, text: str) -> None:
        self._receivers = [each for each in self._receivers if shiboken6.isValid(each)]
        for receiver in reversed(self._receivers):
            if isinstance(receiver, QWidget) and not (
                receiver.isVisible() and receiver.isEnabled()
            ):
                continue
            if hasattr(receiver, "accept_scan"):
                receiver.accept_scan(text, manual=False)
            else:
                receiver.scanned.emit(text)
            return
        self.unclaimed_scan.emit(text)


def install_scanner(app: QApplication, store: QSettings) -> tuple[WedgeScannerFilter, ScanRouter]:
    """Filter every key of `app` with the settings stored in `store`; route scans to panels."""
    scanner_filter = WedgeScannerFilter(load_scanner_settings(store), parent=app)
    router = ScanRouter(parent=app)
    scanner_filter.scanned.connect(router.route)
    app.installEventFilter(scanner_filter)
    return scanner_filter, router


_SCAN_PLACEHOLDER = "Scan the barcode or type the NDC"
_SCAN_REQUIRED_PLACEHOLDER = "Scan the barcode (a typed NDC is recorded as manual entry)"


class ScanLineEdit(QLineEdit):
    """A field for a panel: shows the scan routed to it, or takes an NDC a person types.

    Register it with `ScanRouter.push_receiver` while its panel waits for a scan. GS shows
    as ␝ in the field; `entry` carries the raw text.

    Signals: entry(str, bool)  # text, manual: True when a person typed it and pressed Enter
    """

    entry = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None, *, require_scanning: bool = False) -> None:
        super().__init__(parent)
        self._scanned_text: str | None = None
        self.set_require_scanning(require_scanning)
        self.returnPressed.connect(self._entered_by_hand)
        self.textEdited.connect(self._edited)

    def set_require_scanning(self, required: bool) -> None:
        """When scanning is required, say up front that typing is recorded as manual entry."""
        self.setPlaceholderText(_SCAN_REQUIRED_PLACEHOLDER if required else _SCAN_PLACEHOLDER)

    @property
    def scanned_text(self) -> str | None:
        """The raw text of the scan shown, None once a person has edited the field."""
        return self._scanned_text

    def accept_scan(self, text: str, *, manual: bool) -> None:
        self.setText(visible_controls(text))
        self._scanned_text = None if manual else text
        self.entry.emit(text, manual)

    def _edited(self, _text: str) -> None:
        self._scanned_text = None

    def _entered_by_hand(self) -> None:
        if self._scanned_text is not None:  # Enter on an unchanged scan sends it again
            self.entry.emit(self._scanned_text, False)
            return
        typed = self.text().strip()
        if typed:
            self.entry.emit(typed, True)

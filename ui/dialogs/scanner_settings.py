"""Tools ▸ Scanner settings… (thresholds, GS substitute, require scanning) and Scanner test…."""

from __future__ import annotations

import html

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QFontDatabase, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.domain.barcodes import (
    GS,
    GS_SUBSTITUTES,
    LotSerialRunTogether,
    Scan,
    ScanError,
    ScanKind,
    interpret_scan,
)
from ui.dialogs.fields import MessageLine, add_field
from ui.scanner import (
    MAX_GAP_RANGE,
    MIN_LENGTH_RANGE,
    TERMINATOR_SYMBOLS,
    ScanCapture,
    ScannerSettings,
    Terminator,
    WedgeScannerFilter,
    load_scanner_settings,
    save_scanner_settings,
    visible_controls,
)

NO_TERMINATOR_PROBLEM = "Choose Enter, Tab or both: RxBench knows a scan has ended by them."
GS_ITSELF = "GS itself (Ctrl+] or Alt+0029)"
NOTHING_SHOWN = "—"
# Control characters as named badges rather than as control pictures (␝): many fonts, the
# Xvfb and Linux defaults among them, have no glyph for those and draw an empty box.
CONTROL_NAMES = {GS: "GS", "\r": "CR", "\n": "LF", "\t": "TAB"}
TERMINATOR_NAMES = {Terminator.ENTER: "⏎ Enter", Terminator.TAB: "⇥ Tab"}
_BADGE = '<span style="background-color:{background}; color:{colour};">&nbsp;{text}&nbsp;</span>'
_CONTROL_BADGE = {"background": "#fde68a", "colour": "#5b3a00"}
_FOREIGN_BADGE = {"background": "#fdecea", "colour": "#7a1010"}
_TERMINATOR_BADGE = {"background": "#dbeafe", "colour": "#1e3a8a"}
KIND_NAMES = {
    ScanKind.UPC: "UPC-A with an NDC",
    ScanKind.EAN13: "EAN-13 with an NDC",
    ScanKind.GTIN14: "GTIN-14 with an NDC",
    ScanKind.GS1: "GS1 DataMatrix or GS1-128",
    ScanKind.NDC: "NDC",
    ScanKind.RX_LABEL: "RxBench prescription label",
}


class ScannerSettingsPage(QWidget):
    """The scanner's settings for this workstation, an options page: `load`, then `save`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store: QSettings | None = None
        form = QFormLayout(self)

        self._max_gap = QSpinBox()
        self._max_gap.setRange(*MAX_GAP_RANGE)
        self._max_gap.setSuffix(" ms")
        self._max_gap.setToolTip(
            "Keys arriving closer together than this come from the scanner; a person types "
            "more slowly. Raise it if slow scans are typed into fields instead."
        )
        add_field(form, "Longest &gap between scanner keys:", self._max_gap)

        self._min_length = QSpinBox()
        self._min_length.setRange(*MIN_LENGTH_RANGE)
        self._min_length.setSuffix(" characters")
        add_field(form, "&Shortest barcode:", self._min_length)

        self._enter = QCheckBox("&Enter")
        self._tab = QCheckBox("&Tab")
        self._enter.setAccessibleName("Scan ends with Enter")
        self._tab.setAccessibleName("Scan ends with Tab")
        ends = QWidget()
        ends.setAccessibleName("A scan ends with")
        ends_layout = QHBoxLayout(ends)
        ends_layout.setContentsMargins(0, 0, 0, 0)
        ends_layout.addWidget(self._enter)
        ends_layout.addWidget(self._tab)
        ends_layout.addStretch()
        form.addRow("A scan ends with:", ends)

        self._gs_substitute = QComboBox()
        self._gs_substitute.addItem(GS_ITSELF, None)
        for char in sorted(GS_SUBSTITUTES):
            self._gs_substitute.addItem(f"“{char}” instead of GS", char)
        self._gs_substitute.setToolTip(
            "GS1 barcodes separate lot and serial with GS (ASCII 29). If the scanner was "
            "programmed to type another character for it, choose that character here."
        )
        add_field(form, "Scanner types for GS &separator:", self._gs_substitute)

    def load(self, store: QSettings) -> None:
        self._store = store
        settings = load_scanner_settings(store)
        self._max_gap.setValue(settings.max_gap_ms)
        self._min_length.setValue(settings.min_length)
        self._enter.setChecked(Terminator.ENTER in settings.terminators)
        self._tab.setChecked(Terminator.TAB in settings.terminators)
        self._gs_substitute.setCurrentIndex(self._gs_substitute.findData(settings.gs_substitute))

    def problem(self) -> str | None:
        """Why the page cannot be saved as it stands, or None."""
        if not (self._enter.isChecked() or self._tab.isChecked()):
            return NO_TERMINATOR_PROBLEM
        return None

    def save(self) -> ScannerSettings:
        if self._store is None:
            raise RuntimeError("load() the page before saving it")
        terminators = {
            terminator
            for terminator, box in ((Terminator.ENTER, self._enter), (Terminator.TAB, self._tab))
            if box.isChecked()
        }
        settings = ScannerSettings(
            max_gap_ms=self._max_gap.value(),
            min_length=self._min_length.value(),
            terminators=frozenset(terminators),
            gs_substitute=self._gs_substitute.currentData(),
        )
        save_scanner_settings(self._store, settings)
        return settings


class ScannerSettingsDialog(QDialog):
    """The settings page with Save and Cancel; saving applies to the running filter at once."""

    def __init__(
        self,
        store: QSettings,
        scanner_filter: WedgeScannerFilter,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._scanner_filter = scanner_filter
        self.saved: ScannerSettings | None = None
        self.setWindowTitle("Scanner settings — RxBench")
        self.page = ScannerSettingsPage()
        self.page.load(store)
        self._message = MessageLine()
        buttons = QDialogButtonBox()
        save = buttons.addButton("&Save", QDialogButtonBox.ButtonRole.AcceptRole)
        save.setDefault(True)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.page)
        layout.addWidget(self._message)
        layout.addWidget(buttons)

    def accept(self) -> None:
        problem = self.page.problem()
        if problem is not None:
            self._message.show_problem(problem)
            return
        self.saved = self.page.save()
        self._scanner_filter.set_settings(self.saved)
        super().accept()


class ScannerTestDialog(QDialog):
    """Shows exactly what the last scan was understood to be: its characters, its timing and
    what RxBench reads in it. Scans made while it is open reach no panel."""

    def __init__(self, scanner_filter: WedgeScannerFilter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scanner_filter = scanner_filter
        self.setWindowTitle("Scanner test — RxBench")
        self.setMinimumWidth(640)

        intro = QLabel(
            "Scan a barcode. This window shows what RxBench received and how it reads it. "
            "Scans made while it is open are not sent to any panel."
        )
        intro.setWordWrap(True)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._values: dict[str, QLabel] = {}
        for name in (
            "Characters",
            "Length",
            "Timing",
            "Read as",
            "NDC",
            "GTIN",
            "Lot",
            "Expiry",
            "Serial",
            "Prescription",
        ):
            value = QLabel(NOTHING_SHOWN)
            value.setWordWrap(True)
            value.setTextFormat(
                Qt.TextFormat.RichText if name == "Characters" else Qt.TextFormat.PlainText
            )
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self._values[name] = add_field(form, f"{name}:", value)
        self._values["Characters"].setFont(
            QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        )
        self._message = MessageLine()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self._message)
        layout.addStretch()
        layout.addWidget(buttons)
        scanner_filter.captured.connect(self.show_capture)

    def value(self, name: str) -> str:
        """What a row says, as plain text (GS as ␝, the terminator as ⏎ or ⇥)."""
        label = self._values[name]
        return label.accessibleDescription() or label.text()

    def showEvent(self, event: QShowEvent) -> None:
        self._scanner_filter.set_diverted(True)
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self._scanner_filter.set_diverted(False)
        super().hideEvent(event)

    def show_capture(self, capture: ScanCapture) -> None:
        characters = self._values["Characters"]
        characters.setText(_characters_html(capture.text, capture.terminator))
        end = TERMINATOR_SYMBOLS[capture.terminator] if capture.terminator else ""
        characters.setAccessibleDescription(visible_controls(capture.text) + end)
        separators = capture.text.count(GS)
        self._set(
            "Length",
            f"{len(capture.text)} characters"
            + (f", of which {separators} GS separator" if separators else "")
            + ("s" if separators > 1 else ""),
        )
        self._set("Timing", self._timing(capture.gaps_ms))
        self._message.retract()
        if capture.rejection is not None:
            self._show_scan(None)
            self._message.show_problem(capture.rejection)
            return
        try:
            self._show_scan(interpret_scan(capture.text))
        except LotSerialRunTogether as exc:
            self._show_scan(exc.partial)
            self._message.show_error(exc)
        except ScanError as exc:
            self._show_scan(None)
            self._message.show_error(exc)

    def _timing(self, gaps_ms: tuple[int, ...]) -> str:
        if not gaps_ms:
            return NOTHING_SHOWN
        limit = self._scanner_filter.settings.max_gap_ms
        return (
            f"{len(gaps_ms) + 1} keys in {sum(gaps_ms)} ms, longest gap {max(gaps_ms)} ms "
            f"(limit {limit} ms).\nGap before each key (ms): {' '.join(map(str, gaps_ms))}"
        )

    def _show_scan(self, scan: Scan | None) -> None:
        if scan is None:
            for name in ("Read as", "NDC", "GTIN", "Lot", "Expiry", "Serial", "Prescription"):
                self._set(name, None)
            return
        self._set("Read as", KIND_NAMES[scan.kind] + (" (typed)" if scan.manual else ""))
        self._set("NDC", " or ".join(ndc.hyphenated for ndc in scan.candidates))
        self._set("GTIN", scan.gtin)
        self._set("Lot", scan.lot)
        self._set("Expiry", scan.expiry.isoformat() if scan.expiry else None)
        self._set("Serial", scan.serial)
        self._set(
            "Prescription",
            f"Rx {scan.rx_number}, fill {scan.fill_number}" if scan.rx_number else None,
        )

    def _set(self, name: str, text: str | None) -> None:
        self._values[name].setText(text or NOTHING_SHOWN)


def _characters_html(text: str, terminator: Terminator | None) -> str:
    """The scan's characters, control and non-ASCII ones as badges, the terminator last."""
    parts = []
    for char in text:
        if char in CONTROL_NAMES or ord(char) < 0x20:
            name = CONTROL_NAMES.get(char, f"^{chr(ord(char) + 0x40)}")
            parts.append(_BADGE.format(text=name, **_CONTROL_BADGE))
        elif not char.isascii():
            parts.append(_BADGE.format(text=html.escape(char), **_FOREIGN_BADGE))
        else:
            parts.append(html.escape(char))
    if terminator is not None:
        parts.append(" " + _BADGE.format(text=TERMINATOR_NAMES[terminator], **_TERMINATOR_BADGE))
    return "".join(parts)


def open_scanner_settings(
    parent: QWidget | None, store: QSettings, scanner_filter: WedgeScannerFilter
) -> ScannerSettings | None:
    """The Tools ▸ "Scanner settings…" action; the new settings once saved, else None."""
    dialog = ScannerSettingsDialog(store, scanner_filter, parent)
    dialog.exec()
    return dialog.saved


def open_scanner_test(parent: QWidget | None, scanner_filter: WedgeScannerFilter) -> None:
    """The Tools ▸ "Scanner test…" action."""
    ScannerTestDialog(scanner_filter, parent).exec()

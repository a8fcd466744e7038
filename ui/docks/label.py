"""The Label dock: the selected fill's labels exactly as they print, printing and reprinting them,
PDF export, the printer's test page and offsets, and batches of labels from the queue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QImage, QKeySequence, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.labels import LabelContent, LabelLanguage, LabelStock
from app.errors import RxBenchError
from app.services.fills import FillRow
from app.services.labels import LabelPrintRow, LabelService, PrintKind
from app.services.pharmacy import PharmacyProfile, PharmacyService
from app.services.unit_of_work import Actor
from app.services.verification import VerificationService
from ui.dialogs.reason import ask_reason
from ui.docks.base import ActorSource, DataDock
from ui.docks.label_printing import (
    NO_PRINTER_TEXT,
    REPRINT_CANCELLED_TEXT,
    BatchOutcome,
    LabelBatch,
    LabelPrinting,
    LabelSender,
    PrinterSettings,
    rx_of,
)
from ui.errors import explain, show_error
from ui.labels import output
from ui.labels.render import layout_label
from ui.models.formatting import quantity_text
from ui.tasks import TaskRunner

NO_PROFILE_TEXT = "The pharmacy profile is not set up yet; an administrator enters it."
NO_FILL_TEXT = "Select a fill in the queue to preview its label."
LOADING_TEXT = "Loading the label…"
CHOOSE_PRINTER_TEXT = "(choose a label printer)"

PRINT_SHORTCUT = "Ctrl+P"
EXPORT_SHORTCUT = "Ctrl+Shift+E"
TEST_PAGE_SHORTCUT = "Ctrl+Shift+L"
ENGLISH_SHORTCUT = "Ctrl+E"
PREVIOUS_SHORTCUT = "Alt+PgUp"
NEXT_SHORTCUT = "Alt+PgDown"
MAX_OFFSET_MM = 10.0

_NOTICE_STYLE = (
    "QLabel { background: #fff1cc; color: #5c3b00; border: 1px solid #d99a00; padding: 4px; }"
)
_REPRINT_STYLE = (
    "QLabel { background: #fff1cc; color: #5c3b00; border: 2px solid #d99a00; padding: 4px; }"
)
_PROBLEM_STYLE = (
    "QLabel { color: #7a1010; background: #fdecea; border: 1px solid #e8a5a0; padding: 4px; }"
)
_DONE_STYLE = (
    "QLabel { color: #0f4d1c; background: #e7f5ea; border: 1px solid #9ccfa8; padding: 4px; }"
)
_HISTORY_COLUMNS = ("Printed", "Kind", "By", "Workstation", "Printer or file", "Labels", "Reason")


def label_text(profile: PharmacyProfile | None, fill: FillRow | None) -> str:
    """The label's facts as lines of text, for the pharmacist's final-verification dialog."""
    lines: list[str] = []
    if profile is None:
        lines.append(NO_PROFILE_TEXT)
    else:
        lines.append(profile.name)
        lines.append(
            ", ".join(part for part in (profile.address_line1, profile.address_line2) if part)
        )
        lines.append(f"{profile.city}, {profile.state} {profile.postal_code}")
        lines.append(f"Phone {profile.phone}")
    lines.append("")
    if fill is None:
        lines.append(NO_FILL_TEXT)
        return "\n".join(lines)
    lines.append(f"Rx {fill.rx_number}    Fill {fill.fill_number}")
    lines.append(fill.patient_name)
    lines.append("")
    lines.append(fill.directions)
    lines.append("")
    lines.append(fill.drug)
    lines.append(f"Qty {quantity_text(fill.quantity)}    Days supply {fill.days_supply}")
    if fill.dea_schedule:
        lines.append(
            "Caution: Federal law prohibits the transfer of this drug to any person other than "
            "the patient for whom it was prescribed."
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class FillLabel:
    """What the dock shows for one fill, read on a worker thread."""

    fill_id: int
    contents: tuple[LabelContent, ...]  # one per container, in the patient's language
    english: tuple[LabelContent, ...]  # the English copy of a translated label, else ()
    refusal: str | None  # why the label may not be printed now
    reprint_needed: str | None  # Verify's demand for a reprint (a lot expiring sooner)
    prints: tuple[LabelPrintRow, ...]

    @property
    def rx(self) -> str:
        return f"{self.contents[0].rx_number}-{self.contents[0].fill_number}"


@dataclass(frozen=True)
class _Loaded:
    profile: PharmacyProfile | None
    stocks: tuple[LabelStock, ...]
    label: FillLabel | None


class LabelPicture(QWidget):
    """One rendered label on a grey ground, like a label on its liner.

    Signals: resized()
    """

    resized = Signal()
    MARGIN = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = QImage()
        self.setMinimumSize(200, 110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Label preview")

    def set_image(self, image: QImage, description: str) -> None:
        self.image = image
        self.setAccessibleDescription(description)
        self.update()

    def room(self) -> QSize:
        """Device pixels available to the label."""
        ratio = self.devicePixelRatioF()
        width = max(1, self.width() - 2 * self.MARGIN)
        height = max(1, self.height() - 2 * self.MARGIN)
        return QSize(round(width * ratio), round(height * ratio))

    def sizeHint(self) -> QSize:
        return QSize(420, 250)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#d0d0d0"))
        if not self.image.isNull():
            ratio = self.devicePixelRatioF()
            size = self.image.size() / ratio
            room = self.rect().adjusted(self.MARGIN, self.MARGIN, -self.MARGIN, -self.MARGIN)
            if size.width() > room.width() or size.height() > room.height():
                size = size.scaled(room.size(), Qt.AspectRatioMode.KeepAspectRatio)
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            target = self.rect()
            target.setSize(size)
            target.moveCenter(self.rect().center())
            painter.drawImage(target, self.image)
            painter.setPen(QColor("#8a8a8a"))
            painter.drawRect(target.adjusted(-1, -1, 0, 0))
        if self.hasFocus():
            painter.setPen(self.palette().highlight().color())
            painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()


def _tool_button(action: QAction, accessible_name: str) -> QToolButton:
    button = QToolButton()
    button.setDefaultAction(action)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    button.setAccessibleName(accessible_name)
    return button


def _action(parent: QWidget, text: str, shortcut: str, tip: str) -> QAction:
    action = QAction(text, parent)
    action.setShortcut(QKeySequence(shortcut))
    action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString()})")
    return action


class LabelDock(DataDock):
    """Signals: printed(object)  # the LabelPrintRow of a print just recorded
    batch_finished(object)  # the BatchOutcome of a batch
    """

    printed = Signal(object)
    batch_finished = Signal(object)

    def __init__(
        self,
        *,
        labels: LabelService,
        verification: VerificationService,
        pharmacy: PharmacyService,
        tasks: TaskRunner,
        actor: ActorSource,
        settings: Callable[[], QSettings],
        printing: LabelPrinting | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Label", "label_dock", tasks=tasks, actor=actor, parent=parent)
        self._labels = labels
        self._verification = verification
        self._pharmacy = pharmacy
        self._choices = PrinterSettings(settings)
        self._sender = LabelSender(
            printing=printing or LabelPrinting(),
            settings=self._choices,
            labels=labels,
            tasks=tasks,
            parent=self,
        )
        self._sender.printer_changed.connect(self._load_printers)
        self.profile: PharmacyProfile | None = None
        self.stocks: tuple[LabelStock, ...] = ()
        self.fill: FillRow | None = None
        self.label: FillLabel | None = None
        self.english_shown = False
        self.face = 0  # the label shown, continuation labels counted
        self.preview_image = QImage()
        self._wanted_fill_id: int | None = None
        self._faces: list[tuple[int, int]] = []  # (container, continuation page) per label
        self._busy = False
        self._printer_checked = False
        self._focus_before: QWidget | None = None
        self._rerender = QTimer(self)
        self._rerender.setSingleShot(True)
        self._rerender.setInterval(0)
        self._rerender.timeout.connect(self._render)

        self.print_action = _action(self, "&Print label", PRINT_SHORTCUT, "Print the label")
        self.print_action.triggered.connect(self.print_label)
        self.export_action = _action(
            self, "&Export label PDF…", EXPORT_SHORTCUT, "Save the label as a PDF file"
        )
        self.export_action.triggered.connect(lambda: self.export_pdf())
        self.test_page_action = _action(
            self,
            "Print label &test page",
            TEST_PAGE_SHORTCUT,
            "Print the calibration page: label outlines, a ruler and a sample barcode",
        )
        self.test_page_action.triggered.connect(self.print_test_page)
        self.english_action = _action(
            self, "E&nglish copy", ENGLISH_SHORTCUT, "Show and print the English directions"
        )
        self.english_action.setCheckable(True)
        self.english_action.toggled.connect(self.show_english)
        self.previous_action = _action(self, "◀", PREVIOUS_SHORTCUT, "Previous label")
        self.previous_action.triggered.connect(lambda: self.show_face(self.face - 1))
        self.next_action = _action(self, "▶", NEXT_SHORTCUT, "Next label")
        self.next_action.triggered.connect(lambda: self.show_face(self.face + 1))
        for action in (self.previous_action, self.next_action):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)

        self.set_content(self._build())
        self._load_printers()
        self._show()

    # --- widgets ------------------------------------------------------------------------------

    def _build(self) -> QWidget:
        self.title = QLabel()
        self.title.setAccessibleName("Label of")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        # A long name may be cut short here rather than widen the dock; the label shows it whole.
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.reprint_needed = self._banner("Label reprint needed", _REPRINT_STYLE)
        self.notices = self._banner("Label notices", _NOTICE_STYLE)
        self.picture = LabelPicture()
        self.picture.resized.connect(self._rerender.start)
        self.position = QLabel()
        self.position.setAccessibleName("Label shown")
        self.stock_choice = QComboBox()
        self.stock_choice.setAccessibleName("Label stock")
        self.stock_choice.currentIndexChanged.connect(self._stock_chosen)
        self.printer_choice = QComboBox()
        self.printer_choice.setAccessibleName("Label printer")
        self.printer_choice.activated.connect(self._printer_chosen)
        self.destination = QLabel()
        self.destination.setAccessibleName("Label printer and stock")
        self.destination.setTextFormat(Qt.TextFormat.PlainText)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setAccessibleName("Label message")
        self.message.hide()

        # Three rows around the picture: the dock is often short, and the label comes first.
        navigation = QHBoxLayout()
        navigation.addWidget(self.title, 1)
        navigation.addWidget(_tool_button(self.previous_action, "Previous label"))
        navigation.addWidget(self.position)
        navigation.addWidget(_tool_button(self.next_action, "Next label"))
        self.english_button = _tool_button(self.english_action, "English copy")
        navigation.addWidget(self.english_button)
        printing = QHBoxLayout()
        printing.addWidget(self.destination, 1)
        printing.addWidget(_tool_button(self.print_action, "Print label"))
        printing.addWidget(_tool_button(self.export_action, "Export label PDF"))

        preview_page = QWidget()
        preview = QVBoxLayout(preview_page)
        preview.setContentsMargins(4, 4, 4, 4)
        preview.addLayout(navigation)
        preview.addWidget(self.reprint_needed)
        preview.addWidget(self.notices)
        preview.addWidget(self.picture, 1)
        preview.addLayout(printing)
        preview.addWidget(self.message)

        self.history = QTableWidget(0, len(_HISTORY_COLUMNS))
        self.history.setAccessibleName("Label print history")
        self.history.setHorizontalHeaderLabels(list(_HISTORY_COLUMNS))
        self.history.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history.verticalHeader().hide()
        self.history.horizontalHeader().setStretchLastSection(True)
        self.history.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )

        self.printer_warning = self._banner("Label printer problem", _PROBLEM_STYLE)
        self.offset_x = self._offset_box("Printer offset right (mm)")
        self.offset_y = self._offset_box("Printer offset down (mm)")
        setup_page = QWidget()
        setup = QVBoxLayout(setup_page)
        setup.addWidget(self.printer_warning)
        form = QFormLayout()
        fields: tuple[tuple[str, QWidget], ...] = (
            ("&Stock:", self.stock_choice),
            ("P&rinter:", self.printer_choice),
            ("Offset &right (mm):", self.offset_x),
            ("Offset &down (mm):", self.offset_y),
        )
        for text, field in fields:
            caption = QLabel(text)
            caption.setBuddy(field)
            form.addRow(caption, field)
        setup.addLayout(form)
        explanation = QLabel(
            "Print the test page on a sheet or roll of labels: when the outlines miss the labels, "
            "nudge the offset (saved for this printer on this workstation) and print it again."
        )
        explanation.setWordWrap(True)
        explanation.setAccessibleName("About the test page")
        setup.addWidget(explanation)
        setup.addWidget(
            _tool_button(self.test_page_action, "Print label test page"),
            0,
            Qt.AlignmentFlag.AlignLeft,
        )
        setup.addStretch()

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Label views")
        self.tabs.addTab(preview_page, "Label")
        self.tabs.addTab(self.history, "Print history")
        self.tabs.addTab(setup_page, "Printer and stock")
        return self.tabs

    @staticmethod
    def _banner(name: str, style: str) -> QLabel:
        banner = QLabel()
        banner.setWordWrap(True)
        banner.setTextFormat(Qt.TextFormat.PlainText)
        banner.setStyleSheet(style)
        banner.setAccessibleName(name)
        banner.hide()
        return banner

    def _offset_box(self, name: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(-MAX_OFFSET_MM, MAX_OFFSET_MM)
        box.setSingleStep(0.5)
        box.setDecimals(1)
        box.setAccessibleName(name)
        box.valueChanged.connect(self._offset_changed)
        return box

    def focus_target(self) -> QWidget:
        return self.retry_button if self.has_failed else self.picture

    # --- loading ------------------------------------------------------------------------------

    def show_fill(self, fill: FillRow | None) -> None:
        """Preview this fill's label (the queue's selection); None clears the preview."""
        changed = (fill.fill_id if fill else None) != self._wanted_fill_id
        self.fill = fill
        self._wanted_fill_id = fill.fill_id if fill else None
        if changed:
            self.label = None
            self.face = 0
            self.english_action.setChecked(False)
            self._say("")
            self._show()
        if fill is not None:
            self.reload()

    def fetch(self, actor: Actor) -> _Loaded:
        fill_id = self._wanted_fill_id  # set on the GUI thread; a newer load supersedes this
        return _Loaded(
            profile=self._pharmacy.profile(),
            stocks=self._labels.stocks(),
            label=None if fill_id is None else self._read_label(actor, fill_id),
        )

    def _read_label(self, actor: Actor, fill_id: int) -> FillLabel:
        contents = self._labels.contents(actor, fill_id)
        english: list[LabelContent] = []
        if contents[0].language is not LabelLanguage.ENGLISH:
            english = self._labels.contents(actor, fill_id, language=LabelLanguage.ENGLISH)
        return FillLabel(
            fill_id=fill_id,
            contents=tuple(contents),
            english=tuple(english),
            refusal=self._labels.printing_refusal(actor, fill_id),
            reprint_needed=self._verification.view(actor, fill_id).label_reprint_needed,
            prints=tuple(self._labels.prints(actor, fill_id)),
        )

    def show_data(self, data: _Loaded) -> None:
        self.profile = data.profile
        if data.stocks != self.stocks:
            self.stocks = data.stocks
            self._load_stocks()
        if data.label is not None and data.label.fill_id != self._wanted_fill_id:
            return
        self.label = data.label
        self._show()
        if not self._printer_checked:
            self._printer_checked = True
            self._check_printer_at_start()

    # --- what is shown ------------------------------------------------------------------------

    def shown_contents(self) -> tuple[LabelContent, ...]:
        """The labels in the language shown, as a PDF export writes them (no REPRINT mark)."""
        if self.label is None:
            return ()
        if self.english_shown and self.label.english:
            return self.label.english
        return self.label.contents

    def stock(self) -> LabelStock | None:
        return self.stock_choice.currentData()

    def show_english(self, shown: bool) -> None:
        """Show (and print) the English copy of a translated label, or the translation again."""
        self.english_shown = shown
        self.face = 0
        self._show()

    def show_face(self, face: int) -> None:
        if self._faces:
            self.face = max(0, min(face, len(self._faces) - 1))
            self._render()

    def _show(self) -> None:
        label, fill = self.label, self.fill
        if fill is None:
            self.title.setText(NO_FILL_TEXT)
        else:
            self.title.setText(
                f"Rx {fill.rx_number}-{fill.fill_number} · {fill.patient_name} · {fill.state.label}"
            )
        translated = label is not None and bool(label.english)
        self.english_button.setVisible(translated)
        self.english_action.setEnabled(translated)
        loaded = label is not None
        for action in (self.print_action, self.export_action):
            action.setEnabled(loaded and not self._busy)
        self.reprint_needed.setText(label.reprint_needed or "" if label else "")
        self.reprint_needed.setVisible(bool(label and label.reprint_needed))
        notices = self._notices()
        self.notices.setText("\n".join(f"• {notice}" for notice in notices))
        self.notices.setVisible(bool(notices))
        self._show_history()
        self._render()

    def _notices(self) -> list[str]:
        label = self.label
        if label is None:
            return []
        notices = list(self.shown_contents()[0].notices)
        if label.refusal and label.refusal not in notices:
            notices.insert(0, label.refusal)
        if label.prints:
            times = "once" if len(label.prints) == 1 else f"{len(label.prints)} times"
            last = f"{label.prints[-1].printed_at.astimezone():%Y-%m-%d %H:%M}"
            notices.append(
                f"Printed {times}, last on {last}: the next print is a REPRINT and needs a reason."
            )
        return notices

    def _show_history(self) -> None:
        rows = list(reversed(self.label.prints)) if self.label else []
        self.history.setRowCount(len(rows))
        for number, row in enumerate(rows):
            cells = (
                f"{row.printed_at.astimezone():%Y-%m-%d %H:%M}",
                "Reprint" if row.kind is PrintKind.REPRINT else "Original",
                row.username or "—",
                row.workstation,
                row.destination,
                str(row.label_count),
                row.reason,
            )
            for column, text in enumerate(cells):
                self.history.setItem(number, column, QTableWidgetItem(text))
        count = len(rows)
        self.tabs.setTabText(1, f"Print history ({count})" if count else "Print history")

    def _render(self) -> None:
        """Lay the label out at the resolution that fills the preview, pixel for pixel."""
        contents, stock = self.shown_contents(), self.stock()
        if not contents or stock is None:
            self._faces = []
            self.preview_image = QImage()
            self.picture.set_image(QImage(), "")
            self.position.setText(LOADING_TEXT if self.fill and not self.label else "")
            for action in (self.previous_action, self.next_action):
                action.setEnabled(False)
            return
        reprint = bool(self.label and self.label.prints)
        contents = tuple(replace(content, reprint=reprint) for content in contents)
        dpi = self._preview_dpi(stock)
        try:
            self._faces = [
                (container, page)
                for container, content in enumerate(contents)
                for page in range(_page_count(content, stock, dpi))
            ]
            self.face = max(0, min(self.face, len(self._faces) - 1))
            container, page = self._faces[self.face]
            self.preview_image = output.render_image(contents[container], stock, dpi, page=page)
        except RxBenchError as exc:
            self._faces = []
            self.preview_image = QImage()
            self.picture.set_image(QImage(), "")
            self._say(explain(exc)[1], problem=True)
            return
        self.preview_image.setDevicePixelRatio(self.picture.devicePixelRatioF())
        content = contents[container]
        self.picture.set_image(self.preview_image, _describe(content))
        where = f"Label {self.face + 1} of {len(self._faces)}"
        parts = sum(1 for face in self._faces if face[0] == container)
        if parts > 1:  # a continuation label: say whose and which part
            whose = f"container {content.container_text}, " if content.container_text else ""
            where += f" ({whose}part {page + 1} of {parts})"
        self.position.setText(where)
        self.previous_action.setEnabled(self.face > 0)
        self.next_action.setEnabled(self.face < len(self._faces) - 1)

    def _preview_dpi(self, stock: LabelStock) -> int:
        room = self.picture.room()
        fits = min(
            room.width() / float(stock.label_width), room.height() / float(stock.label_height)
        )
        return max(72, min(600, int(fits)))

    # --- workstation choices ------------------------------------------------------------------

    def _load_stocks(self) -> None:
        self.stock_choice.blockSignals(True)
        self.stock_choice.clear()
        for stock in self.stocks:
            self.stock_choice.addItem(stock.name, stock)
        self.stock_choice.setCurrentIndex(
            max(0, self.stock_choice.findText(self._choices.stock_name))
        )
        self.stock_choice.blockSignals(False)
        self._show_destination()

    def _stock_chosen(self) -> None:
        stock = self.stock()
        if stock is not None:
            self._choices.stock_name = stock.name
            self.face = 0
            self._show_destination()
            self._render()

    def printer_name(self) -> str:
        """The workstation's label printer as remembered, installed or not."""
        return self._choices.printer

    def set_printer(self, name: str) -> None:
        self._choices.printer = name
        self._load_printers()

    def offset(self, printer: str) -> tuple[float, float]:
        return self._choices.offset(printer)

    def _load_printers(self) -> None:
        """Fill the printer list; a remembered printer that vanished is said, never replaced."""
        chosen, installed = self._choices.printer, self._sender.printing.printers()
        self.printer_choice.clear()
        if chosen not in installed:
            self.printer_choice.addItem(CHOOSE_PRINTER_TEXT, "")
        for name in installed:
            self.printer_choice.addItem(name, name)
        self.printer_choice.setCurrentIndex(max(0, self.printer_choice.findData(chosen)))
        missing = bool(chosen) and chosen not in installed
        self.printer_warning.setText(
            f"The label printer “{chosen}” is no longer installed on this computer: choose the "
            "label printer again before printing."
            if missing
            else ""
        )
        self.printer_warning.setVisible(missing)
        self._show_destination()
        x, y = self._choices.offset(chosen)
        for box, value in ((self.offset_x, x), (self.offset_y, y)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
            box.setEnabled(not missing and bool(chosen))

    def _show_destination(self) -> None:
        """Where Print sends the label, on the label page: the choices live on another tab."""
        printer = self.printer_choice.currentData() or "No label printer chosen"
        stock = self.stock()
        self.destination.setText(f"{printer} · {stock.name}" if stock else printer)
        self.print_action.setToolTip(
            f"Print the label on {printer} ({QKeySequence(PRINT_SHORTCUT).toString()})"
        )

    def _printer_chosen(self) -> None:
        name = self.printer_choice.currentData()
        if name:
            self.set_printer(name)

    def _offset_changed(self) -> None:
        if printer := self._choices.printer:
            self._choices.set_offset(printer, self.offset_x.value(), self.offset_y.value())

    def _check_printer_at_start(self) -> None:
        """A remembered printer that vanished is asked for again as soon as the dock loads."""
        chosen = self._choices.printer
        if chosen and chosen not in self._sender.printing.printers():
            QTimer.singleShot(0, lambda: self._sender.ensure_printer(self))

    # --- printing one fill --------------------------------------------------------------------

    def print_label(self) -> None:
        """Print the fill's labels on the label printer: the original the first time, a
        reprint (with a reason, marked REPRINT) after that; recorded once the job is sent."""
        actor, label, stock = self._actor(), self.label, self.stock()
        if self._busy or actor is None:
            return
        if label is None or stock is None:
            self._say(NO_FILL_TEXT if self.fill is None else LOADING_TEXT, problem=True)
            return
        if label.refusal:
            self._say(label.refusal, problem=True)
            return
        self._remember_focus()
        printer = self._sender.ensure_printer(self)
        if printer is None:
            self._finish(NO_PRINTER_TEXT, problem=True)
            return
        language = LabelLanguage.ENGLISH if self.english_shown else None
        fill_id = label.fill_id
        self._set_busy(True)
        self._tasks.run(
            lambda: self._labels.contents(actor, fill_id, language=language, for_print=True),
            on_success=lambda contents: self._print_ready(
                actor, fill_id, tuple(contents), stock, printer
            ),
            on_failure=self._print_refused,
        )

    def _print_ready(
        self,
        actor: Actor,
        fill_id: int,
        contents: tuple[LabelContent, ...],
        stock: LabelStock,
        printer: str,
    ) -> None:
        reason = ""
        if contents[0].reprint:
            answer = ask_reason(
                self,
                title="Reprint label",
                question=(
                    f"Rx {rx_of(contents)}'s label was printed before. Why print it again? The "
                    "label is marked REPRINT and the reason is kept with the fill's history."
                ),
                action_text="Reprint",
            )
            if not answer:
                self._finish(REPRINT_CANCELLED_TEXT, problem=True)
                return
            reason = answer
        sent = self._sender.send(self, contents, stock, printer)
        if sent.outcome is None:
            self._finish(sent.problem, problem=True)
            return
        outcome = sent.outcome

        def recorded(row: LabelPrintRow | None, problem: str) -> None:
            if row is None:
                self._finish(problem, problem=True)
                return
            kind = "reprint" if row.kind is PrintKind.REPRINT else "original"
            missing = (
                f" No installed font draws {outcome.missing_characters!r}: check the label."
                if outcome.missing_characters
                else ""
            )
            self._finish(
                f"Rx {rx_of(contents)}: {outcome.labels} label(s) sent to "
                f"{outcome.destination} ({kind}).{missing}"
            )
            self.reload()
            self.printed.emit(row)

        self._sender.record(self, actor, fill_id, contents, stock, outcome, reason, recorded)

    def _print_refused(self, exc: BaseException) -> None:
        self._finish(explain(exc)[1], problem=True)
        self.reload()

    def _remember_focus(self) -> None:
        """Where the person was working, to give the focus back after the dialogs."""
        widget = QApplication.focusWidget()
        self._focus_before = widget
        if widget is not None:
            widget.destroyed.connect(self._forget_focus)

    def _forget_focus(self) -> None:
        self._focus_before = None

    def _finish(self, message: str, *, problem: bool = False) -> None:
        self._set_busy(False)
        self._say(message, problem=problem)
        widget, self._focus_before = self._focus_before, None
        if widget is not None:
            widget.destroyed.disconnect(self._forget_focus)
            widget.setFocus(Qt.FocusReason.OtherFocusReason)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        loaded = self.label is not None
        for action in (self.print_action, self.export_action):
            action.setEnabled(loaded and not busy)
        self.test_page_action.setEnabled(not busy)

    def _say(self, text: str, *, problem: bool = False) -> None:
        self.message.setText(text)
        self.message.setAccessibleDescription(text)
        self.message.setStyleSheet(_PROBLEM_STYLE if problem else _DONE_STYLE)
        self.message.setVisible(bool(text))

    # --- PDF and the test page ----------------------------------------------------------------

    def export_pdf(self, path: Path | str | None = None) -> Path | None:
        """Save the labels as previewed to a PDF (asking where when no `path`): a preview for
        delivery routes and support, audited as an export, never recorded as a print."""
        actor, label, stock = self._actor(), self.label, self.stock()
        if actor is None or label is None or stock is None:
            self._say(NO_FILL_TEXT if self.fill is None else LOADING_TEXT, problem=True)
            return None
        if path is None:
            folder = Path(self._choices.export_folder or Path.home())
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Export label PDF — RxBench", str(folder / f"{label.rx}.pdf"), "PDF (*.pdf)"
            )
            if not chosen:
                return None
            path = Path(chosen).with_suffix(".pdf")
            self._choices.export_folder = str(path.parent)
        target = Path(path)
        try:
            outcome = output.render_pdf(self.shown_contents(), stock, target)
        except RxBenchError as exc:
            self._say(f"The PDF was not saved. {explain(exc)[1]}", problem=True)
            return None
        fill_id = label.fill_id
        self._tasks.run(
            lambda: self._labels.record_export(actor, fill_id, str(target)),
            on_success=lambda _: self._say(
                f"Saved Rx {label.rx}'s label ({outcome.pages} page(s)) to {target}."
            ),
            on_failure=lambda exc: self._say(
                f"Saved {target}, but the export could not be recorded: {explain(exc)[1]}",
                problem=True,
            ),
        )
        return target

    def print_test_page(self) -> None:
        """The calibration page on the label printer, with this printer's offset applied."""
        stock = self.stock()
        if self._busy or stock is None:
            return
        printer = self._sender.ensure_printer(self)
        if printer is None:
            self._say("No label printer is chosen: the test page was not printed.", problem=True)
            return
        x, y = self._choices.offset(printer)
        while True:
            try:
                self._sender.printing.print_calibration_page(stock, printer, offset=(x, y))
            except RxBenchError as exc:
                if show_error(self, exc):
                    continue
                self._say(f"The test page was not printed. {explain(exc)[1]}", problem=True)
                return
            self._say(
                f"Test page sent to {printer} ({stock.name}, offset {x:+.1f} mm right, "
                f"{y:+.1f} mm down)."
            )
            return

    # --- batches from the queue ---------------------------------------------------------------

    def print_batch(self, fill_ids: Sequence[int]) -> None:
        """Print the labels of several fills in turn on the label printer, with progress; fills
        whose label may not print are skipped and listed, reprints share one reason."""
        actor, stock = self._actor(), self.stock()
        if self._busy or actor is None or stock is None or not fill_ids:
            return
        self._remember_focus()
        printer = self._sender.ensure_printer(self)
        if printer is None:
            self._finish(NO_PRINTER_TEXT, problem=True)
            return
        self._set_busy(True)
        batch = LabelBatch(
            sender=self._sender,
            labels=self._labels,
            tasks=self._tasks,
            actor=actor,
            stock=stock,
            printer=printer,
            parent=self,
        )
        batch.finished.connect(lambda outcome: self._batch_done(batch, outcome))
        batch.start(fill_ids)

    def _batch_done(self, batch: LabelBatch, outcome: BatchOutcome) -> None:
        batch.deleteLater()
        summary = outcome.summary()
        self._finish(summary, problem=bool(outcome.refused or outcome.not_printed))
        self.reload()
        self.batch_finished.emit(outcome)
        box = QMessageBox(QMessageBox.Icon.Information, "Labels printed — RxBench", summary)
        box.setAccessibleName("Label batch summary")
        box.setParent(self, box.windowFlags())
        box.exec()
        box.deleteLater()


@lru_cache(maxsize=64)
def _page_count(content: LabelContent, stock: LabelStock, dpi: int) -> int:
    """How many labels one container's text takes (continuation labels included)."""
    return len(layout_label(content, stock, dpi).pages)


def _describe(content: LabelContent) -> str:
    """What a screen reader says of the label picture."""
    parts = [
        f"Rx {content.rx_number}-{content.fill_number}",
        content.patient_name,
        content.drug_line,
        content.directions,
    ]
    if content.container_text:
        parts.append(f"container {content.container_text}")
    return ". ".join(part for part in parts if part)

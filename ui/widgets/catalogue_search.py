"""The drug field: search the catalogue as you type, or scan the bottle, and choose a package."""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFocusEvent, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.domain.barcodes import interpret_scan
from app.domain.rx_rules import parse_schedule
from app.errors import RxBenchError
from app.services.catalogue import CatalogueHit, CatalogueService
from app.services.unit_of_work import Actor
from ui.errors import explain
from ui.models.table import RowTableModel
from ui.scanner import ScanRouter
from ui.tasks import TaskRunner

SEARCH_DELAY_MS = 120
RESULT_LIMIT = 30
VISIBLE_ROWS = 10
POPUP_WIDTH = 1000
MIN_QUERY_LENGTH = 2
# Twelve to fourteen digits are a UPC, EAN or GTIN off the box, not an NDC typed by hand.
_BARCODE_DIGITS = re.compile(r"\d{12,14}")
_INACTIVE_COLOUR = QColor("#7a1010")


def flags_text(hit: CatalogueHit) -> str:
    """What sets this package apart, in words: schedule, discontinued, not certified, sample."""
    words = []
    schedule = parse_schedule(hit.dea_schedule) if hit.dea_schedule else None
    if schedule is not None:
        words.append(f"Controlled {schedule.label}")
    if hit.discontinued:
        words.append("Discontinued")
    if hit.excluded:
        words.append("Not certified (FDA excluded)")
    if hit.sample:
        words.append("Sample")
    return ", ".join(words)


def hit_text(hit: CatalogueHit) -> str:
    """One line naming the package, as the field shows the choice."""
    return f"{hit.display_name} {hit.strength} {hit.dosage_form.lower()} · NDC {hit.ndc}"


class CatalogueHitModel(RowTableModel[CatalogueHit]):
    HEADERS = ("Drug", "Strength", "Form", "NDC", "Package", "Labeler", "Flags")
    DRUG, STRENGTH, FORM, NDC, PACKAGE, LABELER, FLAGS = range(7)

    def display(self, row: CatalogueHit, column: int) -> str:
        values = (
            row.display_name,
            row.strength,
            row.dosage_form.lower(),
            row.ndc,
            row.package_description,
            row.labeler,
            flags_text(row),
        )
        return values[column]

    def decorate(self, row: CatalogueHit, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and (row.discontinued or row.excluded):
            return _INACTIVE_COLOUR
        if role == Qt.ItemDataRole.ToolTipRole and column == self.DRUG:
            return f"{row.display_name} ({row.generic_name})"
        return None


class _HitsPopup(QFrame):
    """The list laid over the window under the field; it never takes the focus, the field
    forwards keys to it. A child of the window rather than a tool-tip window of its own: those
    are raised by the platform, which not every platform (offscreen, some Wayland) supports."""

    def __init__(self, model: CatalogueHitModel) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.Box)
        self.setAutoFillBackground(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table = QTableView()
        self.table.setAccessibleName("Drug search results")
        self.table.setModel(model)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The package description and labeler are long: they give way (elided) to the rest.
        header.setSectionResizeMode(CatalogueHitModel.PACKAGE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(CatalogueHitModel.LABELER, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(CatalogueHitModel.LABELER, 170)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Drug search status")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table)
        layout.addWidget(self.status)


class CatalogueSearchField(QLineEdit):
    """Type a name, strength or NDC (any form), or scan the package; Up/Down, Enter, Esc.

    While it has the focus it is the scan router's receiver, so a scan becomes a search by NDC
    whatever else the dialog waits for.

    Signals: package_chosen(object)  # the CatalogueHit chosen
    package_cleared()  # the text was edited after a choice: no package is chosen any more
    results_shown(int)  # a search answered (the number of hits), for tests and screen readers
    """

    package_chosen = Signal(object)
    package_cleared = Signal()
    results_shown = Signal(int)

    def __init__(
        self,
        catalogue: CatalogueService,
        actor: Actor,
        tasks: TaskRunner,
        *,
        scan_router: ScanRouter | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._catalogue = catalogue
        self._actor = actor
        self._tasks = tasks
        self._scan_router = scan_router
        self._generation = 0
        self._chosen: CatalogueHit | None = None
        self.setPlaceholderText("Drug name and strength, NDC, or scan the bottle")
        self.model = CatalogueHitModel(self)
        self._popup = _HitsPopup(self.model)
        self._popup.table.doubleClicked.connect(lambda index: self._choose_row(index.row()))
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.search_now)
        self.textEdited.connect(self._edited)

    # --- what the dialog reads -----------------------------------------------------------------

    @property
    def chosen(self) -> CatalogueHit | None:
        return self._chosen

    @property
    def popup_visible(self) -> bool:
        return self._popup.isVisible()

    @property
    def status_text(self) -> str:
        return self._popup.status.text()

    def choose(self, hit: CatalogueHit) -> None:
        self._chosen = hit
        self.setText(hit_text(hit))
        self.setCursorPosition(0)
        self.setToolTip(f"{hit_text(hit)}\n{hit.package_description}\n{hit.labeler}")
        self.close_popup()
        self.package_chosen.emit(hit)

    def close_popup(self) -> None:
        self._popup.hide()

    # --- searching ----------------------------------------------------------------------------

    def _edited(self, _text: str) -> None:
        if self._chosen is not None:
            self._chosen = None
            self.setToolTip("")
            self.package_cleared.emit()
        self._timer.start()

    def search_now(self) -> None:
        """Search for the text typed; only the answer to the latest search is shown."""
        self._timer.stop()
        query = self.text().strip()
        self._generation += 1
        generation = self._generation
        if len(query) < MIN_QUERY_LENGTH:
            self.close_popup()
            return
        if _BARCODE_DIGITS.fullmatch(query):
            self._look_up_scan(query)
            return
        catalogue, actor = self._catalogue, self._actor
        self._tasks.run(
            lambda: catalogue.search(actor, query, limit=RESULT_LIMIT),
            on_success=lambda hits: self._answered(generation, query, hits),
            on_failure=lambda exc: self._failed(generation, exc),
        )

    def accept_scan(self, text: str, *, manual: bool) -> None:
        """A scan routed here (or barcode digits typed): look the package up by its NDC."""
        self._timer.stop()
        self._generation += 1
        self._chosen = None
        self.setText(text.strip())
        self._look_up_scan(text)

    def _look_up_scan(self, text: str) -> None:
        generation = self._generation
        try:
            scan = interpret_scan(text)
        except RxBenchError as exc:
            self._show_status(explain(exc)[1], rows=[])
            return
        if not scan.candidates:
            self._show_status("This barcode carries no NDC: search by name instead.", rows=[])
            return
        catalogue = self._catalogue
        candidates = scan.candidates
        self._tasks.run(
            lambda: catalogue.find_packages_by_ndc10_candidates(candidates),
            on_success=lambda hits: self._scanned(generation, text, hits),
            on_failure=lambda exc: self._failed(generation, exc),
        )

    def _scanned(self, generation: int, text: str, hits: list[CatalogueHit]) -> None:
        if generation != self._generation:
            return
        if len(hits) == 1:
            self.choose(hits[0])
            self.results_shown.emit(1)
            return
        self._answered(generation, text, hits)

    def _answered(self, generation: int, query: str, hits: list[CatalogueHit]) -> None:
        if generation != self._generation:
            return  # the person typed on; a newer search is on its way
        if hits:
            more = " or more" if len(hits) == RESULT_LIMIT else ""
            status = (
                f"{len(hits)}{more} packages match “{query}”. "
                "↑ ↓ to move, Enter to choose, Esc to close."
            )
        else:
            status = f"No package matches “{query}”: check the spelling or the NDC."
        self._show_status(status, rows=hits)
        self.results_shown.emit(len(hits))

    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self._show_status(explain(exc)[1], rows=[])
            self.results_shown.emit(0)

    def _show_status(self, status: str, *, rows: list[CatalogueHit]) -> None:
        self.model.set_rows(rows)
        self._popup.status.setText(status)
        self._popup.status.setAccessibleDescription(status)
        table = self._popup.table
        if rows:
            table.selectRow(0)
        table.setVisible(bool(rows))
        self._place_popup(len(rows))
        self._popup.show()

    def _place_popup(self, rows: int) -> None:
        """Under the field, as wide as the window allows, as many rows as fit below."""
        window = self.window()
        if self._popup.parentWidget() is not window:
            self._popup.setParent(window)
        below = self.mapTo(window, QPoint(0, self.height()))
        table = self._popup.table
        row_height = table.verticalHeader().defaultSectionSize()
        width = min(max(self.width(), POPUP_WIDTH), window.width() - 8)
        left = max(min(below.x(), window.width() - width - 4), 4)
        self._popup.setFixedWidth(width)
        status_height = self._popup.status.heightForWidth(width - 8)
        room = window.height() - below.y() - status_height - 16
        fitting = max((room - table.horizontalHeader().height()) // row_height, 3)
        shown_rows = min(max(rows, 1), VISIBLE_ROWS, fitting)
        table.setFixedHeight(table.horizontalHeader().height() + shown_rows * row_height + 4)
        self._popup.adjustSize()
        self._popup.move(left, below.y())
        self._popup.raise_()

    # --- keys and focus -----------------------------------------------------------------------

    def _move_selection(self, step: int) -> None:
        rows = self.model.rowCount()
        if not rows:
            return
        current = self._popup.table.currentIndex().row()
        target = min(max(current + step, 0), rows - 1)
        self._popup.table.selectRow(target)
        self._popup.table.scrollTo(self.model.index(target, 0))

    def _choose_row(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            self.choose(self.model.row_at(row))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if self._popup.isVisible():
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
                step = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: VISIBLE_ROWS}
                self._move_selection(step.get(key, -VISIBLE_ROWS))
                return
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                if self._timer.isActive():
                    self.search_now()
                else:
                    self._choose_row(self._popup.table.currentIndex().row())
                return
            if key == Qt.Key.Key_Escape:
                self.close_popup()
                return
        elif key == Qt.Key.Key_Down and self.model.rowCount() and self._chosen is None:
            self._show_status(self._popup.status.text(), rows=list(self.model.rows))
            return
        elif (
            key in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and self._chosen is None
            and self.text().strip()
        ):
            # Enter before a choice searches now; it never saves a form without a drug.
            self.search_now()
            return
        super().keyPressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        if self._scan_router is not None:
            self._scan_router.push_receiver(self)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        if self._scan_router is not None:
            self._scan_router.remove_receiver(self)
        if event.reason() != Qt.FocusReason.PopupFocusReason:
            self.close_popup()

    def hideEvent(self, event: Any) -> None:
        self.close_popup()
        super().hideEvent(event)

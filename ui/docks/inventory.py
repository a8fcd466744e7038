"""The Inventory dock: stock by lot, found by drug or NDC and filtered by what needs attention;
the selected lot's package in detail (its lots in FEFO turn, its movements, its usage charted);
the actions on a lot, each with a window-wide shortcut."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.services.catalogue import CatalogueService
from app.services.controlled import ControlledSubstanceService
from app.services.counts import CountService
from app.services.inventory import InventoryService, StockChange, shown
from app.services.pmp import PmpService
from app.services.recalls import RecallService
from app.services.receiving import ReceivingService
from app.services.stock import (
    MovementLine,
    PackageStock,
    StockQueryService,
    StockRow,
    StockView,
    UsageHistory,
)
from app.services.unit_of_work import Actor
from ui.dialogs import lot_actions
from ui.dialogs.controlled_substances import ControlledSubstancesDialog
from ui.dialogs.cycle_count import CycleCountDialog, Form106Dialog, Signer
from ui.dialogs.lot_actions import LotActionDialog, Witness
from ui.dialogs.pmp_reports import PmpReportsDialog
from ui.dialogs.recalls import RecallsDialog
from ui.dialogs.receive_stock import ReceiveStockDialog
from ui.dialogs.reorder import ReorderDialog, ReorderTools
from ui.docks.base import ActorSource, DataDock, row_table
from ui.errors import explain
from ui.models.stock import (
    KIND_LABELS,
    MovementModel,
    PackageLotsModel,
    StockModel,
    on_hand_text,
    schedule_text,
)
from ui.models.table import ROW_ROLE
from ui.scanner import ScanRouter
from ui.tasks import TaskRunner
from ui.widgets.usage_chart import UsageChart

RECEIVE_SHORTCUT = "Ctrl+Shift+R"
CONTROLLED_SHORTCUT = "Ctrl+Shift+D"
RECALLS_SHORTCUT = "Ctrl+Shift+A"
PMP_SHORTCUT = "Ctrl+Shift+M"
COUNT_SHORTCUT = "Ctrl+Shift+C"
REORDER_SHORTCUT = "Ctrl+Shift+O"
SEARCH_SHORTCUT = "Ctrl+Shift+F"
ADJUST_SHORTCUT = "Ctrl+Shift+J"
DESTROY_SHORTCUT = "Ctrl+Shift+W"
RETURN_SHORTCUT = "Ctrl+Shift+V"
TRANSFER_SHORTCUT = "Ctrl+Shift+G"
MOVE_SHORTCUT = "Ctrl+Shift+I"
QUARANTINE_SHORTCUT = "Ctrl+Shift+Q"
RELEASE_SHORTCUT = "Ctrl+Shift+K"
REVERSE_SHORTCUT = "Ctrl+Shift+Z"
SEARCH_DELAY_MS = 250
DETAIL_DELAY_MS = 120
USAGE_PERIODS = (30, 90, 365)
CHOOSE_LOT_TEXT = "Choose a lot in the stock table first (↑ ↓), then the action."
CHOOSE_MOVEMENT_TEXT = "Choose the movement to reverse on the Movements tab first."
SETTINGS_GROUP = "inventory_dock"


@dataclass(frozen=True)
class PackageDetail:
    """What the detail pane shows of one package, read together."""

    package: PackageStock
    movements: list[MovementLine]
    usage: UsageHistory


def change_text(change: StockChange) -> str:
    """What a lot action did, in one sentence, with the service's notice after it."""
    lot = change.lot
    if change.movement is not None:
        movement = change.movement
        sign = "+" if movement.quantity > 0 else ""
        done = f"{KIND_LABELS.get(movement.kind, movement.kind)} {sign}{shown(movement.quantity)}"
    else:
        done = f"now {lot.status}, in the {lot.location}"
    text = f"Lot {lot.lot_number} (NDC {lot.ndc}): {done}; {on_hand_text(lot.on_hand)} on hand."
    return f"{text} {change.notice}" if change.notice else text


def _nobody_signs(_purpose: str) -> Actor | None:
    """A dock built without the session's prompts: nobody can witness or co-sign."""
    return None


class InventoryDock(DataDock):
    """Signals: detail_loaded()  # the selected lot's package is shown in the detail pane
    detail_failed(object)  # the exception
    shortages_checked()  # the Reorder dialog checked for shortages: the work list changed
    """

    detail_loaded = Signal()
    detail_failed = Signal(object)
    shortages_checked = Signal()

    def __init__(
        self,
        *,
        stock: StockQueryService,
        tasks: TaskRunner,
        actor: ActorSource,
        receiving: ReceivingService | None = None,
        controlled: ControlledSubstanceService | None = None,
        recalls: RecallService | None = None,
        pmp: PmpService | None = None,
        counts: CountService | None = None,
        reorder: ReorderTools | None = None,
        catalogue: CatalogueService | None = None,
        cosign: Signer | None = None,
        inventory: InventoryService | None = None,
        witness: Witness | None = None,
        settings: Callable[[], QSettings] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Inventory", "inventory_dock", tasks=tasks, actor=actor, parent=parent)
        self._stock = stock
        self._inventory = inventory
        self._witness = witness
        self._settings = settings
        self._search_text = ""
        self._view = StockView.ALL
        self._detail: PackageDetail | None = None
        self._detail_generation = 0
        self.model = StockModel(self)
        self.table, _ = row_table(
            self.model,
            accessible_name="Stock on hand table",
            sort_column=StockModel.EXPIRY,
            stretch_column=StockModel.DRUG,
        )
        self._receiving = receiving
        self._controlled = controlled
        self._recalls = recalls
        self._pmp = pmp
        self._counts = counts
        self._reorder = reorder
        self._catalogue = catalogue
        self._cosign = cosign
        self._scan_router: ScanRouter | None = None
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._search_row())
        self._buttons = QHBoxLayout()
        layout.addLayout(self._buttons)
        # The dock's actions, in the order the main window's Inventory menu lists them.
        self.menu_actions: list[QAction] = []
        self.receive_action, self.receive_button = self._add_action(
            "&Receive stock…", RECEIVE_SHORTCUT, self.receive_stock, enabled=receiving is not None
        )
        self.controlled_action, self.controlled_button = self._add_action(
            "Controlled &substances…",
            CONTROLLED_SHORTCUT,
            lambda: self.controlled_substances(),
            enabled=controlled is not None,
        )
        self.recalls_action, self.recalls_button = self._add_action(
            "Re&calls…", RECALLS_SHORTCUT, self.open_recalls, enabled=recalls is not None
        )
        self.pmp_action, self.pmp_button = self._add_action(
            "&PMP reports…", PMP_SHORTCUT, lambda: self.pmp_reports(), enabled=pmp is not None
        )
        self.count_action, self.count_button = self._add_action(
            "C&ount stock…", COUNT_SHORTCUT, lambda: self.count_stock(), enabled=counts is not None
        )
        self.reorder_action, self.reorder_button = self._add_action(
            "R&eorder…", REORDER_SHORTCUT, self.open_reorder, enabled=reorder is not None
        )
        self._buttons.addStretch(1)
        self._add_lot_actions(layout)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setAccessibleName("Inventory notice")
        self.notice.hide()
        layout.addWidget(self.notice)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self._detail_pane())
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout.addWidget(self.splitter, 1)
        # In a scroll area: the dock may be made smaller than its rows of buttons and its detail
        # pane (the window's own minimum size stays that of its other docks).
        scroller = QScrollArea()
        scroller.setWidget(content)
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        scroller.setFocusProxy(self.table)  # Ctrl+4 lands on the stock table, as before
        self.set_content(scroller)
        self._wire_selection()
        self._restore_layout()

    def _add_action(
        self, text: str, shortcut: str, slot: Callable[[], object], *, enabled: bool = True
    ) -> tuple[QAction, QPushButton]:
        """An Inventory action: a button in the dock showing its shortcut, and an entry in the
        main window's Inventory menu. The shortcut works anywhere in the window, so it must not
        be taken by another dock or menu."""
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setEnabled(enabled)
        action.triggered.connect(slot)
        self.addAction(action)
        self.menu_actions.append(action)
        plain = text.replace("&", "")
        button = QPushButton(f"{plain} ({shortcut})")
        button.setAccessibleName(plain.rstrip("…"))
        button.setEnabled(enabled)
        button.clicked.connect(action.trigger)
        action.changed.connect(lambda: button.setEnabled(action.isEnabled()))
        self._buttons.addWidget(button)
        return action, button

    # --- layout -------------------------------------------------------------------------------

    def _search_row(self) -> QHBoxLayout:
        """Find (drug words or an NDC fragment, as you type) and which lots to show."""
        self.search = QLineEdit()
        self.search.setPlaceholderText(f"Find by drug name or NDC ({SEARCH_SHORTCUT})")
        self.search.setToolTip(
            f"Type a drug name and strength or part of an NDC; the table narrows as you type. "
            f"{SEARCH_SHORTCUT} comes here from anywhere in the window."
        )
        self.search.setAccessibleName("Find stock")
        self.search.setClearButtonEnabled(True)
        for clear in self.search.findChildren(QToolButton):
            clear.setAccessibleName("Clear the search")
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._search_changed)
        self.search.textEdited.connect(lambda _text: self._search_timer.start())
        self.search.returnPressed.connect(self._search_changed)
        self.search_action = QAction("&Find stock", self)
        self.search_action.setShortcut(QKeySequence(SEARCH_SHORTCUT))
        self.search_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.search_action.triggered.connect(self.focus_search)
        self.addAction(self.search_action)
        self.view_choice = QComboBox()
        self.view_choice.setAccessibleName("Show")
        self.view_choice.setToolTip("Which lots the table lists")
        for view in StockView:
            self.view_choice.addItem(view.label, view)
        self.view_choice.currentIndexChanged.connect(self._view_changed)
        self.lots_listed = QLabel()
        self.lots_listed.setAccessibleName("Lots listed")
        row = QHBoxLayout()
        row.addWidget(self.search, 3)
        show = QLabel("Show:")
        show.setBuddy(self.view_choice)
        row.addWidget(show)
        row.addWidget(self.view_choice, 1)
        row.addWidget(self.lots_listed)
        return row

    def _add_lot_actions(self, layout: QVBoxLayout) -> None:
        """The selected lot's actions, on their own row; the shortcut is in each tool tip and in
        the Inventory menu (the row would not fit the dock with it in every button)."""
        self._lot_buttons = QHBoxLayout()
        heading = QLabel("Selected lot:")
        heading.setAccessibleName("Selected lot")
        self._lot_buttons.addWidget(heading)
        self.menu_actions.append(self.search_action)
        have = self._inventory is not None
        self.adjust_action = self._add_lot_action(
            "&Adjust stock…", ADJUST_SHORTCUT, self.adjust_lot, have
        )
        self.destroy_action = self._add_lot_action(
            "&Destroy stock…", DESTROY_SHORTCUT, self.destroy_lot, have
        )
        self.return_action = self._add_lot_action(
            "Ret&urn to vendor…", RETURN_SHORTCUT, self.return_lot, have
        )
        self.transfer_action = self._add_lot_action(
            "&Transfer out…", TRANSFER_SHORTCUT, self.transfer_lot, have
        )
        self.move_action = self._add_lot_action(
            "&Move location…", MOVE_SHORTCUT, self.move_lot, have
        )
        self.quarantine_action = self._add_lot_action(
            "&Quarantine lot…", QUARANTINE_SHORTCUT, self.quarantine_lot, have
        )
        self.release_action = self._add_lot_action(
            "Re&lease lot…", RELEASE_SHORTCUT, self.release_lot, have
        )
        self.reverse_action = self._add_lot_action(
            "Reverse mo&vement…", REVERSE_SHORTCUT, self.reverse_movement, have
        )
        self._lot_buttons.addStretch(1)
        layout.addLayout(self._lot_buttons)

    def _add_lot_action(
        self, text: str, shortcut: str, slot: Callable[[], object], enabled: bool
    ) -> QAction:
        action, button = self._add_action(text, shortcut, slot, enabled=enabled)
        self._buttons.removeWidget(button)
        plain = text.replace("&", "")
        button.setText(plain.removesuffix(" stock…").removesuffix(" lot…").removesuffix("…"))
        button.setToolTip(f"{plain.rstrip('…')} ({shortcut})")
        self._lot_buttons.addWidget(button)
        return action

    def _detail_pane(self) -> QWidget:
        """The selected lot's package: a heading, then its lots, movements and usage."""
        pane = QWidget()
        layout = QVBoxLayout(pane)
        layout.setContentsMargins(0, 0, 0, 0)
        self.detail_title = QLabel("Choose a lot to see its package.")
        self.detail_title.setWordWrap(True)
        self.detail_title.setAccessibleName("Package")
        self.lots_model = PackageLotsModel(self)
        self.lots_table, _ = row_table(
            self.lots_model,
            accessible_name="Lots of the package",
            sort_column=PackageLotsModel.EXPIRY,
            stretch_column=PackageLotsModel.LOT,
        )
        self.movements_model = MovementModel(self)
        self.movements_table, _ = row_table(
            self.movements_model,
            accessible_name="Movements of the package",
            sort_column=MovementModel.WHEN,
            stretch_column=MovementModel.WHY,
        )
        self.movements_table.sortByColumn(MovementModel.WHEN, Qt.SortOrder.DescendingOrder)
        self.period = QComboBox()
        self.period.setAccessibleName("Usage period")
        for days in USAGE_PERIODS:
            self.period.addItem(f"Last {days} days", days)
        self.period.currentIndexChanged.connect(lambda _index: self.load_detail())
        self.usage_chart = UsageChart()
        usage = QWidget()
        usage_layout = QVBoxLayout(usage)
        period_row = QHBoxLayout()
        period_label = QLabel("Period:")
        period_label.setBuddy(self.period)
        period_row.addWidget(period_label)
        period_row.addWidget(self.period)
        period_row.addStretch(1)
        usage_layout.addLayout(period_row)
        usage_layout.addWidget(self.usage_chart, 1)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Package detail")
        self.tabs.addTab(self.lots_table, "Lots")
        self.tabs.addTab(self.movements_table, "Movements")
        self.tabs.addTab(usage, "Usage")
        layout.addWidget(self.detail_title)
        layout.addWidget(self.tabs, 1)
        return pane

    def _wire_selection(self) -> None:
        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(DETAIL_DELAY_MS)
        self._detail_timer.timeout.connect(self.load_detail)
        self.table.selectionModel().currentRowChanged.connect(
            lambda _current, _previous: self._detail_timer.start()
        )
        self.table.activated.connect(self._lot_activated)
        # Tab leaves a table (the arrows move within it) for the next control.
        for table in (self.table, self.lots_table, self.movements_table):
            table.setTabKeyNavigation(False)
        QWidget.setTabOrder(self.search, self.view_choice)
        QWidget.setTabOrder(self.view_choice, self.table)
        QWidget.setTabOrder(self.table, self.tabs)
        back = QShortcut(QKeySequence(Qt.Key.Key_Escape), self.tabs)
        back.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        back.activated.connect(lambda: self.table.setFocus(Qt.FocusReason.ShortcutFocusReason))
        self.splitter.splitterMoved.connect(lambda _position, _index: self._save_layout())
        self.tabs.currentChanged.connect(lambda _index: self._save_layout())

    def _restore_layout(self) -> None:
        """The splitter and the detail tab as last left, when the window keeps settings."""
        if self._settings is None:
            return
        settings = self._settings()
        splitter = settings.value(f"{SETTINGS_GROUP}/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        tab = settings.value(f"{SETTINGS_GROUP}/tab")
        if tab is not None and 0 <= int(tab) < self.tabs.count():
            self.tabs.setCurrentIndex(int(tab))

    def _save_layout(self) -> None:
        if self._settings is None:
            return
        settings = self._settings()
        settings.setValue(f"{SETTINGS_GROUP}/splitter", self.splitter.saveState())
        settings.setValue(f"{SETTINGS_GROUP}/tab", self.tabs.currentIndex())

    def receive_stock(self) -> ReceiveStockDialog | None:
        """Open the Receive stock dialog; the stock shown is read again once it is saved."""
        actor = self._actor()
        if self._receiving is None or actor is None:
            return None
        dialog = ReceiveStockDialog(
            self._receiving, actor, scan_router=self._scan_router, parent=self
        )
        dialog.accepted.connect(self.reload)
        dialog.open()
        return dialog

    def open_reorder(self) -> ReorderDialog | None:
        """Open the Reorder dialog (levels, suggested order, short-dated stock); a shortage check
        there is passed on, for the work list to be read again."""
        actor = self._actor()
        if self._reorder is None or actor is None:
            return None
        dialog = ReorderDialog(
            self._reorder, actor, self._tasks, scan_router=self._scan_router, parent=self
        )
        dialog.shortages_checked.connect(lambda _notices: self.shortages_checked.emit())
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def pmp_reports(self, report_id: int | None = None) -> PmpReportsDialog | None:
        """Open the PMP reports: the daily prescription-monitoring files and the days pending
        (file `report_id` selected, from its work-list item, when given)."""
        actor = self._actor()
        if self._pmp is None or actor is None:
            return None
        dialog = PmpReportsDialog(self._pmp, actor, select_id=report_id, parent=self)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def open_recalls(self, recall_id: int | None = None) -> RecallsDialog | None:
        """Open the recalls (list, new, FDA import, work list), on recall `recall_id`'s work
        list when given (its item on the pharmacist's list); the stock shown is read again when
        it closes, as a recall changes lots' status and place."""
        actor = self._actor()
        if self._recalls is None or actor is None:
            return None
        dialog = RecallsDialog(self._recalls, actor, tasks=self._tasks, parent=self)
        dialog.finished.connect(self.reload)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        if recall_id is not None:
            dialog.open_recall(recall_id)
        return dialog

    def count_stock(self, session_id: int | None = None) -> CycleCountDialog | None:
        """Open the Count stock dialog (on count `session_id`, from its work-list item, when
        given); the stock shown is read again after an approval."""
        actor = self._actor()
        if self._counts is None or actor is None:
            return None
        dialog = CycleCountDialog(
            self._counts,
            actor,
            catalogue=self._catalogue,
            tasks=self._tasks,
            cosign=self._cosign,
            witness=self._witness,
            scan_router=self._scan_router,
            session_id=session_id,
            parent=self,
        )
        dialog.stock_changed.connect(self.reload)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def record_form_106(self, report_id: int) -> Form106Dialog | None:
        """Open the DEA Form 106 prompt for a report still due (from its work-list item), to
        record it filed with DEA's reference."""
        actor = self._actor()
        if self._counts is None or actor is None:
            return None
        report = next(
            (row for row in self._counts.loss_reports(actor) if row.report_id == report_id), None
        )
        if report is None:
            self.show_notice(f"DEA Form 106 report {report_id} is no longer due.")
            return None
        dialog = Form106Dialog(self._counts, actor, (report,), parent=self)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def controlled_substances(
        self, discrepancy_id: int | None = None
    ) -> ControlledSubstancesDialog | None:
        """Open the controlled-substance record (log, count-back, discrepancies, inventories),
        at discrepancy `discrepancy_id` when given (from its work-list item). Its witnesses and
        co-signatures are asked through the window's session."""
        actor = self._actor()
        if self._controlled is None or actor is None:
            return None
        dialog = ControlledSubstancesDialog(
            self._controlled,
            actor,
            witness=self._witness or _nobody_signs,
            cosign=self._cosign or _nobody_signs,
            scan_router=self._scan_router,
            parent=self,
        )
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        if discrepancy_id is not None:
            dialog.show_discrepancy(discrepancy_id)
        return dialog

    def attach_scanner(self, router: ScanRouter) -> None:
        """The receiving and controlled-substance dialogs take scans through `router` while
        they are open."""
        self._scan_router = router

    # --- finding lots -------------------------------------------------------------------------

    def focus_search(self) -> None:
        self.show()
        if not self.isWindow():
            self.raise_()  # brings a tabbed dock to the front (a window is raised by its system)
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _search_changed(self) -> None:
        self._search_timer.stop()
        text = self.search.text().strip()
        if text != self._search_text:
            self._search_text = text
            self.reload()

    def _view_changed(self, _index: int) -> None:
        self._view = StockView(self.view_choice.currentData())
        self.reload()

    def fetch(self, actor: Actor) -> list[StockRow]:
        # Runs on a worker thread: the search and view were copied from the widgets before.
        return self._stock.on_hand(actor, search=self._search_text, view=self._view)

    def show_data(self, data: list[StockRow]) -> None:
        chosen = self.selected_lot()
        self.model.set_rows(data)
        self.table.resizeColumnsToContents()
        self.lots_listed.setText(f"{len(data)} lot{'s' if len(data) != 1 else ''}")
        if chosen is not None:
            self.select_lot(chosen.lot_id)

    def selected_lot(self) -> StockRow | None:
        index = self.table.currentIndex()
        row = index.data(ROW_ROLE) if index.isValid() else None
        return row if isinstance(row, StockRow) else None

    def select_lot(self, lot_id: int) -> bool:
        """Make the lot the current row (and so load its package's detail), if it is listed."""
        proxy = self.table.model()
        for row in range(proxy.rowCount()):
            index = proxy.index(row, 0)
            lot = index.data(ROW_ROLE)
            if isinstance(lot, StockRow) and lot.lot_id == lot_id:
                self.table.setCurrentIndex(index)
                self.table.selectRow(row)
                self._detail_timer.start()
                return True
        return False

    def _lot_activated(self, _index: QModelIndex) -> None:
        """Enter (or a double-click) on a lot: into its detail, on the tab last used; Esc there
        comes back to the table."""
        self.load_detail()
        page = self.tabs.currentWidget()
        target = page if isinstance(page, QTableView) else self.period
        target.setFocus(Qt.FocusReason.OtherFocusReason)

    # --- the package in detail ----------------------------------------------------------------

    def load_detail(self) -> None:
        """Read the selected lot's package off the GUI thread; only the latest answer shows."""
        self._detail_timer.stop()
        lot, actor = self.selected_lot(), self._actor()
        if lot is None or actor is None:
            return
        self._detail_generation += 1
        generation = self._detail_generation
        stock, package_id = self._stock, lot.package_id
        days = int(self.period.currentData())

        def read() -> PackageDetail:
            return PackageDetail(
                package=stock.package_stock(actor, package_id),
                movements=stock.movements(actor, package_id),
                usage=stock.usage_by_day(actor, package_id, days=days),
            )

        self._tasks.run(
            read,
            on_success=lambda detail: self._detail_arrived(generation, detail),
            on_failure=lambda exc: self._detail_failed(generation, exc),
        )

    def _detail_arrived(self, generation: int, detail: PackageDetail) -> None:
        if generation != self._detail_generation or not isValid(self.detail_title):
            return  # a newer read is on its way, or the dock is gone (its runner still ran)
        self._detail = detail
        package = detail.package
        schedule = f" · {schedule_text(package.dea_schedule)}" if package.dea_schedule else ""
        level = ""
        if package.minimum is not None:
            below = " — BELOW MINIMUM" if package.below_minimum else ""
            level = f" · minimum {shown(package.minimum)}{below}"
        self.detail_title.setText(
            f"<b>{_html(package.drug)}</b>{schedule} · NDC {package.ndc}<br>"
            f"{on_hand_text(package.on_hand)} on hand, {shown(package.dispensable)} "
            f"dispensable{level}"
        )
        self.detail_title.setAccessibleDescription(self.detail_title.text())
        self.lots_model.set_rows(package.lots)
        self.lots_table.resizeColumnsToContents()
        self.movements_model.set_rows(detail.movements)
        self.movements_table.resizeColumnsToContents()
        self.usage_chart.show_usage(detail.usage)
        self.detail_loaded.emit()

    def _detail_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._detail_generation or not isValid(self.detail_title):
            return
        title, sentence = explain(exc)
        self.detail_title.setText(f"<b>{_html(title)}</b><br>{_html(sentence)}")
        self.detail_failed.emit(exc)

    def selected_movement(self) -> MovementLine | None:
        index = self.movements_table.currentIndex()
        row = index.data(ROW_ROLE) if index.isValid() else None
        return row if isinstance(row, MovementLine) else None

    # --- lot actions --------------------------------------------------------------------------

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setAccessibleDescription(text)
        self.notice.setVisible(bool(text))

    def _open(
        self, make: Callable[[InventoryService, Actor, StockRow], LotActionDialog]
    ) -> LotActionDialog | None:
        actor = self._actor()
        if self._inventory is None or actor is None:
            return None
        lot = self.selected_lot()
        if lot is None:
            self.show_notice(CHOOSE_LOT_TEXT)
            self.table.setFocus(Qt.FocusReason.OtherFocusReason)
            return None
        return self._show_dialog(make(self._inventory, actor, lot))

    def _show_dialog(self, dialog: LotActionDialog) -> LotActionDialog:
        dialog.accepted.connect(lambda: self._acted(dialog))
        dialog.finished.connect(
            lambda _result: self.table.setFocus(Qt.FocusReason.OtherFocusReason)
        )
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def _acted(self, dialog: LotActionDialog) -> None:
        if dialog.change is not None:
            self.show_notice(change_text(dialog.change))
        self.reload()

    def adjust_lot(self) -> LotActionDialog | None:
        return self._open(
            lambda inventory, actor, lot: lot_actions.adjust_dialog(
                inventory, actor, lot, witness=self._witness, parent=self
            )
        )

    def destroy_lot(self) -> LotActionDialog | None:
        return self._open(
            lambda inventory, actor, lot: lot_actions.destroy_dialog(
                inventory, actor, lot, witness=self._witness, parent=self
            )
        )

    def return_lot(self) -> LotActionDialog | None:
        return self._open(
            lambda inventory, actor, lot: lot_actions.return_dialog(
                inventory, actor, lot, parent=self
            )
        )

    def transfer_lot(self) -> LotActionDialog | None:
        return self._open(
            lambda inventory, actor, lot: lot_actions.transfer_dialog(
                inventory, actor, lot, parent=self
            )
        )

    def move_lot(self) -> LotActionDialog | None:
        return self._open(
            lambda inventory, actor, lot: lot_actions.move_dialog(
                inventory, actor, lot, parent=self
            )
        )

    def quarantine_lot(self) -> LotActionDialog | None:
        return self._open(
            lambda inventory, actor, lot: lot_actions.quarantine_dialog(
                inventory, actor, lot, parent=self
            )
        )

    def release_lot(self) -> LotActionDialog | None:
        return self._open(
            lambda inventory, actor, lot: lot_actions.release_dialog(
                inventory, actor, lot, cosign=self._cosign, parent=self
            )
        )

    def reverse_movement(self) -> LotActionDialog | None:
        """Reverse the movement chosen on the Movements tab."""
        actor = self._actor()
        if self._inventory is None or actor is None:
            return None
        movement = self.selected_movement()
        if movement is None or self._detail is None:
            self.show_notice(CHOOSE_MOVEMENT_TEXT)
            self.tabs.setCurrentWidget(self.movements_table)
            self.movements_table.setFocus(Qt.FocusReason.OtherFocusReason)
            return None
        return self._show_dialog(
            lot_actions.reverse_dialog(
                self._inventory,
                actor,
                movement,
                dea_schedule=self._detail.package.dea_schedule,
                witness=self._witness,
                parent=self,
            )
        )


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

"""Stock on hand by lot; expired and short-dated lots are called out in words."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from app.services.receiving import ReceivingService
from app.services.stock import StockQueryService, StockRow
from app.services.unit_of_work import Actor
from ui.dialogs.receive_stock import ReceiveStockDialog
from ui.docks.base import ActorSource, DataDock, row_table
from ui.models.stock import StockModel
from ui.scanner import ScanRouter
from ui.tasks import TaskRunner

RECEIVE_SHORTCUT = "Ctrl+Shift+R"


class InventoryDock(DataDock):
    def __init__(
        self,
        *,
        stock: StockQueryService,
        tasks: TaskRunner,
        actor: ActorSource,
        receiving: ReceivingService | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Inventory", "inventory_dock", tasks=tasks, actor=actor, parent=parent)
        self._stock = stock
        self.model = StockModel(self)
        self.table, _ = row_table(
            self.model,
            accessible_name="Stock on hand table",
            sort_column=StockModel.EXPIRY,
            stretch_column=StockModel.DRUG,
        )
        self._receiving = receiving
        self._scan_router: ScanRouter | None = None
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        self._buttons = QHBoxLayout()
        layout.addLayout(self._buttons)
        # The dock's actions, in the order the main window's Inventory menu lists them.
        self.menu_actions: list[QAction] = []
        self.receive_action, self.receive_button = self._add_action(
            "&Receive stock…", RECEIVE_SHORTCUT, self.receive_stock, enabled=receiving is not None
        )
        self._buttons.addStretch(1)
        layout.addWidget(self.table, 1)
        content.setFocusProxy(self.table)  # Ctrl+4 lands on the stock table, as before
        self.set_content(content)

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

    def attach_scanner(self, router: ScanRouter) -> None:
        """The receiving dialog takes scans through `router` while it is open."""
        self._scan_router = router

    def fetch(self, actor: Actor) -> list[StockRow]:
        return self._stock.on_hand(actor)

    def show_data(self, data: list[StockRow]) -> None:
        self.model.set_rows(data)
        self.table.resizeColumnsToContents()

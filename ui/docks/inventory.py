"""Stock on hand by lot; expired and short-dated lots are called out in words."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

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
        self.receive_button = QPushButton(f"Receive stock… ({RECEIVE_SHORTCUT})")
        self.receive_button.setAccessibleName("Receive stock")
        self.receive_button.setEnabled(receiving is not None)
        self.receive_button.clicked.connect(self.receive_stock)
        shortcut = QShortcut(QKeySequence(RECEIVE_SHORTCUT), content)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.receive_stock)
        layout.addWidget(self.receive_button)
        layout.addWidget(self.table, 1)
        content.setFocusProxy(self.table)  # Ctrl+4 lands on the stock table, as before
        self.set_content(content)

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

"""Stock on hand by lot; expired and short-dated lots are called out in words."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from app.services.stock import StockQueryService, StockRow
from app.services.unit_of_work import Actor
from ui.docks.base import ActorSource, DataDock
from ui.models.stock import StockModel
from ui.models.table import SORT_ROLE
from ui.tasks import TaskRunner


class InventoryDock(DataDock):
    def __init__(
        self,
        *,
        stock: StockQueryService,
        tasks: TaskRunner,
        actor: ActorSource,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Inventory", "inventory_dock", tasks=tasks, actor=actor, parent=parent)
        self._stock = stock
        self.model = StockModel(self)
        proxy = QSortFilterProxyModel(self)
        proxy.setSourceModel(self.model)
        proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setAccessibleName("Stock on hand table")
        self.table.setModel(proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(StockModel.EXPIRY, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(
            StockModel.DRUG, QHeaderView.ResizeMode.Stretch
        )
        self.set_content(self.table)

    def fetch(self, actor: Actor) -> list[StockRow]:
        return self._stock.on_hand(actor)

    def show_data(self, data: list[StockRow]) -> None:
        self.model.set_rows(data)
        self.table.resizeColumnsToContents()

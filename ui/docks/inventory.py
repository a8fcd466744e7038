"""Stock on hand by lot; expired and short-dated lots are called out in words."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from app.services.stock import StockQueryService, StockRow
from app.services.unit_of_work import Actor
from ui.docks.base import ActorSource, DataDock, row_table
from ui.models.stock import StockModel
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
        self.table, _ = row_table(
            self.model,
            accessible_name="Stock on hand table",
            sort_column=StockModel.EXPIRY,
            stretch_column=StockModel.DRUG,
        )
        self.set_content(self.table)

    def fetch(self, actor: Actor) -> list[StockRow]:
        return self._stock.on_hand(actor)

    def show_data(self, data: list[StockRow]) -> None:
        self.model.set_rows(data)
        self.table.resizeColumnsToContents()

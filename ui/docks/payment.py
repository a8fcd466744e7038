"""Pickup and payment: the fills ready to hand to the patient, and the register that sells them."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.domain.fill_states import FillState
from app.services.drawer import DrawerService
from app.services.fills import FillQueryService, FillRow
from app.services.payment import PaymentService
from app.services.receipts import ReceiptService
from app.services.unit_of_work import Actor
from ui.docks.base import ActorSource, DataDock, row_table
from ui.models.fills import PickupModel
from ui.models.table import ROW_ROLE
from ui.tasks import TaskRunner
from ui.widgets.register import Cosign, ReceiptPrinting, RegisterPanel


class PaymentDock(DataDock):
    """Signals: fill_selected(object)  # the FillRow chosen with Enter or a double-click"""

    fill_selected = Signal(object)

    def __init__(
        self,
        *,
        fills: FillQueryService,
        will_call_aging: Callable[[Actor], list[FillRow]],
        payment: PaymentService,
        receipts: ReceiptService,
        drawer: DrawerService,
        cosign: Cosign,
        tasks: TaskRunner,
        actor: ActorSource,
        settings: Callable[[], QSettings],
        receipt_printing: ReceiptPrinting | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Pickup", "payment_dock", tasks=tasks, actor=actor, parent=parent)
        self._fills = fills
        self._will_call_aging = will_call_aging
        self.model = PickupModel(self)
        self.summary = QLabel()
        self.summary.setAccessibleName("Fills ready for pickup")
        # Ready fills nobody collected within the house's days: candidates for return to stock
        # (the queue's action menu on a ready fill offers "Return to stock…").
        self.aging = QCheckBox("&Will-call aging only (not picked up in time)")
        self.aging.setAccessibleName("Will-call aging only")
        self.aging.toggled.connect(lambda _on: self.reload())
        self.table, self.proxy = row_table(
            self.model,
            accessible_name="Ready for pickup table",
            sort_column=PickupModel.PATIENT,
            stretch_column=PickupModel.DRUG,
        )
        self.table.activated.connect(self._activated)
        self.register = RegisterPanel(
            payment=payment,
            receipts=receipts,
            drawer=drawer,
            tasks=tasks,
            actor=actor,
            cosign=cosign,
            settings=settings,
            receipt_printing=receipt_printing,
        )
        # A sale changes which fills are still ready.
        self.register.sale_completed.connect(lambda _sale: self.reload())
        ready = QWidget()
        layout = QVBoxLayout(ready)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.aging)
        layout.addWidget(self.table)
        content = QSplitter(Qt.Orientation.Vertical)
        content.setChildrenCollapsible(False)
        # The bottom dock is short on a small screen: the register scrolls rather than squeezes.
        scroller = QScrollArea()
        scroller.setWidgetResizable(True)
        scroller.setWidget(self.register)
        content.addWidget(scroller)
        content.addWidget(ready)
        content.setStretchFactor(0, 3)
        content.setStretchFactor(1, 1)
        self.set_content(content)

    def focus_target(self) -> QWidget:
        # Keyboard first: the register's find field takes the name, the scan or the Rx number.
        return self.retry_button if self.has_failed else self.register.find_field

    def fetch(self, actor: Actor) -> list[FillRow]:
        if self.aging.isChecked():
            return self._will_call_aging(actor)
        return self._fills.queue(actor, states=[FillState.READY])

    def show_data(self, data: list[FillRow]) -> None:
        self.model.set_rows(data)
        self.table.resizeColumnsToContents()
        count = len(data)
        plural = "s" if count != 1 else ""
        if self.aging.isChecked():
            self.summary.setText(
                f"{count} prescription{plural} not picked up in time: return to stock"
                if count
                else "No prescription is waiting past the will-call limit."
            )
            return
        self.summary.setText(
            f"{count} prescription{plural} ready for pickup"
            if count
            else "Nothing is ready for pickup."
        )

    def show_fill_row(self, fill_id: int) -> None:
        """Make the fill current in the table, if it is ready for pickup."""
        row = next((n for n, r in enumerate(self.model.rows) if r.fill_id == fill_id), None)
        if row is None:
            return
        proxied = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.setCurrentIndex(proxied)
        self.table.scrollTo(proxied)

    def _activated(self, index: QModelIndex) -> None:
        self.fill_selected.emit(index.data(ROW_ROLE))

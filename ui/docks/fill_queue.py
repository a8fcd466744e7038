"""The fill queue: every active fill, filtered by workflow stage."""

from __future__ import annotations

import re

from PySide6.QtCore import QModelIndex, QRegularExpression, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.domain.fill_states import FillState
from app.services.fills import FillQueryService, FillRow
from app.services.unit_of_work import Actor
from ui.docks.base import ActorSource, DataDock, row_table
from ui.models.fills import FillQueueModel
from ui.models.table import ROW_ROLE
from ui.tasks import TaskRunner

ALL_STAGES = "All active stages"


class FillQueueDock(DataDock):
    """Signals: fill_selected(object)  # the FillRow chosen with Enter or a double-click"""

    fill_selected = Signal(object)

    def __init__(
        self,
        *,
        fills: FillQueryService,
        tasks: TaskRunner,
        actor: ActorSource,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Fill queue", "fill_queue_dock", tasks=tasks, actor=actor, parent=parent)
        self._fills = fills
        self.model = FillQueueModel(self)
        self.table, self.proxy = row_table(
            self.model,
            accessible_name="Fill queue table",
            sort_column=FillQueueModel.PROMISED,
            stretch_column=FillQueueModel.DRUG,
        )
        self.proxy.setFilterKeyColumn(FillQueueModel.STATUS)

        self.stage = QComboBox()
        self.stage.setAccessibleName("Stage filter")
        self.stage.addItem(ALL_STAGES, None)
        for state in FillState:
            if state.is_active:
                self.stage.addItem(state.label, state.value)
        self.stage.currentIndexChanged.connect(self._filter_by_stage)
        self.count = QLabel()
        self.count.setAccessibleName("Fills shown")
        self.table.activated.connect(self._activated)

        content = QWidget()
        top = QHBoxLayout()
        stage_label = QLabel("&Stage:")
        stage_label.setBuddy(self.stage)
        top.addWidget(stage_label)
        top.addWidget(self.stage)
        top.addStretch()
        top.addWidget(self.count)
        layout = QVBoxLayout(content)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table)
        self.set_content(content)

    def focus_target(self) -> QWidget:
        return self.retry_button if self.has_failed else self.table

    def fetch(self, actor: Actor) -> list[FillRow]:
        return self._fills.queue(actor)

    def show_data(self, data: list[FillRow]) -> None:
        self.model.set_rows(data)
        self.table.resizeColumnsToContents()
        self._update_count()

    def row_for(self, fill_id: int) -> FillRow | None:
        return next((row for row in self.model.rows if row.fill_id == fill_id), None)

    def row_for_label(self, rx_number: str, fill_number: int) -> FillRow | None:
        return next(
            (
                row
                for row in self.model.rows
                if row.rx_number == rx_number and row.fill_number == fill_number
            ),
            None,
        )

    def show_fill_row(self, fill_id: int) -> None:
        """Make the fill visible and current in the table, whatever the stage filter."""
        row = next((n for n, r in enumerate(self.model.rows) if r.fill_id == fill_id), None)
        if row is None:
            return
        proxied = self.proxy.mapFromSource(self.model.index(row, 0))
        if not proxied.isValid():
            self.set_stage(None)
            proxied = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.setCurrentIndex(proxied)
        self.table.scrollTo(proxied)

    def set_stage(self, state: FillState | None) -> None:
        index = 0 if state is None else self.stage.findData(state.value)
        self.stage.setCurrentIndex(max(index, 0))

    def _filter_by_stage(self) -> None:
        value = self.stage.currentData()
        pattern = "" if value is None else f"^{re.escape(FillState(value).label)}$"
        self.proxy.setFilterRegularExpression(QRegularExpression(pattern))
        self._update_count()

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count.setText(f"{shown} of {total} fills" if shown != total else f"{total} fills")

    def _activated(self, index: QModelIndex) -> None:
        self.fill_selected.emit(index.data(ROW_ROLE))

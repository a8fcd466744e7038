"""The fill queue: active fills by workflow stage, and the moves the signed-in user may make."""

from __future__ import annotations

import re

from PySide6.QtCore import QModelIndex, QPoint, QRegularExpression, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from app.domain.fill_states import FillState
from app.domain.workflow import next_step
from app.services.fills import FillQueryService, FillRow
from app.services.unit_of_work import Actor
from ui.docks.base import ActorSource, DataDock, row_table
from ui.models.fills import STAGES, FillQueueModel, Stage
from ui.models.table import ROW_ROLE
from ui.tasks import TaskRunner
from ui.workflow_actions import STANDING_ACTIONS, FillAction, fill_actions

ALL_STAGES = STAGES[0].label
PRINT_LABELS_SHORTCUT = "Ctrl+B"


class FillQueueDock(DataDock):
    """Signals: fill_selected(object)  # the FillRow chosen with Enter or a double-click
    fill_opened(object)  # the same FillRow: open it at its next step
    action_requested(object, object)  # a FillAction and the FillRow it is for
    labels_requested(object)  # the fill ids of the selected rows, in the order shown
    """

    fill_selected = Signal(object)
    fill_opened = Signal(object)
    action_requested = Signal(object, object)
    labels_requested = Signal(object)

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
        # Several rows at once (Shift/Ctrl) for a batch of labels; moves act on the current row.
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)

        self.stage = QComboBox()
        self.stage.setAccessibleName("Stage filter")
        for number, stage in enumerate(STAGES):
            self.stage.addItem(stage.label, number)
        self.stage.currentIndexChanged.connect(self._filter_by_stage)
        self.count = QLabel()
        self.count.setAccessibleName("Fills shown")
        self.next_step = QLabel()
        self.next_step.setAccessibleName("Next step of the selected fill")
        self.table.activated.connect(self._activated)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu_at)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)

        # The standing moves keep one shortcut each; they act on the current row.
        self.actions_by_key: dict[str, QAction] = {}
        for key, (text, shortcut) in STANDING_ACTIONS.items():
            action = QAction(text, self.table)
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(lambda _=False, key=key: self.trigger(key))
            self.table.addAction(action)
            self.actions_by_key[key] = action
        self.print_labels_action = QAction("Print &labels…", self.table)
        self.print_labels_action.setShortcut(QKeySequence(PRINT_LABELS_SHORTCUT))
        self.print_labels_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.print_labels_action.setToolTip(
            f"Print the labels of the selected fills ({PRINT_LABELS_SHORTCUT})"
        )
        self.print_labels_action.triggered.connect(self.request_labels)
        self.table.addAction(self.print_labels_action)

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
        layout.addWidget(self.next_step)
        self.set_content(content)
        self._update_actions()

    def focus_target(self) -> QWidget:
        return self.retry_button if self.has_failed else self.table

    def fetch(self, actor: Actor) -> list[FillRow]:
        return self._fills.queue(actor)

    def show_data(self, data: list[FillRow]) -> None:
        current = self.current_fill()
        self.model.set_rows(data)
        self.table.resizeColumnsToContents()
        self._update_stage_counts()
        self._update_count()
        if current is not None:
            # A reload (F5, another workstation's change) keeps the person's place.
            self.show_fill_row(current.fill_id, change_stage=False)
        self._update_actions()

    # --- rows ---------------------------------------------------------------------------------

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

    def selected_fills(self) -> list[FillRow]:
        """The selected rows in the order shown; the current row when none is selected."""
        rows = sorted(self.table.selectionModel().selectedRows(), key=lambda index: index.row())
        selected = [index.data(ROW_ROLE) for index in rows]
        current = self.current_fill()
        return selected or ([current] if current is not None else [])

    def request_labels(self) -> None:
        """Ask for the selected fills' labels to be printed, one after another."""
        fills = self.selected_fills()
        if fills:
            self.labels_requested.emit([fill.fill_id for fill in fills])

    def current_fill(self) -> FillRow | None:
        index = self.table.currentIndex()
        return index.data(ROW_ROLE) if index.isValid() else None

    def update_fill(self, fill: FillRow) -> None:
        """Show a fill's new state at once (the reload that follows confirms it)."""
        position = next(
            (n for n, row in enumerate(self.model.rows) if row.fill_id == fill.fill_id), None
        )
        if position is None:
            return
        if fill.state.is_active:
            self.model.update_row(position, fill)
        self._update_stage_counts()
        self._update_actions()

    def show_fill_row(self, fill_id: int, *, change_stage: bool = True) -> None:
        """Make the fill current in the table, leaving the stage filter if it hides it."""
        row = next((n for n, r in enumerate(self.model.rows) if r.fill_id == fill_id), None)
        if row is None:
            return
        proxied = self.proxy.mapFromSource(self.model.index(row, 0))
        if not proxied.isValid():
            if not change_stage:
                return
            self.set_stage(None)
            proxied = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.setCurrentIndex(proxied)
        self.table.scrollTo(proxied)

    # --- stages -------------------------------------------------------------------------------

    def set_stage(self, state: FillState | Stage | None) -> None:
        """Show one stage: given as a stage, or as a state it holds; None shows all."""
        if state is None:
            number = 0
        elif isinstance(state, Stage):
            number = STAGES.index(state)
        else:
            number = next(n for n, stage in enumerate(STAGES) if n and stage.holds(state))
        self.stage.setCurrentIndex(number)

    def _filter_by_stage(self) -> None:
        stage = STAGES[self.stage.currentData()]
        labels = sorted(re.escape(state.label) for state in stage.states)
        pattern = "" if self.stage.currentIndex() == 0 else f"^({'|'.join(labels)})$"
        self.proxy.setFilterRegularExpression(QRegularExpression(pattern))
        self._update_count()
        self._update_actions()

    def stage_count(self, stage: Stage) -> int:
        return sum(1 for row in self.model.rows if stage.holds(row.state))

    def _update_stage_counts(self) -> None:
        for number, stage in enumerate(STAGES):
            self.stage.setItemText(number, f"{stage.label} ({self.stage_count(stage)})")

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count.setText(f"{shown} of {total} fills" if shown != total else f"{total} fills")

    # --- actions ------------------------------------------------------------------------------

    def available_actions(self) -> list[FillAction]:
        fill, actor = self.current_fill(), self._actor()
        if fill is None or actor is None:
            return []
        return fill_actions(fill, actor)

    def trigger(self, key: str) -> None:
        """Ask for the move `key` on the current fill, when it is one the user may make."""
        fill = self.current_fill()
        action = next((a for a in self.available_actions() if a.key == key), None)
        if fill is not None and action is not None:
            self.action_requested.emit(action, fill)

    def _current_changed(self) -> None:
        self._update_actions()

    def _update_actions(self) -> None:
        keys = {action.key for action in self.available_actions()}
        for key, action in self.actions_by_key.items():
            action.setEnabled(key in keys)
        fill = self.current_fill()
        self.next_step.setText(f"Next: {next_step(fill.state)}" if fill else "")

    def actions_menu(self) -> QMenu:
        """The moves for the current fill: Open first, then the standing and forward moves."""
        menu = QMenu(self.table)
        menu.setAccessibleName("Fill actions")
        fill = self.current_fill()
        if fill is None:
            return menu
        open_action = menu.addAction(f"&Open — {next_step(fill.state)}")
        open_action.setShortcut(QKeySequence(Qt.Key.Key_Return))
        open_action.triggered.connect(lambda: self._open(fill))
        menu.addSeparator()
        for action in self.available_actions():
            standing = self.actions_by_key.get(action.key)
            if standing is not None:
                menu.addAction(standing)
                continue
            item = menu.addAction(action.text)
            item.triggered.connect(lambda _=False, a=action: self.action_requested.emit(a, fill))
        menu.addSeparator()
        menu.addAction(self.print_labels_action)
        return menu

    def show_actions_menu(self) -> None:
        """The context menu at the current row, for the keyboard (Menu key, Shift+F10)."""
        index = self.table.currentIndex()
        rect = self.table.visualRect(index) if index.isValid() else self.table.rect()
        self._context_menu_at(rect.bottomLeft())

    def _context_menu_at(self, position: QPoint) -> None:
        if self.current_fill() is None:
            return
        menu = self.actions_menu()
        menu.aboutToHide.connect(menu.deleteLater)
        menu.popup(self.table.viewport().mapToGlobal(position))

    def _activated(self, index: QModelIndex) -> None:
        self._open(index.data(ROW_ROLE))

    def _open(self, fill: FillRow) -> None:
        self.fill_selected.emit(fill)
        self.fill_opened.emit(fill)

"""The pharmacist's work list: everything waiting on a pharmacist, oldest first, with a badge."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from app.domain.roles import Role
from app.services.unit_of_work import Actor
from app.services.worklist import WorkItemRow, WorklistService
from ui.docks.base import ActorSource, DataDock, row_table
from ui.models.table import ROW_ROLE
from ui.models.worklist import WorklistModel
from ui.tasks import TaskRunner

TITLE = "Pharmacist"
FOR_PHARMACISTS_TEXT = (
    "The pharmacist's work list is for pharmacists: data reviews, final verifications and "
    "clinical findings wait here for them."
)
EMPTY_TEXT = "Nothing is waiting on a pharmacist."
WORKLIST_ROLES = (Role.PHARMACIST, Role.ADMINISTRATOR)


class WorklistDock(DataDock):
    """Signals: item_opened(object)  # the WorkItemRow chosen with Enter or a double-click
    count_changed(object)  # how many items wait, or None when the user may not see them
    """

    item_opened = Signal(object)
    count_changed = Signal(object)
    LIST_PAGE, SENTENCE_PAGE = range(2)

    def __init__(
        self,
        *,
        worklist: WorklistService,
        tasks: TaskRunner,
        actor: ActorSource,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(TITLE, "worklist_dock", tasks=tasks, actor=actor, parent=parent)
        self._worklist = worklist
        self.waiting: int | None = None
        self.model = WorklistModel(self)
        self.table, _ = row_table(
            self.model,
            accessible_name="Pharmacist work list table",
            sort_column=WorklistModel.OPENED,
            stretch_column=WorklistModel.SUMMARY,
        )
        self.table.activated.connect(self._activated)
        self.summary = QLabel()
        self.summary.setAccessibleName("Items waiting")
        self.sentence = QLabel(FOR_PHARMACISTS_TEXT)
        self.sentence.setWordWrap(True)
        self.sentence.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.sentence.setAccessibleName("Pharmacist work list")
        # For the status bar: the main window places it.
        self.badge = QLabel()
        self.badge.setAccessibleName("Pharmacist work list count")
        self.badge.hide()

        list_page = QWidget()
        list_layout = QVBoxLayout(list_page)
        list_layout.setContentsMargins(4, 4, 4, 4)
        list_layout.addWidget(self.summary)
        list_layout.addWidget(self.table)
        self.pages = QStackedWidget()
        self.pages.addWidget(list_page)
        self.pages.addWidget(self.sentence)
        self.set_content(self.pages)

    def focus_target(self) -> QWidget:
        if self.has_failed:
            return self.retry_button
        return self.table if self.pages.currentIndex() == self.LIST_PAGE else self.sentence

    def fetch(self, actor: Actor) -> list[WorkItemRow] | None:
        if not actor.has_any(*WORKLIST_ROLES):
            return None  # the service would refuse: say what the list is for instead
        return self._worklist.items(actor)

    def show_data(self, data: list[WorkItemRow] | None) -> None:
        if data is None:
            self.model.set_rows([])
            self.pages.setCurrentIndex(self.SENTENCE_PAGE)
            self._set_count(None)
            return
        self.pages.setCurrentIndex(self.LIST_PAGE)
        self.model.set_rows(data)
        self.table.resizeColumnsToContents()
        self.summary.setText(
            f"{len(data)} item{'s' if len(data) != 1 else ''} waiting, oldest first"
            if data
            else EMPTY_TEXT
        )
        self._set_count(len(data))

    def _set_count(self, count: int | None) -> None:
        self.waiting = count
        self.setWindowTitle(f"{TITLE} ({count})" if count else TITLE)
        self.badge.setText(f"{TITLE}: {count} waiting" if count is not None else "")
        self.badge.setVisible(count is not None)
        self.count_changed.emit(count)

    def _activated(self, index: QModelIndex) -> None:
        self.item_opened.emit(index.data(ROW_ROLE))

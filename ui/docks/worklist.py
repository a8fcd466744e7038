"""The pharmacist's work list: everything waiting on a pharmacist, oldest first, with a badge."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from app.domain.roles import Role
from app.services.unit_of_work import Actor
from app.services.worklist import ACKNOWLEDGED_KINDS, WorkItemRow, WorklistService
from ui.docks.base import ActorSource, DataDock, row_table
from ui.errors import show_error
from ui.models.table import ROW_ROLE
from ui.models.worklist import WorklistModel
from ui.tasks import TaskRunner

TITLE = "Pharmacist"
FOR_PHARMACISTS_TEXT = (
    "The pharmacist's work list is for pharmacists: data reviews, final verifications, "
    "clinical findings and shortage notices wait here for them."
)
EMPTY_TEXT = "Nothing is waiting on a pharmacist."
WORKLIST_ROLES = (Role.PHARMACIST, Role.ADMINISTRATOR)
ACKNOWLEDGE_SHORTCUT = "Ctrl+K"
COUNSELED_SHORTCUT = "Ctrl+Shift+Y"
COUNSELING = "counseling"
MarkCounseled = Callable[[Actor, int], object]


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
        mark_counseled: MarkCounseled | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(TITLE, "worklist_dock", tasks=tasks, actor=actor, parent=parent)
        self._worklist = worklist
        self._mark_counseled = mark_counseled
        self.waiting: int | None = None
        self.model = WorklistModel(self)
        self.table, _ = row_table(
            self.model,
            accessible_name="Pharmacist work list table",
            sort_column=WorklistModel.OPENED,
            stretch_column=WorklistModel.SUMMARY,
        )
        self.table.activated.connect(self._activated)
        # Notices (shortages) are acknowledged, not opened: Ctrl+K or the button.
        self.acknowledge_action = QAction("&Acknowledge notice", self.table)
        self.acknowledge_action.setShortcut(QKeySequence(ACKNOWLEDGE_SHORTCUT))
        self.acknowledge_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.acknowledge_action.triggered.connect(self.acknowledge_selected)
        self.table.addAction(self.acknowledge_action)
        self.acknowledge_button = QPushButton(f"Acknowledge notice ({ACKNOWLEDGE_SHORTCUT})")
        self.acknowledge_button.setAccessibleName("Acknowledge notice")
        self.acknowledge_button.clicked.connect(self.acknowledge_selected)
        # A patient waiting at the register for counseling: the pharmacist counsels, then marks
        # it here (Enter on the item, Ctrl+Shift+Y or the button); the sale may then complete.
        self.counseled_action = QAction("Mark &counseled", self.table)
        self.counseled_action.setShortcut(QKeySequence(COUNSELED_SHORTCUT))
        self.counseled_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.counseled_action.triggered.connect(self.mark_selected_counseled)
        self.table.addAction(self.counseled_action)
        self.counseled_button = QPushButton(f"Mark counseled ({COUNSELED_SHORTCUT})")
        self.counseled_button.setAccessibleName("Mark counseled")
        self.counseled_button.clicked.connect(self.mark_selected_counseled)
        self.table.selectionModel().currentChanged.connect(self._update_acknowledge)
        self._update_acknowledge()
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
        list_layout.addWidget(self.acknowledge_button)
        list_layout.addWidget(self.counseled_button)
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
        self._update_acknowledge()

    def _set_count(self, count: int | None) -> None:
        self.waiting = count
        self.setWindowTitle(f"{TITLE} ({count})" if count else TITLE)
        self.badge.setText(f"{TITLE}: {count} waiting" if count is not None else "")
        self.badge.setVisible(count is not None)
        self.count_changed.emit(count)

    def _activated(self, index: QModelIndex) -> None:
        row = index.data(ROW_ROLE)
        if row is not None and row.kind in ACKNOWLEDGED_KINDS:
            self.acknowledge_selected()  # a notice has nothing to open
            return
        if row is not None and row.kind == COUNSELING:
            self.mark_selected_counseled()
            return
        self.item_opened.emit(row)

    def selected_notice(self) -> WorkItemRow | None:
        """The current row when it is a notice a pharmacist acknowledges, else None."""
        row = self.table.currentIndex().data(ROW_ROLE)
        return row if row is not None and row.kind in ACKNOWLEDGED_KINDS else None

    def acknowledge_selected(self) -> None:
        """Take the selected notice off the list (the service allows pharmacists only)."""
        actor, notice = self._actor(), self.selected_notice()
        if actor is None or notice is None:
            return
        self._tasks.run(
            lambda: self._worklist.acknowledge(actor, notice.item_id),
            on_success=lambda _result: self.reload(),
            on_failure=self._acknowledge_failed,
        )

    def _acknowledge_failed(self, exc: BaseException) -> None:
        show_error(self, exc)
        self.reload()  # another pharmacist may have acknowledged it first

    def selected_counseling(self) -> WorkItemRow | None:
        row = self.table.currentIndex().data(ROW_ROLE)
        return row if row is not None and row.kind == COUNSELING else None

    def mark_selected_counseled(self) -> None:
        """The pharmacist counseled the patient of the selected item: the sale may complete."""
        actor, item = self._actor(), self.selected_counseling()
        if actor is None or item is None or self._mark_counseled is None:
            return
        mark = self._mark_counseled
        self._tasks.run(
            lambda: mark(actor, int(item.entity_id)),
            on_success=lambda _result: self.reload(),
            on_failure=self._acknowledge_failed,
        )

    def _update_acknowledge(self, *_args: object) -> None:
        enabled = self.selected_notice() is not None
        self.acknowledge_action.setEnabled(enabled)
        self.acknowledge_button.setEnabled(enabled)
        counseling = self.selected_counseling() is not None and self._mark_counseled is not None
        self.counseled_action.setEnabled(counseling)
        self.counseled_button.setEnabled(counseling)
        self.counseled_button.setVisible(self._mark_counseled is not None)

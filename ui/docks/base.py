"""What every dock shares: a `loaded` signal, and loading off the GUI thread with a retry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.services.unit_of_work import Actor
from ui.errors import explain
from ui.tasks import TaskRunner

ActorSource = Callable[[], Actor | None]


class SourceSortingProxy(QSortFilterProxyModel):
    """Filters here, but leaves sorting to the source model, which sorts far faster."""

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)


def row_table(
    model: QAbstractItemModel,
    *,
    accessible_name: str,
    sort_column: int,
    stretch_column: int,
) -> tuple[QTableView, QSortFilterProxyModel]:
    """A sortable, read-only table of rows, one row selected at a time.

    Column widths are measured on the visible rows only and rows keep one fixed height: measuring
    every one of 5,000 queue rows cost half a second at every load.
    """
    proxy = SourceSortingProxy(model)
    proxy.setSourceModel(model)
    table = QTableView()
    table.setAccessibleName(accessible_name)
    table.setModel(proxy)
    table.setSortingEnabled(True)
    table.sortByColumn(sort_column, Qt.SortOrder.AscendingOrder)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().hide()
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    header = table.horizontalHeader()
    header.setResizeContentsPrecision(0)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(False)
    header.setSectionResizeMode(stretch_column, QHeaderView.ResizeMode.Stretch)
    return table, proxy


class Dock(QDockWidget):
    """A dock the main window can reload and focus.

    Signals: loaded(); load_failed(object)  # the exception
    """

    loaded = Signal()
    load_failed = Signal(object)

    def __init__(self, title: str, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        # saveState() identifies docks by object name.
        self.setObjectName(object_name)
        self.setAccessibleName(title)
        self.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )

    def reload(self) -> None:
        raise NotImplementedError

    def focus_target(self) -> QWidget:
        """The control Ctrl+<n> puts the keyboard focus on."""
        return self.widget()


class DataDock(Dock):
    """A dock whose data comes from a service call made on a worker thread."""

    CONTENT_PAGE, ERROR_PAGE = range(2)

    def __init__(
        self,
        title: str,
        object_name: str,
        *,
        tasks: TaskRunner,
        actor: ActorSource,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(title, object_name, parent)
        self._tasks = tasks
        self._actor = actor
        self._generation = 0
        self.has_failed = False

        self._pages = QStackedWidget()
        self._error_text = QLabel()
        self._error_text.setWordWrap(True)
        self._error_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._error_text.setAccessibleName(f"{title} error")
        self._retry = QPushButton("Retry")
        self._retry.setAccessibleName(f"Retry loading {title.lower()}")
        self._retry.clicked.connect(self.reload)
        error_page = QWidget()
        error_layout = QVBoxLayout(error_page)
        error_layout.addStretch()
        error_layout.addWidget(self._error_text)
        error_layout.addWidget(self._retry, 0, Qt.AlignmentFlag.AlignHCenter)
        error_layout.addStretch()
        self._pages.addWidget(QWidget())
        self._pages.addWidget(error_page)
        self.setWidget(self._pages)

    def set_content(self, content: QWidget) -> None:
        old = self._pages.widget(self.CONTENT_PAGE)
        self._pages.removeWidget(old)
        old.deleteLater()
        self._pages.insertWidget(self.CONTENT_PAGE, content)
        self._pages.setCurrentIndex(self.CONTENT_PAGE)

    @property
    def error_text(self) -> str:
        return self._error_text.text() if self.has_failed else ""

    @property
    def retry_button(self) -> QPushButton:
        return self._retry

    def focus_target(self) -> QWidget:
        return self._retry if self.has_failed else self._pages.widget(self.CONTENT_PAGE)

    def reload(self) -> None:
        actor = self._actor()
        if actor is None:
            return
        self._generation += 1
        generation = self._generation
        self._tasks.run(
            lambda: self.fetch(actor),
            on_success=lambda data: self._arrived(generation, data),
            on_failure=lambda exc: self._failed(generation, exc),
        )

    def fetch(self, actor: Actor) -> Any:
        """Runs on a worker thread: call services only, never touch widgets."""
        raise NotImplementedError

    def show_data(self, data: Any) -> None:
        raise NotImplementedError

    def _arrived(self, generation: int, data: Any) -> None:
        if generation != self._generation:
            return  # a newer reload is on its way
        self.has_failed = False
        self._pages.setCurrentIndex(self.CONTENT_PAGE)
        self.show_data(data)
        self.loaded.emit()

    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self.has_failed = True
        title, sentence = explain(exc)
        self._error_text.setText(f"<b>{title}</b><br>{_html(sentence)}")
        self._pages.setCurrentIndex(self.ERROR_PAGE)
        self.load_failed.emit(exc)


def _html(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")
    )

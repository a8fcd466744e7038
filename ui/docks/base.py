"""What every dock shares: a `loaded` signal, and loading off the GUI thread with a retry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.services.unit_of_work import Actor
from ui.errors import explain
from ui.tasks import TaskRunner

ActorSource = Callable[[], Actor | None]


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

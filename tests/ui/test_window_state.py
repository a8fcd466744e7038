"""The dock layout survives a restart; a layout saved by another version is ignored."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from app.services.unit_of_work import Actor
from ui.context import UiContext
from ui.main_window import MainWindow
from ui.session import SessionController
from ui.window_state import (
    LAYOUT_VERSION,
    STATE_KEY,
    VERSION_KEY,
    restore_window_state,
)


@pytest.fixture
def session(services) -> SessionController:
    return SessionController(services, idle_minutes=5)


def make_window(qtbot, ui_context: UiContext, session) -> MainWindow:
    window = MainWindow(ui_context, session)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_layout_round_trips_through_qsettings(
    qtbot, ui_context: UiContext, session, technician: Actor, window_state_path
):
    first = make_window(qtbot, ui_context, session)
    first.inventory.hide()
    first.tabifyDockWidget(first.verify, first.label)
    # Within the offscreen screen (800×600), above the docks' minimum.
    size = (max(760, first.minimumWidth()), max(560, first.minimumHeight()))
    assert size[0] < 800 and size[1] < 600
    first.resize(*size)
    first.close()
    assert window_state_path.exists()

    second = make_window(qtbot, ui_context, session)
    assert not second.inventory.isVisible()
    assert second.label in second.tabifiedDockWidgets(second.verify)
    assert (second.width(), second.height()) == size


def test_a_layout_of_another_version_is_ignored(
    qtbot, ui_context: UiContext, session, window_state_path
):
    first = make_window(qtbot, ui_context, session)
    first.inventory.hide()
    first.close()
    stored = QSettings(str(window_state_path), QSettings.Format.IniFormat)
    stored.setValue(VERSION_KEY, LAYOUT_VERSION + 1)
    stored.sync()

    second = make_window(qtbot, ui_context, session)
    assert second.inventory.isVisible()
    assert not restore_window_state(second, ui_context.qsettings())


def test_no_stored_layout_keeps_the_default(qtbot, ui_context: UiContext, session):
    window = make_window(qtbot, ui_context, session)
    assert ui_context.qsettings().value(STATE_KEY) is None
    assert all(dock.isVisible() for dock in window.docks)

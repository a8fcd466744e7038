"""Saving and restoring the main window's geometry and dock layout in QSettings."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow

# Raise when docks are added, removed or renamed: an old layout is then ignored, not half-applied.
LAYOUT_VERSION = 1

GEOMETRY_KEY = "main_window/geometry"
STATE_KEY = "main_window/dock_state"
VERSION_KEY = "main_window/layout_version"


def save_window_state(window: QMainWindow, store: QSettings) -> None:
    store.setValue(VERSION_KEY, LAYOUT_VERSION)
    store.setValue(GEOMETRY_KEY, window.saveGeometry())
    store.setValue(STATE_KEY, window.saveState(LAYOUT_VERSION))
    store.sync()


def restore_window_state(window: QMainWindow, store: QSettings) -> bool:
    """Apply a stored layout of this version; True when one was applied."""
    geometry = store.value(GEOMETRY_KEY)
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    if _stored_version(store) != LAYOUT_VERSION:
        return False
    state = store.value(STATE_KEY)
    return isinstance(state, QByteArray) and window.restoreState(state, LAYOUT_VERSION)


def _stored_version(store: QSettings) -> int | None:
    try:
        return int(store.value(VERSION_KEY))  # INI files hand back strings
    except (TypeError, ValueError):
        return None

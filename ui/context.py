"""What every window needs from the outside world, handed down through constructors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QSettings

from app.bootstrap import Services
from app.config import Settings

WINDOW_STATE_FILE_NAME = "window-state.ini"


def window_state_file(settings: Settings) -> QSettings:
    """Window layout lives apart from the workstation settings a support person edits."""
    path = settings.config_dir / WINDOW_STATE_FILE_NAME
    return QSettings(str(path), QSettings.Format.IniFormat)


@dataclass(frozen=True)
class UiContext:
    services: Services
    settings: Settings
    qsettings_factory: Callable[[], QSettings]

    @classmethod
    def for_services(cls, services: Services) -> UiContext:
        settings = services.settings
        return cls(services, settings, lambda: window_state_file(settings))

    def qsettings(self) -> QSettings:
        return self.qsettings_factory()

"""Window fixtures: a seeded pharmacy, a context whose QSettings live under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from app.bootstrap import Services
from tests.ui.pharmacy_data import SeededPharmacy, seed_pharmacy
from ui.context import UiContext


@pytest.fixture
def seeded_pharmacy(services: Services, admin) -> SeededPharmacy:
    return seed_pharmacy(services)


@pytest.fixture
def window_state_path(tmp_path: Path) -> Path:
    return tmp_path / "window-state.ini"


@pytest.fixture
def ui_context(services: Services, window_state_path: Path) -> UiContext:
    return UiContext(
        services,
        services.settings,
        lambda: QSettings(str(window_state_path), QSettings.Format.IniFormat),
    )

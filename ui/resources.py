"""Finding the files RxBench ships beside its code (icons), in a checkout and a frozen build."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


def resources_dir() -> Path:
    # PyInstaller unpacks bundled data under sys._MEIPASS; a checkout keeps it beside ui/.
    frozen_root = getattr(sys, "_MEIPASS", None)
    root = Path(frozen_root) if frozen_root else Path(__file__).resolve().parent.parent
    return root / "resources"


def app_icon() -> QIcon:
    icon = QIcon()
    for size in ICON_SIZES:
        path = resources_dir() / "icons" / f"rxbench-{size}.png"
        if path.is_file():
            icon.addFile(str(path))
    return icon

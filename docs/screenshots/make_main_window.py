"""Seed a fictional pharmacy in a fresh SQLite file, open the main window signed in, save a PNG.

Run under a real X server so fonts and styles are what a person sees:
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/make_main_window.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.bootstrap import build_services
from app.config import Settings
from app.domain.roles import Role
from tests.conftest import DEMO_PROFILE
from tests.ui.pharmacy_data import seed_pharmacy
from ui.context import UiContext
from ui.main_window import MainWindow
from ui.session import SessionController

OUTPUT = Path(__file__).with_name("main-window.png")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="rxbench-screenshot-"))
    settings = Settings(
        database_url=f"sqlite:///{work / 'demo.sqlite3'}",
        workstation="bench-1",
        config_dir=work / "config",
        data_dir=work / "data",
        password_hash_profile="fast-insecure-for-tests",
    )
    app = QApplication(sys.argv[:1])
    services = build_services(settings)
    admin = services.pharmacy.first_run(
        DEMO_PROFILE,
        admin_username="admin",
        admin_full_name="Ada Administrator",
        admin_password="demo password",
    )
    services.users.add_user(
        admin,
        username="tess",
        full_name="Tess Tran",
        password="demo password",
        roles=frozenset({Role.TECHNICIAN}),
    )
    seeded = seed_pharmacy(services)
    session = SessionController(services, idle_minutes=60)
    window = MainWindow(UiContext.for_services(services), session)
    window.resize(1600, 1000)
    window.show()

    def loaded() -> None:
        fill = window.fill_queue.row_for(seeded.controlled_fill_id)
        window.select_fill(fill)
        QTimer.singleShot(500, capture)

    def capture() -> None:
        window.grab().save(str(OUTPUT))
        print(f"saved {OUTPUT}")
        window.close()
        app.quit()

    window.all_docks_loaded.connect(loaded)
    session.sign_in_as(services.auth.login("tess", "demo password"))
    app.exec()
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

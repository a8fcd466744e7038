"""Open the main window on the demo pharmacy, signed in, and save what a person sees as a PNG.

    .venv/bin/rxbench-admin --database sqlite:////tmp/demo.sqlite3 demo
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/make_main_window.py \\
        sqlite:////tmp/demo.sqlite3 pharm pharm-demo-1
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.bootstrap import build_services
from app.config import load_settings
from ui.context import UiContext
from ui.main_window import MainWindow
from ui.session import SessionController

OUTPUT = Path(__file__).with_name("main-window.png")
WINDOW_SIZE = (1600, 1000)


def main(database_url: str, username: str, password: str) -> int:
    app = QApplication(sys.argv[:1])
    services = build_services(load_settings(database_url))
    session = SessionController(services, idle_minutes=60)
    window = MainWindow(UiContext.for_services(services), session)
    window.resize(*WINDOW_SIZE)
    window.show()

    def loaded() -> None:
        rows = window.fill_queue.model.rows
        controlled = [row for row in rows if row.dea_schedule]
        window.select_fill((controlled or list(rows) or [None])[0])
        QTimer.singleShot(500, capture)

    def capture() -> None:
        window.grab().save(str(OUTPUT))
        print(f"saved {OUTPUT}")
        window.shutdown()
        app.quit()

    window.all_docks_loaded.connect(loaded)
    session.sign_in_as(services.auth.login(username, password))
    app.exec()
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))

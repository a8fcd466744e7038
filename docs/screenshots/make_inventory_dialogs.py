"""Open each Inventory dialog on the demo pharmacy (count in progress, controlled-substance
record, recall work list, PMP files, reorder levels), and the claims to resolve, and save each
as a PNG.

    .venv/bin/rxbench-admin --database sqlite:////tmp/demo.sqlite3 demo
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python \\
        docs/screenshots/make_inventory_dialogs.py sqlite:////tmp/demo.sqlite3 pharm pharm-demo-1
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog
from sqlalchemy import select

from app.bootstrap import build_services
from app.config import load_settings
from app.db.models import CountSession, Recall
from ui.context import UiContext
from ui.main_window import MainWindow
from ui.session import SessionController

HERE = Path(__file__).parent
SETTLE_MS = 1500


def main(database_url: str, username: str, password: str) -> int:
    app = QApplication(sys.argv[:1])
    services = build_services(load_settings(database_url))
    with services.database.reading() as session:
        counting = session.scalar(select(CountSession.id).where(CountSession.status == "counting"))
        recall = session.scalar(select(Recall.id).order_by(Recall.id))
    session_controller = SessionController(services, idle_minutes=60)
    window = MainWindow(UiContext.for_services(services), session_controller)
    window.resize(1600, 1000)
    window.show()
    dock = window.inventory
    shots: list[tuple[str, Callable[[], QDialog | None]]] = [
        ("count-stock.png", lambda: dock.count_stock(counting)),
        ("controlled-substances.png", dock.controlled_substances),
        ("recall-worklist.png", lambda: dock.open_recalls(recall)),
        ("pmp-reports.png", dock.pmp_reports),
        ("reorder.png", dock.open_reorder),
        ("claims-to-resolve.png", window.open_claims_queue),
    ]

    def next_shot() -> None:
        if not shots:
            window.shutdown()
            app.quit()
            return
        name, opener = shots.pop(0)
        dialog = opener()
        if dialog is None:
            print(f"could not open {name}")
            QTimer.singleShot(0, next_shot)
            return
        dialog.resize(max(dialog.width(), 1100), max(dialog.height(), 640))

        def capture() -> None:
            target = QApplication.activeModalWidget() or QApplication.activeWindow() or dialog
            target.grab().save(str(HERE / name))
            print(f"saved {HERE / name}")
            for widget in QApplication.topLevelWidgets():
                if isinstance(widget, QDialog) and widget.isVisible():
                    widget.reject()
            QTimer.singleShot(200, next_shot)

        QTimer.singleShot(SETTLE_MS, capture)

    def loaded() -> None:
        window.all_docks_loaded.disconnect(loaded)
        next_shot()

    window.all_docks_loaded.connect(loaded)
    session_controller.sign_in_as(services.auth.login(username, password))
    app.exec()
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))

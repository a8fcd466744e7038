"""Open the main window on the demo pharmacy, choose the lot of the most dispensed package in
the Inventory dock, show its usage over 90 days, and save the dock as a PNG.

    .venv/bin/rxbench-admin --database sqlite:////tmp/demo.sqlite3 demo
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/make_inventory_dock.py \\
        sqlite:////tmp/demo.sqlite3 tech tech-demo-1
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from sqlalchemy import func, select

from app.bootstrap import build_services
from app.config import load_settings
from app.db.models import StockLot, StockMovement
from ui.context import UiContext
from ui.main_window import MainWindow
from ui.session import SessionController

OUTPUT = Path(__file__).with_name("inventory-dock.png")
DOCK_SIZE = (1500, 760)
USAGE_TAB = 2


def main(database_url: str, username: str, password: str) -> int:
    app = QApplication(sys.argv[:1])
    services = build_services(load_settings(database_url))
    with services.database.reading() as session:
        busiest = session.execute(
            select(StockLot.id)
            .join(StockMovement, StockMovement.lot_id == StockLot.id)
            .where(StockMovement.kind == "dispensed", StockLot.status == "available")
            .group_by(StockLot.id)
            .order_by(func.count(StockMovement.id).desc(), StockLot.id)
            .limit(1)
        ).scalar_one()
    session_controller = SessionController(services, idle_minutes=60)
    window = MainWindow(UiContext.for_services(services), session_controller)
    window.resize(1600, 1000)
    window.show()
    dock = window.inventory

    def loaded() -> None:
        window.all_docks_loaded.disconnect(loaded)
        dock.setFloating(True)
        dock.resize(*DOCK_SIZE)
        dock.tabs.setCurrentIndex(USAGE_TAB)
        dock.period.setCurrentIndex(dock.period.findData(90))
        dock.detail_loaded.connect(shown)
        dock.select_lot(busiest)

    def shown() -> None:
        dock.detail_loaded.disconnect(shown)
        QTimer.singleShot(600, capture)

    def capture() -> None:
        dock.grab().save(str(OUTPUT))
        print(f"saved {OUTPUT}")
        window.shutdown()
        app.quit()

    window.all_docks_loaded.connect(loaded)
    session_controller.sign_in_as(services.auth.login(username, password))
    app.exec()
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))

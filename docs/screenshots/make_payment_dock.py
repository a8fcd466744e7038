"""Open the main window on the demo pharmacy, take up a patient's open sale at the register, and
save the Payment dock as a PNG.

    .venv/bin/rxbench-admin --database sqlite:////tmp/demo.sqlite3 demo
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/make_payment_dock.py \\
        sqlite:////tmp/demo.sqlite3 tech tech-demo-1
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from app.bootstrap import build_services
from app.config import load_settings
from app.db.models import Patient, Sale
from ui.context import UiContext
from ui.main_window import MainWindow
from ui.session import SessionController

OUTPUT = Path(__file__).with_name("payment-dock.png")
DOCK_SIZE = (1400, 820)


def main(database_url: str, username: str, password: str) -> int:
    app = QApplication(sys.argv[:1])
    services = build_services(load_settings(database_url))
    with services.database.reading() as session:
        last_name = session.scalar(
            select(Patient.last_name)
            .join(Sale, Sale.patient_id == Patient.id)
            .where(Sale.status == "open")
            .order_by(Sale.id)
        )
    session_controller = SessionController(services, idle_minutes=60)
    window = MainWindow(UiContext.for_services(services), session_controller)
    window.resize(1600, 1000)
    window.show()
    dock = window.payment

    def loaded() -> None:
        window.all_docks_loaded.disconnect(loaded)
        dock.setFloating(True)
        dock.resize(*DOCK_SIZE)
        dock.register.sale_changed.connect(shown)
        dock.register.take_up(last_name or "")

    def shown(_sale: object) -> None:
        dock.register.sale_changed.disconnect(shown)
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

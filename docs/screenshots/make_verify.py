"""Save the Verify dock as a technician sees it: a matching bottle accepted, a wrong drug stopped.

    .venv/bin/rxbench-admin --database sqlite:////tmp/demo.sqlite3 demo
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/make_verify.py \\
        sqlite:////tmp/demo.sqlite3

Two demo fills at "Fill and scan" are opened in turn; a DataMatrix of the first one's own package
(lot and expiry of its stock) is scanned into it, a bottle of another drug into the second.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.adapters.sound import SilentSounds
from app.bootstrap import build_services
from app.config import load_settings
from app.domain.barcodes import GS, gs1_element_string, gtin14_for
from app.domain.fill_states import FillState
from app.domain.ndc import parse_ndc
from ui.context import UiContext
from ui.main_window import MainWindow
from ui.session import SessionController

HERE = Path(__file__).parent
MATCH_OUTPUT = HERE / "verify.png"
STOP_OUTPUT = HERE / "verify-stop.png"
DOCK_SIZE = (820, 900)


def datamatrix(ndc: str, lot: str, serial: str) -> str:
    return gs1_element_string(
        gtin14_for(parse_ndc(ndc)),
        expiry=date.today() + timedelta(days=500),
        lot=lot,
        serial=serial,
        gs=GS,
    )


def main(database_url: str) -> int:
    app = QApplication(sys.argv[:1])
    services = build_services(load_settings(database_url))
    session = SessionController(services, idle_minutes=60)
    window = MainWindow(UiContext.for_services(services), session, sounds=SilentSounds())
    window.resize(1600, 1000)
    window.show()
    dock = window.verify
    steps: list = []

    def loaded() -> None:
        window.all_docks_loaded.disconnect(loaded)
        at_fill = [row for row in window.fill_queue.model.rows if row.state is FillState.FILL]
        plain = [row for row in at_fill if not row.dea_schedule and row.held_by in (None, "tech")]
        first, second = plain[0], plain[1]
        other = next(row.ndc for row in window.fill_queue.model.rows if row.drug != first.drug)
        dock.setFloating(True)
        dock.resize(*DOCK_SIZE)
        steps.extend(
            [
                lambda: dock.open_fill(first),
                lambda: dock.accept_scan(
                    datamatrix(first.ndc, lot_for(first.ndc), "S1"), manual=False
                ),
                lambda: save(MATCH_OUTPUT),
                lambda: dock.show_fill(second),
                lambda: dock.open_fill(second),
                lambda: dock.accept_scan(datamatrix(other, "WRONG1", "S2"), manual=False),
                lambda: save(STOP_OUTPUT),
                finish,
            ]
        )
        QTimer.singleShot(300, step)

    def lot_for(ndc: str) -> str:
        rows = services.stock.on_hand(session.actor)
        return next(row.lot_number for row in rows if row.ndc == ndc and row.status == "available")

    def step() -> None:
        steps.pop(0)()
        if steps:
            QTimer.singleShot(700, step)

    def save(path: Path) -> None:
        dock.grab().save(str(path))
        print(f"saved {path}")

    def finish() -> None:
        dock.setFloating(False)  # the saved window state keeps the dock in its place
        window.shutdown()
        app.quit()

    window.all_docks_loaded.connect(loaded)
    session.sign_in_as(services.auth.login("tech", "tech-demo-1"))
    app.exec()
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

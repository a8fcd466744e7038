"""The stack's floor for start-up: PySide6 + sqlalchemy.orm, one query, a bare five-dock window.

Whatever RxBench adds to start-up is measured against this script, run on the same database.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

DOCKS = ("Fill queue", "Verify", "Label", "Inventory", "Payment")


def main() -> int:
    url = sys.argv[1]
    app = QApplication([])
    engine = create_engine(url)
    with Session(engine) as session:
        count = session.execute(text("SELECT count(*) FROM fills")).scalar_one()
    window = QMainWindow()
    window.setCentralWidget(QLabel(f"{count} fills"))
    for title in DOCKS:
        dock = QDockWidget(title, window)
        dock.setWidget(QLabel(title))
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    window.show()
    QTimer.singleShot(0, app.quit)
    app.exec()
    print("ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())

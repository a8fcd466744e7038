"""Save the Label dock as a technician sees it, and demo labels rendered on both stocks, as PNGs.

    .venv/bin/rxbench-admin --database sqlite:////tmp/demo.sqlite3 demo
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python \\
        docs/screenshots/make_label_screenshots.py sqlite:////tmp/demo.sqlite3

The dock is floated at a readable size over the signed-in window and shown on three demo fills:
a Spanish label printed once, the three-inhaler fill on its second label, and the reprinted fill's
history. The thermal label is rendered at a thermal printer's 203 dpi; the letter sheet goes
through the PDF export and is read back with QtPdf, as a viewer would show it.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, Qt
from PySide6.QtPdf import QPdfDocument
from PySide6.QtWidgets import QApplication

from app.adapters.sound import SilentSounds
from app.bootstrap import build_services
from app.config import load_settings
from app.domain.labels import BUILT_IN_STOCKS
from app.services.fills import FillRow
from ui.context import UiContext
from ui.labels.output import available_printers, render_image, render_pdf
from ui.main_window import MainWindow
from ui.session import SessionController

HERE = Path(__file__).parent
THERMAL, SHEET = BUILT_IN_STOCKS  # the thermal vial label and the letter sheet
DOCK_SIZE = (760, 640)
HISTORY_HEIGHT = 220
THERMAL_DPI = 203
SHEET_WIDTH_PX = 850


def main(database_url: str, username: str = "tech", password: str = "tech-demo-1") -> int:
    app = QApplication(sys.argv[:1])
    services = build_services(load_settings(database_url))
    session = SessionController(services, idle_minutes=60)
    window = MainWindow(UiContext.for_services(services), session, sounds=SilentSounds())
    window.resize(1600, 1000)
    window.show()
    dock = window.label
    steps: list[Callable[[], None]] = []

    def fill_where(test: Callable[[FillRow], bool]) -> FillRow:
        return next(row for row in window.fill_queue.model.rows if test(row))

    def loaded() -> None:
        window.all_docks_loaded.disconnect(loaded)
        actor = session.actor
        assert actor is not None
        labels = services.labels
        rows = window.fill_queue.model.rows
        spanish = next(
            row
            for row in rows
            if labels.contents(actor, row.fill_id)[0].language.value == "es"
            and labels.prints(actor, row.fill_id)
        )
        inhalers = next(row for row in rows if len(labels.contents(actor, row.fill_id)) > 1)
        reprinted = next(row for row in rows if len(labels.prints(actor, row.fill_id)) > 1)
        printers = available_printers()
        if printers and not dock.printer_name():
            dock.set_printer(printers[0])
        dock.setFloating(True)
        dock.resize(*DOCK_SIZE)
        steps.extend(
            [
                lambda: show(spanish),
                lambda: save(HERE / "label-dock.png"),
                lambda: show(inhalers),
                lambda: dock.show_face(1),
                lambda: save(HERE / "label-dock-containers.png"),
                lambda: show(reprinted),
                lambda: dock.resize(DOCK_SIZE[0], HISTORY_HEIGHT),
                lambda: dock.tabs.setCurrentIndex(1),
                lambda: save(HERE / "label-dock-history.png"),
                lambda: render_stocks(services, actor, inhalers, rows),
                finish,
            ]
        )
        QTimer.singleShot(300, step)

    def show(fill: FillRow) -> None:
        dock.tabs.setCurrentIndex(0)
        window.fill_queue.show_fill_row(fill.fill_id)
        window.select_fill(fill)

    def step() -> None:
        if steps:
            steps.pop(0)()
            # Each step's database reads finish on worker threads before the next is taken.
            QTimer.singleShot(700, step)

    def save(path: Path) -> None:
        dock.grab().save(str(path))
        print(f"saved {path}")

    def finish() -> None:
        window.shutdown()
        app.quit()

    window.all_docks_loaded.connect(loaded)
    session.sign_in_as(services.auth.login(username, password))
    app.exec()
    services.close()
    return 0


def render_stocks(services, actor, inhalers: FillRow, rows: list[FillRow]) -> None:
    """The thermal label as the printer's own dots; a letter sheet full of demo labels."""
    labels = services.labels
    first = labels.contents(actor, inhalers.fill_id)[0]
    framed(render_image(first, THERMAL, THERMAL_DPI)).save(str(HERE / "label-thermal.png"))
    print(f"saved {HERE / 'label-thermal.png'}")
    contents = []
    for row in rows:
        if labels.printing_refusal(actor, row.fill_id) is None:
            contents.extend(labels.contents(actor, row.fill_id))
        if len(contents) >= SHEET.labels_per_page:
            break
    with tempfile.TemporaryDirectory() as folder:
        pdf = Path(folder) / "sheet.pdf"
        render_pdf(contents[: SHEET.labels_per_page], SHEET, pdf)
        document = QPdfDocument()
        document.load(str(pdf))
        points = document.pagePointSize(0)
        size = QSize(SHEET_WIDTH_PX, round(SHEET_WIDTH_PX * points.height() / points.width()))
        page = document.render(0, size)
        document.close()
    framed(page).save(str(HERE / "label-sheet.png"))
    print(f"saved {HERE / 'label-sheet.png'}")


def framed(image: QImage) -> QImage:
    """The label or sheet on white, on a grey ground, so its edges show on a white page."""
    border = 12
    out = QImage(
        image.width() + 2 * border, image.height() + 2 * border, QImage.Format.Format_RGB32
    )
    out.fill(QColor("#d0d0d0"))
    painter = QPainter(out)
    painter.fillRect(border, border, image.width(), image.height(), Qt.GlobalColor.white)
    painter.drawImage(border, border, image)
    painter.end()
    return out


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))

"""Register receipts out of the workstation: a PDF file or the receipt printer (80 mm roll).

The same path as labels: a page the size of the receipt (a roll's page is one receipt),
painted at the device's resolution, a missing or stopped printer refused before anything is
sent, and no fall-back to the system's default printer.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPageLayout, QPaintDevice, QPainter, QPdfWriter

from app.domain.labels import LabelStock
from app.domain.receipts import RECEIPT_COLUMNS, ReceiptContent, receipt_lines
from app.errors import PrintJobFailed
from ui.labels.output import PDF_DPI, PrintOutcome, open_printer, page_size

# An 80 mm roll prints 72 mm wide; the receipt is as long as its lines.
ROLL_WIDTH_IN = Decimal("3.15")
PRINTABLE_WIDTH_IN = Decimal("2.83")
LINE_HEIGHT_IN = Decimal("0.16")
MARGIN_IN = Decimal("0.16")


def receipt_stock(receipt: ReceiptContent) -> LabelStock:
    """The page of one receipt on the roll: 80 mm wide, as long as its lines."""
    height = MARGIN_IN * 2 + LINE_HEIGHT_IN * len(receipt_lines(receipt))
    return LabelStock(
        name="Receipt roll 80 mm",
        label_width=ROLL_WIDTH_IN,
        label_height=height,
        page_width=ROLL_WIDTH_IN,
        page_height=height,
    )


def _receipt_font(dpi: int) -> QFont:
    """A fixed-pitch font sized so that RECEIPT_COLUMNS characters fill the printable width."""
    font = QFont("DejaVu Sans Mono")
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setFixedPitch(True)
    font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    font.setPixelSize(max(1, round(float(LINE_HEIGHT_IN) * dpi * 0.8)))
    advance = QFontMetricsF(font).horizontalAdvance("M" * RECEIPT_COLUMNS)
    wanted = float(PRINTABLE_WIDTH_IN) * dpi
    if advance > wanted:
        font.setPixelSize(max(1, int(font.pixelSize() * wanted / advance)))
    return font


def paint_receipt(painter: QPainter, receipt: ReceiptContent, dpi: int) -> None:
    lines = receipt_lines(receipt)
    painter.setFont(_receipt_font(dpi))
    painter.setPen(Qt.GlobalColor.black)
    left = float((ROLL_WIDTH_IN - PRINTABLE_WIDTH_IN) / 2) * dpi
    top = float(MARGIN_IN) * dpi
    step = float(LINE_HEIGHT_IN) * dpi
    for number, line in enumerate(lines):
        box = QRectF(left, top + number * step, float(PRINTABLE_WIDTH_IN) * dpi, step)
        painter.drawText(box, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, line)


def _paint(device: QPaintDevice, receipt: ReceiptContent, dpi: int, destination: str) -> None:
    painter = QPainter()
    if not painter.begin(device):
        raise PrintJobFailed(f"The receipt could not be started on {destination}.")
    paint_receipt(painter, receipt, dpi)
    if not painter.end():
        raise PrintJobFailed(
            f"The receipt on {destination} could not be finished; check it, then print again.",
            destination=destination,
        )


def render_receipt_pdf(receipt: ReceiptContent, path: Path | str) -> PrintOutcome:
    """Write the receipt to a PDF of its own page size."""
    try:
        Path(path).open("wb").close()
    except OSError as exc:
        raise PrintJobFailed(
            f"Could not write the receipt PDF {path}: {exc.strerror}. Choose a folder you may "
            "write to.",
            path=str(path),
        ) from exc
    writer = QPdfWriter(str(path))
    writer.setResolution(PDF_DPI)
    writer.setPageLayout(
        QPageLayout(
            page_size(receipt_stock(receipt)), QPageLayout.Orientation.Portrait, QMarginsF()
        )
    )
    writer.setCreator("RxBench")
    writer.setTitle(f"Receipt for sale {receipt.sale_id}")
    _paint(writer, receipt, PDF_DPI, str(path))
    return PrintOutcome(str(path), 0, 0, 1, PDF_DPI, "")


def print_receipt(
    receipt: ReceiptContent, printer_name: str, *, job_name: str | None = None
) -> PrintOutcome:
    """Print the receipt on `printer_name`; PrinterNotFound, PrinterOffline or PrintJobFailed
    leave nothing printed."""
    printer = open_printer(
        printer_name, receipt_stock(receipt), job_name or f"Receipt {receipt.sale_id}"
    )
    dpi = printer.resolution()
    _paint(printer, receipt, dpi, printer_name)
    return PrintOutcome(printer_name, 0, 0, 1, dpi, "")

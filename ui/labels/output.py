"""Labels out of the workstation: PDF files, preview images, desktop printers, a calibration page.

Every path paints through `ui.labels.render`, laid out at the device's own resolution. A
printer that is missing or stopped raises a printer fault before anything is sent; RxBench
never falls back to the system's default printer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QMarginsF, QPoint, QPointF, QRect, QSizeF, Qt
from PySide6.QtGui import (
    QImage,
    QPagedPaintDevice,
    QPageLayout,
    QPageSize,
    QPaintDevice,
    QPainter,
    QPdfWriter,
    QPen,
)
from PySide6.QtPrintSupport import QPrinter, QPrinterInfo

from app.domain.labels import LabelContent, LabelStock
from app.errors import PrinterNotFound, PrinterOffline, PrintJobFailed, ValidationFailed
from ui.labels.barcode import QUIET_ZONE_MODULES, code128_symbol, paint_bars
from ui.labels.render import LabelLayout, label_font, layout_label, paint_label

# Device dots per inch of exported PDFs: 10-mil bars are exactly 6 dots.
PDF_DPI = 600
CALIBRATION_PAYLOAD = "RXBENCH-TEST"
_MM_PER_INCH = 25.4


@dataclass(frozen=True, slots=True)
class PrintOutcome:
    """What went to a printer or a PDF file."""

    destination: str  # the printer's name or the file's path
    labels: int  # container labels, continuation labels not counted
    faces: int  # physical labels, continuation labels included
    pages: int  # pages (sheets, or roll labels) sent
    dpi: int
    # Printed characters no installed font can draw (printed as empty boxes): tell the user.
    missing_characters: str


def available_printers() -> list[str]:
    """The names of the printers this computer knows, for the printer setting."""
    return sorted(QPrinterInfo.availablePrinterNames())


def page_size(stock: LabelStock) -> QPageSize:
    """The stock's page, exactly: a roll's page is one label, a sheet's the whole sheet."""
    return QPageSize(
        QSizeF(float(stock.page_width), float(stock.page_height)),
        QPageSize.Unit.Inch,
        stock.name,
        QPageSize.SizeMatchPolicy.ExactMatch,
    )


def render_image(content: LabelContent, stock: LabelStock, dpi: int, *, page: int = 0) -> QImage:
    """One label (`page` > 0: one of its continuation labels) on white, at `dpi`."""
    layout = layout_label(content, stock, dpi)
    image = blank_image(layout.width, layout.height, dpi)
    painter = QPainter(image)
    paint_label(painter, layout, page)
    painter.end()
    return image


def blank_image(width: int, height: int, dpi: int) -> QImage:
    """A white image whose fonts are sized for `dpi`, like a printer's page."""
    image = QImage(width, height, QImage.Format.Format_RGB32)
    dots_per_meter = round(dpi / 0.0254)
    image.setDotsPerMeterX(dots_per_meter)
    image.setDotsPerMeterY(dots_per_meter)
    image.fill(Qt.GlobalColor.white)
    return image


def render_pdf(
    contents: Sequence[LabelContent], stock: LabelStock, path: Path | str, *, dpi: int = PDF_DPI
) -> PrintOutcome:
    """Write the labels to one PDF with the stock's page size; a sheet fills its grid in order."""
    layouts = _layouts(contents, stock, dpi)
    try:  # a clear reason now, rather than QPainter.begin's bare refusal
        Path(path).open("wb").close()
    except OSError as exc:
        raise PrintJobFailed(
            f"Could not write the label PDF {path}: {exc.strerror}. Choose a folder you may "
            f"write to.",
            path=str(path),
        ) from exc
    writer = QPdfWriter(str(path))
    writer.setResolution(dpi)
    writer.setPageLayout(
        QPageLayout(page_size(stock), QPageLayout.Orientation.Portrait, QMarginsF())
    )
    writer.setCreator("RxBench")
    writer.setTitle(f"Rx {contents[0].rx_number} label")
    painter = QPainter()
    if not painter.begin(writer):
        raise PrintJobFailed(f"Could not write the label PDF {path}.", path=str(path))
    pages = _paint_faces(painter, writer, layouts, stock, dpi, QPoint(0, 0))
    painter.end()
    return _outcome(str(path), layouts, pages, dpi)


def print_labels(
    contents: Sequence[LabelContent],
    stock: LabelStock,
    printer_name: str,
    *,
    offset: tuple[float, float] = (0.0, 0.0),
    job_name: str = "RxBench labels",
) -> PrintOutcome:
    """Print the labels on `printer_name`, shifted by `offset` (mm right, mm down).

    Raises PrinterNotFound, PrinterOffline or PrintJobFailed; nothing is printed then.
    """
    printer = open_printer(printer_name, stock, job_name)
    dpi = printer.resolution()
    layouts = _layouts(contents, stock, dpi)
    painter = QPainter()
    if not painter.begin(printer):
        raise PrintJobFailed(
            f"The printer “{printer_name}” did not accept the print job; check it, then print "
            f"again.",
            printer=printer_name,
        )
    try:
        pages = _paint_faces(painter, printer, layouts, stock, dpi, _offset_dots(offset, dpi))
    except BaseException:
        printer.abort()
        painter.end()
        raise
    if not painter.end():
        raise PrintJobFailed(
            f"The print job on “{printer_name}” could not be finished; check the printer, then "
            f"print again.",
            printer=printer_name,
        )
    return _outcome(printer_name, layouts, pages, dpi)


def calibration_page(
    stock: LabelStock, device: QPaintDevice, *, offset: tuple[float, float] = (0.0, 0.0)
) -> None:
    """Paint a test page on `device` (already the stock's page size): every label's outline,
    a 1-inch ruler grid, the offset in effect and a sample barcode."""
    painter = QPainter()
    if not painter.begin(device):
        raise PrintJobFailed("The calibration page could not be started on this device.")
    _paint_calibration(painter, stock, device.logicalDpiX(), offset)
    painter.end()


def print_calibration_page(
    stock: LabelStock,
    printer_name: str,
    *,
    offset: tuple[float, float] = (0.0, 0.0),
    job_name: str = "RxBench calibration page",
) -> PrintOutcome:
    """Print `calibration_page` on the label printer, with the same checks as labels."""
    printer = open_printer(printer_name, stock, job_name)
    calibration_page(stock, printer, offset=offset)
    return PrintOutcome(
        destination=printer_name,
        labels=0,
        faces=0,
        pages=1,
        dpi=printer.resolution(),
        missing_characters="",
    )


def _layouts(contents: Sequence[LabelContent], stock: LabelStock, dpi: int) -> list[LabelLayout]:
    """Every label laid out before a device opens, so a refusal leaves no half-written job."""
    if not contents:
        raise ValidationFailed("There are no labels to print.")
    return [layout_label(content, stock, dpi) for content in contents]


def open_printer(printer_name: str, stock: LabelStock, job_name: str) -> QPrinter:
    if not printer_name:
        raise PrinterNotFound(
            "No label printer is chosen on this workstation; choose one in the label settings."
        )
    info = QPrinterInfo.printerInfo(printer_name)
    if info.isNull():
        raise PrinterNotFound(
            f"The printer “{printer_name}” is not installed on this computer; choose the label "
            f"printer again.",
            printer=printer_name,
        )
    if info.state() in (QPrinter.PrinterState.Error, QPrinter.PrinterState.Aborted):
        raise PrinterOffline(
            f"The printer “{printer_name}” is stopped or reports an error (offline, out of "
            f"labels or jammed); fix it, then print again.",
            printer=printer_name,
        )
    printer = QPrinter(info, QPrinter.PrinterMode.HighResolution)
    size = page_size(stock)
    layout = QPageLayout(size, QPageLayout.Orientation.Portrait, QMarginsF())
    wanted = size.size(QPageSize.Unit.Point)
    if not printer.setPageLayout(layout) or not _same_size(
        printer.pageLayout().fullRect(QPageLayout.Unit.Point).size(), wanted
    ):
        raise PrintJobFailed(
            f"The printer “{printer_name}” does not take the page size of “{stock.name}” "
            f"({stock.page_width} × {stock.page_height} in); check its driver's paper sizes.",
            printer=printer_name,
        )
    printer.setFullPage(True)
    printer.setDocName(job_name)
    return printer


def _same_size(actual: QSizeF, wanted: QSizeF) -> bool:
    return abs(actual.width() - wanted.width()) < 1 and abs(actual.height() - wanted.height()) < 1


def _offset_dots(offset: tuple[float, float], dpi: int) -> QPoint:
    return QPoint(round(offset[0] / _MM_PER_INCH * dpi), round(offset[1] / _MM_PER_INCH * dpi))


def _slots(stock: LabelStock, dpi: int) -> list[QPoint]:
    """The top-left corner of each label on a page, row by row, in whole dots."""
    return [
        QPoint(
            round((stock.left_margin + column * (stock.label_width + stock.column_gap)) * dpi),
            round((stock.top_margin + row * (stock.label_height + stock.row_gap)) * dpi),
        )
        for row in range(stock.rows)
        for column in range(stock.columns)
    ]


def _faces(layouts: Sequence[LabelLayout]) -> Iterator[tuple[LabelLayout, int]]:
    for layout in layouts:
        for page in range(len(layout.pages)):
            yield layout, page


def _paint_faces(
    painter: QPainter,
    device: QPagedPaintDevice,
    layouts: Sequence[LabelLayout],
    stock: LabelStock,
    dpi: int,
    offset: QPoint,
) -> int:
    """Paint every label in order into the page grid; returns the number of pages."""
    slots = _slots(stock, dpi)
    pages = 1
    for index, (layout, page) in enumerate(_faces(layouts)):
        slot = index % len(slots)
        if index and slot == 0:
            if not device.newPage():
                raise PrintJobFailed("The printer did not accept another page.")
            pages += 1
        paint_label(painter, layout, page, slots[slot] + offset)
    return pages


def _outcome(
    destination: str, layouts: Sequence[LabelLayout], pages: int, dpi: int
) -> PrintOutcome:
    return PrintOutcome(
        destination=destination,
        labels=len(layouts),
        faces=sum(len(layout.pages) for layout in layouts),
        pages=pages,
        dpi=dpi,
        missing_characters="".join(
            sorted({ch for layout in layouts for ch in layout.missing_characters})
        ),
    )


def _paint_calibration(
    painter: QPainter, stock: LabelStock, dpi: int, offset: tuple[float, float]
) -> None:
    shift = _offset_dots(offset, dpi)
    width, height = round(stock.page_width * dpi), round(stock.page_height * dpi)
    thin = QPen(Qt.GlobalColor.black, max(1, round(dpi / 300)))
    painter.save()
    painter.translate(shift)
    painter.setPen(thin)
    painter.setFont(label_font(7))
    # The ruler: a line every inch with its number, a tick every eighth along two edges.
    for inch in range(int(stock.page_width) + 1):
        painter.drawLine(inch * dpi, 0, inch * dpi, height)
        painter.drawText(QPointF(inch * dpi + dpi / 40, dpi / 8), f"{inch} in")
    for inch in range(int(stock.page_height) + 1):
        painter.drawLine(0, inch * dpi, width, inch * dpi)
        painter.drawText(QPointF(dpi / 40, inch * dpi - dpi / 40), f"{inch} in")
    for eighth in range(round(stock.page_width * 8) + 1):
        painter.drawLine(eighth * dpi // 8, 0, eighth * dpi // 8, dpi // 16)
    for eighth in range(round(stock.page_height * 8) + 1):
        painter.drawLine(0, eighth * dpi // 8, dpi // 16, eighth * dpi // 8)
    outline = QPen(Qt.GlobalColor.black, max(1, round(dpi / 100)))
    painter.setPen(outline)
    label_size = (round(stock.label_width * dpi), round(stock.label_height * dpi))
    slots = _slots(stock, dpi)
    for slot in slots:
        painter.drawRect(QRect(slot.x(), slot.y(), *label_size))
    first = slots[0]
    painter.setPen(Qt.GlobalColor.black)
    painter.setFont(label_font(8, bold=True))
    lines = [
        "RxBench calibration page",
        stock.name,
        f"Offset in effect: {offset[0]:+.1f} mm right, {offset[1]:+.1f} mm down",
    ]
    for number, line in enumerate(lines):
        painter.drawText(
            QPointF(first.x() + dpi / 4, first.y() + dpi * (0.35 + 0.17 * number)), line
        )
    symbol = code128_symbol(CALIBRATION_PAYLOAD, dpi)
    bars = QRect(first.x() + dpi // 8, first.y() + dpi, symbol.width_dots, dpi // 4)
    # The ruler must not cross the bars or their quiet zones.
    painter.fillRect(bars.adjusted(0, -dpi // 16, 0, dpi // 16), Qt.GlobalColor.white)
    paint_bars(painter, symbol, bars)
    painter.setFont(label_font(7))
    caption_x = bars.left() + QUIET_ZONE_MODULES * symbol.module_dots
    painter.drawText(QPointF(caption_x, bars.bottom() + dpi / 6), CALIBRATION_PAYLOAD)
    painter.restore()

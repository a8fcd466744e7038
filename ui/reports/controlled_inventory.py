"""The DEA controlled-substance inventory as a Letter-size PDF: the registrant, the date and
whether it was taken at the opening or the close of business on every page, schedule II listed
apart from III–V, column headings repeated after each page break, and "Page n of N"."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPageLayout, QPageSize, QPainter, QPdfWriter

from app.errors import PrintJobFailed
from app.services.controlled import InventoryReport, ReportLine
from app.services.inventory import shown

DPI = 300
_MARGIN_IN = 0.5
_ROW_IN = 0.2
_SECTION_IN = 0.34
_HEADING_IN = 0.26


@dataclass(frozen=True)
class _Column:
    title: str
    inches: float
    text: Callable[[ReportLine], str]
    right: bool = False
    wrap: bool = False  # the drug's whole name (strength, form) is printed, over several lines


def _units(value: Decimal | None) -> str:
    return "" if value is None else shown(value)


def _signed(value: Decimal) -> str:
    return f"+{shown(value)}" if value > 0 else shown(value)


_COLUMNS = (
    _Column("Sch.", 0.4, lambda line: line.schedule),
    _Column("NDC", 1.0, lambda line: line.ndc),
    _Column("Drug", 1.75, lambda line: line.drug, wrap=True),
    _Column("Units/pkg", 0.6, lambda line: _units(line.package_units), right=True),
    _Column("Sealed", 0.5, lambda line: str(line.sealed_containers), right=True),
    _Column("Opened", 0.6, lambda line: shown(line.opened_quantity), right=True),
    _Column("Total", 0.6, lambda line: shown(line.total), right=True),
    _Column("Count", 0.7, lambda line: line.count_text),
    _Column("Ledger", 0.6, lambda line: shown(line.ledger_balance), right=True),
    _Column(
        "Difference",
        0.75,
        lambda line: _signed(line.difference) if line.difference else "",
        right=True,
    ),
)


@dataclass(frozen=True)
class _Item:
    """One thing on the page: a section title (kept with its first row), a row, or a text line."""

    kind: str  # "section", "row", "empty", "text", "bold", "gap"
    text: str = ""
    line: ReportLine | None = None
    section: str = ""  # the section's short name, repeated "(continued)" after a page break


def _items(report: InventoryReport) -> list[_Item]:
    items: list[_Item] = []
    for short, title, lines, empty in (
        (
            "SCHEDULE II",
            "SCHEDULE II — every count exact",
            report.schedule_ii,
            "No schedule II substance was on hand.",
        ),
        (
            "SCHEDULES III, IV AND V",
            "SCHEDULES III, IV AND V — opened containers estimated, exact above 1,000 units",
            report.schedules_iii_v,
            "No schedule III–V substance was on hand.",
        ),
    ):
        items.append(_Item("section", title, section=short))
        items.extend(_Item("row", line=line, section=short) for line in lines)
        if not lines:
            items.append(_Item("empty", empty, section=short))
        items.append(_Item("gap"))
    items.append(_Item("bold", "Totals"))
    for total in report.totals:
        packages = f"{total.packages} package NDC{'' if total.packages == 1 else 's'}"
        items.append(
            _Item("text", f"Schedule {total.schedule[1:]}: {packages}, {shown(total.units)} units")
        )
    differing = report.differences
    items.append(
        _Item(
            "text",
            f"Lines that differ from the ledger: {differing}"
            + (" (shown above, not corrected)" if differing else ""),
        )
    )
    items.append(_Item("gap"))
    items.append(_Item("text", f"Taken by: {report.taken_by}"))
    items.append(_Item("text", f"Witness: {report.witness or 'none'}"))
    items.append(_Item("gap"))
    items.append(_Item("text", "Signature: ______________________________   Date: ____________"))
    return items


class _Pages:
    """Lays the items out page by page; with `painter` None it only counts the pages."""

    def __init__(
        self,
        report: InventoryReport,
        device: QPdfWriter,
        painter: QPainter | None,
        area: QRectF,
        pages: int,
    ) -> None:
        self._report = report
        self._device = device
        self._painter = painter
        self._area = area
        self._total = pages
        self.page = 0
        self._y = 0.0
        self._base = QFont("DejaVu Sans")
        self._base.setPointSizeF(7.5)
        # "fi" as a ligature glyph comes out of the PDF as "ﬁ", which no search finds.
        self._base.setFeature(QFont.Tag("liga"), 0)

    def _px(self, inches: float) -> float:
        return inches * DPI

    def _font(self, size: float, *, bold: bool = False) -> QFont:
        font = QFont(self._base)
        font.setPointSizeF(size)
        font.setBold(bold)
        return font

    def _room_for(self, width: float, *, right: bool = False) -> tuple[float, float]:
        """(inset, width) of a cell's text: left-aligned text starts a little in, so it never
        runs into a number on its left."""
        inset = 0.0 if right else self._px(0.05)
        return inset, width - self._px(0.04) - inset

    def _pad(self) -> float:
        """Above a wrapped cell's first line: where a one-line row's centred text starts."""
        return (self._px(_ROW_IN) - QFontMetricsF(self._base, self._device).height()) / 2

    def _wrapped_height(self, text: str, width: float) -> float:
        _inset, room = self._room_for(width)
        bounds = QFontMetricsF(self._base, self._device).boundingRect(
            QRectF(0, 0, room, self._px(10)), int(Qt.TextFlag.TextWordWrap), text
        )
        return bounds.height()

    def _text(
        self,
        x: float,
        width: float,
        height: float,
        text: str,
        font: QFont,
        *,
        right: bool = False,
        wrap: bool = False,
    ) -> None:
        if self._painter is None:
            return
        self._painter.setFont(font)
        inset, room = self._room_for(width, right=right)
        horizontal = Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft
        if wrap:
            pad = self._pad()
            flags = int(horizontal | Qt.AlignmentFlag.AlignTop) | int(Qt.TextFlag.TextWordWrap)
            self._painter.drawText(QRectF(x + inset, self._y + pad, room, height), flags, text)
            return
        shown_text = QFontMetricsF(font, self._device).elidedText(
            text, Qt.TextElideMode.ElideRight, room
        )
        align = horizontal | Qt.AlignmentFlag.AlignVCenter
        self._painter.drawText(QRectF(x + inset, self._y, room, height), align, shown_text)

    def _rule(self) -> None:
        if self._painter is not None:
            left, right = self._area.left(), self._area.right()
            self._painter.drawLine(int(left), int(self._y), int(right), int(self._y))

    def _line(self, text: str, size: float, *, bold: bool = False, inches: float = 0.22) -> None:
        self._text(
            self._area.left(),
            self._area.width(),
            self._px(inches),
            text,
            self._font(size, bold=bold),
        )
        self._y += self._px(inches)

    def new_page(self, section: str = "") -> None:
        if self.page and self._painter is not None:
            self._device.newPage()
        self.page += 1
        self._y = self._area.top()
        report = self._report
        registrant = report.registrant
        self._line(f"Controlled-substance inventory — {report.title}", 12, bold=True, inches=0.3)
        self._line(f"Registrant: {registrant.name}, {registrant.address}", 8.5)
        self._line(f"DEA registration {registrant.dea_number}", 8.5)
        self._line(report.timing_text, 9, bold=True)
        self._rule()
        self._y += self._px(0.08)
        if self.page == 1:
            recorded = report.recorded_at.strftime("%Y-%m-%d %H:%M UTC")
            self._line(
                f"Inventory {report.inventory_id}, recorded {recorded}. Taken by "
                f"{report.taken_by}; witness: {report.witness or 'none'}.",
                8,
            )
            if report.note:
                self._line(f"Note: {report.note}", 8)
            self._y += self._px(0.06)
        self._footer()
        if section:
            self._section(f"{section} (continued)")

    def _footer(self) -> None:
        saved = self._y
        self._y = self._area.bottom() - self._px(0.22)
        font = self._font(7.5)
        report = self._report
        self._text(
            self._area.left(),
            self._area.width() * 0.7,
            self._px(0.22),
            f"{report.title} {report.inventory_id} · DEA {report.registrant.dea_number} · "
            f"{report.taken_on.isoformat()}",
            font,
        )
        self._text(
            self._area.left(),
            self._area.width(),
            self._px(0.22),
            f"Page {self.page} of {self._total}",
            font,
            right=True,
        )
        self._y = saved

    def _section(self, title: str) -> None:
        self._text(
            self._area.left(),
            self._area.width(),
            self._px(_SECTION_IN),
            title,
            self._font(9, bold=True),
        )
        self._y += self._px(_SECTION_IN)
        x = self._area.left()
        bold = self._font(7.5, bold=True)
        for column in _COLUMNS:
            width = self._px(column.inches)
            self._text(x, width, self._px(_HEADING_IN), column.title, bold, right=column.right)
            x += width
        self._y += self._px(_HEADING_IN)
        self._rule()

    def _row_height(self, line: ReportLine) -> float:
        """A row is one line high, or as high as its longest wrapped cell."""
        tallest = max(
            self._wrapped_height(column.text(line), self._px(column.inches))
            for column in _COLUMNS
            if column.wrap
        )
        return max(self._px(_ROW_IN), tallest + 2 * self._pad())

    def _room(self) -> float:
        return self._area.bottom() - self._px(0.3) - self._y

    def lay_out(self, items: Sequence[_Item]) -> None:
        self.new_page()
        for item in items:
            if item.kind == "section":
                if self._room() < self._px(_SECTION_IN + _HEADING_IN + _ROW_IN):
                    self.new_page()
                self._section(item.text)
                continue
            height = self._px(_ROW_IN if item.kind in ("row", "empty") else 0.22)
            if item.line is not None:
                height = max(height, self._row_height(item.line))
            if item.kind == "gap":
                self._y += self._px(0.12)
                continue
            if self._room() < height:
                self.new_page(item.section)
            if item.kind == "row":
                assert item.line is not None
                x = self._area.left()
                for column in _COLUMNS:
                    width = self._px(column.inches)
                    self._text(
                        x,
                        width,
                        # A wrapped cell fills the row; the others sit on its first line.
                        height if column.wrap else self._px(_ROW_IN),
                        column.text(item.line),
                        self._base,
                        right=column.right,
                        wrap=column.wrap,
                    )
                    x += width
                self._y += height
            else:
                self._line(item.text, 9 if item.kind == "bold" else 8, bold=item.kind == "bold")


def render_inventory_pdf(report: InventoryReport, path: Path | str) -> int:
    """Write the inventory to a PDF file; returns how many pages it has."""
    try:  # a clear reason now, rather than QPainter.begin's bare refusal
        Path(path).open("wb").close()
    except OSError as exc:
        raise PrintJobFailed(
            f"Could not write the inventory PDF {path}: {exc.strerror}. Choose a folder you may "
            "write to.",
            path=str(path),
        ) from exc
    writer = QPdfWriter(str(path))
    writer.setResolution(DPI)
    margin = _MARGIN_IN * 25.4
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.Letter),
            QPageLayout.Orientation.Portrait,
            QMarginsF(margin, margin, margin, margin),
            QPageLayout.Unit.Millimeter,
        )
    )
    writer.setCreator("RxBench")
    writer.setTitle(f"{report.title} {report.inventory_id}, {report.taken_on.isoformat()}")
    area = QRectF(
        writer.pageLayout()
        .paintRectPixels(DPI)
        .translated(-writer.pageLayout().paintRectPixels(DPI).topLeft())
    )
    items = _items(report)
    counting = _Pages(report, writer, None, area, 0)
    counting.lay_out(items)
    painter = QPainter()
    if not painter.begin(writer):
        raise PrintJobFailed(f"Could not write the inventory PDF {path}.", path=str(path))
    try:
        pages = _Pages(report, writer, painter, area, counting.page)
        pages.lay_out(items)
    finally:
        painter.end()
    return counting.page

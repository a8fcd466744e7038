"""The USP <17> label layout and its painting: one renderer for the preview, printers and PDF.

`layout_label` decides each field's lines, type size and place on one stock at one device
resolution; `paint_label` draws that layout with QPainter on any paint device of that
resolution (QImage, QPdfWriter, QPrinter), so the preview cannot disagree with the print.
Text is never clipped: it shrinks to a floor, then continues on another label.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache, partial

from PySide6.QtCore import QLineF, QPoint, QPointF, QRect, QRectF, Qt
from PySide6.QtGui import (
    QFont,
    QFontMetricsF,
    QImage,
    QPainter,
    QPen,
    QTextLayout,
    QTextOption,
)

from app.domain.labels import LabelContent, LabelLanguage, LabelStock
from app.errors import ValidationFailed
from ui.labels.barcode import Code128Symbol, code128_symbol, paint_bars

# DejaVu Sans ships with every Debian desktop (fonts-dejavu-core); the rest are the common sans
# faces elsewhere. Qt falls back per character through this list, then to any installed font.
FONT_FAMILIES = ("DejaVu Sans", "Noto Sans", "Liberation Sans", "Arial", "Helvetica")

# USP <17> and California 16 CCR 1707.5: the patient-critical group never goes below 12 pt.
CRITICAL_FLOOR_PT = 12.0
CRITICAL_MAX_PT = 16.0
LARGE_PRINT_FLOOR_PT = 16.0
LARGE_PRINT_MAX_PT = 20.0
SECONDARY_MAX_PT = 8.0
SECONDARY_FLOOR_PT = 6.0
# The secondary text keeps at least this size until the critical group is at its own floor.
_SECONDARY_COMFORT_PT = 7.0
_SIZE_STEP_PT = 0.5
SCHEDULE_PT = 12.0
BADGE_PT = 8.0
BARCODE_TEXT_PT = 7.0
MAX_LABELS_PER_CONTAINER = 12

_MARGIN_INCH = 0.06
_REGION_GAP_INCH = 0.05
# Text beside the bars keeps out of their quiet zone; text under them keeps this far from
# the column on the left.
_QUIET_ZONE_GAP_INCH = 0.02
_COLUMN_GAP_INCH = 0.1
_FIELD_GAP_INCH = 0.02
_BADGE_PADDING_INCH = 0.02
_BADGE_GAP_INCH = 0.04
_BAR_HEIGHT_INCH = 0.25  # ISO/IEC 15417 asks 0.25 in or 15 % of the symbol's width
_BARS_TO_TEXT_INCH = 0.01
_MIN_TEXT_COLUMN_INCH = 1.0
# A field split between columns keeps at least this many lines on each side.
_MIN_LINES_SPLIT = 2
# Room for the widest "continued" line, before the number of labels is known.
_CONTINUED_PLACEHOLDER = "continued, part 88 of 88"


class Role(StrEnum):
    """What a text block on the label says."""

    PATIENT = "patient"
    DRUG = "drug"  # drug line and "generic for …"
    DIRECTIONS = "directions"
    INDICATION = "indication"
    CONTINUED = "continued"  # "part 1 of 2", "continued, part 2 of 2"
    RX = "rx"  # Rx number, fill number, fill date
    QUANTITY = "quantity"  # quantity and refills
    PRESCRIBER = "prescriber"  # prescriber and the discard-after date
    PRODUCT = "product"  # manufacturer and NDC
    DESCRIPTION = "description"
    ENGLISH_DIRECTIONS = "english-directions"
    WARNING = "warning"
    TRANSFER_CAUTION = "transfer-caution"
    PHARMACY = "pharmacy"  # name, address, phone
    SCHEDULE = "schedule"
    CONTAINER = "container"
    REPRINT = "reprint"
    BARCODE_TEXT = "barcode-text"


CRITICAL_ROLES = frozenset({Role.PATIENT, Role.DRUG, Role.DIRECTIONS, Role.INDICATION})


@dataclass(frozen=True, slots=True)
class TextBlock:
    """One field's lines as placed; `rect` is in device dots from the label's top-left corner.

    `text` is exactly the part of the field this block prints: the blocks of a field split
    across columns or labels join back into it. A framed block (schedule, "1 of 3", REPRINT)
    has its box `padding` dots outside the text; `rect` includes the box.
    """

    role: Role
    text: str
    lines: tuple[str, ...]
    rect: QRectF
    point_size: float
    bold: bool
    line_spacing: float
    ascent: float
    framed: bool = False
    padding: float = 0.0


@dataclass(frozen=True, slots=True)
class LabelPage:
    """One physical label: the container's label or one of its continuation labels."""

    blocks: tuple[TextBlock, ...]
    critical_rect: QRectF  # the patient-critical region, from the label's top edge
    barcode: Code128Symbol
    barcode_rect: QRect  # bars and both quiet zones, whole device dots
    rule_y: float  # the line between the critical group and the rest


@dataclass(frozen=True, slots=True)
class LabelLayout:
    """Where everything on one container's label goes, at `dpi` device dots per inch."""

    content: LabelContent
    dpi: int
    width: int  # one label, device dots
    height: int
    critical_point_size: float
    secondary_point_size: float
    pages: tuple[LabelPage, ...]
    # Printed characters no installed font can draw; Qt prints each as an empty box.
    missing_characters: str


def label_font(point_size: float, *, bold: bool = False) -> QFont:
    font = QFont()
    font.setFamilies(list(FONT_FAMILIES))
    font.setStyleHint(QFont.StyleHint.SansSerif)
    font.setPointSizeF(point_size)
    font.setBold(bold)
    # Unhinted advances are the same on a 203-dpi image and in a PDF, so a line measured for
    # one fits when painted on the other.
    font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    # "fi" and "fl" as ligature glyphs would come out of a PDF as "ﬁ", which no search finds.
    font.setFeature(QFont.Tag("liga"), 0)
    return font


def _missing_characters(text: str) -> str:
    """The characters of `text` that no installed font can draw, sorted, each once."""
    metrics = QFontMetricsF(label_font(CRITICAL_FLOOR_PT))
    return "".join(
        sorted(ch for ch in set(text) if not ch.isspace() and not metrics.inFontUcs4(ord(ch)))
    )


def layout_label(content: LabelContent, stock: LabelStock, dpi: int) -> LabelLayout:
    """Lay out one container's label; raise ValidationFailed when the stock cannot hold it."""
    if dpi < 72:
        raise ValueError(f"A label needs at least 72 dots per inch, not {dpi}")
    return _Composer(content, stock, dpi).compose()


def paint_label(
    painter: QPainter, layout: LabelLayout, page: int = 0, origin: QPoint | None = None
) -> None:
    """Paint one page of `layout` with its top-left corner at `origin` (device dots)."""
    device = painter.device()
    if device is not None and device.logicalDpiY() != layout.dpi:
        raise ValueError(
            f"The layout is for {layout.dpi} dpi but the paint device has "
            f"{device.logicalDpiY()} dpi; lay the label out for the device."
        )
    label_page = layout.pages[page]
    frame_pen = QPen(Qt.GlobalColor.black, max(1, round(layout.dpi / 150)))
    painter.save()
    painter.translate(origin or QPoint(0, 0))
    painter.setPen(frame_pen)
    margin = _MARGIN_INCH * layout.dpi
    painter.drawLine(QLineF(margin, label_page.rule_y, layout.width - margin, label_page.rule_y))
    typesetter = _typesetter(layout.dpi)
    for block in label_page.blocks:
        if block.framed:
            inset = frame_pen.widthF() / 2
            painter.setPen(frame_pen)
            painter.drawRect(block.rect.adjusted(inset, inset, -inset, -inset))
        painter.setPen(Qt.GlobalColor.black)
        painter.setFont(typesetter.font(block.point_size, block.bold))
        x = block.rect.left() + block.padding
        baseline = block.rect.top() + block.padding + block.ascent
        for line in block.lines:
            painter.drawText(QPointF(x, baseline), line)
            baseline += block.line_spacing
    paint_bars(painter, label_page.barcode, label_page.barcode_rect)
    painter.restore()


def _normalized(text: str) -> str:
    """Labels print one paragraph per field: runs of white space become one space."""
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class _Item:
    role: Role
    text: str
    bold: bool = False


@dataclass(frozen=True, slots=True)
class _Wrapped:
    lines: tuple[str, ...]
    ends: tuple[int, ...]  # where each line ends in the text, for the rest of a split field
    widths: tuple[float, ...]


@dataclass(slots=True)
class _Column:
    left: float
    top: float
    width: float
    bottom: float


@dataclass(slots=True)
class _Draft:
    blocks: list[TextBlock]
    critical_end: float
    barcode_rect: QRect


def _critical_items(content: LabelContent) -> list[_Item]:
    drug = content.drug_line
    if content.generic_for:
        drug = f"{drug} ({content.generic_for})"
    items = [
        _Item(Role.PATIENT, content.patient_name, bold=True),
        _Item(Role.DRUG, drug, bold=True),
        _Item(Role.DIRECTIONS, content.directions),
        _Item(Role.INDICATION, content.indication),
    ]
    return [replace(item, text=_normalized(item.text)) for item in items if item.text.strip()]


def _secondary_items(content: LabelContent) -> list[_Item]:
    pharmacy = content.pharmacy
    items = [
        _Item(
            Role.RX,
            f"Rx {content.rx_number} · Fill {content.fill_number} · "
            f"Filled {content.fill_date:%m/%d/%Y}",
            bold=True,
        ),
        _Item(Role.QUANTITY, f"Qty {content.quantity} · {content.refills}"),
        _Item(
            Role.PRESCRIBER,
            f"{content.prescriber} · Discard after {content.discard_after:%m/%d/%Y}",
        ),
        _Item(Role.PRODUCT, f"Mfr {content.manufacturer} · NDC {content.ndc}"),
        _Item(Role.DESCRIPTION, content.physical_description),
    ]
    if content.language != LabelLanguage.ENGLISH and content.english_directions.strip():
        items.append(_Item(Role.ENGLISH_DIRECTIONS, f"English: {content.english_directions}"))
    items.extend(_Item(Role.WARNING, warning, bold=True) for warning in content.auxiliary_warnings)
    items.append(_Item(Role.TRANSFER_CAUTION, content.transfer_caution))
    heading = (pharmacy.name, pharmacy.address, pharmacy.phone)
    items.append(_Item(Role.PHARMACY, " · ".join(part for part in heading if part.strip())))
    return [replace(item, text=_normalized(item.text)) for item in items if item.text.strip()]


def _badge_items(content: LabelContent) -> list[tuple[Role, str, float]]:
    badges = [
        (Role.SCHEDULE, content.dea_schedule.strip(), SCHEDULE_PT),
        (Role.CONTAINER, content.container_text, BADGE_PT),
        (Role.REPRINT, "REPRINT" if content.reprint else "", BADGE_PT),
    ]
    return [badge for badge in badges if badge[1]]


def _progress(critical: deque[_Item], secondary: deque[_Item]) -> tuple[int, str, int, str]:
    return (
        len(critical),
        critical[0].text if critical else "",
        len(secondary),
        secondary[0].text if secondary else "",
    )


def _first_fitting(sizes: list[float], fits: Callable[[float], bool]) -> float | None:
    """The first of `sizes` (largest first) that fits, when every smaller one fits too."""
    low, high = 0, len(sizes)
    while low < high:
        middle = (low + high) // 2
        if fits(sizes[middle]):
            high = middle
        else:
            low = middle + 1
    return sizes[low] if low < len(sizes) else None


def _size_steps(largest: float, smallest: float) -> list[float]:
    count = round((largest - smallest) / _SIZE_STEP_PT)
    return [largest - index * _SIZE_STEP_PT for index in range(count + 1)]


# Line breaks found once are kept: the pharmacy heading, cautions, warnings and drug lines recur
# on label after label. Bounded, and one typesetter per thread since Qt text layout is not
# thread-safe.
_WRAP_CACHE_SIZE = 4096
_SHAPED_CACHE_SIZE = 1024
_per_thread = threading.local()


def _typesetter(dpi: int) -> _Typesetter:
    typesetters: dict[int, _Typesetter] = _per_thread.__dict__.setdefault("typesetters", {})
    if dpi not in typesetters:
        typesetters[dpi] = _Typesetter(dpi)
    return typesetters[dpi]


class _Typesetter:
    """Fonts, metrics and line breaks at one resolution."""

    def __init__(self, dpi: int) -> None:
        self.dpi = dpi
        # Fonts are sized by their device's resolution: measure on an image of the target's.
        self._device = QImage(1, 1, QImage.Format.Format_RGB32)
        dots_per_meter = round(dpi / 0.0254)
        self._device.setDotsPerMeterX(dots_per_meter)
        self._device.setDotsPerMeterY(dots_per_meter)
        self._fonts: dict[tuple[float, bool], QFont] = {}
        self._metrics: dict[tuple[float, bool], QFontMetricsF] = {}
        self._option = QTextOption()
        self._option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.wrap = lru_cache(maxsize=_WRAP_CACHE_SIZE)(self._break_lines)
        # A shaped text is laid out again at each width without shaping it again.
        self._shaped = lru_cache(maxsize=_SHAPED_CACHE_SIZE)(self._shape)

    def dots(self, inches: float) -> float:
        return inches * self.dpi

    def font(self, point_size: float, bold: bool) -> QFont:
        key = (point_size, bold)
        if key not in self._fonts:
            self._fonts[key] = label_font(point_size, bold=bold)
        return self._fonts[key]

    def metrics(self, point_size: float, bold: bool) -> QFontMetricsF:
        key = (point_size, bold)
        if key not in self._metrics:
            self._metrics[key] = QFontMetricsF(self.font(point_size, bold), self._device)
        return self._metrics[key]

    def _shape(self, text: str, point_size: float, bold: bool) -> QTextLayout:
        layout = QTextLayout(text, self.font(point_size, bold), self._device)
        layout.setTextOption(self._option)
        return layout

    def _break_lines(self, text: str, point_size: float, bold: bool, width: float) -> _Wrapped:
        layout = self._shaped(text, point_size, bold)
        # Qt counts UTF-16 units; map them back to Python's code points.
        to_index = _utf16_to_index(text) if len(text.encode("utf-16-le")) > 2 * len(text) else None
        lines: list[str] = []
        ends: list[int] = []
        widths: list[float] = []
        layout.beginLayout()
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            start, end = line.textStart(), line.textStart() + line.textLength()
            if to_index is not None:
                start, end = to_index[start], to_index[end]
            lines.append(text[start:end].strip())
            ends.append(end)
            widths.append(line.naturalTextWidth())
        layout.endLayout()
        return _Wrapped(tuple(lines), tuple(ends), tuple(widths))


def _utf16_to_index(text: str) -> list[int]:
    """Python index of every UTF-16 offset of `text` (and of its end)."""
    mapping: list[int] = []
    for index, ch in enumerate(text):
        mapping.extend([index] * (2 if ord(ch) > 0xFFFF else 1))
    mapping.append(len(text))
    return mapping


class _Composer:
    """Finds the largest type that fits one label, or else the fewest continuation labels."""

    def __init__(self, content: LabelContent, stock: LabelStock, dpi: int) -> None:
        self.content = content
        self.dpi = dpi
        self.typesetter = _typesetter(dpi)
        self.width = int(stock.label_width * dpi)
        self.height = int(stock.label_height * dpi)
        self.margin = round(self.typesetter.dots(_MARGIN_INCH))
        self.barcode = code128_symbol(content.barcode_payload, dpi)
        # The right quiet zone may reach the label's edge: the bars stay 10 modules inside it.
        self.right_width = self.barcode.width_dots
        self.right_left = self.width - self.right_width
        self.left_width = self.right_left - self.typesetter.dots(_QUIET_ZONE_GAP_INCH) - self.margin
        self.under_left = (
            self.right_left
            - self.typesetter.dots(_QUIET_ZONE_GAP_INCH)
            + (self.typesetter.dots(_COLUMN_GAP_INCH))
        )
        if self.left_width < self.typesetter.dots(_MIN_TEXT_COLUMN_INCH):
            raise ValidationFailed(
                f"The label stock “{stock.name}” is too narrow for a prescription label and "
                f"its barcode; choose a stock at least 3.5 in wide.",
                stock=stock.name,
            )
        self.critical = _critical_items(content)
        self.secondary = _secondary_items(content)
        self.large_print = content.large_print
        self.stock_name = stock.name
        self.badges, self.badges_left, self.badges_bottom = self._badges(_badge_items(content))
        self.right_blocks, self.bars, self.right_height = self._right_column()
        self.critical_limit = (
            self.height - self.margin - self.typesetter.dots(_REGION_GAP_INCH) - self.right_height
        )
        self.half = math.ceil(self.height / 2)
        if self.critical_limit < self.half:
            raise ValidationFailed(
                f"The label stock “{stock.name}” is too short for a prescription label: the "
                f"patient's information must take half of it above the barcode.",
                stock=stock.name,
            )

    def compose(self) -> LabelLayout:
        floor, largest = (
            (LARGE_PRINT_FLOOR_PT, LARGE_PRINT_MAX_PT)
            if self.large_print
            else (CRITICAL_FLOOR_PT, CRITICAL_MAX_PT)
        )
        critical_sizes = _size_steps(largest, floor)
        comfortable = _size_steps(SECONDARY_MAX_PT, _SECONDARY_COMFORT_PT)
        smallest = _size_steps(_SECONDARY_COMFORT_PT - _SIZE_STEP_PT, SECONDARY_FLOOR_PT)
        single: dict[tuple[float, float], list[_Draft] | None] = {}

        def one_label(critical_pt: float, secondary_pt: float) -> list[_Draft] | None:
            key = (critical_pt, secondary_pt)
            if key not in single:
                single[key] = self._paginate(critical_pt, secondary_pt, 1, continued=False)
            return single[key]

        def fits(critical_pt: float, secondary_pt: float) -> bool:
            return one_label(critical_pt, secondary_pt) is not None

        # Fitting is monotone in both sizes, so each choice is a bisection. The critical group
        # shrinks first; the rest goes below its comfortable size only once the critical
        # group is at its floor.
        largest_fitting = _first_fitting(critical_sizes, self._critical_fits)
        if largest_fitting is not None:
            candidates = critical_sizes[critical_sizes.index(largest_fitting) :]
            tiers = [(comfortable[-1], comfortable)] + [(size, [size]) for size in smallest]
            for easiest, secondary_sizes in tiers:
                critical_pt = _first_fitting(candidates, partial(fits, secondary_pt=easiest))
                if critical_pt is None:
                    continue
                secondary_pt = _first_fitting(secondary_sizes, partial(fits, critical_pt))
                drafts = one_label(critical_pt, secondary_pt or easiest)
                assert drafts is not None  # `easiest` fits at `critical_pt`
                return self._layout(drafts, critical_pt, secondary_pt or easiest)
        return self._continued(floor, comfortable + smallest)

    def _continued(self, critical_pt: float, secondary_sizes: list[float]) -> LabelLayout:
        """The fewest continuation labels at the critical floor, with the largest rest."""
        paginated: dict[float, list[_Draft] | None] = {}

        def labels(size: float) -> int:
            if size not in paginated:
                paginated[size] = self._paginate(
                    critical_pt, size, MAX_LABELS_PER_CONTAINER, continued=True
                )
            drafts = paginated[size]
            return MAX_LABELS_PER_CONTAINER + 1 if drafts is None else len(drafts)

        fewest = labels(secondary_sizes[-1])
        if fewest > MAX_LABELS_PER_CONTAINER:
            raise ValidationFailed(
                f"The label for Rx {self.content.rx_number} needs more than "
                f"{MAX_LABELS_PER_CONTAINER} labels of “{self.stock_name}”; shorten the "
                f"directions or choose a larger stock.",
                rx_number=self.content.rx_number,
            )
        secondary_pt = _first_fitting(secondary_sizes, lambda size: labels(size) == fewest)
        assert secondary_pt is not None
        drafts = paginated[secondary_pt] or []
        self._number_continuations(drafts)
        return self._layout(drafts, critical_pt, secondary_pt)

    def _layout(self, drafts: list[_Draft], critical_pt: float, secondary_pt: float) -> LabelLayout:
        gap = self.typesetter.dots(_REGION_GAP_INCH)
        pages = tuple(
            LabelPage(
                blocks=tuple(draft.blocks),
                critical_rect=QRectF(0, 0, self.width, draft.critical_end),
                barcode=self.barcode,
                barcode_rect=draft.barcode_rect,
                rule_y=draft.critical_end + gap / 2,
            )
            for draft in drafts
        )
        printed = " ".join(block.text for page in pages for block in page.blocks)
        return LabelLayout(
            content=self.content,
            dpi=self.dpi,
            width=self.width,
            height=self.height,
            critical_point_size=critical_pt,
            secondary_point_size=secondary_pt,
            pages=pages,
            missing_characters=_missing_characters(printed),
        )

    def _paginate(
        self, critical_pt: float, secondary_pt: float, max_pages: int, *, continued: bool
    ) -> list[_Draft] | None:
        """Fill labels in turn; None when more than `max_pages` would be needed."""
        gap = self.typesetter.dots(_REGION_GAP_INCH)
        field_gap = self.typesetter.dots(_FIELD_GAP_INCH)
        critical = deque(self.critical)
        secondary = deque(self.secondary)
        full_width = self.width - 2 * self.margin

        # Where a field deferred to the next label would start there, at the latest.
        def patient_bottom(point_size: float) -> float:
            beside = self._beside_badges()
            patient = self.typesetter.wrap(self.critical[0].text, point_size, True, beside.width)
            spacing = self.typesetter.metrics(point_size, True).lineSpacing()
            return max(self.margin + len(patient.lines) * spacing + field_gap, self.badges_bottom)

        def fresh_critical(point_size: float) -> _Column:
            top = patient_bottom(point_size)
            return _Column(self.margin, top, full_width, self.critical_limit)

        def fresh_secondary(point_size: float) -> _Column:
            # With the critical group done, the next label's has only the patient's name.
            critical_end = (
                self.critical_limit if critical else max(self.half, patient_bottom(critical_pt))
            )
            top = float(math.ceil(critical_end + gap))
            if continued:
                marker = self.typesetter.wrap(
                    _CONTINUED_PLACEHOLDER, point_size, True, self.left_width
                )
                top += len(marker.lines) * self.typesetter.metrics(point_size, True).lineSpacing()
            return _Column(self.margin, top, self.left_width, self.height - self.margin)

        drafts: list[_Draft] = []
        while not drafts or critical or secondary:
            if len(drafts) == max_pages:
                return None
            blocks = list(self.badges)
            before = _progress(critical, secondary)
            self._place_critical(
                critical, critical_pt, blocks, again=bool(drafts), fresh=fresh_critical(critical_pt)
            )
            critical_end = max([float(self.half)] + [block.rect.bottom() for block in blocks])
            top = math.ceil(critical_end + gap)
            blocks.extend(replace(b, rect=b.rect.translated(0, top)) for b in self.right_blocks)
            text_bottom = self.height - self.margin
            columns = [
                _Column(self.margin, top, self.left_width, text_bottom),
                _Column(
                    self.under_left,
                    top + self.right_height,
                    self.width - self.margin - self.under_left,
                    text_bottom,
                ),
            ]
            if continued:
                secondary.appendleft(_Item(Role.CONTINUED, _CONTINUED_PLACEHOLDER, bold=True))
            self._flow(secondary, columns, secondary_pt, blocks, 0.0, fresh_secondary(secondary_pt))
            if secondary and secondary[0].role == Role.CONTINUED:
                secondary.popleft()
            if _progress(critical, secondary) == before:
                raise ValidationFailed(
                    f"Nothing fits on a label of “{self.stock_name}”; choose a larger stock.",
                    stock=self.stock_name,
                )
            drafts.append(_Draft(blocks, critical_end, self.bars.translated(0, top)))
        return drafts

    def _badges(
        self, badges: list[tuple[Role, str, float]]
    ) -> tuple[list[TextBlock], float, float]:
        """Schedule, "1 of N" and REPRINT boxed in the top right corner, beside the patient's
        name; returns them with the left and bottom edges of the corner they take."""
        padding = self.typesetter.dots(_BADGE_PADDING_INCH)
        badge_gap = self.typesetter.dots(_BADGE_GAP_INCH)
        right = self.width - self.margin
        widest_row = (self.width - 2 * self.margin) / 2
        rows: list[list[TextBlock]] = [[]]
        for role, text, point_size in badges:
            block = self._block(role, text, point_size, True, widest_row - 2 * padding, padding)
            row_width = sum(b.rect.width() + badge_gap for b in rows[-1])
            if rows[-1] and row_width + block.rect.width() > widest_row:
                rows.append([])
            rows[-1].append(block)
        placed: list[TextBlock] = []
        left, top = float(right), float(self.margin)
        for row in rows:
            x = right - sum(b.rect.width() for b in row) - badge_gap * (len(row) - 1)
            left = min(left, x)
            for block in row:
                placed.append(replace(block, rect=block.rect.translated(x, top)))
                x += block.rect.width() + badge_gap
            top += max((b.rect.height() for b in row), default=0.0) + badge_gap
        return placed, left, (top if placed else self.margin)

    def _right_column(self) -> tuple[list[TextBlock], QRect, int]:
        """The bars and their text, from y = 0; and the height they take."""
        bar_height = round(self.typesetter.dots(_BAR_HEIGHT_INCH))
        bars = QRect(self.right_left, 0, self.right_width, bar_height)
        caption = self._block(
            Role.BARCODE_TEXT, self.barcode.payload, BARCODE_TEXT_PT, False, self.right_width
        )
        caption_left = self.right_left + (self.right_width - caption.rect.width()) / 2
        caption_top = bar_height + self.typesetter.dots(_BARS_TO_TEXT_INCH)
        caption = replace(caption, rect=caption.rect.translated(caption_left, caption_top))
        return [caption], bars, math.ceil(caption_top + caption.rect.height())

    def _block(
        self,
        role: Role,
        text: str,
        point_size: float,
        bold: bool,
        width: float,
        padding: float = 0.0,
    ) -> TextBlock:
        """A whole field wrapped at `width`, framed when it has padding."""
        wrapped = self.typesetter.wrap(text, point_size, bold, width)
        metrics = self.typesetter.metrics(point_size, bold)
        return TextBlock(
            role=role,
            text=text,
            lines=wrapped.lines,
            rect=QRectF(
                0,
                0,
                self._widest(wrapped.lines, wrapped.widths, metrics) + 2 * padding,
                len(wrapped.lines) * metrics.lineSpacing() + 2 * padding,
            ),
            point_size=point_size,
            bold=bold,
            line_spacing=metrics.lineSpacing(),
            ascent=metrics.ascent(),
            framed=padding > 0,
            padding=padding,
        )

    def _flow(
        self,
        queue: deque[_Item],
        columns: list[_Column],
        point_size: float,
        out: list[TextBlock],
        field_gap: float,
        fresh: _Column | None = None,
    ) -> None:
        """Place fields in order down the columns.

        A field that does not fit moves whole to the next column, or splits into it when the
        rest fits there, or moves whole to the next label when it fits that label's `fresh`
        column; only a field too long for any of these splits at the bottom of a column.
        """
        index = 0
        while queue and index < len(columns):
            item, column = queue[0], columns[index]
            wrapped = self.typesetter.wrap(item.text, point_size, item.bold, column.width)
            spacing = self.typesetter.metrics(point_size, item.bold).lineSpacing()
            room = math.floor((column.bottom - column.top) / spacing + 1e-9)
            beside = columns[index + 1] if index + 1 < len(columns) else None
            count = max(0, min(room, len(wrapped.lines)))
            placed_end = wrapped.ends[count - 1] if count > 0 else 0
            rest = item.text[placed_end:].lstrip()
            if count == len(wrapped.lines):
                queue.popleft()
            elif beside is not None and self._fits_whole(item.text, item.bold, beside, point_size):
                index += 1
                continue
            elif (
                min(count, len(wrapped.lines) - count) >= _MIN_LINES_SPLIT
                and beside is not None
                and self._fits_whole(rest, item.bold, beside, point_size)
            ):
                queue[0] = replace(item, text=rest)
            elif fresh is not None and self._fits_whole(item.text, item.bold, fresh, point_size):
                return
            elif count == 0:
                index += 1
                continue
            else:
                queue[0] = replace(item, text=rest)
            metrics = self.typesetter.metrics(point_size, item.bold)
            out.append(
                TextBlock(
                    role=item.role,
                    text=item.text if count == len(wrapped.lines) else item.text[:placed_end],
                    lines=wrapped.lines[:count],
                    rect=QRectF(
                        column.left,
                        column.top,
                        self._widest(wrapped.lines[:count], wrapped.widths[:count], metrics),
                        count * spacing,
                    ),
                    point_size=point_size,
                    bold=item.bold,
                    line_spacing=spacing,
                    ascent=metrics.ascent(),
                )
            )
            column.top += count * spacing + field_gap
            if count < len(wrapped.lines):
                index += 1

    @staticmethod
    def _widest(lines: tuple[str, ...], widths: tuple[float, ...], metrics: QFontMetricsF) -> float:
        """The room the lines really take: a line broken after a hyphen measures a few dots
        wider on its own than its width inside the paragraph."""
        return max(max(widths), *(metrics.horizontalAdvance(line) for line in lines))

    def _critical_fits(self, point_size: float) -> bool:
        """Whether the critical group alone fits one label at this size."""
        queue = deque(self.critical)
        self._place_critical(queue, point_size, [], again=False)
        return not queue

    def _beside_badges(self) -> _Column:
        """Where the patient's name goes: the top of the label, left of the badges."""
        right = (
            self.badges_left - self.typesetter.dots(_BADGE_GAP_INCH)
            if self.badges
            else (self.width - self.margin)
        )
        return _Column(self.margin, self.margin, right - self.margin, self.critical_limit)

    def _place_critical(
        self,
        critical: deque[_Item],
        point_size: float,
        out: list[TextBlock],
        *,
        again: bool,
        fresh: _Column | None = None,
    ) -> None:
        """The patient's name beside the badges, then the rest of the group full width.

        A continuation label (`again`) names the patient again before the rest of the text.
        """
        field_gap = self.typesetter.dots(_FIELD_GAP_INCH)
        beside = self._beside_badges()
        patient = deque([self.critical[0]]) if again else deque([critical.popleft()])
        self._flow(patient, [beside], point_size, out, field_gap)
        if not again:
            critical.extendleft(patient)
        column = _Column(
            self.margin,
            max(beside.top, self.badges_bottom),
            self.width - 2 * self.margin,
            self.critical_limit,
        )
        self._flow(critical, [column], point_size, out, field_gap, fresh)

    def _fits_whole(self, text: str, bold: bool, column: _Column, point_size: float) -> bool:
        wrapped = self.typesetter.wrap(text, point_size, bold, column.width)
        spacing = self.typesetter.metrics(point_size, bold).lineSpacing()
        return len(wrapped.lines) * spacing <= column.bottom - column.top + 1e-9

    def _number_continuations(self, drafts: list[_Draft]) -> None:
        """Replace the reserved "continued" line with each label's own words."""
        total = len(drafts)
        for number, draft in enumerate(drafts, start=1):
            text = f"part 1 of {total}" if number == 1 else f"continued, part {number} of {total}"
            for index, block in enumerate(draft.blocks):
                if block.role == Role.CONTINUED:
                    wrapped = self.typesetter.wrap(text, block.point_size, True, self.left_width)
                    rect = QRectF(block.rect)
                    rect.setWidth(max(wrapped.widths))
                    draft.blocks[index] = replace(block, text=text, lines=wrapped.lines, rect=rect)

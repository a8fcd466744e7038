"""The USP <17> layout: critical group ≥ 12 pt and ≥ half the label, nothing clipped or
overlapping, every field printed, long text continued, unprintable characters reported."""

from __future__ import annotations

import threading
from dataclasses import replace
from decimal import Decimal
from itertools import combinations

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFont, QFontDatabase, QFontMetricsF, QPainter, QRawFont

from app.domain.labels import (
    BUILT_IN_STOCKS,
    THERMAL_VIAL_4X2_25,
    LabelContent,
    LabelStock,
)
from app.errors import ValidationFailed
from tests.ui.labels.label_data import (
    LONG_DIRECTIONS,
    alendronate_long,
    atorvastatin,
    everyday_labels,
    large_print_lisinopril,
    oxycodone_container,
    spanish_amoxicillin,
)
from ui.labels.output import blank_image
from ui.labels.render import (
    CRITICAL_FLOOR_PT,
    CRITICAL_MAX_PT,
    CRITICAL_ROLES,
    LARGE_PRINT_FLOOR_PT,
    SECONDARY_FLOOR_PT,
    LabelLayout,
    Role,
    label_font,
    layout_label,
    paint_label,
)

DPIS = (203, 300)
CASES = [
    pytest.param(
        content, stock, dpi, id=f"{content.rx_number}-{index}-{stock.label_height}in-{dpi}"
    )
    for index, content in enumerate(everyday_labels())
    for stock in BUILT_IN_STOCKS
    for dpi in DPIS
]


def role_text(layout: LabelLayout, role: Role) -> str:
    """A field's text joined from its blocks; continuation labels repeat only the patient."""
    return "".join(
        block.text
        for number, page in enumerate(layout.pages)
        for block in page.blocks
        if block.role == role and not (role == Role.PATIENT and number > 0)
    )


def assert_sound(layout: LabelLayout) -> None:
    label = QRectF(0, 0, layout.width, layout.height)
    critical_floor = LARGE_PRINT_FLOOR_PT if layout.content.large_print else CRITICAL_FLOOR_PT
    device = blank_image(1, 1, layout.dpi)
    for page in layout.pages:
        critical = page.critical_rect
        assert critical.top() == 0
        assert critical.height() >= layout.height / 2
        rects = [block.rect for block in page.blocks] + [QRectF(page.barcode_rect)]
        assert all(label.contains(rect) for rect in rects)
        assert not [(a, b) for a, b in combinations(rects, 2) if a.intersects(b)]
        assert page.barcode_rect.top() >= critical.bottom()
        assert page.barcode_rect.width() == page.barcode.width_dots
        assert page.barcode.payload == layout.content.barcode_payload
        for block in page.blocks:
            assert block.lines and all(block.lines)
            assert block.rect.height() >= len(block.lines) * block.line_spacing + 2 * block.padding
            metrics = QFontMetricsF(label_font(block.point_size, bold=block.bold), device)
            widest = max(metrics.horizontalAdvance(line) for line in block.lines)
            assert widest <= block.rect.width() - 2 * block.padding + 0.5, block.lines
            if block.role in CRITICAL_ROLES:
                assert critical.contains(block.rect)
                assert block.point_size >= critical_floor
            elif block.framed:  # schedule, "1 of N", REPRINT: top right, beside the patient
                assert critical.contains(block.rect)
                assert block.rect.left() > layout.width / 2
            else:
                assert block.rect.top() >= critical.bottom()
                assert block.point_size >= SECONDARY_FLOOR_PT


def normalized(text: str) -> str:
    return " ".join(text.split())


def assert_every_field_printed(layout: LabelLayout) -> None:
    content = layout.content
    assert normalized(role_text(layout, Role.PATIENT)) == normalized(content.patient_name)
    assert content.drug_line in role_text(layout, Role.DRUG)
    assert content.generic_for in role_text(layout, Role.DRUG)
    assert role_text(layout, Role.DIRECTIONS) == normalized(content.directions)
    assert role_text(layout, Role.INDICATION) == content.indication
    rx = role_text(layout, Role.RX)
    assert content.rx_number in rx
    assert f"{content.fill_date:%m/%d/%Y}" in rx
    assert content.quantity in role_text(layout, Role.QUANTITY)
    assert content.refills in role_text(layout, Role.QUANTITY)
    assert content.prescriber in role_text(layout, Role.PRESCRIBER)
    assert f"Discard after {content.discard_after:%m/%d/%Y}" in role_text(layout, Role.PRESCRIBER)
    assert content.manufacturer in role_text(layout, Role.PRODUCT)
    assert content.ndc in role_text(layout, Role.PRODUCT)
    assert role_text(layout, Role.DESCRIPTION) == content.physical_description
    warnings = role_text(layout, Role.WARNING)
    assert all(warning in warnings for warning in content.auxiliary_warnings)
    assert role_text(layout, Role.TRANSFER_CAUTION) == content.transfer_caution
    heading = role_text(layout, Role.PHARMACY)
    assert content.pharmacy.name in heading
    assert content.pharmacy.address in heading
    assert content.pharmacy.phone in heading
    for page in layout.pages:
        badges = {block.role: block for block in page.blocks if block.framed}
        assert ("REPRINT" if content.reprint else None) == (
            badges[Role.REPRINT].text if Role.REPRINT in badges else None
        )
        assert (badges[Role.SCHEDULE].text if Role.SCHEDULE in badges else "") == (
            content.dea_schedule
        )
        assert (badges[Role.CONTAINER].text if Role.CONTAINER in badges else "") == (
            content.container_text
        )
        assert [b.text for b in page.blocks if b.role == Role.BARCODE_TEXT] == [
            content.barcode_payload
        ]


@pytest.mark.parametrize(("content", "stock", "dpi"), CASES)
def test_layout_is_sound_and_complete(content: LabelContent, stock: LabelStock, dpi: int) -> None:
    layout = layout_label(content, stock, dpi)
    assert_sound(layout)
    assert_every_field_printed(layout)
    assert layout.missing_characters == ""


@pytest.mark.parametrize("dpi", DPIS)
def test_an_everyday_label_fits_one_thermal_label(dpi: int) -> None:
    layout = layout_label(atorvastatin(), THERMAL_VIAL_4X2_25, dpi)
    assert len(layout.pages) == 1
    assert layout.critical_point_size >= CRITICAL_FLOOR_PT


@pytest.mark.parametrize("dpi", DPIS)
def test_short_text_gets_the_largest_critical_type(dpi: int) -> None:
    short = replace(
        large_print_lisinopril(), large_print=False, patient_name="Ann Lee", indication=""
    )
    layout = layout_label(short, THERMAL_VIAL_4X2_25, dpi)
    assert layout.critical_point_size == CRITICAL_MAX_PT


@pytest.mark.parametrize("dpi", DPIS)
def test_text_shrinks_before_it_continues(dpi: int) -> None:
    longer = replace(
        large_print_lisinopril(),
        large_print=False,
        directions="Take 1 tablet by mouth once daily in the morning, with or without food; "
        "keep taking it even when you feel well.",
    )
    layout = layout_label(longer, THERMAL_VIAL_4X2_25, dpi)
    assert len(layout.pages) == 1
    assert CRITICAL_FLOOR_PT <= layout.critical_point_size < CRITICAL_MAX_PT
    assert_sound(layout)


@pytest.mark.parametrize("dpi", DPIS)
def test_large_print_raises_the_critical_group(dpi: int) -> None:
    large = layout_label(large_print_lisinopril(), THERMAL_VIAL_4X2_25, dpi)
    regular = layout_label(
        replace(large_print_lisinopril(), large_print=False), THERMAL_VIAL_4X2_25, dpi
    )
    assert large.critical_point_size >= LARGE_PRINT_FLOOR_PT
    assert large.critical_point_size >= regular.critical_point_size
    assert_sound(large)


@pytest.mark.parametrize("stock", BUILT_IN_STOCKS, ids=lambda stock: str(stock.label_height))
@pytest.mark.parametrize("dpi", DPIS)
def test_600_characters_of_directions_continue_on_more_labels(stock: LabelStock, dpi: int) -> None:
    layout = layout_label(alendronate_long(), stock, dpi)
    total = len(layout.pages)
    assert total >= 2
    assert layout.critical_point_size == CRITICAL_FLOOR_PT
    assert role_text(layout, Role.DIRECTIONS) == LONG_DIRECTIONS
    for number, page in enumerate(layout.pages, start=1):
        markers = [block.text for block in page.blocks if block.role == Role.CONTINUED]
        expected = f"part 1 of {total}" if number == 1 else f"continued, part {number} of {total}"
        assert markers == [expected]
        patient = [block.text for block in page.blocks if block.role == Role.PATIENT]
        assert patient == [alendronate_long().patient_name]
    assert_sound(layout)


def test_schedule_container_and_reprint_are_framed_badges() -> None:
    layout = layout_label(replace(oxycodone_container(2), reprint=True), THERMAL_VIAL_4X2_25, 300)
    badges = {block.role: block for block in layout.pages[0].blocks if block.framed}
    assert badges[Role.SCHEDULE].text == "CII"
    assert badges[Role.SCHEDULE].bold
    assert badges[Role.SCHEDULE].point_size > layout.secondary_point_size
    assert badges[Role.CONTAINER].text == "2 of 3"
    assert badges[Role.REPRINT].text == "REPRINT"


def test_spanish_label_keeps_the_english_directions_beside() -> None:
    content = spanish_amoxicillin()
    layout = layout_label(content, THERMAL_VIAL_4X2_25, 300)
    assert role_text(layout, Role.DIRECTIONS) == content.directions
    assert content.english_directions in role_text(layout, Role.ENGLISH_DIRECTIONS)


def test_vietnamese_name_has_every_glyph() -> None:
    layout = layout_label(oxycodone_container(1), THERMAL_VIAL_4X2_25, 300)
    assert role_text(layout, Role.PATIENT) == "Nguyễn Thị Minh Khai"
    assert layout.missing_characters == ""


def _no_installed_font_has(character: str) -> bool:
    """An oracle apart from the renderer's: ask every installed family's own font file."""
    return not any(
        QRawFont.fromFont(QFont(family)).supportsCharacter(ord(character))
        for family in QFontDatabase.families()
    )


def test_characters_no_font_can_draw_are_reported_not_dropped() -> None:
    # Korean and Japanese need a CJK font (fonts-noto-cjk); U+0378 is unassigned everywhere.
    name = "김민준 Ōtani 翔平 \u0378"
    content = replace(spanish_amoxicillin(), patient_name=name)
    layout = layout_label(content, THERMAL_VIAL_4X2_25, 300)
    expected = "".join(
        sorted({ch for ch in name if not ch.isspace() and _no_installed_font_has(ch)})
    )
    assert layout.missing_characters == expected
    assert "\u0378" in layout.missing_characters
    assert "Ō" not in layout.missing_characters
    # The name is still printed whole: the missing characters come out as empty boxes.
    assert role_text(layout, Role.PATIENT) == name
    assert_sound(layout)


def test_a_worker_thread_lays_out_the_same_label() -> None:
    """Batch printing may render off the GUI thread; each thread has its own typesetter."""
    in_main = layout_label(alendronate_long(), THERMAL_VIAL_4X2_25, 203)
    results: list[LabelLayout] = []
    worker = threading.Thread(
        target=lambda: results.append(layout_label(alendronate_long(), THERMAL_VIAL_4X2_25, 203))
    )
    worker.start()
    worker.join()
    (in_worker,) = results
    assert [[b.lines for b in page.blocks] for page in in_worker.pages] == [
        [b.lines for b in page.blocks] for page in in_main.pages
    ]


def test_painting_on_a_device_of_another_resolution_is_refused() -> None:
    layout = layout_label(atorvastatin(), THERMAL_VIAL_4X2_25, 300)
    image = blank_image(layout.width, layout.height, 203)
    painter = QPainter(image)
    try:
        with pytest.raises(ValueError, match="300 dpi"):
            paint_label(painter, layout)
    finally:
        painter.end()


@pytest.mark.parametrize(
    ("width", "height", "problem"), [("2", "2.25", "too narrow"), ("4", "0.75", "too short")]
)
def test_a_stock_too_small_for_a_label_is_refused(width: str, height: str, problem: str) -> None:
    stock = replace(
        THERMAL_VIAL_4X2_25,
        name="Tiny",
        label_width=Decimal(width),
        label_height=Decimal(height),
    )
    with pytest.raises(ValidationFailed, match=problem):
        layout_label(atorvastatin(), stock, 300)

"""Preview images that scan, PDFs with the stock's page size and every element, the sheet grid,
the calibration page, and printers that are not there."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pypdf
import pytest
import zxingcpp
from PySide6.QtCore import QMarginsF, QRectF
from PySide6.QtGui import QColor, QPageLayout, QPdfWriter

from app.domain.barcodes import ScanKind, interpret_scan
from app.domain.labels import (
    LETTER_SHEET_4X3_33,
    THERMAL_VIAL_4X2_25,
    LabelContent,
    LabelStock,
)
from app.errors import PrinterNotFound, PrintJobFailed, ValidationFailed
from tests.ui.labels.label_data import (
    atorvastatin,
    everyday_labels,
    oxycodone_container,
    spanish_amoxicillin,
)
from ui.labels.output import (
    CALIBRATION_PAYLOAD,
    blank_image,
    calibration_page,
    page_size,
    print_labels,
    render_image,
    render_pdf,
)
from ui.labels.render import layout_label

POINTS_PER_INCH = 72


def squashed(text: str) -> str:
    """Text without any white space: PDF extraction breaks lines where the label wrapped."""
    return "".join(text.split())


def required_elements(content: LabelContent) -> list[str]:
    elements = [
        content.pharmacy.name,
        content.rx_number,
        content.patient_name,
        content.drug_line,
        content.directions,
        content.quantity,
        content.refills,
        content.prescriber,
        f"Discard after {content.discard_after:%m/%d/%Y}",
        content.manufacturer,
        content.ndc,
        *content.auxiliary_warnings,
        content.transfer_caution,
        content.container_text,
        content.dea_schedule,
        content.barcode_payload,
    ]
    if content.reprint:
        elements.append("REPRINT")
    return [element for element in elements if element]


def page_sizes(path: Path) -> list[tuple[float, float]]:
    return [
        (float(page.mediabox.width), float(page.mediabox.height))
        for page in pypdf.PdfReader(path).pages
    ]


@pytest.mark.parametrize(
    "stock", [THERMAL_VIAL_4X2_25, LETTER_SHEET_4X3_33], ids=["thermal", "sheet"]
)
@pytest.mark.parametrize("dpi", [203, 300])
@pytest.mark.parametrize(
    "content", everyday_labels(), ids=lambda c: f"{c.rx_number}-{c.container_index}"
)
def test_every_preview_label_scans_back_to_its_rx(
    content: LabelContent, dpi: int, stock: LabelStock
) -> None:
    pages = len(layout_label(content, stock, dpi).pages)
    for page in range(pages):
        image = render_image(content, stock, dpi, page=page)
        assert (image.width(), image.height()) == (
            int(stock.label_width * dpi),
            int(stock.label_height * dpi),
        )
        (decoded,) = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
        assert decoded.text == content.barcode_payload
        scan = interpret_scan(decoded.symbology_identifier + decoded.text)
        assert (scan.kind, scan.rx_number, scan.fill_number) == (
            ScanKind.RX_LABEL,
            content.rx_number,
            content.fill_number,
        )


@pytest.mark.parametrize(
    ("stock", "size"),
    [(THERMAL_VIAL_4X2_25, (288.0, 162.0)), (LETTER_SHEET_4X3_33, (612.0, 792.0))],
    ids=["thermal", "sheet"],
)
def test_pdf_has_the_stock_page_and_every_required_element(
    stock: LabelStock, size: tuple[float, float], tmp_path: Path
) -> None:
    contents = [
        replace(oxycodone_container(1), reprint=True),
        oxycodone_container(2),
        oxycodone_container(3),
        spanish_amoxicillin(),
        atorvastatin(),
    ]
    path = tmp_path / "labels.pdf"
    outcome = render_pdf(contents, stock, path)

    per_page = stock.labels_per_page
    assert outcome.labels == len(contents)
    assert outcome.pages == math.ceil(outcome.faces / per_page)
    assert page_sizes(path) == [size] * outcome.pages
    text = squashed(" ".join(page.extract_text() for page in pypdf.PdfReader(path).pages))
    for content in contents:
        for element in required_elements(content):
            assert squashed(element) in text, element
    assert "Caution:Federallawprohibitsthetransfer" in text
    reprinted_faces = sum(
        len(layout_label(content, stock, outcome.dpi).pages)
        for content in contents
        if content.reprint
    )
    assert text.count("REPRINT") == reprinted_faces


def test_sheet_labels_fill_the_grid_row_by_row(tmp_path: Path) -> None:
    contents = everyday_labels()
    path = tmp_path / "sheet.pdf"
    outcome = render_pdf(contents, LETTER_SHEET_4X3_33, path)
    faces = [
        content.barcode_payload
        for content in contents
        for _ in layout_label(content, LETTER_SHEET_4X3_33, outcome.dpi).pages
    ]
    assert outcome.faces == len(faces) > LETTER_SHEET_4X3_33.labels_per_page
    stock = LETTER_SHEET_4X3_33
    slots = [
        QRectF(
            float(stock.left_margin + column * (stock.label_width + stock.column_gap)) * 72,
            float(stock.top_margin + row * (stock.label_height + stock.row_gap)) * 72,
            float(stock.label_width) * 72,
            float(stock.label_height) * 72,
        )
        for row in range(stock.rows)
        for column in range(stock.columns)
    ]
    placed: list[tuple[str, float, float]] = []
    for page in pypdf.PdfReader(path).pages:
        height = float(page.mediabox.height)

        def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
            if text.strip() in faces:
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                placed.append((text.strip(), x, height - y))  # noqa: B023

        page.extract_text(visitor_text=visit)
    assert [payload for payload, _, _ in placed] == faces
    for index, (_, x, y) in enumerate(placed):
        assert slots[index % len(slots)].contains(x, y), (index, x, y)


def test_calibration_page_shows_outline_offset_and_a_scannable_barcode(tmp_path: Path) -> None:
    dpi, offset = 100, (1.5, -0.5)
    stock = LETTER_SHEET_4X3_33
    image = blank_image(round(stock.page_width * dpi), round(stock.page_height * dpi), dpi)
    calibration_page(stock, image, offset=offset)

    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
    assert [result.text for result in results] == [CALIBRATION_PAYLOAD]
    shift_x, shift_y = round(1.5 / 25.4 * dpi), round(-0.5 / 25.4 * dpi)
    first_label_left = round(stock.left_margin * dpi) + shift_x
    middle = round((stock.top_margin + stock.label_height / 2) * dpi) + shift_y
    assert QColor(image.pixel(first_label_left, middle)).lightness() < 128
    assert QColor(image.pixel(first_label_left - 3, middle)).lightness() > 128

    path = tmp_path / "calibration.pdf"
    writer = QPdfWriter(str(path))
    writer.setResolution(300)
    writer.setPageLayout(
        QPageLayout(page_size(stock), QPageLayout.Orientation.Portrait, QMarginsF())
    )
    calibration_page(stock, writer, offset=offset)
    del writer
    text = pypdf.PdfReader(path).pages[0].extract_text()
    assert "Offset in effect: +1.5 mm right, -0.5 mm down" in " ".join(text.split())
    assert page_sizes(path) == [(612.0, 792.0)]


def test_characters_without_a_font_are_reported_with_the_pdf(tmp_path: Path) -> None:
    content = replace(atorvastatin(), patient_name="Ōtani Shōhei \u0378")
    outcome = render_pdf([content], THERMAL_VIAL_4X2_25, tmp_path / "label.pdf")
    assert outcome.missing_characters == "\u0378"
    text = pypdf.PdfReader(tmp_path / "label.pdf").pages[0].extract_text()
    # The rest of the name prints; the character without a font is an empty box (glyph 0).
    assert "Ōtani Shōhei" in " ".join(text.split())
    assert "\u0378" not in text


def test_vietnamese_name_comes_out_of_the_pdf_as_written(tmp_path: Path) -> None:
    render_pdf([oxycodone_container(1)], THERMAL_VIAL_4X2_25, tmp_path / "label.pdf")
    text = pypdf.PdfReader(tmp_path / "label.pdf").pages[0].extract_text()
    assert "Nguyễn Thị Minh Khai" in " ".join(text.split())


def test_pdf_into_a_missing_folder_is_an_environment_fault(tmp_path: Path) -> None:
    with pytest.raises(PrintJobFailed, match="No such file or directory"):
        render_pdf([atorvastatin()], THERMAL_VIAL_4X2_25, tmp_path / "gone" / "label.pdf")


def test_nothing_to_export_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="no labels"):
        render_pdf([], THERMAL_VIAL_4X2_25, tmp_path / "label.pdf")
    assert not (tmp_path / "label.pdf").exists()


@pytest.mark.parametrize("name", ["", "RxBench-No-Such-Printer"])
def test_a_printer_that_is_not_installed_is_refused(name: str) -> None:
    with pytest.raises(PrinterNotFound) as refused:
        print_labels([atorvastatin()], THERMAL_VIAL_4X2_25, name)
    assert refused.value.code == "printer-not-found"
    assert (name or "No label printer is chosen") in refused.value.message

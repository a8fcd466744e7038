"""Every fill of the demo pharmacy, as its label really comes out: each label face at 203 and
300 dpi scans back to its own Rx and fill, and its PDF carries every required element."""

from __future__ import annotations

from pathlib import Path

import pypdf
import pytest
import zxingcpp
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import Fill
from app.demo import load_demo
from app.domain.barcodes import ScanKind, interpret_scan
from app.domain.labels import THERMAL_VIAL_4X2_25, LabelContent
from app.domain.roles import Role
from app.services.passwords import SecretHasher
from app.services.unit_of_work import Actor
from tests.ui.labels.test_output import required_elements, squashed
from ui.labels.output import render_image, render_pdf
from ui.labels.render import layout_label

LOADER = Actor(None, "demo-labels", "Demo labels", frozenset({Role.ADMINISTRATOR}), "test-ws")


@pytest.fixture
def demo_labels(services: Services) -> list[LabelContent]:
    load_demo(services.database, LOADER, hasher=SecretHasher("fast-insecure-for-tests"))
    with services.database.reading() as session:
        fill_ids = session.scalars(select(Fill.id).order_by(Fill.id)).all()
    labels = services.labels
    contents = [label for fill_id in fill_ids for label in labels.contents(LOADER, fill_id)]
    assert len(contents) >= len(fill_ids) > 30
    return contents


def test_every_demo_label_scans_back_to_its_rx_at_203_and_300_dpi(
    demo_labels: list[LabelContent],
) -> None:
    for content in demo_labels:
        for dpi in (203, 300):
            for page in range(len(layout_label(content, THERMAL_VIAL_4X2_25, dpi).pages)):
                image = render_image(content, THERMAL_VIAL_4X2_25, dpi, page=page)
                (decoded,) = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
                scan = interpret_scan(decoded.symbology_identifier + decoded.text)
                assert (scan.kind, scan.rx_number, scan.fill_number) == (
                    ScanKind.RX_LABEL,
                    content.rx_number,
                    content.fill_number,
                ), (content.rx_number, dpi, page)


def test_every_demo_label_pdf_has_the_stock_page_and_every_required_element(
    demo_labels: list[LabelContent], tmp_path: Path
) -> None:
    for content in demo_labels:
        path = tmp_path / f"{content.rx_number}-{content.fill_number}-{content.container_index}.pdf"
        render_pdf([content], THERMAL_VIAL_4X2_25, path)
        reader = pypdf.PdfReader(path)
        for page in reader.pages:
            assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (
                288,
                162,
            )
        text = squashed("".join(page.extract_text() for page in reader.pages))
        missing = [each for each in required_elements(content) if squashed(each) not in text]
        assert missing == [], (content.rx_number, missing)

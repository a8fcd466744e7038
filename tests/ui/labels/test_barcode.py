"""Code 128 bars at whole device dots, with quiet zones, that scan back to the payload."""

from __future__ import annotations

import pytest
import zxingcpp
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QPainter

from app.domain.barcodes import ScanKind, interpret_scan
from app.errors import ValidationFailed
from ui.labels.barcode import QUIET_ZONE_MODULES, code128_symbol, module_dots_for, paint_bars
from ui.labels.output import blank_image


@pytest.mark.parametrize(("dpi", "dots"), [(72, 1), (96, 1), (203, 2), (300, 3), (600, 6)])
def test_module_is_a_whole_number_of_dots_near_ten_mil(dpi: int, dots: int) -> None:
    assert module_dots_for(dpi) == dots


@pytest.mark.parametrize("dpi", [203, 300])
def test_bars_are_whole_dots_inside_their_quiet_zones(dpi: int) -> None:
    symbol = code128_symbol("RX1000123-2", dpi)
    image = blank_image(symbol.width_dots + 40, 60, dpi)
    painter = QPainter(image)
    paint_bars(painter, symbol, QRect(20, 10, symbol.width_dots, 40))
    painter.end()

    row = [QColor(image.pixel(x, 30)).lightness() for x in range(image.width())]
    assert set(row) == {0, 255}  # no grey: every bar edge on a dot boundary
    dark = [x for x, value in enumerate(row) if value == 0]
    quiet = QUIET_ZONE_MODULES * symbol.module_dots
    assert dark[0] == 20 + quiet
    assert dark[-1] == 20 + symbol.width_dots - quiet - 1
    runs: list[int] = []
    for x in range(dark[0], dark[-1] + 1):
        if runs and (row[x] == 0) == (row[x - 1] == 0):
            runs[-1] += 1
        else:
            runs.append(1)
    assert all(run % symbol.module_dots == 0 for run in runs)
    assert (
        "".join(
            ("1" if index % 2 == 0 else "0") * (run // symbol.module_dots)
            for index, run in enumerate(runs)
        )
        == symbol.modules
    )


@pytest.mark.parametrize("dpi", [203, 300])
def test_painted_symbol_scans_as_our_rx_label(dpi: int) -> None:
    symbol = code128_symbol("RX2000456-11", dpi)
    image = blank_image(symbol.width_dots, 80, dpi)
    painter = QPainter(image)
    paint_bars(painter, symbol, QRect(0, 10, symbol.width_dots, 60))
    painter.end()

    (decoded,) = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
    scan = interpret_scan(decoded.symbology_identifier + decoded.text)
    assert (scan.kind, scan.rx_number, scan.fill_number) == (ScanKind.RX_LABEL, "2000456", 11)


@pytest.mark.parametrize(
    ("payload", "problem"), [("RX1000123-2 翔", "cannot encode"), ("", "no barcode content")]
)
def test_a_payload_code_128_cannot_carry_is_refused(payload: str, problem: str) -> None:
    with pytest.raises(ValidationFailed, match=problem):
        code128_symbol(payload, 300)

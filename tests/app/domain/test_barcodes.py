"""interpret_scan: every barcode we meet at the bench, the ways scans go wrong, and our labels
rendered and decoded again."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
import zxingcpp
from barcode import Code128
from barcode.writer import ImageWriter
from hypothesis import given
from hypothesis import strategies as st

from app.domain.barcodes import (
    GS,
    CheckDigitMismatch,
    DoubleScan,
    EmptyScan,
    GtinNdcDisagree,
    ImpossibleExpiry,
    IncompleteScan,
    InvalidGsSubstitute,
    InvalidTypedNdc,
    LotSerialRunTogether,
    NoNdcInBarcode,
    Scan,
    ScanError,
    ScanKind,
    ScannerKeyboardLayout,
    UnreadableScan,
    gs1_check_digit,
    gs1_element_string,
    gtin14_for,
    interpret_scan,
    rx_label_payload,
    upc_a_for,
)
from app.domain.ndc import Ndc, NdcNotExpressible, parse_ndc

# Real package NDCs from the FDA directory snapshot of 2019-04-29.
TRAP_532 = Ndc("29500", "907", "77")  # 29500-907-77 and 29500-9077-7 share UPC 329500907771
TRAP_541 = Ndc("29500", "9077", "7")
LILLY_442 = Ndc("0002", "0800", "01")
SANDOZ_442 = Ndc("0781", "2613", "01")

GS1_SET_82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def digits(size: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=size, max_size=size)


ten_digit_ndcs = st.sampled_from([(4, 4, 2), (5, 3, 2), (5, 4, 1)]).flatmap(
    lambda lengths: st.builds(Ndc, *(digits(size) for size in lengths))
)
gs1_texts = st.text(GS1_SET_82, min_size=1, max_size=20)
expiries = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2060, 12, 31))


def assert_tells_what_to_do(error: ScanError) -> None:
    assert any(verb in error.message for verb in ("rescan", "type", "check", "scan the"))


# --- building what we print --------------------------------------------------------------------


def test_check_digit_of_a_real_upc() -> None:
    assert gs1_check_digit("32950090777") == 1
    assert upc_a_for(TRAP_532) == upc_a_for(TRAP_541) == "329500907771"
    # Expected values checked against biip's and python-barcode's own check digits.
    assert upc_a_for(LILLY_442) == "300020800018"
    assert gtin14_for(LILLY_442) == "00300020800018"
    assert gtin14_for(LILLY_442, indicator=5) == "50300020800013"


def test_an_ndc12_has_no_upc() -> None:
    with pytest.raises(NdcNotExpressible):
        upc_a_for(parse_ndc("123456-7890-12"))


@pytest.mark.parametrize(
    ("rx_number", "fill_number"), [("", 0), ("1234567890123", 0), ("12a", 0), ("1", 100)]
)
def test_rx_label_payload_refuses_what_ncpdp_does_not_allow(
    rx_number: str, fill_number: int
) -> None:
    with pytest.raises(ValueError):
        rx_label_payload(rx_number, fill_number)


def test_gs1_element_string_refuses_a_bad_gtin_or_lot() -> None:
    with pytest.raises(ValueError):
        gs1_element_string("00329500907772")
    with pytest.raises(ValueError):
        gs1_element_string("00329500907771", lot="LOT WITH SPACES")


# --- round trips -------------------------------------------------------------------------------


@given(ten_digit_ndcs, st.integers(0, 8))
def test_ndc_upc_ean_gtin_round_trip(ndc: Ndc, indicator: int) -> None:
    upc = upc_a_for(ndc)
    for text, kind in [
        (upc, ScanKind.UPC),
        ("]E0" + upc, ScanKind.UPC),
        ("0" + upc, ScanKind.EAN13),
        ("]E00" + upc, ScanKind.EAN13),
        (gtin14_for(ndc, indicator), ScanKind.GTIN14),
        ("]I1" + gtin14_for(ndc, indicator), ScanKind.GTIN14),
    ]:
        scan = interpret_scan(text)
        assert scan.kind is kind
        assert ndc in scan.candidates
        assert len(scan.candidates) == 3
        assert {candidate.ndc10_digits for candidate in scan.candidates} == {ndc.ndc10_digits}
        assert not scan.manual
    assert interpret_scan(upc).gtin == "00" + upc


@given(ten_digit_ndcs)
def test_typed_ndc_forms_round_trip(ndc: Ndc) -> None:
    assert interpret_scan(ndc.hyphenated).candidates == (ndc,)
    assert ndc in interpret_scan(ndc.ndc11).candidates
    assert ndc in interpret_scan(ndc.ndc10_digits).candidates
    twelve = ndc.ndc12
    (ndc12,) = interpret_scan(f"{twelve[:6]}-{twelve[6:10]}-{twelve[10:]}").candidates
    assert ndc12.ndc11 == ndc.ndc11
    assert all(interpret_scan(text).manual for text in (ndc.hyphenated, ndc.ndc11))


@given(
    ten_digit_ndcs,
    st.integers(0, 8),
    expiries,
    gs1_texts,
    gs1_texts,
    st.sampled_from([GS, "^", "~", "|"]),
    st.sampled_from(["", "]d2", "]C1", "]Q3", "]e0"]),
    st.data(),
)
def test_gs1_element_strings_in_any_order(
    ndc: Ndc,
    indicator: int,
    expiry: dt.date,
    lot: str,
    serial: str,
    separator: str,
    aim: str,
    data: st.DataObject,
) -> None:
    gtin = gtin14_for(ndc, indicator)
    fields = [("01", gtin), ("17", expiry.strftime("%y%m%d")), ("10", lot), ("21", serial)]
    order = data.draw(st.permutations(fields))
    text = aim
    for position, (ai, value) in enumerate(order):
        text += ai + value
        if ai in ("10", "21") and position < len(order) - 1:
            text += separator
    scan = interpret_scan(text, gs_substitute=None if separator == GS else separator)
    assert scan.kind is ScanKind.GS1
    assert (scan.gtin, scan.expiry, scan.lot, scan.serial) == (gtin, expiry, lot, serial)
    assert ndc in scan.candidates
    assert scan.symbology == (aim or None)


@given(ten_digit_ndcs, expiries, gs1_texts, gs1_texts)
def test_gs1_element_string_builder_round_trips(
    ndc: Ndc, expiry: dt.date, lot: str, serial: str
) -> None:
    text = gs1_element_string(gtin14_for(ndc), expiry=expiry, lot=lot, serial=serial, gs="~")
    scan = interpret_scan("]d2" + text, gs_substitute="~")
    assert (scan.expiry, scan.lot, scan.serial) == (expiry, lot, serial)
    assert ndc in scan.candidates


@given(st.builds(Ndc, digits(6), digits(4), digits(2)), expiries, gs1_texts, gs1_texts)
def test_ndc12_travels_in_ai_715(ndc12: Ndc, expiry: dt.date, lot: str, serial: str) -> None:
    # A GTIN that embeds no NDC (GS1 company prefix 0614141), as after the 2026 rule. All four
    # DSCSA fields are present: a missing one that seems to hide inside a lot or serial ("10…",
    # "17YYMMDD") reads as a lost separator (see the lost-separator tests).
    text = gs1_element_string("00614141000036", expiry=expiry, lot=lot, serial=serial, ndc12=ndc12)
    scan = interpret_scan("]d2" + text)
    assert scan.candidates == (ndc12,)
    assert (scan.expiry, scan.lot, scan.serial) == (expiry, lot, serial)


def test_a_serial_without_lot_that_holds_10_is_suspected() -> None:
    with pytest.raises(LotSerialRunTogether):
        interpret_scan("]d20100329500907771" + "210100")


def test_ai_715_settles_which_reading_of_the_gtin_is_meant() -> None:
    gtin = gtin14_for(TRAP_541)
    scan = interpret_scan("]d2" + gs1_element_string(gtin, lot="A1", ndc12=TRAP_541))
    assert scan.candidates == (TRAP_541,)
    with pytest.raises(GtinNdcDisagree) as raised:
        interpret_scan("]d2" + gs1_element_string(gtin, lot="A1", ndc12=SANDOZ_442))
    assert raised.value.facts["ndc"] == "000781-2613-01"


# --- check digits ------------------------------------------------------------------------------


@given(ten_digit_ndcs, st.data())
def test_one_wrong_digit_is_always_caught(ndc: Ndc, data: st.DataObject) -> None:
    for code in (upc_a_for(ndc), gtin14_for(ndc)):
        position = data.draw(st.integers(0, len(code) - 1))
        wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != code[position]]))
        corrupted = code[:position] + wrong + code[position + 1 :]
        with pytest.raises(CheckDigitMismatch) as raised:
            interpret_scan(corrupted)
        assert raised.value.facts["digits"] == corrupted
        with pytest.raises(CheckDigitMismatch):
            interpret_scan("]d2" + gs1_element_string(code.zfill(14)).replace(code, corrupted))


def test_wrong_check_digit_says_what_it_should_be() -> None:
    with pytest.raises(CheckDigitMismatch) as raised:
        interpret_scan("329500907772")
    assert raised.value.facts == {
        "digits": "329500907772",
        "expected": 1,
        "found": 2,
        "text": "329500907772",
    }
    assert "hyphens" in raised.value.message  # it may have been an NDC-12 typed bare


# --- expiry ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yymmdd", "expiry"),
    [
        ("280200", dt.date(2028, 2, 29)),  # day 00: last day of the month, leap February
        ("270200", dt.date(2027, 2, 28)),
        ("261200", dt.date(2026, 12, 31)),
        ("300430", dt.date(2030, 4, 30)),
    ],
)
def test_expiry_day_00_means_the_last_day_of_the_month(yymmdd: str, expiry: dt.date) -> None:
    scan = interpret_scan(f"]d20100329500907771{'17'}{yymmdd}10LOT1")
    assert scan.expiry == expiry
    assert scan.lot == "LOT1"


@pytest.mark.parametrize("yymmdd", ["261300", "260230", "270229", "260015", "260431"])
def test_impossible_expiry_dates_are_refused(yymmdd: str) -> None:
    for text in (f"]d20100329500907771{'17'}{yymmdd}10LOT1", f"(01)00329500907771(17){yymmdd}"):
        with pytest.raises(ImpossibleExpiry) as raised:
            interpret_scan(text)
        assert raised.value.facts["expiry"] == yymmdd
        assert_tells_what_to_do(raised.value)


# --- symbology identifiers and separators ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "symbology"),
    [
        ("]E0329500907771", ScanKind.UPC, "]E0"),
        ("]E00329500907771", ScanKind.EAN13, "]E0"),
        ("]E332950090777112", ScanKind.UPC, "]E3"),  # 2-digit add-on
        ("]E3032950090777112345", ScanKind.EAN13, "]E3"),  # 5-digit add-on
        ("]I100329500907771", ScanKind.GTIN14, "]I1"),
        ("]C10100329500907771", ScanKind.GS1, "]C1"),
        ("]e00100329500907771", ScanKind.GS1, "]e0"),
        ("]Q30100329500907771", ScanKind.GS1, "]Q3"),
        ("]d20100329500907771", ScanKind.GS1, "]d2"),
        ("0100329500907771", ScanKind.GS1, None),
    ],
)
def test_aim_symbology_identifiers_are_used_and_stripped(
    text: str, kind: ScanKind, symbology: str | None
) -> None:
    scan = interpret_scan(text)
    assert (scan.kind, scan.symbology) == (kind, symbology)
    assert TRAP_532 in scan.candidates and TRAP_541 in scan.candidates


def test_a_leading_gs_for_fnc1_is_ignored() -> None:
    scan = interpret_scan(GS + "010032950090777117280200" + "10AB")
    assert (scan.kind, scan.lot) == (ScanKind.GS1, "AB")


def test_an_ndc_carried_by_a_barcode_is_not_manual() -> None:
    scan = interpret_scan("]C029500-907-77")
    assert (scan.kind, scan.candidates, scan.manual) == (ScanKind.NDC, (TRAP_532,), False)
    assert interpret_scan("29500-907-77").manual


def test_rx_label_with_code_128_identifier() -> None:
    scan = interpret_scan("]C0RX000123-4\r\n")
    assert (scan.kind, scan.rx_number, scan.fill_number) == (ScanKind.RX_LABEL, "000123", 4)


@pytest.mark.parametrize("substitute", ["^", "~", "|", "#", "@"])
def test_a_configured_gs_substitute_separates_fields(substitute: str) -> None:
    text = f"]d2010032950090777117280200{'10'}AB-12{substitute}21XYZ9"
    scan = interpret_scan(text, gs_substitute=substitute)
    assert (scan.lot, scan.serial) == ("AB-12", "XYZ9")


@pytest.mark.parametrize("substitute", ["-", "1", "A", "]", "ab", ""])
def test_a_gs_substitute_that_gs1_data_may_contain_is_refused(substitute: str) -> None:
    with pytest.raises(InvalidGsSubstitute):
        interpret_scan("329500907771", gs_substitute=substitute)


def test_a_substitute_left_unconfigured_is_not_taken_for_data() -> None:
    with pytest.raises(ScanError):
        interpret_scan("]d2010032950090777117280200" + "10AB12^21XYZ")


# --- lost separators ---------------------------------------------------------------------------

GTIN_AND_EXPIRY = "]d20100329500907771" + "17280200"


@pytest.mark.parametrize(
    ("text", "run_together"),
    [
        (GTIN_AND_EXPIRY + "10ABC12321XYZ987", "ABC12321XYZ987"),  # lot runs into (21)
        (GTIN_AND_EXPIRY + "21SERIAL10LOT7", "SERIAL10LOT7"),  # serial runs into (10)
        ("]d20100329500907771" + "10LOT717280200", "LOT717280200"),  # lot runs into (17)
        (GTIN_AND_EXPIRY + "10ABCDEFGHIJKLMNOP21XYZ", "ABCDEFGHIJKLMNOP21XYZ"),  # past 20 chars
        ("]d210LOT123" + "0100329500907771", "LOT1230100329500907771"),  # into (01)
    ],
)
def test_a_lost_gs_is_reported_and_the_lot_asked_for(text: str, run_together: str) -> None:
    with pytest.raises(LotSerialRunTogether) as raised:
        interpret_scan(text)
    error = raised.value
    assert error.facts["run_together"] == run_together
    assert "type the lot number" in error.message
    assert error.partial.lot is None and error.partial.serial is None


def test_a_lost_gs_keeps_what_can_be_trusted() -> None:
    with pytest.raises(LotSerialRunTogether) as raised:
        interpret_scan(GTIN_AND_EXPIRY + "10ABC21XYZ")
    partial = raised.value.partial
    assert partial.gtin == "00329500907771"
    assert partial.expiry == dt.date(2028, 2, 29)
    assert TRAP_532 in partial.candidates


def test_a_lot_that_contains_21_is_trusted_when_the_serial_is_there() -> None:
    scan = interpret_scan(GTIN_AND_EXPIRY + "10AB21CD" + GS + "21SN1")
    assert (scan.lot, scan.serial) == ("AB21CD", "SN1")


def test_hri_text_delimits_every_field() -> None:
    scan = interpret_scan("(01)00329500907771(17)280200(10)AB21CD")
    assert scan.lot == "AB21CD"


# --- what goes wrong at the bench --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", EmptyScan),
        ("  \r\n", EmptyScan),
        (GS, EmptyScan),
        ("]d2", IncompleteScan),
        ("àç\"'(§è!çà", ScannerKeyboardLayout),  # a UPC typed through an AZERTY layout
        ("329500907771é", ScannerKeyboardLayout),
        ("КЧ123-0", ScannerKeyboardLayout),  # RX123-0 through a Russian layout
        ("012345678905", NoNdcInBarcode),  # retail UPC, number system 0
        ("]E04006381333931", NoNdcInBarcode),  # a German EAN-13
        ("]E012345670", NoNdcInBarcode),  # EAN-8
        ("]d20100614141000036" + "10A", NoNdcInBarcode),  # GS1 without an NDC
        ("329500907771329500907771", DoubleScan),  # two UPC-A
        ("03295009077710329500907771", DoubleScan),  # two EAN-13
        ("0032950090777100329500907771", DoubleScan),  # two GTIN-14
        ("329500907771\r329500907771", DoubleScan),
        ("]d20100329500907771" + "10A" + GS + "0100329500907771", DoubleScan),
        ("]E032950090777", IncompleteScan),  # a UPC missing a digit
        ("329500907", IncompleteScan),
        ("3295009077713", CheckDigitMismatch),  # a 13th digit read by mistake
        ("]d201003295009077", IncompleteScan),
        ("RX12-", IncompleteScan),
        ("RX1234567890123-0", IncompleteScan),
        ("12345-67-890", InvalidTypedNdc),
        ("123456789012", NoNdcInBarcode),  # a bare NDC-12 that happens to be a valid UPC
        ("hello", UnreadableScan),
        ("]*9329500907771", UnreadableScan),
        ("]", UnreadableScan),
        ("]X", IncompleteScan),
        ("3295009\x07907771", UnreadableScan),
    ],
)
def test_bad_scans_are_refused_with_what_to_do(text: str, error: type[ScanError]) -> None:
    with pytest.raises(error) as raised:
        interpret_scan(text)
    assert_tells_what_to_do(raised.value)


def test_wrong_keyboard_layout_says_so() -> None:
    with pytest.raises(ScannerKeyboardLayout) as raised:
        interpret_scan("àé\"'(§")
    assert "keyboard layout" in raised.value.message
    assert raised.value.facts["characters"] == ["§", "à", "é"]


@given(st.text(max_size=40))
def test_garbage_raises_nothing_but_a_scan_error(text: str) -> None:
    try:
        scan = interpret_scan(text)
    except ScanError as error:
        assert error.message
        return
    assert isinstance(scan, Scan)


@given(st.text("0123456789()-^" + GS + "RX]dCEQ" + GS1_SET_82[:20], max_size=40))
def test_scanner_shaped_garbage_raises_nothing_but_a_scan_error(text: str) -> None:
    with contextlib.suppress(ScanError):
        interpret_scan(text, gs_substitute="^")


# --- rendered and decoded again ----------------------------------------------------------------


def decode_one(image: object, **options: object) -> zxingcpp.Barcode:
    (decoded,) = zxingcpp.read_barcodes(image, **options)
    return decoded


def test_rendered_upc_a_decodes_to_the_ndc() -> None:
    upc = upc_a_for(TRAP_532)
    image = zxingcpp.create_barcode(upc, zxingcpp.BarcodeFormat.UPCA).to_image(scale=3)
    decoded = decode_one(image, text_mode=zxingcpp.TextMode.Plain)
    scan = interpret_scan(decoded.symbology_identifier + decoded.text + "\r\n")
    assert decoded.symbology_identifier == "]E0"
    assert scan.gtin == "00" + upc
    assert {TRAP_532, TRAP_541} <= set(scan.candidates)


def test_rendered_gs1_datamatrix_decodes_to_ndc_lot_expiry_serial() -> None:
    gtin = gtin14_for(SANDOZ_442)
    content = f"(01){gtin}(17)280200(10)LOT-7A(21)SN20260305"
    symbol = zxingcpp.create_barcode(content, zxingcpp.BarcodeFormat.DataMatrix, gs1=True)
    decoded = decode_one(symbol.to_image(scale=4), text_mode=zxingcpp.TextMode.Plain)
    # Proof that the symbol really is GS1 (FNC1 first), not text that merely looks like it.
    assert decoded.content_type == zxingcpp.ContentType.GS1
    assert decoded.symbology_identifier == "]d2"
    assert GS in decoded.text
    scan = interpret_scan(decoded.symbology_identifier + decoded.text)
    assert SANDOZ_442 in scan.candidates
    assert (scan.lot, scan.serial, scan.expiry) == ("LOT-7A", "SN20260305", dt.date(2028, 2, 29))


def test_rendered_gs1_datamatrix_with_ndc12_in_ai_715() -> None:
    ndc12 = parse_ndc("123456-7890-12")
    content = "(01)00614141000036(17)330307(10)B1(21)S1(715)123456789012"
    symbol = zxingcpp.create_barcode(content, zxingcpp.BarcodeFormat.DataMatrix, gs1=True)
    decoded = decode_one(symbol.to_image(scale=4), text_mode=zxingcpp.TextMode.Plain)
    assert decoded.content_type == zxingcpp.ContentType.GS1
    scan = interpret_scan(
        decoded.symbology_identifier + decoded.text.replace(GS, "|"), gs_substitute="|"
    )
    assert scan.candidates == (ndc12,)
    assert scan.expiry == dt.date(2033, 3, 7)
    hri = decode_one(symbol.to_image(scale=4), text_mode=zxingcpp.TextMode.HRI)
    assert interpret_scan(hri.text).candidates == (ndc12,)


@pytest.mark.parametrize(("rx_number", "fill_number"), [("1", 0), ("000123", 4), ("9" * 12, 99)])
def test_rendered_rx_label_decodes_to_rx_and_fill(rx_number: str, fill_number: int) -> None:
    image = Code128(rx_label_payload(rx_number, fill_number), writer=ImageWriter()).render()
    decoded = decode_one(image, formats=zxingcpp.BarcodeFormat.Code128)
    assert decoded.symbology_identifier == "]C0"
    scan = interpret_scan(decoded.symbology_identifier + decoded.text)
    assert (scan.kind, scan.rx_number, scan.fill_number) == (
        ScanKind.RX_LABEL,
        rx_number,
        fill_number,
    )


@given(st.text("0123456789", min_size=1, max_size=12), st.integers(0, 99))
def test_rx_label_payload_round_trips(rx_number: str, fill_number: int) -> None:
    scan = interpret_scan(rx_label_payload(rx_number, fill_number))
    assert (scan.rx_number, scan.fill_number) == (rx_number, fill_number)

"""What a scanner (or a person) types at the bench, interpreted: `interpret_scan`.

Reads UPC-A, EAN-13 and GTIN-14 carrying an NDC, GS1 element strings from DataMatrix and
GS1-128 (GTIN, expiry, lot, serial and the NDC-12 of AI 715), typed NDCs and our own Rx label;
and builds the strings we print. Every refusal is a `ScanError` whose message tells the
technician what to do next (rescan, type the lot, check the scanner's keyboard layout).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from enum import StrEnum

from biip import ParseConfig, ParseError
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message
from biip.symbology import GS1Symbology, SymbologyIdentifier

from app.domain.ndc import (
    Ndc,
    NdcInvalid,
    candidates_from_ndc10_digits,
    ndc_candidates,
    ndc_from_ndc12_digits,
)
from app.errors import ValidationFailed

GS = "\x1d"
"""ASCII group separator: what scanners send for the FNC1 that ends a variable-length field."""

# Characters GS1 data can never contain (outside GS1 character set 82), so a scanner may be told
# to send one of them for GS. "]" is left out: it opens an AIM symbology identifier.
GS_SUBSTITUTES = frozenset("#$@[\\^`{|}~")

_GS1_CONFIG = ParseConfig(separator_chars=(GS,))
_NDC_GTIN_PREFIX = "03"  # GTIN-13 form of a UPC-A with number system 3 (NDC / health related)
# Case-insensitive: a keyboard-wedge scanner types lower case while Caps Lock is on.
_RX_LABEL = re.compile(r"RX(\d{1,12})-(\d{1,2})", re.ASCII | re.IGNORECASE)
_MAX_FILL_NUMBER = 99  # NCPDP 403-D3: 0 is the original dispensing, 1-99 the refills
_GS1_CHARACTERS = re.compile(r"[!-\"%-?A-Z_a-z]{1,20}")  # set 82, as AIs 10 and 21 allow
_TYPED_NDC = re.compile(r"[\d-]*-[\d-]*", re.ASCII)
# A GS1 string without GS (only its last field has variable length) starts with one of these.
_PHARMACY_AIS = ("01", "17", "10", "21", "715")
_EMBEDDED_AI = {
    # AIs whose appearance inside a lot or serial means the separator before it was lost.
    "10": re.compile(r"10[!-\"%-?A-Z_a-z]"),
    "21": re.compile(r"21[!-\"%-?A-Z_a-z]"),
    "17": re.compile(r"17\d{2}(0[1-9]|1[0-2])([0-2]\d|3[01])"),
    "01": re.compile(r"01\d{14}"),
}
# With an add-on (AIM ]E3) the scanner appends 2 or 5 digits to the 12 or 13 of the main symbol.
_MAIN_LENGTH_WITH_ADD_ON = {14: 12, 17: 12, 15: 13, 18: 13}


class ScanKind(StrEnum):
    UPC = "upc"
    EAN13 = "ean13"
    GTIN14 = "gtin14"
    GS1 = "gs1"
    NDC = "ndc"
    RX_LABEL = "rx-label"


@dataclass(frozen=True, slots=True)
class Scan:
    """One interpreted scan or typed entry.

    `candidates` holds every NDC the input can mean (ten digits read as 4-4-2, 5-3-2 and 5-4-1);
    the catalogue keeps the one that exists. `gtin` is always the 14-digit form.
    """

    kind: ScanKind
    text: str
    candidates: tuple[Ndc, ...] = ()
    gtin: str | None = None
    lot: str | None = None
    expiry: dt.date | None = None
    serial: str | None = None
    rx_number: str | None = None
    fill_number: int | None = None
    manual: bool = False
    symbology: str | None = None


class ScanError(ValidationFailed):
    """A scan or typed entry that cannot be used; nothing was looked up."""

    code = "scan-error"


class EmptyScan(ScanError):
    code = "scan-empty"


class ScannerKeyboardLayout(ScanError):
    """Characters no barcode carries: the scanner types with a keyboard layout other than ours."""

    code = "scan-keyboard-layout"


class UnreadableScan(ScanError):
    code = "scan-unreadable"


class IncompleteScan(ScanError):
    """A barcode read only in part (too few digits, a field cut short)."""

    code = "scan-incomplete"


class DoubleScan(ScanError):
    """Two barcodes arrived as one input."""

    code = "scan-double"


class CheckDigitMismatch(ScanError):
    code = "scan-check-digit"


class NoNdcInBarcode(ScanError):
    """A valid product barcode that carries no NDC (a retail UPC, a foreign EAN)."""

    code = "scan-no-ndc"


class ImpossibleExpiry(ScanError):
    code = "scan-impossible-expiry"


class GtinNdcDisagree(ScanError):
    """The GTIN's embedded NDC and the NDC-12 in AI (715) name different products."""

    code = "scan-gtin-ndc-disagree"


class InvalidTypedNdc(ScanError):
    code = "scan-invalid-ndc"


class LotSerialRunTogether(ScanError):
    """The lot/serial split of a GS1 scan cannot be trusted: the separator between them was lost.

    `partial` is the scan without lot and serial, so the product can still be shown while the
    technician types the lot from the package.
    """

    code = "scan-lot-uncertain"

    def __init__(self, message: str, *, partial: Scan, run_together: str) -> None:
        super().__init__(message, partial=partial, run_together=run_together)
        self.partial = partial


class InvalidGsSubstitute(ValidationFailed):
    code = "gs-substitute-invalid"


def gs1_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit of `digits` (weights 3, 1, 3, … from the right)."""
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"GS1 check digits are computed over digits, not {digits!r}")
    total = sum(int(char) * (3 if index % 2 == 0 else 1) for index, char in enumerate(digits[::-1]))
    return (10 - total % 10) % 10


def upc_a_for(ndc: Ndc) -> str:
    """The UPC-A (number system 3) printed on a package of a 10-digit NDC."""
    body = "3" + ndc.ndc10_digits
    return body + str(gs1_check_digit(body))


def gtin14_for(ndc: Ndc, indicator: int = 0) -> str:
    """The GTIN-14 of a 10-digit NDC; the indicator (0-8) marks the packaging level."""
    if not 0 <= indicator <= 8:
        raise ValueError(f"A GTIN-14 indicator for a fixed-measure item is 0-8, not {indicator}")
    body = f"{indicator}{_NDC_GTIN_PREFIX}{ndc.ndc10_digits}"
    return body + str(gs1_check_digit(body))


def gs1_element_string(
    gtin: str,
    *,
    expiry: dt.date | None = None,
    lot: str | None = None,
    serial: str | None = None,
    ndc12: Ndc | None = None,
    gs: str = GS,
) -> str:
    """A GS1 element string as a scanner transmits it: fixed-length AIs first, then the
    variable-length ones, each but the last ended by `gs`."""
    if len(gtin) not in (12, 13, 14) or gs1_check_digit(gtin[:-1]) != int(gtin[-1]):
        raise ValueError(f"{gtin!r} is not a GTIN with a valid check digit")
    for name, text in (("lot", lot), ("serial", serial)):
        if text is not None and not _GS1_CHARACTERS.fullmatch(text):
            raise ValueError(f"A GS1 {name} has 1-20 characters of GS1 set 82, not {text!r}")
    fixed = "01" + gtin.zfill(14)
    if expiry is not None:
        fixed += "17" + expiry.strftime("%y%m%d")
    variable = [
        ai + value
        for ai, value in (
            ("10", lot),
            ("21", serial),
            ("715", ndc12.ndc12 if ndc12 is not None else None),
        )
        if value is not None
    ]
    return fixed + gs.join(variable)


def rx_label_payload(rx_number: str, fill_number: int) -> str:
    """The Code 128 content of our Rx label: `RX<rx>-<fill>` (NCPDP 402-D2 and 403-D3)."""
    if not (rx_number.isascii() and rx_number.isdigit() and len(rx_number) <= 12):
        raise ValueError(f"An Rx number has 1-12 digits, not {rx_number!r}")
    if not 0 <= fill_number <= _MAX_FILL_NUMBER:
        raise ValueError(f"A fill number is 0-{_MAX_FILL_NUMBER}, not {fill_number}")
    return f"RX{rx_number}-{fill_number}"


def interpret_scan(text: str, *, gs_substitute: str | None = None) -> Scan:
    """Interpret one scan or typed entry; raise a `ScanError` saying what to do otherwise.

    `gs_substitute` is the character a scanner was configured to send for GS (e.g. "^"), for
    keyboard-wedge scanners that cannot type ASCII 29.
    """
    if gs_substitute is not None and gs_substitute not in GS_SUBSTITUTES:
        raise InvalidGsSubstitute(
            f"“{gs_substitute}” cannot stand for the GS1 separator: choose one of "
            + " ".join(sorted(GS_SUBSTITUTES))
            + ".",
            gs_substitute=gs_substitute,
        )
    # Scanners end a read with CR, LF or Tab; a lone trailing GS ends nothing.
    value = text.strip(" \t\r\n")
    if gs_substitute is not None:
        value = value.replace(gs_substitute, GS)
    if not value.strip(GS + " \t\r\n"):
        raise EmptyScan("Nothing was scanned: scan the barcode again or type the NDC.")
    _refuse_foreign_characters(value)

    symbology: SymbologyIdentifier | None = None
    if value.startswith("]"):
        try:
            symbology = SymbologyIdentifier.extract(value)
        except (ParseError, IndexError, ValueError):  # biip indexes past a cut-off "]" or "]X"
            raise _unreadable(value) from None
        value = value[len(symbology) :]
        if not value.strip(GS):
            raise IncompleteScan(_RESCAN_INCOMPLETE.format(text=text.strip()), text=text)
    gs1_symbology = symbology.gs1_symbology if symbology is not None else None
    aim = symbology.value if symbology is not None else None

    if gs1_symbology in GS1Symbology.with_gs1_messages():
        return _interpret_gs1(value, text=text, aim=aim)
    if gs1_symbology in (GS1Symbology.EAN_13, GS1Symbology.EAN_13_WITH_ADD_ON, GS1Symbology.EAN_8):
        return _interpret_retail(value, text=text, aim=aim, with_add_on=aim == "]E3")
    return _interpret_by_content(value, text=text, aim=aim)


_RESCAN_INCOMPLETE = "The scan “{text}” is incomplete: rescan the whole barcode, holding it steady."


def _unreadable(text: str) -> UnreadableScan:
    return UnreadableScan(
        f"“{text}” is not a barcode RxBench reads: rescan it or type the NDC. If every scan "
        "looks like this, check the scanner's keyboard layout.",
        text=text,
    )


def _refuse_foreign_characters(value: str) -> None:
    foreign = sorted({char for char in value if not char.isascii()})
    if foreign:
        raise ScannerKeyboardLayout(
            f"The scan contains {' '.join(foreign)}, which no barcode carries: check that the "
            "scanner's keyboard layout matches this computer's (US English), then rescan.",
            text=value,
            characters=foreign,
        )
    if any(not char.isprintable() and char != GS for char in value):
        if any(char in "\r\n\t" for char in value):
            raise DoubleScan(
                "Two barcodes were read as one: rescan a single barcode, covering the others.",
                text=value,
            )
        raise _unreadable(value.encode("unicode_escape").decode("ascii"))


def _is_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _check_gtin(digits: str, text: str) -> None:
    expected = gs1_check_digit(digits[:-1])
    if expected != int(digits[-1]):
        raise CheckDigitMismatch(
            f"The check digit of {digits} is wrong (it should be {expected}): rescan the "
            "barcode, or check the digits if you typed them"
            + (" (a 12-digit NDC is typed with its hyphens, 6-4-2)." if len(digits) == 12 else "."),
            digits=digits,
            expected=expected,
            found=int(digits[-1]),
            text=text,
        )


def _ndc_candidates_in_gtin(gtin14: str) -> tuple[Ndc, ...]:
    if gtin14[1:3] != _NDC_GTIN_PREFIX:
        return ()
    return tuple(candidates_from_ndc10_digits(gtin14[3:13]))


def _no_ndc(digits: str, text: str) -> NoNdcInBarcode:
    return NoNdcInBarcode(
        f"Barcode {digits} is a retail product code without an NDC: scan the NDC barcode "
        "on the package (its number starts with 3) or type the NDC. If you typed a 12-digit "
        "NDC, type it with its hyphens (6-4-2).",
        digits=digits,
        text=text,
    )


def _interpret_gtin(digits: str, kind: ScanKind, *, text: str, aim: str | None) -> Scan:
    _check_gtin(digits, text)
    gtin14 = digits.zfill(14)
    candidates = _ndc_candidates_in_gtin(gtin14)
    if not candidates:
        raise _no_ndc(digits, text)
    return Scan(kind=kind, text=text, candidates=candidates, gtin=gtin14, symbology=aim)


def _interpret_retail(value: str, *, text: str, aim: str | None, with_add_on: bool) -> Scan:
    """EAN/UPC symbologies: the scanner checked the symbol, so only the length can be off."""
    digits = value.strip(GS)
    if with_add_on and len(digits) in _MAIN_LENGTH_WITH_ADD_ON:
        digits = digits[: _MAIN_LENGTH_WITH_ADD_ON[len(digits)]]
    if not _is_digits(digits):
        raise _unreadable(text.strip())
    if len(digits) == 12:
        return _interpret_gtin(digits, ScanKind.UPC, text=text, aim=aim)
    if len(digits) == 13:
        return _interpret_gtin(digits, ScanKind.EAN13, text=text, aim=aim)
    if len(digits) == 8:
        raise _no_ndc(digits, text)
    raise _wrong_length(digits, text)


def _double_scan(digits: str, text: str) -> DoubleScan | None:
    for size in (12, 13, 14):
        if len(digits) == 2 * size:
            first, second = digits[:size], digits[size:]
            if _valid_gtin(first) and _valid_gtin(second):
                return DoubleScan(
                    f"Two barcodes were read as one ({first} and {second}): rescan a single "
                    "barcode, covering the others.",
                    first=first,
                    second=second,
                    text=text,
                )
    return None


def _wrong_length(digits: str, text: str) -> ScanError:
    double = _double_scan(digits, text)
    if double is not None:
        return double
    return IncompleteScan(_RESCAN_INCOMPLETE.format(text=digits), digits=digits, text=text)


def _interpret_by_content(value: str, *, text: str, aim: str | None) -> Scan:
    """No GS1 or retail symbology identifier: decide by what the text looks like."""
    value = value.strip(GS)  # some scanners send the leading FNC1 of a GS1 symbol as GS
    if value.startswith("("):
        return _interpret_gs1_hri(value, text=text, aim=aim)
    if value[:2].upper() == "RX":
        return _interpret_rx_label(value, text=text, aim=aim)
    if _is_digits(value) and len(value) <= 14:
        return _interpret_digits(value, text=text, aim=aim)
    if _TYPED_NDC.fullmatch(value):
        return _interpret_typed_ndc(value, text=text, aim=aim)
    if _is_digits(value) and not (value.startswith("01") and _valid_gtin(value[2:16])):
        double = _double_scan(value, text)
        if double is not None:
            raise double
    if GS in value.strip(GS) or value.startswith(_PHARMACY_AIS):
        return _interpret_gs1(value, text=text, aim=aim)
    if _is_digits(value):
        raise _wrong_length(value, text)
    raise _unreadable(value)


def _interpret_digits(digits: str, *, text: str, aim: str | None) -> Scan:
    if len(digits) in (10, 11):
        return _interpret_typed_ndc(digits, text=text, aim=aim)
    if len(digits) == 12:
        # Twelve bare digits are a UPC-A before anything else; an NDC-12 is typed with hyphens.
        return _interpret_gtin(digits, ScanKind.UPC, text=text, aim=aim)
    if len(digits) == 13:
        return _interpret_gtin(digits, ScanKind.EAN13, text=text, aim=aim)
    if len(digits) == 14:
        return _interpret_gtin(digits, ScanKind.GTIN14, text=text, aim=aim)
    raise _wrong_length(digits, text)


def _interpret_typed_ndc(value: str, *, text: str, aim: str | None) -> Scan:
    """An NDC as printed; typed unless a symbology identifier says a barcode carried it."""
    try:
        candidates = tuple(ndc_candidates(value))
    except NdcInvalid as exc:
        raise InvalidTypedNdc(exc.message, text=text) from None
    return Scan(
        kind=ScanKind.NDC, text=text, candidates=candidates, manual=aim is None, symbology=aim
    )


def _interpret_rx_label(value: str, *, text: str, aim: str | None) -> Scan:
    match = _RX_LABEL.fullmatch(value)
    if not match:
        raise IncompleteScan(
            f"“{value}” is not a complete Rx label barcode (RX, the Rx number, a hyphen and the "
            "fill number): rescan the label or type the Rx number.",
            text=text,
        )
    rx_number, fill_number = match.groups()
    return Scan(
        kind=ScanKind.RX_LABEL,
        text=text,
        rx_number=rx_number,
        fill_number=int(fill_number),
        symbology=aim,
    )


def _interpret_gs1_hri(value: str, *, text: str, aim: str | None) -> Scan:
    """The human-readable form, "(01)…(17)…": parentheses delimit every field, nothing is lost."""
    try:
        message = GS1Message.parse_hri(value, config=_GS1_CONFIG)
    except ParseError:
        expiry = re.search(r"\(17\)(\d{6})(?=\(|$)", value)
        if expiry:
            raise _impossible_expiry(expiry.group(1), text) from None
        raise _unreadable(value) from None
    return _gs1_scan(list(message.element_strings), text=text, aim=aim, delimited=True)


def _impossible_expiry(yymmdd: str, text: str) -> ImpossibleExpiry:
    return ImpossibleExpiry(
        f"The barcode's expiry date {yymmdd} (YYMMDD) is not a real date: rescan it; if it "
        "fails again, type the expiry date printed on the package.",
        expiry=yymmdd,
        text=text,
    )


def _interpret_gs1(value: str, *, text: str, aim: str | None) -> Scan:
    """Walk the element strings field by field, so that we know where each one ended.

    A variable-length field (lot, serial) ends at a GS or at the end of the data; one that
    runs into more data without a GS reached its maximum length, so the GS was lost.
    """
    shown = value.replace(GS, "<GS>")
    elements: list[GS1ElementString] = []
    for chunk in value.split(GS):
        rest = chunk
        previous: GS1ElementString | None = None
        while rest:
            if previous is not None and previous.ai.separator_required:
                raise _run_together(elements, previous, rest, text=text, aim=aim)
            try:
                ai = GS1ApplicationIdentifier.extract(rest)
            except ParseError:
                raise _unreadable(shown) from None
            data = rest[len(ai) :]
            if ai.ai == "01" and len(data) >= 14 and _is_digits(data[:14]):
                _check_gtin(data[:14], text)
            try:
                element = GS1ElementString.extract(rest, config=_GS1_CONFIG)
            except ParseError:
                if ai.ai == "17" and len(data) >= 6 and _is_digits(data[:6]):
                    raise _impossible_expiry(data[:6], text) from None
                raise IncompleteScan(_RESCAN_INCOMPLETE.format(text=shown), text=text) from None
            elements.append(element)
            previous = element
            rest = rest[len(element) :]
    return _gs1_scan(elements, text=text, aim=aim, delimited=False)


def _run_together(
    elements: list[GS1ElementString],
    overflowing: GS1ElementString,
    rest: str,
    *,
    text: str,
    aim: str | None,
) -> LotSerialRunTogether:
    joined = overflowing.value + rest
    trusted = [
        element
        for element in elements
        if element is not overflowing and element.ai.ai not in ("10", "21")
    ]
    try:
        partial = _gs1_scan(trusted, text=text, aim=aim, delimited=True)
    except ScanError:
        # The GTIN came after the lost separator: the lot problem is still the one to report.
        partial = Scan(kind=ScanKind.GS1, text=text, symbology=aim)
    return LotSerialRunTogether(
        f"The scanner lost a separator, so “{joined}” runs from one field into the next and "
        "the lot cannot be trusted: type the lot number printed on the package.",
        partial=partial,
        run_together=joined,
    )


def _gs1_scan(
    elements: list[GS1ElementString], *, text: str, aim: str | None, delimited: bool
) -> Scan:
    """Assemble the scan; unless every field was `delimited` (HRI), suspect lost separators."""
    by_ai: dict[str, GS1ElementString] = {}
    for element in elements:
        if element.ai.ai in by_ai:
            raise DoubleScan(
                f"Two GS1 barcodes were read as one (AI ({element.ai.ai}) appears twice): "
                "rescan a single barcode, covering the others.",
                ai=element.ai.ai,
                text=text,
            )
        by_ai[element.ai.ai] = element
    gtin = by_ai["01"].value if "01" in by_ai else None
    scan = Scan(
        kind=ScanKind.GS1,
        text=text,
        candidates=_gs1_ndc_candidates(gtin, by_ai.get("715"), text),
        gtin=gtin,
        expiry=by_ai["17"].date if "17" in by_ai else None,
        symbology=aim,
    )
    lot = by_ai["10"].value if "10" in by_ai else None
    serial = by_ai["21"].value if "21" in by_ai else None
    for field in (lot, serial):
        if not delimited and field is not None and _hides_missing_ai(field, set(by_ai)):
            raise LotSerialRunTogether(
                f"The lot or serial number “{field}” seems to contain the next field (the "
                "scanner lost a separator), so the lot cannot be trusted: type the lot number "
                "printed on the package.",
                partial=scan,
                run_together=field,
            )
    return replace(scan, lot=lot, serial=serial)


def _hides_missing_ai(field: str, present: set[str]) -> bool:
    """True when an AI absent from the message appears inside a lot or serial, after its first
    character (a lot cannot be empty): what a lost separator leaves behind."""
    for ai, pattern in _EMBEDDED_AI.items():
        if ai in present:
            continue
        for start in range(1, len(field)):
            match = pattern.match(field, start)
            if match and (ai != "01" or _valid_gtin(match.group()[2:])):
                return True
    return False


def _valid_gtin(digits: str) -> bool:
    return gs1_check_digit(digits[:-1]) == int(digits[-1])


def _gs1_ndc_candidates(
    gtin: str | None, ndc_element: GS1ElementString | None, text: str
) -> tuple[Ndc, ...]:
    from_gtin = _ndc_candidates_in_gtin(gtin) if gtin is not None else ()
    if ndc_element is None:
        if not from_gtin:
            raise NoNdcInBarcode(
                "This GS1 barcode carries no NDC: scan the NDC barcode on the package or type "
                "the NDC.",
                gtin=gtin,
                text=text,
            )
        return from_gtin
    if not (_is_digits(ndc_element.value) and len(ndc_element.value) == 12):
        raise _unreadable(f"(715){ndc_element.value}")
    ndc12 = ndc_from_ndc12_digits(ndc_element.value)
    if not from_gtin:
        return (ndc12,)
    # A transition-era barcode with both: the NDC-12 settles which reading of the GTIN it is.
    agreeing = tuple(ndc for ndc in from_gtin if ndc.ndc12 == ndc12.ndc12)
    if not agreeing:
        raise GtinNdcDisagree(
            f"The barcode's GTIN {gtin} and its NDC {ndc12.hyphenated} name different "
            "products: type the NDC printed on the package and set the package aside.",
            gtin=gtin,
            ndc=ndc12.hyphenated,
            text=text,
        )
    return agreeing

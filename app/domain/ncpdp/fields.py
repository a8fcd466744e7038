"""D.0 value formats: separators, signed overpunch amounts, CCYYMMDD dates, implied decimals.

Amounts are integer cents written as the standard's s9(n)v99 signed numeric: the digits of the
absolute value with the last digit replaced by a character that also carries the sign ("{" and
"A".."I" for +0..+9, "}" and "J".."R" for -0..-9), so 1234 cents is "123D" and -1230 is "123}".
Quantities are 9(7)v999: digits with three implied decimals (30 tablets is "30000").
"""

from __future__ import annotations

import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation

from app.domain.ncpdp.errors import BadFieldValue, BadOverpunch, MalformedMessage

SEGMENT_SEPARATOR = "\x1e"
GROUP_SEPARATOR = "\x1d"
FIELD_SEPARATOR = "\x1c"
SEPARATORS = SEGMENT_SEPARATOR + GROUP_SEPARATOR + FIELD_SEPARATOR

_POSITIVE = "{ABCDEFGHI"
_NEGATIVE = "}JKLMNOPQR"
_QUANTITY_SCALE = Decimal(1000)
MAX_QUANTITY = Decimal("9999999.999")


def encode_amount(cents: int) -> str:
    """Cents as a signed overpunch amount: 1234 → "123D", -5 → "N", 0 → "{"."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise BadFieldValue(f"An amount must be whole cents, not {cents!r}.", value=cents)
    digits = str(abs(cents))
    table = _NEGATIVE if cents < 0 else _POSITIVE
    return digits[:-1] + table[int(digits[-1])]


def decode_amount(text: str, *, field: str = "amount") -> int:
    """A signed overpunch amount as cents; plain digits are refused (the sign is required)."""
    if not text:
        raise BadOverpunch(f"The {field} is empty.", field=field)
    last = text[-1]
    body = text[:-1]
    if body and not (body.isascii() and body.isdigit()):
        raise BadOverpunch(f"The {field} “{text}” has a non-digit before its sign.", field=field)
    if last in _POSITIVE:
        return int(body + str(_POSITIVE.index(last)))
    if last in _NEGATIVE:
        return -int(body + str(_NEGATIVE.index(last)))
    raise BadOverpunch(
        f"The {field} “{text}” does not end in an overpunch character ({{, A–I, }}, J–R).",
        field=field,
    )


def encode_date(day: date) -> str:
    # Not strftime: it writes year 999 as "999", one digit short of CCYY.
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def decode_date(text: str, *, field: str = "date") -> date:
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        raise BadFieldValue(f"The {field} “{text}” is not a CCYYMMDD date.", field=field)
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise BadFieldValue(f"The {field} “{text}” is not a real date.", field=field) from None


def encode_quantity(quantity: Decimal) -> str:
    """9(7)v999: 30 → "30000", 2.5 → "2500"; more than three decimals is refused, not rounded."""
    scaled = quantity * _QUANTITY_SCALE
    if quantity < 0 or quantity > MAX_QUANTITY or scaled != scaled.to_integral_value():
        raise BadFieldValue(
            f"The quantity {quantity} must be from 0 to {MAX_QUANTITY} with at most three "
            "decimals.",
            quantity=str(quantity),
        )
    return str(int(scaled))


def decode_quantity(text: str, *, field: str = "quantity") -> Decimal:
    return Decimal(decode_number(text, field=field)) / _QUANTITY_SCALE


def decode_number(text: str, *, field: str) -> int:
    if not text or not (text.isascii() and text.isdigit()):
        raise BadFieldValue(f"The {field} “{text}” is not a whole number.", field=field)
    return int(text)


def parse_decimal(text: str, *, field: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadFieldValue(f"The {field} “{text}” is not a number.", field=field) from None
    if not value.is_finite():
        raise BadFieldValue(f"The {field} “{text}” is not a number.", field=field)
    return value


def encode_text(value: str, *, field: str, max_length: int) -> str:
    """Free text in D.0's character set: accents dropped (José → Jose), separators refused."""
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    if any(not character.isprintable() for character in plain):
        raise MalformedMessage(
            f"The {field} contains a control character, which D.0 cannot carry.", field=field
        )
    if len(plain) > max_length:
        raise BadFieldValue(
            f"The {field} is {len(plain)} characters long; D.0 allows {max_length}.", field=field
        )
    return plain


def encode_digits(value: str, *, field: str, max_length: int) -> str:
    if not value or len(value) > max_length or not (value.isascii() and value.isdigit()):
        raise BadFieldValue(f"The {field} “{value}” must be 1 to {max_length} digits.", field=field)
    return value


def fixed_width(value: str, width: int, *, field: str) -> str:
    """A header field left-justified and space-padded to its width; too long is refused."""
    text = encode_text(value, field=field, max_length=width)
    return text.ljust(width)

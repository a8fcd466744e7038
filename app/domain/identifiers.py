"""Validation of the US identifiers a pharmacy deals in: NPI, DEA registration, NCPDP ID.

Each validator returns the normalised value or raises `ValidationFailed` with a sentence that
tells the person what is wrong, so the same check serves the pharmacy profile, prescribers
and the command line.
"""

from __future__ import annotations

import re

from app.errors import ValidationFailed

# An NPI's check digit is the Luhn digit computed as if the number carried the
# ISO card-issuer prefix 80840 (CMS "NPI check digit" specification).
_NPI_PREFIX_SUM = 24


def _luhn_sum(digits: str) -> int:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total


def npi_check_digit(first_nine: str) -> int:
    return (10 - (_NPI_PREFIX_SUM + _luhn_sum(first_nine)) % 10) % 10


def validate_npi(raw: str) -> str:
    npi = raw.strip()
    if not re.fullmatch(r"\d{10}", npi):
        raise ValidationFailed(f"An NPI has exactly 10 digits; “{raw.strip()}” does not.", npi=raw)
    if npi[0] not in "12":
        raise ValidationFailed(f"An NPI starts with 1 or 2; “{npi}” does not.", npi=npi)
    if int(npi[9]) != npi_check_digit(npi[:9]):
        raise ValidationFailed(
            f"NPI {npi} has a wrong check digit: re-check the number on the registration.",
            npi=npi,
        )
    return npi


# First letter of a DEA registration: the registrant type. Mid-level practitioners use M,
# distributors/manufacturers other letters; "X" marks a DATA-waived prescriber (historic).
_DEA_REGISTRANT_TYPES = set("ABCDEFGHJKLMPRSTUX")


def dea_check_digit(six_digits: str) -> int:
    odd = int(six_digits[0]) + int(six_digits[2]) + int(six_digits[4])
    even = int(six_digits[1]) + int(six_digits[3]) + int(six_digits[5])
    return (odd + 2 * even) % 10


def validate_dea(raw: str) -> str:
    """Check form and check digit of a DEA number; an institutional suffix (-xxx) is allowed."""
    value = raw.strip().upper()
    base, _, suffix = value.partition("-")
    if not re.fullmatch(r"[A-Z][A-Z9]\d{7}", base):
        raise ValidationFailed(
            f"A DEA number is two letters and seven digits (e.g. AB1234563); “{raw.strip()}” "
            "is not.",
            dea=raw,
        )
    if base[0] not in _DEA_REGISTRANT_TYPES:
        raise ValidationFailed(
            f"DEA number {base} starts with “{base[0]}”, which is not a registrant type.",
            dea=base,
        )
    if suffix and not re.fullmatch(r"[A-Z0-9]{1,10}", suffix):
        raise ValidationFailed(f"The suffix of DEA number {value} is not valid.", dea=value)
    if int(base[8]) != dea_check_digit(base[2:8]):
        raise ValidationFailed(
            f"DEA number {base} has a wrong check digit: re-check it against the registration.",
            dea=base,
        )
    return value


def validate_ncpdp_id(raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"\d{7}", value):
        raise ValidationFailed(
            f"An NCPDP provider ID has exactly 7 digits; “{value}” does not.", ncpdp=value
        )
    return value

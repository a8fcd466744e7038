"""Checks of the name, address, phone and email fields patients and prescribers share.

Each check returns the normalised value or raises `ValidationFailed` naming its field, so the
form can put the cursor where the mistake is.
"""

from __future__ import annotations

import re

from app.errors import ValidationFailed
from app.services.pharmacy import US_STATES

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Z]{2})?")
_ZIP = re.compile(r"\d{5}(-\d{4})?")


def required(value: str, *, field: str, label: str, max_length: int = 100) -> str:
    text = " ".join(value.split())
    if not text:
        raise ValidationFailed(f"Enter the {label}.", field=field)
    return limited(text, field=field, label=label, max_length=max_length)


def limited(value: str, *, field: str, label: str, max_length: int) -> str:
    text = value.strip()
    if len(text) > max_length:
        raise ValidationFailed(f"The {label} is longer than {max_length} characters.", field=field)
    return text


def phone_digits(value: str) -> str:
    """The ten digits of a US phone number however it was typed (a leading 1 dropped)."""
    digits = re.sub(r"\D", "", value)
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def phone(value: str, *, field: str = "phone", label: str = "phone number") -> str:
    """A 10-digit NANP number as (217) 555-0100, or "" when left empty."""
    if not value.strip():
        return ""
    digits = phone_digits(value)
    if len(digits) != 10 or digits[0] in "01":
        raise ValidationFailed(f"“{value.strip()}” is not a 10-digit US {label}.", field=field)
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def state_code(value: str, *, field: str = "state") -> str:
    code = value.strip().upper()
    if code and code not in US_STATES:
        raise ValidationFailed(
            f"“{value.strip()}” is not a US state or territory code.", field=field
        )
    return code


def zip_code(value: str, *, field: str = "postal_code") -> str:
    text = value.strip()
    if text and not _ZIP.fullmatch(text):
        raise ValidationFailed(f"“{text}” is not a ZIP code (12345 or 12345-6789).", field=field)
    return text


def email(value: str, *, field: str = "email") -> str:
    text = value.strip()
    if text and (len(text) > 200 or not _EMAIL.fullmatch(text)):
        raise ValidationFailed(f"“{text}” is not an email address.", field=field)
    return text


def language(value: str, *, field: str = "preferred_language") -> str:
    """An ISO 639 language code, optionally with a region: en, es, zh-CN."""
    text = value.strip()
    base, _, region = text.partition("-")
    code = f"{base.lower()}-{region.upper()}" if region else base.lower()
    if not _LANGUAGE.fullmatch(code):
        raise ValidationFailed(
            f"“{text}” is not a language code (such as en, es or zh-CN).", field=field
        )
    return code

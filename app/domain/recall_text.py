"""Lot numbers and NDCs read out of a recall notice's free text (FDA enforcement `code_info`,
`product_description`), as candidates a person confirms: the text has no fixed layout.

Lots are read after a lot keyword ("Lot #: ABC123, Exp 12/2025", "Lot Numbers: A1, A2",
"Lots: A1 and A2", "Lot No. 12345", "Batch: X9"): the words that follow, split at commas,
semicolons, "&", "and", "or" and spaces, are taken while they look like lot numbers (2 to 40
letters, digits, "-" or ".", at least one digit) and the reading stops at the first word that
does not (an "Exp" date, a sentence). NDCs are the hyphenated NDCs in the text (10-digit forms,
5-4-2 and 6-4-2), and 10 or 11 digits right after "NDC".
"""

from __future__ import annotations

import re

from app.domain.ndc import NdcInvalid, ndc_candidates

MAX_LOT_LENGTH = 40  # stock_lots.lot_number

_LOT_KEYWORD = re.compile(
    r"\b(?:lot\s*\(s\)|lots?|batch(?:es)?)(?![A-Za-z0-9])"
    r"\s*(?:(?:numbers?|nos?\b\.?|#s?|codes?)\s*)?[:#.]?\s*",
    re.IGNORECASE,
)
# The words after a keyword, found one at a time: a notice may list hundreds of lots.
_WORD = re.compile(r"[^,;&\s]+")
_CONNECTORS = frozenset({"and", "or"})
_LOT_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*[A-Za-z0-9]", re.ASCII)
_HYPHENATED_NDC = re.compile(r"(?<![\d-])\d{4,6}-\d{3,4}-\d{1,2}(?![\d-])", re.ASCII)
_BARE_NDC = re.compile(r"\bNDC\s*(?:#|no\.?|:)?\s*:?\s*(\d{10,11})(?!\d)", re.IGNORECASE | re.ASCII)


def _looks_like_lot(word: str) -> bool:
    return (
        2 <= len(word) <= MAX_LOT_LENGTH
        and _LOT_TOKEN.fullmatch(word) is not None
        and any(character.isdigit() for character in word)
    )


def lot_candidates(text: str) -> list[str]:
    """Every lot number the text seems to name, in order of appearance, each once."""
    found: dict[str, None] = {}
    for keyword in _LOT_KEYWORD.finditer(text):
        for match in _WORD.finditer(text, keyword.end()):
            word = match.group(0).strip(".:()[]\"'")
            if not word or word.lower() in _CONNECTORS:
                continue
            if not _looks_like_lot(word):
                break
            found.setdefault(word.upper(), None)
    return list(found)


def ndcs_in_text(text: str) -> list[str]:
    """The NDCs written in the text, as written (hyphens kept), in order, each once; digits
    that are no NDC in any form are left out."""
    found: dict[str, None] = {}
    matches = [match.group(0) for match in _HYPHENATED_NDC.finditer(text)]
    matches += [match.group(1) for match in _BARE_NDC.finditer(text)]
    for written in matches:
        try:
            ndc_candidates(written)
        except NdcInvalid:
            continue
        found.setdefault(written, None)
    return list(found)

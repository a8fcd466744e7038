"""The words a prescription label prints for the drug, quantity, refills and discard-after date.

FDA Directory data arrives as the manufacturer typed it ("LEVOTHYROXINE SODIUM", ".5", "ug/1",
"[iU]/mL"); labels print it the way ISMP wants it read: names in ordinary capitals, a leading
zero and no trailing one, "mcg" and "units", commas from 1,000. `label_problems` checks every
dose-bearing text of a label with the same ISMP list the sig expander uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from fractions import Fraction

from app.domain.labels import LabelContent
from app.domain.rx_rules import add_months
from app.domain.sig import format_number, ismp_problems

# --- numbers and strengths --------------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")


def number_text(text: str) -> str:
    """A number as ISMP wants it printed: "5.0" → "5", ".5" → "0.5", "1000" → "1,000".

    Text that is not a number is returned stripped, unchanged.
    """
    cleaned = text.strip().replace(",", "")
    if not _NUMBER.fullmatch(cleaned):
        return text.strip()
    return format_number(Fraction(Decimal(cleaned)))


# FDA (UCUM-style) units and the words a label prints for them.
_UNIT_WORDS = {
    "mg": "mg",
    "g": "g",
    "kg": "kg",
    "ug": "mcg",
    "µg": "mcg",
    "μg": "mcg",
    "mcg": "mcg",
    "ng": "nanograms",
    "ml": "mL",
    "l": "L",
    "[iu]": "units",
    "iu": "units",
    "u": "units",
    "[usp'u]": "USP units",
    "[arb'u]": "units",
    "meq": "mEq",
    "mmol": "mmol",
    "%": "%",
    "h": "hr",
    "hr": "hr",
    "d": "day",
    "1": "",
    "[hp_x]": "X",
    "[hp_c]": "C",
}
_DENOMINATOR = re.compile(r"(?P<count>\d*\.?\d*)\s*(?P<unit>.*)")


def _unit_word(unit: str) -> str:
    return _UNIT_WORDS.get(unit.strip().lower(), unit.strip())


def _per(denominator: str) -> str:
    """What a strength is per: "" for one dose unit ("mg/1"), "mL", "5 mL", "0.5 mL"."""
    match = _DENOMINATOR.fullmatch(denominator.strip())
    assert match is not None  # the pattern accepts any text
    amount = number_text(match["count"]) if match["count"].strip(".") else ""
    unit = _unit_word(match["unit"])
    return unit if amount in ("", "1") else f"{amount} {unit}".strip()


def _one_unit(unit: str) -> tuple[str, str]:
    """An FDA unit ("mg/5mL") as the printed unit and what it is per ("mg", "5 mL")."""
    numerator, _, denominator = unit.partition("/")
    return _unit_word(numerator), _per(denominator) if denominator else ""


def strength_text(strength: str, unit: str) -> str:
    """The strength as printed: "10 mg", "400 mg/5 mL", "100 units/mL", "10 mg / 20 mg".

    Several active ingredients ("10; 20" in "mg/1; mg/1") are joined by " / "; when every one
    is per the same measure ("mg/5mL; mg/5mL") it is said once: "6.25 mg / 10 mg per 5 mL".
    """
    amounts = [part.strip() for part in strength.split(";")]
    units = [part.strip() for part in unit.split(";")]
    if not any(amounts):
        return ""
    if len(units) != len(amounts):
        units = (units + units[-1:] * len(amounts))[: len(amounts)]
    read = [_one_unit(each) for each in units]
    pers = {per for _, per in read}
    if len(amounts) > 1 and len(pers) == 1 and (per := pers.pop()):
        joined = " / ".join(
            _amount(amount, printed, "") for amount, (printed, _) in zip(amounts, read, strict=True)
        )
        return f"{joined} per {per}"
    return " / ".join(
        _amount(amount, printed, per) for amount, (printed, per) in zip(amounts, read, strict=True)
    )


def _amount(amount: str, unit: str, per: str) -> str:
    """One amount with its unit: "10 mg", "400 mg/5 mL", "1 unit" (units has a singular)."""
    number = number_text(amount)
    if unit == "units" and number == "1":
        unit = "unit"
    return f"{number} {unit}{'/' + per if per else ''}".strip()


# --- names and dosage forms -------------------------------------------------------------------

_SMALL_WORDS = frozenset({"and", "or", "with", "of", "in", "for", "the", "to", "a"})
# Abbreviations kept in capitals even in a name typed all in capitals ("PROAIR HFA").
_ABBREVIATIONS = {
    word.casefold(): word
    for word in ("HFA XR ER SR CR XL DR LA CD EC ODT DS IR HCT HCl USP ACT PM AM 24HR 12HR").split()
}


def _capitalised(word: str) -> str:
    """Capitalise each part of a word split by - or / ("beta-blocker" → "Beta-Blocker")."""
    return re.sub(r"(^|[-/])([^\W\d_])", lambda part: part[1] + part[2].upper(), word)


def drug_name(name: str) -> str:
    """A product name in ordinary capitals: "LEVOTHYROXINE SODIUM" → "Levothyroxine Sodium".

    A name typed in mixed case keeps its capitals ("ProAir", "pH") except that lower-case words
    are capitalised and small words ("and", "with") are lower case; a name typed all in one case
    is put in title case, known abbreviations ("HFA", "XR", "HCl") kept.
    """
    words = name.split()
    one_case = name == name.upper() or name == name.lower()
    printed = []
    for index, word in enumerate(words):
        folded = word.casefold()
        if index and folded in _SMALL_WORDS:
            printed.append(folded)
        elif folded in _ABBREVIATIONS and (one_case or word.isupper()):
            printed.append(_ABBREVIATIONS[folded])
        elif one_case or word == word.lower():
            printed.append(_capitalised(word.lower()))
        else:
            printed.append(word)
    return " ".join(printed)


# Adjectives the FDA writes after a comma, in the words a patient reads.
_FORM_WORDS = {
    "film coated": "film-coated",
    "sugar coated": "sugar-coated",
    "extended release": "extended-release",
    "delayed release": "delayed-release",
    "orally disintegrating": "orally disintegrating",
    "coated": "coated",
}
_FORM_OVERRIDES = {
    "aerosol, metered": "metered-dose aerosol",
    "spray, metered": "metered spray",
    "powder, for suspension": "powder for oral suspension",
    "powder, for solution": "powder for solution",
}


def dosage_form_text(form: str) -> str:
    """An FDA dosage form in lower-case words: "TABLET, FILM COATED" → "film-coated tablet".

    "A, B" is read "B A" ("CAPSULE, DELAYED RELEASE" → "delayed-release capsule"); "A, for B"
    keeps its order ("powder for solution").
    """
    folded = " ".join(form.lower().split()).replace("/ ", "/")
    if folded in _FORM_OVERRIDES:
        return _FORM_OVERRIDES[folded]
    head, _, rest = (part.strip() for part in folded.partition(","))
    if not rest:
        return head
    qualifiers = [part.strip() for part in rest.split(",") if part.strip()]
    if head == "injection":  # "INJECTION, POWDER, LYOPHILIZED, FOR SOLUTION"
        noun, *adjectives = [part for part in qualifiers if not part.startswith("for ")] or [""]
        return " ".join([*adjectives, noun, "for injection"]).strip()
    before = [
        _FORM_WORDS.get(qualifier, qualifier)
        for qualifier in qualifiers
        if not qualifier.startswith("for ")
    ]
    after = [qualifier for qualifier in qualifiers if qualifier.startswith("for ")]
    return " ".join([*before, head, *after])


def drug_line(name: str, strength: str, strength_unit: str, dosage_form: str) -> str:
    """What the bottle holds in one line: "Atorvastatin Calcium 10 mg film-coated tablet"."""
    parts = [drug_name(name), strength_text(strength, strength_unit), dosage_form_text(dosage_form)]
    return " ".join(part for part in parts if part)


# --- quantity ---------------------------------------------------------------------------------

_IRREGULAR_PLURALS = {"suppository": "suppositories", "each": "each"}
_MEASURED_UNITS = {"ML": "mL", "GM": "g"}
_MEASURES = frozenset({"ml", "l", "g", "kg", "mg"})
# Package levels: "1 INHALER in 1 CARTON > 200 AEROSOL, METERED in 1 INHALER".
_LEVEL = re.compile(r"\s*(\d*\.?\d+)\s+(.*?)\s+in\s+\d+\s+.+?\s*")
_CODE = re.compile(r"\((?:GS1:)?[0-9A-Za-z-]+\)")
# What the inside of a whole package is counted in, by the FDA's word for it.
_CONTENT_WORDS = {
    "aerosol, metered": ("puff", "puffs"),
    "spray, metered": ("spray", "sprays"),
    "aerosol": ("puff", "puffs"),
    "spray": ("spray", "sprays"),
    "powder, metered": ("inhalation", "inhalations"),
}


def _plural(word: str) -> str:
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    if word.endswith(("ch", "sh", "s", "x")):
        return word + "es"
    return word + "s"


def _counted(count: Decimal, word: str) -> str:
    return f"{number_text(str(count))} {word if count == 1 else _plural(word)}"


def _word_of(fda_unit: str) -> str:
    """The printed word for an FDA package or dose unit: "BOTTLE, GLASS" → "bottle"."""
    return fda_unit.split(",", 1)[0].strip().lower() or "each"


def _contents(description: str, outer_unit: str) -> str:
    """What one whole package holds, from its FDA description: "200 puffs", "8.5 g", or ""."""
    levels = []
    for text in _CODE.sub(" ", description).split("*")[0].split(">"):
        match = _LEVEL.fullmatch(text)
        if match is None:
            return ""
        levels.append((Decimal(match.group(1)), match.group(2)))
    for index, (_, unit) in enumerate(levels[:-1]):
        if unit.upper() == outer_unit.upper():
            amount, inner = levels[index + 1]
            if inner.lower() in _MEASURES:
                return f"{number_text(str(amount))} {_UNIT_WORDS.get(inner.lower(), inner)}"
            one, many = _CONTENT_WORDS.get(inner.lower(), (_word_of(inner), ""))
            return f"{number_text(str(amount))} {one if amount == 1 else many or _plural(one)}"
    return ""


# Dosage forms whose units are counted one by one on the label ("30 tablets").
_COUNTED_FORMS = frozenset(
    {
        "tablet",
        "capsule",
        "lozenge",
        "troche",
        "patch",
        "suppository",
        "film",
        "strip",
        "wafer",
        "pellet",
        "insert",
        "ring",
        "gum",
        "kit",
        "implant",
        "pill",
        "bar",
    }
)


def quantity_text(
    quantity: Decimal,
    *,
    billing_unit: str,
    dosage_form: str,
    package_description: str = "",
    package_quantity: Decimal | None = None,
    package_unit: str = "",
    billing_quantity: Decimal | None = None,
) -> str:
    """The quantity in words: "30 tablets", "100 mL", "1 tube (22 g)", "1 inhaler (200 puffs)",
    "3 inhalers (200 puffs each)".

    Counted dose units are named by the dosage form; a quantity that is whole packages names
    the package and, in brackets, what it holds; measured quantities print mL or g.
    """
    form_word = _word_of(dosage_form)
    outer = package_unit.strip()
    outer_is_container = bool(outer) and outer.lower() not in _MEASURES
    if billing_unit == "EA" and form_word in _COUNTED_FORMS:
        return _counted(quantity, form_word)
    if (
        billing_quantity
        and package_quantity
        and outer_is_container
        and quantity % billing_quantity == 0
        and billing_unit in _MEASURED_UNITS
    ):
        containers = package_quantity * quantity / billing_quantity
        measured = f"{number_text(str(quantity))} {_MEASURED_UNITS[billing_unit]}"
        return f"{_counted(containers, _word_of(outer))} ({measured})"
    if billing_unit in _MEASURED_UNITS:
        return f"{number_text(str(quantity))} {_MEASURED_UNITS[billing_unit]}"
    if billing_quantity is None and outer_is_container:
        contents = _contents(package_description, outer)
        packages = _counted(quantity, _word_of(outer))
        if not contents:
            return packages
        return f"{packages} ({contents} each)" if quantity != 1 else f"{packages} ({contents})"
    return _counted(quantity, form_word)


# --- refills and discard-after ----------------------------------------------------------------


def refills_text(remaining: int) -> str:
    """Refills left in words: "No refills", "1 refill left", "2 refills left"."""
    if remaining <= 0:
        return "No refills"
    return f"{remaining} refill{'s' if remaining != 1 else ''} left"


def discard_after(fill_date: date, lot_expiries: Iterable[date], *, months: int) -> date:
    """The earlier of the earliest dispensed lot's expiry and `months` after the fill date.

    With no lot scanned yet only the months apply; a later scan of a lot expiring sooner moves
    the date earlier (and needs a reprint).
    """
    limit = add_months(fill_date, months)
    return min([limit, *lot_expiries])


# --- checking a whole label -------------------------------------------------------------------

# The label's texts that carry doses and drug words; names, addresses, NDC and Rx numbers are
# identifiers, which ISMP's list does not govern (and whose digits it would misread).
CHECKED_FIELDS = (
    "drug_line",
    "generic_for",
    "directions",
    "english_directions",
    "indication",
    "quantity",
    "refills",
    "physical_description",
    "transfer_caution",
)


def label_problems(content: LabelContent) -> dict[str, list[str]]:
    """ISMP problems in a label's dose-bearing texts, by field ("auxiliary_warnings" included)."""
    found: dict[str, list[str]] = {}
    for name in CHECKED_FIELDS:
        if problems := ismp_problems(getattr(content, name)):
            found[name] = problems
    warnings = [problem for text in content.auxiliary_warnings for problem in ismp_problems(text)]
    if warnings:
        found["auxiliary_warnings"] = warnings
    return found

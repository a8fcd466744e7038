"""The one verdict vocabulary for "is this the bottle the prescription asks for?", and its rules.

Comparison rules, from the FDA NDC Directory's own fields:

- `match`: the very package NDC prescribed.
- `package-size-differs`: the same product NDC (labeler and product segments), another package.
  Products counted out by the unit (tablets, capsules… billed EA) may be used after the
  technician confirms; products dispensed as whole packages (inhalers, tubes, vials, pens,
  drops, kits, liquids billed in ML or GM) go back to data entry, because the package is the
  quantity billed. A sample package is never dispensed on a fill.
- `other-manufacturer`: the same active moieties, strengths and dosage form under another
  product NDC (usually another labeler). Moieties are compared without salt and hydrate words
  ("LEVOTHYROXINE SODIUM" = "LEVOTHYROXINE SODIUM ANHYDROUS"), ingredients of combination
  products as sets, strengths in one unit (75 ug = 0.075 mg; mg/5mL as per mL), dosage forms
  without coating words ("TABLET, FILM COATED" = "TABLET") but never without release, chewable
  or disintegration words. Messages show the full names. This is not a therapeutic-equivalence
  rating: see `NOT_THERAPEUTIC_EQUIVALENCE`.
- `wrong-drug`: another ingredient, strength or dosage form.
- `expired`: expiry before today. `recalled`: the lot is quarantined or recalled.
- `unknown`: a valid code the catalogue does not hold. `ambiguous`: a code several catalogue
  packages answer to. `invalid`: unreadable, a bad check digit, a lost GS1 separator.

When several apply, the first in `PRECEDENCE` wins. What may follow each verdict:

    verdict               overridable  requires
    match                 no           —  (nothing to override)
    package-size-differs  yes          confirmation   (counted by the unit)
                          no           data-entry     (dispensed as whole packages)
                          no           —              (a sample package: a stop)
    other-manufacturer    yes          pharmacist-override
    unknown               yes          pharmacist-override  (the pharmacist adds the product;
                                       the bottle is scanned again, never accepted blind)
    wrong-drug, recalled, expired, ambiguous, invalid: no, —
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction

from app.domain.barcodes import Scan, ScanError, ScanKind
from app.errors import ValidationFailed


class Verdict(StrEnum):
    MATCH = "match"
    PACKAGE_SIZE_DIFFERS = "package-size-differs"
    OTHER_MANUFACTURER = "other-manufacturer"
    WRONG_DRUG = "wrong-drug"
    EXPIRED = "expired"
    RECALLED = "recalled"
    UNKNOWN = "unknown"
    AMBIGUOUS = "ambiguous"
    INVALID = "invalid"


PRECEDENCE: tuple[Verdict, ...] = (
    Verdict.INVALID,
    Verdict.UNKNOWN,
    Verdict.AMBIGUOUS,
    Verdict.WRONG_DRUG,
    Verdict.RECALLED,
    Verdict.EXPIRED,
    Verdict.OTHER_MANUFACTURER,
    Verdict.PACKAGE_SIZE_DIFFERS,
    Verdict.MATCH,
)


class Requirement(StrEnum):
    """What must happen before a bottle with this verdict may be used."""

    CONFIRMATION = "confirmation"
    DATA_ENTRY = "data-entry"
    PHARMACIST_OVERRIDE = "pharmacist-override"


NOT_THERAPEUTIC_EQUIVALENCE = (
    "RxBench compared ingredient, strength and dosage form from the FDA NDC Directory; that is "
    "not an Orange Book therapeutic-equivalence (AB) rating, so the pharmacist decides whether "
    "this product may be substituted."
)

UNUSABLE_LOT_STATUSES = frozenset({"quarantined", "recalled"})

# Words naming the salt or hydrate a moiety is supplied as, not the moiety itself. Esters
# (acetate, valerate, propionate…) are left out on purpose: for steroids they change potency.
_SALT_WORDS = frozenset(
    {
        "ANHYDROUS",
        "ARGININE",
        "BENZOATE",
        "BESYLATE",
        "BISULFATE",
        "BITARTRATE",
        "BROMIDE",
        "CALCIUM",
        "CHLORIDE",
        "CITRATE",
        "DIHYDROCHLORIDE",
        "DIMESYLATE",
        "DISODIUM",
        "ESYLATE",
        "FUMARATE",
        "GLUCONATE",
        "HCL",
        "HEMIFUMARATE",
        "HYCLATE",
        "HYDROBROMIDE",
        "HYDROCHLORIDE",
        "IODIDE",
        "LACTATE",
        "LYSINE",
        "MAGNESIUM",
        "MALATE",
        "MALEATE",
        "MEGLUMINE",
        "MESYLATE",
        "MONONITRATE",
        "MONOSODIUM",
        "NITRATE",
        "OLAMINE",
        "PAMOATE",
        "PHOSPHATE",
        "PIDOLATE",
        "POTASSIUM",
        "SODIUM",
        "SUCCINATE",
        "SULFATE",
        "TARTRATE",
        "TOSYLATE",
        "TROMETHAMINE",
        "XINAFOATE",
    }
)
_HYDRATE = re.compile(r"[A-Z]*HYDRATE")
_STEREO_PREFIX = re.compile(r"(?:DL|[DLRS])-")
_COATING_QUALIFIERS = frozenset({"COATED", "FILM COATED", "SUGAR COATED", "GELATIN COATED"})
_COUNTED_FORMS = frozenset({"TABLET", "CAPSULE", "CAPLET", "PILL", "LOZENGE", "TROCHE"})
_MASS_IN_MG = {
    "kg": Fraction(10**6),
    "g": Fraction(1000),
    "mg": Fraction(1),
    "ug": Fraction(1, 1000),
    "mcg": Fraction(1, 1000),
    "ng": Fraction(1, 10**6),
}
_VOLUME_IN_ML = {
    "l": Fraction(1000),
    "dl": Fraction(100),
    "ml": Fraction(1),
    "ul": Fraction(1, 1000),
}
_DENOMINATOR = re.compile(r"(\d*\.?\d*)\s*(.*)")


class StrengthUnreadable(ValidationFailed):
    """A strength that is not a number (the directory leaves some blank, e.g. kits)."""

    code = "strength-unreadable"


@dataclass(frozen=True, slots=True)
class Strength:
    """An amount per unit in a common unit: mass in mg, volume in mL, "1" for one unit."""

    amount: Fraction
    unit: str


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What the catalogue says about one package, as the comparison needs it."""

    package_ndc: str
    product_ndc: str
    substance_name: str
    strength: str
    strength_unit: str
    dosage_form: str
    labeler: str
    billing_unit: str
    sample_package: bool
    description: str
    name: str = ""
    dea_schedule: str | None = None

    @property
    def label(self) -> str:
        """The full names, strength, form and labeler, as messages show them."""
        named = self.name and self.name.upper() != self.substance_name.upper()
        drug = f"{self.name} ({self.substance_name})" if named else self.name or self.substance_name
        strength = strength_text(self.strength, self.strength_unit)
        return (
            f"{drug} {strength} {self.dosage_form}".replace("  ", " ").strip()
            + f" by {self.labeler}, NDC {self.package_ndc}"
        )


@dataclass(frozen=True, slots=True)
class VerdictResult:
    verdict: Verdict
    message: str
    warnings: tuple[str, ...] = ()
    overridable: bool = False
    requires: Requirement | None = None


def normalise_moiety(substance: str) -> str:
    """The active moiety of one ingredient: upper case, salt and hydrate words dropped.

    A name that starts with a salt word (SODIUM CHLORIDE, POTASSIUM CITRATE) is a mineral salt
    whose whole name is the active ingredient, so it is kept whole.
    """
    words = [word for word in re.split(r"[\s,]+", substance.upper()) if word]
    if not words or _is_salt_word(words[0]):
        return " ".join(words)
    while len(words) > 1 and _is_salt_word(words[-1]):
        words.pop()
    return " ".join(words)


def _is_salt_word(word: str) -> bool:
    bare = _STEREO_PREFIX.sub("", word, count=1)
    return bare in _SALT_WORDS or _HYDRATE.fullmatch(bare) is not None


def normalise_strength(value: str, unit: str) -> Strength:
    """`value` `unit` (as the directory writes them: "75", "ug/1"; "400", "mg/5mL") per one
    unit, mg or mL. Units without a conversion ([iU], meq, [hp_X]…) are kept as written."""
    try:
        amount = Fraction(Decimal(value.strip()))
    except (InvalidOperation, ValueError):
        raise StrengthUnreadable(f"“{value}” is not a strength.", value=value, unit=unit) from None
    numerator, _, denominator = unit.strip().partition("/")
    amount, numerator_unit = _in_base_unit(amount, numerator)
    per = _DENOMINATOR.fullmatch(denominator.strip() or "1")
    assert per is not None  # the pattern matches any text
    count_text, per_unit = per.groups()
    try:
        count = Fraction(Decimal(count_text)) if count_text not in ("", ".") else Fraction(1)
    except InvalidOperation:
        raise StrengthUnreadable(f"“{unit}” is not a unit.", value=value, unit=unit) from None
    if count == 0:
        raise StrengthUnreadable(f"“{unit}” divides by zero.", value=value, unit=unit)
    size, per_base = _in_base_unit(count, per_unit) if per_unit else (count, "1")
    return Strength(amount / size, f"{numerator_unit}/{per_base}")


def _in_base_unit(amount: Fraction, unit: str) -> tuple[Fraction, str]:
    key = unit.strip().lower()
    if key in _MASS_IN_MG:
        return amount * _MASS_IN_MG[key], "mg"
    if key in _VOLUME_IN_ML:
        return amount * _VOLUME_IN_ML[key], "ml"
    return amount, key


def normalise_dosage_form(form: str) -> str:
    """The dosage form without coating words; release, chewable, disintegrating words stay."""
    parts = [" ".join(part.split()) for part in form.upper().split(",")]
    return ", ".join(part for part in parts if part and part not in _COATING_QUALIFIERS)


def strength_text(strength: str, unit: str) -> str:
    """ "5; 325", "mg/1; mg/1" → "5 mg; 325 mg": each strength with its unit, "per 1" dropped."""
    values = [value.strip() for value in strength.split(";")]
    units = [item.strip() for item in unit.split(";")]
    if len(units) != len(values):
        return f"{strength} {unit}".strip()
    shown = []
    for value, each in zip(values, units, strict=True):
        each = each.removesuffix("/1").replace("ug", "mcg")
        number = f"0{value}" if value.startswith(".") else value
        shown.append(f"{number} {each}".strip())
    return "; ".join(shown)


def is_counted_by_unit(facts: ProductFacts) -> bool:
    """Tablets, capsules and the like billed each: counted out of any package of the product."""
    base_form = normalise_dosage_form(facts.dosage_form).split(",")[0]
    return facts.billing_unit.upper() == "EA" and base_form in _COUNTED_FORMS


def _ingredients(facts: ProductFacts) -> frozenset[tuple[str, object]]:
    """Each moiety paired with its strength; raw text where a strength has no number."""
    names = facts.substance_name.split(";")
    values = facts.strength.split(";")
    units = facts.strength_unit.split(";")
    if not (len(names) == len(values) == len(units)):
        return frozenset(
            {(facts.substance_name.upper(), f"{facts.strength} {facts.strength_unit}")}
        )
    pairs: set[tuple[str, object]] = set()
    for name, value, unit in zip(names, values, units, strict=True):
        strength: object
        try:
            strength = normalise_strength(value, unit)
        except StrengthUnreadable:
            strength = (value.strip(), unit.strip())
        pairs.add((normalise_moiety(name), strength))
    return frozenset(pairs)


def compare_products(expected: ProductFacts, scanned: ProductFacts) -> Verdict:
    """match, package-size-differs, other-manufacturer or wrong-drug (rules in the docstring)."""
    if scanned.package_ndc == expected.package_ndc:
        return Verdict.MATCH
    if scanned.product_ndc == expected.product_ndc:
        return Verdict.PACKAGE_SIZE_DIFFERS
    if not (expected.substance_name.strip() and scanned.substance_name.strip()):
        return Verdict.WRONG_DRUG  # unlisted ingredients (some kits) cannot be shown the same
    if _ingredients(scanned) == _ingredients(expected) and normalise_dosage_form(
        scanned.dosage_form
    ) == normalise_dosage_form(expected.dosage_form):
        return Verdict.OTHER_MANUFACTURER
    return Verdict.WRONG_DRUG


def _differences(expected: ProductFacts, scanned: ProductFacts) -> str:
    if not (expected.substance_name.strip() and scanned.substance_name.strip()):
        return "the directory lists no ingredients to compare"
    moieties = {moiety for moiety, _ in _ingredients(expected)}
    if moieties != {moiety for moiety, _ in _ingredients(scanned)}:
        return "the ingredients differ"
    found = []
    if _ingredients(expected) != _ingredients(scanned):
        found.append("the strength differs")
    if normalise_dosage_form(expected.dosage_form) != normalise_dosage_form(scanned.dosage_form):
        found.append(f"the dosage form differs ({expected.dosage_form} / {scanned.dosage_form})")
    return " and ".join(found)


def judge_scan(
    *,
    expected: ProductFacts,
    scan: Scan | ScanError,
    found: Sequence[ProductFacts],
    today: date,
    lot_status: str | None = None,
    expiry: date | None = None,
    days_supply: int | None = None,
) -> VerdictResult:
    """The verdict on a scanned bottle for a fill of `expected`.

    `found` is every catalogue package the scan's code can name; `lot_status` the stock lot's
    status when the lot is known; `expiry` the expiry known otherwise (the stock lot, or typed
    from the package), used when the scan carries none.
    """
    if isinstance(scan, ScanError):
        return VerdictResult(Verdict.INVALID, f"The scan cannot be used. {scan.message}")
    if scan.kind is ScanKind.RX_LABEL:
        return VerdictResult(
            Verdict.INVALID,
            f"That is an Rx label (Rx {scan.rx_number}, fill {scan.fill_number}), not a stock "
            f"package: scan the manufacturer's barcode on the bottle of {expected.label}.",
        )
    ndcs = sorted({facts.package_ndc for facts in found})
    if not ndcs:
        readings = ", ".join(candidate.hyphenated for candidate in scan.candidates)
        return VerdictResult(
            Verdict.UNKNOWN,
            f"The code (NDC {readings}) is valid but not in the drug catalogue: a pharmacist "
            "may add the product from the package, then the bottle is scanned again and judged "
            f"against {expected.label}.",
            overridable=True,
            requires=Requirement.PHARMACIST_OVERRIDE,
        )
    if len(ndcs) > 1:
        return VerdictResult(
            Verdict.AMBIGUOUS,
            f"The code can mean NDC {', '.join(ndcs)}: type the NDC with its hyphens as printed "
            "on the package.",
        )
    scanned = found[0]
    product_verdict = compare_products(expected, scanned)
    expiry = scan.expiry or expiry
    applicable = [product_verdict]
    if lot_status in UNUSABLE_LOT_STATUSES:
        applicable.append(Verdict.RECALLED)
    if expiry is not None and expiry < today:
        applicable.append(Verdict.EXPIRED)
    verdict = min(applicable, key=PRECEDENCE.index)
    warnings = _warnings(expected, scanned, expiry=expiry, today=today, days_supply=days_supply)
    return _result(
        verdict,
        expected,
        scanned,
        scan=scan,
        expiry=expiry,
        lot_status=lot_status,
        warnings=warnings,
    )


def _warnings(
    expected: ProductFacts,
    scanned: ProductFacts,
    *,
    expiry: date | None,
    today: date,
    days_supply: int | None,
) -> tuple[str, ...]:
    warnings = []
    if expiry is not None and days_supply is not None and expiry >= today:
        last_day = today + timedelta(days=days_supply)
        if expiry < last_day:
            warnings.append(
                f"Short expiry: this bottle expires on {expiry.isoformat()}, before the end of "
                f"the {days_supply}-day supply ({last_day.isoformat()})."
            )
    schedules = {expected.dea_schedule, scanned.dea_schedule}
    if "CII" in schedules:
        warnings.append("Schedule II controlled substance (C-II).")
    if len(schedules) > 1:
        # The directory is the labeler's word: one oxycodone listing carries no schedule at all.
        warnings.append(
            "The FDA directory lists different DEA schedules: prescribed "
            f"{expected.dea_schedule or 'none'}, scanned {scanned.dea_schedule or 'none'}."
        )
    return tuple(warnings)


def _result(
    verdict: Verdict,
    expected: ProductFacts,
    scanned: ProductFacts,
    *,
    scan: Scan,
    expiry: date | None,
    lot_status: str | None,
    warnings: tuple[str, ...],
) -> VerdictResult:
    if verdict is Verdict.WRONG_DRUG:
        return VerdictResult(
            verdict,
            f"Wrong drug ({_differences(expected, scanned)}): the prescription is for "
            f"{expected.label}; this is {scanned.label}. Put it back.",
            warnings,
        )
    if verdict is Verdict.RECALLED:
        return VerdictResult(
            verdict,
            f"Lot {scan.lot} of {scanned.label} is {lot_status}: do not dispense it; set the "
            "bottle aside for the pharmacist.",
            warnings,
        )
    if verdict is Verdict.EXPIRED:
        assert expiry is not None
        return VerdictResult(
            verdict,
            f"This bottle of {scanned.label} expired on {expiry.isoformat()}: do not dispense "
            "it; set it aside for return.",
            warnings,
        )
    if scanned.sample_package and verdict is not Verdict.MATCH:
        return VerdictResult(
            verdict,
            f"This is a sample package ({_spaced(scanned.description)}) of {scanned.label}: "
            "samples are not dispensed on a prescription fill. Take a stock package.",
            warnings,
        )
    if verdict is Verdict.OTHER_MANUFACTURER:
        same_labeler = scanned.labeler == expected.labeler
        kind = (
            "under another product NDC of the same labeler"
            if same_labeler
            else "from another manufacturer"
        )
        return VerdictResult(
            verdict,
            f"The same drug {kind}: the prescription is for {expected.label}; this is "
            f"{scanned.label}. A pharmacist must approve it. {NOT_THERAPEUTIC_EQUIVALENCE}",
            warnings,
            overridable=True,
            requires=Requirement.PHARMACIST_OVERRIDE,
        )
    if verdict is Verdict.PACKAGE_SIZE_DIFFERS:
        sizes = (
            f"The same product in another package: prescribed {_spaced(expected.description)}, "
            f"scanned {_spaced(scanned.description)}."
        )
        if is_counted_by_unit(expected):
            return VerdictResult(
                verdict,
                f"{sizes} It is counted out by the unit, so it may be used once you confirm.",
                warnings,
                overridable=True,
                requires=Requirement.CONFIRMATION,
            )
        return VerdictResult(
            verdict,
            f"{sizes} It is dispensed as whole packages, so the prescription goes back to data "
            "entry for the package NDC and quantity.",
            warnings,
            requires=Requirement.DATA_ENTRY,
        )
    return VerdictResult(verdict, f"Match: {scanned.label}.", warnings)


def _spaced(text: str) -> str:
    return " ".join(text.split())

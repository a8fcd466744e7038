"""Sig codes into plain-language directions, the most dose units a day, and days supply.

A sig is read clause by clause ("… THEN …"); each clause is a verb, a dose with its unit, a
route, a frequency or meal/bedtime timings, modifiers (PRN with an indication, with food, as
directed), a duration and a cap ("UP TO 3 DOSES"). The words come from a `SigTable` the pharmacy
may extend or override; numbers, "Q4-6H", "X7D" and "FOR 7 DAYS" are read here.

What is printed follows ISMP's list of error-prone abbreviations: words, never "U", "QD", "OD" or
"SC"; decimals with a leading zero and without a trailing one; "1/2" rather than "½"; commas in
numbers from 1,000. A table entry whose words break those rules is refused, so no directions we
compose contain them. A sig we cannot read completely is never refused: the text is kept as typed
and the pharmacist is asked to review it (tapers and complex instructions are written that way).
Directions are one sentence, capitalised, without a final period: the label adds its own.

Spanish directions come from the same reading: each English phrase the clause printed is looked
up in a `SpanishSigTable` (keyed by kind and English words, so every code meaning "twice daily"
shares one translation) and put back in the same clause order ("Tome 1 tableta por vía oral dos
veces al día"). A sig not read completely, or any phrase without Spanish, gives no Spanish at
all: a label never carries half-translated directions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from app.errors import ValidationFailed

# Fractional daily rates (every other day, weekly) become decimals rounded down to this many
# places: a rate rounded down can only lengthen days supply, by far less than a day.
_RATE_PLACES = 12


class TokenKind(StrEnum):
    VERB = "verb"
    DOSE_UNIT = "dose_unit"
    ROUTE = "route"
    FREQUENCY = "frequency"
    TIMING = "timing"
    MODIFIER = "modifier"
    INDICATION = "indication"
    DURATION = "duration"


class SigTableInvalid(ValidationFailed):
    """An abbreviation entry that cannot be used; `facts["key"]` names it."""

    code = "sig-table-invalid"


class DaysSupplyInvalid(ValidationFailed):
    code = "days-supply-invalid"


@dataclass(frozen=True, slots=True)
class _Problem:
    pattern: re.Pattern[str]
    why: str
    write: str
    all_caps_too: bool = True


def _bounded(core: str) -> str:
    return rf"(?<![A-Za-z0-9]){core}(?![A-Za-z0-9])"


# ISMP's List of Error-Prone Abbreviations, Symbols and Dose Designations, for printed text.
_ISMP_PROBLEMS = (
    _Problem(
        re.compile(_bounded(r"[Qq]\.?[Oo]\.?[Dd]\.?")),
        "is mistaken for QD or QID",
        "“every other day”",
    ),
    _Problem(
        re.compile(_bounded(r"[Qq]\.?[Hh]\.?[Ss]\.?")), "is mistaken for every hour", "“at bedtime”"
    ),
    _Problem(re.compile(_bounded(r"[Qq]\.?[Dd]\.?")), "is mistaken for QID", "“daily”"),
    _Problem(
        re.compile(_bounded(r"[Hh]\.?[Ss]\.?")),
        "means half-strength or bedtime",
        "“at bedtime” or “half-strength”",
    ),
    _Problem(
        re.compile(_bounded(r"[Tt]\.?[Ii]\.?[Ww]\.?")),
        "is mistaken for twice a week",
        "“3 times weekly”",
    ),
    _Problem(re.compile(_bounded(r"[Ii][Uu]")), "is mistaken for IV or 10", "“units”"),
    _Problem(re.compile(r"(?<![A-Za-z])[Uu](?![A-Za-z])"), "is mistaken for 0 or 4", "“units”"),
    _Problem(re.compile(r"[µμ]g|(?<=\d)\s?ug(?![A-Za-z])"), "is mistaken for mg", "“mcg”"),
    _Problem(re.compile(_bounded(r"[Cc][Cc]")), "is mistaken for U (units)", "“mL”"),
    _Problem(
        re.compile(r"(?<![\d.])\d+\.\d*0(?!\d)"),
        "a trailing zero is missed, 10-fold overdose",
        "the number without the trailing zero",
    ),
    _Problem(
        re.compile(r"(?<![\w.])\.\d"),
        "a naked decimal point is missed, 10-fold overdose",
        "a leading zero (0.5)",
    ),
    _Problem(
        re.compile(_bounded(r"(?:O\.?[DSU]|o\.[dsu]|A\.?U|a\.[dsu])\.?")),
        "eyes and ears are confused",
        "“right eye”, “left ear”, “both eyes”…",
    ),
    _Problem(
        re.compile(_bounded(r"A\.?[DS]\.?")),
        "eyes and ears are confused",
        "“right ear” or “left ear”",
        all_caps_too=False,
    ),
    _Problem(
        # Grouped: an alternation left bare would bound only its last branch ("scored").
        re.compile(_bounded(r"(?:(?:S\.?[CQ]|s\.?[cq])\.?|[Ss]ub [Qq])")),
        "is mistaken for SL or “5 every”",
        "“under the skin” or “subcut”",
    ),
    _Problem(
        re.compile(_bounded(r"[Dd]/[Cc]")), "means discharge or discontinue", "the word meant"
    ),
    _Problem(
        re.compile(_bounded(r"(?:MS(?:O4)?|MgSO4)")),
        "morphine and magnesium sulfate are confused",
        "the drug's full name",
    ),
    _Problem(
        re.compile(_bounded(r"[xX]\d+[dD]")), "means days or doses", "“for 3 days” or “3 doses”"
    ),
    _Problem(
        re.compile(r"[<>]"),
        "the symbols are read the wrong way round",
        "“more than” or “less than”",
    ),
    _Problem(re.compile(r"[@&+]"), "is mistaken for a digit", "“at”, “and” or “plus”"),
    _Problem(
        re.compile(r"(?<![\d,./])\d{5,}"),
        "a large number without commas is misread",
        "commas (100,000)",
    ),
)


def ismp_problems(text: str) -> list[str]:
    """One sentence per ISMP error-prone abbreviation or number form in `text`, in order.

    In text written all in capitals "AS" and "AD" are English words as often as ears, so they
    are only reported in mixed-case text, where capitals stand out as an abbreviation.
    """
    all_caps = not any(char.islower() for char in text)
    found: list[tuple[int, str]] = []
    taken: set[int] = set()
    for problem in _ISMP_PROBLEMS:
        if all_caps and not problem.all_caps_too:
            continue
        for match in problem.pattern.finditer(text):
            if match.start() in taken:
                continue
            taken.update(range(match.start(), match.end()))
            sentence = f"“{match.group()}” {problem.why}: write {problem.write}."
            found.append((match.start(), sentence))
    return [sentence for _, sentence in sorted(found)]


@dataclass(frozen=True, slots=True)
class SigEntry:
    """One abbreviation (or phrase) and what it means as one kind of word.

    Units: `text`/`plural` are printed, `scale` converts (TSP → 5 mL), `countable` says the
    dispensed quantity is counted in this unit (not so for drops, puffs, sprays or insulin units,
    whose days supply depends on the package). Routes: `sites` doubles a dose given in both eyes
    or each nostril. Frequencies and timings: `per_day` administrations. Durations: `days`.
    """

    key: str
    kind: TokenKind
    text: str
    plural: str = ""
    verb: str = ""
    countable: bool = True
    scale: Decimal = Decimal(1)
    sites: int = 1
    per_day: Fraction | None = None
    as_needed: bool = False
    days: int = 0

    @property
    def plural_text(self) -> str:
        return self.plural or self.text


def verb(key: str, text: str) -> SigEntry:
    return SigEntry(key, TokenKind.VERB, text)


def dose_unit(
    key: str,
    singular: str,
    plural: str,
    *,
    verb: str,
    countable: bool = True,
    scale: Decimal = Decimal(1),
) -> SigEntry:
    return SigEntry(
        key, TokenKind.DOSE_UNIT, singular, plural, verb=verb, countable=countable, scale=scale
    )


def route(key: str, text: str, *, verb: str, sites: int = 1) -> SigEntry:
    return SigEntry(key, TokenKind.ROUTE, text, verb=verb, sites=sites)


def frequency(key: str, text: str, per_day: Fraction | int | None) -> SigEntry:
    rate = None if per_day is None else Fraction(per_day)
    return SigEntry(key, TokenKind.FREQUENCY, text, per_day=rate)


def timing(key: str, text: str, per_day: int) -> SigEntry:
    return SigEntry(key, TokenKind.TIMING, text, per_day=Fraction(per_day))


def modifier(key: str, text: str, *, as_needed: bool = False) -> SigEntry:
    return SigEntry(key, TokenKind.MODIFIER, text, as_needed=as_needed)


def indication(key: str, text: str) -> SigEntry:
    return SigEntry(key, TokenKind.INDICATION, text)


def duration_unit(key: str, singular: str, plural: str, days: int) -> SigEntry:
    return SigEntry(key, TokenKind.DURATION, singular, plural, days=days)


_KEY_WORD = re.compile(r"[A-Z][A-Z0-9/]*")


def normalise_words(text: str) -> list[str]:
    """Upper-case words without commas or abbreviation periods ("Q.D." → "QD", ".5" stays)."""
    words = []
    for raw in re.split(r"[\s,;]+", text.upper()):
        word = raw.rstrip(".")
        if not any(char.isdigit() for char in word):
            word = word.replace(".", "")
        if word:
            words.append(word)
    return words


def _validate(entry: SigEntry) -> SigEntry:
    def refuse(why: str) -> SigTableInvalid:
        return SigTableInvalid(f"Sig code “{entry.key}”: {why}", key=entry.key, kind=entry.kind)

    words = normalise_words(entry.key)
    if not words or not all(_KEY_WORD.fullmatch(word) for word in words):
        raise refuse("a code is letters (then digits or /), in one or more words.")
    for printed in (entry.text, entry.plural, entry.verb):
        if problems := ismp_problems(printed):
            raise refuse(" ".join(problems))
    if not entry.text.strip():
        raise refuse("it needs the words to print.")
    rated = entry.kind in (TokenKind.FREQUENCY, TokenKind.TIMING)
    if rated and entry.per_day is not None and entry.per_day <= 0:
        raise refuse("a frequency is more than zero times a day.")
    if entry.kind is TokenKind.TIMING and entry.per_day is None:
        raise refuse("a timing says how many times a day it happens.")
    if entry.kind is TokenKind.DURATION and entry.days < 1:
        raise refuse("a duration unit lasts at least one day.")
    if entry.scale <= 0 or entry.sites < 1:
        raise refuse("scale and sites must be positive.")
    return entry


class SigTable:
    """The abbreviations a pharmacy's sigs use: the defaults, then the pharmacy's overrides.

    A code may mean one thing per kind ("T" is *take* as a verb and *tablet* as a unit); which
    is meant is decided by where it stands.
    """

    def __init__(self, entries: Iterable[SigEntry]) -> None:
        table: dict[str, dict[TokenKind, SigEntry]] = {}
        for entry in entries:
            key = " ".join(normalise_words(_validate(entry).key))
            meanings = table.setdefault(key, {})
            if entry.kind in meanings:
                raise SigTableInvalid(
                    f"Sig code “{key}” is defined twice as a {entry.kind.value}.",
                    key=key,
                    kind=entry.kind,
                )
            meanings[entry.kind] = entry
        self._table = MappingProxyType(
            {key: MappingProxyType(meanings) for key, meanings in table.items()}
        )
        self.longest_key = max((len(key.split()) for key in self._table), default=1)

    def with_overrides(
        self, overrides: Iterable[SigEntry] = (), *, removed: Iterable[tuple[str, TokenKind]] = ()
    ) -> SigTable:
        """A new table: `overrides` replace or add meanings, `removed` (code, kind) drop them."""
        replaced = {(" ".join(normalise_words(e.key)), e.kind): e for e in overrides}
        dropped = {(" ".join(normalise_words(key)), kind) for key, kind in removed}
        kept = [
            entry
            for entry in self
            if (key := " ".join(normalise_words(entry.key)), entry.kind) not in replaced
            and (key, entry.kind) not in dropped
        ]
        return SigTable([*kept, *replaced.values()])

    def meanings(self, key: str) -> Mapping[TokenKind, SigEntry]:
        return self._table.get(key, MappingProxyType({}))

    def __iter__(self) -> Iterator[SigEntry]:
        for meanings in self._table.values():
            yield from meanings.values()

    def __len__(self) -> int:
        return sum(len(meanings) for meanings in self._table.values())


def _many(keys: str, make: Callable[..., SigEntry], *args: Any, **kwargs: Any) -> list[SigEntry]:
    """One entry per code in `keys` ("T|TAB|TABLET"), all meaning the same."""
    return [make(key, *args, **kwargs) for key in keys.split("|")]


_BOTH_SIDES: dict[str, Any] = {"verb": "instill", "sites": 2}


_DEFAULTS: list[SigEntry] = [
    *_many("T|TK|TAKE", verb, "take"),
    *_many("I|INH|INHALE", verb, "inhale"),
    *_many("INST|INSTILL", verb, "instill"),
    *_many("AA|APPLY", verb, "apply"),
    *_many("U|USE", verb, "use"),
    *_many("CH|CHEW", verb, "chew"),
    *_many("DIS|DISSOLVE", verb, "dissolve"),
    *_many("INJ|INJECT", verb, "inject"),
    *_many("SPR|SPRAY", verb, "spray"),
    *_many("INS|INSERT", verb, "insert"),
    *_many("PL|PLACE", verb, "place"),
    *_many("GIVE", verb, "give"),
    *_many("T|TS|TAB|TABS|TABLET|TABLETS", dose_unit, "tablet", "tablets", verb="take"),
    *_many("C|CAP|CAPS|CAPSULE|CAPSULES", dose_unit, "capsule", "capsules", verb="take"),
    *_many("GTT|GTTS|DROP|DROPS", dose_unit, "drop", "drops", verb="instill", countable=False),
    *_many("PUFF|PUFFS", dose_unit, "puff", "puffs", verb="inhale", countable=False),
    *_many("ML|MLS", dose_unit, "mL", "mL", verb="take"),
    # ISMP: teaspoons and tablespoons are measured wrongly at home; print the mL.
    *_many("TSP|TSPS|TEASPOON|TEASPOONS", dose_unit, "mL", "mL", verb="take", scale=Decimal(5)),
    *_many("TBSP|TABLESPOON|TABLESPOONS", dose_unit, "mL", "mL", verb="take", scale=Decimal(15)),
    *_many("SPR|SPRAY|SPRAYS", dose_unit, "spray", "sprays", verb="use", countable=False),
    *_many("U|IU|UNIT|UNITS", dose_unit, "unit", "units", verb="inject", countable=False),
    *_many("PATCH|PATCHES", dose_unit, "patch", "patches", verb="apply"),
    *_many(
        "SUPP|SUPPS|SUPPOSITORY|SUPPOSITORIES",
        dose_unit,
        "suppository",
        "suppositories",
        verb="insert",
    ),
    *_many(
        "APPL|APPLICATION|APPLICATIONS",
        dose_unit,
        "application",
        "applications",
        verb="apply",
        countable=False,
    ),
    *_many("PKT|PACKET|PACKETS", dose_unit, "packet", "packets", verb="take"),
    *_many("LOZ|LOZENGE|LOZENGES", dose_unit, "lozenge", "lozenges", verb="dissolve"),
    # A strength, not a count: the quantity dispensed is not in mg.
    *_many("MG", dose_unit, "mg", "mg", verb="take", countable=False),
    *_many("MCG", dose_unit, "mcg", "mcg", verb="take", countable=False),
    *_many("PO|ORALLY|BY MOUTH", route, "by mouth", verb="take"),
    *_many("SL|SUBLINGUALLY|UNDER THE TONGUE", route, "under the tongue", verb="dissolve"),
    *_many("PR|RECTALLY", route, "rectally", verb="insert"),
    *_many("PV|VAG|VAGINALLY", route, "vaginally", verb="insert"),
    *_many("TOP|TOPICALLY", route, "to the skin", verb="apply"),
    *_many("OU|EACH EYE|IN EACH EYE|BOTH EYES|IN BOTH EYES", route, "in both eyes", **_BOTH_SIDES),
    *_many("OD|RIGHT EYE|IN THE RIGHT EYE", route, "in the right eye", verb="instill"),
    *_many("OS|LEFT EYE|IN THE LEFT EYE", route, "in the left eye", verb="instill"),
    *_many("AU|EACH EAR|IN EACH EAR|BOTH EARS|IN BOTH EARS", route, "in both ears", **_BOTH_SIDES),
    *_many("AD|RIGHT EAR|IN THE RIGHT EAR", route, "in the right ear", verb="instill"),
    *_many("AS|LEFT EAR|IN THE LEFT EAR", route, "in the left ear", verb="instill"),
    *_many("IH|INH|BY INHALATION", route, "by inhalation", verb="inhale"),
    *_many("SQ|SC|SUBQ|SUBCUT|SUBCUTANEOUSLY", route, "under the skin", verb="inject"),
    *_many("IM|INTRAMUSCULARLY", route, "into the muscle", verb="inject"),
    *_many("IV|INTRAVENOUSLY", route, "into a vein", verb="inject"),
    *_many(
        "IN|NAS|EACH NOSTRIL|IN EACH NOSTRIL|INTRANASALLY",
        route,
        "in each nostril",
        verb="use",
        sites=2,
    ),
    *_many("QD|DAILY|QDAY|ONCE DAILY|EVERY DAY|ONCE A DAY", frequency, "once daily", 1),
    *_many("BID|TWICE DAILY|TWICE A DAY", frequency, "twice daily", 2),
    *_many("TID|THREE TIMES DAILY|THREE TIMES A DAY", frequency, "three times daily", 3),
    *_many("QID|FOUR TIMES DAILY|FOUR TIMES A DAY", frequency, "four times daily", 4),
    *_many("QOD|EVERY OTHER DAY", frequency, "every other day", Fraction(1, 2)),
    *_many("QW|QWK|WEEKLY|ONCE WEEKLY|ONCE A WEEK", frequency, "once weekly", Fraction(1, 7)),
    *_many("BIW|TWICE WEEKLY|TWICE A WEEK", frequency, "twice weekly", Fraction(2, 7)),
    *_many("TIW|THREE TIMES WEEKLY", frequency, "three times weekly", Fraction(3, 7)),
    *_many("STAT|NOW", frequency, "now", 1),
    *_many("ONCE|ONE TIME", frequency, "once", 1),
    *_many("QHS|HS|AT BEDTIME", timing, "at bedtime", 1),
    *_many("QAM|EVERY MORNING|IN THE MORNING", timing, "every morning", 1),
    *_many("QPM|EVERY EVENING|IN THE EVENING", timing, "every evening", 1),
    *_many("AC|BEFORE MEALS", timing, "before meals", 3),
    *_many("PC|AFTER MEALS", timing, "after meals", 3),
    *_many("PRN|AS NEEDED", modifier, "as needed", as_needed=True),
    *_many("UD|AS DIRECTED|AS DIR", modifier, "as directed"),
    *_many("WF|WITH FOOD", modifier, "with food"),
    *_many("WM|WITH MEALS", modifier, "with meals"),
    *_many("WITH WATER|WITH A FULL GLASS OF WATER", modifier, "with a full glass of water"),
    *_many("ATC|AROUND THE CLOCK", modifier, "around the clock"),
    *_many("WA|WHILE AWAKE", modifier, "while awake"),
    *_many("PAIN", indication, "pain"),
    *_many("SOB|SHORTNESS OF BREATH", indication, "shortness of breath"),
    *_many("CP|CHEST PAIN", indication, "chest pain"),
    *_many("NV|N/V|NAUSEA|NAUSEA OR VOMITING", indication, "nausea or vomiting"),
    *_many("HA|HEADACHE", indication, "headache"),
    *_many("ANX|ANXIETY", indication, "anxiety"),
    *_many("SLEEP|INSOMNIA", indication, "sleep"),
    *_many("ITCH|ITCHING", indication, "itching"),
    *_many("FEVER", indication, "fever"),
    *_many("COUGH", indication, "cough"),
    *_many("WHEEZ|WHEEZING", indication, "wheezing"),
    *_many("CONST|CONSTIPATION", indication, "constipation"),
    *_many("DIARRHEA", indication, "diarrhea"),
    *_many("SZ|SEIZURE|SEIZURES", indication, "seizures"),
    *_many("BP|BLOOD PRESSURE", indication, "blood pressure"),
    *_many("HTN", indication, "high blood pressure"),
    *_many("SPASM|SPASMS|MUSCLE SPASM", indication, "muscle spasm"),
    *_many("HEARTBURN", indication, "heartburn"),
    *_many("ALLERGIES", indication, "allergies"),
    *_many("INFECTION", indication, "infection"),
    *_many("D|DAY|DAYS|DYS", duration_unit, "day", "days", 1),
    *_many("W|WK|WKS|WEEK|WEEKS", duration_unit, "week", "weeks", 7),
]

DEFAULT_SIG_TABLE = SigTable(_DEFAULTS)


@dataclass(frozen=True, slots=True)
class SigExpansion:
    """A sig read: the directions to print and what the bench needs to count and check.

    `max_daily_units` is in the printed unit (`dose_unit`), both eyes or nostrils counted;
    `package_dispensed` says the quantity dispensed is not counted in that unit (drops, puffs,
    sprays, insulin units, mg), so days supply is the pharmacist's judgement from the package.
    """

    code: str
    directions: str
    parsed: bool
    unparsed_tokens: tuple[str, ...] = ()
    max_daily_units: Decimal | None = None
    dose_unit: str | None = None
    package_dispensed: bool = False
    duration_days: int | None = None
    review_reasons: tuple[str, ...] = ()

    @property
    def needs_pharmacist_review(self) -> bool:
        return bool(self.review_reasons)


@dataclass(frozen=True, slots=True)
class _Dose:
    low: Fraction
    high: Fraction
    text: str


@dataclass(frozen=True, slots=True)
class _Rate:
    text: str
    per_day: Fraction | None
    # An interval read from the sig ("Q4-6H") is worded here in Spanish too; a table
    # frequency is translated through the Spanish table instead.
    spanish: str = ""


@dataclass(frozen=True, slots=True)
class _Duration:
    count: int
    unit: SigEntry

    @property
    def text(self) -> str:
        return f"for {self.count} {self.unit.text if self.count == 1 else self.unit.plural_text}"


@dataclass(frozen=True, slots=True)
class _Cap:
    doses: int
    per_day: bool

    @property
    def text(self) -> str:
        doses = f"{self.doses} dose{'s' if self.doses != 1 else ''}"
        return f"no more than {doses} a day" if self.per_day else f"up to {doses}"


@dataclass(frozen=True, slots=True)
class _Indication:
    entry: SigEntry


_Item = _Dose | _Rate | _Duration | _Cap | _Indication | Mapping[TokenKind, SigEntry]
_SLOTS = {_Rate: "rate", _Duration: "duration", _Cap: "cap", _Indication: "indication"}

_NUMBER = r"\d+(?:\.\d*)?|\.\d+"
_DOSE = re.compile(rf"(?:(?P<num>\d+)/(?P<den>[234])|(?P<low>{_NUMBER})(?:-(?P<high>{_NUMBER}))?)")
_EVERY = re.compile(
    r"Q(?P<low>\d+)(?:-(?P<high>\d+))?(?P<unit>H|HR|HRS|HOURS?|MIN|MINS|MINUTES?|D|DAYS?|W|WKS?)"
)
_DURATION = re.compile(r"(?:X ?|FOR )(?P<count>\d+) ?(?P<unit>[A-Z]+)")
_CAP = re.compile(
    r"(?:UP TO|NTE|MAX) (?P<doses>\d+)(?: DOSES?| TIMES)?"
    r"(?P<per_day> (?:PER DAY|A DAY|DAILY|IN 24 HOURS|PER 24 HOURS))?"
)
_LONGEST_PATTERN = 7
# Beyond this a number in a sig is a typing error, not a dose or an interval.
_MAX_NUMBER = 1_000_000


def _number(text: str) -> Fraction:
    return Fraction(Decimal(text))


def format_number(value: Fraction) -> str:
    """A dose as ISMP wants it printed: 0.5 not .5, 1 not 1.0, 10,000 not 10000."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    if Fraction(exact) != value:
        exact = exact.quantize(Decimal("0.001"))
    return f"{exact.normalize():,f}"


def _dose(match: re.Match[str]) -> _Dose | None:
    if match["num"]:
        value = Fraction(int(match["num"]), int(match["den"]))
        if value >= 1 or value <= 0:
            return None
        return _Dose(value, value, f"{value.numerator}/{value.denominator}")
    low = _number(match["low"])
    high = _number(match["high"]) if match["high"] else low
    if low <= 0 or high < low or high > _MAX_NUMBER or (match["high"] and high == low):
        return None
    text = format_number(low) + (f" to {format_number(high)}" if match["high"] else "")
    return _Dose(low, high, text)


def _every(match: re.Match[str]) -> _Rate | None:
    low, high = int(match["low"]), int(match["high"] or match["low"])
    if low <= 0 or high < low or high > _MAX_NUMBER or (match["high"] and high == low):
        return None
    unit = match["unit"]
    span = f"{low} to {high}" if match["high"] else str(low)
    if unit.startswith("H"):
        name, hours_each, one_es, many_es = "hour", 1, "hora", "horas"
    elif unit.startswith("M"):
        name, hours_each, one_es, many_es = "minute", 0, "minuto", "minutos"
    elif unit.startswith("D"):
        name, hours_each, one_es, many_es = "day", 24, "día", "días"
    else:
        name, hours_each, one_es, many_es = "week", 24 * 7, "semana", "semanas"
    text = f"every {name}" if span == "1" else f"every {span} {name}s"
    span_es = span.replace(" to ", " a ")
    spanish = f"cada {one_es}" if span == "1" else f"cada {span_es} {many_es}"
    # Minute intervals (nitroglycerin) repeat within an episode: no daily rate follows.
    per_day = Fraction(24, low * hours_each) if hours_each else None
    return _Rate(text, per_day, spanish)


def _match_at(words: list[str], at: int, table: SigTable) -> tuple[_Item, int] | None:
    """The longest table phrase or number pattern starting at `words[at]`, and its length."""
    for size in range(min(table.longest_key, len(words) - at), 0, -1):
        meanings = table.meanings(" ".join(words[at : at + size]))
        if meanings:
            return meanings, size
    if words[at] == "FOR":
        for size in range(min(table.longest_key, len(words) - at - 1), 0, -1):
            meanings = table.meanings(" ".join(words[at + 1 : at + 1 + size]))
            if TokenKind.INDICATION in meanings:
                return _Indication(meanings[TokenKind.INDICATION]), size + 1
    for size in range(min(_LONGEST_PATTERN, len(words) - at), 0, -1):
        phrase = " ".join(words[at : at + size])
        if size == 1 and (match := _DOSE.fullmatch(phrase)):
            return (dose, 1) if (dose := _dose(match)) else None
        if size == 1 and (match := _EVERY.fullmatch(phrase)):
            return (rate, 1) if (rate := _every(match)) else None
        if match := _DURATION.fullmatch(phrase):
            unit = table.meanings(match["unit"]).get(TokenKind.DURATION)
            if unit and int(match["count"]) > 0:
                return _Duration(int(match["count"]), unit), size
        if (match := _CAP.fullmatch(phrase)) and int(match["doses"]) > 0:
            return _Cap(int(match["doses"]), per_day=bool(match["per_day"])), size
    return None


# Which meaning of a many-meaning code to try first, once a clause has begun.
_PREFERENCE = (
    TokenKind.ROUTE,
    TokenKind.FREQUENCY,
    TokenKind.TIMING,
    TokenKind.MODIFIER,
    TokenKind.INDICATION,
    TokenKind.DOSE_UNIT,
    TokenKind.VERB,
)


@dataclass
class _Clause:
    verb: SigEntry | None = None
    dose: _Dose | None = None
    unit: SigEntry | None = None
    route: SigEntry | None = None
    rate: _Rate | None = None
    timings: list[SigEntry] = field(default_factory=list)
    modifiers: list[SigEntry] = field(default_factory=list)
    as_needed: bool = False
    indication: _Indication | None = None
    duration: _Duration | None = None
    cap: _Cap | None = None
    last: object = None

    @property
    def empty(self) -> bool:
        return self.last is None

    def place(self, item: _Item) -> bool:
        """Put `item` in its slot; False when the slot is taken or the item is out of place."""
        placed = self._place(item)
        if placed is not None:
            self.last = placed
        return placed is not None

    def _place(self, item: _Item) -> object | None:
        if isinstance(item, _Dose):
            return item if not (self.dose or self.unit) and self._set("dose", item) else None
        if isinstance(item, _Rate | _Duration | _Cap | _Indication):
            return item if self._set(_SLOTS[type(item)], item) else None
        for kind in self._kinds_to_try(item):
            if self._place_entry(item[kind]):
                return item[kind]
        return None

    def _kinds_to_try(self, meanings: Mapping[TokenKind, SigEntry]) -> list[TokenKind]:
        if self.empty and TokenKind.VERB in meanings:
            return [TokenKind.VERB]
        if isinstance(self.last, _Dose) and TokenKind.DOSE_UNIT in meanings:
            return [TokenKind.DOSE_UNIT]
        return [kind for kind in _PREFERENCE if kind in meanings]

    def _place_entry(self, entry: SigEntry) -> bool:
        kind = entry.kind
        if kind is TokenKind.VERB:
            return self.empty and self._set("verb", entry)
        if kind is TokenKind.DOSE_UNIT:
            return isinstance(self.last, _Dose) and self._set("unit", entry)
        if kind is TokenKind.ROUTE:
            return self._set("route", entry)
        if kind is TokenKind.FREQUENCY:
            return self._set("rate", _Rate(entry.text, entry.per_day))
        if kind is TokenKind.TIMING:
            return self._add(self.timings, entry)
        if kind is TokenKind.MODIFIER:
            if entry.as_needed:
                if self.as_needed:
                    return False
                self.as_needed = True
                return True
            return self._add(self.modifiers, entry)
        if kind is TokenKind.INDICATION:
            # "PAIN" alone is an indication only right after PRN; "FOR PAIN" anywhere.
            follows_prn = isinstance(self.last, SigEntry) and self.last.as_needed
            return follows_prn and self._set("indication", _Indication(entry))
        return False

    def _set(self, slot: str, value: object) -> bool:
        if getattr(self, slot) is not None:
            return False
        setattr(self, slot, value)
        return True

    @staticmethod
    def _add(entries: list[SigEntry], entry: SigEntry) -> bool:
        if any(existing.text == entry.text for existing in entries):
            return False
        entries.append(entry)
        return True

    @property
    def per_day(self) -> Fraction | None:
        """Administrations a day at most: the frequency, else the timings added up, capped."""
        if self.rate:
            rate = self.rate.per_day
        elif self.timings:
            rate = sum((entry.per_day or Fraction(0) for entry in self.timings), Fraction(0))
        else:
            rate = None
        if self.cap and self.cap.per_day:
            return Fraction(self.cap.doses) if rate is None else min(rate, Fraction(self.cap.doses))
        return rate

    @property
    def max_daily_units(self) -> Fraction | None:
        if not (self.dose and self.unit) or self.per_day is None:
            return None
        sites = self.route.sites if self.route else 1
        return self.dose.high * Fraction(self.unit.scale) * sites * self.per_day

    def verb_text(self) -> str:
        """The verb given, else the route's or the unit's usual verb ("SQ" → inject)."""
        if self.verb is not None:
            return self.verb.text
        usual = [source.verb for source in (self.route, self.unit) if source and source.verb]
        return usual[0] if usual else "use"

    def amount(self, dose: _Dose, unit: SigEntry) -> tuple[str, bool]:
        """The dose in the printed unit ("5 mL" for 1 TSP), and whether the unit is singular."""
        amount = dose.text
        if unit.scale != 1:
            scale = Fraction(unit.scale)
            amount = format_number(dose.low * scale)
            if dose.high != dose.low:
                amount += f" to {format_number(dose.high * scale)}"
        return amount, dose.high * Fraction(unit.scale) <= 1

    def directions(self) -> str:
        parts = [self.verb_text()]
        if self.dose and self.unit:
            amount, singular = self.amount(self.dose, self.unit)
            unit = self.unit.text if singular else self.unit.plural_text
            parts.append(f"{amount} {unit}")
        if self.route:
            parts.append(self.route.text)
        if self.rate:
            parts.append(self.rate.text)
        if self.timings:
            parts.append(" and ".join(entry.text for entry in self.timings))
        parts.extend(entry.text for entry in self.modifiers)
        if self.duration:
            parts.append(self.duration.text)
        if self.as_needed:
            parts.append("as needed")
        if self.indication:
            parts.append(f"for {self.indication.entry.text}")
        text = " ".join(parts)
        return f"{text}, {self.cap.text}" if self.cap else text


def _read_clause(words: list[str], table: SigTable) -> tuple[_Clause, list[str]]:
    clause, unread = _Clause(), []
    at = 0
    while at < len(words):
        found = _match_at(words, at, table)
        if found is None:
            unread.append(words[at])
            at += 1
            continue
        item, size = found
        if not clause.place(item):
            unread.extend(words[at : at + size])
        at += size
    if clause.dose and not clause.unit:
        unread.append(clause.dose.text)
    if clause.verb is not None and clause.last is clause.verb:
        unread.append(clause.verb.key)
    return clause, unread


def _split_clauses(words: list[str]) -> list[list[str]]:
    clauses: list[list[str]] = [[]]
    for word in words:
        if word == "THEN":
            clauses.append([])
        else:
            clauses[-1].append(word)
    return clauses


def _read_clauses(words: list[str], table: SigTable) -> tuple[list[_Clause], list[str]]:
    """Every clause of a sig's words, and the words (or missing parts) that could not be read."""
    clauses, unread = [], []
    split = _split_clauses(words)
    for clause_words in split:
        clause, clause_unread = _read_clause(clause_words, table)
        clauses.append(clause)
        unread.extend(clause_unread)
    if not all(split):
        unread.append("THEN")
    return clauses, unread


def _as_decimal(value: Fraction) -> Decimal:
    quotient = Decimal(value.numerator * 10**_RATE_PLACES // value.denominator)
    result = quotient.scaleb(-_RATE_PLACES).normalize()
    return result.quantize(Decimal(1)) if result == result.to_integral_value() else result


def expand_sig(code: str, table: SigTable = DEFAULT_SIG_TABLE) -> SigExpansion:
    """Read a sig; never raises: what cannot be read is kept as typed and flagged for review."""
    typed = " ".join(code.split())
    words = normalise_words(code)
    if not words:
        return SigExpansion(code, typed, parsed=False, review_reasons=("No directions entered.",))
    clauses, unread = _read_clauses(words, table)
    if unread:
        listed = ", ".join(f"“{word}”" for word in unread)
        return SigExpansion(
            code,
            typed,
            parsed=False,
            unparsed_tokens=tuple(unread),
            review_reasons=(f"Could not read {listed}: the directions are kept as typed.",),
        )
    sentences = [clause.directions() for clause in clauses]
    directions = ", then ".join(sentences)
    reasons = []
    if any(entry.text == "as directed" for clause in clauses for entry in clause.modifiers):
        reasons.append("“As directed” puts no directions on the label: confirm them.")
    if any(clause.rate is None and not clause.timings and not clause.cap for clause in clauses):
        reasons.append("No frequency: confirm how often, or the most a day.")
    first = clauses[0]
    units = {clause.unit.plural_text for clause in clauses if clause.unit}
    if len(clauses) > 1:
        reasons.append("The directions change during the course: enter the days supply.")
        daily = None
    else:
        rate = first.max_daily_units
        daily = None if rate is None else _as_decimal(rate)
    return SigExpansion(
        code,
        directions[0].upper() + directions[1:],
        parsed=True,
        max_daily_units=daily,
        dose_unit=units.pop() if len(units) == 1 else None,
        package_dispensed=any(clause.unit and not clause.unit.countable for clause in clauses),
        duration_days=(
            first.duration.count * first.duration.unit.days
            if len(clauses) == 1 and first.duration
            else None
        ),
        review_reasons=tuple(reasons),
    )


def days_supply(quantity: Decimal, max_daily_units: Decimal) -> int:
    """Whole days `quantity` lasts at `max_daily_units` a day, rounded down, at least one."""
    if quantity <= 0 or max_daily_units <= 0:
        raise DaysSupplyInvalid(
            "Days supply needs a quantity and a daily amount above zero.",
            quantity=quantity,
            max_daily_units=max_daily_units,
        )
    days = (quantity / max_daily_units).to_integral_value(rounding=ROUND_FLOOR)
    return max(1, int(days))


def days_supply_for(expansion: SigExpansion, quantity: Decimal) -> int | None:
    """Days supply from the sig, capped by its duration; None means "enter the days supply".

    None when the sig was not read, gives no daily amount, or the product is dispensed by the
    package (inhalers, eye drops, insulin): then days supply is the pharmacist's judgement.
    """
    if not expansion.parsed or expansion.package_dispensed or expansion.max_daily_units is None:
        return None
    days = days_supply(quantity, expansion.max_daily_units)
    return min(days, expansion.duration_days) if expansion.duration_days else days


# --- Spanish directions ------------------------------------------------------------------------


class SpanishTableInvalid(ValidationFailed):
    """A Spanish entry that cannot be used; `facts["english"]` names the phrase it translates."""

    code = "spanish-sig-table-invalid"


@dataclass(frozen=True, slots=True)
class SpanishEntry:
    """The Spanish for one English phrase a sig prints, as one kind of word.

    `english` is the phrase as the English directions print it ("twice daily", "tablet"). Verbs
    are the formal imperative ("tome"); units and durations give a `plural` ("tabletas"); an
    indication is what follows "para" ("el dolor").
    """

    kind: TokenKind
    english: str
    spanish: str
    plural: str = ""

    @property
    def plural_text(self) -> str:
        return self.plural or self.spanish


def _spanish_key(kind: TokenKind, english: str) -> tuple[TokenKind, str]:
    return kind, " ".join(english.split()).casefold()


def _validate_spanish(entry: SpanishEntry) -> SpanishEntry:
    def refuse(why: str) -> SpanishTableInvalid:
        return SpanishTableInvalid(
            f"Spanish for “{entry.english}”: {why}", english=entry.english, kind=entry.kind
        )

    if not isinstance(entry.kind, TokenKind):
        raise refuse(f"“{entry.kind}” is not a kind of sig word.")
    if not entry.english.strip():
        raise refuse("it needs the English words it translates.")
    if not entry.spanish.strip():
        raise refuse("it needs the Spanish words to print.")
    for printed in (entry.spanish, entry.plural):
        if problems := ismp_problems(printed):
            raise refuse(" ".join(problems))
    return entry


class SpanishSigTable:
    """The Spanish for the English phrases of a `SigTable`: the defaults, then the pharmacy's."""

    def __init__(self, entries: Iterable[SpanishEntry]) -> None:
        table: dict[tuple[TokenKind, str], SpanishEntry] = {}
        for entry in entries:
            key = _spanish_key(_validate_spanish(entry).kind, entry.english)
            if key in table:
                raise SpanishTableInvalid(
                    f"Spanish for “{entry.english}” is defined twice as a {entry.kind.value}.",
                    english=entry.english,
                    kind=entry.kind,
                )
            table[key] = entry
        self._table = MappingProxyType(table)

    def with_overrides(self, overrides: Iterable[SpanishEntry]) -> SpanishSigTable:
        """A new table: `overrides` replace or add translations."""
        replaced = {_spanish_key(entry.kind, entry.english): entry for entry in overrides}
        kept = [entry for key, entry in self._table.items() if key not in replaced]
        return SpanishSigTable([*kept, *replaced.values()])

    def lookup(self, kind: TokenKind, english: str) -> SpanishEntry | None:
        return self._table.get(_spanish_key(kind, english))

    def __iter__(self) -> Iterator[SpanishEntry]:
        return iter(self._table.values())

    def __len__(self) -> int:
        return len(self._table)


def _spanish(kind: TokenKind, pairs: Mapping[str, str | tuple[str, str]]) -> list[SpanishEntry]:
    """Entries of one kind from English → Spanish (or → (singular, plural))."""
    entries = []
    for english, spanish in pairs.items():
        singular, plural = (spanish, "") if isinstance(spanish, str) else spanish
        entries.append(SpanishEntry(kind, english, singular, plural))
    return entries


_SPANISH_DEFAULTS: list[SpanishEntry] = [
    *_spanish(
        TokenKind.VERB,
        {
            "take": "tome",
            "inhale": "inhale",
            "instill": "aplique",
            "apply": "aplique",
            "use": "use",
            "chew": "mastique",
            "dissolve": "disuelva",
            "inject": "inyecte",
            "spray": "rocíe",
            "insert": "introduzca",
            "place": "coloque",
            "give": "dé",
        },
    ),
    *_spanish(
        TokenKind.DOSE_UNIT,
        {
            "tablet": ("tableta", "tabletas"),
            "capsule": ("cápsula", "cápsulas"),
            "drop": ("gota", "gotas"),
            "puff": ("inhalación", "inhalaciones"),
            "mL": ("mL", "mL"),
            "spray": ("atomización", "atomizaciones"),
            "unit": ("unidad", "unidades"),
            "patch": ("parche", "parches"),
            "suppository": ("supositorio", "supositorios"),
            "application": ("aplicación", "aplicaciones"),
            "packet": ("sobre", "sobres"),
            "lozenge": ("pastilla", "pastillas"),
            "mg": ("mg", "mg"),
            "mcg": ("mcg", "mcg"),
        },
    ),
    *_spanish(
        TokenKind.ROUTE,
        {
            "by mouth": "por vía oral",
            "under the tongue": "debajo de la lengua",
            "rectally": "por vía rectal",
            "vaginally": "por vía vaginal",
            "to the skin": "en la piel",
            "in both eyes": "en ambos ojos",
            "in the right eye": "en el ojo derecho",
            "in the left eye": "en el ojo izquierdo",
            "in both ears": "en ambos oídos",
            "in the right ear": "en el oído derecho",
            "in the left ear": "en el oído izquierdo",
            "by inhalation": "por inhalación",
            "under the skin": "debajo de la piel",
            "into the muscle": "en el músculo",
            "into a vein": "en la vena",
            "in each nostril": "en cada fosa nasal",
        },
    ),
    *_spanish(
        TokenKind.FREQUENCY,
        {
            "once daily": "una vez al día",
            "twice daily": "dos veces al día",
            "three times daily": "tres veces al día",
            "four times daily": "cuatro veces al día",
            # "Cada dos días" is read as twice a day in some countries; this is not.
            "every other day": "un día sí y otro no",
            "once weekly": "una vez a la semana",
            "twice weekly": "dos veces a la semana",
            "three times weekly": "tres veces a la semana",
            "now": "ahora",
            "once": "una sola vez",
        },
    ),
    *_spanish(
        TokenKind.TIMING,
        {
            "at bedtime": "al acostarse",
            "every morning": "cada mañana",
            "every evening": "cada noche",
            "before meals": "antes de las comidas",
            "after meals": "después de las comidas",
        },
    ),
    *_spanish(
        TokenKind.MODIFIER,
        {
            "as needed": "según sea necesario",
            "as directed": "según las indicaciones",
            "with food": "con alimentos",
            "with meals": "con las comidas",
            "with a full glass of water": "con un vaso lleno de agua",
            "around the clock": "a toda hora, de día y de noche",
            "while awake": "mientras esté despierto",
        },
    ),
    *_spanish(
        TokenKind.INDICATION,
        {
            "pain": "el dolor",
            "shortness of breath": "la falta de aire",
            "chest pain": "el dolor de pecho",
            "nausea or vomiting": "las náuseas o los vómitos",
            "headache": "el dolor de cabeza",
            "anxiety": "la ansiedad",
            "sleep": "dormir",
            "itching": "la picazón",
            "fever": "la fiebre",
            "cough": "la tos",
            "wheezing": "el silbido al respirar",
            "constipation": "el estreñimiento",
            "diarrhea": "la diarrea",
            "seizures": "las convulsiones",
            "blood pressure": "la presión arterial",
            "high blood pressure": "la presión arterial alta",
            "muscle spasm": "los espasmos musculares",
            "heartburn": "la acidez estomacal",
            "allergies": "las alergias",
            "infection": "la infección",
        },
    ),
    *_spanish(TokenKind.DURATION, {"day": ("día", "días"), "week": ("semana", "semanas")}),
]

DEFAULT_SPANISH_TABLE = SpanishSigTable(_SPANISH_DEFAULTS)


@dataclass(frozen=True, slots=True)
class SpanishDirections:
    """A sig's directions in Spanish, or why there are none (`directions` is then "")."""

    directions: str
    untranslated: tuple[str, ...] = ()
    reason: str = ""

    @property
    def available(self) -> bool:
        return bool(self.directions)


def _clause_in_spanish(clause: _Clause, spanish: SpanishSigTable, missing: list[str]) -> str:
    """The clause in the English clause's order; English words with no Spanish go to `missing`."""

    def say(kind: TokenKind, english: str, *, many: bool = False) -> str:
        entry = spanish.lookup(kind, english)
        if entry is None:
            missing.append(english)
            return english
        return entry.plural_text if many else entry.spanish

    parts = [say(TokenKind.VERB, clause.verb_text())]
    if clause.dose and clause.unit:
        amount, singular = clause.amount(clause.dose, clause.unit)
        unit = say(TokenKind.DOSE_UNIT, clause.unit.text, many=not singular)
        parts.append(f"{amount.replace(' to ', ' a ')} {unit}")
    if clause.route:
        parts.append(say(TokenKind.ROUTE, clause.route.text))
    if clause.rate:
        parts.append(clause.rate.spanish or say(TokenKind.FREQUENCY, clause.rate.text))
    if clause.timings:
        parts.append(" y ".join(say(TokenKind.TIMING, entry.text) for entry in clause.timings))
    parts.extend(say(TokenKind.MODIFIER, entry.text) for entry in clause.modifiers)
    if clause.duration:
        count = clause.duration.count
        unit = say(TokenKind.DURATION, clause.duration.unit.text, many=count != 1)
        parts.append(f"durante {count} {unit}")
    if clause.as_needed:
        parts.append(say(TokenKind.MODIFIER, "as needed"))
    if clause.indication:
        parts.append(f"para {say(TokenKind.INDICATION, clause.indication.entry.text)}")
    text = " ".join(parts)
    if clause.cap:
        doses = clause.cap.doses
        cap = f"no más de {doses} dosis al día" if clause.cap.per_day else f"hasta {doses} dosis"
        text = f"{text}, {cap}"
    return text


def spanish_directions(
    code: str,
    table: SigTable = DEFAULT_SIG_TABLE,
    spanish: SpanishSigTable = DEFAULT_SPANISH_TABLE,
) -> SpanishDirections:
    """The sig's directions in Spanish, clause for clause as `expand_sig` words them in English.

    None are given (a reason instead) when the sig is not read completely or any phrase has
    no Spanish: the label then prints the English directions, never a mixture.
    """
    words = normalise_words(code)
    if not words:
        return SpanishDirections("", reason="No directions entered.")
    clauses, unread = _read_clauses(words, table)
    if unread:
        return SpanishDirections(
            "", reason="The sig was not read completely, so it has no Spanish directions."
        )
    missing: list[str] = []
    sentences = [_clause_in_spanish(clause, spanish, missing) for clause in clauses]
    if missing:
        untranslated = tuple(dict.fromkeys(missing))
        listed = ", ".join(f"“{words}”" for words in untranslated)
        return SpanishDirections(
            "", untranslated=untranslated, reason=f"There is no Spanish for {listed}."
        )
    directions = ", luego ".join(sentences)
    return SpanishDirections(directions[0].upper() + directions[1:])

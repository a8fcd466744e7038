"""Auxiliary warnings ("For the eye only", "May cause drowsiness") chosen by rules on drug facts.

A rule names, for one or more drug facts (route, dosage form, pharmacologic class, DEA schedule,
active ingredient), words any of which must appear in that fact — as whole words, ignoring case,
so "CII" does not match "CIII" and "RELEASE" matches "TABLET, EXTENDED RELEASE". Every condition
of a rule must hold. Matching rules print in rank order (lower first), each text once, in English
or Spanish. The pharmacy edits the table; `validated_rules` refuses a rule that could not work or
whose words break ISMP's list of error-prone forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from app.domain.labels import LabelLanguage
from app.domain.sig import ismp_problems
from app.errors import ValidationFailed


class DrugFact(StrEnum):
    """The facts a rule may test, as the FDA NDC Directory gives them."""

    ROUTE = "route"
    DOSAGE_FORM = "dosage_form"
    PHARMACOLOGIC_CLASS = "pharmacologic_class"
    DEA_SCHEDULE = "dea_schedule"
    ACTIVE_INGREDIENT = "active_ingredient"


class AuxiliaryRuleInvalid(ValidationFailed):
    """A rule that cannot be used; `facts["rule"]` is its position (1 = first)."""

    code = "auxiliary-rule-invalid"


@dataclass(frozen=True, slots=True)
class DrugFacts:
    """One product's facts, as text: "ORAL", "CAPSULE, DELAYED RELEASE", "Opioid Agonist [EPC]"…"""

    route: str = ""
    dosage_form: str = ""
    pharmacologic_class: str = ""
    dea_schedule: str = ""
    active_ingredient: str = ""

    def value(self, fact: DrugFact) -> str:
        return str(getattr(self, fact.value))


@dataclass(frozen=True, slots=True)
class AuxiliaryRule:
    """Print `english` (or `spanish`) when every fact in `when` contains one of its words."""

    rank: int
    when: Mapping[DrugFact, tuple[str, ...]]
    english: str
    spanish: str

    def matches(self, facts: DrugFacts) -> bool:
        return all(
            any(_contains_words(facts.value(fact), words) for words in terms)
            for fact, terms in self.when.items()
        )

    def text(self, language: LabelLanguage) -> str:
        return self.spanish if language is LabelLanguage.SPANISH else self.english


def _contains_words(value: str, words: str) -> bool:
    pattern = r"(?<!\w)" + r"\s+".join(map(re.escape, words.split())) + r"(?!\w)"
    return re.search(pattern, value, re.IGNORECASE) is not None


def auxiliary_warnings(
    facts: DrugFacts, rules: Iterable[AuxiliaryRule], language: LabelLanguage
) -> tuple[str, ...]:
    """The warnings of every rule `facts` meet, lowest rank first (ties in table order), each
    text once."""
    matched = sorted((rule for rule in rules if rule.matches(facts)), key=lambda rule: rule.rank)
    return tuple(dict.fromkeys(rule.text(language) for rule in matched))


def rule(rank: int, english: str, spanish: str, **when: str | tuple[str, ...]) -> AuxiliaryRule:
    """A rule from keyword conditions: `rule(20, "…", "…", route="OPHTHALMIC")`."""
    return AuxiliaryRule(
        rank=rank,
        when=MappingProxyType(
            {
                DrugFact(fact): (terms,) if isinstance(terms, str) else tuple(terms)
                for fact, terms in when.items()
            }
        ),
        english=english,
        spanish=spanish,
    )


def validated_rules(rules: Iterable[AuxiliaryRule]) -> tuple[AuxiliaryRule, ...]:
    """The rules, or AuxiliaryRuleInvalid naming the first that cannot be used and why."""
    checked = []
    for position, each in enumerate(rules, start=1):

        def refuse(why: str, position: int = position) -> AuxiliaryRuleInvalid:
            return AuxiliaryRuleInvalid(f"Auxiliary warning rule {position}: {why}", rule=position)

        if isinstance(each.rank, bool) or not isinstance(each.rank, int) or each.rank < 0:
            raise refuse("the rank is a whole number of 0 or more.")
        if not each.when:
            raise refuse("it needs at least one condition on the drug.")
        for fact, terms in each.when.items():
            if fact not in _FACT_NAMES:
                raise refuse(f"“{fact}” is not a drug fact: use {', '.join(_FACT_NAMES)}.")
            if (
                isinstance(terms, str)
                or not terms
                or not all(isinstance(term, str) and term.strip() for term in terms)
            ):
                raise refuse(f"the condition on {fact} needs one or more words to look for.")
        for language, text in (("English", each.english), ("Spanish", each.spanish)):
            if not isinstance(text, str) or not text.strip():
                raise refuse(f"the {language} warning text is empty.")
            if problems := ismp_problems(text):
                raise refuse(f"the {language} text: {' '.join(problems)}")
        checked.append(
            AuxiliaryRule(
                rank=each.rank,
                when=MappingProxyType(
                    {
                        DrugFact(fact): tuple(term.strip() for term in terms)
                        for fact, terms in each.when.items()
                    }
                ),
                english=each.english.strip(),
                spanish=each.spanish.strip(),
            )
        )
    return tuple(checked)


_FACT_NAMES = tuple(fact.value for fact in DrugFact)
_RULE_KEYS = frozenset({"rank", "when", "english", "spanish"})


def rule_json(each: AuxiliaryRule) -> dict[str, Any]:
    """A rule as the house setting stores it."""
    return {
        "rank": each.rank,
        "when": {fact.value: list(terms) for fact, terms in each.when.items()},
        "english": each.english,
        "spanish": each.spanish,
    }


def rules_from_json(values: Iterable[Mapping[str, Any]]) -> tuple[AuxiliaryRule, ...]:
    """Stored (or imported) rules, validated; an unknown key or drug fact is refused."""
    rules = []
    for position, value in enumerate(values, start=1):
        unknown = sorted(set(value) - _RULE_KEYS)
        missing = sorted(_RULE_KEYS - set(value))
        if unknown or missing:
            problem = f"unknown field “{unknown[0]}”" if unknown else f"no “{missing[0]}”"
            raise AuxiliaryRuleInvalid(
                f"Auxiliary warning rule {position}: {problem}.", rule=position
            )
        when = value["when"]
        if not isinstance(when, Mapping):
            raise AuxiliaryRuleInvalid(
                f"Auxiliary warning rule {position}: “when” maps drug facts to words.",
                rule=position,
            )
        rules.append(
            AuxiliaryRule(
                rank=value["rank"],
                when={
                    fact: (terms,) if isinstance(terms, str) else tuple(terms)
                    for fact, terms in when.items()
                },
                english=value["english"],
                spanish=value["spanish"],
            )
        )
    return validated_rules(rules)


_CONTROLLED = ("CII", "CIII", "CIV", "CV")
_OPIOIDS = ("Opioid Agonist", "Opioid Agonists", "Opioid Partial Agonist")
_SEDATING = (
    *_OPIOIDS,
    "Benzodiazepine",
    "Benzodiazepines",
    "Central Nervous System Depression",
    "gamma-Aminobutyric Acid-ergic Agonist",
    "Barbiturate",
    "Phenothiazine",
    "Centrally-mediated Muscle Relaxation",
    "Muscle Relaxant",
    "Anti-epileptic Agent",
    "Tricyclic Antidepressant",
    "Atypical Antipsychotic",
    "Typical Antipsychotic",
)
_SUN = ("Tetracycline-class Drug", "Tetracycline-class Antibacterial", "Quinolone Antimicrobial")
_SUN_SUBSTANCES = (
    "DOXYCYCLINE",
    "MINOCYCLINE",
    "TETRACYCLINE",
    "CIPROFLOXACIN",
    "LEVOFLOXACIN",
    "MOXIFLOXACIN",
    "OFLOXACIN",
)
_DROWSY = "May cause drowsiness. Do not drive or use machines until you know how it affects you."
_DROWSY_ES = "Puede causar somnolencia. No maneje ni use máquinas hasta saber cómo le afecta."
_NO_ALCOHOL = "Do not drink alcohol while taking this medicine."
_NO_ALCOHOL_ES = "No tome bebidas alcohólicas mientras use este medicamento."
_SUN_TEXT = "Avoid long exposure to sunlight; use sunscreen and wear protective clothing."
_SUN_TEXT_ES = "Evite la exposición prolongada al sol; use protector solar y ropa protectora."

DEFAULT_AUXILIARY_RULES: tuple[AuxiliaryRule, ...] = validated_rules(
    [
        rule(
            10,
            "Controlled substance: keep it in a safe place and never share it.",
            "Sustancia controlada: guárdela en un lugar seguro y nunca la comparta.",
            dea_schedule=_CONTROLLED,
        ),
        rule(20, "For the eye only.", "Solo para los ojos.", route="OPHTHALMIC"),
        rule(20, "For the ear only.", "Solo para los oídos.", route="OTIC"),
        rule(20, "For use in the nose only.", "Solo para uso en la nariz.", route="NASAL"),
        rule(
            20,
            "For external use only. Do not swallow.",
            "Solo para uso externo. No lo trague.",
            route=("TOPICAL", "TRANSDERMAL", "CUTANEOUS"),
        ),
        rule(
            20,
            "For rectal use only. Do not swallow.",
            "Solo para uso rectal. No lo trague.",
            route="RECTAL",
        ),
        rule(
            20,
            "For vaginal use only. Do not swallow.",
            "Solo para uso vaginal. No lo trague.",
            route="VAGINAL",
        ),
        rule(
            30,
            "Swallow whole. Do not crush, chew or break.",
            "Tráguela entera. No la triture, mastique ni parta.",
            dosage_form=("EXTENDED RELEASE", "DELAYED RELEASE"),
        ),
        rule(
            30,
            "Shake well before each use.",
            "Agite bien antes de cada uso.",
            dosage_form=("SUSPENSION",),
        ),
        rule(
            40,
            "Keep unopened in the refrigerator. Do not freeze.",
            "Guárdelo sin abrir en el refrigerador. No lo congele.",
            pharmacologic_class="Insulin",
            dosage_form="INJECTION",
        ),
        rule(
            40,
            "Keep in the refrigerator after mixing. Do not freeze.",
            "Guárdelo en el refrigerador después de mezclarlo. No lo congele.",
            dosage_form="FOR SUSPENSION",
            active_ingredient=("AMOXICILLIN", "PENICILLIN V POTASSIUM", "CEPHALEXIN"),
        ),
        rule(50, _DROWSY, _DROWSY_ES, pharmacologic_class=_SEDATING),
        rule(60, _NO_ALCOHOL, _NO_ALCOHOL_ES, pharmacologic_class=_SEDATING),
        rule(
            60,
            "Do not drink alcohol while taking this medicine and for 3 days after.",
            "No tome bebidas alcohólicas mientras use este medicamento ni durante 3 días después.",
            active_ingredient=("METRONIDAZOLE", "TINIDAZOLE"),
        ),
        rule(70, _SUN_TEXT, _SUN_TEXT_ES, pharmacologic_class=_SUN),
        rule(70, _SUN_TEXT, _SUN_TEXT_ES, active_ingredient=_SUN_SUBSTANCES),
        rule(
            80,
            "Finish all of this medicine unless your prescriber tells you otherwise.",
            "Termine todo este medicamento, a menos que su médico le indique lo contrario.",
            pharmacologic_class=("Antibacterial", "Antimicrobial"),
            route="ORAL",
        ),
    ]
)

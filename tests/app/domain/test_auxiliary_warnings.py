"""Auxiliary warnings: the default rules on real FDA drug facts, rank order, languages, and the
validation of a pharmacy's own table."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.auxiliary_warnings import (
    DEFAULT_AUXILIARY_RULES,
    AuxiliaryRule,
    AuxiliaryRuleInvalid,
    DrugFact,
    DrugFacts,
    auxiliary_warnings,
    rule,
    rule_json,
    rules_from_json,
    validated_rules,
)
from app.domain.labels import LabelLanguage
from app.domain.sig import ismp_problems

EN, ES = LabelLanguage.ENGLISH, LabelLanguage.SPANISH

# Facts as the FDA NDC Directory lists them (demo catalogue rows).
OXYCODONE = DrugFacts(
    route="ORAL",
    dosage_form="TABLET",
    pharmacologic_class="Full Opioid Agonists [MoA],Opioid Agonist [EPC]",
    dea_schedule="CII",
    active_ingredient="OXYCODONE HYDROCHLORIDE",
)
ALPRAZOLAM = DrugFacts(
    route="ORAL",
    dosage_form="TABLET",
    pharmacologic_class="Benzodiazepine [EPC],Benzodiazepines [CS]",
    dea_schedule="CIV",
    active_ingredient="ALPRAZOLAM",
)
OMEPRAZOLE = DrugFacts(
    route="ORAL",
    dosage_form="CAPSULE, DELAYED RELEASE",
    pharmacologic_class="Proton Pump Inhibitor [EPC]",
    active_ingredient="OMEPRAZOLE",
)
AMOXICILLIN_SUSPENSION = DrugFacts(
    route="ORAL",
    dosage_form="POWDER, FOR SUSPENSION",
    pharmacologic_class="Penicillin-class Antibacterial [EPC],Penicillins [CS]",
    active_ingredient="AMOXICILLIN",
)
MUPIROCIN = DrugFacts(
    route="TOPICAL",
    dosage_form="OINTMENT",
    pharmacologic_class="RNA Synthetase Inhibitor Antibacterial [EPC]",
    active_ingredient="MUPIROCIN",
)
HUMALOG = DrugFacts(
    route="INTRAVENOUS; SUBCUTANEOUS",
    dosage_form="INJECTION, SOLUTION",
    pharmacologic_class="Insulin [Chemical/Ingredient],Insulin Analog [EPC]",
    active_ingredient="INSULIN LISPRO",
)
DOXYCYCLINE = DrugFacts(
    route="ORAL",
    dosage_form="CAPSULE",
    pharmacologic_class="Tetracycline-class Drug [EPC],Tetracyclines [CS]",
    active_ingredient="DOXYCYCLINE HYCLATE",
)
METRONIDAZOLE = DrugFacts(
    route="ORAL",
    dosage_form="TABLET",
    pharmacologic_class="Nitroimidazole Antimicrobial [EPC]",
    active_ingredient="METRONIDAZOLE",
)
EYE_DROPS = DrugFacts(
    route="OPHTHALMIC", dosage_form="SOLUTION/ DROPS", active_ingredient="LATANOPROST"
)
LISINOPRIL = DrugFacts(
    route="ORAL",
    dosage_form="TABLET",
    pharmacologic_class="Angiotensin Converting Enzyme Inhibitor [EPC]",
    active_ingredient="LISINOPRIL",
)


def _english(facts: DrugFacts) -> tuple[str, ...]:
    return auxiliary_warnings(facts, DEFAULT_AUXILIARY_RULES, EN)


def test_opioid_controlled_drowsiness_and_alcohol_in_rank_order() -> None:
    assert _english(OXYCODONE) == (
        "Controlled substance: keep it in a safe place and never share it.",
        "May cause drowsiness. Do not drive or use machines until you know how it affects you.",
        "Do not drink alcohol while taking this medicine.",
    )


def test_benzodiazepine_is_sedating_too() -> None:
    assert "Do not drink alcohol while taking this medicine." in _english(ALPRAZOLAM)
    assert any(text.startswith("May cause drowsiness") for text in _english(ALPRAZOLAM))


def test_delayed_release_swallow_whole() -> None:
    assert _english(OMEPRAZOLE) == ("Swallow whole. Do not crush, chew or break.",)


def test_suspension_shake_refrigerate_and_finish() -> None:
    assert _english(AMOXICILLIN_SUSPENSION) == (
        "Shake well before each use.",
        "Keep in the refrigerator after mixing. Do not freeze.",
        "Finish all of this medicine unless your prescriber tells you otherwise.",
    )


def test_route_warnings() -> None:
    assert _english(MUPIROCIN) == ("For external use only. Do not swallow.",)
    assert _english(EYE_DROPS) == ("For the eye only.",)


def test_insulin_refrigerated() -> None:
    assert _english(HUMALOG) == ("Keep unopened in the refrigerator. Do not freeze.",)


def test_sun_by_class_or_ingredient_printed_once() -> None:
    sun = "Avoid long exposure to sunlight; use sunscreen and wear protective clothing."
    assert _english(DOXYCYCLINE).count(sun) == 1  # matched by both class and ingredient


def test_metronidazole_alcohol_warning() -> None:
    assert "Do not drink alcohol while taking this medicine and for 3 days after." in _english(
        METRONIDAZOLE
    )


def test_no_warning_for_a_plain_tablet() -> None:
    assert _english(LISINOPRIL) == ()


def test_spanish_texts_follow_the_same_rules() -> None:
    assert auxiliary_warnings(OXYCODONE, DEFAULT_AUXILIARY_RULES, ES) == (
        "Sustancia controlada: guárdela en un lugar seguro y nunca la comparta.",
        "Puede causar somnolencia. No maneje ni use máquinas hasta saber cómo le afecta.",
        "No tome bebidas alcohólicas mientras use este medicamento.",
    )


def test_every_default_text_is_ismp_clean() -> None:
    for each in DEFAULT_AUXILIARY_RULES:
        assert ismp_problems(each.english) == [] and ismp_problems(each.spanish) == []


def test_schedule_matches_whole_words_only() -> None:
    cii_only = [rule(1, "Schedule II.", "Lista II.", dea_schedule="CII")]
    assert auxiliary_warnings(OXYCODONE, cii_only, EN) == ("Schedule II.",)
    assert auxiliary_warnings(ALPRAZOLAM, cii_only, EN) == ()
    ciii = DrugFacts(dea_schedule="CIII")
    assert auxiliary_warnings(ciii, cii_only, EN) == ()


def test_every_condition_of_a_rule_must_hold() -> None:
    both = [rule(1, "Both.", "Ambos.", route="ORAL", active_ingredient="ALPRAZOLAM")]
    assert auxiliary_warnings(ALPRAZOLAM, both, EN) == ("Both.",)
    assert auxiliary_warnings(OXYCODONE, both, EN) == ()


def test_lower_rank_first_ties_in_table_order() -> None:
    rules = [
        rule(50, "Fifty.", "Cincuenta.", route="ORAL"),
        rule(10, "Ten.", "Diez.", route="ORAL"),
        rule(50, "Fifty again.", "Cincuenta otra vez.", route="ORAL"),
    ]
    assert auxiliary_warnings(LISINOPRIL, rules, EN) == ("Ten.", "Fifty.", "Fifty again.")


def _stored(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "rank": 5,
        "when": {"route": ["OPHTHALMIC"]},
        "english": "For the eye only.",
        "spanish": "Solo para los ojos.",
    }
    value.update(changes)
    return value


def test_rules_round_trip_through_the_stored_form() -> None:
    stored = [rule_json(each) for each in DEFAULT_AUXILIARY_RULES]
    assert rules_from_json(stored) == DEFAULT_AUXILIARY_RULES


@pytest.mark.parametrize(
    ("stored", "fragment"),
    [
        (_stored(when={"colour": ["white"]}), "“colour” is not a drug fact"),
        (_stored(when={}), "at least one condition"),
        (_stored(when={"route": []}), "one or more words"),
        (_stored(when={"route": ["  "]}), "one or more words"),
        (_stored(english="  "), "English warning text is empty"),
        (_stored(spanish=""), "Spanish warning text is empty"),
        (_stored(english="Use 10 U daily."), "“U”"),
        (_stored(spanish="Use .5 mL."), "leading zero"),
        (_stored(rank=-1), "rank"),
        (_stored(rank=True), "rank"),
        ({**_stored(), "colour": "red"}, "unknown field “colour”"),
        ({key: value for key, value in _stored().items() if key != "spanish"}, "no “spanish”"),
    ],
)
def test_a_rule_that_cannot_be_used_is_refused(stored: dict[str, Any], fragment: str) -> None:
    with pytest.raises(AuxiliaryRuleInvalid) as refused:
        rules_from_json([_stored(), stored])
    assert refused.value.message.startswith("Auxiliary warning rule 2:")
    assert fragment in refused.value.message


def test_validated_rules_trims_and_types_the_conditions() -> None:
    (checked,) = validated_rules(
        [AuxiliaryRule(3, {"route": (" OTIC ",)}, " For the ear only. ", "Solo para los oídos.")]  # type: ignore[dict-item]
    )
    assert checked.when == {DrugFact.ROUTE: ("OTIC",)}
    assert checked.english == "For the ear only."

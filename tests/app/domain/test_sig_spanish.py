"""Spanish directions: real sigs clause for clause, all or nothing, and the Spanish table."""

from __future__ import annotations

import pytest

from app.domain.sig import (
    DEFAULT_SIG_TABLE,
    DEFAULT_SPANISH_TABLE,
    SpanishEntry,
    SpanishSigTable,
    SpanishTableInvalid,
    TokenKind,
    expand_sig,
    frequency,
    ismp_problems,
    spanish_directions,
)
from tests.app.domain.test_sig import REAL_WORLD_SIGS

SPANISH_SIGS = [
    ("1 T PO BID", "Tome 1 tableta por vía oral dos veces al día"),
    ("1 T PO QD", "Tome 1 tableta por vía oral una vez al día"),
    ("2 T PO QD WF", "Tome 2 tabletas por vía oral una vez al día con alimentos"),
    ("1 C PO TID X10D", "Tome 1 cápsula por vía oral tres veces al día durante 10 días"),
    ("1 C PO QD FOR 2 WEEKS", "Tome 1 cápsula por vía oral una vez al día durante 2 semanas"),
    ("1 T PO QHS", "Tome 1 tableta por vía oral al acostarse"),
    ("1 T PO AC HS", "Tome 1 tableta por vía oral antes de las comidas y al acostarse"),
    ("1 T PO QOD", "Tome 1 tableta por vía oral un día sí y otro no"),
    ("1/2 T PO QD", "Tome 1/2 tableta por vía oral una vez al día"),
    (".5 ML PO BID", "Tome 0.5 mL por vía oral dos veces al día"),
    ("1 TSP PO BID", "Tome 5 mL por vía oral dos veces al día"),
    (
        "1-2 T PO Q4-6H PRN PAIN",
        "Tome 1 a 2 tabletas por vía oral cada 4 a 6 horas según sea necesario para el dolor",
    ),
    (
        "2 PUFFS INH Q4-6H PRN SOB",
        "Inhale 2 inhalaciones por inhalación cada 4 a 6 horas según sea necesario para la "
        "falta de aire",
    ),
    ("1 GTT OU BID", "Aplique 1 gota en ambos ojos dos veces al día"),
    ("2 GTT AS BID", "Aplique 2 gotas en el oído izquierdo dos veces al día"),
    ("10 U SQ QHS", "Inyecte 10 unidades debajo de la piel al acostarse"),
    ("10000 U SQ QD", "Inyecte 10,000 unidades debajo de la piel una vez al día"),
    ("2 SPR IN EACH NOSTRIL QD", "Use 2 atomizaciones en cada fosa nasal una vez al día"),
    ("AA TOP BID", "Aplique en la piel dos veces al día"),
    ("1 PATCH TOP Q72H", "Aplique 1 parche en la piel cada 72 horas"),
    (
        "1 T SL Q5MIN PRN CP UP TO 3 DOSES",
        "Disuelva 1 tableta debajo de la lengua cada 5 minutos según sea necesario para el "
        "dolor de pecho, hasta 3 dosis",
    ),
    (
        "1 T PO Q6H PRN PAIN UP TO 4 DOSES PER DAY",
        "Tome 1 tableta por vía oral cada 6 horas según sea necesario para el dolor, no más de "
        "4 dosis al día",
    ),
    ("1 ML IM Q2W", "Inyecte 1 mL en el músculo cada 2 semanas"),
    ("1 T PO Q4H WA", "Tome 1 tableta por vía oral cada 4 horas mientras esté despierto"),
    (
        "2 T PO QD X3D THEN 1 T PO QD X4D",
        "Tome 2 tabletas por vía oral una vez al día durante 3 días, luego tome 1 tableta por "
        "vía oral una vez al día durante 4 días",
    ),
]


@pytest.mark.parametrize(("code", "spanish"), SPANISH_SIGS)
def test_real_sigs_in_spanish(code: str, spanish: str) -> None:
    result = spanish_directions(code)
    assert result.available
    assert result.directions == spanish
    assert ismp_problems(result.directions) == []


@pytest.mark.parametrize("code", [sig[0] for sig in REAL_WORLD_SIGS])
def test_every_real_world_sig_has_complete_spanish(code: str) -> None:
    result = spanish_directions(code)
    assert result.available, result.reason
    assert result.untranslated == ()
    assert result.directions[0].isupper()
    assert ismp_problems(result.directions) == []


def test_spanish_keeps_the_english_clause_count() -> None:
    code = "2 T PO BID X2D THEN 1 T PO QD X3D"
    english, spanish = expand_sig(code).directions, spanish_directions(code).directions
    assert english.count(", then ") == spanish.count(", luego ") == 1


@pytest.mark.parametrize("code", ["1 PO QD", "TAKE AS YOUR DOCTOR SAYS", "1 T PO BLAH", ""])
def test_a_sig_not_fully_read_has_no_spanish(code: str) -> None:
    result = spanish_directions(code)
    assert not result.available
    assert result.directions == ""
    assert result.reason


def test_one_phrase_without_spanish_means_no_spanish_at_all() -> None:
    house = DEFAULT_SIG_TABLE.with_overrides([frequency("QAMN", "every morning and noon", 2)])
    english = expand_sig("1 T PO QAMN", house)
    assert english.parsed

    result = spanish_directions("1 T PO QAMN", house)

    assert not result.available and result.directions == ""
    assert result.untranslated == ("every morning and noon",)
    assert "“every morning and noon”" in result.reason


def test_the_house_extends_the_spanish_table() -> None:
    house = DEFAULT_SIG_TABLE.with_overrides([frequency("QAMN", "every morning and noon", 2)])
    spanish = DEFAULT_SPANISH_TABLE.with_overrides(
        [SpanishEntry(TokenKind.FREQUENCY, "every morning and noon", "cada mañana y mediodía")]
    )
    result = spanish_directions("1 T PO QAMN", house, spanish)
    assert result.directions == "Tome 1 tableta por vía oral cada mañana y mediodía"


def test_the_house_replaces_a_default_translation() -> None:
    spanish = DEFAULT_SPANISH_TABLE.with_overrides(
        [SpanishEntry(TokenKind.DOSE_UNIT, "tablet", "pastilla", "pastillas")]
    )
    assert len(spanish) == len(DEFAULT_SPANISH_TABLE)
    result = spanish_directions("2 T PO BID", spanish=spanish)
    assert result.directions == "Tome 2 pastillas por vía oral dos veces al día"


def test_every_default_english_phrase_has_spanish() -> None:
    for entry in DEFAULT_SIG_TABLE:
        for english in (entry.text, entry.verb):
            kind = TokenKind.VERB if english is entry.verb else entry.kind
            if english:
                assert DEFAULT_SPANISH_TABLE.lookup(kind, english) is not None, (kind, english)


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        (SpanishEntry(TokenKind.DOSE_UNIT, "unit", "U", "U"), "“U”"),
        (SpanishEntry(TokenKind.FREQUENCY, "once daily", "QD"), "“QD”"),
        (SpanishEntry(TokenKind.FREQUENCY, "once daily", "  "), "Spanish words"),
        (SpanishEntry(TokenKind.FREQUENCY, " ", "una vez"), "English words"),
    ],
)
def test_a_spanish_entry_that_cannot_be_used_is_refused(entry: SpanishEntry, fragment: str) -> None:
    with pytest.raises(SpanishTableInvalid) as refused:
        DEFAULT_SPANISH_TABLE.with_overrides([entry])
    assert fragment in refused.value.message


def test_a_phrase_translated_twice_is_refused() -> None:
    with pytest.raises(SpanishTableInvalid, match="twice"):
        SpanishSigTable(
            [
                SpanishEntry(TokenKind.FREQUENCY, "once daily", "una vez al día"),
                SpanishEntry(TokenKind.FREQUENCY, "Once  daily", "diariamente"),
            ]
        )

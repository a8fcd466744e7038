"""Sig codes: real-world sigs with directions and days supply, ISMP-clean output, the table."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.sig import (
    DEFAULT_SIG_TABLE,
    DaysSupplyInvalid,
    SigEntry,
    SigTable,
    SigTableInvalid,
    TokenKind,
    days_supply,
    days_supply_for,
    dose_unit,
    expand_sig,
    frequency,
    indication,
    ismp_problems,
    normalise_words,
    route,
)
from app.errors import ValidationFailed

D = Decimal
ENTER = None  # days supply cannot be computed: the bench enters it

# (sig, directions, max dose units a day, quantity dispensed, days supply or ENTER)
REAL_WORLD_SIGS = [
    ("1 T PO QD", "Take 1 tablet by mouth once daily", D(1), D(30), 30),
    ("1 T PO BID", "Take 1 tablet by mouth twice daily", D(2), D(60), 30),
    ("1 T PO TID", "Take 1 tablet by mouth three times daily", D(3), D(90), 30),
    ("1 T PO QID", "Take 1 tablet by mouth four times daily", D(4), D(120), 30),
    (
        "1 C PO TID X10D",
        "Take 1 capsule by mouth three times daily for 10 days",
        D(3),
        D(30),
        10,
    ),
    (
        "2 PUFFS INH Q4-6H PRN SOB",
        "Inhale 2 puffs by inhalation every 4 to 6 hours as needed for shortness of breath",
        D(12),
        D(1),
        ENTER,  # one inhaler: days supply from its 200 puffs is the pharmacist's call
    ),
    ("1 GTT OU BID", "Instill 1 drop in both eyes twice daily", D(4), D(5), ENTER),
    (
        "1 T SL Q5MIN PRN CP UP TO 3 DOSES",
        "Dissolve 1 tablet under the tongue every 5 minutes as needed for chest pain, "
        "up to 3 doses",
        None,
        D(25),
        ENTER,
    ),
    ("10 U SQ QHS", "Inject 10 units under the skin at bedtime", D(10), D(1000), ENTER),
    ("1/2 T PO QD", "Take 1/2 tablet by mouth once daily", D("0.5"), D(15), 30),
    (".5 ML PO BID", "Take 0.5 mL by mouth twice daily", D(1), D(30), 30),
    ("1 PATCH TOP QD", "Apply 1 patch to the skin once daily", D(1), D(30), 30),
    (
        "1 SUPP PR Q6H PRN NV",
        "Insert 1 suppository rectally every 6 hours as needed for nausea or vomiting",
        D(4),
        D(12),
        3,
    ),
    ("INST 1 GTT OD QID", "Instill 1 drop in the right eye four times daily", D(4), D(5), ENTER),
    ("AA TOP BID", "Apply to the skin twice daily", None, D(30), ENTER),
    ("1 T PO QOD", "Take 1 tablet by mouth every other day", D("0.5"), D(15), 30),
    ("1 T PO QW", "Take 1 tablet by mouth once weekly", D("0.142857142857"), D(4), 28),
    ("2 SPR IN EACH NOSTRIL QD", "Use 2 sprays in each nostril once daily", D(4), D(1), ENTER),
    ("1 T PO QHS", "Take 1 tablet by mouth at bedtime", D(1), D(30), 30),
    ("1 T PO AC", "Take 1 tablet by mouth before meals", D(3), D(90), 30),
    (
        "1-2 T PO Q4-6H PRN PAIN",
        "Take 1 to 2 tablets by mouth every 4 to 6 hours as needed for pain",
        D(12),
        D(60),
        5,
    ),
    ("1 TSP PO BID", "Take 5 mL by mouth twice daily", D(10), D(100), 10),
    (
        "2 TSP PO Q6H PRN COUGH",
        "Take 10 mL by mouth every 6 hours as needed for cough",
        D(40),
        D(120),
        3,
    ),
    ("1 T PO Q8H", "Take 1 tablet by mouth every 8 hours", D(3), D(30), 10),
    ("1 C PO Q12H X7D", "Take 1 capsule by mouth every 12 hours for 7 days", D(2), D(14), 7),
    (
        "1 PATCH TOP Q72H",
        "Apply 1 patch to the skin every 72 hours",
        D("0.333333333333"),
        D(10),
        30,
    ),
    ("1 T PO QAM", "Take 1 tablet by mouth every morning", D(1), D(30), 30),
    ("1 T PO QPM", "Take 1 tablet by mouth every evening", D(1), D(30), 30),
    ("2 T PO QD WF", "Take 2 tablets by mouth once daily with food", D(2), D(60), 30),
    ("1 T PO TID PC", "Take 1 tablet by mouth three times daily after meals", D(3), D(90), 30),
    (
        "1 T PO AC HS",
        "Take 1 tablet by mouth before meals and at bedtime",
        D(4),
        D(120),
        30,
    ),
    ("1 T PO STAT", "Take 1 tablet by mouth now", D(1), D(1), 1),
    ("4 C PO ONCE", "Take 4 capsules by mouth once", D(4), D(4), 1),
    (
        "15 U SQ BID AC",
        "Inject 15 units under the skin twice daily before meals",
        D(30),
        D(1500),
        ENTER,
    ),
    (
        "1 T PO QD FOR BP",
        "Take 1 tablet by mouth once daily for blood pressure",
        D(1),
        D(90),
        90,
    ),
    (
        "1 T PO Q6H PRN PAIN UP TO 4 DOSES PER DAY",
        "Take 1 tablet by mouth every 6 hours as needed for pain, no more than 4 doses a day",
        D(4),
        D(20),
        5,
    ),
    (
        "1-2 T PO Q4H PRN PAIN NTE 6 DOSES DAILY",
        "Take 1 to 2 tablets by mouth every 4 hours as needed for pain, no more than 6 doses a day",
        D(12),
        D(60),
        5,
    ),
    ("1 T PO TIW", "Take 1 tablet by mouth three times weekly", D("0.428571428571"), D(12), 28),
    ("1 ML IM Q2W", "Inject 1 mL into the muscle every 2 weeks", D("0.071428571428"), D(2), 28),
    (
        "1 T PO BID X 10 DAYS",
        "Take 1 tablet by mouth twice daily for 10 days",
        D(2),
        D(30),
        10,
    ),
    ("1 C PO QD FOR 2 WEEKS", "Take 1 capsule by mouth once daily for 2 weeks", D(1), D(30), 14),
    (
        "1 T PO QD PRN ANX",
        "Take 1 tablet by mouth once daily as needed for anxiety",
        D(1),
        D(30),
        30,
    ),
    (
        "1 T PO QHS PRN SLEEP",
        "Take 1 tablet by mouth at bedtime as needed for sleep",
        D(1),
        D(30),
        30,
    ),
    ("1 GTT AU TID", "Instill 1 drop in both ears three times daily", D(6), D(10), ENTER),
    ("2 GTT AS BID", "Instill 2 drops in the left ear twice daily", D(4), D(10), ENTER),
    (
        "1 SUPP PV QHS X7D",
        "Insert 1 suppository vaginally at bedtime for 7 days",
        D(1),
        D(7),
        7,
    ),
    ("CH 1 T PO QD", "Chew 1 tablet by mouth once daily", D(1), D(30), 30),
    ("INJ 0.6 ML SQ QD", "Inject 0.6 mL under the skin once daily", D("0.6"), D(3), 5),
    ("5 MG PO QD", "Take 5 mg by mouth once daily", D(5), D(30), ENTER),  # mg are not counted
    ("10000 U SQ QD", "Inject 10,000 units under the skin once daily", D(10000), D(1), ENTER),
    ("1.0 T PO QD", "Take 1 tablet by mouth once daily", D(1), D(30), 30),
    ("1 t p.o. q.d.", "Take 1 tablet by mouth once daily", D(1), D(30), 30),
    ("1 T PO Q4H WA", "Take 1 tablet by mouth every 4 hours while awake", D(6), D(30), 5),
    ("1 TBSP PO QHS", "Take 15 mL by mouth at bedtime", D(15), D(450), 30),
]


def test_there_are_at_least_forty_real_world_sigs() -> None:
    assert len(REAL_WORLD_SIGS) >= 40


@pytest.mark.parametrize(("code", "directions", "daily", "quantity", "days"), REAL_WORLD_SIGS)
def test_real_world_sigs(
    code: str, directions: str, daily: Decimal | None, quantity: Decimal, days: int | None
) -> None:
    expansion = expand_sig(code, DEFAULT_SIG_TABLE)
    assert expansion.parsed and expansion.unparsed_tokens == ()
    assert expansion.directions == directions
    assert expansion.max_daily_units == daily
    assert days_supply_for(expansion, quantity) == days
    assert ismp_problems(expansion.directions) == []
    assert not expansion.needs_pharmacist_review, expansion.review_reasons


def test_package_dispensed_products_say_enter_the_days_supply() -> None:
    inhaler = expand_sig("2 PUFFS INH BID")
    assert inhaler.package_dispensed and inhaler.dose_unit == "puffs"
    assert inhaler.max_daily_units == 4
    assert days_supply_for(inhaler, D(1)) is None
    tablets = expand_sig("1 T PO BID")
    assert not tablets.package_dispensed and tablets.dose_unit == "tablets"


def test_z_pack_is_read_but_its_days_supply_is_entered() -> None:
    # Decision: a "… THEN …" sig is read into directions, but the daily amount changes during
    # the course, so no max daily units and the pharmacist confirms the days supply.
    expansion = expand_sig("TK 2 TS PO STAT THEN 1 T QD X4D")
    assert expansion.parsed
    assert expansion.directions == (
        "Take 2 tablets by mouth now, then take 1 tablet once daily for 4 days"
    )
    assert expansion.max_daily_units is None
    assert days_supply_for(expansion, D(6)) is None
    assert expansion.needs_pharmacist_review
    assert "change during the course" in expansion.review_reasons[0]


def test_taper_written_as_free_text_is_kept_and_flagged() -> None:
    typed = "Take 6 tabs day 1,  5 tabs day 2, 4 tabs day 3, 3 tabs day 4, 2 tabs day 5, 1 day 6"
    expansion = expand_sig(typed)
    assert not expansion.parsed
    assert expansion.directions == " ".join(typed.split())
    assert expansion.needs_pharmacist_review
    assert "DAY" in expansion.unparsed_tokens
    assert expansion.max_daily_units is None and days_supply_for(expansion, D(21)) is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("UD", "As directed"),
        ("TK 1 T PO UD", "As directed"),
        ("1 T PO", "No frequency"),
        ("1 T PO PRN PAIN", "No frequency"),
    ],
)
def test_parsed_but_incomplete_sigs_go_to_the_pharmacist(code: str, reason: str) -> None:
    expansion = expand_sig(code)
    assert expansion.parsed and expansion.needs_pharmacist_review
    assert any(reason in text for text in expansion.review_reasons)


def test_ud_alone_reads_use_as_directed() -> None:
    assert expand_sig("UD").directions == "Use as directed"


@pytest.mark.parametrize(
    ("code", "unread"),
    [
        ("", ()),
        ("T", ("T",)),
        ("1 PO QD", ("1",)),  # a dose without a unit
        ("TAB PO QD", ("TAB",)),  # a unit without a dose
        ("1 T PO QD QD", ("QD",)),  # twice the frequency
        ("1 T PO QD BID", ("BID",)),
        ("1 T 2 T PO QD", ("2", "T")),
        ("0 T PO QD", ("0",)),
        ("2-1 T PO QD", ("2-1",)),
        ("1 T PO Q0H", ("Q0H",)),
        ("1 T PO QD THEN", ("THEN",)),
        ("1 T PO QD PAIN", ("PAIN",)),  # an indication needs PRN or FOR
        ("1 T PO QD XYZZY", ("XYZZY",)),
        ("3/7 T PO QD", ("3/7",)),
        ("10000000000000000000000000001 T PO QD", ("10000000000000000000000000001",)),
    ],
)
def test_unreadable_sigs_keep_the_free_text_and_never_raise(
    code: str, unread: tuple[str, ...]
) -> None:
    expansion = expand_sig(code)
    assert not expansion.parsed
    assert expansion.directions == code
    assert expansion.unparsed_tokens == unread
    assert expansion.needs_pharmacist_review
    assert expansion.max_daily_units is None


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("Take 1 tablet QD", "QD"),
        ("Take 1 tablet q.d.", "q.d."),
        ("Take 1 tablet QOD", "QOD"),
        ("Inject 10 U at bedtime", "U"),
        ("Inject 10U at bedtime", "U"),
        ("Inject 10 IU daily", "IU"),
        ("Take 50 µg daily", "µg"),
        ("Take 5 cc daily", "cc"),
        ("Take 5.0 mg daily", "5.0"),
        ("Take 1.50 mg daily", "1.50"),
        ("Take .5 mg daily", ".5"),
        ("Take 1 tablet HS", "HS"),
        ("Take 1 tablet qhs", "qhs"),
        ("Instill 1 drop OD", "OD"),
        ("Instill 1 drop OS", "OS"),
        ("Instill 1 drop OU", "OU"),
        ("Instill 1 drop AD", "AD"),
        ("Instill 1 drop AS", "AS"),
        ("Instill 1 drop AU", "AU"),
        ("Inject 10 units SC", "SC"),
        ("Inject 10 units SQ", "SQ"),
        ("D/C after 3 days", "D/C"),
        ("Take 1 tablet TIW", "TIW"),
        ("Take MS 15 mg", "MS"),
        ("Take MSO4 15 mg", "MSO4"),
        ("Take if pain > 5", ">"),
        ("Take if sugar < 70", "<"),
        ("Take 1 tablet x3d", "x3d"),
        ("Inject 100000 units", "100000"),
    ],
)
def test_ismp_error_prone_forms_are_found(text: str, flagged: str) -> None:
    problems = ismp_problems(text)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"“{flagged}”")


@pytest.mark.parametrize(
    "text",
    [
        "Take 1 tablet by mouth once daily",
        "Take 0.5 mL by mouth twice daily",
        "Take 1/2 tablet by mouth every other day",
        "Inject 10,000 units under the skin at bedtime",
        "Use as directed",
        "TAKE 1 TABLET AS NEEDED AND AS DIRECTED",  # all capitals: AS is English here
        "Take 1.5 tablets with a full glass of water",
        "Apply to the skin: discontinue after 10 days",
    ],
)
def test_clean_text_has_no_ismp_problems(text: str) -> None:
    assert ismp_problems(text) == []


def test_ismp_problems_come_in_reading_order() -> None:
    problems = ismp_problems("Inject 10 U SC QD")
    assert [problem.split("”")[0].lstrip("“") for problem in problems] == ["U", "SC", "QD"]


def test_normalise_words_drops_abbreviation_periods_but_keeps_decimals() -> None:
    assert normalise_words(" 1 t  p.o. q.d., .5 ml; x7d. ") == [
        "1",
        "T",
        "PO",
        "QD",
        ".5",
        "ML",
        "X7D",
    ]


def test_the_pharmacy_overrides_and_extends_the_table() -> None:
    table = DEFAULT_SIG_TABLE.with_overrides(
        [
            route("TOP", "to the affected area", verb="apply"),
            indication("GOUT", "gout flares"),
            frequency("Q3D", "every 3 days", Fraction(1, 3)),
            dose_unit("VIAL", "vial", "vials", verb="use", countable=False),
        ],
        removed=[("T", TokenKind.VERB)],
    )
    assert expand_sig("AA TOP BID", table).directions == "Apply to the affected area twice daily"
    assert expand_sig("1 T PO QD PRN GOUT", table).directions == (
        "Take 1 tablet by mouth once daily as needed for gout flares"
    )
    assert expand_sig("1 VIAL IH Q3D", table).max_daily_units == D("0.333333333333")
    assert not expand_sig("T 1 T PO QD", table).parsed  # "T" no longer means take
    assert expand_sig("T 1 T PO QD").parsed  # the defaults are untouched
    assert len(table) == len(DEFAULT_SIG_TABLE) + 2


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (route("OD", "OD", verb="instill"), "QD|OD"),
        (frequency("QD", "QD", 1), "QID"),
        (dose_unit("CC", "cc", "cc", verb="take"), "mL"),
        (frequency("Q0", "never", 0), "more than zero"),
        (route("9X", "somewhere", verb="use"), "letters"),
        (route("", "somewhere", verb="use"), "letters"),
        (indication("PAIN2", " "), "words to print"),
    ],
)
def test_an_entry_that_would_print_an_ismp_problem_is_refused(
    entry: SigEntry, message: str
) -> None:
    with pytest.raises(SigTableInvalid, match=message) as refused:
        DEFAULT_SIG_TABLE.with_overrides([entry])
    assert isinstance(refused.value, ValidationFailed)


def test_a_code_defined_twice_for_one_kind_is_refused() -> None:
    with pytest.raises(SigTableInvalid, match="defined twice"):
        SigTable([indication("PAIN", "pain"), indication("pain", "aches")])


@pytest.mark.parametrize(
    ("quantity", "daily", "days"),
    [
        (D(30), D(1), 30),
        (D(31), D(2), 15),  # rounded down
        (D(1), D(4), 1),  # at least one day
        (D(4), D("0.142857142857"), 28),  # a weekly rate rounded down still gives 28 days
        (D(12), D("0.428571428571"), 28),
        (D(10), D("0.333333333333"), 30),
        (D("118"), D(10), 11),
    ],
)
def test_days_supply(quantity: Decimal, daily: Decimal, days: int) -> None:
    assert days_supply(quantity, daily) == days


@pytest.mark.parametrize(("quantity", "daily"), [(D(0), D(1)), (D(-3), D(1)), (D(30), D(0))])
def test_days_supply_refuses_zero_and_negative(quantity: Decimal, daily: Decimal) -> None:
    with pytest.raises(DaysSupplyInvalid) as refused:
        days_supply(quantity, daily)
    assert refused.value.facts == {"quantity": quantity, "max_daily_units": daily}


@given(
    st.integers(min_value=1, max_value=12),
    st.sampled_from(["QOD", "QW", "TIW", "Q72H", "Q2W", "Q3D", "BID", "Q8H"]),
    st.integers(min_value=1, max_value=20),
)
def test_whole_periods_give_exact_days(dose: int, code: str, periods: int) -> None:
    table = DEFAULT_SIG_TABLE.with_overrides([frequency("Q3D", "every 3 days", Fraction(1, 3))])
    expansion = expand_sig(f"{dose} T PO {code}", table)
    assert expansion.max_daily_units is not None
    per_day = {
        "QOD": Fraction(1, 2),
        "QW": Fraction(1, 7),
        "TIW": Fraction(3, 7),
        "Q72H": Fraction(1, 3),
        "Q2W": Fraction(1, 14),
        "Q3D": Fraction(1, 3),
        "BID": Fraction(2),
        "Q8H": Fraction(3),
    }[code]
    # A quantity lasting exactly `days` whole days must give exactly `days`.
    days = periods * per_day.denominator
    quantity = dose * per_day * days
    assert days_supply_for(expansion, D(quantity.numerator)) == days


TOKENS = [
    *sorted({entry.key for entry in DEFAULT_SIG_TABLE}),
    "1",
    "2",
    ".5",
    "0.25",
    "1.0",
    "10.50",
    "1/2",
    "3/4",
    "1-2",
    "2-4",
    "12000",
    "Q4H",
    "Q4-6H",
    "Q5MIN",
    "Q2D",
    "Q1W",
    "X7D",
    "X",
    "7",
    "FOR",
    "UP TO 3 DOSES",
    "NTE 4 DOSES PER DAY",
    "THEN",
    "Q.D.",
    "P.O.",
]


@given(st.lists(st.sampled_from(TOKENS), max_size=14))
def test_token_soup_never_raises_and_parsed_output_is_ismp_clean(tokens: list[str]) -> None:
    expansion = expand_sig(" ".join(tokens))
    if expansion.parsed:
        assert ismp_problems(expansion.directions) == []
        assert expansion.directions[:1].isupper()
        assert not expansion.directions.endswith(".")
        assert expansion.unparsed_tokens == ()
    else:
        assert expansion.needs_pharmacist_review
        assert expansion.max_daily_units is None


@given(st.text(max_size=60))
def test_any_text_never_raises(text: str) -> None:
    expansion = expand_sig(text)
    assert expansion.parsed or expansion.directions == " ".join(text.split())
    assert expansion.parsed or expansion.needs_pharmacist_review


@given(
    st.sampled_from(["T", "C", "ML", "TSP", "SUPP", "PATCH"]),
    st.decimals(min_value=D("0.01"), max_value=D(5000), places=2),
    st.sampled_from(["QD", "BID", "TID", "QID", "Q6H", "Q4-6H", "QHS", "AC"]),
)
def test_generated_well_formed_sigs_parse_with_a_positive_daily_amount(
    unit: str, dose: Decimal, code: str
) -> None:
    expansion = expand_sig(f"{dose} {unit} PO {code}")
    assert expansion.parsed, expansion.unparsed_tokens
    assert ismp_problems(expansion.directions) == []
    assert expansion.max_daily_units is not None and expansion.max_daily_units > 0
    assert days_supply_for(expansion, D(30)) is not None

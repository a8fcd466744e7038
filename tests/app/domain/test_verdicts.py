"""Verdicts on real packages: the demo subset of the FDA NDC Directory of 2019-04-29 and a few
more real rows of it in tests/app/data/ndc-verdicts (salt wordings, coatings, release forms, a
sample package, a real ten-digit collision)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.catalogue.fda_directory import read_directory
from app.demo import DEMO_CATALOGUE_DIR
from app.domain.barcodes import (
    GS,
    Scan,
    ScanError,
    gs1_element_string,
    gtin14_for,
    interpret_scan,
    upc_a_for,
)
from app.domain.ndc import parse_ndc
from app.domain.verdicts import (
    NOT_THERAPEUTIC_EQUIVALENCE,
    PRECEDENCE,
    ProductFacts,
    Requirement,
    Strength,
    StrengthUnreadable,
    Verdict,
    VerdictResult,
    compare_products,
    judge_scan,
    normalise_dosage_form,
    normalise_moiety,
    normalise_strength,
    strength_text,
)

EXTRA_DIR = Path(__file__).resolve().parents[1] / "data" / "ndc-verdicts"
TODAY = date(2026, 6, 15)


@cache
def catalogue() -> dict[str, ProductFacts]:
    """Every package of both directories, as the identify service builds its facts."""
    facts: dict[str, ProductFacts] = {}
    for directory in (DEMO_CATALOGUE_DIR, EXTRA_DIR):
        read = read_directory(directory)
        products = {product.fda_product_id: product for product in read.products}
        for package in read.packages:
            product = products[package.fda_product_id]
            facts[package.ndc] = ProductFacts(
                package_ndc=package.ndc,
                product_ndc=product.product_ndc,
                substance_name=product.substance_name,
                strength=product.strength,
                strength_unit=product.strength_unit,
                dosage_form=product.dosage_form,
                labeler=product.labeler,
                billing_unit=package.quantities.billing_unit,
                sample_package=package.sample_package,
                description=package.description.strip(),
                name=product.proprietary_name or product.nonproprietary_name,
                dea_schedule=product.dea_schedule,
            )
    return facts


def upc(ndc: str) -> str:
    return upc_a_for(parse_ndc(ndc))


def datamatrix(
    ndc: str,
    *,
    expiry: date | None = date(2028, 3, 31),
    lot: str | None = "LOT123",
    serial: str | None = "SN0001",
    gs: str = GS,
) -> str:
    return gs1_element_string(
        gtin14_for(parse_ndc(ndc)), expiry=expiry, lot=lot, serial=serial, gs=gs
    )


def judge(
    expected: str,
    text: str,
    *,
    today: date = TODAY,
    lot_status: str | None = None,
    expiry: date | None = None,
    days_supply: int | None = None,
    gs_substitute: str | None = None,
) -> VerdictResult:
    scan: Scan | ScanError
    try:
        scan = interpret_scan(text, gs_substitute=gs_substitute)
    except ScanError as error:
        scan = error
    found = []
    if isinstance(scan, Scan):
        found = [catalogue()[c.hyphenated] for c in scan.candidates if c.hyphenated in catalogue()]
    return judge_scan(
        expected=catalogue()[expected],
        scan=scan,
        found=found,
        today=today,
        lot_status=lot_status,
        expiry=expiry,
        days_supply=days_supply,
    )


@dataclass(frozen=True)
class Case:
    name: str
    expected: str
    scan: str
    verdict: Verdict
    requires: Requirement | None = None
    overridable: bool = False
    lot_status: str | None = None
    expiry: date | None = None
    days_supply: int | None = None
    gs_substitute: str | None = None
    says: tuple[str, ...] = ()
    warns: tuple[str, ...] = ()


MONTELUKAST_30 = "0093-7426-56"
LISINOPRIL_100 = "68180-980-01"
OXYCODONE_5_AMNEAL = "65162-047-10"
LEVO_50_MYLAN = "0378-1803-77"
METFORMIN_500 = "53746-218-01"
LAMOTRIGINE_25 = "0093-0039-01"

CASES = [
    # --- match, from every kind of code ------------------------------------------------------
    Case("UPC-A", MONTELUKAST_30, upc(MONTELUKAST_30), Verdict.MATCH, says=("Match",)),
    Case("EAN-13", MONTELUKAST_30, "0" + upc(MONTELUKAST_30), Verdict.MATCH),
    Case("GTIN-14", MONTELUKAST_30, gtin14_for(parse_ndc(MONTELUKAST_30)), Verdict.MATCH),
    Case(
        "GTIN-14 of a case", MONTELUKAST_30, gtin14_for(parse_ndc(MONTELUKAST_30), 5), Verdict.MATCH
    ),
    Case("DataMatrix", MONTELUKAST_30, datamatrix(MONTELUKAST_30), Verdict.MATCH),
    Case("DataMatrix with AIM", MONTELUKAST_30, "]d2" + datamatrix(MONTELUKAST_30), Verdict.MATCH),
    Case(
        "DataMatrix, GS sent as ^",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, gs="^"),
        Verdict.MATCH,
        gs_substitute="^",
    ),
    Case(
        "GS1 human-readable",
        MONTELUKAST_30,
        "(01)00300937426561(17)280331(10)LOT123",
        Verdict.MATCH,
    ),
    Case("typed hyphenated", "65862-012-30", "65862-012-30", Verdict.MATCH),
    Case("typed NDC-11", "65862-012-30", "65862001230", Verdict.MATCH),
    Case("typed 10 digits, one reading exists", "65862-012-30", "6586201230", Verdict.MATCH),
    Case(
        "day-00 expiry is the month's end",
        MONTELUKAST_30,
        "0100300937426561172606001012345",
        Verdict.MATCH,
    ),
    Case(
        "expiry today is not expired",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, expiry=TODAY),
        Verdict.MATCH,
    ),
    Case(
        "short expiry warns",
        LISINOPRIL_100,
        datamatrix(LISINOPRIL_100, expiry=TODAY + timedelta(days=20)),
        Verdict.MATCH,
        days_supply=30,
        warns=("Short expiry", "30-day supply"),
    ),
    Case(
        "C-II match",
        OXYCODONE_5_AMNEAL,
        upc(OXYCODONE_5_AMNEAL),
        Verdict.MATCH,
        warns=("Schedule II",),
    ),
    Case(
        "lot available",
        LISINOPRIL_100,
        datamatrix(LISINOPRIL_100),
        Verdict.MATCH,
        lot_status="available",
    ),
    # --- package size ------------------------------------------------------------------------
    Case(
        "tablets, 90 for 100",
        LISINOPRIL_100,
        upc("68180-980-09"),
        Verdict.PACKAGE_SIZE_DIFFERS,
        Requirement.CONFIRMATION,
        overridable=True,
        says=("counted out", "100 TABLET in 1 BOTTLE", "90 TABLET in 1 BOTTLE"),
    ),
    Case(
        "capsules, 30 for 100",
        "65862-017-01",
        datamatrix("65862-017-30"),
        Verdict.PACKAGE_SIZE_DIFFERS,
        Requirement.CONFIRMATION,
        overridable=True,
    ),
    Case(
        "C-II tablets, 30 for 100",
        "43386-356-01",
        upc("43386-356-03"),
        Verdict.PACKAGE_SIZE_DIFFERS,
        Requirement.CONFIRMATION,
        overridable=True,
        warns=("Schedule II",),
    ),
    Case(
        "inhaler",
        "59310-579-22",
        upc("59310-579-23"),
        Verdict.PACKAGE_SIZE_DIFFERS,
        Requirement.DATA_ENTRY,
        says=("whole packages", "data entry"),
    ),
    Case(
        "suspension, 50 mL for 100 mL",
        "0093-4161-73",
        upc("0093-4161-76"),
        Verdict.PACKAGE_SIZE_DIFFERS,
        Requirement.DATA_ENTRY,
    ),
    Case(
        "insulin vial, 3 mL for 10 mL",
        "0002-7510-01",
        upc("0002-7510-17"),
        Verdict.PACKAGE_SIZE_DIFFERS,
        Requirement.DATA_ENTRY,
    ),
    Case(
        "sample tablets",
        "0003-0894-21",
        upc("0003-0894-91"),
        Verdict.PACKAGE_SIZE_DIFFERS,
        says=("sample package", "Take a stock package"),
    ),
    Case(
        "sample insulin vial",
        "0002-7510-01",
        upc("0002-7510-99"),
        Verdict.PACKAGE_SIZE_DIFFERS,
        says=("sample package",),
    ),
    # --- other manufacturer ------------------------------------------------------------------
    Case(
        "levothyroxine sodium 50 mcg / sodium anhydrous 0.05 mg",
        LEVO_50_MYLAN,
        upc("50436-5504-2"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
        says=("LEVOTHYROXINE SODIUM ANHYDROUS", "Unit Dose Services", NOT_THERAPEUTIC_EQUIVALENCE),
    ),
    Case(
        "levothyroxine 75 mcg / 0.075 mg",
        "0378-1805-77",
        upc("0527-1372-01"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
        says=("75 mcg", "0.075 mg"),
    ),
    Case(
        "metformin tablet / film coated",
        METFORMIN_500,
        upc("0087-6060-05"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
    ),
    Case(
        "metformin tablet / coated",
        METFORMIN_500,
        upc("71717-104-11"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
    ),
    Case(
        "chlorpromazine sugar coated / film coated",
        "0781-5914-01",
        upc("69238-1056-1"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
    ),
    Case(
        "ibuprofen + pseudoephedrine coated / sugar coated",
        "0573-0180-10",
        upc("21130-423-41"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
    ),
    Case(
        "metformin extended release / film coated extended release",
        "0093-7267-01",
        upc("0591-2411-01"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
    ),
    Case(
        "amoxicillin 400 mg/5mL suspensions",
        "0093-4161-73",
        upc("65862-071-01"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
    ),
    Case(
        "C-II oxycodone from another labeler",
        OXYCODONE_5_AMNEAL,
        datamatrix("68382-793-01"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
        # This real Zydus listing carries no DEA schedule.
        warns=("Schedule II", "prescribed CII, scanned none"),
    ),
    Case(
        "C-II hydrocodone + acetaminophen from another labeler",
        "43386-356-01",
        upc("51079-777-20"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
        warns=("Schedule II",),
    ),
    Case(
        "C-IV zolpidem film coated",
        "0093-0074-01",
        upc("51079-725-20"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
    ),
    Case(
        "fluticasone, same labeler, another product NDC",
        "60505-0829-1",
        upc("60505-0847-3"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
        says=("same labeler",),
    ),
    Case(
        "omeprazole delayed release capsules",
        "51079-007-20",
        upc("59651-002-30"),
        Verdict.OTHER_MANUFACTURER,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
    ),
    # --- wrong drug --------------------------------------------------------------------------
    Case(
        "metformin / extended release",
        METFORMIN_500,
        upc("0093-7267-01"),
        Verdict.WRONG_DRUG,
        says=("dosage form differs", "TABLET, EXTENDED RELEASE", "Put it back"),
    ),
    Case(
        "metformin / film coated extended release",
        METFORMIN_500,
        upc("0591-2411-01"),
        Verdict.WRONG_DRUG,
    ),
    Case("lamotrigine / chewable", LAMOTRIGINE_25, upc("0173-0527-00"), Verdict.WRONG_DRUG),
    Case(
        "lamotrigine / orally disintegrating",
        LAMOTRIGINE_25,
        upc("0115-1526-08"),
        Verdict.WRONG_DRUG,
    ),
    Case("levothyroxine tablet / capsule", LEVO_50_MYLAN, upc("24090-492-07"), Verdict.WRONG_DRUG),
    Case(
        "levothyroxine 50 / 75 mcg",
        LEVO_50_MYLAN,
        upc("0378-1805-77"),
        Verdict.WRONG_DRUG,
        says=("strength differs",),
    ),
    Case(
        "C-II hydrocodone 5/325 / 10/325",
        "43386-356-01",
        upc("43386-358-01"),
        Verdict.WRONG_DRUG,
        says=("strength differs", "5 mg; 325 mg", "10 mg; 325 mg"),
        warns=("Schedule II",),
    ),
    Case(
        # The directory lists one as 90 mcg of base, the other as 108 mcg of the sulfate salt.
        "albuterol inhalers labelled 90 / 108 mcg",
        "0093-3174-31",
        upc("0254-1007-52"),
        Verdict.WRONG_DRUG,
    ),
    Case(
        "lisinopril / amlodipine",
        LISINOPRIL_100,
        upc("68180-720-09"),
        Verdict.WRONG_DRUG,
        says=("ingredients differ", "Lisinopril", "Amlodipine"),
    ),
    Case(
        "wrong drug before recalled",
        LISINOPRIL_100,
        datamatrix("68180-720-09"),
        Verdict.WRONG_DRUG,
        lot_status="recalled",
    ),
    Case(
        "wrong drug before expired",
        LISINOPRIL_100,
        datamatrix("68180-720-09", expiry=date(2025, 1, 31)),
        Verdict.WRONG_DRUG,
    ),
    # --- recalled and expired ----------------------------------------------------------------
    Case(
        "recalled lot",
        LISINOPRIL_100,
        datamatrix(LISINOPRIL_100),
        Verdict.RECALLED,
        lot_status="recalled",
        says=("LOT123", "recalled"),
    ),
    Case(
        "quarantined lot",
        LISINOPRIL_100,
        datamatrix(LISINOPRIL_100),
        Verdict.RECALLED,
        lot_status="quarantined",
    ),
    Case(
        "recalled before expired",
        LISINOPRIL_100,
        datamatrix(LISINOPRIL_100, expiry=date(2025, 1, 31)),
        Verdict.RECALLED,
        lot_status="recalled",
    ),
    Case(
        "expired yesterday",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, expiry=TODAY - timedelta(days=1)),
        Verdict.EXPIRED,
        says=("expired on 2026-06-14",),
    ),
    Case(
        "day-00 expiry of last month",
        MONTELUKAST_30,
        "0100300937426561172605001012345",
        Verdict.EXPIRED,
        says=("2026-05-31",),
    ),
    Case(
        "expired before other manufacturer",
        OXYCODONE_5_AMNEAL,
        datamatrix("68382-793-01", expiry=date(2026, 1, 31)),
        Verdict.EXPIRED,
        warns=("Schedule II", "different DEA schedules"),
    ),
    Case(
        "expiry of the stock lot when the barcode has none",
        MONTELUKAST_30,
        upc(MONTELUKAST_30),
        Verdict.EXPIRED,
        expiry=date(2026, 2, 28),
    ),
    # --- unknown, ambiguous, invalid ---------------------------------------------------------
    Case(
        "a real NDC the catalogue lacks (Norvasc)",
        "65862-102-30",
        upc("0069-1530-68"),
        Verdict.UNKNOWN,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
        says=("0069-1530-68", "not in the drug catalogue"),
    ),
    Case(
        "typed NDC the catalogue lacks",
        "65862-102-30",
        "0069-1530-68",
        Verdict.UNKNOWN,
        Requirement.PHARMACIST_OVERRIDE,
        overridable=True,
    ),
    Case(
        "ten digits naming two real packages",
        "29500-9077-7",
        "2950090777",
        Verdict.AMBIGUOUS,
        says=("29500-907-77", "29500-9077-7", "hyphens"),
    ),
    Case("a UPC two real packages share", "29500-9077-7", upc("29500-9077-7"), Verdict.AMBIGUOUS),
    Case(
        "bad check digit",
        MONTELUKAST_30,
        upc(MONTELUKAST_30)[:-1] + str((int(upc(MONTELUKAST_30)[-1]) + 1) % 10),
        Verdict.INVALID,
        says=("check digit",),
    ),
    Case(
        "GS lost between lot and serial",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, gs=""),
        Verdict.INVALID,
        says=("separator",),
    ),
    Case("an Rx label", MONTELUKAST_30, "RX1000123-0", Verdict.INVALID, says=("Rx label",)),
    Case("unreadable", MONTELUKAST_30, "hello world", Verdict.INVALID),
    Case("invalid typed NDC", MONTELUKAST_30, "0093-7426-5x", Verdict.INVALID),
]


def test_the_table_is_big_and_covers_every_verdict() -> None:
    assert len(CASES) >= 40
    assert {case.verdict for case in CASES} == set(Verdict)
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_verdict(case: Case) -> None:
    result = judge(
        case.expected,
        case.scan,
        lot_status=case.lot_status,
        expiry=case.expiry,
        days_supply=case.days_supply,
        gs_substitute=case.gs_substitute,
    )
    assert result.verdict is case.verdict, result.message
    assert result.requires == case.requires
    assert result.overridable is case.overridable
    for words in case.says:
        assert words in result.message
    for words in case.warns:
        assert any(words in warning for warning in result.warnings), result.warnings
    if not case.warns:
        assert result.warnings == ()


@pytest.mark.parametrize("verdict", [Verdict.WRONG_DRUG, Verdict.RECALLED, Verdict.EXPIRED])
def test_hard_stops_are_never_overridable(verdict: Verdict) -> None:
    results = [
        judge(case.expected, case.scan, lot_status=case.lot_status, expiry=case.expiry)
        for case in CASES
        if case.verdict is verdict
    ]
    assert results
    assert all(not result.overridable and result.requires is None for result in results)


def test_messages_name_what_was_expected_and_what_was_scanned() -> None:
    result = judge(LISINOPRIL_100, upc("68180-720-09"))
    assert "NDC 68180-980-01" in result.message
    assert "NDC 68180-720-09" in result.message
    assert "Lupin Pharmaceuticals, Inc." in result.message


def test_precedence_is_the_documented_order() -> None:
    assert [verdict.value for verdict in PRECEDENCE] == [
        "invalid",
        "unknown",
        "ambiguous",
        "wrong-drug",
        "recalled",
        "expired",
        "other-manufacturer",
        "package-size-differs",
        "match",
    ]


def test_compare_products_on_the_same_package_is_a_match_whatever_else() -> None:
    lisinopril = catalogue()[LISINOPRIL_100]
    assert compare_products(lisinopril, lisinopril) is Verdict.MATCH


def test_products_without_listed_ingredients_are_never_the_same_drug() -> None:
    kit = dataclasses.replace(catalogue()[METFORMIN_500], substance_name="", strength="")
    other_kit = dataclasses.replace(
        kit, package_ndc="99999-999-99", product_ndc="99999-999", labeler="Another Labeler"
    )
    assert compare_products(kit, other_kit) is Verdict.WRONG_DRUG
    result = judge_scan(
        expected=kit, scan=interpret_scan(upc(METFORMIN_500)), found=[other_kit], today=TODAY
    )
    assert "no ingredients to compare" in result.message


# --- normalisers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("substance", "moiety"),
    [
        ("AMLODIPINE BESYLATE", "AMLODIPINE"),
        ("AMLODIPINE MALEATE", "AMLODIPINE"),
        ("LEVOTHYROXINE SODIUM", "LEVOTHYROXINE"),
        ("LEVOTHYROXINE SODIUM ANHYDROUS", "LEVOTHYROXINE"),
        ("AZITHROMYCIN MONOHYDRATE", "AZITHROMYCIN"),
        ("ATORVASTATIN CALCIUM TRIHYDRATE", "ATORVASTATIN"),
        ("CABOZANTINIB S-MALATE", "CABOZANTINIB"),
        ("HYDROCODONE BITARTRATE", "HYDROCODONE"),
        ("doxycycline hyclate", "DOXYCYCLINE"),
        ("INSULIN LISPRO", "INSULIN LISPRO"),
        # Mineral salts are their whole name; esters change the drug.
        ("SODIUM CHLORIDE", "SODIUM CHLORIDE"),
        ("POTASSIUM CITRATE", "POTASSIUM CITRATE"),
        ("BETAMETHASONE VALERATE", "BETAMETHASONE VALERATE"),
        ("FLUTICASONE PROPIONATE", "FLUTICASONE PROPIONATE"),
    ],
)
def test_normalise_moiety(substance: str, moiety: str) -> None:
    assert normalise_moiety(substance) == moiety


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("75", "ug/1", Strength(Fraction(3, 40), "mg/1")),
        (".075", "mg/1", Strength(Fraction(3, 40), "mg/1")),
        ("400", "mg/5mL", Strength(Fraction(80), "mg/ml")),
        ("80", "mg/mL", Strength(Fraction(80), "mg/ml")),
        ("2", "g/100mL", Strength(Fraction(20), "mg/ml")),
        ("100", "[iU]/mL", Strength(Fraction(100), "[iu]/ml")),
        ("20", "mg/g", Strength(Fraction(1, 50), "mg/mg")),
        (".888", "mL/444mL", Strength(Fraction(1, 500), "ml/ml")),
        ("100", "ug/.5mL", Strength(Fraction(1, 5), "mg/ml")),
    ],
)
def test_normalise_strength(value: str, unit: str, expected: Strength) -> None:
    assert normalise_strength(value, unit) == expected


@pytest.mark.parametrize(("value", "unit"), [("", "mg/1"), ("N/A", "mg/1"), ("5", "mg/0mL")])
def test_a_strength_without_a_number_is_refused(value: str, unit: str) -> None:
    with pytest.raises(StrengthUnreadable):
        normalise_strength(value, unit)


@pytest.mark.parametrize(
    ("form", "normal"),
    [
        ("TABLET", "TABLET"),
        ("TABLET, FILM COATED", "TABLET"),
        ("TABLET, COATED", "TABLET"),
        ("TABLET, SUGAR COATED", "TABLET"),
        ("CAPSULE, GELATIN COATED", "CAPSULE"),
        ("TABLET, FILM COATED, EXTENDED RELEASE", "TABLET, EXTENDED RELEASE"),
        ("CAPSULE, COATED PELLETS", "CAPSULE, COATED PELLETS"),
        ("TABLET, ORALLY DISINTEGRATING", "TABLET, ORALLY DISINTEGRATING"),
        ("TABLET, CHEWABLE", "TABLET, CHEWABLE"),
        ("TABLET, MULTILAYER", "TABLET, MULTILAYER"),
    ],
)
def test_normalise_dosage_form(form: str, normal: str) -> None:
    assert normalise_dosage_form(form) == normal


def test_strength_text_pairs_each_strength_with_its_unit() -> None:
    assert strength_text("5; 325", "mg/1; mg/1") == "5 mg; 325 mg"
    assert strength_text(".075", "mg/1") == "0.075 mg"
    assert strength_text("50", "ug/1") == "50 mcg"
    assert strength_text("400", "mg/5mL") == "400 mg/5mL"


@given(st.integers(1, 10**9))
def test_mass_units_round_trip(micrograms: int) -> None:
    """The same amount written in ug, mg or g is the same strength."""
    in_ug = normalise_strength(str(micrograms), "ug/1")
    assert in_ug == normalise_strength(str(Decimal(micrograms) / 1000), "mg/1")
    assert in_ug == normalise_strength(str(Decimal(micrograms) / 10**6), "g/1")
    assert in_ug == Strength(Fraction(micrograms, 1000), "mg/1")


@given(st.integers(1, 5000), st.integers(1, 500))
def test_per_volume_is_per_ml(milligrams_per_ml: int, millilitres: int) -> None:
    per_ml = normalise_strength(str(milligrams_per_ml), "mg/mL")
    per_volume = normalise_strength(str(milligrams_per_ml * millilitres), f"mg/{millilitres}mL")
    assert per_ml == per_volume


salt_words = st.sampled_from(
    ["HYDROCHLORIDE", "SODIUM", "BESYLATE", "MALEATE", "MONOHYDRATE", "ANHYDROUS", "TARTRATE"]
)
moieties = st.sampled_from(["AMLODIPINE", "LEVOTHYROXINE", "METFORMIN", "SERTRALINE", "ZOLPIDEM"])


@given(moieties, st.lists(salt_words, max_size=3))
def test_salt_and_hydrate_words_never_change_the_moiety(moiety: str, salts: list[str]) -> None:
    assert normalise_moiety(" ".join([moiety, *salts])) == moiety
    assert normalise_moiety(normalise_moiety(moiety)) == moiety


package_facts = st.sampled_from(sorted(catalogue().values(), key=lambda facts: facts.package_ndc))
coatings = st.sampled_from(["FILM COATED", "COATED", "SUGAR COATED", "GELATIN COATED"])
release_words = st.sampled_from(
    ["EXTENDED RELEASE", "DELAYED RELEASE", "ORALLY DISINTEGRATING", "CHEWABLE", "MULTILAYER"]
)


def _with_form(facts: ProductFacts, form: str) -> ProductFacts:
    return dataclasses.replace(facts, dosage_form=form)


@given(package_facts, package_facts, coatings)
def test_coating_words_never_change_the_verdict(
    expected: ProductFacts, scanned: ProductFacts, coating: str
) -> None:
    verdict = compare_products(expected, scanned)
    parts = scanned.dosage_form.split(", ")
    coated = _with_form(scanned, ", ".join([parts[0], coating, *parts[1:]]))
    assert compare_products(expected, coated) is verdict


@given(package_facts, release_words)
def test_release_words_always_make_another_drug(expected: ProductFacts, release: str) -> None:
    assume(release not in expected.dosage_form)
    other_labeler = dataclasses.replace(
        expected,
        package_ndc="99999-999-99",
        product_ndc="99999-999",
        labeler="Another Labeler",
        dosage_form=f"{expected.dosage_form}, {release}",
    )
    assert compare_products(expected, other_labeler) is Verdict.WRONG_DRUG
    same = dataclasses.replace(other_labeler, dosage_form=expected.dosage_form)
    assert compare_products(expected, same) is Verdict.OTHER_MANUFACTURER

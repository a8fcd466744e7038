"""IdentifyService on the demo catalogue plus a few more real FDA rows, on either backend."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from app.bootstrap import Services
from app.db.models import AuditEvent, DrugPackage, StockLot
from app.demo import DEMO_CATALOGUE_DIR, load_catalogue_subset
from app.domain.barcodes import GS, gs1_element_string, gtin14_for, upc_a_for
from app.domain.ndc import Ndc, parse_ndc
from app.domain.verdicts import Requirement, Verdict
from app.errors import PermissionDenied
from app.services.identify import ExpectedNdcUnusable
from app.services.unit_of_work import Actor
from tests.app.catalogue.fda_files import merge_directories
from tests.conftest import TEST_PASSWORD

EXTRA_DIR = Path(__file__).resolve().parents[1] / "data" / "ndc-verdicts"
TODAY = date(2026, 6, 15)
MONTELUKAST = "0093-7426-56"
JSON_KEYS = [
    "status",
    "kind",
    "ndc",
    "ndc11",
    "gtin",
    "lot",
    "expiry",
    "serial",
    "product",
    "package",
    "dea_schedule",
    "candidates",
    "message",
]


@pytest.fixture
def catalogue(services: Services, admin: Actor, tmp_path: Path) -> Services:
    both = merge_directories(tmp_path / "ndc", DEMO_CATALOGUE_DIR, EXTRA_DIR)
    load_catalogue_subset(services.database, admin, both)
    return services


def _upc(ndc: str) -> str:
    return upc_a_for(parse_ndc(ndc))


def _datamatrix(ndc: str, *, lot: str = "A1B2", expiry: date = date(2028, 3, 31)) -> str:
    return gs1_element_string(gtin14_for(parse_ndc(ndc)), expiry=expiry, lot=lot, serial="SN9")


def test_a_upc_names_its_package(catalogue: Services, technician: Actor) -> None:
    found = catalogue.identify.identify(technician, _upc(MONTELUKAST))
    assert found.as_json() == {
        "status": "ok",
        "kind": "upc",
        "ndc": MONTELUKAST,
        "ndc11": "00093742656",
        "gtin": "00300937426561",
        "lot": None,
        "expiry": None,
        "serial": None,
        "product": "Montelukast Sodium 10 mg TABLET, FILM COATED",
        "package": "30 TABLET, FILM COATED in 1 BOTTLE (0093-7426-56)",
        "dea_schedule": None,
        "candidates": [],
        "message": None,
    }


def test_a_datamatrix_gives_lot_expiry_and_serial(catalogue: Services, technician: Actor) -> None:
    found = catalogue.identify.identify(technician, "]d2" + _datamatrix("65162-047-10"))
    data = found.as_json()
    assert list(data) == JSON_KEYS
    assert data["kind"] == "gs1"
    assert (data["ndc"], data["lot"], data["expiry"], data["serial"]) == (
        "65162-047-10",
        "A1B2",
        "2028-03-31",
        "SN9",
    )
    assert data["dea_schedule"] == "CII"


def test_a_gs_substitute_is_honoured(catalogue: Services, technician: Actor) -> None:
    text = _datamatrix(MONTELUKAST).replace(GS, "^")
    found = catalogue.identify.identify(technician, text, gs_substitute="^")
    assert (found.status, found.lot, found.serial) == ("ok", "A1B2", "SN9")


def test_an_ndc12_in_ai_715_finds_the_ten_digit_package(
    catalogue: Services, technician: Actor
) -> None:
    ndc12 = Ndc("000093", "7426", "56")
    text = gs1_element_string(gtin14_for(parse_ndc(MONTELUKAST)), lot="L1", ndc12=ndc12)
    assert catalogue.identify.identify(technician, text).ndc == MONTELUKAST


@pytest.mark.parametrize("typed", ["65862-012-30", "65862001230", "6586201230"])
def test_typed_ndcs_in_any_form(catalogue: Services, technician: Actor, typed: str) -> None:
    found = catalogue.identify.identify(technician, typed)
    assert (found.status, found.kind, found.ndc) == ("ok", "ndc", "65862-012-30")


def test_ten_digits_two_real_packages_share_are_ambiguous(
    catalogue: Services, technician: Actor
) -> None:
    found = catalogue.identify.identify(technician, "2950090777")
    assert found.status == "ambiguous"
    assert sorted(found.candidates) == ["29500-907-77", "29500-9077-7"]
    assert found.ndc is None
    assert "hyphens" in (found.message or "")
    assert catalogue.identify.identify(technician, "29500-9077-7").status == "ok"


def test_a_valid_code_not_in_the_catalogue_is_unknown(
    catalogue: Services, technician: Actor
) -> None:
    found = catalogue.identify.identify(technician, "0069-1530-68")
    assert (found.status, found.ndc, found.ndc11) == ("unknown", "0069-1530-68", "00069153068")
    assert "not in the drug catalogue" in (found.message or "")
    from_upc = catalogue.identify.identify(technician, _upc("0069-1530-68"))
    assert (from_upc.status, from_upc.ndc) == ("unknown", None)
    assert from_upc.gtin == "00" + _upc("0069-1530-68")


@pytest.mark.parametrize(
    "text",
    ["300937426562", "not a barcode", "", "0093-7426-5"],
    ids=["check digit", "text", "empty", "short NDC"],
)
def test_unusable_scans_are_invalid_with_a_sentence(
    catalogue: Services, technician: Actor, text: str
) -> None:
    found = catalogue.identify.identify(technician, text)
    assert found.status == "invalid"
    assert found.message and found.message.endswith(".")
    assert found.ndc is None


def test_a_lost_separator_is_invalid_but_still_shows_the_product(
    catalogue: Services, technician: Actor
) -> None:
    found = catalogue.identify.identify(technician, _datamatrix(MONTELUKAST).replace(GS, ""))
    assert found.status == "invalid"
    assert found.ndc == MONTELUKAST
    assert found.lot is None
    assert "separator" in (found.message or "")


def test_an_rx_label_gives_rx_and_fill(catalogue: Services, technician: Actor) -> None:
    data = catalogue.identify.identify(technician, "RX1000123-2").as_json()
    assert list(data) == [*JSON_KEYS, "rx", "fill"]
    assert (data["status"], data["kind"], data["rx"], data["fill"]) == (
        "ok",
        "rx-label",
        "1000123",
        2,
    )


@pytest.mark.parametrize(
    ("expect", "scanned", "verdict"),
    [
        (MONTELUKAST, _upc(MONTELUKAST), Verdict.MATCH),
        ("00093742656", _upc(MONTELUKAST), Verdict.MATCH),
        ("68180-980-01", _upc("68180-980-09"), Verdict.PACKAGE_SIZE_DIFFERS),
        ("0378-1803-77", _upc("50436-5504-2"), Verdict.OTHER_MANUFACTURER),
        ("53746-218-01", _upc("0093-7267-01"), Verdict.WRONG_DRUG),
        ("0069-1530-68", _upc(MONTELUKAST), None),
        (MONTELUKAST, _upc("0069-1530-68"), Verdict.UNKNOWN),
        ("29500-9077-7", "2950090777", Verdict.AMBIGUOUS),
        (MONTELUKAST, "300937426562", Verdict.INVALID),
        (MONTELUKAST, "RX1000123-2", Verdict.INVALID),
    ],
)
def test_expect_judges_the_scan(
    catalogue: Services, technician: Actor, expect: str, scanned: str, verdict: Verdict | None
) -> None:
    if verdict is None:
        with pytest.raises(ExpectedNdcUnusable, match="not in the drug catalogue"):
            catalogue.identify.identify(technician, scanned, expect=expect, today=TODAY)
        return
    found = catalogue.identify.identify(technician, scanned, expect=expect, today=TODAY)
    assert found.judgement is not None
    assert found.judgement.verdict is verdict
    data = found.as_json()
    assert data["verdict"] == verdict.value
    assert data["verdict_message"] == found.judgement.message


def test_an_expected_ndc_naming_two_packages_is_refused(
    catalogue: Services, technician: Actor
) -> None:
    with pytest.raises(ExpectedNdcUnusable, match="hyphens"):
        catalogue.identify.identify(technician, _upc(MONTELUKAST), expect="2950090777")
    with pytest.raises(ExpectedNdcUnusable):
        catalogue.identify.identify(technician, _upc(MONTELUKAST), expect="93-7426")


def test_the_expiry_in_the_barcode_is_judged_against_today(
    catalogue: Services, technician: Actor
) -> None:
    text = "0100300937426561172605001012345"  # day 00: the end of May 2026
    judged = catalogue.identify.identify(technician, text, expect=MONTELUKAST, today=TODAY)
    assert judged.expiry == date(2026, 5, 31)
    assert judged.judgement is not None and judged.judgement.verdict is Verdict.EXPIRED
    in_time = catalogue.identify.identify(
        technician, text, expect=MONTELUKAST, today=date(2026, 5, 31)
    )
    assert in_time.judgement is not None and in_time.judgement.verdict is Verdict.MATCH


def _stock_lot(services: Services, ndc: str, lot: str, *, status: str, expiry: date) -> None:
    with services.database.unit_of_work(services.auth.login("admin", TEST_PASSWORD)) as uow:
        package_id = uow.session.scalars(select(DrugPackage.id).where(DrugPackage.ndc == ndc)).one()
        uow.session.add(
            StockLot(
                package_id=package_id,
                lot_number=lot,
                expiry=expiry,
                status=status,
                on_hand=Decimal(0),
            )
        )


def _nobody() -> Actor:
    return Actor(None, "test", "Test", frozenset(), "test")


@pytest.mark.parametrize("status", ["recalled", "quarantined"])
def test_a_lot_known_as_recalled_or_quarantined_is_recalled(
    catalogue: Services, technician: Actor, status: str
) -> None:
    _stock_lot(catalogue, MONTELUKAST, "A1B2", status=status, expiry=date(2028, 3, 31))
    judged = catalogue.identify.identify(
        technician, _datamatrix(MONTELUKAST), expect=MONTELUKAST, today=TODAY
    )
    assert judged.judgement is not None
    assert judged.judgement.verdict is Verdict.RECALLED
    assert not judged.judgement.overridable
    other_lot = catalogue.identify.identify(
        technician, _datamatrix(MONTELUKAST, lot="OTHER"), expect=MONTELUKAST, today=TODAY
    )
    assert other_lot.judgement is not None and other_lot.judgement.verdict is Verdict.MATCH


def test_the_stock_lot_expiry_counts_when_the_barcode_has_none(
    catalogue: Services, technician: Actor
) -> None:
    _stock_lot(catalogue, MONTELUKAST, "A1B2", status="available", expiry=date(2026, 1, 31))
    text = gs1_element_string(gtin14_for(parse_ndc(MONTELUKAST)), lot="A1B2")
    judged = catalogue.identify.identify(technician, text, expect=MONTELUKAST, today=TODAY)
    assert judged.judgement is not None and judged.judgement.verdict is Verdict.EXPIRED


def test_a_sample_package_is_a_stop(catalogue: Services, technician: Actor) -> None:
    judged = catalogue.identify.identify(
        technician, _upc("0003-0894-91"), expect="0003-0894-21", today=TODAY
    )
    assert judged.judgement is not None
    assert judged.judgement.verdict is Verdict.PACKAGE_SIZE_DIFFERS
    assert (judged.judgement.overridable, judged.judgement.requires) == (False, None)
    counted = catalogue.identify.identify(
        technician, _upc("0003-0894-70"), expect="0003-0894-21", today=TODAY
    )
    assert counted.judgement is not None
    assert counted.judgement.requires is Requirement.CONFIRMATION


def test_a_discontinued_package_is_still_identified(
    catalogue: Services, technician: Actor, admin: Actor
) -> None:
    with catalogue.database.unit_of_work(admin) as uow:
        uow.session.execute(
            update(DrugPackage).where(DrugPackage.ndc == MONTELUKAST).values(discontinued=True)
        )
    assert catalogue.identify.identify(technician, MONTELUKAST).status == "ok"


def test_every_role_may_identify_but_someone_must_be_signed_in(
    catalogue: Services, technician: Actor, pharmacist: Actor, admin: Actor
) -> None:
    for actor in (technician, pharmacist, admin):
        assert catalogue.identify.identify(actor, _upc(MONTELUKAST)).status == "ok"
    with pytest.raises(PermissionDenied):
        catalogue.identify.identify(_nobody(), _upc(MONTELUKAST))


def test_identify_writes_nothing(catalogue: Services, technician: Actor) -> None:
    with catalogue.database.reading() as session:
        before = session.scalars(select(AuditEvent.id)).all()
    catalogue.identify.identify(technician, _upc(MONTELUKAST), expect=MONTELUKAST)
    with catalogue.database.reading() as session:
        assert session.scalars(select(AuditEvent.id)).all() == before

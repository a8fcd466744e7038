"""Fill verification by scanning, on real FDA packages (the demo subset plus tests/app/data/
ndc-verdicts): a scenario table driving judge and accept_bottle, the stock ledger and audit
trail each leaves, voiding, completion, concurrency and a lost database, on either backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from app.bootstrap import Services
from app.db.models import (
    AuditEvent,
    ControlledSubstanceEntry,
    DrugPackage,
    Fill,
    FillBottle,
    FillTransition,
    InsuranceCoverage,
    Patient,
    Prescriber,
    Prescription,
    StockLot,
    StockMovement,
    WorkItem,
)
from app.demo import DEMO_CATALOGUE_DIR, load_catalogue_subset
from app.domain.barcodes import GS, gs1_element_string, gtin14_for, upc_a_for
from app.domain.fill_states import FillState
from app.domain.ndc import parse_ndc
from app.domain.roles import Role
from app.domain.verdicts import Verdict
from app.errors import DatabaseUnavailable, PermissionDenied, StaleRecord, ValidationFailed
from app.services.claim_records import ClaimStatus
from app.services.dispensing import NegativeOnHandRefused
from app.services.house_settings import CiiCountMode, InventoryPolicy, VerificationPolicy
from app.services.inventory import InventoryService
from app.services.unit_of_work import Actor
from app.services.verification import (
    NEVER_RECEIVED_WARNING,
    BottleRefused,
    ConfirmationRequired,
    ControlledCountRefused,
    FillNotAtFillStep,
    FillNotOpen,
    LotAndExpiryRequired,
    NextStep,
    PharmacistOverrideRequired,
    QuantityRefused,
    RxLabelOfAnotherFill,
    StopReason,
    VerificationIncomplete,
)
from app.services.workflow import FillHeldByAnother
from tests.app.catalogue.fda_files import merge_directories
from tests.conftest import BACKEND, TEST_PASSWORD

EXTRA_DIR = Path(__file__).resolve().parents[1] / "data" / "ndc-verdicts"
TODAY = date(2026, 6, 15)
LATER = date(2028, 3, 31)
SEEDED = "test.seeded"

MONTELUKAST_30 = "0093-7426-56"
MONTELUKAST_90 = "0093-7426-98"
LISINOPRIL_100 = "68180-980-01"
LISINOPRIL_90 = "68180-980-09"
OXYCODONE_100 = "65162-047-10"
OXYCODONE_ZYDUS = "68382-793-01"
HYDROCODONE_100 = "43386-356-01"
ZOLPIDEM_100 = "0093-0074-01"
LEVO_50_MYLAN = "0378-1803-77"
LEVO_50_OTHER = "50436-5504-2"
INHALER_22 = "59310-579-22"
AMOXICILLIN_100_ML = "0093-4161-73"
ELIQUIS_60 = "0003-0894-21"


def upc(ndc: str) -> str:
    return upc_a_for(parse_ndc(ndc))


def datamatrix(
    ndc: str,
    *,
    expiry: date | None = LATER,
    lot: str | None = "LOT123",
    serial: str | None = "SN0001",
    gs: str = GS,
) -> str:
    return gs1_element_string(
        gtin14_for(parse_ndc(ndc)), expiry=expiry, lot=lot, serial=serial, gs=gs
    )


# --- building fills ---------------------------------------------------------------------------


@pytest.fixture
def catalogue(services: Services, admin: Actor, tmp_path: Path) -> Services:
    """The catalogue, in a house that allows negative on-hand: most scenarios scan lots never
    received in RxBench. The house's default (refused) is tested on its own below."""
    both = merge_directories(tmp_path / "ndc", DEMO_CATALOGUE_DIR, EXTRA_DIR)
    load_catalogue_subset(services.database, admin, both)
    allow_negative_on_hand(services, admin, allowed=True)
    return services


def allow_negative_on_hand(services: Services, admin: Actor, *, allowed: bool) -> None:
    services.house_settings.set_inventory_policy(
        admin, InventoryPolicy(allow_negative_on_hand=allowed)
    )


@pytest.fixture
def second_technician(services: Services, admin: Actor) -> Actor:
    services.users.add_user(
        admin,
        username="toby",
        full_name="Toby Trayfield",
        password=TEST_PASSWORD,
        roles=frozenset({Role.TECHNICIAN}),
    )
    return services.auth.login("toby", TEST_PASSWORD)


def package_id(services: Services, ndc: str) -> int:
    with services.database.reading() as session:
        found = session.scalars(
            select(DrugPackage.id).where(DrugPackage.ndc == ndc).order_by(DrugPackage.id)
        ).first()
    assert found is not None, ndc
    return found


def add_fill_at_fill_step(
    services: Services,
    actor: Actor,
    ndc: str,
    *,
    quantity: Decimal = Decimal(30),
    unit: str = "EA",
    patient: str = "Quibble",
) -> int:
    """A fictional patient's prescription for `ndc`, its fill at the Fill step."""
    package = package_id(services, ndc)
    with services.database.unit_of_work(actor) as uow:
        session = uow.session
        prescriber = session.scalars(select(Prescriber)).first()
        if prescriber is None:
            prescriber = Prescriber(last_name="Hemlock", first_name="Iona", npi="1245319599")
            session.add(prescriber)
            uow.audit(SEEDED, prescriber)
        person = Patient(
            last_name=patient, first_name="Wendell", date_of_birth=date(1961, 4, 2), sex="M"
        )
        count = session.scalar(select(func.count(Prescription.id))) or 0
        prescription = Prescription(
            rx_number=str(7100001 + count),
            patient=person,
            prescriber=prescriber,
            package_id=package,
            written_date=TODAY - timedelta(days=2),
            quantity=quantity,
            quantity_unit=unit,
            days_supply=30,
            directions="Take 1 tablet by mouth once daily",
        )
        fill = Fill(
            prescription=prescription,
            state=FillState.FILL.value,
            quantity=quantity,
            days_supply=30,
        )
        session.add_all([person, prescription, fill])
        for record in (person, prescription, fill):
            uow.audit(SEEDED, record)
    return fill.id


def add_lot(
    services: Services,
    actor: Actor,
    ndc: str,
    *,
    lot: str,
    on_hand: Decimal = Decimal(500),
    status: str = "available",
    expiry: date = LATER,
) -> int:
    """A received lot: its receipt movement and balance."""
    package = package_id(services, ndc)
    with services.database.unit_of_work(actor) as uow:
        stock = StockLot(
            package_id=package,
            lot_number=lot,
            expiry=expiry,
            status=status,
            on_hand=on_hand,
        )
        uow.session.add(stock)
        uow.session.flush()
        receipt = StockMovement(
            lot_id=stock.id, kind="received", quantity=on_hand, workstation=actor.workstation
        )
        uow.session.add(receipt)
        uow.audit(SEEDED, receipt)
    return stock.id


def set_policy(services: Services, admin: Actor, **values: Any) -> None:
    services.house_settings.set_verification_policy(admin, VerificationPolicy(**values))


def counts(services: Services) -> dict[str, int]:
    """How many ledger, bottle, log and audit rows exist."""
    tables = {
        "movements": StockMovement.id,
        "bottles": FillBottle.id,
        "controlled": ControlledSubstanceEntry.id,
        "audit": AuditEvent.id,
        "lots": StockLot.id,
        "notices": WorkItem.id,
    }
    with services.database.reading() as session:
        return {
            name: session.scalar(select(func.count(column))) or 0 for name, column in tables.items()
        }


def on_hand(services: Services, lot_id: int) -> Decimal:
    with services.database.reading() as session:
        return session.scalars(select(StockLot.on_hand).where(StockLot.id == lot_id)).one()


def version(services: Services, fill_id: int) -> int:
    with services.database.reading() as session:
        return session.scalars(select(Fill.version).where(Fill.id == fill_id)).one()


# --- the scenario table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One scan of one bottle for a fresh fill of `prescribed` (30 EA unless said)."""

    name: str
    prescribed: str
    scan: str
    verdict: Verdict
    quantity: Decimal | None = None  # None: the judgement's suggestion (a whole package)
    accepted: bool = True
    refusal: type[Exception] = BottleRefused
    reason: str | None = None  # the refusal's facts["reason"]
    fill_quantity: Decimal = Decimal(30)
    unit: str = "EA"
    lot_number: str | None = None
    expiry: date | None = None
    manual: bool = False
    confirm: bool = False
    override: str | None = None  # "pharmacist" | "technician"
    override_reason: str = ""
    cii_count: tuple[int, int] | None = None
    second_person: str | None = None  # "other" | "self"
    policy: dict[str, Any] = field(default_factory=dict)
    stock_lot: tuple[str, str, date] | None = None  # (lot, status, expiry) received before
    earlier: tuple[str, Decimal] | None = None  # (scan, quantity) accepted on this fill first
    earlier_elsewhere: str | None = None  # a scan accepted on another patient's fill first
    gs_substitute: str | None = None
    steps: tuple[NextStep, ...] = ()  # next steps judge must name
    says: tuple[str, ...] = ()
    warns: tuple[str, ...] = ()
    stop: StopReason | None = None


TYPED_LOT = {"lot_number": "TL42", "expiry": LATER}
NO_LOT_NEEDED = {"require_lot_for_upc": False}
TYPING_ALLOWED = {"require_scanning": False}

SCENARIOS = [
    # --- match, every kind of code -----------------------------------------------------------
    Scenario(
        "UPC with the lot and expiry typed",
        MONTELUKAST_30,
        upc(MONTELUKAST_30),
        Verdict.MATCH,
        **TYPED_LOT,  # type: ignore[arg-type]
        steps=(NextStep.LOT_AND_EXPIRY, NextStep.QUANTITY),
        warns=(NEVER_RECEIVED_WARNING,),
    ),
    Scenario(
        "DataMatrix gives lot, expiry and serial",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30),
        Verdict.MATCH,
        steps=(NextStep.QUANTITY,),
        says=("Match",),
        warns=(NEVER_RECEIVED_WARNING,),
    ),
    Scenario(
        "DataMatrix with AIM identifier",
        MONTELUKAST_30,
        "]d2" + datamatrix(MONTELUKAST_30),
        Verdict.MATCH,
    ),
    Scenario(
        "DataMatrix, GS sent as ^",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, gs="^"),
        Verdict.MATCH,
        gs_substitute="^",
    ),
    Scenario(
        "GS1 human-readable with lot and expiry",
        MONTELUKAST_30,
        "(01)00300937426561(17)280331(10)HR77",
        Verdict.MATCH,
    ),
    Scenario(
        "EAN-13 with the lot typed",
        MONTELUKAST_30,
        "0" + upc(MONTELUKAST_30),
        Verdict.MATCH,
        **TYPED_LOT,  # type: ignore[arg-type]
    ),
    Scenario(
        "GTIN-14 of a case with the lot typed",
        MONTELUKAST_30,
        gtin14_for(parse_ndc(MONTELUKAST_30), 5),
        Verdict.MATCH,
        **TYPED_LOT,  # type: ignore[arg-type]
    ),
    Scenario(
        "day-00 expiry is the month's end",
        MONTELUKAST_30,
        "01003009374265611728080010DAY00",
        Verdict.MATCH,
    ),
    Scenario(
        "a lot received in RxBench: no warning",
        LISINOPRIL_100,
        upc(LISINOPRIL_100),
        Verdict.MATCH,
        lot_number="REC1",
        quantity=Decimal(30),
        stock_lot=("REC1", "available", LATER),
    ),
    Scenario(
        "short expiry warns and is kept on the bottle",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, expiry=TODAY + timedelta(days=20)),
        Verdict.MATCH,
        warns=("Short expiry", "30-day supply"),
    ),
    Scenario(
        "a counted partial from a bigger bottle",
        LISINOPRIL_100,
        datamatrix(LISINOPRIL_100),
        Verdict.MATCH,
        quantity=Decimal(12),
    ),
    # --- lot and expiry ----------------------------------------------------------------------
    Scenario(
        "UPC alone when the lot is required",
        MONTELUKAST_30,
        upc(MONTELUKAST_30),
        Verdict.MATCH,
        accepted=False,
        refusal=LotAndExpiryRequired,
        reason="lot-and-expiry",
        steps=(NextStep.LOT_AND_EXPIRY,),
    ),
    Scenario(
        "UPC with only the expiry typed",
        MONTELUKAST_30,
        upc(MONTELUKAST_30),
        Verdict.MATCH,
        expiry=LATER,
        accepted=False,
        refusal=LotAndExpiryRequired,
        reason="lot",
    ),
    Scenario(
        "UPC alone when not required: the soonest-expiring lot",
        LISINOPRIL_100,
        upc(LISINOPRIL_100),
        Verdict.MATCH,
        quantity=Decimal(30),
        policy=NO_LOT_NEEDED,
        stock_lot=("FEFO1", "available", date(2027, 1, 31)),
        warns=("Lot not recorded", "FEFO1"),
    ),
    Scenario(
        "UPC alone, lot not required, nothing in stock",
        LISINOPRIL_100,
        upc(LISINOPRIL_100),
        Verdict.MATCH,
        quantity=Decimal(30),
        policy=NO_LOT_NEEDED,
        accepted=False,
        refusal=LotAndExpiryRequired,
        reason="lot-and-expiry",
    ),
    Scenario(
        "a typed lot that is recalled",
        LISINOPRIL_100,
        upc(LISINOPRIL_100),
        Verdict.RECALLED,
        lot_number="BAD1",
        stock_lot=("BAD1", "recalled", LATER),
        accepted=False,
        stop=StopReason.VERDICT,
        says=("recalled",),
    ),
    Scenario(
        "a scanned lot that is quarantined",
        LISINOPRIL_100,
        datamatrix(LISINOPRIL_100, lot="QQ1"),
        Verdict.RECALLED,
        stock_lot=("QQ1", "quarantined", LATER),
        accepted=False,
        stop=StopReason.VERDICT,
    ),
    Scenario(
        "expired in the DataMatrix",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, expiry=TODAY - timedelta(days=1)),
        Verdict.EXPIRED,
        accepted=False,
        stop=StopReason.VERDICT,
        says=("expired on 2026-06-14",),
    ),
    Scenario(
        "day-00 expiry of last month",
        MONTELUKAST_30,
        "01003009374265611726050010DAY00",
        Verdict.EXPIRED,
        accepted=False,
        says=("2026-05-31",),
    ),
    Scenario(
        "a typed expiry in the past",
        MONTELUKAST_30,
        upc(MONTELUKAST_30),
        Verdict.EXPIRED,
        lot_number="OLD1",
        expiry=date(2026, 1, 31),
        accepted=False,
    ),
    Scenario(
        "expired is never overridden",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, expiry=date(2026, 1, 31)),
        Verdict.EXPIRED,
        override="pharmacist",
        override_reason="none left",
        accepted=False,
    ),
    # --- quantity ----------------------------------------------------------------------------
    Scenario(
        "more than the package holds",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30),
        Verdict.MATCH,
        fill_quantity=Decimal(60),
        quantity=Decimal(40),
        accepted=False,
        refusal=QuantityRefused,
        reason="more-than-package",
    ),
    Scenario(
        "a whole package more than the fill needs",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30),
        Verdict.MATCH,
        fill_quantity=Decimal(20),
        quantity=Decimal(30),
        accepted=False,
        refusal=QuantityRefused,
        reason="more-than-fill",
    ),
    Scenario(
        "a second bottle beyond the running total",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, serial="SN0002"),
        Verdict.MATCH,
        fill_quantity=Decimal(45),
        earlier=(datamatrix(MONTELUKAST_30), Decimal(30)),
        quantity=Decimal(20),
        accepted=False,
        refusal=QuantityRefused,
        reason="more-than-fill",
    ),
    Scenario(
        "a second bottle completes the fill",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, serial="SN0002"),
        Verdict.MATCH,
        fill_quantity=Decimal(45),
        earlier=(datamatrix(MONTELUKAST_30), Decimal(30)),
        quantity=Decimal(15),
    ),
    Scenario(
        "nothing more is needed",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, serial="SN0002"),
        Verdict.MATCH,
        earlier=(datamatrix(MONTELUKAST_30), Decimal(30)),
        quantity=Decimal(1),
        accepted=False,
        stop=StopReason.FILL_COMPLETE,
    ),
    Scenario(
        "a quantity of zero",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30),
        Verdict.MATCH,
        quantity=Decimal(0),
        accepted=False,
        refusal=QuantityRefused,
        reason="not-positive",
    ),
    # --- package size ------------------------------------------------------------------------
    Scenario(
        "tablets, 90 for 100, not confirmed",
        LISINOPRIL_100,
        datamatrix(LISINOPRIL_90),
        Verdict.PACKAGE_SIZE_DIFFERS,
        quantity=Decimal(30),
        accepted=False,
        refusal=ConfirmationRequired,
        steps=(NextStep.CONFIRM_PACKAGE_SIZE, NextStep.QUANTITY),
    ),
    Scenario(
        "tablets, 90 for 100, confirmed",
        LISINOPRIL_100,
        datamatrix(LISINOPRIL_90),
        Verdict.PACKAGE_SIZE_DIFFERS,
        quantity=Decimal(30),
        confirm=True,
    ),
    Scenario(
        "inhaler: whole packages go back to data entry",
        INHALER_22,
        datamatrix("59310-579-23"),
        Verdict.PACKAGE_SIZE_DIFFERS,
        fill_quantity=Decimal(1),
        confirm=True,
        accepted=False,
        stop=StopReason.BACK_TO_DATA_ENTRY,
        steps=(NextStep.DATA_ENTRY,),
        says=("data entry",),
    ),
    Scenario(
        "suspension, 50 mL for 100 mL",
        AMOXICILLIN_100_ML,
        datamatrix("0093-4161-76"),
        Verdict.PACKAGE_SIZE_DIFFERS,
        fill_quantity=Decimal(100),
        unit="ML",
        accepted=False,
        stop=StopReason.BACK_TO_DATA_ENTRY,
    ),
    Scenario(
        "a sample package",
        ELIQUIS_60,
        datamatrix("0003-0894-91"),
        Verdict.PACKAGE_SIZE_DIFFERS,
        confirm=True,
        accepted=False,
        stop=StopReason.SAMPLE_PACKAGE,
        says=("sample package",),
    ),
    # --- other manufacturer and overrides ----------------------------------------------------
    Scenario(
        "other manufacturer without an override",
        LEVO_50_MYLAN,
        datamatrix(LEVO_50_OTHER),
        Verdict.OTHER_MANUFACTURER,
        accepted=False,
        refusal=PharmacistOverrideRequired,
        reason="pharmacist-override",
        steps=(NextStep.PHARMACIST_OVERRIDE, NextStep.QUANTITY),
    ),
    Scenario(
        "other manufacturer, a technician's 'override'",
        LEVO_50_MYLAN,
        datamatrix(LEVO_50_OTHER),
        Verdict.OTHER_MANUFACTURER,
        override="technician",
        override_reason="same drug",
        accepted=False,
        refusal=PharmacistOverrideRequired,
        reason="pharmacist-override",
    ),
    Scenario(
        "other manufacturer, a pharmacist without a reason",
        LEVO_50_MYLAN,
        datamatrix(LEVO_50_OTHER),
        Verdict.OTHER_MANUFACTURER,
        override="pharmacist",
        accepted=False,
        refusal=PharmacistOverrideRequired,
        reason="override-reason",
    ),
    Scenario(
        "other manufacturer, a pharmacist's override",
        LEVO_50_MYLAN,
        datamatrix(LEVO_50_OTHER),
        Verdict.OTHER_MANUFACTURER,
        override="pharmacist",
        override_reason="Mylan on back order; same moiety and strength",
    ),
    Scenario(
        "an override nobody needs",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30),
        Verdict.MATCH,
        override="pharmacist",
        override_reason="just because",
        accepted=False,
        reason="override-not-applicable",
    ),
    Scenario(
        "wrong drug",
        LISINOPRIL_100,
        datamatrix("68180-720-09"),
        Verdict.WRONG_DRUG,
        accepted=False,
        stop=StopReason.VERDICT,
        says=("Wrong drug", "Put it back"),
    ),
    Scenario(
        "wrong drug is never overridden",
        LISINOPRIL_100,
        datamatrix("68180-720-09"),
        Verdict.WRONG_DRUG,
        override="pharmacist",
        override_reason="trust me",
        accepted=False,
        stop=StopReason.VERDICT,
    ),
    # --- unknown, ambiguous, invalid ---------------------------------------------------------
    Scenario(
        "a real NDC the catalogue lacks",
        MONTELUKAST_30,
        datamatrix("0069-1530-68"),
        Verdict.UNKNOWN,
        override="pharmacist",
        override_reason="looks right",
        accepted=False,
        stop=StopReason.NOT_IN_CATALOGUE,
        steps=(NextStep.PHARMACIST_ADDS_PRODUCT, NextStep.TAKE_ANOTHER_BOTTLE),
        says=("not in the drug catalogue", "a pharmacist may add the product"),
    ),
    Scenario(
        "a UPC two real packages share",
        "29500-9077-7",
        upc("29500-9077-7"),
        Verdict.AMBIGUOUS,
        fill_quantity=Decimal(443),
        unit="ML",
        accepted=False,
        steps=(NextStep.TYPE_NDC_WITH_HYPHENS,),
    ),
    Scenario(
        "bad check digit",
        MONTELUKAST_30,
        upc(MONTELUKAST_30)[:-1] + str((int(upc(MONTELUKAST_30)[-1]) + 1) % 10),
        Verdict.INVALID,
        accepted=False,
        steps=(NextStep.RESCAN,),
        says=("check digit",),
    ),
    Scenario(
        "GS lost between lot and serial",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, gs=""),
        Verdict.INVALID,
        accepted=False,
        steps=(NextStep.RESCAN,),
        says=("separator",),
    ),
    # --- typed NDCs --------------------------------------------------------------------------
    Scenario(
        "typed NDC when scanning is required",
        MONTELUKAST_30,
        MONTELUKAST_30,
        Verdict.MATCH,
        **TYPED_LOT,  # type: ignore[arg-type]
        accepted=False,
        stop=StopReason.MANUAL_ENTRY_NOT_ALLOWED,
    ),
    Scenario(
        "a UPC typed by hand when scanning is required",
        MONTELUKAST_30,
        upc(MONTELUKAST_30),
        Verdict.MATCH,
        **TYPED_LOT,  # type: ignore[arg-type]
        manual=True,
        accepted=False,
        stop=StopReason.MANUAL_ENTRY_NOT_ALLOWED,
    ),
    Scenario(
        "typed NDC when typing is allowed",
        MONTELUKAST_30,
        MONTELUKAST_30,
        Verdict.MATCH,
        **TYPED_LOT,  # type: ignore[arg-type]
        policy=TYPING_ALLOWED,
    ),
    # --- serials -----------------------------------------------------------------------------
    Scenario(
        "a serial already dispensed on another fill",
        MONTELUKAST_30,
        datamatrix(MONTELUKAST_30, serial="DUP9"),
        Verdict.MATCH,
        earlier_elsewhere=datamatrix(MONTELUKAST_30, serial="DUP9"),
        accepted=False,
        stop=StopReason.DUPLICATE_SERIAL,
        says=("DUP9", "already used on Rx"),
    ),
    Scenario(
        "a second bottle of another product on one fill",
        LEVO_50_MYLAN,
        datamatrix(LEVO_50_OTHER, serial="SN0002"),
        Verdict.OTHER_MANUFACTURER,
        fill_quantity=Decimal(120),
        earlier=(datamatrix(LEVO_50_MYLAN), Decimal(90)),
        override="pharmacist",
        override_reason="short",
        accepted=False,
        stop=StopReason.MIXED_PRODUCTS,
    ),
    # --- controlled substances ---------------------------------------------------------------
    Scenario(
        "C-II counted twice, equal",
        OXYCODONE_100,
        datamatrix(OXYCODONE_100),
        Verdict.MATCH,
        quantity=Decimal(30),
        cii_count=(30, 30),
        steps=(NextStep.QUANTITY, NextStep.CII_COUNT_TWICE),
        warns=("Schedule II",),
    ),
    Scenario(
        "C-II counts differ",
        OXYCODONE_100,
        datamatrix(OXYCODONE_100),
        Verdict.MATCH,
        quantity=Decimal(30),
        cii_count=(30, 29),
        accepted=False,
        refusal=ControlledCountRefused,
        reason="counts-differ",
    ),
    Scenario(
        "C-II count missing",
        OXYCODONE_100,
        datamatrix(OXYCODONE_100),
        Verdict.MATCH,
        quantity=Decimal(30),
        accepted=False,
        refusal=ControlledCountRefused,
        reason="count-missing",
    ),
    Scenario(
        "C-II count is not the quantity",
        HYDROCODONE_100,
        datamatrix(HYDROCODONE_100),
        Verdict.MATCH,
        quantity=Decimal(30),
        cii_count=(28, 28),
        accepted=False,
        refusal=ControlledCountRefused,
        reason="count-not-quantity",
    ),
    Scenario(
        "C-II second person counts",
        OXYCODONE_100,
        datamatrix(OXYCODONE_100),
        Verdict.MATCH,
        quantity=Decimal(30),
        second_person="other",
        policy={"cii_count_mode": CiiCountMode.SECOND_PERSON},
        steps=(NextStep.QUANTITY, NextStep.CII_SECOND_PERSON),
    ),
    Scenario(
        "C-II second person is the technician",
        OXYCODONE_100,
        datamatrix(OXYCODONE_100),
        Verdict.MATCH,
        quantity=Decimal(30),
        second_person="self",
        policy={"cii_count_mode": CiiCountMode.SECOND_PERSON},
        accepted=False,
        refusal=ControlledCountRefused,
        reason="second-person-same",
    ),
    Scenario(
        "C-II second person missing",
        OXYCODONE_100,
        datamatrix(OXYCODONE_100),
        Verdict.MATCH,
        quantity=Decimal(30),
        policy={"cii_count_mode": CiiCountMode.SECOND_PERSON},
        accepted=False,
        refusal=ControlledCountRefused,
        reason="second-person-missing",
    ),
    Scenario(
        "C-II from a labeler listing no schedule is still counted",
        OXYCODONE_100,
        datamatrix(OXYCODONE_ZYDUS),
        Verdict.OTHER_MANUFACTURER,
        quantity=Decimal(30),
        override="pharmacist",
        override_reason="Amneal out of stock",
        cii_count=(30, 30),
        warns=("prescribed CII, scanned none",),
    ),
    Scenario(
        "C-IV needs no count",
        ZOLPIDEM_100,
        datamatrix(ZOLPIDEM_100),
        Verdict.MATCH,
        quantity=Decimal(30),
        steps=(NextStep.QUANTITY,),
    ),
]


def test_the_table_is_big_and_covers_every_verdict() -> None:
    assert len(SCENARIOS) >= 40
    assert {scenario.verdict for scenario in SCENARIOS} == set(Verdict)
    assert len({scenario.name for scenario in SCENARIOS}) == len(SCENARIOS)
    assert {s.stop for s in SCENARIOS if s.stop} >= set(StopReason) - {
        StopReason.UNIT_DIFFERS,
        StopReason.OWN_RX_LABEL,
    }


@pytest.mark.parametrize("case", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_scenario(
    catalogue: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    second_technician: Actor,
    case: Scenario,
) -> None:
    services = catalogue
    verification = services.verification
    if case.policy:
        set_policy(services, admin, **case.policy)
    lot_id = None
    if case.stock_lot is not None:
        lot, status, expiry = case.stock_lot
        scanned_ndc = case.prescribed
        lot_id = add_lot(services, admin, scanned_ndc, lot=lot, status=status, expiry=expiry)
    if case.earlier_elsewhere is not None:
        other = add_fill_at_fill_step(services, admin, case.prescribed, patient="Elsewhere")
        verification.open_fill(second_technician, other)
        verification.accept_bottle(
            second_technician,
            other,
            text=case.earlier_elsewhere,
            manual=False,
            quantity=Decimal(30),
            expected_version=version(services, other),
            today=TODAY,
        )
    fill_id = add_fill_at_fill_step(
        services, admin, case.prescribed, quantity=case.fill_quantity, unit=case.unit
    )
    view = verification.open_fill(technician, fill_id)
    if case.earlier is not None:
        text, quantity = case.earlier
        verification.accept_bottle(
            technician,
            fill_id,
            text=text,
            manual=False,
            quantity=quantity,
            expected_version=view.version,
            today=TODAY,
        )

    before = counts(services)
    judgement = verification.judge(
        technician,
        fill_id,
        text=case.scan,
        manual=case.manual,
        lot_number=case.lot_number,
        expiry=case.expiry,
        gs_substitute=case.gs_substitute,
        today=TODAY,
    )
    assert counts(services) == before, "judge must write nothing"
    assert judgement.verdict is case.verdict, judgement.message
    for step in case.steps:
        assert step in judgement.next_steps, (step, judgement.next_steps)
    for text in case.says:
        assert text in judgement.message, (text, judgement.message)
    if case.stop is not None:
        assert judgement.stop and judgement.stop_reason is case.stop, judgement

    override = {"pharmacist": pharmacist, "technician": second_technician}.get(case.override or "")
    second = {"other": second_technician, "self": technician}.get(case.second_person or "")
    quantity = case.quantity if case.quantity is not None else judgement.suggested_quantity
    arguments: dict[str, Any] = {
        "text": case.scan,
        "manual": case.manual,
        "quantity": quantity if quantity is not None else Decimal(30),
        "expected_version": version(services, fill_id),
        "lot_number": case.lot_number,
        "expiry": case.expiry,
        "confirm_package_size": case.confirm,
        "override": override,
        "override_reason": case.override_reason,
        "cii_count": tuple(Decimal(n) for n in case.cii_count) if case.cii_count else None,
        "second_person": second,
        "gs_substitute": case.gs_substitute,
        "today": TODAY,
    }
    if not case.accepted:
        with pytest.raises(case.refusal) as refused:
            verification.accept_bottle(technician, fill_id, **arguments)
        if case.reason is not None:
            assert refused.value.facts["reason"] == case.reason, refused.value.message
        if case.stop is not None:
            assert refused.value.facts["reason"] == case.stop.value
        assert counts(services) == before, "a refused bottle leaves no trace"
        return

    accepted = verification.accept_bottle(technician, fill_id, **arguments)
    after = counts(services)
    schedule_listed = "C-II" in case.name or "C-IV" in case.name
    assert after["movements"] == before["movements"] + 1
    assert after["bottles"] == before["bottles"] + 1
    # One event for the bottle, and one per shortage notice it opened (a partial from a lot
    # that went negative leaves the rest of the fill short).
    assert after["audit"] == before["audit"] + 1 + (after["notices"] - before["notices"])
    assert after["controlled"] == before["controlled"] + (1 if schedule_listed else 0)
    bottle = accepted.bottle
    assert bottle.verdict is case.verdict
    assert bottle.quantity == arguments["quantity"]
    assert bottle.manual is (case.manual or case.scan == MONTELUKAST_30)
    assert bottle.confirmed is case.confirm
    assert bottle.overridden_by == (override.username if override else None)
    for text in case.warns:
        assert any(text in warning for warning in bottle.warnings), (text, bottle.warnings)
    dispensed_package = package_id(services, accepted.dispensed_ndc)
    with services.database.reading() as session:
        movement = session.get(StockMovement, accepted.movement_id)
        assert movement is not None
        assert (movement.kind, movement.quantity, movement.fill_id) == (
            "dispensed",
            -arguments["quantity"],
            fill_id,
        )
        assert movement.user_id == technician.user_id
        lot = session.get(StockLot, movement.lot_id)
        assert lot is not None
        ledger = session.scalar(
            select(func.sum(StockMovement.quantity)).where(StockMovement.lot_id == lot.id)
        )
        assert lot.on_hand == ledger  # the maintained balance is the sum of the ledger
        if lot_id is not None:
            assert (lot.id, lot.on_hand) == (lot_id, 500 - arguments["quantity"])
        event_row = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "fill.bottle_accepted",
                AuditEvent.entity_id == str(bottle.bottle_id),
            )
        ).one()
        assert (event_row.entity_type, event_row.entity_id) == (
            "fill_bottles",
            str(bottle.bottle_id),
        )
        assert event_row.summary["movement_id"] == accepted.movement_id
        assert event_row.summary["controlled_entry_id"] == accepted.controlled_entry_id
        fill = session.get(Fill, fill_id)
        assert fill is not None
        assert fill.version == accepted.fill_version
        assert fill.dispensed_package_id == dispensed_package


def _open(services: Services, actor: Actor, ndc: str = MONTELUKAST_30, **fill: Any) -> int:
    fill_id = add_fill_at_fill_step(services, actor, ndc, **fill)
    return fill_id


def _accept(
    services: Services, actor: Actor, fill_id: int, text: str, quantity: int, **more: Any
) -> Any:
    return services.verification.accept_bottle(
        actor,
        fill_id,
        text=text,
        manual=False,
        quantity=Decimal(quantity),
        expected_version=version(services, fill_id),
        today=TODAY,
        **more,
    )


# --- opening a fill ---------------------------------------------------------------------------


def test_open_fill_shows_what_the_fill_needs_and_holds_it(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = _open(catalogue, admin, OXYCODONE_100)
    view = catalogue.verification.open_fill(technician, fill_id)
    assert view.patient_name == "Quibble, Wendell"
    assert view.ndc == OXYCODONE_100
    assert view.drug.lower().startswith("oxycodone")
    assert (view.strength, view.dosage_form, view.dea_schedule) == ("5 mg", "TABLET", "CII")
    assert view.manufacturer
    assert "100 TABLET in 1 BOTTLE" in view.package_description
    assert (view.quantity, view.unit, view.package_quantity) == (30, "EA", 100)
    assert view.counted_by_unit
    assert (view.accepted_total, view.remaining, view.bottles) == (0, 30, ())
    assert view.version == version(catalogue, fill_id)
    assert view.policy == VerificationPolicy()
    with catalogue.database.reading() as session:
        fill = session.get(Fill, fill_id)
        assert fill is not None and fill.held_by_user_id == technician.user_id
    again = catalogue.verification.open_fill(technician, fill_id)
    assert again.version == view.version  # re-opening one's own fill changes nothing


def test_a_whole_package_product_is_shown_in_its_package_unit(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = _open(catalogue, admin, AMOXICILLIN_100_ML, quantity=Decimal(100), unit="ML")
    view = catalogue.verification.open_fill(technician, fill_id)
    assert (view.quantity, view.unit, view.package_quantity, view.counted_by_unit) == (
        100,
        "ML",
        100,
        False,
    )


def test_a_fill_someone_else_holds_is_refused(
    catalogue: Services, admin: Actor, technician: Actor, second_technician: Actor
) -> None:
    fill_id = _open(catalogue, admin)
    catalogue.verification.open_fill(technician, fill_id)
    with pytest.raises(FillHeldByAnother, match="tess"):
        catalogue.verification.open_fill(second_technician, fill_id)
    with pytest.raises(FillHeldByAnother):
        catalogue.verification.judge(second_technician, fill_id, text=upc(MONTELUKAST_30))


def test_scanning_needs_the_fill_open_and_at_the_fill_step(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = _open(catalogue, admin)
    with pytest.raises(FillNotOpen):
        catalogue.verification.judge(technician, fill_id, text=upc(MONTELUKAST_30))
    with catalogue.database.unit_of_work(admin) as uow:
        fill = uow.session.get(Fill, fill_id)
        assert fill is not None
        fill.state = FillState.DATA_REVIEW.value
        uow.audit(SEEDED, fill)
    with pytest.raises(FillNotAtFillStep, match="Pharmacist data review"):
        catalogue.verification.open_fill(technician, fill_id)


def test_an_administrator_alone_may_not_verify(catalogue: Services, admin: Actor) -> None:
    only_admin = Actor(
        user_id=admin.user_id,
        username=admin.username,
        full_name=admin.full_name,
        roles=frozenset({Role.ADMINISTRATOR}),
        workstation=admin.workstation,
    )
    fill_id = _open(catalogue, admin)
    with pytest.raises(PermissionDenied):
        catalogue.verification.open_fill(only_admin, fill_id)


# --- Rx labels --------------------------------------------------------------------------------


def test_this_fills_own_rx_label_is_ignored(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = _open(catalogue, admin)
    catalogue.verification.open_fill(technician, fill_id)
    with catalogue.database.reading() as session:
        rx = session.scalars(select(Prescription.rx_number)).one()
    judgement = catalogue.verification.judge(technician, fill_id, text=f"RX{rx}-0")
    assert judgement.verdict is None
    assert judgement.stop_reason is StopReason.OWN_RX_LABEL
    assert "own Rx label" in judgement.message
    with pytest.raises(BottleRefused):
        _accept(catalogue, technician, fill_id, f"RX{rx}-0", 30)


def test_another_patients_rx_label_mid_fill_is_an_error(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    other = _open(catalogue, admin, patient="Otherly")
    fill_id = _open(catalogue, admin)
    catalogue.verification.open_fill(technician, fill_id)
    with catalogue.database.reading() as session:
        other_rx = session.scalars(
            select(Prescription.rx_number).join(Fill).where(Fill.id == other)
        ).one()
    before = counts(catalogue)
    with pytest.raises(RxLabelOfAnotherFill, match=f"Rx {other_rx}-0 for another patient"):
        catalogue.verification.judge(technician, fill_id, text=f"RX{other_rx}-0")
    with pytest.raises(RxLabelOfAnotherFill):
        _accept(catalogue, technician, fill_id, f"RX{other_rx}-0", 30)
    with pytest.raises(RxLabelOfAnotherFill, match="not a prescription of this pharmacy"):
        catalogue.verification.judge(technician, fill_id, text="RX999-0")
    assert counts(catalogue) == before


# --- the ledger -------------------------------------------------------------------------------


def test_controlled_log_runs_from_the_stock_on_hand(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    lot_id = add_lot(catalogue, admin, OXYCODONE_100, lot="OX1", on_hand=Decimal(100))
    first = _open(catalogue, admin, OXYCODONE_100)
    second = _open(catalogue, admin, OXYCODONE_100, patient="Secondo")
    for fill_id in (first, second):
        catalogue.verification.open_fill(technician, fill_id)
        _accept(
            catalogue,
            technician,
            fill_id,
            datamatrix(OXYCODONE_100, lot="OX1", serial=f"S{fill_id}"),
            30,
            cii_count=(Decimal(30), Decimal(30)),
        )
    with catalogue.database.reading() as session:
        entries = session.scalars(
            select(ControlledSubstanceEntry).order_by(ControlledSubstanceEntry.id)
        ).all()
    assert [(e.schedule, e.kind, e.quantity, e.balance_after) for e in entries] == [
        ("CII", "dispensed", -30, 70),
        ("CII", "dispensed", -30, 40),
    ]
    assert [e.fill_id for e in entries] == [first, second]
    assert on_hand(catalogue, lot_id) == 40


def test_void_restores_stock_and_the_log_with_one_event(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    lot_id = add_lot(catalogue, admin, OXYCODONE_100, lot="OX1", on_hand=Decimal(100))
    fill_id = _open(catalogue, admin, OXYCODONE_100)
    catalogue.verification.open_fill(technician, fill_id)
    accepted = _accept(
        catalogue,
        technician,
        fill_id,
        datamatrix(OXYCODONE_100, lot="OX1"),
        30,
        cii_count=(Decimal(30), Decimal(30)),
    )
    assert on_hand(catalogue, lot_id) == 70
    before = counts(catalogue)
    with pytest.raises(StaleRecord):
        catalogue.verification.void_bottle(
            technician,
            fill_id,
            accepted.bottle.bottle_id,
            reason="wrong count",
            expected_version=accepted.fill_version - 1,
        )
    with pytest.raises(ValidationFailed):
        catalogue.verification.void_bottle(
            technician,
            fill_id,
            accepted.bottle.bottle_id,
            reason=" ",
            expected_version=accepted.fill_version,
        )
    voided = catalogue.verification.void_bottle(
        technician,
        fill_id,
        accepted.bottle.bottle_id,
        reason="dropped on the floor",
        expected_version=accepted.fill_version,
    )
    after = counts(catalogue)
    assert (after["movements"], after["controlled"], after["audit"], after["bottles"]) == (
        before["movements"] + 1,
        before["controlled"] + 1,
        before["audit"] + 1,
        before["bottles"],
    )
    assert on_hand(catalogue, lot_id) == 100
    assert voided.bottle.voided and voided.bottle.voided_reason == "dropped on the floor"
    assert (voided.accepted_total, voided.remaining) == (0, 30)
    with catalogue.database.reading() as session:
        reversal = session.get(StockMovement, voided.reversal_movement_id)
        assert reversal is not None
        assert (reversal.kind, reversal.quantity, reversal.reverses_id) == (
            "reversal",
            30,
            accepted.movement_id,
        )
        last = session.scalars(
            select(ControlledSubstanceEntry).order_by(ControlledSubstanceEntry.id.desc())
        ).first()
        assert last is not None
        assert (last.kind, last.quantity, last.balance_after) == ("reversal", 30, 100)
        fill = session.get(Fill, fill_id)
        assert fill is not None and fill.dispensed_package_id is None
    with pytest.raises(ValidationFailed, match="already voided"):
        catalogue.verification.void_bottle(
            technician,
            fill_id,
            accepted.bottle.bottle_id,
            reason="again",
            expected_version=voided.fill_version,
        )
    # Voiding frees the bottle's serial: the same bottle may be scanned again.
    again = _accept(
        catalogue,
        technician,
        fill_id,
        datamatrix(OXYCODONE_100, lot="OX1"),
        30,
        cii_count=(Decimal(30), Decimal(30)),
    )
    assert again.remaining == 0


def test_complete_moves_to_final_verification_only_when_all_is_scanned(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = _open(catalogue, admin, quantity=Decimal(45))
    view = catalogue.verification.open_fill(technician, fill_id)
    first = _accept(catalogue, technician, fill_id, datamatrix(MONTELUKAST_30), 30)
    with pytest.raises(VerificationIncomplete, match="30 EA of the 45 EA"):
        catalogue.verification.complete(technician, fill_id, expected_version=first.fill_version)
    with pytest.raises(StaleRecord):
        catalogue.verification.complete(technician, fill_id, expected_version=view.version)
    second = _accept(catalogue, technician, fill_id, datamatrix(MONTELUKAST_30, serial="SN2"), 15)
    assert second.complete
    row = catalogue.verification.complete(technician, fill_id, expected_version=second.fill_version)
    assert row.state is FillState.FINAL_VERIFICATION
    assert row.held_by is None
    with catalogue.database.reading() as session:
        transition = session.scalars(
            select(FillTransition)
            .where(FillTransition.fill_id == fill_id)
            .order_by(FillTransition.id.desc())
        ).first()
        assert transition is not None
        assert (transition.from_state, transition.to_state) == ("fill", "final_verification")
        items = session.scalars(
            select(WorkItem.kind).where(
                WorkItem.entity_id == str(fill_id), WorkItem.closed_at.is_(None)
            )
        ).all()
        assert items == ["final_verification"]
    with pytest.raises(FillNotAtFillStep):
        catalogue.verification.judge(technician, fill_id, text=datamatrix(MONTELUKAST_30))


def test_the_pharmacist_sees_every_bottle_with_overrides_and_voids(
    catalogue: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    set_policy(catalogue, admin, require_scanning=False)
    fill_id = _open(catalogue, admin, LEVO_50_MYLAN, quantity=Decimal(90))
    catalogue.verification.open_fill(technician, fill_id)
    typed = catalogue.verification.accept_bottle(
        technician,
        fill_id,
        text=LEVO_50_MYLAN,
        manual=True,
        quantity=Decimal(30),
        expected_version=version(catalogue, fill_id),
        lot_number="M1",
        expiry=LATER,
        today=TODAY,
    )
    catalogue.verification.void_bottle(
        technician,
        fill_id,
        typed.bottle.bottle_id,
        reason="scanned the wrong basket",
        expected_version=typed.fill_version,
    )
    cosigner = catalogue.auth.cosign(technician, "phil", TEST_PASSWORD, purpose="override")
    overridden = _accept(
        catalogue,
        technician,
        fill_id,
        datamatrix(LEVO_50_OTHER),
        30,
        override=cosigner,
        override_reason="Mylan on back order",
    )
    assert overridden.dispensed_ndc == LEVO_50_OTHER
    rows = catalogue.verification.bottles_for_review(pharmacist, fill_id)
    assert [(row.ndc, row.manual, row.voided) for row in rows] == [
        (LEVO_50_MYLAN, True, True),
        (LEVO_50_OTHER, False, False),
    ]
    assert rows[1].verdict is Verdict.OTHER_MANUFACTURER
    assert (rows[1].overridden_by, rows[1].override_reason) == ("phil", "Mylan on back order")
    assert rows[0].voided_reason == "scanned the wrong basket"
    assert rows[1].scanned_by == "tess"
    with catalogue.database.reading() as session:
        event_row = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "fill.bottle_accepted",
                AuditEvent.entity_id == str(overridden.bottle.bottle_id),
            )
        ).one()
    assert event_row.summary["override_by"] == "phil"
    assert event_row.summary["override_reason"] == "Mylan on back order"


# --- two workstations, a lost database ----------------------------------------------------------


def test_a_stale_version_is_refused_and_writes_nothing(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = _open(catalogue, admin, quantity=Decimal(60))
    view = catalogue.verification.open_fill(technician, fill_id)
    _accept(catalogue, technician, fill_id, datamatrix(MONTELUKAST_30), 30)
    before = counts(catalogue)
    with pytest.raises(StaleRecord):
        catalogue.verification.accept_bottle(
            technician,
            fill_id,
            text=datamatrix(MONTELUKAST_30, serial="SN2"),
            manual=False,
            quantity=Decimal(30),
            expected_version=view.version,
            today=TODAY,
        )
    assert counts(catalogue) == before


def test_a_database_lost_mid_scan_writes_nothing(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = _open(catalogue, admin)
    view = catalogue.verification.open_fill(technician, fill_id)
    before = counts(catalogue)
    engine = catalogue.database.engine
    lost = (
        "SELECT pg_terminate_backend(pg_backend_pid())"
        if BACKEND == "postgresql"
        else "SELECT * FROM the_database_is_gone"
    )

    def lose_connection(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO STOCK_MOVEMENTS"):
            return lost, type(parameters)()
        return statement, parameters

    event.listen(engine, "before_cursor_execute", lose_connection, retval=True)
    try:
        with pytest.raises(DatabaseUnavailable):
            catalogue.verification.accept_bottle(
                technician,
                fill_id,
                text=datamatrix(MONTELUKAST_30),
                manual=False,
                quantity=Decimal(30),
                expected_version=view.version,
                today=TODAY,
            )
    finally:
        event.remove(engine, "before_cursor_execute", lose_connection)
    assert counts(catalogue) == before
    assert version(catalogue, fill_id) == view.version


# --- the house policy ---------------------------------------------------------------------------


def test_the_verification_policy_is_a_house_setting(
    services: Services, admin: Actor, technician: Actor
) -> None:
    assert services.house_settings.current().verification == VerificationPolicy()
    changed = services.house_settings.set_verification_policy(
        admin,
        VerificationPolicy(
            require_scanning=False,
            require_lot_for_upc=False,
            cii_count_mode=CiiCountMode.SECOND_PERSON,
        ),
    )
    assert changed.verification.cii_count_mode is CiiCountMode.SECOND_PERSON
    assert not changed.verification.require_scanning
    with services.database.reading() as session:
        keys = session.scalars(
            select(AuditEvent.entity_id).where(AuditEvent.action == "settings.changed")
        ).all()
    assert sorted(keys) == ["cii_count_mode", "require_lot_for_upc", "require_scanning"]
    with pytest.raises(PermissionDenied):
        services.house_settings.set_verification_policy(technician, VerificationPolicy())
    with pytest.raises(ValidationFailed, match="not a C-II count mode"):
        services.house_settings.set_verification_policy(
            admin,
            VerificationPolicy(cii_count_mode="triple-entry"),  # type: ignore[arg-type]
        )


# --- the house's rule on negative on-hand, and expired stock ---------------------------------


def test_a_bottle_taking_its_lot_below_zero_is_refused_before_anything_is_written(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    allow_negative_on_hand(catalogue, admin, allowed=False)  # the house's default
    add_lot(catalogue, admin, MONTELUKAST_30, lot="SHORT1", on_hand=Decimal(10))
    fill_id = _open(catalogue, admin, MONTELUKAST_30)
    catalogue.verification.open_fill(technician, fill_id)
    before = counts(catalogue)

    with pytest.raises(NegativeOnHandRefused) as refused:
        _accept(catalogue, technician, fill_id, datamatrix(MONTELUKAST_30, lot="SHORT1"), 30)
    assert refused.value.message == (
        f"Lot SHORT1 of NDC {MONTELUKAST_30} has 10 on hand: taking 30 would leave -20. "
        "Count the lot and correct it first, or take less."
    )
    with pytest.raises(NegativeOnHandRefused) as never_received:
        _accept(catalogue, technician, fill_id, datamatrix(MONTELUKAST_30, lot="NEVER1"), 30)
    assert never_received.value.message.startswith(
        f"Lot NEVER1 of NDC {MONTELUKAST_30} was never received in RxBench, so none of it is "
        "on hand to take 30 from. Receive the delivery first"
    )
    assert counts(catalogue) == before, "no bottle, movement, lot, notice or audit event"

    within = _accept(catalogue, technician, fill_id, datamatrix(MONTELUKAST_30, lot="SHORT1"), 10)
    assert within.bottle.warnings == ()


def test_a_house_allowing_negative_stock_accepts_the_bottle_and_flags_the_lot(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    lot_id = add_lot(catalogue, admin, MONTELUKAST_30, lot="SHORT1", on_hand=Decimal(10))
    fill_id = _open(catalogue, admin, MONTELUKAST_30)
    catalogue.verification.open_fill(technician, fill_id)

    accepted = _accept(catalogue, technician, fill_id, datamatrix(MONTELUKAST_30, lot="SHORT1"), 30)

    flag = (
        f"Lot SHORT1 of NDC {MONTELUKAST_30} is now negative (-20 on hand): count it and "
        "correct the ledger."
    )
    assert flag in accepted.bottle.warnings
    assert on_hand(catalogue, lot_id) == -20
    [lot] = catalogue.inventory.lots(technician, package_id(catalogue, MONTELUKAST_30))
    assert lot.negative
    with catalogue.database.reading() as session:
        event_row = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "fill.bottle_accepted")
        ).one()
    assert event_row.summary["negative"] is True
    assert flag in event_row.summary["warnings"]


def test_an_expired_lot_quarantined_at_sign_in_cannot_be_dispensed(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    lot_id = add_lot(catalogue, admin, MONTELUKAST_30, lot="OLD1", expiry=TODAY - timedelta(days=1))
    inventory = InventoryService(catalogue.database, today=lambda: TODAY)
    assert inventory.quarantine_expired(technician) == 1
    fill_id = _open(catalogue, admin, MONTELUKAST_30)
    catalogue.verification.open_fill(technician, fill_id)
    before = counts(catalogue)

    with pytest.raises(BottleRefused):
        _accept(
            catalogue,
            technician,
            fill_id,
            datamatrix(MONTELUKAST_30, lot="OLD1", expiry=TODAY - timedelta(days=1)),
            30,
        )

    assert counts(catalogue) == before
    assert on_hand(catalogue, lot_id) == 500
    [lot] = inventory.lots(technician, package_id(catalogue, MONTELUKAST_30))
    assert lot.status == "quarantined"


def test_a_bottle_of_another_package_reverses_the_paid_claim_and_bills_what_is_dispensed(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    services = catalogue
    fill_id = add_fill_at_fill_step(services, admin, LISINOPRIL_100)
    with services.database.unit_of_work(admin) as uow:
        fill = uow.session.get(Fill, fill_id)
        assert fill is not None
        coverage = InsuranceCoverage(
            patient_id=fill.prescription.patient_id,
            rank=1,
            bin="610999",
            pcn="RXTRAIN",
            cardholder_id="M7700001",
        )
        uow.session.add(coverage)
        uow.audit(SEEDED, coverage)
    billed = services.claims.bill(technician, fill_id)
    assert billed.status is ClaimStatus.PAID
    view = services.verification.open_fill(technician, fill_id)
    services.verification.accept_bottle(
        technician,
        fill_id,
        text=datamatrix(LISINOPRIL_90),
        manual=False,
        quantity=Decimal(30),
        expected_version=view.version,
        confirm_package_size=True,
        today=TODAY,
    )
    rows = services.claims.claims_for_fill(technician, fill_id)
    assert [(row.transaction_code, row.status) for row in rows] == [
        ("B1", ClaimStatus.REVERSED),
        ("B2", ClaimStatus.APPROVED),
        ("B1", ClaimStatus.PAID),
    ]
    with services.database.reading() as session:
        dispensed = session.get(DrugPackage, package_id(services, LISINOPRIL_90))
        assert dispensed is not None
    assert rows[2].ndc11 == dispensed.ndc11 != billed.ndc11

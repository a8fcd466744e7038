"""The demo pharmacy: fictional people, real FDA drugs, fills in every state, lots and movements.

Used to try RxBench, to train, and by tests and benchmarks. It is loaded through audited units
of work like any other change, so the audit trail says plainly that the demo loader, run by a
named actor, created every record. It goes only into an empty database, and loading it again
into the database that already holds it changes nothing.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from app.adapters.claims_transport import SwitchTimeout
from app.adapters.payment_terminal import FakeTerminal
from app.adapters.training_payer import Adjudicator, InProcessTransport, training_plans
from app.db.base import utc_now
from app.db.models import (
    AuditEvent,
    DrugPackage,
    DrugProduct,
    Fill,
    FillBottle,
    InsuranceCoverage,
    LabelPrint,
    Patient,
    PatientAllergy,
    PatientCondition,
    Pharmacy,
    Prescriber,
    Prescription,
    StockLot,
    StockMovement,
    User,
    UserRole,
)
from app.domain.barcodes import ScanKind, upc_a_for
from app.domain.fill_states import FillState
from app.domain.identifiers import dea_check_digit, npi_check_digit
from app.domain.labels import THERMAL_VIAL_4X2_25
from app.domain.ndc import parse_ndc
from app.domain.roles import Role
from app.domain.verdicts import Verdict
from app.errors import ValidationFailed
from app.services.auth import actor_for
from app.services.catalogue import CatalogueService, ImportReport
from app.services.claims import ClaimService
from app.services.controlled import ControlledSubstanceService, InventoryLineInput
from app.services.counts import CountService
from app.services.dispensing import (
    LedgerLines,
    controlled_schedule,
    dispense_from_lot,
    void_accepted_bottle,
)
from app.services.identify import packages_by_id
from app.services.inventory import InventoryService
from app.services.labels import LabelService
from app.services.passwords import SecretHasher
from app.services.payment import (
    PaymentService,
    SalePolicy,
    SignaturePurpose,
    TenderKind,
)
from app.services.pmp import PmpService
from app.services.recalls import ImportChoice, RecallService
from app.services.reorder import ReorderService, available_on_hand
from app.services.screening import screen_fill
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role
from app.services.worklist import DATA_REVIEW, FINAL_VERIFICATION, open_item

DEMO_CATALOGUE_DIR = Path(__file__).resolve().parents[1] / "resources" / "demo" / "ndc-demo"
# Fictional recalls in the openFDA drug enforcement layout, naming demo catalogue NDCs.
DEMO_RECALLS_FILE = DEMO_CATALOGUE_DIR.parent / "recalls" / "drug-enforcement-sample.json"
DEMO_RECALL_NUMBER = "D-0412-2026"
DEMO_CLAIM_REVERSAL_REASON = "Billed to the wrong plan: the patient showed a new card (demo)"
DEMO_PA_NUMBER = "PA2026001"
DEMO_RECALL_CONTACT_NOTE = "Spoke with the patient: bring the bottle back for a replacement"
DEMO_CATALOGUE_SNAPSHOT = date(2019, 4, 29)
LOADED = "demo.loaded"
COMPLETED = "demo.completed"


def _npi(first_nine: str) -> str:
    return f"{first_nine}{npi_check_digit(first_nine)}"


def _dea(letters: str, six_digits: str) -> str:
    return f"{letters}{six_digits}{dea_check_digit(six_digits)}"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    full_name: str
    roles: frozenset[Role]


DEMO_LOGINS = (
    DemoLogin("tech", "tech-demo-1", "Tilly Techworth (demo)", frozenset({Role.TECHNICIAN})),
    DemoLogin("tech2", "tech-demo-2", "Toby Trayfield (demo)", frozenset({Role.TECHNICIAN})),
    DemoLogin("pharm", "pharm-demo-1", "Penny Pestleton (demo)", frozenset({Role.PHARMACIST})),
    DemoLogin("admin", "admin-demo-1", "Archie Adminsley (demo)", frozenset({Role.ADMINISTRATOR})),
)

DEMO_PHARMACY = {
    "name": "Larkspur Lane Demo Pharmacy",
    "address_line1": "100 Larkspur Lane",
    "address_line2": "Suite 1",
    "city": "Springfield",
    "state": "IL",
    "postal_code": "62701",
    "phone": "(217) 555-0100",
    "npi": _npi("155501000"),
    "ncpdp_id": "5550100",
    "dea_number": _dea("BL", "555010"),
}

# first name, last name, credentials, DEA registrant type (M = mid-level practitioner)
_PRESCRIBERS = (
    ("Amara", "Quillfeather", "MD", "A"),
    ("Bertram", "Hollowbrook", "DO", "B"),
    ("Celeste", "Featherstone", "MD", "F"),
    ("Desmond", "Marchbanks", "MD", "A"),
    ("Evangeline", "Nightingale", "NP", "M"),
    ("Fitzgerald", "Pemberton", "PA-C", "M"),
    ("Gwendolyn", "Wrenfield", "MD", "B"),
    ("Horatio", "Ashgrove", "DDS", "A"),
)

_FIRST_NAMES = (
    "Ada Bea Cal Dot Eli Fay Gus Hal Ivy Jo Kit Lou Max Nell Ollie Pip Quin Rue Sid Tess "
    "Una Vic Wren Xan Yara Zed Abe Bo Cleo Dex Edie Finn Gigi Hugo Iris Jem Kay Leo Mae Ned"
).split()
_LAST_NAMES = (
    "Applewood Bramblebury Cobblestone Dandelion Elderberry Fiddlesworth Gooseberry Hazelnut "
    "Inkwell Juniperton Kettleby Lamplighter Marmalade Nutmeg Puddleby Quiverfull Rumbleton "
    "Snickerdoodle Thimbleton Wafflestone"
).split()
_STREETS = ("Larkspur Lane", "Thistle Court", "Bramble Way", "Foxglove Road", "Marigold Avenue")
_SEXES = ("F", "M", "F", "M", "X", "U")
PATIENT_COUNT = 40
PENICILLIN_CLASS = "Penicillin-class Antibacterial [EPC]"
# patient index → (substance, pharmacologic class, reaction, severity)
_ALLERGIES = {
    0: (("Amoxicillin", PENICILLIN_CLASS, "hives", "moderate"),),
    5: (("Sulfamethoxazole", "Sulfonamide Antibacterial [EPC]", "rash", "mild"),),
    9: (
        ("Codeine", "", "nausea and vomiting", "mild"),
        ("Latex", "", "contact dermatitis", "mild"),
    ),
    14: (("Lisinopril", "Angiotensin Converting Enzyme Inhibitor [EPC]", "angioedema", "severe"),),
}
_CONDITIONS = (
    ("Hypertension",),
    (),
    ("Type 2 diabetes mellitus", "Hyperlipidemia"),
    ("Asthma",),
    (),
    ("Hypothyroidism",),
    ("Generalized anxiety disorder",),
)
# Fictional plans: the 99xxxx BINs are not assigned to any real processor.
_PLANS = (
    # The training payer's plans (app.adapters.training_payer.training_plans): in training mode
    # the demo's cards are billed for real to the in-process payer.
    ("Larkspur Demo Health Plan", "610999", "RXTRAIN", "LDP100"),
    ("Prairie Demo Secondary Plan", "610998", "RXSECOND", "PDS200"),
)
# What each credential's DEA registration covers in the demo: every schedule.
_PRESCRIBER_SCHEDULES = dict.fromkeys(("MD", "DO", "NP", "PA-C", "DDS"), "2,2N,3,3N,4,5")
MAIN_LOT_MINIMUM = Decimal(500)


@dataclass(frozen=True)
class RxTemplate:
    """One kind of prescription the demo writes; quantity None means one whole package."""

    product_ndc: str
    quantity: Decimal | None
    days_supply: int
    sig_code: str
    directions: str
    refills: int


_RX_TEMPLATES = (
    RxTemplate("65862-039", Decimal(30), 30, "1 PO QD", "Take 1 tablet by mouth once daily", 5),
    RxTemplate("62175-891", Decimal(30), 30, "1 PO QHS", "Take 1 tablet by mouth at bedtime", 5),
    RxTemplate(
        "53746-218", Decimal(60), 30, "1 PO BID WF", "Take 1 tablet by mouth twice daily", 5
    ),
    RxTemplate("65862-102", Decimal(30), 30, "1 PO QD", "Take 1 tablet by mouth once daily", 3),
    RxTemplate(
        "0378-1803", Decimal(30), 30, "1 PO QAM", "Take 1 tablet by mouth every morning", 11
    ),
    RxTemplate(
        "0093-3109", Decimal(30), 10, "1 PO TID", "Take 1 capsule by mouth 3 times a day", 0
    ),
    RxTemplate("0093-4161", None, 10, "5 ML PO BID", "Take 5 mL by mouth twice daily", 0),
    RxTemplate("0093-3174", None, 25, "2 INH Q4-6H PRN", "Inhale 2 puffs every 4-6 hours", 2),
    RxTemplate("0054-3270", None, 30, "2 SPR EN QD", "Spray 2 sprays in each nostril daily", 3),
    RxTemplate("0002-8799", None, 30, "UD SC TID AC", "Inject as directed before meals", 5),
    RxTemplate("0093-1010", None, 10, "AAA TID", "Apply to affected area 3 times a day", 0),
    RxTemplate("65862-012", Decimal(30), 30, "1 PO QD", "Take 1 tablet by mouth once daily", 5),
    RxTemplate(
        "59651-002", Decimal(30), 30, "1 PO QD AC", "Take 1 capsule by mouth before breakfast", 3
    ),
    RxTemplate(
        "65162-102", Decimal(90), 30, "1 PO TID", "Take 1 capsule by mouth 3 times a day", 2
    ),
    RxTemplate("0781-5701", Decimal(30), 30, "1 PO QD", "Take 1 tablet by mouth once daily", 5),
    RxTemplate("65862-574", Decimal(30), 30, "1 PO QHS", "Take 1 tablet by mouth at bedtime", 5),
    RxTemplate("0591-5443", Decimal(10), 5, "2 PO QD", "Take 2 tablets by mouth once daily", 0),
    RxTemplate("0781-5776", Decimal(6), 5, "UD", "Take 2 tablets on day 1, then 1 daily", 0),
    # Controlled substances: CII has no refills, CIII-CV at most five.
    RxTemplate("65162-047", Decimal(20), 5, "1 PO Q6H PRN", "Take 1 tablet every 6 hours", 0),
    RxTemplate("53746-109", Decimal(12), 3, "1 PO Q6H PRN", "Take 1 tablet every 6 hours", 0),
    RxTemplate("0591-5883", Decimal(60), 30, "1 PO BID", "Take 1 tablet by mouth twice daily", 0),
    RxTemplate("0093-0150", Decimal(20), 5, "1 PO Q6H PRN", "Take 1 tablet every 6 hours", 0),
    RxTemplate("0378-4003", Decimal(30), 30, "1 PO QD PRN", "Take 1 tablet daily for anxiety", 2),
    RxTemplate("0093-0074", Decimal(30), 30, "1 PO QHS", "Take 1 tablet at bedtime", 2),
    RxTemplate("57664-377", Decimal(30), 10, "1 PO Q6H PRN", "Take 1 tablet every 6 hours", 1),
    RxTemplate("0071-1014", Decimal(60), 30, "1 PO BID", "Take 1 capsule by mouth twice daily", 5),
    RxTemplate(
        "27808-065",
        Decimal(120),
        10,
        "5 ML PO Q6H PRN COUGH",
        "Take 5 mL by mouth every 6 hours as needed for cough",
        0,
    ),
)
PRESCRIPTIONS_PER_TEMPLATE = 2
_INDICATIONS = {
    "65862-039": "Hypertension",
    "62175-891": "Hyperlipidemia",
    "53746-218": "Type 2 diabetes mellitus",
    "65862-102": "Hypertension",
    "0378-1803": "Hypothyroidism",
    "0093-3109": "Acute otitis media",
    "0093-4161": "Streptococcal pharyngitis",
    "0093-3174": "Asthma",
    "0054-3270": "Allergic rhinitis",
    "0002-8799": "Type 1 diabetes mellitus",
    "0093-1010": "Impetigo",
    "65862-012": "Major depressive disorder",
    "59651-002": "Gastroesophageal reflux disease",
    "65162-102": "Postherpetic neuralgia",
    "0781-5701": "Hypertension",
    "65862-574": "Asthma",
    "0591-5443": "Asthma exacerbation",
    "0781-5776": "Community-acquired pneumonia",
    "65162-047": "Acute pain after surgery",
    "53746-109": "Acute pain after injury",
    "0591-5883": "Attention deficit hyperactivity disorder",
    "0093-0150": "Acute dental pain",
    "0378-4003": "Generalized anxiety disorder",
    "0093-0074": "Insomnia",
    "57664-377": "Acute back pain",
    "0071-1014": "Diabetic peripheral neuropathy",
    "27808-065": "Cough",
}
_SOURCES = ("electronic", "electronic", "faxed", "phoned", "written", "transferred")
EMERGENCY_ORAL_NDC = "65162-047"
# The first albuterol prescription goes home as three inhalers, one label each ("1 of 3").
INHALER_NDC = "0093-3174"
INHALER_CONTAINERS = 3
DEMO_LABEL_PRINTER = "Demo label printer"
REPRINT_REASON = "Label smudged in the will-call bin (demo pharmacy)"
TRANSFERRED_FROM = "Elm Street Demo Pharmacy, (217) 555-0190, NCPDP 5550190"
FIRST_RX_NUMBER = 6100001

# The state of each prescription's current fill, in turn; every FillState appears.
_STATE_CYCLE = (
    FillState.INTAKE,
    FillState.DATA_ENTRY,
    FillState.DATA_REVIEW,
    FillState.BILLING_PENDING,
    # Billed through a switch that never answers (`_bill_claims`): waiting on the switch.
    FillState.BILLING_PENDING,
    FillState.CLAIM_REJECTED,
    FillState.FILL,
    FillState.FINAL_VERIFICATION,
    FillState.READY,
    FillState.SOLD,
    FillState.ON_HOLD,
    FillState.CANCELLED,
    FillState.RETURNED_TO_STOCK,
    FillState.READY,
    FillState.SOLD,
    FillState.FILL,
    FillState.DATA_ENTRY,
    FillState.SOLD,
)
_PRIORITIES = ("waiting", "today", "delivery", "mail")
# States in which the bottle has been picked from a shelf package.
_PICKED = frozenset(
    {
        FillState.FILL,
        FillState.FINAL_VERIFICATION,
        FillState.READY,
        FillState.SOLD,
        FillState.RETURNED_TO_STOCK,
    }
)
# States past the Fill step: the stock bottle was scanned, accepted and taken from the shelf.
_VERIFIED = _PICKED - {FillState.FILL}
# Fills whose label was printed: past the Fill step and still on their way to the patient.
_LABELLED = _VERIFIED - {FillState.RETURNED_TO_STOCK}
RETURN_REASON = "Not picked up within the will-call days (demo pharmacy)"


@dataclass(frozen=True)
class DemoOutcome:
    """What `load_demo` did: `loaded` is False when the demo was already there."""

    loaded: bool
    logins: tuple[DemoLogin, ...]
    counts: dict[str, int]


def load_demo(
    database: Database,
    actor: Actor,
    *,
    hasher: SecretHasher,
    catalogue_dir: Path = DEMO_CATALOGUE_DIR,
    now: datetime | None = None,
) -> DemoOutcome:
    """Load the demo pharmacy into an empty database, or recognise it is already there."""
    require_role(actor, Role.ADMINISTRATOR, action="load the demo pharmacy")
    now = now or utc_now()
    if _demo_already_loaded(database):
        return DemoOutcome(False, DEMO_LOGINS, _counts(database))
    with database.unit_of_work(actor) as uow:
        _refuse_unless_empty(uow)
        pharmacy = Pharmacy(**DEMO_PHARMACY)
        uow.session.add(pharmacy)
        uow.audit(LOADED, pharmacy, after={"name": pharmacy.name})
        for login in DEMO_LOGINS:
            user = User(
                username=login.username,
                full_name=login.full_name,
                password_hash=hasher.hash(login.password),
                roles=[UserRole(role=role.value) for role in sorted(login.roles)],
            )
            uow.session.add(user)
            uow.audit(LOADED, user, after={"username": user.username, "roles": sorted(login.roles)})
    load_catalogue_subset(database, actor, catalogue_dir)
    with database.unit_of_work(actor) as uow:
        _add_prescribers(uow, now.date())
    with database.unit_of_work(actor) as uow:
        _add_patients(uow, now.date())
    with database.unit_of_work(actor) as uow:
        _add_stock(uow, now)
    with database.unit_of_work(actor) as uow:
        _add_prescriptions_and_fills(uow, now)
    _print_labels(database, actor, now.date())
    _import_recall(database, actor)
    _count_stock(database, actor, now)
    _controlled_record(database, actor, now)
    _correct_stock(database, actor, now)
    _report_to_pmp(database, actor, now)
    _set_reorder_levels(database, actor, now)
    _bill_claims(database, actor, now)
    _ring_up_sales(database, actor)
    with database.unit_of_work(actor) as uow:
        pharmacy_id = uow.session.scalars(select(Pharmacy.id)).one()
        uow.audit(COMPLETED, entity_type="pharmacy", entity_id=str(pharmacy_id))
    return DemoOutcome(True, DEMO_LOGINS, _counts(database))


def _demo_already_loaded(database: Database) -> bool:
    with database.reading() as session:
        return bool(
            session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == COMPLETED)
            )
        )


_COUNTED = {
    "users": User,
    "patients": Patient,
    "prescribers": Prescriber,
    "drug products": DrugProduct,
    "drug packages": DrugPackage,
    "prescriptions": Prescription,
    "fills": Fill,
    "stock lots": StockLot,
    "stock movements": StockMovement,
}


def _counts(database: Database) -> dict[str, int]:
    with database.reading() as session:
        return {
            label: session.scalar(select(func.count()).select_from(model)) or 0
            for label, model in _COUNTED.items()
        }


def _refuse_unless_empty(uow: UnitOfWork) -> None:
    found = {
        label: count
        for label, model in {**_COUNTED, "pharmacy profile": Pharmacy}.items()
        if (count := uow.session.scalar(select(func.count()).select_from(model)))
    }
    if found:
        held = ", ".join(f"{label}: {count}" for label, count in found.items())
        raise ValidationFailed(
            f"This database already holds data ({held}); the demo pharmacy is only loaded into "
            "an empty database. Name a new database with --database.",
            found=found,
        )


# --- the drug catalogue -----------------------------------------------------------------------


def load_catalogue_subset(database: Database, actor: Actor, directory: Path) -> ImportReport:
    """Put an FDA-layout product.txt/package.txt pair in through the real catalogue importer.

    The demo and the tests then hold a catalogue that is searchable and audited exactly like
    one imported from the full FDA download (one audit event for the import as a whole).
    """
    return CatalogueService(database).import_directory(
        actor, directory, snapshot_date=DEMO_CATALOGUE_SNAPSHOT
    )


# --- people -----------------------------------------------------------------------------------


def _add_prescribers(uow: UnitOfWork, today: date) -> None:
    for index, (first, last, credentials, registrant) in enumerate(_PRESCRIBERS):
        prescriber = Prescriber(
            first_name=first,
            last_name=last,
            credentials=credentials,
            npi=_npi(f"15550200{index}"),
            dea_number=_dea(registrant + last[0], f"55502{index}"),
            state_license=f"IL-DEMO-{1000 + index}",
            phone=f"(217) 555-01{50 + index:02d}",
            fax=f"(217) 555-01{60 + index:02d}",
            address_line1=f"{200 + 10 * index} Caduceus Court",
            city="Springfield",
            state="IL",
            postal_code="62702",
            dea_schedules=_PRESCRIBER_SCHEDULES[credentials],
            dea_expires_on=today + timedelta(days=200 + 90 * index),
        )
        uow.session.add(prescriber)
        uow.audit(LOADED, prescriber)


def _add_patients(uow: UnitOfWork, today: date) -> None:
    for index in range(PATIENT_COUNT):
        first = _FIRST_NAMES[index % len(_FIRST_NAMES)]
        last = _LAST_NAMES[(index * 3) % len(_LAST_NAMES)]
        born = date(1938 + (index * 7) % 80, 1 + (index * 5) % 12, 1 + (index * 11) % 28)
        allergies = _ALLERGIES.get(index, ())
        patient = Patient(
            first_name=first,
            last_name=last,
            date_of_birth=born,
            sex=_SEXES[index % len(_SEXES)],
            address_line1=f"{101 + 17 * index} {_STREETS[index % len(_STREETS)]}",
            city="Springfield",
            state="IL",
            postal_code=f"6270{1 + index % 4}",
            phone=f"(217) 555-01{10 + index:02d}",
            email=f"{first.lower()}.{last.lower()}@example.com" if index % 3 == 0 else "",
            preferred_language="es" if index % 9 == 4 else "en",
            # Some have allergies, some said "no known allergies", the rest were never asked.
            no_known_allergies=False if allergies else (True if index % 3 == 1 else None),
            easy_open_caps=born.year < 1950,
            large_print_labels=index % 7 == 3,
            delivery=index % 8 == 5,
            privacy_notice_acknowledged_on=today - timedelta(days=30 + 11 * index)
            if index % 5
            else None,
        )
        uow.session.add(patient)
        uow.audit(LOADED, patient)
        for substance, drug_class, reaction, severity in allergies:
            allergy = PatientAllergy(
                patient_id=patient.id,
                substance=substance,
                drug_class=drug_class,
                reaction=reaction,
                severity=severity,
            )
            uow.session.add(allergy)
            uow.audit(LOADED, allergy, patient_id=patient.id)
        for description in _CONDITIONS[index % len(_CONDITIONS)]:
            condition = PatientCondition(patient_id=patient.id, description=description)
            uow.session.add(condition)
            uow.audit(LOADED, condition, patient_id=patient.id)
        plans = _PLANS if index == 2 else _PLANS[:1] if index % 6 != 5 else ()
        for rank, (plan_name, bin_number, pcn, group) in enumerate(plans, start=1):
            coverage = InsuranceCoverage(
                patient_id=patient.id,
                rank=rank,
                plan_name=plan_name,
                bin=bin_number,
                pcn=pcn,
                group_number=group,
                cardholder_id=f"LDP{100000 + 37 * index:06d}",
                person_code="01",
                relationship_code="1",
                effective_on=date(today.year, 1, 1),
            )
            uow.session.add(coverage)
            uow.audit(LOADED, coverage, patient_id=patient.id, rank=rank)


# --- stock ------------------------------------------------------------------------------------


def _prescribed_packages(uow: UnitOfWork) -> list[DrugPackage]:
    """For each template, the first ordinary (non-sample) package of its product, in order."""
    packages = []
    for template in _RX_TEMPLATES:
        package = uow.session.scalars(
            select(DrugPackage)
            .join(DrugProduct)
            .where(
                DrugProduct.product_ndc == template.product_ndc,
                DrugPackage.sample_package.is_(False),
            )
            .order_by(DrugPackage.ndc)
        ).first()
        if package is None:
            raise ValidationFailed(
                f"The demo catalogue has no package of NDC {template.product_ndc}.",
                ndc=template.product_ndc,
            )
        packages.append(package)
    return packages


def _receive(uow: UnitOfWork, lot: StockLot, *, quantity: Decimal, at: datetime) -> None:
    """The lot's receipt movement, its balance kept equal to the sum of its movements."""
    movement = StockMovement(
        lot_id=lot.id,
        kind="received",
        quantity=quantity,
        reason="demo pharmacy",
        workstation=uow.actor.workstation,
        occurred_at=at,
    )
    lot.on_hand += quantity
    uow.session.add(movement)
    uow.audit(LOADED, movement, lot=lot.lot_number, kind="received", quantity=str(quantity))


def _add_lot(
    uow: UnitOfWork,
    package: DrugPackage,
    *,
    lot_number: str,
    expiry: date,
    received: Decimal,
    received_at: datetime,
    status: str = "available",
) -> StockLot:
    lot = StockLot(
        package=package,
        lot_number=lot_number,
        expiry=expiry,
        status=status,
        location="quarantine shelf" if status != "available" else "shelf",
        on_hand=Decimal(0),
    )
    uow.session.add(lot)
    uow.audit(LOADED, lot, ndc=package.ndc, lot=lot_number, status=status)
    _receive(uow, lot, quantity=received, at=received_at)
    return lot


def _add_stock(uow: UnitOfWork, now: datetime) -> None:
    """A main lot per prescribed package, plus expired, short-dated, quarantined, recalled."""
    today = now.date()
    for index, package in enumerate(dict.fromkeys(_prescribed_packages(uow))):
        per_package = package.billing_quantity or Decimal(1)
        # Enough whole packages for every demo fill of this package (at most 4 x 120 units).
        packages_received = max(6, math.ceil(MAIN_LOT_MINIMUM / per_package))
        prefix = f"D{package.ndc11[-6:]}"
        _add_lot(
            uow,
            package,
            lot_number=f"{prefix}A",
            expiry=today + timedelta(days=420 + 30 * index),
            received=per_package * packages_received,
            received_at=now - timedelta(days=90),
        )
        if index % 4 == 1:
            _add_lot(
                uow,
                package,
                lot_number=f"{prefix}X",
                expiry=today - timedelta(days=20 + index),
                received=per_package,
                received_at=now - timedelta(days=400),
            )
        if index % 4 == 2:
            _add_lot(
                uow,
                package,
                lot_number=f"{prefix}S",
                expiry=today + timedelta(days=15 + index),
                received=per_package * 2,
                received_at=now - timedelta(days=300),
            )
        if index in (3, 7):
            _add_lot(
                uow,
                package,
                lot_number=f"{prefix}Q" if index == 3 else f"{prefix}R",
                expiry=today + timedelta(days=365),
                received=per_package,
                received_at=now - timedelta(days=45),
                status="quarantined" if index == 3 else "recalled",
            )


# --- prescriptions and fills ------------------------------------------------------------------


def _promised_at(priority: str, now: datetime, index: int) -> datetime:
    if priority == "waiting":
        return now + timedelta(minutes=15 + 5 * (index % 4))
    if priority == "today":
        end_of_day = datetime.combine(now.date(), time(22, 0), tzinfo=UTC)
        return max(now + timedelta(hours=2), end_of_day - timedelta(hours=index % 5))
    if priority == "delivery":
        return now + timedelta(days=1, hours=index % 6)
    return now + timedelta(days=3 + index % 3)


def _add_prescriptions_and_fills(uow: UnitOfWork, now: datetime) -> None:
    users = {user.username: user for user in uow.session.scalars(select(User))}
    technician, pharmacist = users["tech"], users["pharm"]
    patients = uow.session.scalars(select(Patient).order_by(Patient.id)).all()
    prescribers = uow.session.scalars(select(Prescriber).order_by(Prescriber.id)).all()
    packages = _prescribed_packages(uow)
    main_lots: dict[int, StockLot] = {}
    for lot in uow.session.scalars(
        select(StockLot).where(StockLot.status == "available").order_by(StockLot.expiry.desc())
    ):
        main_lots.setdefault(lot.package_id, lot)
    count = len(_RX_TEMPLATES) * PRESCRIPTIONS_PER_TEMPLATE
    for index in range(count):
        template = _RX_TEMPLATES[index % len(_RX_TEMPLATES)]
        package = packages[index % len(_RX_TEMPLATES)]
        containers = (
            INHALER_CONTAINERS
            if template.product_ndc == INHALER_NDC and index < len(_RX_TEMPLATES)
            else 1
        )
        quantity = (template.quantity or package.billing_quantity or Decimal(1)) * containers
        state = _STATE_CYCLE[index % len(_STATE_CYCLE)]
        written = now.date() - timedelta(days=2 + (index * 3) % 40)
        source = _SOURCES[index % len(_SOURCES)]
        schedule_ii = package.product.dea_schedule == "CII"
        # The first C-II is an emergency oral one; the others are written or electronic, as a
        # C-II may not be phoned, faxed or transferred after a fill.
        emergency_oral = template.product_ndc == EMERGENCY_ORAL_NDC and index < len(_RX_TEMPLATES)
        if emergency_oral:
            written = now.date() - timedelta(days=2)
        if schedule_ii:
            source = "phoned" if emergency_oral else ("electronic", "written")[index % 2]
        prescription = Prescription(
            rx_number=str(FIRST_RX_NUMBER + index),
            patient=patients[(index * 7) % len(patients)],
            prescriber=prescribers[index % len(prescribers)],
            package=package,
            source=source,
            written_date=written,
            quantity=quantity,
            quantity_unit=package.billing_unit,
            days_supply=template.days_supply,
            refills_authorized=template.refills,
            sig_code=template.sig_code,
            directions=template.directions,
            indication=_INDICATIONS[template.product_ndc],
            transferred_from=TRANSFERRED_FROM if source == "transferred" else "",
            transfer_count=1 if source == "transferred" else 0,
            emergency_oral=emergency_oral,
            written_follow_up_due=written + timedelta(days=7) if emergency_oral else None,
        )
        uow.session.add(prescription)
        uow.audit(LOADED, prescription)
        fill_number = 0
        if template.refills and index % 3 == 0:
            # A refill: the original was sold a days' supply ago.
            sold_at = now - timedelta(days=template.days_supply, hours=index % 8)
            _add_fill(
                uow,
                prescription,
                state=FillState.SOLD,
                fill_number=0,
                changed_at=sold_at,
                lot=main_lots[package.id],
                dispensed_by=technician.id,
            )
            fill_number = 1
        if state in (FillState.DATA_ENTRY, FillState.FILL) and index % 2 == 0:
            held_by: int | None = technician.id
        elif state is FillState.FINAL_VERIFICATION:
            held_by = pharmacist.id
        else:
            held_by = None
        _add_fill(
            uow,
            prescription,
            state=state,
            fill_number=fill_number,
            changed_at=now - timedelta(hours=1 + index % 30),
            lot=main_lots[package.id],
            dispensed_by=technician.id,
            priority=_PRIORITIES[index % len(_PRIORITIES)],
            promised_at=_promised_at(_PRIORITIES[index % len(_PRIORITIES)], now, index)
            if state.is_active
            else None,
            held_by=held_by,
            containers=containers,
        )


_WAITING_ON_PHARMACIST = {
    FillState.DATA_REVIEW: DATA_REVIEW,
    FillState.FINAL_VERIFICATION: FINAL_VERIFICATION,
}


def _add_fill(
    uow: UnitOfWork,
    prescription: Prescription,
    *,
    state: FillState,
    fill_number: int,
    changed_at: datetime,
    lot: StockLot,
    dispensed_by: int,
    priority: str = "today",
    promised_at: datetime | None = None,
    held_by: int | None = None,
    containers: int = 1,
) -> Fill:
    fill = Fill(
        prescription=prescription,
        fill_number=fill_number,
        state=state.value,
        priority=priority,
        quantity=prescription.quantity,
        days_supply=prescription.days_supply,
        dispensed_package_id=prescription.package_id if state in _PICKED else None,
        promised_at=promised_at,
        held_by_user_id=held_by,
        containers=containers,
        state_changed_at=changed_at,
        created_at=changed_at - timedelta(hours=2),
    )
    uow.session.add(fill)
    uow.audit(LOADED, fill, rx_number=prescription.rx_number, state=state.value)
    if state in _WAITING_ON_PHARMACIST:
        # As the workflow would have: the pharmacist's work-list item, and screening on entry.
        uow.session.flush()
        open_item(
            uow,
            kind=_WAITING_ON_PHARMACIST[state],
            entity_type="fills",
            entity_id=str(fill.id),
            summary=f"Rx {prescription.rx_number}-{fill_number} · "
            f"{prescription.patient.display_name} · {prescription.package.product.display_name}",
        )
        if state is FillState.DATA_REVIEW:
            screen_fill(uow, fill, now=changed_at)
    if state in _VERIFIED:
        _add_bottle(
            uow,
            fill,
            lot,
            rx=f"Rx {prescription.rx_number}-{fill_number}",
            dispensed_by=dispensed_by,
            scanned_at=changed_at - timedelta(hours=1),
            returned_at=changed_at if state is FillState.RETURNED_TO_STOCK else None,
        )
    return fill


def _signed(lines: LedgerLines, *, user_id: int, at: datetime) -> None:
    """The demo's history was made by its technician hours or days ago, not by the loader now."""
    lines.movement.user_id = user_id
    lines.movement.occurred_at = at
    if lines.controlled_entry is not None:
        lines.controlled_entry.user_id = user_id
        lines.controlled_entry.occurred_at = at


def _add_bottle(
    uow: UnitOfWork,
    fill: Fill,
    lot: StockLot,
    *,
    rx: str,
    dispensed_by: int,
    scanned_at: datetime,
    returned_at: datetime | None,
) -> None:
    """The stock bottle scanned at the Fill step by its UPC, the lot typed from the package, and
    accepted as a match for the whole fill: the bottle the pharmacist sees at final verification.

    Its stock is taken, and a fill returned to stock puts it back, by the paths verification and
    the workflow take (dispense_from_lot, void_accepted_bottle), so a controlled fill has its
    lines in the controlled-substance log like any other.
    """
    facts = packages_by_id(uow.session, {lot.package_id})[lot.package_id].facts
    taken = dispense_from_lot(
        uow,
        lot,
        quantity=fill.quantity,
        fill_id=fill.id,
        note=rx,
        schedule=controlled_schedule(facts.dea_schedule),
    )
    _signed(taken, user_id=dispensed_by, at=scanned_at)
    dispensed = taken.movement
    bottle = FillBottle(
        fill_id=fill.id,
        scanned_text=upc_a_for(parse_ndc(facts.package_ndc)),
        kind=ScanKind.UPC.value,
        package_id=lot.package_id,
        lot_id=lot.id,
        lot_number=lot.lot_number,
        expiry=lot.expiry,
        quantity=fill.quantity,
        verdict=Verdict.MATCH.value,
        verdict_message=f"Match: {facts.label}.",
        movement_id=dispensed.id,
        user_id=dispensed.user_id,
        workstation=uow.actor.workstation,
        scanned_at=scanned_at,
    )
    uow.session.add(bottle)
    uow.audit(LOADED, dispensed, lot=lot.lot_number, kind="dispensed", quantity=str(-fill.quantity))
    uow.audit(
        LOADED,
        bottle,
        fill_id=fill.id,
        movement_id=dispensed.id,
        controlled_entry_id=taken.controlled_entry.id if taken.controlled_entry else None,
    )
    if returned_at is None:
        return
    returned = void_accepted_bottle(
        uow,
        bottle,
        reason=RETURN_REASON,
        log_note=f"{rx} returned to stock: {RETURN_REASON}",
        step="return_to_stock",
    )
    _signed(returned, user_id=dispensed_by, at=returned_at)
    bottle.voided_at = returned_at
    uow.audit(LOADED, returned.movement, lot=lot.lot_number, kind="reversal")


def _print_labels(database: Database, actor: Actor, today: date) -> None:
    """Each fill past the Fill step has its label printed, through the label service like any
    print (recorded and audited), and one was reprinted for a reason."""
    labels = LabelService(database, today=lambda: today)
    # Printing is a technician's or pharmacist's act: the loader prints in their stead.
    printer = replace(actor, roles=actor.roles | {Role.TECHNICIAN})
    with database.reading() as session:
        labelled = session.execute(
            select(Fill.id, Fill.state)
            .where(Fill.state.in_([state.value for state in _LABELLED]))
            .order_by(Fill.id)
        ).all()
    reprinted = next(fill_id for fill_id, state in labelled if state == FillState.READY.value)
    for fill_id, reason in [
        *((fill_id, "") for fill_id, _ in labelled),
        (reprinted, REPRINT_REASON),
    ]:
        contents = labels.contents(printer, fill_id, for_print=True)
        labels.record_print(
            printer,
            fill_id,
            destination=DEMO_LABEL_PRINTER,
            stock_name=THERMAL_VIAL_4X2_25.name,
            label_count=len(contents),
            language=contents[0].language,
            discard_after=contents[0].discard_after,
            reason=reason,
        )


# --- recalls ----------------------------------------------------------------------------------


def _import_recall(database: Database, actor: Actor) -> None:
    """A consumer-level recall imported from the sample enforcement report by the real two-step
    import, every lot candidate confirmed: the omeprazole lot two patients took home is recalled,
    one of them already called."""
    recalls = RecallService(database)
    # Recording a recall is a pharmacist's or technician's act: the loader does it in their stead.
    recorder = replace(actor, roles=actor.roles | {Role.PHARMACIST})
    preview = recalls.preview(recorder, DEMO_RECALLS_FILE)
    report = next(found for found in preview.reports if found.recall_number == DEMO_RECALL_NUMBER)
    items = tuple(
        (package.package_id, lot) for package in report.packages for lot in report.lot_candidates
    )
    [recall] = recalls.confirm(
        recorder, preview, [ImportChoice(report.index, report.proposed_level, items)]
    )
    contact = recalls.worklist(recorder, recall.recall_id).contacts[0]
    recalls.set_contact_status(recorder, contact.contact_id, "contacted", DEMO_RECALL_CONTACT_NOTE)


# --- cycle counts -----------------------------------------------------------------------------

# Fictional: the reference DEA's site would give the demo pharmacy's Form 106.
DEMO_FORM_106_REFERENCE = "DEMO-106-0001"
DEMO_COUNT_LOSS = Decimal(2)


def _count_stock(database: Database, actor: Actor, now: datetime) -> None:
    """Two cycle counts through the count service: a schedule II package counted two tablets
    short, recounted, signed by tech2 and approved (the correction written, its controlled
    discrepancy open for investigation, its DEA Form 106 recorded filed), and a count of a plain
    package that tech started and left half done, to resume."""
    counts = CountService(database, today=lambda: now.date(), now=lambda: now)
    # Counting and approving are a technician's and a pharmacist's acts: the loader does them in
    # their stead; tech2, a real demo user, signs as the second person the house wants.
    loader = replace(actor, roles=actor.roles | {Role.TECHNICIAN, Role.PHARMACIST})
    with database.reading() as session:
        users = {
            user.username: actor_for(user, actor.workstation)
            for user in session.scalars(select(User).where(User.username.in_(("tech", "tech2"))))
        }
        in_stock = (
            select(StockLot.package_id)
            .join(DrugPackage, StockLot.package_id == DrugPackage.id)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
            .where(StockLot.status == "available", StockLot.on_hand > 0)
            .order_by(DrugPackage.ndc)
        )
        schedule_ii = session.scalars(in_stock.where(DrugProduct.dea_schedule == "CII")).first()
        plain = session.scalars(in_stock.where(DrugProduct.dea_schedule.is_(None))).first()
    if schedule_ii is None or plain is None:
        raise ValidationFailed("The demo stock has no schedule II or no plain package to count.")
    approved = counts.start(loader, package_id=schedule_ii, note="monthly schedule II count")
    short = max(approved.lines, key=lambda line: (line.expected, -line.lot_id))
    for line in approved.lines:
        counted = line.expected - DEMO_COUNT_LOSS if line is short else line.expected
        counts.set_count(loader, approved.session_id, line.line_id, counted)
    counts.recount(loader, approved.session_id, short.line_id, short.expected - DEMO_COUNT_LOSS)
    counts.submit(loader, approved.session_id, second_signer=users["tech2"])
    for report in counts.approve(loader, approved.session_id).loss_reports:
        counts.record_form_106_filed(
            loader, report.report_id, dea_reference=DEMO_FORM_106_REFERENCE, filed_at=now
        )
    resumable = counts.start(users["tech"], package_id=plain)
    first = resumable.lines[0]
    counts.set_count(users["tech"], resumable.session_id, first.line_id, first.expected)


# Where the demo's oldest PMP file was sent: a made-up address of a state PMP's upload site.
DEMO_PMP_DESTINATION = "sftp://pmp-upload.example.gov (demo)"


def _report_to_pmp(database: Database, actor: Actor, now: datetime) -> None:
    """The daily prescription-monitoring files through yesterday, as Generate pending makes
    them: the days with controlled dispensing, a zero report for each day without, and the
    oldest marked sent by the pharmacist. The demo's history is dated in UTC, so are its days."""
    pmp = PmpService(database, today=lambda: now.date(), now=lambda: now, zone=UTC)
    with database.reading() as session:
        pharmacist = actor_for(
            session.scalars(select(User).where(User.username == "pharm")).one(), actor.workstation
        )
    made = pmp.generate_pending(actor)
    if all(report.zero_report for report in made) or not any(r.zero_report for r in made):
        raise ValidationFailed("The demo's PMP files lack a day of dispensing or a zero report.")
    pmp.mark_sent(pharmacist, made[0].report_id, destination=DEMO_PMP_DESTINATION)


# What the Inventory dock's movement history shows of the demo's own stock corrections.
DEMO_ADJUSTMENT_REASON = "3 tablets found crushed in the stock bottle"
DEMO_MISTAKE_REASON = "a sealed bottle found behind the tote"
DEMO_REVERSAL_REASON = "that bottle was another lot's: recorded on the wrong lot"
DEMO_RETURN_REASON = "short-dated: returned to the wholesaler for credit"


def _correct_stock(database: Database, actor: Actor, now: datetime) -> None:
    """Stock corrections through the inventory service, as the Inventory dock's lot actions make
    them: the main lot of the last plain package adjusted down, adjusted up by mistake and that
    reversed, and half of the first plain short-dated lot returned to the vendor."""
    inventory = InventoryService(database, today=lambda: now.date())
    # Stock is corrected by a technician: the loader does it in their stead, as for the counts.
    loader = replace(actor, roles=actor.roles | {Role.TECHNICIAN})
    with database.reading() as session:
        plain = session.scalars(
            select(StockLot.id)
            .join(DrugPackage, StockLot.package_id == DrugPackage.id)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
            .where(
                DrugProduct.dea_schedule.is_(None),
                StockLot.status == "available",
                StockLot.lot_number.like("%A"),
            )
            .order_by(DrugPackage.ndc.desc())
        ).first()
        short_dated = session.execute(
            select(StockLot.id, StockLot.on_hand)
            .join(DrugPackage, StockLot.package_id == DrugPackage.id)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
            .where(
                DrugProduct.dea_schedule.is_(None),
                StockLot.status == "available",
                StockLot.expiry >= now.date(),
                StockLot.expiry <= now.date() + timedelta(days=60),
            )
            .order_by(StockLot.lot_number)
        ).first()
    if plain is None or short_dated is None:
        raise ValidationFailed("The demo stock has no plain main lot or no short-dated lot.")
    inventory.adjust(loader, plain, quantity_change=-3, reason=DEMO_ADJUSTMENT_REASON)
    mistake = inventory.adjust(loader, plain, quantity_change=10, reason=DEMO_MISTAKE_REASON)
    assert mistake.movement is not None  # an adjustment is a movement
    inventory.reverse(loader, mistake.movement.movement_id, reason=DEMO_REVERSAL_REASON)
    lot_id, on_hand = short_dated
    inventory.return_to_vendor(loader, lot_id, quantity=on_hand / 2, reason=DEMO_RETURN_REASON)


# What the controlled-substance record of the demo pharmacy holds besides the counts' own.
DEMO_OPEN_NOTE = "Checked the will-call bin and today's returns: not found yet"
DEMO_SIGNED_NOTE = "Recounted with the pharmacist: one tablet was stuck in the counting tray"
DEMO_SIGNED_RESOLUTION = "Miscount: the stock matches the log. Counting trays emptied first."


def _controlled_record(database: Database, actor: Actor, now: datetime) -> None:
    """The controlled-substance record as the pharmacy keeps it, through its service and by its
    demo people: tech takes the biennial inventory at the close of business (pharm witnesses)
    from the ledger's draft; two count-backs witnessed by tech2 each find one schedule III–V
    package short, one still under investigation, one investigated and signed off by pharm."""
    controlled = ControlledSubstanceService(database, today=lambda: now.date(), now=lambda: now)
    with database.reading() as session:
        users = {
            user.username: actor_for(user, actor.workstation)
            for user in session.scalars(
                select(User).where(User.username.in_(("tech", "tech2", "pharm")))
            )
        }
    tech, tech2, pharm = users["tech"], users["tech2"], users["pharm"]
    draft = controlled.draft(tech)
    controlled.take_inventory(
        tech,
        kind="biennial",
        timing="close",
        taken_on=now.date(),
        lines=[
            InventoryLineInput(line.package_id, line.sealed_containers, line.opened_quantity)
            for line in draft
        ],
        witness=pharm,
        note="Biennial inventory, taken after the last fill of the day",
    )
    counted_back = [
        row for row in controlled.packages(tech) if row.schedule != "CII" and row.on_hand > 1
    ][:2]
    if len(counted_back) < 2:
        raise ValidationFailed("The demo stock has fewer than two schedule III–V packages.")
    found = [
        controlled.witnessed_count(
            tech, row.package_id, counted=row.perpetual_balance - 1, witness=tech2
        ).discrepancy_id
        for row in counted_back
    ]
    still_open, signed = found
    assert still_open is not None and signed is not None  # each count was one short
    controlled.add_investigation_note(tech, still_open, DEMO_OPEN_NOTE)
    controlled.add_investigation_note(tech, signed, DEMO_SIGNED_NOTE)
    controlled.sign_off(pharm, signed, DEMO_SIGNED_RESOLUTION)


# --- reorder levels -----------------------------------------------------------------------------

DEMO_LEVELS = 4  # plain packages given a reorder level, by NDC


def _set_reorder_levels(database: Database, actor: Actor, now: datetime) -> None:
    """Reorder levels through the reorder service, as the Reorder dialog sets them, on the
    first plain packages in stock: the first set above what it holds (below minimum, so on the
    suggested order), the others at a quarter of it; then a shortage check opens the notices
    on the pharmacist's work list."""
    reorder = ReorderService(database, today=lambda: now.date())
    # Levels are a technician's or pharmacist's act: the loader sets them in their stead.
    loader = replace(actor, roles=actor.roles | {Role.TECHNICIAN})
    with database.reading() as session:
        packages = session.execute(
            select(DrugPackage.id, DrugPackage.billing_quantity)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
            .where(
                DrugProduct.dea_schedule.is_(None),
                DrugPackage.id.in_(select(StockLot.package_id).where(StockLot.on_hand > 0)),
            )
            .order_by(DrugPackage.ndc)
            .limit(DEMO_LEVELS)
        ).all()
        on_hand = available_on_hand(session, [package_id for package_id, _ in packages], now.date())
    if len(packages) < DEMO_LEVELS:
        raise ValidationFailed("The demo stock has too few plain packages for reorder levels.")
    for index, (package_id, per_package) in enumerate(packages):
        held = math.floor(on_hand[package_id])
        minimum = held + int(per_package or 1) if index == 0 else max(held // 4, 1)
        reorder.set_level(loader, package_id, minimum=minimum, maximum=max(minimum, held) * 2)
    reorder.check_shortages(loader)


# --- claims -----------------------------------------------------------------------------------


class _SilentSwitch:
    """A claims switch that takes every request and never answers."""

    def send(self, request: bytes, timeout: float) -> bytes:
        raise SwitchTimeout("The demo switch did not answer.")


def _bill_claims(database: Database, actor: Actor, now: datetime) -> None:
    """Claims through the real ClaimService and the training payer: the fills at the bench
    (nobody holding them) and waiting for pickup billed and paid; the rejected fill rejected 75
    (prior authorization: its drug needs one at this payer, the number not yet given); an
    early refill of a fill just paid, rejected 79; a fill sold as cash at the house price; and
    one paid claim reversed (billed to the wrong plan)."""
    loader = replace(actor, roles=actor.roles | {Role.TECHNICIAN, Role.PHARMACIST})
    with database.reading() as session:
        fills = session.execute(
            select(
                Fill.id,
                Fill.state,
                Fill.held_by_user_id,
                Fill.prescription_id,
                DrugPackage.ndc11,
            )
            .join(Prescription, Fill.prescription_id == Prescription.id)
            .join(DrugPackage, Prescription.package_id == DrugPackage.id)
            .order_by(Fill.id)
        ).all()
        covered = set(
            session.scalars(
                select(Prescription.id)
                .join(InsuranceCoverage, InsuranceCoverage.patient_id == Prescription.patient_id)
                .where(InsuranceCoverage.rank == 1)
            )
        )
    rejected = next(
        fill
        for fill in fills
        if fill.state == FillState.CLAIM_REJECTED.value and fill.prescription_id in covered
    )
    primary, *others = training_plans()
    plans = (
        replace(
            primary,
            prior_auth_required=frozenset({rejected.ndc11}),
            prior_auth_numbers=frozenset({DEMO_PA_NUMBER}),
        ),
        *others,
    )
    claims = ClaimService(
        database,
        InProcessTransport(Adjudicator(plans)),
        today=lambda: now.date(),
    )
    paid = []
    for fill in fills:
        billable = fill.state in (FillState.FILL.value, FillState.READY.value)
        if billable and fill.held_by_user_id is None and fill.prescription_id in covered:
            paid.append((fill, claims.bill(loader, fill.id)))
    claims.bill(loader, rejected.id)
    early, _ = next((fill, row) for fill, row in paid if fill.state == FillState.READY.value)
    with database.unit_of_work(loader) as uow:
        prescription = uow.session.get(Prescription, early.prescription_id)
        assert prescription is not None
        last = uow.session.scalar(
            select(func.max(Fill.fill_number)).where(Fill.prescription_id == prescription.id)
        )
        lot = uow.session.scalars(
            select(StockLot).where(StockLot.package_id == prescription.package_id)
        ).first()
        technician = uow.session.scalars(select(User.id).where(User.username == "tech")).one()
        assert lot is not None
        refill = _add_fill(
            uow,
            prescription,
            state=FillState.CLAIM_REJECTED,
            fill_number=(last or 0) + 1,
            changed_at=now - timedelta(minutes=20),
            lot=lot,
            dispensed_by=technician,
            promised_at=now + timedelta(hours=2),
        )
    claims.bill(loader, refill.id)
    # The last fill waiting to be billed (others stay waiting), its patient paying cash.
    pending = [fill for fill in fills if fill.state == FillState.BILLING_PENDING.value]
    cash = pending[-1]
    claims.sell_as_cash(loader, cash.id)
    # Every other one of the rest billed while the switch is silent: each fill waits on the
    # switch, its claim's outcome unknown until it is settled from the claims queue.
    silent = ClaimService(database, _SilentSwitch(), timeout=0.01, today=lambda: now.date())
    for fill in pending[1:-1:2]:
        if fill.prescription_id in covered:
            silent.bill(loader, fill.id)
    reversed_row = next(row for fill, row in reversed(paid) if fill.id != early.id)
    claims.reverse(loader, reversed_row.claim_id, reason=DEMO_CLAIM_REVERSAL_REASON)


# --- the register -----------------------------------------------------------------------------

# Illinois' state rate on general merchandise (prescriptions are not taxed).
DEMO_SALES_TAX_BASIS_POINTS = 625
# (UPC, description, price in cents, taxable, pseudoephedrine base mg per package)
DEMO_OTC_ITEMS = (
    ("036000291452", "Adhesive bandages, 30 count", 499, True, Decimal(0)),
    ("305730169400", "Ibuprofen 200 mg, 100 tablets", 899, True, Decimal(0)),
    ("300450449112", "Pseudoephedrine HCl 30 mg, 24 tablets", 799, True, Decimal("589.44")),
    ("041167066812", "Saline nasal spray, 45 mL", 549, True, Decimal(0)),
)


def demo_signature_png(width: int = 240, height: int = 80) -> bytes:
    """A signature-like scribble as a real PNG (grayscale), drawn without Qt: the demo's pad."""
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter type: none
        for x in range(width):
            wave = height / 2 + (height / 4) * math.sin(x / 11) * math.cos(x / 37)
            row.append(20 if abs(y - wave) < 1.6 else 255)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def _ring_up_sales(database: Database, actor: Actor) -> None:
    """The register through the real PaymentService and the training terminal: the first
    patient's ready prescriptions sold with an OTC item, paid part by card and part in cash
    (change given), signed for; a second patient's cart left open (they stepped away); a
    third patient's new prescription waiting for the pharmacist's counseling."""
    clerk = replace(actor, roles=actor.roles | {Role.TECHNICIAN, Role.PHARMACIST})
    register = PaymentService(database, FakeTerminal())
    register.set_policy(
        clerk,
        SalePolicy(
            sales_tax_basis_points=DEMO_SALES_TAX_BASIS_POINTS, counseling_required_for_new_rx=True
        ),
    )
    for upc, description, price, taxable, pse_mg in DEMO_OTC_ITEMS:
        register.add_otc_item(
            clerk,
            upc=upc,
            description=description,
            price_cents=price,
            taxable=taxable,
            pse_base_mg=pse_mg,
        )
    with database.reading() as session:
        ready = session.execute(
            select(Prescription.patient_id, Fill.id, Fill.fill_number, DrugProduct.dea_schedule)
            .join(Prescription, Fill.prescription_id == Prescription.id)
            .join(DrugPackage, Prescription.package_id == DrugPackage.id)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
            .where(Fill.state == FillState.READY.value, Fill.held_by_user_id.is_(None))
            .order_by(Fill.id)
        ).all()
        reprinted = set(
            session.scalars(select(LabelPrint.fill_id).where(LabelPrint.kind == "reprint"))
        )
    by_patient: dict[int, list[tuple[int, int, str | None]]] = {}
    for patient_id, fill_id, fill_number, schedule in ready:
        by_patient.setdefault(patient_id, []).append((fill_id, fill_number, schedule))
    # Patients whose pickup needs no controlled-substance ID, so each sale shows one thing; the
    # fill whose label was reprinted stays on the will-call shelf.
    plain = [
        p
        for p, fills in by_patient.items()
        if not any(s or fill_id in reprinted for fill_id, _, s in fills)
    ]
    with_new_rx = [p for p in plain if any(number == 0 for _, number, _ in by_patient[p])]
    counseled = with_new_rx[-1]
    sold, left_open = [p for p in plain if p != counseled][:2]
    signature = demo_signature_png()

    sale = register.open_sale(clerk, patient_id=sold)
    for fill_id, _, _ in by_patient[sold]:
        register.add_fill(clerk, sale.sale_id, fill_id)
    view = register.add_item(clerk, sale.sale_id, DEMO_OTC_ITEMS[1][0])
    if any(number == 0 for _, number, _ in by_patient[sold]):
        register.offer_counseling(clerk, sale.sale_id, accepted=False)
        register.add_signature(
            clerk,
            sale.sale_id,
            purpose=SignaturePurpose.COUNSELING_OFFER,
            png=signature,
            signer_name="Demo patient",
        )
    card = view.total_cents // 2
    card += 1 if card % 100 == 13 else 0  # the training terminal declines .13
    register.take_card(clerk, sale.sale_id, kind=TenderKind.CREDIT, amount_cents=card)
    due = view.total_cents - card
    view = register.take_cash(clerk, sale.sale_id, handed_cents=(due // 500 + 1) * 500)
    for purpose in (SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS, SignaturePurpose.PRIVACY_NOTICE):
        view = register.add_signature(
            clerk, sale.sale_id, purpose=purpose, png=signature, signer_name="Demo patient"
        )
    register.complete_sale(clerk, sale.sale_id, expected_version=view.version)

    cart = register.open_sale(clerk, patient_id=left_open)
    for fill_id, _, _ in by_patient[left_open]:
        register.add_fill(clerk, cart.sale_id, fill_id)
    register.add_item(clerk, cart.sale_id, DEMO_OTC_ITEMS[3][0])

    waiting = register.open_sale(clerk, patient_id=counseled)
    for fill_id, _, _ in by_patient[counseled]:
        register.add_fill(clerk, waiting.sale_id, fill_id)
    register.offer_counseling(clerk, waiting.sale_id, accepted=True)

"""Fictional patients, prescriptions and fills for the workflow tests, as audited changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.bootstrap import Services
from app.db.base import utc_now
from app.db.models import (
    DrugPackage,
    DrugProduct,
    Fill,
    Patient,
    PatientAllergy,
    Prescriber,
    Prescription,
    StockLot,
    StockMovement,
)
from app.demo import DEMO_CATALOGUE_DIR, load_catalogue_subset
from app.domain.fill_states import FillState
from app.services.unit_of_work import Actor

SEEDED = "test.seeded"


def load_demo_catalogue(services: Services, actor: Actor) -> None:
    """The real FDA rows of the demo subset (resources/demo/ndc-demo)."""
    load_catalogue_subset(services.database, actor, DEMO_CATALOGUE_DIR)


def package_of(services: Services, product_ndc: str) -> int:
    with services.database.reading() as session:
        return session.scalars(
            select(DrugPackage.id)
            .join(DrugProduct)
            .where(DrugProduct.product_ndc == product_ndc)
            .order_by(DrugPackage.ndc)
        ).first()  # type: ignore[return-value]


def add_drug(
    services: Services, actor: Actor, *, substance: str = "LISINOPRIL", pharm_classes: str = ""
) -> int:
    """A small hand-made product and package, for tests that do not screen real drugs."""
    with services.database.unit_of_work(actor) as uow:
        count = len(uow.session.scalars(select(DrugProduct.id)).all())
        product = DrugProduct(
            fda_product_id=f"TEST-{count}",
            product_ndc=f"99999-{count:03d}",
            proprietary_name=substance.title(),
            nonproprietary_name=substance.title(),
            dosage_form="TABLET",
            substance_name=substance,
            strength="10",
            strength_unit="mg/1",
            pharm_classes=pharm_classes,
        )
        package = DrugPackage(
            product=product,
            ndc=f"99999-{count:03d}-01",
            ndc11=f"99999{count:04d}01",
            description="100 TABLET in 1 BOTTLE",
        )
        uow.session.add_all([product, package])
        uow.audit(SEEDED, product)
        uow.audit(SEEDED, package)
    return package.id


def add_patient(
    services: Services, actor: Actor, *, allergies: tuple[tuple[str, str], ...] = ()
) -> int:
    """A fictional patient; `allergies` are (substance, drug class) pairs."""
    with services.database.unit_of_work(actor) as uow:
        patient = Patient(
            last_name="Quibble", first_name="Wendell", date_of_birth=date(1961, 4, 2), sex="M"
        )
        uow.session.add(patient)
        uow.audit(SEEDED, patient)
        for substance, drug_class in allergies:
            allergy = PatientAllergy(patient=patient, substance=substance, drug_class=drug_class)
            uow.session.add(allergy)
            uow.audit(SEEDED, allergy)
    return patient.id


def add_prescription(
    services: Services,
    actor: Actor,
    *,
    patient_id: int,
    package_id: int,
    refills: int = 3,
    days_supply: int = 30,
) -> int:
    with services.database.unit_of_work(actor) as uow:
        prescriber = uow.session.scalars(select(Prescriber)).first()
        if prescriber is None:
            prescriber = Prescriber(last_name="Hemlock", first_name="Iona", npi="1245319599")
            uow.session.add(prescriber)
            uow.audit(SEEDED, prescriber)
        count = len(uow.session.scalars(select(Prescription.id)).all())
        prescription = Prescription(
            rx_number=str(7000001 + count),
            patient_id=patient_id,
            prescriber=prescriber,
            package_id=package_id,
            written_date=utc_now().date() - timedelta(days=40),
            quantity=Decimal(30),
            days_supply=days_supply,
            refills_authorized=refills,
            directions="Take 1 tablet by mouth once daily",
        )
        uow.session.add(prescription)
        uow.audit(SEEDED, prescription)
    return prescription.id


def add_fill(
    services: Services,
    actor: Actor,
    *,
    prescription_id: int,
    state: FillState = FillState.INTAKE,
    fill_number: int = 0,
    changed_at: datetime | None = None,
    resume_state: FillState | None = None,
) -> int:
    with services.database.unit_of_work(actor) as uow:
        prescription = uow.session.get(Prescription, prescription_id)
        assert prescription is not None
        fill = Fill(
            prescription_id=prescription_id,
            fill_number=fill_number,
            state=state.value,
            quantity=prescription.quantity,
            days_supply=prescription.days_supply,
            resume_state=resume_state.value if resume_state else None,
            hold_reason="waiting on the prescriber" if resume_state else "",
            state_changed_at=changed_at or utc_now(),
        )
        uow.session.add(fill)
        uow.audit(SEEDED, fill)
    return fill.id


def add_dispensed_stock(
    services: Services, actor: Actor, *, fill_id: int, package_id: int, on_hand: Decimal
) -> int:
    """A lot with `on_hand` after the fill's quantity was dispensed from it; returns the lot."""
    with services.database.unit_of_work(actor) as uow:
        fill = uow.session.get(Fill, fill_id)
        assert fill is not None
        lot = StockLot(
            package_id=package_id,
            lot_number="LOT-T1",
            expiry=date(2030, 1, 31),
            on_hand=on_hand,
        )
        uow.session.add(lot)
        uow.session.flush()
        movement = StockMovement(
            lot_id=lot.id,
            kind="dispensed",
            quantity=-fill.quantity,
            fill_id=fill.id,
            workstation=actor.workstation,
        )
        uow.session.add(movement)
        uow.audit(SEEDED, movement)
    return lot.id


def simple_fill(
    services: Services, actor: Actor, state: FillState = FillState.INTAKE, **fill_args: object
) -> int:
    """A fill of a hand-made drug for a patient without allergies, in `state`."""
    package_id = add_drug(services, actor)
    patient_id = add_patient(services, actor)
    prescription_id = add_prescription(
        services, actor, patient_id=patient_id, package_id=package_id
    )
    return add_fill(
        services,
        actor,
        prescription_id=prescription_id,
        state=state,
        **fill_args,  # type: ignore[arg-type]
    )

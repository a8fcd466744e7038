"""A register with items and tax, and ready fills with paid claims, for the payment tests."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app.adapters.payment_terminal import FakeTerminal
from app.bootstrap import Services
from app.db.base import utc_now
from app.db.models import Claim, DrugProduct, InsuranceCoverage, Patient
from app.domain.fill_states import FillState
from app.services.payment import PaymentService, SalePolicy
from app.services.unit_of_work import Actor
from tests.app.services.pharmacy_data import (
    SEEDED,
    add_drug,
    add_fill,
    add_patient,
    add_prescription,
)

# A tiny valid-looking PNG (header + padding): the service keeps the bytes as drawn.
SIGNATURE = b"\x89PNG\r\n\x1a\n" + bytes(120)
PSE_UPC = "300450123456"
PSE_ITEM_MG = Decimal("1440.00")  # 120 mg base × 12 tablets


def make_register(services: Services, admin: Actor) -> PaymentService:
    payment = PaymentService(services.database, FakeTerminal())
    payment.set_policy(
        admin, SalePolicy(sales_tax_basis_points=825, counseling_required_for_new_rx=True)
    )
    payment.add_otc_item(
        admin, upc="036000291452", description="Bandages 30 ct", price_cents=499, taxable=True
    )
    payment.add_otc_item(
        admin,
        upc=PSE_UPC,
        description="Pseudoephedrine 120 mg 12 ct",
        price_cents=1299,
        taxable=True,
        pse_base_mg=PSE_ITEM_MG,
    )
    return payment


def ready_fill(
    services: Services,
    admin: Actor,
    *,
    patient_id: int | None = None,
    fill_number: int = 1,
    patient_pay_cents: int | None = 1000,
    schedule: str | None = None,
) -> tuple[int, int]:
    """A ready fill (a refill unless `fill_number` is 0) with a paid claim; (patient, fill)."""
    package_id = add_drug(services, admin)
    if schedule is not None:
        with services.database.unit_of_work(admin) as uow:
            product = uow.session.scalars(
                select(DrugProduct).order_by(DrugProduct.id.desc())
            ).first()
            assert product is not None
            product.dea_schedule = schedule
            uow.audit(SEEDED, product)
    patient_id = patient_id or add_patient(services, admin)
    with services.database.unit_of_work(admin) as uow:
        patient = uow.session.get(Patient, patient_id)
        assert patient is not None
        if patient.privacy_notice_acknowledged_on is None:
            patient.privacy_notice_acknowledged_on = utc_now().date()
            uow.audit(SEEDED, patient)
    prescription_id = add_prescription(
        services, admin, patient_id=patient_id, package_id=package_id
    )
    fill_id = add_fill(
        services,
        admin,
        prescription_id=prescription_id,
        state=FillState.READY,
        fill_number=fill_number,
    )
    if patient_pay_cents is not None:
        with services.database.unit_of_work(admin) as uow:
            coverage = InsuranceCoverage(
                patient_id=patient_id,
                rank=1,
                plan_name="Test Plan",
                bin="999999",
                pcn="TEST",
                cardholder_id=f"C{fill_id}",
            )
            uow.session.add(coverage)
            uow.session.flush()
            claim = Claim(
                fill_id=fill_id,
                coverage_id=coverage.id,
                payer_rank=1,
                transaction_code="B1",
                status="paid",
                ndc11="99999000101",
                quantity=Decimal(30),
                days_supply=30,
                date_of_service=utc_now().date(),
                request=b"B1",
                patient_pay_cents=patient_pay_cents,
                workstation="test",
            )
            uow.session.add(claim)
            uow.audit(SEEDED, coverage)
            uow.audit(SEEDED, claim)
    return patient_id, fill_id

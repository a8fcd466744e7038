"""Fills taken past the Fill step the only way there is: their stock bottles scanned by the UPC
of a real demo catalogue package, accepted from a lot on the shelf, and completed through
VerificationService."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import DrugPackage, Fill, Prescription, StockLot, StockMovement
from app.domain.barcodes import upc_a_for
from app.domain.fill_states import FillState
from app.domain.ndc import parse_ndc
from app.services.fills import FillRow
from app.services.unit_of_work import Actor
from app.services.verification import NextStep, VerificationService
from tests.app.services.pharmacy_data import (
    SEEDED,
    add_fill,
    add_patient,
    add_prescription,
    load_demo_catalogue,
    package_of,
)

LISINOPRIL = "65862-039"  # product NDC in the demo catalogue
OXYCODONE = "65162-047"  # C-II
SHELF_LOT = "LOT-SHELF-1"


def catalogue_fill(
    services: Services, admin: Actor, state: FillState, *, product_ndc: str = LISINOPRIL
) -> int:
    """A 30-unit fill in `state` of the first package of a demo catalogue product (loaded here
    if it is not there yet), for a fictional patient without allergies."""
    if package_of(services, product_ndc) is None:
        load_demo_catalogue(services, admin)
    package_id = package_of(services, product_ndc)
    patient_id = add_patient(services, admin)
    prescription_id = add_prescription(
        services, admin, patient_id=patient_id, package_id=package_id
    )
    return add_fill(services, admin, prescription_id=prescription_id, state=state)


def receive_lot(
    services: Services,
    actor: Actor,
    package_id: int,
    *,
    lot_number: str = SHELF_LOT,
    on_hand: Decimal = Decimal(1000),
) -> int:
    """The package's lot on the shelf with its receipt movement; an existing one is reused."""
    with services.database.unit_of_work(actor) as uow:
        found = uow.session.scalar(
            select(StockLot.id).where(
                StockLot.package_id == package_id, StockLot.lot_number == lot_number
            )
        )
        if found is not None:
            return found
        lot = StockLot(
            package_id=package_id,
            lot_number=lot_number,
            expiry=date.today() + timedelta(days=730),
            status="available",
            on_hand=on_hand,
        )
        uow.session.add(lot)
        uow.session.flush()
        receipt = StockMovement(
            lot_id=lot.id, kind="received", quantity=on_hand, workstation=actor.workstation
        )
        uow.session.add(receipt)
        uow.audit(SEEDED, receipt)
        return lot.id


def package_upc(services: Services, package_id: int) -> str:
    """The UPC-A printed on the package, as a scanner reads it."""
    with services.database.reading() as session:
        ndc = session.scalars(select(DrugPackage.ndc).where(DrugPackage.id == package_id)).one()
    return upc_a_for(parse_ndc(ndc))


def scan_and_complete(
    verification: VerificationService,
    actor: Actor,
    fill_id: int,
    *,
    upc: str,
    lot_number: str = SHELF_LOT,
) -> FillRow:
    """Open the fill, scan bottles by `upc` (the lot typed, as a UPC carries none) and accept
    what each judgement suggests until nothing remains, then complete to final verification."""
    view = verification.open_fill(actor, fill_id)
    version, remaining = view.version, view.remaining
    while remaining > 0:
        judgement = verification.judge(actor, fill_id, text=upc, lot_number=lot_number)
        assert not judgement.stop, judgement.message
        quantity = judgement.suggested_quantity
        assert quantity is not None
        counted = NextStep.CII_COUNT_TWICE in judgement.next_steps
        accepted = verification.accept_bottle(
            actor,
            fill_id,
            text=upc,
            manual=False,
            quantity=quantity,
            expected_version=version,
            lot_number=lot_number,
            cii_count=(quantity, quantity) if counted else None,
        )
        version, remaining = accepted.fill_version, accepted.remaining
    return verification.complete(actor, fill_id, expected_version=version)


def verify_fill(services: Services, actor: Actor, fill_id: int) -> FillRow:
    """Take a fill at the Fill step to the pharmacist's final verification: its prescribed
    package received on the shelf, its bottles scanned, accepted and completed."""
    with services.database.reading() as session:
        package_id = session.scalars(
            select(Prescription.package_id)
            .join(Fill, Fill.prescription_id == Prescription.id)
            .where(Fill.id == fill_id)
        ).one()
    receive_lot(services, actor, package_id)
    return scan_and_complete(
        services.verification, actor, fill_id, upc=package_upc(services, package_id)
    )

"""Fills at the Fill step with stock on the shelf, and bottle barcodes, for the Verify tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import DrugPackage, StockLot, StockMovement
from app.domain.barcodes import GS, gs1_element_string, gtin14_for, upc_a_for
from app.domain.fill_states import FillState
from app.domain.ndc import parse_ndc
from app.services.fills import FillRow
from app.services.unit_of_work import Actor
from tests.ui.workflow_data import Intake

LISINOPRIL_30 = "65862-039-30"  # 30 tablets: a whole package fills 30
LISINOPRIL_100 = "65862-039-01"  # 100 tablets of the same product
LISINOPRIL_ACTAVIS = "0591-0407-01"  # the same drug by another manufacturer
AMOXICILLIN_50 = "0093-3109-53"
OXYCODONE_100 = "65162-047-10"  # C-II
EXPIRY = date(2030, 3, 31)


def datamatrix(ndc: str, *, lot: str = "LOT42", serial: str = "SN1") -> str:
    """The GS1 DataMatrix element string of a bottle: GTIN, expiry, lot, GS, serial."""
    return gs1_element_string(
        gtin14_for(parse_ndc(ndc)), expiry=EXPIRY, lot=lot, serial=serial, gs=GS
    )


def upc(ndc: str) -> str:
    return upc_a_for(parse_ndc(ndc))


def fill_at_fill_step(intake: Intake, pharmacist: Actor, ndc: str) -> FillRow:
    """A prescription entered, approved in data review without billing: at "Fill and scan"."""
    services = intake.services
    fill_id = intake.enter(ndc).fill_id
    row = fill_row(services, pharmacist, fill_id)
    services.workflow.advance(
        pharmacist, fill_id, to_state=FillState.FILL, expected_version=row.version
    )
    return fill_row(services, pharmacist, fill_id)


def fill_row(services: Services, actor: Actor, fill_id: int) -> FillRow:
    return next(row for row in services.fills.queue(actor) if row.fill_id == fill_id)


def receive_lot(
    services: Services, actor: Actor, ndc: str, *, lot: str = "LOT42", on_hand: int = 500
) -> None:
    """A lot on the shelf, with its receipt movement."""
    with services.database.unit_of_work(actor) as uow:
        package_id = uow.session.scalars(select(DrugPackage.id).where(DrugPackage.ndc == ndc)).one()
        stock = StockLot(
            package_id=package_id,
            lot_number=lot,
            expiry=EXPIRY,
            status="available",
            on_hand=Decimal(on_hand),
        )
        uow.session.add(stock)
        uow.session.flush()
        receipt = StockMovement(
            lot_id=stock.id, kind="received", quantity=Decimal(on_hand), workstation="test"
        )
        uow.session.add(receipt)
        uow.audit("test.received", receipt)

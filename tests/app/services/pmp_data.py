"""Controlled fills dispensed (and put back) on chosen days, by the paths verification and the
workflow take, and PMP files read back: for the PMP service, CLI and dialog tests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import Fill, FillBottle, PmpReport, Prescription, StockLot
from app.domain import asap
from app.domain.fill_states import FillState
from app.services.dispensing import controlled_schedule, dispense_from_lot, void_accepted_bottle
from app.services.unit_of_work import Actor
from tests.app.services.pharmacy_data import SEEDED
from tests.app.services.verification_data import catalogue_fill, receive_lot

ALPRAZOLAM = "0378-4003"  # C-IV in the demo catalogue


def controlled_fill(services: Services, admin: Actor, product_ndc: str) -> tuple[int, int]:
    """A fill at the Fill step of the product's first package, and a lot to take it from."""
    fill_id = catalogue_fill(services, admin, FillState.FILL, product_ndc=product_ndc)
    with services.database.reading() as session:
        package_id = session.scalar(
            select(Prescription.package_id).join(Fill).where(Fill.id == fill_id)
        )
    assert package_id is not None
    return fill_id, receive_lot(services, admin, package_id)


def dispense(
    services: Services, actor: Actor, fill_id: int, lot_id: int, quantity: int, when: datetime
) -> int:
    """A bottle accepted for the fill at `when`, by the path verification takes; its id."""
    with services.database.unit_of_work(actor) as uow:
        lot = uow.session.get(StockLot, lot_id)
        assert lot is not None
        schedule = controlled_schedule(lot.package.product.dea_schedule)
        taken = dispense_from_lot(
            uow, lot, quantity=Decimal(quantity), fill_id=fill_id, note="test", schedule=schedule
        )
        taken.movement.occurred_at = when
        if taken.controlled_entry is not None:
            taken.controlled_entry.occurred_at = when
        bottle = FillBottle(
            fill_id=fill_id,
            scanned_text="test",
            kind="upc",
            package_id=lot.package_id,
            lot_id=lot.id,
            quantity=Decimal(quantity),
            verdict="match",
            movement_id=taken.movement.id,
            workstation=actor.workstation,
            scanned_at=when,
        )
        uow.session.add(bottle)
        uow.audit(SEEDED, taken.movement)
        uow.audit(SEEDED, bottle)
    return bottle.id


def put_back(services: Services, actor: Actor, bottle_id: int, when: datetime) -> None:
    """The bottle voided at `when` (a fill returned to stock voids its bottles the same way)."""
    with services.database.unit_of_work(actor) as uow:
        bottle = uow.session.get(FillBottle, bottle_id)
        assert bottle is not None
        lines = void_accepted_bottle(uow, bottle, reason="Returned to stock", log_note="test")
        lines.movement.occurred_at = when
        if lines.controlled_entry is not None:
            lines.controlled_entry.occurred_at = when


def records_of(services: Services, report_id: int) -> asap.AsapFile:
    """The stored file read back, as the state's PMP would read it."""
    with services.database.reading() as session:
        report = session.get(PmpReport, report_id)
        assert report is not None
        return asap.read_file(report.content)

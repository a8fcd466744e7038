"""A fill's stock: taking it from a lot, how much the accepted bottles give, putting it back.

Verification (a bottle accepted or voided at the bench), the workflow (a fill cancelled or
returned to stock, and the rule that a fill reaches the pharmacist only with every unit
verified) and the demo pharmacy share these; this module imports none of them, so all may
import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.base import utc_now
from app.db.models import ControlledSubstanceEntry, FillBottle, StockLot, StockMovement
from app.services.unit_of_work import UnitOfWork

CONTROLLED_SCHEDULES = ("CII", "CIII", "CIV", "CV")  # most to least restricted


def controlled_schedule(*schedules: str | None) -> str | None:
    """The most restricted controlled schedule among those the directory lists."""
    listed = [schedule for schedule in schedules if schedule in CONTROLLED_SCHEDULES]
    return min(listed, key=CONTROLLED_SCHEDULES.index) if listed else None


def accepted_total(session: Session, fill_id: int) -> Decimal:
    """What the fill's accepted (not voided) bottles give together."""
    total = session.scalar(
        select(func.coalesce(func.sum(FillBottle.quantity), 0)).where(
            FillBottle.fill_id == fill_id, FillBottle.voided_at.is_(None)
        )
    )
    return Decimal(total or 0)


def controlled_balance(session: Session, package_id: int) -> Decimal:
    """The package's running controlled-substance balance: the log's last line, or, before its
    first line, the stock on hand (the perpetual log starts from what is on the shelf)."""
    session.execute(
        select(StockLot.id)
        .where(StockLot.package_id == package_id)
        .order_by(StockLot.id)
        .with_for_update()
    ).all()
    last = session.scalar(
        select(ControlledSubstanceEntry.balance_after)
        .where(ControlledSubstanceEntry.package_id == package_id)
        .order_by(ControlledSubstanceEntry.id.desc())
        .limit(1)
    )
    if last is not None:
        return Decimal(last)
    on_hand = session.scalar(
        select(func.coalesce(func.sum(StockLot.on_hand), 0)).where(
            StockLot.package_id == package_id
        )
    )
    return Decimal(on_hand or 0)


@dataclass(frozen=True)
class LedgerLines:
    """The stock movement written, and its line in the controlled-substance log (CII–CV)."""

    movement: StockMovement
    controlled_entry: ControlledSubstanceEntry | None


def dispense_from_lot(
    uow: UnitOfWork,
    lot: StockLot,
    *,
    quantity: Decimal,
    fill_id: int,
    note: str,
    schedule: str | None,
    witness_user_id: int | None = None,
) -> LedgerLines:
    """Take `quantity` from the lot for a fill: the dispensing movement, the lot's balance and,
    for a controlled `schedule`, the log line carrying the package's running balance.

    The balance is read (its lots locked) before the lot goes down. The caller audits.
    """
    session, actor = uow.session, uow.actor
    before = controlled_balance(session, lot.package_id) if schedule is not None else None
    movement = StockMovement(
        lot_id=lot.id,
        kind="dispensed",
        quantity=-quantity,
        fill_id=fill_id,
        reason=note,
        user_id=actor.user_id,
        workstation=actor.workstation,
    )
    lot.on_hand -= quantity
    session.add(movement)
    session.flush()
    entry: ControlledSubstanceEntry | None = None
    if schedule is not None and before is not None:
        entry = ControlledSubstanceEntry(
            package_id=lot.package_id,
            lot_id=lot.id,
            schedule=schedule,
            kind="dispensed",
            quantity=-quantity,
            balance_after=before - quantity,
            fill_id=fill_id,
            movement_id=movement.id,
            user_id=actor.user_id,
            witness_user_id=witness_user_id,
            note=note,
        )
        session.add(entry)
        session.flush()
    return LedgerLines(movement, entry)


def reverse_dispensing(
    uow: UnitOfWork, dispensed: StockMovement, *, reason: str, log_note: str
) -> LedgerLines:
    """Put a dispensing movement's stock back on its lot: a reversing movement (never a
    deletion), the lot's balance restored and, when the dispensing has a line in the
    controlled-substance log (CII–CV), a reversal line there.

    A dispensing the log never recorded gets no reversal line: the log's balance never went
    down for it, so a line now would count the stock twice. The caller audits the reversal.
    """
    session, actor = uow.session, uow.actor
    lot = session.get(StockLot, dispensed.lot_id, with_for_update=True)
    assert lot is not None  # a foreign key guarantees it
    reversal = StockMovement(
        lot_id=lot.id,
        kind="reversal",
        quantity=-dispensed.quantity,
        fill_id=dispensed.fill_id,
        reverses_id=dispensed.id,
        reason=reason,
        user_id=actor.user_id,
        workstation=actor.workstation,
    )
    session.add(reversal)
    logged = session.scalars(
        select(ControlledSubstanceEntry).where(ControlledSubstanceEntry.movement_id == dispensed.id)
    ).first()
    entry: ControlledSubstanceEntry | None = None
    if logged is not None:
        before = controlled_balance(session, logged.package_id)
        session.flush()
        entry = ControlledSubstanceEntry(
            package_id=logged.package_id,
            lot_id=lot.id,
            schedule=logged.schedule,
            kind="reversal",
            quantity=-logged.quantity,
            balance_after=before - logged.quantity,
            fill_id=dispensed.fill_id,
            movement_id=reversal.id,
            user_id=actor.user_id,
            note=log_note,
        )
        session.add(entry)
    lot.on_hand -= dispensed.quantity
    session.flush()
    return LedgerLines(reversal, entry)


def void_accepted_bottle(
    uow: UnitOfWork, bottle: FillBottle, *, reason: str, log_note: str, **details: Any
) -> LedgerLines:
    """Void an accepted bottle: its dispensing reversed (see `reverse_dispensing`), the bottle
    kept with when and why, and one audit event naming all of it (`details` added to it)."""
    assert bottle.movement_id is not None and bottle.voided_at is None  # an accepted bottle
    dispensed = uow.session.get(StockMovement, bottle.movement_id)
    assert dispensed is not None  # a foreign key guarantees it
    reversal = reverse_dispensing(uow, dispensed, reason=reason, log_note=log_note)
    bottle.voided_at = utc_now()
    bottle.voided_reason = reason
    uow.audit(
        "fill.bottle_voided",
        bottle,
        fill_id=bottle.fill_id,
        reason=reason,
        reversal_movement_id=reversal.movement.id,
        reverses_movement_id=dispensed.id,
        controlled_entry_id=(
            reversal.controlled_entry.id if reversal.controlled_entry is not None else None
        ),
        quantity=str(bottle.quantity),
        lot_id=dispensed.lot_id,
        **details,
    )
    return reversal

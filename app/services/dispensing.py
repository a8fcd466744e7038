"""A fill's stock: taking it from a lot, how much the accepted bottles give, putting it back.

Verification (a bottle accepted or voided at the bench), the workflow (a fill cancelled or
returned to stock, and the rule that a fill reaches the pharmacist only with every unit
verified), the stock ledger (app.services.inventory) and the demo pharmacy share these; this
module imports none of them, so all may import it. It also holds what every change of stock
obeys, wherever it is made: the house's rule on negative on-hand (`negative_on_hand_notice`)
and the end of each change (`stock_changed`: other workstations told, shortages noticed).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.base import utc_now
from app.db.models import (
    ControlledSubstanceEntry,
    DrugPackage,
    FillBottle,
    StockLot,
    StockMovement,
)
from app.errors import ValidationFailed
from app.services.changes import publish
from app.services.house_settings import read_inventory_policy
from app.services.reorder import open_shortage_notices
from app.services.unit_of_work import UnitOfWork

CONTROLLED_SCHEDULES = ("CII", "CIII", "CIV", "CV")  # most to least restricted
STOCK_TOPIC = "stock"


class StockRefused(ValidationFailed):
    """A stock action refused because of the stock itself; nothing was written."""

    code = "stock-refused"


class NegativeOnHandRefused(StockRefused):
    code = "negative-on-hand"


def shown(quantity: Decimal) -> str:
    """A quantity as people write it: 30, 2.5 (the column keeps three decimals: 30.000)."""
    return f"{quantity.normalize():f}"


def described_lot(session: Session, lot: StockLot) -> str:
    ndc = session.scalar(select(DrugPackage.ndc).where(DrugPackage.id == lot.package_id))
    return f"Lot {lot.lot_number} of NDC {ndc}"


def negative_on_hand_notice(session: Session, lot: StockLot, change: Decimal) -> str:
    """The house's rule on negative stock, checked before anything is written: a change that
    takes the lot below zero is refused (NegativeOnHandRefused) unless the house allows it
    (`allow_negative_on_hand`); one that brings a negative lot back up never is. Returns the
    notice the person must read when the lot ends below zero, else "".

    A lot not yet saved (`lot.id` None) is one verification met for the first time in a
    scanned bottle: its stock never came in through RxBench, and the refusal says so."""
    after = lot.on_hand + change
    if after >= 0:
        return ""
    described = described_lot(session, lot)
    if change < 0 and not read_inventory_policy(session).allow_negative_on_hand:
        if lot.id is None:
            message = (
                f"{described} was never received in RxBench, so none of it is on hand to "
                f"take {shown(-change)} from. Receive the delivery first (Inventory ▸ Receive "
                "stock…), or scan a bottle of a lot that was received."
            )
        else:
            message = (
                f"{described} has {shown(lot.on_hand)} on hand: taking {shown(-change)} would "
                f"leave {shown(after)}. Count the lot and correct it first, or take less."
            )
        raise NegativeOnHandRefused(
            message,
            lot_id=lot.id,
            on_hand=str(lot.on_hand),
            quantity=str(-change),
        )
    return f"{described} is now negative ({shown(after)} on hand): count it and correct the ledger."


def stock_changed(uow: UnitOfWork, package_ids: Collection[int], today: date) -> None:
    """Where every change of stock ends, inside its unit of work: the other workstations are
    told (topic "stock") and the packages checked for shortages, so a notice reaches the
    pharmacist's work list with the change that made it (app.services.reorder)."""
    ids = sorted(set(package_ids))
    for package_id in ids:
        publish(
            uow.session,
            topic=STOCK_TOPIC,
            entity_id=str(package_id),
            workstation=uow.actor.workstation,
        )
    open_shortage_notices(uow, ids, today)


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
    """The stock movement written, its line in the controlled-substance log (CII–CV), and the
    notice that the lot is now negative ("" when it is not)."""

    movement: StockMovement
    controlled_entry: ControlledSubstanceEntry | None
    notice: str = ""


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

    The house's rule on negative on-hand is met first (NegativeOnHandRefused, nothing written);
    a lot not yet saved (first met in a scanned bottle) is saved only then. The balance is read
    (its lots locked) before the lot goes down. The caller locks the lot, audits, and ends the
    change with `stock_changed`.
    """
    session, actor = uow.session, uow.actor
    notice = negative_on_hand_notice(session, lot, -quantity)
    if lot.id is None:
        session.add(lot)
        session.flush()
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
    return LedgerLines(movement, entry, notice)


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

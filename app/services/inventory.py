"""The stock ledger: receiving, adjusting, destroying, returning, transferring, reversing, lot
status and location, first-expiry-first-out, expiry, and the balances derived from the ledger.

Every change of stock is an append-only `StockMovement`; the lot's maintained `on_hand` changes
in the same transaction, with the package's lots locked in id order (the order
`dispensing.controlled_balance` locks them in), so two workstations cannot lose an update. A
change to a schedule II–V package also writes its line in the controlled-substance log. A lot
goes below zero only when the house allows it (`allow_negative_on_hand`), and then says so.
Dispensing is written by verification through app.services.dispensing and undone only there.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from app.db.models import (
    ControlledSubstanceEntry,
    DrugPackage,
    DrugProduct,
    StockLot,
    StockMovement,
    User,
)
from app.domain.roles import Role
from app.errors import NotFound, ValidationFailed
from app.services.dispensing import (
    STOCK_TOPIC,
    StockRefused,
    controlled_balance,
    controlled_schedule,
    described_lot,
    negative_on_hand_notice,
    shown,
    stock_changed,
)
from app.services.dispensing import (
    NegativeOnHandRefused as NegativeOnHandRefused,  # raised by `_write_movement`: re-exported
)
from app.services.house_settings import read_inventory_policy
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role

TOPIC = STOCK_TOPIC
STOCK_ROLES = (Role.TECHNICIAN, Role.PHARMACIST)
# Where a lot can be kept. The demo pharmacy segregates quarantined stock on its own shelf.
LOCATIONS = ("shelf", "refrigerator", "controlled-substance cabinet", "quarantine shelf")
REVERSIBLE_KINDS = frozenset(
    {"received", "returned_to_vendor", "transferred", "destroyed", "adjusted", "count_correction"}
)
DEFAULT_LEDGER_LIMIT = 200
MAX_LEDGER_LIMIT = 10_000
_MAX_QUANTITY = Decimal("999999999.999")  # Numeric(12, 3)
_LOT_NUMBER_LENGTH = 40  # stock_lots.lot_number


class ExpiredStockRefused(StockRefused):
    code = "expired-stock"


class LotExpiryMismatch(StockRefused):
    code = "lot-expiry-mismatch"


class WitnessRequired(StockRefused):
    """A controlled-substance change or a destruction needs a second person who saw it."""

    code = "witness-required"


class ReversalRefused(StockRefused):
    code = "reversal-refused"


class LotStatusRefused(StockRefused):
    code = "lot-status-refused"


@dataclass(frozen=True)
class LotRow:
    lot_id: int
    package_id: int
    ndc: str
    drug: str
    dea_schedule: str | None
    lot_number: str
    expiry: date
    status: str
    location: str
    on_hand: Decimal

    @property
    def negative(self) -> bool:
        """Shown on the lot: only a house allowing negative on-hand lets a lot get here."""
        return self.on_hand < 0


@dataclass(frozen=True)
class MovementRow:
    movement_id: int
    lot_id: int
    package_id: int
    ndc: str
    lot_number: str
    kind: str
    quantity: Decimal
    reason: str
    username: str | None
    workstation: str
    occurred_at: datetime
    fill_id: int | None
    reverses_id: int | None
    reversed_by_id: int | None


@dataclass(frozen=True)
class StockChange:
    """What a stock action did: the lot after it, the movement (none for a status or location
    change), the controlled-substance log line, and a notice the person must read ("received
    into quarantine", "the lot is now negative"), empty when there is nothing to say."""

    lot: LotRow
    movement: MovementRow | None
    controlled_entry_id: int | None
    notice: str = ""


@dataclass(frozen=True)
class BalanceMismatch:
    lot_id: int
    on_hand: Decimal
    ledger_sum: Decimal


@dataclass(frozen=True)
class ControlledLogMismatch:
    package_id: int
    on_hand: Decimal
    logged_balance: Decimal


# --- checks -----------------------------------------------------------------------------------


def ledger_balance_mismatches(
    session: Session, *, package_ids: Collection[int] | None = None
) -> list[BalanceMismatch]:
    """Every lot (of `package_ids`, or of all packages) whose maintained balance differs from
    the sum of its movements: none, when the ledger is kept right."""
    ledger_sum = func.coalesce(func.sum(StockMovement.quantity), 0)
    statement = (
        select(StockLot.id, StockLot.on_hand, ledger_sum)
        .outerjoin(StockMovement, StockMovement.lot_id == StockLot.id)
        .group_by(StockLot.id, StockLot.on_hand)
        .having(StockLot.on_hand != ledger_sum)
        .order_by(StockLot.id)
    )
    if package_ids is not None:
        statement = statement.where(StockLot.package_id.in_(package_ids))
    rows = session.execute(statement).all()
    return [
        BalanceMismatch(lot_id=lot_id, on_hand=Decimal(on_hand), ledger_sum=Decimal(total))
        for lot_id, on_hand, total in rows
    ]


def controlled_log_mismatches(
    session: Session, *, package_ids: Collection[int] | None = None
) -> list[ControlledLogMismatch]:
    """Every package (of `package_ids`, or all) whose controlled-substance log's last balance
    differs from its stock on hand: none, when every change of a CII–CV package's stock wrote
    its line."""
    last_lines = select(func.max(ControlledSubstanceEntry.id).label("id")).group_by(
        ControlledSubstanceEntry.package_id
    )
    if package_ids is not None:
        last_lines = last_lines.where(ControlledSubstanceEntry.package_id.in_(package_ids))
    last_line = last_lines.subquery()
    package_on_hand = (
        select(StockLot.package_id, func.sum(StockLot.on_hand).label("on_hand"))
        .group_by(StockLot.package_id)
        .subquery()
    )
    rows = session.execute(
        select(
            ControlledSubstanceEntry.package_id,
            package_on_hand.c.on_hand,
            ControlledSubstanceEntry.balance_after,
        )
        .join(last_line, last_line.c.id == ControlledSubstanceEntry.id)
        .join(package_on_hand, package_on_hand.c.package_id == ControlledSubstanceEntry.package_id)
        .where(package_on_hand.c.on_hand != ControlledSubstanceEntry.balance_after)
        .order_by(ControlledSubstanceEntry.package_id)
    ).all()
    return [
        ControlledLogMismatch(
            package_id=package_id, on_hand=Decimal(on_hand), logged_balance=Decimal(logged)
        )
        for package_id, on_hand, logged in rows
    ]


# --- input ------------------------------------------------------------------------------------


def _quantity(value: Decimal | int | str, *, field: str, allow_negative: bool = False) -> Decimal:
    """A finite quantity with at most three decimals (what the ledger keeps), not zero."""
    if isinstance(value, bool | float):
        raise ValidationFailed(f"“{value}” is not a quantity: type it as a number.", field=field)
    try:
        quantity = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed(f"“{value}” is not a number.", field=field) from None
    if not quantity.is_finite():
        raise ValidationFailed(f"“{value}” is not a number.", field=field)
    if quantity == 0:
        raise ValidationFailed("The quantity cannot be 0.", field=field)
    if quantity < 0 and not allow_negative:
        raise ValidationFailed(
            f"The quantity is a number of units more than 0, not {shown(quantity)}.", field=field
        )
    if quantity != quantity.quantize(Decimal("0.001")):
        raise ValidationFailed(
            f"{shown(quantity)} has more than three decimals: the ledger keeps units to 0.001.",
            field=field,
        )
    if abs(quantity) > _MAX_QUANTITY:
        raise ValidationFailed(
            f"{shown(quantity)} units is more than the ledger holds.", field=field
        )
    return quantity


def _reason(reason: str, *, what: str) -> str:
    clean = " ".join(str(reason).split())
    if not clean:
        raise ValidationFailed(f"Say why: {what} needs a reason.", field="reason")
    return clean


def _location(location: str) -> str:
    clean = " ".join(str(location).split()).lower()
    if clean not in LOCATIONS:
        raise ValidationFailed(
            f"“{location}” is not a stock location: use {', '.join(LOCATIONS)}.",
            field="location",
        )
    return clean


def _lot_number(lot_number: str) -> str:
    clean = str(lot_number).strip()
    if not clean:
        raise ValidationFailed("Type the lot number printed on the package.", field="lot_number")
    if len(clean) > _LOT_NUMBER_LENGTH:
        raise ValidationFailed(
            f"A lot number has at most {_LOT_NUMBER_LENGTH} characters.", field="lot_number"
        )
    return clean


def _expiry(expiry: date) -> date:
    if isinstance(expiry, datetime) or not isinstance(expiry, date):
        raise ValidationFailed(
            f"“{expiry}” is not an expiry date: type the date on the package.", field="expiry"
        )
    return expiry


def _controlled_witness(
    session: Session, actor: Actor, witness: Actor | None, schedule: str | None, *, doing: str
) -> Actor | None:
    """The witness a change of controlled stock needs (checked), or None for other stock."""
    if schedule is None:
        return None
    _check_witness(session, actor, witness, needed_for=f"{doing} schedule {schedule[1:]} stock")
    return witness


def _check_witness(
    session: Session, actor: Actor, witness: Actor | None, *, needed_for: str
) -> None:
    """A second person, signed in through a co-signature: a pharmacist or technician other than
    the actor, whose account is still active."""
    if witness is None:
        raise WitnessRequired(
            f"{needed_for} must be witnessed: a pharmacist or technician other than you must "
            "co-sign it.",
            reason="witness-missing",
        )
    if witness.user_id is None or witness.user_id == actor.user_id:
        raise WitnessRequired(
            f"The witness must be someone other than {actor.username}.", reason="witness-same"
        )
    if not witness.has_any(*STOCK_ROLES):
        raise WitnessRequired(
            f"{witness.username} is not a pharmacist or technician and cannot witness.",
            reason="witness-role",
        )
    user = session.get(User, witness.user_id)
    if user is None or not user.is_active:
        raise WitnessRequired(
            f"{witness.username}'s account is not active: another person must witness.",
            reason="witness-inactive",
        )


# --- reading ----------------------------------------------------------------------------------


def _lot_rows(session: Session, statement: Select[StockLot, str, DrugProduct]) -> list[LotRow]:
    return [
        LotRow(
            lot_id=lot.id,
            package_id=lot.package_id,
            ndc=ndc,
            drug=product.display_name,
            dea_schedule=product.dea_schedule,
            lot_number=lot.lot_number,
            expiry=lot.expiry,
            status=lot.status,
            location=lot.location,
            on_hand=lot.on_hand,
        )
        for lot, ndc, product in session.execute(statement)
    ]


def _lots() -> Select[StockLot, str, DrugProduct]:
    return (
        select(StockLot, DrugPackage.ndc, DrugProduct)
        .join(DrugPackage, StockLot.package_id == DrugPackage.id)
        .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
    )


def _lot_row(session: Session, lot_id: int) -> LotRow:
    session.flush()
    return _lot_rows(session, _lots().where(StockLot.id == lot_id))[0]


def _movements() -> Select[StockMovement, int, str, str, str | None, int | None]:
    reversal = aliased(StockMovement)
    return (
        select(
            StockMovement,
            StockLot.package_id,
            StockLot.lot_number,
            DrugPackage.ndc,
            User.username,
            reversal.id,
        )
        .join(StockLot, StockMovement.lot_id == StockLot.id)
        .join(DrugPackage, StockLot.package_id == DrugPackage.id)
        .outerjoin(User, StockMovement.user_id == User.id)
        .outerjoin(reversal, reversal.reverses_id == StockMovement.id)
    )


def _movement_rows(
    session: Session, statement: Select[StockMovement, int, str, str, str | None, int | None]
) -> list[MovementRow]:
    return [
        MovementRow(
            movement_id=movement.id,
            lot_id=movement.lot_id,
            package_id=package_id,
            ndc=ndc,
            lot_number=lot_number,
            kind=movement.kind,
            quantity=movement.quantity,
            reason=movement.reason,
            username=username,
            workstation=movement.workstation,
            occurred_at=movement.occurred_at,
            fill_id=movement.fill_id,
            reverses_id=movement.reverses_id,
            reversed_by_id=reversed_by,
        )
        for movement, package_id, lot_number, ndc, username, reversed_by in session.execute(
            statement
        )
    ]


def _movement_row(session: Session, movement_id: int) -> MovementRow:
    session.flush()
    return _movement_rows(session, _movements().where(StockMovement.id == movement_id))[0]


# --- writing ----------------------------------------------------------------------------------


def _lock_lot(session: Session, lot_id: int) -> StockLot:
    """The lot, with every lot of its package locked in id order (as the controlled balance
    locks them), so no two workstations lock the same lots in opposite orders."""
    package_id = session.scalar(select(StockLot.package_id).where(StockLot.id == lot_id))
    if package_id is None:
        raise NotFound(f"There is no stock lot {lot_id}.", lot_id=lot_id)
    _lock_package_lots(session, package_id)
    lot = session.get(StockLot, lot_id)
    assert lot is not None  # locked above
    return lot


def _lock_package_lots(session: Session, package_id: int) -> None:
    session.execute(
        select(StockLot)
        .where(StockLot.package_id == package_id)
        .order_by(StockLot.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()


def _package_schedule(session: Session, package_id: int) -> str | None:
    return controlled_schedule(
        session.scalar(
            select(DrugProduct.dea_schedule)
            .join(DrugPackage, DrugPackage.product_id == DrugProduct.id)
            .where(DrugPackage.id == package_id)
        )
    )


_described = described_lot


@dataclass(frozen=True)
class _Written:
    movement: StockMovement
    entry: ControlledSubstanceEntry | None
    notice: str


def _write_movement(
    uow: UnitOfWork,
    lot: StockLot,
    *,
    kind: str,
    change: Decimal,
    reason: str,
    schedule: str | None,
    witness: Actor | None = None,
    reverses: StockMovement | None = None,
) -> _Written:
    """The movement, the lot's balance and, for CII–CV, the log line, once the house's rule on
    negative stock is met: a change that takes a lot below zero is refused unless the house
    allows it, one that brings a negative lot back up never is. The caller locks the lot."""
    session, actor = uow.session, uow.actor
    after = lot.on_hand + change
    notice = negative_on_hand_notice(session, lot, change)
    before = controlled_balance(session, lot.package_id) if schedule is not None else None
    movement = StockMovement(
        lot_id=lot.id,
        kind=kind,
        quantity=change,
        reverses_id=reverses.id if reverses is not None else None,
        fill_id=reverses.fill_id if reverses is not None else None,
        reason=reason,
        user_id=actor.user_id,
        workstation=actor.workstation,
    )
    session.add(movement)
    lot.on_hand = after
    session.flush()
    entry: ControlledSubstanceEntry | None = None
    if schedule is not None and before is not None:
        entry = ControlledSubstanceEntry(
            package_id=lot.package_id,
            lot_id=lot.id,
            schedule=schedule,
            kind=kind,
            quantity=change,
            balance_after=before + change,
            movement_id=movement.id,
            user_id=actor.user_id,
            witness_user_id=witness.user_id if witness is not None else None,
            note=reason,
        )
        session.add(entry)
        session.flush()
    return _Written(movement, entry, notice)


@dataclass(frozen=True)
class Received:
    """What `receive_stock` wrote: the lot (locked, flushed), whether it was created, the
    movement and controlled-substance log line, the package's schedule, and the notice."""

    lot: StockLot
    created: bool
    written: _Written
    schedule: str | None
    notice: str


def _refuse_expired_receipt(lot_number: str, expiry: date, today: date) -> None:
    if expiry < today:
        raise ExpiredStockRefused(
            f"Lot {lot_number} expired on {expiry.isoformat()}: expired stock is not "
            "received. Return it to the seller.",
            expiry=expiry.isoformat(),
        )


def receive_stock(
    uow: UnitOfWork,
    package_id: int,
    *,
    lot_number: str,
    expiry: date,
    quantity: Decimal | int | str,
    location: str = "shelf",
    reason: str = "",
    today: date,
    suspect_reason: str = "",
    **audit_details: Any,
) -> Received:
    """Receive stock into its lot inside the caller's unit of work (the caller checks the role):
    the lot found by package and lot number or created at `location`, the received movement,
    the controlled-substance log line and the audit event. A quarantined or recalled lot stays
    so, a lot an open recall names is recalled (app.services.recalls); with `suspect_reason`
    the lot is put in quarantine for investigation (audited)."""
    lot_number = _lot_number(lot_number)
    expiry = _expiry(expiry)
    amount = _quantity(quantity, field="quantity")
    place = _location(location)
    note = " ".join(str(reason).split())
    _refuse_expired_receipt(lot_number, expiry, today)
    session = uow.session
    if session.get(DrugPackage, package_id) is None:
        raise NotFound(f"There is no package {package_id} in the catalogue.")
    _lock_package_lots(session, package_id)
    lot = session.scalars(
        select(StockLot).where(StockLot.package_id == package_id, StockLot.lot_number == lot_number)
    ).first()
    created = lot is None
    if lot is None:
        lot = StockLot(
            package_id=package_id,
            lot_number=lot_number,
            expiry=expiry,
            status="available",
            location=place,
            on_hand=Decimal(0),
        )
        session.add(lot)
        session.flush()
    elif lot.expiry != expiry:
        raise LotExpiryMismatch(
            f"{_described(session, lot)} is on record with expiry "
            f"{lot.expiry.isoformat()}, not {expiry.isoformat()}: check the package. "
            "One lot has one expiry.",
            lot_id=lot.id,
            recorded=lot.expiry.isoformat(),
            typed=expiry.isoformat(),
        )
    schedule = _package_schedule(session, package_id)
    written = _write_movement(
        uow, lot, kind="received", change=amount, reason=note, schedule=schedule
    )
    notice = written.notice
    # Imported here: the recall service builds on this module (it pulls and returns stock).
    from app.services.recalls import quarantine_if_recalled

    quarantine_if_recalled(uow, lot)  # a lot an open recall names goes straight into it
    suspect = " ".join(str(suspect_reason).split())
    if suspect and lot.status == "available":
        InventoryService._set_status(uow, lot, "quarantined", f"suspect product: {suspect}")
    if lot.status != "available":
        notice = (
            f"{_described(session, lot)} is {lot.status}: the stock was "
            "received into quarantine. Keep it apart and do not dispense it."
        )
    uow.audit(
        "stock.received",
        written.movement,
        lot_id=lot.id,
        lot=lot.lot_number,
        lot_created=created,
        lot_status=lot.status,
        expiry=expiry.isoformat(),
        quantity=str(amount),
        location=lot.location,
        schedule=schedule,
        controlled_entry_id=written.entry.id if written.entry is not None else None,
        reason=note,
        **audit_details,
    )
    return Received(lot, created, written, schedule, notice)


class InventoryService:
    def __init__(self, database: Database, *, today: Callable[[], date] = date.today) -> None:
        self._db = database
        self._today = today

    # --- movements ----------------------------------------------------------------------------

    def receive(
        self,
        actor: Actor,
        package_id: int,
        *,
        lot_number: str,
        expiry: date,
        quantity: Decimal | int | str,
        location: str = "shelf",
        reason: str = "",
    ) -> StockChange:
        """Stock received into its lot (found by package and lot number, or created at
        `location`). A lot that is quarantined or recalled stays so: the stock is received into
        quarantine, and the notice says so."""
        require_role(actor, *STOCK_ROLES, action="receive stock")
        lot_number = _lot_number(lot_number)
        expiry = _expiry(expiry)
        amount = _quantity(quantity, field="quantity")
        place = _location(location)
        _refuse_expired_receipt(lot_number, expiry, self._today())
        with self._db.unit_of_work(actor) as uow:
            received = receive_stock(
                uow,
                package_id,
                lot_number=lot_number,
                expiry=expiry,
                quantity=amount,
                location=place,
                reason=reason,
                today=self._today(),
            )
            return self._changed(uow, received.lot, received.written, received.notice)

    def adjust(
        self,
        actor: Actor,
        lot_id: int,
        *,
        quantity_change: Decimal | int | str,
        reason: str,
        witness: Actor | None = None,
    ) -> StockChange:
        """Correct a lot's stock up or down, with why; a CII–CV lot needs a witness."""
        require_role(actor, *STOCK_ROLES, action="adjust stock")
        change = _quantity(quantity_change, field="quantity_change", allow_negative=True)
        why = _reason(reason, what="an adjustment")
        with self._db.unit_of_work(actor) as uow:
            lot = _lock_lot(uow.session, lot_id)
            schedule = _package_schedule(uow.session, lot.package_id)
            counted = _controlled_witness(uow.session, actor, witness, schedule, doing="Adjusting")
            written = _write_movement(
                uow,
                lot,
                kind="adjusted",
                change=change,
                reason=why,
                schedule=schedule,
                witness=counted,
            )
            self._audit_movement(uow, "stock.adjusted", lot, written, schedule, counted)
            return self._changed(uow, lot, written, written.notice)

    def destroy(
        self,
        actor: Actor,
        lot_id: int,
        *,
        quantity: Decimal | int | str,
        reason: str,
        witness: Actor | None,
    ) -> StockChange:
        """Stock destroyed (wasted, expired, damaged), always before a witness."""
        require_role(actor, *STOCK_ROLES, action="destroy stock")
        amount = _quantity(quantity, field="quantity")
        why = _reason(reason, what="a destruction")
        with self._db.unit_of_work(actor) as uow:
            _check_witness(uow.session, actor, witness, needed_for="Destroying stock")
            lot = _lock_lot(uow.session, lot_id)
            schedule = _package_schedule(uow.session, lot.package_id)
            written = _write_movement(
                uow,
                lot,
                kind="destroyed",
                change=-amount,
                reason=why,
                schedule=schedule,
                witness=witness,
            )
            self._audit_movement(uow, "stock.destroyed", lot, written, schedule, witness)
            return self._changed(uow, lot, written, written.notice)

    def return_to_vendor(
        self, actor: Actor, lot_id: int, *, quantity: Decimal | int | str, reason: str
    ) -> StockChange:
        """Stock sent back to the seller (recalled, short-dated, damaged, ordered in error)."""
        require_role(actor, *STOCK_ROLES, action="return stock to the vendor")
        amount = _quantity(quantity, field="quantity")
        why = _reason(reason, what="a return to the vendor")
        with self._db.unit_of_work(actor) as uow:
            lot = _lock_lot(uow.session, lot_id)
            schedule = _package_schedule(uow.session, lot.package_id)
            written = _write_movement(
                uow, lot, kind="returned_to_vendor", change=-amount, reason=why, schedule=schedule
            )
            self._audit_movement(uow, "stock.returned_to_vendor", lot, written, schedule, None)
            return self._changed(uow, lot, written, written.notice)

    def transfer_out(
        self,
        actor: Actor,
        lot_id: int,
        *,
        quantity: Decimal | int | str,
        to_pharmacy: str,
        reason: str,
    ) -> StockChange:
        """Stock sent to another pharmacy; only stock fit to dispense (available, unexpired)."""
        require_role(actor, *STOCK_ROLES, action="transfer stock")
        amount = _quantity(quantity, field="quantity")
        destination = " ".join(str(to_pharmacy).split())
        if not destination:
            raise ValidationFailed("Name the pharmacy the stock goes to.", field="to_pharmacy")
        why = _reason(reason, what="a transfer")
        with self._db.unit_of_work(actor) as uow:
            lot = _lock_lot(uow.session, lot_id)
            self._refuse_unless_dispensable(uow.session, lot, action="transferred")
            schedule = _package_schedule(uow.session, lot.package_id)
            written = _write_movement(
                uow,
                lot,
                kind="transferred",
                change=-amount,
                reason=f"To {destination}: {why}",
                schedule=schedule,
            )
            self._audit_movement(
                uow, "stock.transferred", lot, written, schedule, None, to_pharmacy=destination
            )
            return self._changed(uow, lot, written, written.notice)

    def reverse(
        self, actor: Actor, movement_id: int, *, reason: str, witness: Actor | None = None
    ) -> StockChange:
        """Undo a movement made by mistake with a reversing movement, once; a CII–CV lot needs
        a witness, as for an adjustment. Dispensing is undone only through its fill."""
        require_role(actor, *STOCK_ROLES, action="reverse a stock movement")
        why = _reason(reason, what="a reversal")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            lot_id = session.scalar(
                select(StockMovement.lot_id).where(StockMovement.id == movement_id)
            )
            if lot_id is None:
                raise NotFound(f"There is no stock movement {movement_id}.")
            lot = _lock_lot(session, lot_id)
            original = session.get(StockMovement, movement_id)
            assert original is not None  # found above
            if original.kind == "dispensed":
                raise ReversalRefused(
                    "A dispensing is undone only through its fill: void the bottle at "
                    "verification, or return the fill to stock.",
                    movement_id=movement_id,
                    reason="dispensing",
                )
            if original.kind not in REVERSIBLE_KINDS:
                raise ReversalRefused(
                    "A reversal is not itself reversed: record the stock again instead.",
                    movement_id=movement_id,
                    reason="reversal",
                )
            earlier = session.scalar(
                select(StockMovement.id).where(StockMovement.reverses_id == movement_id)
            )
            if earlier is not None:
                raise ReversalRefused(
                    f"Movement {movement_id} was already reversed (movement {earlier}): a "
                    "movement is reversed once.",
                    movement_id=movement_id,
                    reversed_by=earlier,
                    reason="already-reversed",
                )
            schedule = _package_schedule(session, lot.package_id)
            counted = _controlled_witness(session, actor, witness, schedule, doing="Reversing")
            written = _write_movement(
                uow,
                lot,
                kind="reversal",
                change=-original.quantity,
                reason=why,
                schedule=schedule,
                witness=counted,
                reverses=original,
            )
            self._audit_movement(
                uow,
                "stock.reversed",
                lot,
                written,
                schedule,
                counted,
                reverses_movement_id=original.id,
                reversed_kind=original.kind,
            )
            return self._changed(uow, lot, written, written.notice)

    # --- lot status and location ------------------------------------------------------------

    def move_location(self, actor: Actor, lot_id: int, location: str) -> StockChange:
        """Where the lot is kept; no stock moves, so no movement, only the audit event."""
        require_role(actor, *STOCK_ROLES, action="move stock")
        place = _location(location)
        with self._db.unit_of_work(actor) as uow:
            lot = _lock_lot(uow.session, lot_id)
            if lot.location == place:
                raise ValidationFailed(
                    f"{_described(uow.session, lot)} is already in the {place}.",
                    field="location",
                )
            before = lot.location
            lot.location = place
            uow.audit(
                "stock.lot_moved", lot, before={"location": before}, after={"location": place}
            )
            return self._changed(uow, lot, None, "")

    def quarantine(self, actor: Actor, lot_id: int, *, reason: str) -> StockChange:
        """Keep an available lot from being dispensed until a pharmacist releases it."""
        require_role(actor, *STOCK_ROLES, action="quarantine stock")
        why = _reason(reason, what="a quarantine")
        with self._db.unit_of_work(actor) as uow:
            lot = _lock_lot(uow.session, lot_id)
            if lot.status != "available":
                raise LotStatusRefused(
                    f"{_described(uow.session, lot)} is already {lot.status}.",
                    lot_id=lot.id,
                    status=lot.status,
                )
            self._set_status(uow, lot, "quarantined", why)
            return self._changed(uow, lot, None, "")

    def release(self, actor: Actor, lot_id: int, *, reason: str) -> StockChange:
        """A pharmacist returns a quarantined, unexpired lot to the shelf's available stock."""
        require_role(actor, Role.PHARMACIST, action="release quarantined stock")
        why = _reason(reason, what="a release")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            lot = _lock_lot(session, lot_id)
            if lot.status == "recalled":
                raise LotStatusRefused(
                    f"{_described(session, lot)} is recalled and is never released: pull it "
                    "from the recall's work list and return it to the vendor or destroy it.",
                    lot_id=lot.id,
                    status=lot.status,
                )
            if lot.status != "quarantined":
                raise LotStatusRefused(
                    f"{_described(session, lot)} is not in quarantine.",
                    lot_id=lot.id,
                    status=lot.status,
                )
            if lot.expiry < self._today():
                raise ExpiredStockRefused(
                    f"{_described(session, lot)} expired on "
                    f"{lot.expiry.isoformat()}: it stays in quarantine until it is destroyed "
                    "or returned.",
                    lot_id=lot.id,
                    expiry=lot.expiry.isoformat(),
                )
            self._set_status(uow, lot, "available", why)
            return self._changed(uow, lot, None, "")

    def quarantine_expired(self, actor: Actor) -> int:
        """Quarantine every available lot past its expiry (one audited event per lot), so it
        cannot be dispensed; cheap enough to run at every sign-in. Returns how many."""
        require_role(actor, *Role, action="quarantine expired stock")
        today = self._today()
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            lots = session.scalars(
                select(StockLot)
                .where(StockLot.status == "available", StockLot.expiry < today)
                .order_by(StockLot.package_id, StockLot.id)
                .with_for_update()
            ).all()
            for lot in lots:
                self._set_status(uow, lot, "quarantined", "expired")
            stock_changed(uow, {lot.package_id for lot in lots}, today)
            return len(lots)

    # --- reading ------------------------------------------------------------------------------

    def on_hand(self, actor: Actor, package_id: int) -> Decimal:
        """The package's stock on hand over all its lots, quarantined ones included (they are
        on the premises and counted)."""
        require_role(actor, *Role, action="see stock on hand")
        with self._db.reading() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(StockLot.on_hand), 0)).where(
                    StockLot.package_id == package_id
                )
            )
            return Decimal(total or 0)

    def lots(self, actor: Actor, package_id: int) -> list[LotRow]:
        """Every lot of the package with its balance, soonest expiry first."""
        require_role(actor, *Role, action="see stock on hand")
        with self._db.reading() as session:
            return _lot_rows(
                session,
                _lots()
                .where(StockLot.package_id == package_id)
                .order_by(StockLot.expiry, StockLot.id),
            )

    def fefo_lots(self, actor: Actor, package_id: int) -> list[LotRow]:
        """First-expiry-first-out: the lots to fill from, available, unexpired, with stock,
        soonest expiry first."""
        require_role(actor, *Role, action="see stock on hand")
        with self._db.reading() as session:
            return _lot_rows(
                session,
                _lots()
                .where(
                    StockLot.package_id == package_id,
                    StockLot.status == "available",
                    StockLot.on_hand > 0,
                    StockLot.expiry >= self._today(),
                )
                .order_by(StockLot.expiry, StockLot.id),
            )

    def short_dated(self, actor: Actor, *, within_days: int | None = None) -> list[LotRow]:
        """Available lots with stock that expire within `within_days` (the house's short-dated
        window when not given), expired ones not yet quarantined included, soonest first."""
        require_role(actor, *Role, action="see short-dated stock")
        if within_days is not None and (
            isinstance(within_days, bool) or not isinstance(within_days, int) or within_days < 0
        ):
            raise ValidationFailed(
                f"The short-dated window is a whole number of days, not “{within_days}”.",
                field="within_days",
            )
        with self._db.reading() as session:
            days = (
                read_inventory_policy(session).short_dated_days
                if within_days is None
                else within_days
            )
            return _lot_rows(
                session,
                _lots()
                .where(
                    StockLot.status == "available",
                    StockLot.on_hand > 0,
                    StockLot.expiry <= self._today() + timedelta(days=days),
                )
                .order_by(StockLot.expiry, DrugPackage.ndc, StockLot.id),
            )

    def ledger(
        self,
        actor: Actor,
        *,
        lot_id: int | None = None,
        package_id: int | None = None,
        limit: int = DEFAULT_LEDGER_LIMIT,
    ) -> list[MovementRow]:
        """Movement history with who, where, when and why, newest first."""
        require_role(actor, *Role, action="see the stock ledger")
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_LEDGER_LIMIT
        ):
            raise ValidationFailed(
                f"Show 1 to {MAX_LEDGER_LIMIT} movements, not “{limit}”.", field="limit"
            )
        statement = _movements()
        if lot_id is not None:
            statement = statement.where(StockMovement.lot_id == lot_id)
        if package_id is not None:
            statement = statement.where(StockLot.package_id == package_id)
        statement = statement.order_by(
            StockMovement.occurred_at.desc(), StockMovement.id.desc()
        ).limit(limit)
        with self._db.reading() as session:
            return _movement_rows(session, statement)

    # --- shared -------------------------------------------------------------------------------

    def _refuse_unless_dispensable(self, session: Session, lot: StockLot, *, action: str) -> None:
        if lot.status != "available":
            raise LotStatusRefused(
                f"{_described(session, lot)} is {lot.status}: it cannot be {action}.",
                lot_id=lot.id,
                status=lot.status,
            )
        if lot.expiry < self._today():
            raise ExpiredStockRefused(
                f"{_described(session, lot)} expired on {lot.expiry.isoformat()}: "
                f"it cannot be {action}.",
                lot_id=lot.id,
                expiry=lot.expiry.isoformat(),
            )

    @staticmethod
    def _set_status(uow: UnitOfWork, lot: StockLot, status: str, reason: str) -> None:
        before = lot.status
        lot.status = status
        action = "stock.lot_quarantined" if status == "quarantined" else "stock.lot_released"
        uow.audit(action, lot, before={"status": before}, after={"status": status}, reason=reason)

    @staticmethod
    def _audit_movement(
        uow: UnitOfWork,
        action: str,
        lot: StockLot,
        written: _Written,
        schedule: str | None,
        witness: Actor | None,
        **details: Any,
    ) -> None:
        uow.audit(
            action,
            written.movement,
            lot_id=lot.id,
            lot=lot.lot_number,
            quantity=str(written.movement.quantity),
            on_hand_after=str(lot.on_hand),
            reason=written.movement.reason,
            schedule=schedule,
            controlled_entry_id=written.entry.id if written.entry is not None else None,
            witness=witness.username if witness is not None else None,
            negative=lot.on_hand < 0,
            **details,
        )

    def _changed(
        self, uow: UnitOfWork, lot: StockLot, written: _Written | None, notice: str
    ) -> StockChange:
        session = uow.session
        stock_changed(uow, [lot.package_id], self._today())
        return StockChange(
            lot=_lot_row(session, lot.id),
            movement=_movement_row(session, written.movement.id) if written is not None else None,
            controlled_entry_id=written.entry.id if written and written.entry else None,
            notice=notice,
        )

"""Moving fills through the workflow from several workstations at once.

Taking a fill is race-free: the row is locked (`SELECT … FOR UPDATE`, `SKIP LOCKED` when
handing out the next one) on PostgreSQL, and SQLite serialises writers with BEGIN IMMEDIATE,
so two workstations can never both hold a fill. Every move checks the state machine
(app.domain.workflow) and the version the person last saw, and writes, in one transaction,
the fill, its FillTransition history row, the audit event, the pharmacist work list and a
change note for the other workstations. A move hands the fill on: it is no longer held.

One edge is not `advance`'s to take: Fill → final verification belongs to the Verify panel
(VerificationService.complete, through `move_fill`), and every move along it is refused unless
the fill's accepted bottles give its whole quantity. Cancelling a fill or returning it to stock
voids its accepted bottles and reverses their dispensing, controlled-substance log included;
a hold keeps them with the fill.

Taking and moving run on every workstation all day, so they read and write the fill's workflow
columns with prepared Core statements rather than loading the ORM `Fill`: the ORM does not see
those writes, so each one names its audit event explicitly (`uow.audit(entity_type="fills")`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.dml import Update

from app.db.base import utc_now
from app.db.models import (
    Fill,
    FillBottle,
    FillTransition,
    Prescription,
    StockLot,
    StockMovement,
    User,
)
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.domain.workflow import check_transition
from app.errors import NotFound, RxBenchError, StaleRecord, ValidationFailed
from app.services.changes import Change, publish, publish_all
from app.services.claim_records import queue_fill_reversals
from app.services.dispensing import (
    accepted_total,
    reverse_dispensing,
    stock_changed,
    void_accepted_bottle,
)
from app.services.fills import (
    FillRow,
    fill_row,
    fill_rows_statement,
    read_fill_row,
    read_fill_rows,
)
from app.services.house_settings import read_house_settings
from app.services.screening import (
    FindingDTO,
    UnacknowledgedFindings,
    early_refill_candidate,
    fill_findings,
    record_findings,
    refill_outcome,
    screen_fill,
    unacknowledged_count,
)
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role
from app.services.worklist import DATA_REVIEW, FINAL_VERIFICATION, close_items, open_item
from app.services.worklist import TOPIC as WORKLIST_TOPIC

TOPIC = "fills"
BENCH_ROLES = (Role.TECHNICIAN, Role.PHARMACIST)
# The pharmacist's work list holds a fill while it waits in these states.
_PHARMACIST_STATES = {
    FillState.DATA_REVIEW: DATA_REVIEW,
    FillState.FINAL_VERIFICATION: FINAL_VERIFICATION,
}
_LEAVING_REVIEW_FORWARD = frozenset({FillState.BILLING_PENDING, FillState.FILL})


class FillHeldByAnother(RxBenchError):
    """Someone else is working on the fill; `facts["held_by"]` says who."""

    code = "fill-held-by-another"


class RefillNotAllowed(ValidationFailed):
    code = "refill-not-allowed"


VERIFICATION_REQUIRED_MESSAGE = (
    "Scan the stock bottles in the Verify panel: a fill goes to the pharmacist only after every "
    "bottle is verified."
)


class VerificationRequired(ValidationFailed):
    """Fill → final verification is taken only by VerificationService.complete, once the
    accepted bottles give the fill's quantity; `facts` say how much was accepted, when known."""

    code = "verification-required"


@dataclass(frozen=True)
class RefillOutcome:
    """The new fill, and the warnings (refill too soon) the pharmacist will see at review."""

    fill: FillRow
    warnings: tuple[FindingDTO, ...]


@dataclass(frozen=True, slots=True)
class LockedFill:
    """The workflow columns of a fill, read under its row lock in the current transaction."""

    id: int
    state: FillState
    resume_state: FillState | None
    hold_reason: str
    held_by_user_id: int | None
    version: int

    @classmethod
    def of(cls, fill: Fill) -> LockedFill:
        return cls(
            id=fill.id,
            state=FillState(fill.state),
            resume_state=FillState(fill.resume_state) if fill.resume_state else None,
            hold_reason=fill.hold_reason,
            held_by_user_id=fill.held_by_user_id,
            version=fill.version,
        )


_FILLS = cast(Table, Fill.__table__)
_TRANSITIONS = cast(Table, FillTransition.__table__)
# Statements built once and executed with parameters (compiled once, prepared by the server):
# they run on every take and every move.

# The fill as the queue shows it plus what a move checks, its row locked (not the joined ones).
_LOCK = (
    fill_rows_statement(Fill.id == bindparam("fill_id"))
    .add_columns(Fill.resume_state, Fill.held_by_user_id)
    .with_for_update(of=Fill)
)
_SEEN_VERSION = (_FILLS.c.id == bindparam("fill_id")) & (
    _FILLS.c.version == bindparam("seen_version")
)
_SET_HOLDER = (
    update(_FILLS)
    .where(_SEEN_VERSION)
    .values(held_by_user_id=bindparam("holder_id"), version=_FILLS.c.version + 1)
)
_MOVE = (
    update(_FILLS)
    .where(_SEEN_VERSION)
    .values(
        state=bindparam("to_state"),
        state_changed_at=bindparam("changed_at"),
        held_by_user_id=None,
        resume_state=bindparam("resume_to"),
        hold_reason=bindparam("why_held"),
        version=_FILLS.c.version + 1,
    )
)
_candidate = _FILLS.alias("candidate")
# The oldest unheld fill in the states asked, locked; fills another workstation is taking
# right now are skipped rather than waited for (SKIP LOCKED: PostgreSQL; SQLite has one writer).
_TAKE_NEXT = (
    update(_FILLS)
    .where(
        _FILLS.c.id
        == select(_candidate.c.id)
        .where(
            _candidate.c.state.in_(bindparam("states", expanding=True)),
            _candidate.c.held_by_user_id.is_(None),
        )
        .order_by(_candidate.c.created_at, _candidate.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    .values(held_by_user_id=bindparam("holder_id"), version=_FILLS.c.version + 1)
)
# PostgreSQL takes the fill and reads its row in one round trip (a data-modifying CTE);
# SQLite, in-process and without them, reads the row after the update.
_TAKE_NEXT_ROW = fill_rows_statement(
    fills=aliased(Fill, _TAKE_NEXT.returning(*_FILLS.c).cte("taken"))
)
_TAKE_NEXT_ID = _TAKE_NEXT.returning(_FILLS.c.id)
_HISTORY = insert(_TRANSITIONS)


def locked_fill(session: Session, fill_id: int) -> tuple[LockedFill, FillRow]:
    """The fill's workflow columns under its row lock, and its row as the window shows it.

    A move changes only the fill's own columns, so its new row is this one with them
    replaced: no second read.
    """
    values = session.connection().execute(_LOCK, {"fill_id": fill_id}).mappings().first()
    if values is None:
        raise NotFound(f"There is no fill with id {fill_id}.", fill_id=fill_id)
    row = fill_row(values)
    resume_state = values["resume_state"]
    fill = LockedFill(
        id=fill_id,
        state=row.state,
        resume_state=FillState(resume_state) if resume_state else None,
        hold_reason=row.hold_reason,
        held_by_user_id=values["held_by_user_id"],
        version=row.version,
    )
    return fill, row


def _write_fill(session: Session, fill: LockedFill, statement: Update, **values: object) -> None:
    """Run `statement` on the fill at the version read under its lock; refuse if it moved on.

    The lock makes a mismatch impossible; the version condition is the second guard (it is
    what the ORM's version counter did), and it bumps the version other workstations compare.
    """
    result = session.connection().execute(
        statement, {"fill_id": fill.id, "seen_version": fill.version, **values}
    )
    if result.rowcount != 1:
        raise StaleRecord(
            "Someone else changed this fill while you were working on it; nothing was saved. "
            "Look at the fill again and redo your change.",
            fill_id=fill.id,
        )
    # A copy of the fill the ORM holds (a fill created in this unit of work) is now out of date.
    loaded = session.identity_map.get(identity_key(Fill, fill.id))
    if loaded is not None:
        session.expire(loaded)


def refuse_if_held_by_another(session: Session, fill: LockedFill, actor: Actor) -> None:
    if fill.held_by_user_id is not None and fill.held_by_user_id != actor.user_id:
        holder = session.get(User, fill.held_by_user_id)
        name = holder.username if holder else "another user"
        raise FillHeldByAnother(
            f"{name} is working on this fill. Ask them to release it, or pick another fill.",
            fill_id=fill.id,
            held_by=name,
        )


def _note_holder(
    uow: UnitOfWork, fill_id: int, before: int | None, after: int | None, action: str
) -> None:
    """The audit event and change note of a take or release the caller has written."""
    uow.audit(
        action,
        entity_type="fills",
        entity_id=str(fill_id),
        before={"held_by": before},
        after={"held_by": after},
    )
    publish(uow.session, topic=TOPIC, entity_id=str(fill_id), workstation=uow.actor.workstation)


def _summary(row: FillRow) -> str:
    return f"Rx {row.rx_number}-{row.fill_number} · {row.patient_name} · {row.drug}"


def record_transition(
    uow: UnitOfWork,
    fill: Fill | LockedFill,
    *,
    source: FillState | None,
    target: FillState,
    reason: str,
) -> None:
    """The append-only history row (Core insert: the fill's audit event covers it)."""
    uow.session.connection().execute(
        _HISTORY,
        {
            "fill_id": fill.id,
            "from_state": source.value if source else None,
            "to_state": target.value,
            "reason": reason,
            "user_id": uow.actor.user_id,
            "username": uow.actor.username,
            "workstation": uow.actor.workstation,
            "occurred_at": utc_now(),
        },
    )


# Moves that end a fill whose stock may have been taken: the stock and the claim are reversed.
_PUTS_STOCK_BACK = {
    FillState.CANCELLED: "cancelled",
    FillState.RETURNED_TO_STOCK: "returned to stock",
}


def reverse_claim(uow: UnitOfWork, fill_id: int, *, reason: str) -> None:
    """Queue a B2 for each claim of the fill that may be paid, in this unit of work.

    No network I/O inside the transaction: the claims service sends the queued reversals once
    it has committed (WorkflowService does so after a cancel or a return to stock).
    """
    queue_fill_reversals(uow, fill_id, reason=reason)


def _reverse_dispensing(
    uow: UnitOfWork, fill: LockedFill, row: FillRow, *, target: FillState, step: str, reason: str
) -> None:
    """Put the fill's dispensed stock back, each dispensing by a reversing movement (never a
    deletion) with its controlled-substance log line reversed: an accepted bottle is voided with
    the move's reason, as at the bench; a dispensing without a bottle is reversed alone."""
    session = uow.session
    reversed_ids = select(StockMovement.reverses_id).where(
        StockMovement.fill_id == fill.id, StockMovement.reverses_id.is_not(None)
    )
    dispensed = session.scalars(
        select(StockMovement)
        .where(
            StockMovement.fill_id == fill.id,
            StockMovement.kind == "dispensed",
            StockMovement.id.not_in(reversed_ids),
        )
        .order_by(StockMovement.id)
    ).all()
    bottles = {
        bottle.movement_id: bottle
        for bottle in session.scalars(
            select(FillBottle)
            .where(FillBottle.fill_id == fill.id, FillBottle.voided_at.is_(None))
            .order_by(FillBottle.id)
            .with_for_update()
        )
    }
    log_note = f"Rx {row.rx_number}-{row.fill_number} {_PUTS_STOCK_BACK[target]}: {reason}"
    for movement in dispensed:
        bottle = bottles.get(movement.id)
        if bottle is not None:
            void_accepted_bottle(uow, bottle, reason=reason, log_note=log_note, step=step)
            continue
        reversal = reverse_dispensing(uow, movement, reason=reason, log_note=log_note)
        uow.audit(
            "stock.reversed",
            reversal.movement,
            fill_id=fill.id,
            lot_id=movement.lot_id,
            quantity=str(reversal.movement.quantity),
            reverses=movement.id,
            controlled_entry_id=(
                reversal.controlled_entry.id if reversal.controlled_entry is not None else None
            ),
        )
    if dispensed:
        # Stock went back on the shelf: it ends like every other change of stock.
        lots = {movement.lot_id for movement in dispensed}
        packages = session.scalars(select(StockLot.package_id).where(StockLot.id.in_(lots)))
        stock_changed(uow, set(packages), utc_now().date())


def _refuse_unless_verified(session: Session, fill: LockedFill, row: FillRow) -> None:
    """A fill reaches the pharmacist's final verification only when the accepted bottles give
    its whole quantity: each was judged against the prescription as it was scanned."""
    accepted = accepted_total(session, fill.id)
    if accepted != row.quantity:
        raise VerificationRequired(
            VERIFICATION_REQUIRED_MESSAGE,
            fill_id=fill.id,
            accepted=str(accepted),
            quantity=str(row.quantity),
        )


def move_fill(uow: UnitOfWork, fill: Fill, target: FillState, reason: str) -> FillRow:
    """Move a fill this unit of work created or loaded; see `move_locked_fill`.

    The fill is written with Core, so the ORM copy is expired and re-read when next used.
    """
    row = read_fill_row(uow.session, fill.id)  # flushes the fill first
    return move_locked_fill(uow, LockedFill.of(fill), row, target, reason)


def move_locked_fill(
    uow: UnitOfWork, fill: LockedFill, row: FillRow, target: FillState, reason: str
) -> FillRow:
    """Take one edge of the state machine with everything it implies; returns the new row.

    `row` is the fill's row as read under the lock, before the move.

    History, audit, work-list items, screening on entering data review, stock and claim
    reversal on cancelling or returning to stock, change notes: every move of a fill goes
    through here.
    """
    source = fill.state
    edge = check_transition(
        source, target, roles=uow.actor.roles, reason=reason, held_from=fill.resume_state
    )
    if source is FillState.FILL and target is FillState.FINAL_VERIFICATION:
        _refuse_unless_verified(uow.session, fill, row)
    if (
        source is FillState.DATA_REVIEW
        and target in _LEAVING_REVIEW_FORWARD
        and (open_findings := unacknowledged_count(uow.session, fill.id))
    ):
        raise UnacknowledgedFindings(
            f"This fill has {open_findings} clinical finding(s) not yet acknowledged. A "
            "pharmacist must acknowledge each before the fill leaves data review.",
            fill_id=fill.id,
            unacknowledged=open_findings,
        )
    reason = reason.strip()
    resume_to, why_held = fill.resume_state, fill.hold_reason
    if target is FillState.ON_HOLD:
        resume_to, why_held = source, reason
    elif source is FillState.ON_HOLD:
        resume_to, why_held = None, ""
    session = uow.session
    changed_at = utc_now()
    _write_fill(
        session,
        fill,
        _MOVE,
        to_state=target.value,
        changed_at=changed_at,
        resume_to=resume_to.value if resume_to else None,
        why_held=why_held,
    )
    row = replace(
        row,
        state=target,
        state_changed_at=changed_at,
        held_by=None,
        hold_reason=why_held,
        version=fill.version + 1,
    )
    record_transition(uow, fill, source=source, target=target, reason=reason)
    entity_id = str(fill.id)
    uow.audit(
        "fill.advanced",
        entity_type="fills",
        entity_id=entity_id,
        before={"state": source.value},
        after={"state": target.value},
        step=edge.action,
        reason=reason,
    )
    worklist_changed = False
    if source in _PHARMACIST_STATES:
        worklist_changed = bool(
            close_items(
                uow,
                entity_type="fills",
                entity_id=entity_id,
                kinds=frozenset({_PHARMACIST_STATES[source]}),
            )
        )
    if target in _PHARMACIST_STATES:
        open_item(
            uow,
            kind=_PHARMACIST_STATES[target],
            entity_type="fills",
            entity_id=entity_id,
            summary=_summary(row),
        )
        worklist_changed = True
    if target is FillState.DATA_REVIEW:
        loaded = session.get(Fill, fill.id)
        assert loaded is not None  # locked above
        screen_fill(uow, loaded)
    if target in _PUTS_STOCK_BACK:
        _reverse_dispensing(uow, fill, row, target=target, step=edge.action, reason=reason)
        reverse_claim(uow, fill.id, reason=f"Fill {_PUTS_STOCK_BACK[target]}: {reason}")
    changes = [Change(TOPIC, entity_id)]
    if worklist_changed:
        changes.append(Change(WORKLIST_TOPIC, None))
    publish_all(session, changes, workstation=uow.actor.workstation)  # one round trip
    return row


class QueuedClaimSender(Protocol):
    """Sends the claims a committed action queued (ClaimService)."""

    def send_queued(self, actor: Actor, fill_id: int) -> object: ...


class WorkflowService:
    """Moves fills; with `claims`, a cancel or a return to stock sends the reversals it queued
    once its transaction has committed."""

    def __init__(self, database: Database, *, claims: QueuedClaimSender | None = None) -> None:
        self._db = database
        self._claims = claims

    def take_fill(self, actor: Actor, fill_id: int) -> FillRow:
        """Claim the fill for the actor; refused if someone else holds it."""
        with self._db.unit_of_work(actor) as uow:
            require_role(actor, *BENCH_ROLES, action="take a fill")
            fill, row = locked_fill(uow.session, fill_id)
            refuse_if_held_by_another(uow.session, fill, actor)
            if not fill.state.is_active:
                raise ValidationFailed(
                    f"This fill is finished ({fill.state.label}); there is nothing to work on.",
                    fill_id=fill_id,
                    state=fill.state.value,
                )
            if fill.held_by_user_id is not None:
                return row
            _write_fill(uow.session, fill, _SET_HOLDER, holder_id=actor.user_id)
            _note_holder(uow, fill_id, None, actor.user_id, "fill.taken")
            return replace(row, held_by=actor.username, version=fill.version + 1)

    def take_next(self, actor: Actor, *, states: Collection[FillState]) -> FillRow | None:
        """Claim the oldest fill in `states` nobody holds, or None when none waits."""
        with self._db.unit_of_work(actor) as uow:
            require_role(actor, *BENCH_ROLES, action="take a fill")
            connection = uow.session.connection()
            wanted = {"states": [state.value for state in states], "holder_id": actor.user_id}
            if connection.dialect.name == "postgresql":
                taken = connection.execute(_TAKE_NEXT_ROW, wanted).mappings().first()
                row = fill_row(taken) if taken else None
            else:
                fill_id = connection.execute(_TAKE_NEXT_ID, wanted).scalar()
                row = read_fill_row(uow.session, fill_id) if fill_id else None
            if row is not None:
                _note_holder(uow, row.fill_id, None, actor.user_id, "fill.taken")
            return row

    def release_fill(self, actor: Actor, fill_id: int) -> FillRow:
        """Let go of a fill so someone else can take it (a pharmacist may release anyone's)."""
        with self._db.unit_of_work(actor) as uow:
            require_role(actor, *BENCH_ROLES, action="release a fill")
            fill, row = locked_fill(uow.session, fill_id)
            if not actor.has_any(Role.PHARMACIST):
                refuse_if_held_by_another(uow.session, fill, actor)
            if fill.held_by_user_id is None:
                return row
            _write_fill(uow.session, fill, _SET_HOLDER, holder_id=None)
            _note_holder(uow, fill_id, fill.held_by_user_id, None, "fill.released")
            return replace(row, held_by=None, version=fill.version + 1)

    def advance(
        self,
        actor: Actor,
        fill_id: int,
        *,
        to_state: FillState,
        expected_version: int,
        reason: str = "",
    ) -> FillRow:
        """Move the fill one step; refused if it changed since `expected_version` was read."""
        with self._db.unit_of_work(actor) as uow:
            fill, row = locked_fill(uow.session, fill_id)
            if fill.version != expected_version:
                raise StaleRecord(
                    "Someone else changed this fill since you opened it (it is now "
                    f"“{fill.state.label}”); nothing was saved. Look at it again "
                    "before moving it.",
                    fill_id=fill_id,
                    expected_version=expected_version,
                    current_version=fill.version,
                    state=fill.state.value,
                )
            refuse_if_held_by_another(uow.session, fill, actor)
            if fill.state is FillState.FILL and to_state is FillState.FINAL_VERIFICATION:
                # The Verify panel's step (VerificationService.complete): it checks that the
                # person completing holds the fill they scanned, besides the bottles' total.
                raise VerificationRequired(VERIFICATION_REQUIRED_MESSAGE, fill_id=fill_id)
            moved = move_locked_fill(uow, fill, row, to_state, reason)
        if to_state in _PUTS_STOCK_BACK and self._claims is not None:
            self._claims.send_queued(actor, fill_id)
        return moved

    def resume(self, actor: Actor, fill_id: int, *, expected_version: int) -> FillRow:
        """Take a fill off hold, back to the state it was held from."""
        with self._db.reading() as session:
            fill = session.get(Fill, fill_id)
            if fill is None:
                raise NotFound(f"There is no fill with id {fill_id}.", fill_id=fill_id)
            if fill.state != FillState.ON_HOLD.value or fill.resume_state is None:
                raise ValidationFailed("This fill is not on hold.", fill_id=fill_id)
            target = FillState(fill.resume_state)
        return self.advance(actor, fill_id, to_state=target, expected_version=expected_version)

    def return_to_stock(
        self, actor: Actor, fill_id: int, *, expected_version: int, reason: str
    ) -> FillRow:
        """A will-call fill nobody picked up goes back on the shelf (stock and claim reversed)."""
        return self.advance(
            actor,
            fill_id,
            to_state=FillState.RETURNED_TO_STOCK,
            expected_version=expected_version,
            reason=reason,
        )

    def will_call_aging(self, actor: Actor, *, older_than_days: int | None = None) -> list[FillRow]:
        """Ready fills not picked up for `older_than_days` (house setting by default)."""
        require_role(actor, *Role, action="see will-call aging")
        with self._db.reading() as session:
            days = older_than_days
            if days is None:
                days = read_house_settings(session).will_call_aging_days
            cutoff = utc_now() - timedelta(days=days)
            statement = fill_rows_statement(
                Fill.state == FillState.READY.value, Fill.state_changed_at < cutoff
            ).order_by(Fill.state_changed_at)
            return read_fill_rows(session, statement)

    def refill(self, actor: Actor, prescription_id: int) -> RefillOutcome:
        """Start the next fill of a prescription with refills left; warn if it is too soon.

        The refill rules are rx_rules.check_refill's: an expired prescription, a C-II or one
        without refills left is refused with PrescriptionRefused (its problems in the facts).
        """
        with self._db.unit_of_work(actor) as uow:
            require_role(actor, *BENCH_ROLES, action="refill a prescription")
            session = uow.session
            prescription = session.get(Prescription, prescription_id, with_for_update=True)
            if prescription is None:
                raise NotFound(
                    f"There is no prescription with id {prescription_id}.",
                    prescription_id=prescription_id,
                )
            self._refuse_refill(session, prescription)
            last_number = session.scalar(
                select(func.max(Fill.fill_number)).where(Fill.prescription_id == prescription.id)
            )
            fill_number = (last_number or 0) + 1
            today = utc_now().date()
            outcome, _ = refill_outcome(session, prescription, fill_number=fill_number, today=today)
            outcome.raise_if_refused()
            fill = Fill(
                prescription_id=prescription.id,
                fill_number=fill_number,
                state=FillState.INTAKE.value,
                quantity=prescription.quantity,
                days_supply=prescription.days_supply,
            )
            session.add(fill)
            session.flush()
            record_transition(uow, fill, source=None, target=FillState.INTAKE, reason="refill")
            uow.audit(
                "fill.refill_started",
                fill,
                rx_number=prescription.rx_number,
                fill_number=fill.fill_number,
            )
            early = early_refill_candidate(session, fill, today)
            if early is not None:
                record_findings(uow, fill, [early])
            publish(session, topic=TOPIC, entity_id=str(fill.id), workstation=actor.workstation)
            return RefillOutcome(
                fill=read_fill_row(session, fill.id),
                warnings=tuple(fill_findings(session, fill.id)),
            )

    def _refuse_refill(self, session: Session, prescription: Prescription) -> None:
        if prescription.status != "active":
            raise RefillNotAllowed(
                f"Rx {prescription.rx_number} is {prescription.status.replace('_', ' ')}; it "
                "cannot be refilled.",
                rx_number=prescription.rx_number,
                status=prescription.status,
            )
        states = session.scalars(
            select(Fill.state).where(Fill.prescription_id == prescription.id)
        ).all()
        if any(FillState(state).is_active for state in states):
            raise RefillNotAllowed(
                f"Rx {prescription.rx_number} already has a fill in progress.",
                rx_number=prescription.rx_number,
            )

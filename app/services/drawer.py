"""End of day at a register: what each tender should hold, what was counted, the difference.

A close covers this workstation's tenders and refunds since its previous close. Expected cash
is the opening float plus cash taken less cash given back; cards, checks and charges are what
was taken less what was refunded. The close and its lines are one audited, append-only record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.base import utc_now
from app.db.models import DrawerClose, DrawerCloseLine, SaleRefund, Tender
from app.domain.money import dollars
from app.errors import ValidationFailed
from app.services.changes import publish
from app.services.payment import APPROVER_ROLES, REGISTER_ROLES, TenderKind
from app.services.unit_of_work import Actor, Database, require_role

TOPIC = "drawer"


@dataclass(frozen=True, slots=True)
class DrawerLine:
    kind: TenderKind
    expected_cents: int
    counted_cents: int | None = None

    @property
    def difference_cents(self) -> int | None:
        return None if self.counted_cents is None else self.counted_cents - self.expected_cents


@dataclass(frozen=True, slots=True)
class DrawerCount:
    """The drawer of one workstation since `since` (None: since it was first used)."""

    workstation: str
    since: datetime | None
    until: datetime
    opening_float_cents: int
    lines: tuple[DrawerLine, ...]
    close_id: int | None = None

    def line(self, kind: TenderKind) -> DrawerLine:
        return next(line for line in self.lines if line.kind is kind)


def _last_close(session: Session, workstation: str) -> datetime | None:
    return session.scalar(
        select(func.max(DrawerClose.covers_to)).where(DrawerClose.workstation == workstation)
    )


def _expected(
    session: Session, workstation: str, since: datetime | None, until: datetime, float_cents: int
) -> tuple[DrawerLine, ...]:
    taken = select(Tender.kind, func.sum(Tender.amount_cents)).where(
        Tender.workstation == workstation, Tender.taken_at <= until
    )
    back = select(SaleRefund.tender_kind, func.sum(SaleRefund.amount_cents)).where(
        SaleRefund.workstation == workstation, SaleRefund.refunded_at <= until
    )
    if since is not None:
        taken = taken.where(Tender.taken_at > since)
        back = back.where(SaleRefund.refunded_at > since)
    totals = {kind: int(total) for kind, total in session.execute(taken.group_by(Tender.kind))}
    for kind, total in session.execute(back.group_by(SaleRefund.tender_kind)):
        totals[kind] = totals.get(kind, 0) - int(total)
    totals[TenderKind.CASH.value] = totals.get(TenderKind.CASH.value, 0) + float_cents
    return tuple(DrawerLine(kind, totals.get(kind.value, 0)) for kind in TenderKind)


class DrawerService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def expected(self, actor: Actor, *, opening_float_cents: int = 0) -> DrawerCount:
        """What this workstation's drawer should hold now, by tender, since its last close."""
        require_role(actor, *REGISTER_ROLES, *APPROVER_ROLES, action="count the drawer")
        with self._db.reading() as session:
            since, until = _last_close(session, actor.workstation), utc_now()
            return DrawerCount(
                actor.workstation,
                since,
                until,
                opening_float_cents,
                _expected(session, actor.workstation, since, until, opening_float_cents),
            )

    def close(
        self,
        actor: Actor,
        *,
        counted: Mapping[TenderKind, int],
        opening_float_cents: int = 0,
        note: str = "",
    ) -> DrawerCount:
        """Close the drawer with what was counted of each tender; differences are recorded
        (a difference needs a note saying what is known of it)."""
        require_role(actor, *REGISTER_ROLES, *APPROVER_ROLES, action="close the drawer")
        if opening_float_cents < 0 or any(amount < 0 for amount in counted.values()):
            raise ValidationFailed("Counted amounts cannot be negative.", counted=dict(counted))
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            since, until = _last_close(session, actor.workstation), utc_now()
            expected = _expected(session, actor.workstation, since, until, opening_float_cents)
            lines = tuple(
                DrawerLine(line.kind, line.expected_cents, counted.get(line.kind, 0))
                for line in expected
            )
            off = [line for line in lines if line.difference_cents]
            if off and not note.strip():
                raise ValidationFailed(
                    "The count differs from what the drawer should hold ("
                    + ", ".join(
                        f"{line.kind.label} {dollars(line.difference_cents or 0)}" for line in off
                    )
                    + "). Count again, or write a note saying what is known of it.",
                    differences={line.kind.value: line.difference_cents for line in off},
                )
            record = DrawerClose(
                workstation=actor.workstation,
                covers_from=since,
                covers_to=until,
                opening_float_cents=opening_float_cents,
                closed_by_user_id=actor.user_id,
                note=note.strip(),
            )
            session.add(record)
            session.flush()
            for line in lines:
                if not line.expected_cents and not line.counted_cents:
                    continue
                row = DrawerCloseLine(
                    close_id=record.id,
                    tender_kind=line.kind.value,
                    expected_cents=line.expected_cents,
                    counted_cents=line.counted_cents or 0,
                    difference_cents=line.difference_cents or 0,
                )
                session.add(row)
                uow.audit(
                    "drawer.counted",
                    row,
                    close_id=record.id,
                    tender=line.kind.value,
                    expected_cents=line.expected_cents,
                    counted_cents=line.counted_cents,
                )
            uow.audit(
                "drawer.closed",
                record,
                differences={line.kind.value: line.difference_cents for line in off},
                note=record.note,
            )
            publish(session, topic=TOPIC, entity_id=str(record.id), workstation=actor.workstation)
            return DrawerCount(
                actor.workstation, since, until, opening_float_cents, lines, close_id=record.id
            )

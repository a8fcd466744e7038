"""Claim rows written inside other actions' transactions: reversals queued by the workflow.

Cancelling a fill, returning it to stock, or dispensing another NDC than the one billed must
reverse the fill's paid claims, but no network I/O happens inside a database transaction: the
move writes a *queued* B2 row here, in its own unit of work, and the claims service sends it
once that transaction has committed (`ClaimService.send_queued`). Sending a B2 twice is safe
(the payer answers "duplicate of approved"), so a crash before it is sent loses nothing: the
queued row is sent the next time the fill's claims are looked at.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select

from app.db.base import utc_now
from app.db.models import Claim
from app.domain.ncpdp import BillingClaim, build_b2, parse_request, reversal_of
from app.services.changes import publish
from app.services.unit_of_work import UnitOfWork

TOPIC = "claims"


class ClaimStatus(StrEnum):
    """A claim row's status. B1: pending → paid, captured, duplicate (of paid), rejected,
    unknown outcome (no answer, not settled), reversed (a later B2 was approved). B2: pending →
    approved, rejected, unknown outcome."""

    PENDING = "pending"
    PAID = "paid"
    CAPTURED = "captured"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    UNKNOWN_OUTCOME = "unknown_outcome"
    REVERSED = "reversed"
    APPROVED = "approved"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    ClaimStatus.PENDING: "Sent, waiting for the answer",
    ClaimStatus.PAID: "Paid",
    ClaimStatus.CAPTURED: "Captured",
    ClaimStatus.DUPLICATE: "Paid (duplicate of a paid claim)",
    ClaimStatus.REJECTED: "Rejected",
    ClaimStatus.UNKNOWN_OUTCOME: "No answer: outcome unknown",
    ClaimStatus.REVERSED: "Reversed",
    ClaimStatus.APPROVED: "Reversal approved",
}

# A B1 in one of these may be holding the payer's money: it is reversed before billing again.
BILLED_STATUSES = frozenset(
    {ClaimStatus.PAID, ClaimStatus.CAPTURED, ClaimStatus.DUPLICATE, ClaimStatus.UNKNOWN_OUTCOME}
)


def billed_claim(claim: Claim) -> BillingClaim:
    """The B1 exactly as it was sent (its stored bytes), for building its reversal."""
    request = parse_request(claim.request)
    assert isinstance(request, BillingClaim), "a B1 row holds a B1 request"
    return request


def queue_reversal(uow: UnitOfWork, claim: Claim, *, reason: str, then_rebill: bool) -> Claim:
    """A pending B2 for `claim` in the caller's unit of work (sent after it commits).

    A B2 already waiting for the same claim is returned instead of a second one.
    """
    session = uow.session
    waiting = session.scalars(
        select(Claim).where(
            Claim.reverses_id == claim.id,
            Claim.status.in_([ClaimStatus.PENDING.value, ClaimStatus.UNKNOWN_OUTCOME.value]),
        )
    ).first()
    if waiting is not None:
        return waiting
    original = billed_claim(claim)
    reversal = Claim(
        fill_id=claim.fill_id,
        coverage_id=claim.coverage_id,
        payer_rank=claim.payer_rank,
        transaction_code="B2",
        status=ClaimStatus.PENDING.value,
        ndc11=claim.ndc11,
        quantity=claim.quantity,
        days_supply=claim.days_supply,
        date_of_service=claim.date_of_service,
        request=build_b2(reversal_of(original)),
        reverses_id=claim.id,
        reason=reason,
        then_rebill=then_rebill,
        submitted_at=utc_now(),
        submitted_by_user_id=uow.actor.user_id,
        workstation=uow.actor.workstation,
        reject_codes=[],
    )
    session.add(reversal)
    session.flush()
    uow.audit(
        "claim.reversal_queued",
        reversal,
        reverses=claim.id,
        fill_id=claim.fill_id,
        rx=original.rx_number,
        reason=reason,
        then_rebill=then_rebill,
    )
    publish(session, topic=TOPIC, entity_id=str(claim.fill_id), workstation=uow.actor.workstation)
    return reversal


def billed_claims(uow: UnitOfWork, fill_id: int) -> list[Claim]:
    """The fill's B1s that may hold the payer's money, primary first, locked."""
    return list(
        uow.session.scalars(
            select(Claim)
            .where(
                Claim.fill_id == fill_id,
                Claim.transaction_code == "B1",
                Claim.status.in_([status.value for status in BILLED_STATUSES]),
            )
            .order_by(Claim.payer_rank, Claim.id)
            .with_for_update()
        )
    )


def queue_fill_reversals(uow: UnitOfWork, fill_id: int, *, reason: str) -> list[Claim]:
    """Queue a B2 for every claim of the fill that may be paid (cancel, return to stock)."""
    return [
        queue_reversal(uow, claim, reason=reason, then_rebill=False)
        for claim in billed_claims(uow, fill_id)
    ]


def queue_rebill(uow: UnitOfWork, fill_id: int, *, ndc11: str, quantity: Decimal) -> list[Claim]:
    """The fill now dispenses `ndc11` × `quantity`: every billed claim naming something else is
    reversed, and the fill is billed again (primary) once the reversal is answered."""
    changed = [
        claim
        for claim in billed_claims(uow, fill_id)
        if claim.ndc11 != ndc11 or claim.quantity != quantity
    ]
    reason = f"The fill now dispenses NDC {ndc11}, quantity {quantity.normalize():f}"
    return [
        queue_reversal(uow, claim, reason=reason, then_rebill=claim.payer_rank == 1)
        for claim in changed
    ]

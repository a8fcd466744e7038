"""Billing fills to payers (NCPDP D.0 B1, B2, E1) and working the claims that need a person.

No network I/O ever runs inside a database transaction. Billing is three steps: the claim is
written `pending` with its request bytes and the fill moved to "waiting on switch" (commit);
the request goes to the switch through `SafeBiller` (a lost answer is resubmitted, never
billed twice); the answer is recorded and the fill moved on (commit). A crash between leaves a
`pending` claim: once older than `INTERRUPTED_AFTER` it is shown as an unknown outcome and
`settle` reverses it (B2) before the fill is billed again.

A rejection (or an unknown outcome) opens a "claim_rejection" work item saying what the reject
means and what to do; the resolutions are `rebill` (changed days supply or quantity, a prior
authorization number, a pharmacist's DUR/PPS override), `bill_secondary` (coordination of
benefits with the primary's payment) and `sell_as_cash` (the house usual-and-customary price).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.adapters.claims_transport import (
    ClaimOutcomeUnknown,
    ClaimsTransport,
    RecoveryPolicy,
    SafeBiller,
    SwitchTimeout,
    SwitchUnreachable,
)
from app.db.base import utc_now
from app.db.models import (
    Claim,
    Fill,
    InsuranceCoverage,
    Pharmacy,
    PharmacySetting,
    Prescription,
    StockLot,
    StockMovement,
    WorkItem,
)
from app.domain.fill_states import FillState
from app.domain.ncpdp import (
    BillingClaim,
    ClaimResponse,
    DurService,
    EligibilityRequest,
    Insurance,
    OtherPayment,
    Patient,
    Prescriber,
    RejectMeaning,
    RequestHeader,
    ResponseStatus,
    build_b1,
    build_e1,
    ensure_matches,
    parse_request,
    parse_response,
    reject_meaning,
)
from app.domain.ncpdp import (
    MalformedMessage as NcpdpMalformed,
)
from app.domain.roles import Role
from app.errors import NotFound, PermissionDenied, ValidationFailed
from app.services.changes import Change, publish_all
from app.services.claim_records import (
    TOPIC,
    ClaimStatus,
    billed_claim,
    queue_reversal,
)
from app.services.fills import FillRow, read_fill_row
from app.services.house_settings import BillingPoint, read_house_settings
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role
from app.services.workflow import (
    BENCH_ROLES,
    locked_fill,
    move_locked_fill,
    refuse_if_held_by_another,
)
from app.services.worklist import TOPIC as WORKLIST_TOPIC
from app.services.worklist import close_items, open_item

CLAIM_REJECTION = "claim_rejection"
PRICE_FORMULA = "price_formula"
# A claim still `pending` this long after it was written was interrupted (a crash between
# sending and recording): its outcome is unknown.
INTERRUPTED_AFTER = timedelta(minutes=5)
SOFTWARE_ID = "RXBENCH"
_CENT = Decimal(1)
# Fills billed through the workflow's billing steps; any other active state (but intake, hold
# and waiting) is billed without moving the fill (billing at data entry, rebill after an NDC
# change at the bench, a secondary claim).
_BILLING_STATES = frozenset({FillState.BILLING_PENDING, FillState.CLAIM_REJECTED})
_CLAIM_ONLY_STATES = frozenset(
    {
        FillState.DATA_ENTRY,
        FillState.DATA_REVIEW,
        FillState.FILL,
        FillState.FINAL_VERIFICATION,
        FillState.READY,
    }
)
_GENDER_CODES = {"M": "1", "F": "2"}


class NoCoverage(ValidationFailed):
    code = "no-coverage"


class ClaimInFlight(ValidationFailed):
    """A claim of the fill has no answer yet: it is settled before anything else is sent."""

    code = "claim-in-flight"


class PaidClaimOnFile(ValidationFailed):
    code = "paid-claim-on-file"


class CannotBill(ValidationFailed):
    code = "cannot-bill"


class PharmacistApprovalRequired(PermissionDenied):
    """A DUR/PPS override is the pharmacist's: signed in, or co-signing."""

    code = "pharmacist-approval-required"


@dataclass(frozen=True, slots=True)
class PriceFormula:
    """The house usual-and-customary (cash) price: acquisition cost marked up by a percent,
    plus a fee, never under a minimum. Cents are whole; the markup is rounded half up once."""

    markup_percent: Decimal = Decimal(25)
    fee_cents: int = 450
    minimum_cents: int = 999

    def price_cents(self, acquisition_cents: int) -> int:
        marked_up = (Decimal(acquisition_cents) * (100 + self.markup_percent) / 100).quantize(
            _CENT, rounding=ROUND_HALF_UP
        )
        return max(self.minimum_cents, int(marked_up) + self.fee_cents)


def read_price_formula(session: Session) -> PriceFormula:
    row = session.get(PharmacySetting, PRICE_FORMULA)
    if row is None:
        return PriceFormula()
    return read_formula_value(row.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimChanges:
    """What a rebill changes: the fill's days supply or quantity, a prior authorization number,
    a DUR/PPS override (reason, professional service, result: e.g. ER / M0 / 1G)."""

    days_supply: int | None = None
    quantity: Decimal | None = None
    prior_authorization_number: str = ""
    dur_override: DurService | None = None


@dataclass(frozen=True, slots=True)
class ClaimRow:
    """One claim as the resolution queue and the claim details show it."""

    claim_id: int
    fill_id: int
    rx_number: str
    fill_number: int
    patient_name: str
    drug: str
    fill_state: FillState
    plan_name: str
    payer_rank: int
    transaction_code: str
    status: ClaimStatus
    rejects: tuple[RejectMeaning, ...]
    message: str
    authorization_number: str
    ndc11: str
    quantity: Decimal
    days_supply: int
    date_of_service: date
    submitted_at: datetime
    answered_at: datetime | None
    ingredient_cost_paid_cents: int | None
    dispensing_fee_paid_cents: int | None
    patient_pay_cents: int | None
    other_payer_amount_cents: int | None
    total_paid_cents: int | None
    usual_and_customary_cents: int

    @property
    def next_step(self) -> str:
        if self.status is ClaimStatus.UNKNOWN_OUTCOME or self.status is ClaimStatus.PENDING:
            return (
                "The payer never answered: settle the claim (it is reversed) before billing again."
            )
        if self.status is ClaimStatus.REVERSED:
            return "Nothing is billed now: bill the claim again."
        if self.rejects:
            return self.rejects[0].next_step
        return self.message or "Read the plan's message."

    @property
    def plain_reason(self) -> str:
        if self.rejects:
            return "; ".join(f"{meaning.code} {meaning.title}" for meaning in self.rejects)
        return self.status.label


@dataclass(frozen=True, slots=True)
class CashSale:
    fill_id: int
    acquisition_cents: int
    price_cents: int


@dataclass(frozen=True, slots=True)
class Eligibility:
    coverage_id: int
    eligible: bool
    message: str
    rejects: tuple[RejectMeaning, ...]
    plan_name: str = ""
    patient_name: str = ""


class _Recording:
    """The transport, keeping the last answer's bytes as they came (stored with the claim)."""

    def __init__(self, transport: ClaimsTransport) -> None:
        self._transport = transport
        self.last_answer: bytes | None = None

    def send(self, request: bytes, timeout: float) -> bytes:
        self.last_answer = None
        self.last_answer = self._transport.send(request, timeout)
        return self.last_answer


@dataclass(frozen=True, slots=True)
class _Prepared:
    claim_id: int
    claim: BillingClaim


def _cents_of(quantity: Decimal, unit_cost_cents: int) -> int:
    return int((quantity * unit_cost_cents).quantize(_CENT, rounding=ROUND_HALF_UP))


def acquisition_cents(session: Session, fill: Fill, package_id: int) -> int:
    """Unit cost × quantity from the lot dispensed (or, before filling, the newest costed lot
    of the package); 0 when no lot has a cost (the payer then prices by its own list)."""
    dispensed = session.scalar(
        select(StockLot.unit_cost_cents)
        .join(StockMovement, StockMovement.lot_id == StockLot.id)
        .where(
            StockMovement.fill_id == fill.id,
            StockMovement.kind == "dispensed",
            StockLot.unit_cost_cents.is_not(None),
        )
        .order_by(StockMovement.id.desc())
        .limit(1)
    )
    unit_cost = dispensed
    if unit_cost is None:
        unit_cost = session.scalar(
            select(StockLot.unit_cost_cents)
            .where(StockLot.package_id == package_id, StockLot.unit_cost_cents.is_not(None))
            .order_by(StockLot.id.desc())
            .limit(1)
        )
    return 0 if unit_cost is None else _cents_of(fill.quantity, unit_cost)


def _coverage(session: Session, patient_id: int, rank: int) -> InsuranceCoverage:
    today = utc_now().date()
    coverage = session.scalars(
        select(InsuranceCoverage)
        .where(
            InsuranceCoverage.patient_id == patient_id,
            InsuranceCoverage.rank == rank,
            InsuranceCoverage.active.is_(True),
        )
        .order_by(InsuranceCoverage.id)
    ).first()
    if coverage is None or (coverage.terminated_on is not None and coverage.terminated_on < today):
        which = "primary" if rank == 1 else "secondary"
        raise NoCoverage(
            f"The patient has no active {which} insurance on file: add the card in the patient "
            "profile, or sell as cash.",
            patient_id=patient_id,
            rank=rank,
        )
    return coverage


def _insurance(coverage: InsuranceCoverage) -> Insurance:
    return Insurance(
        cardholder_id=coverage.cardholder_id,
        group_id=coverage.group_number,
        person_code=coverage.person_code,
        relationship_code=coverage.relationship_code,
    )


def _header(session: Session, coverage: InsuranceCoverage, on: date) -> RequestHeader:
    pharmacy = session.scalars(select(Pharmacy)).first()
    if pharmacy is None:
        raise CannotBill("The pharmacy profile is not set up: claims need the pharmacy's NPI.")
    return RequestHeader(
        bin=coverage.bin,
        pcn=coverage.pcn,
        service_provider_id=pharmacy.npi,
        date_of_service=on,
        software_id=SOFTWARE_ID,
    )


def _claim_row(session: Session, claim: Claim) -> ClaimRow:
    fill = read_fill_row(session, claim.fill_id)
    coverage = session.get(InsuranceCoverage, claim.coverage_id)
    status = ClaimStatus(claim.status)
    if status is ClaimStatus.PENDING and claim.submitted_at < utc_now() - INTERRUPTED_AFTER:
        status = ClaimStatus.UNKNOWN_OUTCOME
    return ClaimRow(
        claim_id=claim.id,
        fill_id=claim.fill_id,
        rx_number=fill.rx_number,
        fill_number=fill.fill_number,
        patient_name=fill.patient_name,
        drug=fill.drug,
        fill_state=fill.state,
        plan_name=(coverage.plan_name or coverage.bin) if coverage else "",
        payer_rank=claim.payer_rank,
        transaction_code=claim.transaction_code,
        status=status,
        rejects=tuple(reject_meaning(code) for code in claim.reject_codes),
        message=claim.message,
        authorization_number=claim.authorization_number,
        ndc11=claim.ndc11,
        quantity=claim.quantity,
        days_supply=claim.days_supply,
        date_of_service=claim.date_of_service,
        submitted_at=claim.submitted_at,
        answered_at=claim.answered_at,
        ingredient_cost_paid_cents=claim.ingredient_cost_paid_cents,
        dispensing_fee_paid_cents=claim.dispensing_fee_paid_cents,
        patient_pay_cents=claim.patient_pay_cents,
        other_payer_amount_cents=claim.other_payer_amount_cents,
        total_paid_cents=claim.total_paid_cents,
        usual_and_customary_cents=claim.usual_and_customary_cents,
    )


def _summary(row: FillRow, text: str) -> str:
    return f"Rx {row.rx_number}-{row.fill_number} · {row.patient_name} · {text}"


def _close_resolution_items(uow: UnitOfWork, fill_id: int) -> bool:
    """Take the fill's claim items off the list (its claim was resolved)."""
    claim_ids = uow.session.scalars(select(Claim.id).where(Claim.fill_id == fill_id)).all()
    closed = False
    for claim_id in claim_ids:
        closed |= bool(
            close_items(
                uow,
                entity_type="claims",
                entity_id=str(claim_id),
                kinds=frozenset({CLAIM_REJECTION}),
            )
        )
    return closed


def _open_resolution_item(uow: UnitOfWork, claim: Claim, row: FillRow, text: str) -> None:
    open_item(
        uow,
        kind=CLAIM_REJECTION,
        entity_type="claims",
        entity_id=str(claim.id),
        summary=_summary(row, text),
    )


def _move_to(uow: UnitOfWork, fill_id: int, target: FillState, reason: str) -> None:
    fill, row = locked_fill(uow.session, fill_id)
    move_locked_fill(uow, fill, row, target, reason)


def _publish(uow: UnitOfWork, fill_id: int) -> None:
    publish_all(
        uow.session,
        [Change(TOPIC, str(fill_id)), Change("fills", str(fill_id)), Change(WORKLIST_TOPIC, None)],
        workstation=uow.actor.workstation,
    )


class ClaimService:
    """Bills, reverses and checks eligibility through one claims transport.

    `transport` is training mode's in-process payer or a switch over TCP (bootstrap chooses
    by the workstation's settings); `timeout` bounds each wait for an answer.
    """

    def __init__(
        self,
        database: Database,
        transport: ClaimsTransport,
        *,
        timeout: float = 15.0,
        policy: RecoveryPolicy = RecoveryPolicy.RESUBMIT,
        today: Callable[[], date] = lambda: utc_now().date(),
    ) -> None:
        self._db = database
        self._transport = transport
        self._timeout = timeout
        self._policy = policy
        self._today = today

    # --- billing ----------------------------------------------------------------------------

    def bill(self, actor: Actor, fill_id: int) -> ClaimRow:
        """Bill the fill to the patient's primary plan and record the answer."""
        return self._bill(actor, fill_id, rank=1, changes=ClaimChanges(), approved_by=None)

    def rebill(
        self,
        actor: Actor,
        fill_id: int,
        changes: ClaimChanges,
        *,
        approved_by: Actor | None = None,
    ) -> ClaimRow:
        """Bill a rejected fill again with `changes`; a DUR/PPS override needs a pharmacist
        (signed in, or `approved_by` from AuthService.cosign)."""
        return self._bill(actor, fill_id, rank=1, changes=changes, approved_by=approved_by)

    def bill_secondary(self, actor: Actor, fill_id: int) -> ClaimRow:
        """Bill the secondary plan for what the primary left, its payment on the claim (COB)."""
        return self._bill(actor, fill_id, rank=2, changes=ClaimChanges(), approved_by=None)

    def bill_if_due(self, actor: Actor, fill_id: int) -> ClaimRow | None:
        """Bill the fill if the house billing point is the step it is at: data review (billing
        at data entry) or billing pending. A fill whose claim was already paid at data entry
        passes billing pending without a second claim. None when there is nothing to bill."""
        require_role(actor, *BENCH_ROLES, action="bill a claim")
        with self._db.reading() as session:
            point = read_house_settings(session).billing_point
            fill = session.get(Fill, fill_id)
            if fill is None:
                raise NotFound(f"There is no fill with id {fill_id}.", fill_id=fill_id)
            state = FillState(fill.state)
            statuses = set(
                session.scalars(
                    select(Claim.status).where(
                        Claim.fill_id == fill_id,
                        Claim.transaction_code == "B1",
                        Claim.payer_rank == 1,
                    )
                )
            )
        paid = bool(statuses & {ClaimStatus.PAID, ClaimStatus.DUPLICATE, ClaimStatus.CAPTURED})
        if state is FillState.DATA_REVIEW and point is BillingPoint.AT_DATA_ENTRY:
            # Once: a claim sent at this step and rejected waits on the resolution queue.
            if statuses - {ClaimStatus.REVERSED}:
                return None
            return self.bill(actor, fill_id)
        if state is FillState.BILLING_PENDING:
            if paid:
                with self._db.unit_of_work(actor) as uow:
                    _move_to(uow, fill_id, FillState.FILL, "Claim already paid at data entry")
                return None
            return self.bill(actor, fill_id)
        return None

    def _bill(
        self,
        actor: Actor,
        fill_id: int,
        *,
        rank: int,
        changes: ClaimChanges,
        approved_by: Actor | None,
    ) -> ClaimRow:
        require_role(actor, *BENCH_ROLES, action="bill a claim")
        if changes.dur_override is not None:
            approver = approved_by if approved_by is not None else actor
            if not approver.has_any(Role.PHARMACIST):
                raise PharmacistApprovalRequired(
                    "A DUR override is the pharmacist's decision: ask a pharmacist to co-sign.",
                    action="override a DUR rejection",
                    required=[Role.PHARMACIST.value],
                )
        prepared = self._prepare(actor, fill_id, rank, changes, approved_by)
        recording = _Recording(self._transport)
        biller = SafeBiller(recording, timeout=self._timeout, policy=self._policy)
        try:
            outcome = biller.bill(prepared.claim)
        except SwitchUnreachable as fault:
            return self._record_not_sent(actor, prepared.claim_id, fault.message)
        except ClaimOutcomeUnknown as fault:
            return self._record_unknown(actor, prepared.claim_id, fault.message)
        if outcome.response is None:
            return self._record_reversed_after_timeout(actor, prepared.claim_id)
        assert recording.last_answer is not None  # the response came from it
        return self._record_answer(
            actor, prepared.claim_id, outcome.response, recording.last_answer, outcome.timed_out
        )

    def _prepare(
        self,
        actor: Actor,
        fill_id: int,
        rank: int,
        changes: ClaimChanges,
        approved_by: Actor | None,
    ) -> _Prepared:
        """Step 1: check, price, write the pending claim and move the fill (one commit)."""
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            locked, row = locked_fill(session, fill_id)
            refuse_if_held_by_another(session, locked, actor)
            self._refuse_unsettled(session, fill_id, rank)
            other_payments: tuple[OtherPayment, ...] = ()
            if rank > 1:
                other_payments = self._primary_payment(session, fill_id)
            moves = rank == 1 and locked.state in _BILLING_STATES
            if not moves and locked.state not in _CLAIM_ONLY_STATES:
                raise CannotBill(
                    f"A fill in “{locked.state.label}” cannot be billed.",
                    fill_id=fill_id,
                    state=locked.state.value,
                )
            fill = session.get(Fill, fill_id)
            assert fill is not None  # locked above
            if changes.days_supply is not None or changes.quantity is not None:
                self._correct_fill(uow, fill, changes)
            prescription = session.get(Prescription, fill.prescription_id)
            assert prescription is not None
            coverage = _coverage(session, prescription.patient_id, rank)
            package = fill.dispensed_package or prescription.package
            acquisition = acquisition_cents(session, fill, package.id)
            formula = read_price_formula(session)
            fee = formula.fee_cents
            usual = formula.price_cents(acquisition)
            on = self._today()
            patient = prescription.patient
            claim = BillingClaim(
                header=_header(session, coverage, on),
                patient=Patient(
                    first_name=patient.first_name,
                    last_name=patient.last_name,
                    date_of_birth=patient.date_of_birth,
                    gender_code=_GENDER_CODES.get(patient.sex, "0"),
                    zip_code=patient.postal_code[:5],
                ),
                insurance=_insurance(coverage),
                prescriber=Prescriber(
                    npi=prescription.prescriber.npi,
                    last_name=prescription.prescriber.last_name,
                ),
                rx_number=prescription.rx_number,
                fill_number=fill.fill_number,
                ndc11=package.ndc11,
                quantity=fill.quantity,
                unit_of_measure=package.billing_unit,
                days_supply=fill.days_supply,
                daw_code=str(prescription.daw_code),
                date_written=prescription.written_date,
                refills_authorized=prescription.refills_authorized,
                ingredient_cost_cents=acquisition,
                dispensing_fee_cents=fee,
                usual_and_customary_cents=usual,
                gross_amount_due_cents=acquisition + fee,
                other_coverage_code="2" if other_payments else "",
                prior_authorization_number=changes.prior_authorization_number.strip(),
                dur_services=(changes.dur_override,) if changes.dur_override else (),
                other_payments=other_payments,
            )
            try:
                request = build_b1(claim)
            except NcpdpMalformed as error:
                raise CannotBill(
                    f"The claim cannot be built: {error.message}", fill_id=fill_id
                ) from None
            if moves:
                if locked.state is FillState.CLAIM_REJECTED:
                    _move_to(uow, fill_id, FillState.BILLING_PENDING, "Bill again")
                _move_to(uow, fill_id, FillState.WAITING_ON_SWITCH, "Claim sent to the payer")
            _close_resolution_items(uow, fill_id)
            record = Claim(
                fill_id=fill_id,
                coverage_id=coverage.id,
                payer_rank=rank,
                transaction_code="B1",
                status=ClaimStatus.PENDING.value,
                ndc11=package.ndc11,
                quantity=fill.quantity,
                days_supply=fill.days_supply,
                date_of_service=on,
                request=request,
                ingredient_cost_submitted_cents=acquisition,
                usual_and_customary_cents=usual,
                reject_codes=[],
                submitted_at=utc_now(),
                submitted_by_user_id=actor.user_id,
                workstation=actor.workstation,
            )
            session.add(record)
            session.flush()
            uow.audit(
                "claim.submitted",
                record,
                fill_id=fill_id,
                rx=f"{row.rx_number}-{row.fill_number}",
                rank=rank,
                bin=coverage.bin,
                ndc=package.ndc11,
                quantity=str(fill.quantity),
                days_supply=fill.days_supply,
                ingredient_cost_cents=acquisition,
                usual_and_customary_cents=usual,
                prior_authorization=bool(changes.prior_authorization_number.strip()),
                dur_override=(
                    None
                    if changes.dur_override is None
                    else {
                        "reason": changes.dur_override.reason_for_service,
                        "service": changes.dur_override.professional_service,
                        "result": changes.dur_override.result_of_service,
                    }
                ),
                approved_by=approved_by.username if approved_by is not None else None,
            )
            _publish(uow, fill_id)
            return _Prepared(record.id, claim)

    def _refuse_unsettled(self, session: Session, fill_id: int, rank: int) -> None:
        claims = session.scalars(
            select(Claim).where(Claim.fill_id == fill_id).order_by(Claim.id)
        ).all()
        for claim in claims:
            status = ClaimStatus(claim.status)
            if status in (ClaimStatus.PENDING, ClaimStatus.UNKNOWN_OUTCOME):
                raise ClaimInFlight(
                    "A claim for this fill has no answer yet: settle it (it is reversed) before "
                    "billing again.",
                    fill_id=fill_id,
                    claim_id=claim.id,
                )
            if (
                claim.transaction_code == "B1"
                and claim.payer_rank == rank
                and status in (ClaimStatus.PAID, ClaimStatus.DUPLICATE, ClaimStatus.CAPTURED)
            ):
                raise PaidClaimOnFile(
                    "This plan has already paid this fill: reverse the paid claim before billing "
                    "it again.",
                    fill_id=fill_id,
                    claim_id=claim.id,
                )

    def _correct_fill(self, uow: UnitOfWork, fill: Fill, changes: ClaimChanges) -> None:
        before = {"days_supply": fill.days_supply, "quantity": str(fill.quantity)}
        if changes.days_supply is not None:
            if changes.days_supply <= 0:
                raise ValidationFailed("The days supply must be at least 1.")
            fill.days_supply = changes.days_supply
        if changes.quantity is not None:
            if changes.quantity <= 0:
                raise ValidationFailed("The quantity must be above 0.")
            fill.quantity = changes.quantity
        uow.session.flush()
        uow.audit(
            "fill.claim_corrected",
            fill,
            before=before,
            after={"days_supply": fill.days_supply, "quantity": str(fill.quantity)},
        )

    def _primary_payment(self, session: Session, fill_id: int) -> tuple[OtherPayment, ...]:
        primary = session.scalars(
            select(Claim)
            .where(
                Claim.fill_id == fill_id,
                Claim.transaction_code == "B1",
                Claim.payer_rank == 1,
                Claim.status.in_([ClaimStatus.PAID.value, ClaimStatus.DUPLICATE.value]),
            )
            .order_by(Claim.id.desc())
        ).first()
        if primary is None:
            raise CannotBill(
                "Bill the primary plan first: a secondary claim carries the primary's payment.",
                fill_id=fill_id,
            )
        billed = billed_claim(primary)
        return (
            OtherPayment(
                payer_bin=billed.header.bin,
                payer_date=primary.date_of_service,
                amount_paid_cents=primary.total_paid_cents or 0,
            ),
        )

    # --- recording answers --------------------------------------------------------------------

    def _record_answer(
        self,
        actor: Actor,
        claim_id: int,
        response: ClaimResponse,
        answer: bytes,
        timed_out: bool,
    ) -> ClaimRow:
        """Step 3: store the payer's answer and move the fill on."""
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            claim = self._locked_claim(session, claim_id)
            row = read_fill_row(session, claim.fill_id)
            status = _b1_status(response.status)
            claim.status = status.value
            claim.response = answer
            claim.answered_at = utc_now()
            claim.authorization_number = response.authorization_number
            claim.reject_codes = list(response.reject_codes)
            claim.message = "; ".join(
                part for part in (response.message, *response.additional_messages) if part
            )
            amounts = response.amounts
            if amounts is not None:
                claim.ingredient_cost_paid_cents = amounts.ingredient_cost_paid_cents
                claim.dispensing_fee_paid_cents = amounts.dispensing_fee_paid_cents
                claim.patient_pay_cents = amounts.patient_pay_cents
                claim.copay_cents = amounts.copay_cents
                claim.other_payer_amount_cents = amounts.other_payer_amount_recognized_cents
                claim.total_paid_cents = amounts.total_amount_paid_cents
            session.flush()
            waiting = row.state is FillState.WAITING_ON_SWITCH and claim.payer_rank == 1
            if status is ClaimStatus.REJECTED:
                meanings = [reject_meaning(code) for code in response.reject_codes]
                text = "; ".join(f"{m.code} {m.title}" for m in meanings) or "Rejected"
                if waiting:
                    _move_to(
                        uow, claim.fill_id, FillState.CLAIM_REJECTED, f"Claim rejected: {text}"
                    )
                next_step = meanings[0].next_step if meanings else "Read the plan's message."
                _open_resolution_item(uow, claim, row, f"{text}. {next_step}")
            elif waiting:
                _move_to(
                    uow,
                    claim.fill_id,
                    FillState.FILL,
                    f"Claim paid (authorization {response.authorization_number})",
                )
            uow.audit(
                "claim.answered",
                claim,
                status=status.value,
                authorization=response.authorization_number,
                reject_codes=list(response.reject_codes),
                total_paid_cents=claim.total_paid_cents,
                patient_pay_cents=claim.patient_pay_cents,
                resubmitted_after_timeout=timed_out,
            )
            _publish(uow, claim.fill_id)
            return _claim_row(session, claim)

    def _record_not_sent(self, actor: Actor, claim_id: int, message: str) -> ClaimRow:
        """Nothing reached the switch: the claim is closed unbilled and the fill can be billed
        again (it leaves the waiting state as a rejection to resolve)."""
        return self._record_unbilled(
            actor, claim_id, ClaimStatus.REJECTED, message, "Not sent: bill again later."
        )

    def _record_reversed_after_timeout(self, actor: Actor, claim_id: int) -> ClaimRow:
        return self._record_unbilled(
            actor,
            claim_id,
            ClaimStatus.REVERSED,
            "The payer did not answer; the claim was reversed so nothing is billed.",
            "No answer, reversed: bill again.",
        )

    def _record_unbilled(
        self, actor: Actor, claim_id: int, status: ClaimStatus, message: str, item: str
    ) -> ClaimRow:
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            claim = self._locked_claim(session, claim_id)
            row = read_fill_row(session, claim.fill_id)
            claim.status = status.value
            claim.message = message
            claim.answered_at = utc_now()
            session.flush()
            if row.state is FillState.WAITING_ON_SWITCH and claim.payer_rank == 1:
                _move_to(uow, claim.fill_id, FillState.CLAIM_REJECTED, message)
            _open_resolution_item(uow, claim, row, item)
            uow.audit("claim.not_billed", claim, status=status.value, message=message)
            _publish(uow, claim.fill_id)
            return _claim_row(session, claim)

    def _record_unknown(self, actor: Actor, claim_id: int, message: str) -> ClaimRow:
        """No answer to the B1 nor to settling it: the fill stays visibly waiting on the switch
        and the claim goes on the resolution list to be settled."""
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            claim = self._locked_claim(session, claim_id)
            row = read_fill_row(session, claim.fill_id)
            claim.status = ClaimStatus.UNKNOWN_OUTCOME.value
            claim.message = message
            session.flush()
            _open_resolution_item(uow, claim, row, "No answer from the payer: settle the claim.")
            uow.audit("claim.outcome_unknown", claim, message=message)
            _publish(uow, claim.fill_id)
            return _claim_row(session, claim)

    @staticmethod
    def _locked_claim(session: Session, claim_id: int) -> Claim:
        claim = session.get(Claim, claim_id, with_for_update=True)
        if claim is None:
            raise NotFound(f"There is no claim with id {claim_id}.", claim_id=claim_id)
        return claim

    # --- reversals ------------------------------------------------------------------------------

    def reverse(self, actor: Actor, claim_id: int, *, reason: str) -> ClaimRow:
        """Reverse a paid claim (B2); returns the reversed claim as it stands after the answer."""
        require_role(actor, *BENCH_ROLES, action="reverse a claim")
        if not reason.strip():
            raise ValidationFailed("Say why the claim is reversed.")
        with self._db.unit_of_work(actor) as uow:
            claim = self._locked_claim(uow.session, claim_id)
            if claim.transaction_code != "B1" or ClaimStatus(claim.status) not in (
                ClaimStatus.PAID,
                ClaimStatus.DUPLICATE,
                ClaimStatus.CAPTURED,
            ):
                raise ValidationFailed(
                    "Only a paid claim can be reversed.", claim_id=claim_id, status=claim.status
                )
            fill_id = claim.fill_id
            queue_reversal(uow, claim, reason=reason.strip(), then_rebill=False)
        self.send_queued(actor, fill_id)
        return self.claim(actor, claim_id)

    def settle(self, actor: Actor, claim_id: int) -> ClaimRow:
        """Settle a claim whose outcome is unknown (no answer, or interrupted before its answer
        was recorded) by reversing it: afterwards nothing is billed, and the fill (if it was
        waiting on the switch) becomes a rejection to bill again."""
        require_role(actor, *BENCH_ROLES, action="settle a claim")
        with self._db.unit_of_work(actor) as uow:
            claim = self._locked_claim(uow.session, claim_id)
            status = ClaimStatus(claim.status)
            interrupted = (
                status is ClaimStatus.PENDING and claim.submitted_at < utc_now() - INTERRUPTED_AFTER
            )
            if claim.transaction_code != "B1" or not (
                status is ClaimStatus.UNKNOWN_OUTCOME or interrupted
            ):
                raise ValidationFailed(
                    "This claim's outcome is known: there is nothing to settle.",
                    claim_id=claim_id,
                    status=claim.status,
                )
            if interrupted:
                claim.status = ClaimStatus.UNKNOWN_OUTCOME.value
                claim.message = "Interrupted before its answer was recorded."
                uow.session.flush()
                uow.audit("claim.outcome_unknown", claim, message=claim.message)
            fill_id = claim.fill_id
            queue_reversal(uow, claim, reason="Settle a claim without an answer", then_rebill=False)
        self.send_queued(actor, fill_id)
        return self.claim(actor, claim_id)

    def send_queued(self, actor: Actor, fill_id: int) -> list[ClaimRow]:
        """Send the fill's queued reversals (B2) and record each answer; a reversal queued to
        rebill (the dispensed NDC changed) bills the fill again once approved.

        Never raises for the switch: an unanswered reversal stays on the resolution list and is
        sent again next time (a B2 sent twice is answered "duplicate of approved")."""
        with self._db.reading() as session:
            queued = session.execute(
                select(Claim.id, Claim.request)
                .where(
                    Claim.fill_id == fill_id,
                    Claim.transaction_code == "B2",
                    Claim.status.in_(
                        [ClaimStatus.PENDING.value, ClaimStatus.UNKNOWN_OUTCOME.value]
                    ),
                )
                .order_by(Claim.id)
            ).all()
        answered = []
        rebill = False
        for reversal_id, request in queued:
            try:
                answer = self._transport.send(request, self._timeout)
                response = parse_response(answer)
                ensure_matches(parse_request(request), response)
            except (SwitchTimeout, SwitchUnreachable, NcpdpMalformed) as fault:
                answered.append(self._record_reversal_unanswered(actor, reversal_id, fault.message))
                continue
            row, then_rebill = self._record_reversal(actor, reversal_id, response, answer)
            answered.append(row)
            rebill |= then_rebill
        if rebill:
            answered.append(self.bill(actor, fill_id))
        return answered

    def _record_reversal(
        self, actor: Actor, reversal_id: int, response: ClaimResponse, answer: bytes
    ) -> tuple[ClaimRow, bool]:
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            reversal = self._locked_claim(session, reversal_id)
            assert reversal.reverses_id is not None  # a B2 row names its B1 (CHECK)
            original = self._locked_claim(session, reversal.reverses_id)
            row = read_fill_row(session, reversal.fill_id)
            nothing_to_reverse = bool(set(response.reject_codes) & {"84", "87"})
            accepted = response.status in (
                ResponseStatus.APPROVED,
                ResponseStatus.DUPLICATE_OF_APPROVED,
            ) or (response.status is ResponseStatus.REJECTED and nothing_to_reverse)
            reversal.status = (ClaimStatus.APPROVED if accepted else ClaimStatus.REJECTED).value
            reversal.response = answer
            reversal.answered_at = utc_now()
            reversal.reject_codes = list(response.reject_codes)
            reversal.authorization_number = response.authorization_number
            reversal.message = "; ".join(
                part for part in (response.message, *response.additional_messages) if part
            )
            before = original.status
            if accepted:
                original.status = ClaimStatus.REVERSED.value
            session.flush()
            uow.audit(
                "claim.reversal_answered",
                reversal,
                status=reversal.status,
                reject_codes=list(response.reject_codes),
            )
            if accepted:
                uow.audit(
                    "claim.reversed",
                    original,
                    before={"status": before},
                    after={"status": original.status},
                    reason=reversal.reason,
                )
                close_items(
                    uow,
                    entity_type="claims",
                    entity_id=str(reversal.id),
                    kinds=frozenset({CLAIM_REJECTION}),
                )
                if before == ClaimStatus.UNKNOWN_OUTCOME.value:
                    close_items(
                        uow,
                        entity_type="claims",
                        entity_id=str(original.id),
                        kinds=frozenset({CLAIM_REJECTION}),
                    )
                    if row.state is FillState.WAITING_ON_SWITCH and original.payer_rank == 1:
                        _move_to(
                            uow,
                            original.fill_id,
                            FillState.CLAIM_REJECTED,
                            "Unanswered claim reversed: bill it again",
                        )
                    _open_resolution_item(
                        uow, original, row, "Unanswered claim reversed: bill it again."
                    )
            else:
                meanings = [reject_meaning(code) for code in response.reject_codes]
                text = "; ".join(f"{m.code} {m.title}" for m in meanings) or "Reversal refused"
                _open_resolution_item(uow, reversal, row, f"Reversal refused: {text}")
            _publish(uow, reversal.fill_id)
            return _claim_row(session, reversal), accepted and reversal.then_rebill

    def _record_reversal_unanswered(self, actor: Actor, reversal_id: int, message: str) -> ClaimRow:
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            reversal = self._locked_claim(session, reversal_id)
            row = read_fill_row(session, reversal.fill_id)
            first_time = reversal.status != ClaimStatus.UNKNOWN_OUTCOME.value
            reversal.status = ClaimStatus.UNKNOWN_OUTCOME.value
            reversal.message = message
            session.flush()
            uow.audit("claim.reversal_unanswered", reversal, message=message)
            if first_time:
                _open_resolution_item(
                    uow, reversal, row, "The reversal got no answer: send it again."
                )
            _publish(uow, reversal.fill_id)
            return _claim_row(session, reversal)

    # --- cash ---------------------------------------------------------------------------------

    def price_formula(self) -> PriceFormula:
        with self._db.reading() as session:
            return read_price_formula(session)

    def set_price_formula(self, actor: Actor, formula: PriceFormula) -> PriceFormula:
        """The house cash price (pharmacist or administrator)."""
        require_role(actor, Role.PHARMACIST, Role.ADMINISTRATOR, action="change the cash price")
        try:
            markup = Decimal(formula.markup_percent)
        except (InvalidOperation, TypeError):
            raise ValidationFailed("The markup is a percent, such as 25.") from None
        if not Decimal(0) <= markup <= Decimal(1000):
            raise ValidationFailed("The markup is between 0 and 1000 percent.")
        if formula.fee_cents < 0 or formula.minimum_cents < 0:
            raise ValidationFailed("The fee and the minimum price cannot be negative.")
        value = {
            "markup_percent": str(markup),
            "fee_cents": formula.fee_cents,
            "minimum_cents": formula.minimum_cents,
        }
        with self._db.unit_of_work(actor) as uow:
            row = uow.session.get(PharmacySetting, PRICE_FORMULA)
            before = None if row is None else row.value
            if row is None:
                row = PharmacySetting(key=PRICE_FORMULA, value=value)
                uow.session.add(row)
            else:
                row.value = value
            uow.session.flush()
            uow.audit("settings.changed", row, key=PRICE_FORMULA, before=before, after=value)
        return read_formula_value(value)

    def cash_price(self, actor: Actor, fill_id: int) -> CashSale:
        """What the fill costs the patient without insurance (usual and customary)."""
        require_role(actor, *BENCH_ROLES, action="see a cash price")
        with self._db.reading() as session:
            fill = session.get(Fill, fill_id)
            if fill is None:
                raise NotFound(f"There is no fill with id {fill_id}.", fill_id=fill_id)
            package_id = fill.dispensed_package_id or fill.prescription.package_id
            acquisition = acquisition_cents(session, fill, package_id)
            price = read_price_formula(session).price_cents(acquisition)
            return CashSale(fill_id, acquisition, price)

    def sell_as_cash(self, actor: Actor, fill_id: int) -> CashSale:
        """Stop billing the fill: it proceeds to filling at the house cash price; any paid claim
        must be reversed first."""
        require_role(actor, *BENCH_ROLES, action="switch a fill to cash")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            locked, row = locked_fill(session, fill_id)
            refuse_if_held_by_another(session, locked, actor)
            if locked.state not in _BILLING_STATES:
                raise CannotBill(
                    f"A fill in “{locked.state.label}” is not waiting to be billed.",
                    fill_id=fill_id,
                )
            self._refuse_unsettled(session, fill_id, 1)
            fill = session.get(Fill, fill_id)
            assert fill is not None
            package_id = fill.dispensed_package_id or fill.prescription.package_id
            acquisition = acquisition_cents(session, fill, package_id)
            price = read_price_formula(session).price_cents(acquisition)
            sale = CashSale(fill_id, acquisition, price)
            if locked.state is FillState.CLAIM_REJECTED:
                _move_to(uow, fill_id, FillState.BILLING_PENDING, "Switch to cash")
            _move_to(uow, fill_id, FillState.FILL, f"Cash: {_dollars(price)} (usual and customary)")
            _close_resolution_items(uow, fill_id)
            uow.audit(
                "fill.cash_price",
                entity_type="fills",
                entity_id=str(fill_id),
                rx=f"{row.rx_number}-{row.fill_number}",
                acquisition_cents=acquisition,
                price_cents=price,
            )
            _publish(uow, fill_id)
            return sale

    # --- eligibility and reading --------------------------------------------------------------

    def check_primary_eligibility(self, actor: Actor, fill_id: int) -> Eligibility:
        """Ask the primary plan of the fill's patient whether it covers them today (E1);
        NoCoverage when the patient has no active primary insurance on file."""
        require_role(actor, *BENCH_ROLES, action="check eligibility")
        with self._db.reading() as session:
            fill = session.get(Fill, fill_id)
            if fill is None:
                raise NotFound(f"There is no fill with id {fill_id}.", fill_id=fill_id)
            coverage_id = _coverage(session, fill.prescription.patient_id, 1).id
        return self.check_eligibility(actor, coverage_id)

    def check_eligibility(self, actor: Actor, coverage_id: int) -> Eligibility:
        """Ask the plan whether the card covers the patient today (E1); audited."""
        require_role(actor, *BENCH_ROLES, action="check eligibility")
        with self._db.reading() as session:
            coverage = session.get(InsuranceCoverage, coverage_id)
            if coverage is None:
                raise NotFound(f"There is no coverage with id {coverage_id}.")
            patient = coverage.patient
            plan_name = coverage.plan_name or f"BIN {coverage.bin}"
            patient_name = patient.display_name
            request = EligibilityRequest(
                header=_header(session, coverage, self._today()),
                patient=Patient(
                    first_name=patient.first_name,
                    last_name=patient.last_name,
                    date_of_birth=patient.date_of_birth,
                    gender_code=_GENDER_CODES.get(patient.sex, "0"),
                    zip_code=patient.postal_code[:5],
                ),
                insurance=_insurance(coverage),
            )
        response = parse_response(self._transport.send(build_e1(request), self._timeout))
        ensure_matches(request, response)
        result = Eligibility(
            coverage_id=coverage_id,
            eligible=response.status is ResponseStatus.APPROVED,
            message=response.message or "; ".join(response.additional_messages),
            rejects=response.rejects,
            plan_name=plan_name,
            patient_name=patient_name,
        )
        with self._db.unit_of_work(actor) as uow:
            uow.audit(
                "coverage.eligibility_checked",
                entity_type="insurance_coverages",
                entity_id=str(coverage_id),
                eligible=result.eligible,
                reject_codes=list(response.reject_codes),
            )
        return result

    def claim(self, actor: Actor, claim_id: int) -> ClaimRow:
        require_role(actor, *Role, action="see a claim")
        with self._db.reading() as session:
            claim = session.get(Claim, claim_id)
            if claim is None:
                raise NotFound(f"There is no claim with id {claim_id}.", claim_id=claim_id)
            return _claim_row(session, claim)

    def claims_for_fill(self, actor: Actor, fill_id: int) -> list[ClaimRow]:
        require_role(actor, *Role, action="see a fill's claims")
        with self._db.reading() as session:
            claims = session.scalars(
                select(Claim).where(Claim.fill_id == fill_id).order_by(Claim.id)
            ).all()
            return [_claim_row(session, claim) for claim in claims]

    def needing_attention(self, actor: Actor) -> list[ClaimRow]:
        """The resolution queue: claims with an open item (rejected, unanswered, reversed to
        bill again) and claims interrupted before their answer was recorded, oldest first."""
        require_role(actor, *Role, action="see the claims to resolve")
        with self._db.reading() as session:
            open_ids = {
                int(entity_id)
                for entity_id in session.scalars(
                    select(WorkItem.entity_id).where(
                        WorkItem.kind == CLAIM_REJECTION,
                        WorkItem.entity_type == "claims",
                        WorkItem.closed_at.is_(None),
                    )
                )
            }
            interrupted = set(
                session.scalars(
                    select(Claim.id).where(
                        Claim.status == ClaimStatus.PENDING.value,
                        Claim.submitted_at < utc_now() - INTERRUPTED_AFTER,
                    )
                )
            )
            ids: Sequence[int] = sorted(open_ids | interrupted)
            if not ids:
                return []
            claims = session.scalars(select(Claim).where(Claim.id.in_(ids)).order_by(Claim.id))
            return [_claim_row(session, claim) for claim in claims]


def read_formula_value(value: dict[str, object]) -> PriceFormula:
    return PriceFormula(
        markup_percent=Decimal(str(value["markup_percent"])),
        fee_cents=int(str(value["fee_cents"])),
        minimum_cents=int(str(value["minimum_cents"])),
    )


def _dollars(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def _b1_status(status: ResponseStatus) -> ClaimStatus:
    return {
        ResponseStatus.PAID: ClaimStatus.PAID,
        ResponseStatus.DUPLICATE_OF_PAID: ClaimStatus.DUPLICATE,
        ResponseStatus.CAPTURED: ClaimStatus.CAPTURED,
        ResponseStatus.REJECTED: ClaimStatus.REJECTED,
    }[status]

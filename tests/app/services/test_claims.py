"""Claims in the workflow: billing, rejections and their resolutions, lost answers, interrupted
claims, reversals on cancel, return to stock and NDC change, secondary billing, cash prices —
through the real ClaimService and the training payer, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.adapters.claims_transport import RecoveryPolicy, SwitchTimeout
from app.adapters.training_payer import Adjudicator, PlanRules, TrainingPayerServer
from app.bootstrap import InvalidClaimsSwitch, Services, claims_transport
from app.db.base import utc_now
from app.db.models import (
    AuditEvent,
    Claim,
    DrugPackage,
    Fill,
    InsuranceCoverage,
    StockLot,
    WorkItem,
)
from app.domain.fill_states import FillState
from app.domain.ncpdp import DurService
from app.domain.workflow import TransitionNotAllowed
from app.errors import ValidationFailed
from app.services.claim_records import ClaimStatus
from app.services.claims import (
    CLAIM_REJECTION,
    ClaimChanges,
    ClaimInFlight,
    ClaimService,
    NoCoverage,
    PaidClaimOnFile,
    PharmacistApprovalRequired,
    PriceFormula,
)
from app.services.unit_of_work import Actor
from app.services.verification import rebill_for_dispensed_package
from app.services.workflow import WorkflowService
from tests.app.services.pharmacy_data import (
    SEEDED,
    add_drug,
    add_fill,
    add_patient,
    add_prescription,
)

PRIMARY_BIN, PRIMARY_PCN = "610999", "RXTRAIN"
SECONDARY_BIN, SECONDARY_PCN = "610998", "RXSECOND"
PA_NUMBER = "PA55501"


def plans(*, not_covered: str = "", prior_auth: str = "") -> tuple[PlanRules, ...]:
    """A primary paying 100 cents a tablet + 150 fee, copay 25.00 (tier 2); a secondary."""
    return (
        PlanRules(
            name="Test Primary",
            bin=PRIMARY_BIN,
            pcn=PRIMARY_PCN,
            dispensing_fee_cents=150,
            copay_cents_by_tier={1: 500, 2: 2500},
            default_tier=2,
            max_days_supply=34,
            not_covered=frozenset({not_covered} - {""}),
            prior_auth_required=frozenset({prior_auth} - {""}),
            prior_auth_numbers=frozenset({PA_NUMBER}),
            default_unit_cost_cents=Decimal(100),
        ),
        PlanRules(
            name="Test Secondary",
            bin=SECONDARY_BIN,
            pcn=SECONDARY_PCN,
            dispensing_fee_cents=150,
            copay_cents_by_tier={1: 0},
            default_tier=1,
            default_unit_cost_cents=Decimal(100),
            secondary_pays_up_to_cents=5000,
        ),
    )


class DroppingTransport:
    """The training payer behind a line that loses the first `drop` answers (the payer did
    adjudicate those requests) and, with `crash`, dies after the payer answered."""

    def __init__(self, adjudicator: Adjudicator, *, drop: int = 0, crash: bool = False) -> None:
        self.adjudicator = adjudicator
        self.drop = drop
        self.crash = crash
        self.sent: list[bytes] = []

    def send(self, request: bytes, timeout: float) -> bytes:
        self.sent.append(request)
        answer = self.adjudicator.answer(request)
        if self.crash:
            self.crash = False
            raise PowerCut
        if self.drop > 0:
            self.drop -= 1
            raise SwitchTimeout("The switch did not answer in time.", endpoint="test")
        return answer


class PowerCut(Exception):
    """The workstation died between sending a claim and recording its answer."""


@dataclass
class Bench:
    services: Services
    claims: ClaimService
    workflow: WorkflowService
    transport: DroppingTransport
    package_id: int
    patient_id: int
    prescription_id: int
    fill_id: int


def _bench(
    services: Services,
    admin: Actor,
    *,
    state: FillState = FillState.BILLING_PENDING,
    not_covered: bool = False,
    prior_auth: bool = False,
    policy: RecoveryPolicy = RecoveryPolicy.RESUBMIT,
    drop: int = 0,
    crash: bool = False,
    days_supply: int = 30,
    secondary: bool = False,
    unit_cost_cents: int = 100,
) -> Bench:
    package_id = add_drug(services, admin)
    patient_id = add_patient(services, admin)
    prescription_id = add_prescription(
        services, admin, patient_id=patient_id, package_id=package_id, days_supply=days_supply
    )
    fill_id = add_fill(services, admin, prescription_id=prescription_id, state=state)
    with services.database.unit_of_work(admin) as uow:
        ndc11 = uow.session.get(DrugPackage, package_id).ndc11  # type: ignore[union-attr]
        records = [
            InsuranceCoverage(
                patient_id=patient_id,
                rank=1,
                plan_name="Test Primary",
                bin=PRIMARY_BIN,
                pcn=PRIMARY_PCN,
                group_number="GRP1",
                cardholder_id="M1000001",
                person_code="01",
            ),
            StockLot(
                package_id=package_id,
                lot_number="COST-1",
                expiry=utc_now().date() + timedelta(days=400),
                unit_cost_cents=unit_cost_cents,
            ),
        ]
        if secondary:
            records.append(
                InsuranceCoverage(
                    patient_id=patient_id,
                    rank=2,
                    plan_name="Test Secondary",
                    bin=SECONDARY_BIN,
                    pcn=SECONDARY_PCN,
                    cardholder_id="S2000002",
                )
            )
        uow.session.add_all(records)
        for record in records:
            if isinstance(record, InsuranceCoverage):
                uow.audit(SEEDED, record)
    rules = plans(not_covered=ndc11 if not_covered else "", prior_auth=ndc11 if prior_auth else "")
    transport = DroppingTransport(Adjudicator(rules), drop=drop, crash=crash)
    claims = ClaimService(services.database, transport, timeout=1.0, policy=policy)
    return Bench(
        services=services,
        claims=claims,
        workflow=WorkflowService(services.database, claims=claims),
        transport=transport,
        package_id=package_id,
        patient_id=patient_id,
        prescription_id=prescription_id,
        fill_id=fill_id,
    )


def _state(services: Services, fill_id: int) -> FillState:
    with services.database.reading() as session:
        fill = session.get(Fill, fill_id)
        assert fill is not None
        return FillState(fill.state)


def _version(services: Services, fill_id: int) -> int:
    with services.database.reading() as session:
        fill = session.get(Fill, fill_id)
        assert fill is not None
        return fill.version


def _open_items(services: Services) -> list[WorkItem]:
    with services.database.reading() as session:
        return list(
            session.scalars(
                select(WorkItem).where(
                    WorkItem.kind == CLAIM_REJECTION, WorkItem.closed_at.is_(None)
                )
            )
        )


def _paid_records(bench: Bench) -> int:
    """How many B1s the payer holds as paid and not reversed."""
    return sum(1 for record in bench.transport.adjudicator._records.values() if not record.reversed)


def test_a_paid_claim_stores_the_answer_and_moves_the_fill_to_filling(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin)
    row = bench.claims.bill(technician, bench.fill_id)
    assert row.status is ClaimStatus.PAID
    assert row.authorization_number.startswith("TRN")
    # 30 tablets × 100 cents + 150 fee; the patient pays the 25.00 copay, the plan the rest.
    assert row.ingredient_cost_paid_cents == 3000
    assert row.dispensing_fee_paid_cents == 150
    assert row.patient_pay_cents == 2500
    assert row.total_paid_cents == 650
    assert _state(services, bench.fill_id) is FillState.FILL
    with services.database.reading() as session:
        claim = session.get(Claim, row.claim_id)
        assert claim is not None and claim.response and claim.request.startswith(b"610999")
        assert claim.ingredient_cost_submitted_cents == 3000
        actions = set(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.entity_type == "claims",
                    AuditEvent.entity_id == str(row.claim_id),
                )
            )
        )
    assert {"claim.submitted", "claim.answered"} <= actions
    with pytest.raises(PaidClaimOnFile):
        bench.claims.bill(technician, bench.fill_id)


def test_no_primary_coverage_is_refused_with_a_sentence(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin)
    with services.database.unit_of_work(admin) as uow:
        coverage = uow.session.scalars(
            select(InsuranceCoverage).where(InsuranceCoverage.patient_id == bench.patient_id)
        ).one()
        coverage.active = False
        uow.audit(SEEDED, coverage)
    with pytest.raises(NoCoverage, match="no active primary insurance"):
        bench.claims.bill(technician, bench.fill_id)
    assert _state(services, bench.fill_id) is FillState.BILLING_PENDING


def test_rejected_70_goes_on_the_resolution_list_and_is_sold_as_cash(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin, not_covered=True, unit_cost_cents=120)
    row = bench.claims.bill(technician, bench.fill_id)
    assert row.status is ClaimStatus.REJECTED
    assert [meaning.code for meaning in row.rejects] == ["70"]
    assert "bill as cash" in row.next_step
    assert _state(services, bench.fill_id) is FillState.CLAIM_REJECTED
    queue = bench.claims.needing_attention(technician)
    assert [each.claim_id for each in queue] == [row.claim_id]
    assert "70 Product/service not covered" in _open_items(services)[0].summary

    sale = bench.claims.sell_as_cash(technician, bench.fill_id)
    # 30 × 1.20 = 36.00 acquisition; +25 % = 45.00; + 4.50 fee = 49.50.
    assert (sale.acquisition_cents, sale.price_cents) == (3600, 4950)
    assert _state(services, bench.fill_id) is FillState.FILL
    assert _open_items(services) == []
    assert bench.claims.needing_attention(technician) == []


def test_rejected_75_is_rebilled_with_the_prior_authorization_number(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin, prior_auth=True)
    rejected = bench.claims.bill(technician, bench.fill_id)
    assert [meaning.code for meaning in rejected.rejects] == ["75"]
    assert "prior authorization" in rejected.next_step
    wrong = bench.claims.rebill(
        technician, bench.fill_id, ClaimChanges(prior_authorization_number="PA00000")
    )
    assert wrong.status is ClaimStatus.REJECTED and "PA NUMBER NOT ON FILE" in wrong.message
    paid = bench.claims.rebill(
        technician, bench.fill_id, ClaimChanges(prior_authorization_number=PA_NUMBER)
    )
    assert paid.status is ClaimStatus.PAID
    assert _state(services, bench.fill_id) is FillState.FILL
    assert _open_items(services) == []


def test_rejected_76_is_rebilled_with_a_shorter_days_supply(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin, days_supply=90)
    rejected = bench.claims.bill(technician, bench.fill_id)
    assert [meaning.code for meaning in rejected.rejects] == ["76"]
    paid = bench.claims.rebill(technician, bench.fill_id, ClaimChanges(days_supply=30))
    assert paid.status is ClaimStatus.PAID and paid.days_supply == 30
    with services.database.reading() as session:
        fill = session.get(Fill, bench.fill_id)
        assert fill is not None and fill.days_supply == 30
        corrected = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "fill.claim_corrected")
        )
    assert corrected == 1


def test_rejected_79_needs_a_pharmacist_for_the_dur_override(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    bench = _bench(services, admin)
    assert bench.claims.bill(technician, bench.fill_id).status is ClaimStatus.PAID
    refill = add_fill(
        services,
        admin,
        prescription_id=bench.prescription_id,
        fill_number=1,
        state=FillState.BILLING_PENDING,
    )
    too_soon = bench.claims.bill(technician, refill)
    assert [meaning.code for meaning in too_soon.rejects] == ["79"]
    override = ClaimChanges(
        dur_override=DurService(
            reason_for_service="ER", professional_service="M0", result_of_service="1G"
        )
    )
    with pytest.raises(PharmacistApprovalRequired):
        bench.claims.rebill(technician, refill, override)
    assert _state(services, refill) is FillState.CLAIM_REJECTED
    paid = bench.claims.rebill(technician, refill, override, approved_by=pharmacist)
    assert paid.status is ClaimStatus.PAID
    with services.database.reading() as session:
        submitted = session.scalars(
            select(AuditEvent.summary).where(
                AuditEvent.action == "claim.submitted",
                AuditEvent.entity_id == str(paid.claim_id),
            )
        ).one()
    assert submitted["approved_by"] == "phil"
    assert submitted["dur_override"] == {"reason": "ER", "service": "M0", "result": "1G"}


def test_a_lost_answer_is_resubmitted_and_never_billed_twice(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin, drop=1)
    row = bench.claims.bill(technician, bench.fill_id)
    assert row.status is ClaimStatus.DUPLICATE  # the payer had paid the first B1
    assert row.total_paid_cents == 650
    assert _paid_records(bench) == 1
    assert _state(services, bench.fill_id) is FillState.FILL


def test_a_timeout_is_reversed_then_billed_again(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin, drop=1, policy=RecoveryPolicy.REVERSE)
    row = bench.claims.bill(technician, bench.fill_id)
    assert row.status is ClaimStatus.REVERSED
    assert _paid_records(bench) == 0
    assert _state(services, bench.fill_id) is FillState.CLAIM_REJECTED
    assert [each.claim_id for each in bench.claims.needing_attention(technician)] == [row.claim_id]
    again = bench.claims.bill(technician, bench.fill_id)
    assert again.status is ClaimStatus.PAID
    assert _paid_records(bench) == 1
    assert _open_items(services) == []


def test_no_answer_at_all_leaves_the_fill_waiting_until_the_claim_is_settled(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin, drop=2)
    row = bench.claims.bill(technician, bench.fill_id)
    assert row.status is ClaimStatus.UNKNOWN_OUTCOME
    assert _state(services, bench.fill_id) is FillState.WAITING_ON_SWITCH
    assert _paid_records(bench) == 1  # the payer did pay it: it must not stay so unknowingly
    with pytest.raises(ClaimInFlight):
        bench.claims.bill(technician, bench.fill_id)
    with pytest.raises(TransitionNotAllowed):
        bench.workflow.advance(
            technician,
            bench.fill_id,
            to_state=FillState.CANCELLED,
            expected_version=_version(services, bench.fill_id),
            reason="patient left",
        )
    settled = bench.claims.settle(technician, row.claim_id)
    assert settled.status is ClaimStatus.REVERSED
    assert _paid_records(bench) == 0
    assert _state(services, bench.fill_id) is FillState.CLAIM_REJECTED
    assert bench.claims.bill(technician, bench.fill_id).status is ClaimStatus.PAID
    assert _paid_records(bench) == 1


def test_a_claim_interrupted_before_its_answer_was_recorded_is_recovered(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin, crash=True)
    with pytest.raises(PowerCut):
        bench.claims.bill(technician, bench.fill_id)
    with services.database.reading() as session:
        claim = session.scalars(select(Claim)).one()
    assert claim.status == ClaimStatus.PENDING.value
    assert bench.claims.needing_attention(technician) == []  # it may still be answered
    with pytest.raises(ValidationFailed, match="nothing to settle"):
        bench.claims.settle(technician, claim.id)
    with services.database.unit_of_work(admin) as uow:
        uow.session.execute(update(Claim).values(submitted_at=utc_now() - timedelta(minutes=10)))
        uow.audit(SEEDED, entity_type="claims", entity_id=str(claim.id))
    [stale] = bench.claims.needing_attention(technician)
    assert stale.status is ClaimStatus.UNKNOWN_OUTCOME
    settled = bench.claims.settle(technician, claim.id)
    assert settled.status is ClaimStatus.REVERSED
    assert _paid_records(bench) == 0
    assert _state(services, bench.fill_id) is FillState.CLAIM_REJECTED
    assert bench.claims.bill(technician, bench.fill_id).status is ClaimStatus.PAID


def test_the_secondary_plan_pays_what_the_primary_left(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin, secondary=True)
    with pytest.raises(ValidationFailed, match="primary plan first"):
        bench.claims.bill_secondary(technician, bench.fill_id)
    primary = bench.claims.bill(technician, bench.fill_id)
    secondary = bench.claims.bill_secondary(technician, bench.fill_id)
    assert secondary.status is ClaimStatus.PAID and secondary.payer_rank == 2
    assert secondary.other_payer_amount_cents == primary.total_paid_cents == 650
    # 3150 allowed − 650 the primary paid = 2500 left, all paid by the secondary.
    assert (secondary.total_paid_cents, secondary.patient_pay_cents) == (2500, 0)


def test_returning_to_stock_reverses_every_paid_claim(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin, state=FillState.READY, secondary=True)
    bench.claims.bill(technician, bench.fill_id)
    bench.claims.bill_secondary(technician, bench.fill_id)
    assert _paid_records(bench) == 2
    bench.workflow.return_to_stock(
        technician,
        bench.fill_id,
        expected_version=_version(services, bench.fill_id),
        reason="not picked up",
    )
    assert _paid_records(bench) == 0
    rows = bench.claims.claims_for_fill(technician, bench.fill_id)
    assert [(row.transaction_code, row.status) for row in rows] == [
        ("B1", ClaimStatus.REVERSED),
        ("B1", ClaimStatus.REVERSED),
        ("B2", ClaimStatus.APPROVED),
        ("B2", ClaimStatus.APPROVED),
    ]


def test_cancelling_a_fill_reverses_its_claim(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin)
    bench.claims.bill(technician, bench.fill_id)
    bench.workflow.advance(
        technician,
        bench.fill_id,
        to_state=FillState.CANCELLED,
        expected_version=_version(services, bench.fill_id),
        reason="prescriber cancelled",
    )
    assert _paid_records(bench) == 0
    [b1, b2] = bench.claims.claims_for_fill(technician, bench.fill_id)
    assert (b1.status, b2.status) == (ClaimStatus.REVERSED, ClaimStatus.APPROVED)
    with services.database.reading() as session:
        reversal = session.get(Claim, b2.claim_id)
        assert reversal is not None and reversal.reason.startswith("Fill cancelled")


def test_an_unanswered_reversal_is_listed_and_sent_again(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin)
    paid = bench.claims.bill(technician, bench.fill_id)
    bench.transport.drop = 1
    bench.workflow.advance(
        technician,
        bench.fill_id,
        to_state=FillState.CANCELLED,
        expected_version=_version(services, bench.fill_id),
        reason="prescriber cancelled",
    )
    assert _state(services, bench.fill_id) is FillState.CANCELLED
    [waiting] = bench.claims.needing_attention(technician)
    assert waiting.transaction_code == "B2" and waiting.status is ClaimStatus.UNKNOWN_OUTCOME
    [answered] = bench.claims.send_queued(technician, bench.fill_id)
    assert answered.status is ClaimStatus.APPROVED  # a duplicate of the approved reversal
    assert bench.claims.claim(technician, paid.claim_id).status is ClaimStatus.REVERSED
    assert bench.claims.needing_attention(technician) == []


def test_dispensing_another_ndc_reverses_and_rebills(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin, state=FillState.FILL)
    first = bench.claims.bill(technician, bench.fill_id)
    other_package = add_drug(services, admin)
    with services.database.unit_of_work(technician) as uow:
        fill = uow.session.get(Fill, bench.fill_id)
        assert fill is not None
        fill.dispensed_package_id = other_package
        uow.audit(SEEDED, fill)
        rebill_for_dispensed_package(uow, bench.fill_id, package_id=other_package)
    rows = bench.claims.send_queued(technician, bench.fill_id)
    assert [(row.transaction_code, row.status) for row in rows] == [
        ("B2", ClaimStatus.APPROVED),
        ("B1", ClaimStatus.PAID),
    ]
    with services.database.reading() as session:
        new_ndc = session.get(DrugPackage, other_package).ndc11  # type: ignore[union-attr]
    assert rows[1].ndc11 == new_ndc != first.ndc11
    assert bench.claims.claim(technician, first.claim_id).status is ClaimStatus.REVERSED
    assert _paid_records(bench) == 1


def test_cash_price_math_is_in_whole_cents() -> None:
    formula = PriceFormula(markup_percent=Decimal(25), fee_cents=450, minimum_cents=999)
    assert formula.price_cents(3000) == 4200
    assert formula.price_cents(2) == 999  # under the minimum
    assert PriceFormula(Decimal(25), 0, 0).price_cents(2) == 3  # 2.5 rounds half up
    assert PriceFormula(Decimal("12.5"), 100, 0).price_cents(1001) == 1226  # 1126.125 → 1126


def test_the_house_price_formula_is_saved_and_audited(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    bench = _bench(services, admin)
    formula = PriceFormula(markup_percent=Decimal(40), fee_cents=300, minimum_cents=500)
    with pytest.raises(ValidationFailed):
        bench.claims.set_price_formula(
            pharmacist, PriceFormula(Decimal(25), fee_cents=-1, minimum_cents=0)
        )
    assert bench.claims.set_price_formula(pharmacist, formula) == formula
    assert bench.claims.price_formula() == formula
    sale = bench.claims.cash_price(technician, bench.fill_id)
    assert (sale.acquisition_cents, sale.price_cents) == (3000, 4500)


def test_eligibility_is_asked_of_the_plan(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin)
    with services.database.reading() as session:
        coverage_id = session.scalars(select(InsuranceCoverage.id)).one()
    result = bench.claims.check_eligibility(technician, coverage_id)
    assert result.eligible and "ELIGIBLE" in result.message
    with services.database.unit_of_work(admin) as uow:
        coverage = uow.session.get(InsuranceCoverage, coverage_id)
        assert coverage is not None
        coverage.bin = "600000"
        uow.audit(SEEDED, coverage)
    refused = bench.claims.check_eligibility(technician, coverage_id)
    assert not refused.eligible and [each.code for each in refused.rejects] == ["01"]


def test_the_billing_point_bills_at_data_entry_or_before_fill(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    bench = _bench(services, admin, state=FillState.DATA_REVIEW)
    paid = bench.claims.bill_if_due(technician, bench.fill_id)
    assert paid is not None and paid.status is ClaimStatus.PAID
    assert _state(services, bench.fill_id) is FillState.DATA_REVIEW
    assert bench.claims.bill_if_due(technician, bench.fill_id) is None
    bench.workflow.advance(
        pharmacist,
        bench.fill_id,
        to_state=FillState.BILLING_PENDING,
        expected_version=_version(services, bench.fill_id),
    )
    assert bench.claims.bill_if_due(technician, bench.fill_id) is None
    assert _state(services, bench.fill_id) is FillState.FILL
    assert _paid_records(bench) == 1

    services.house_settings.set_billing_point(admin, "before_fill")
    later = _bench(services, admin, state=FillState.DATA_REVIEW)
    assert later.claims.bill_if_due(technician, later.fill_id) is None
    assert later.claims.claims_for_fill(technician, later.fill_id) == []


def test_settings_choose_a_switch_over_tcp_and_a_lost_answer_is_not_billed_twice(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin)
    adjudicator = Adjudicator(plans())
    with TrainingPayerServer(adjudicator, unanswered=1, unanswered_hold=0.5) as server:
        server.start()
        host, port = server.address
        settings = replace(services.settings, claims_switch=f"{host}:{port}")
        claims = ClaimService(services.database, claims_transport(settings), timeout=0.3)
        row = claims.bill(technician, bench.fill_id)
    assert row.status is ClaimStatus.DUPLICATE and row.total_paid_cents == 650
    assert sum(1 for record in adjudicator._records.values() if not record.reversed) == 1
    with pytest.raises(InvalidClaimsSwitch, match="not host:port"):
        claims_transport(replace(services.settings, claims_switch="switch.example"))


def test_a_claim_rejected_at_data_entry_is_not_sent_again_until_resolved(
    services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin, state=FillState.DATA_REVIEW, prior_auth=True)
    rejected = bench.claims.bill_if_due(technician, bench.fill_id)
    assert rejected is not None and rejected.status is ClaimStatus.REJECTED
    assert _state(services, bench.fill_id) is FillState.DATA_REVIEW
    assert bench.claims.bill_if_due(technician, bench.fill_id) is None
    assert len(bench.claims.claims_for_fill(technician, bench.fill_id)) == 1
    paid = bench.claims.rebill(
        technician, bench.fill_id, ClaimChanges(prior_authorization_number=PA_NUMBER)
    )
    assert paid.status is ClaimStatus.PAID and _open_items(services) == []


def test_training_mode_follows_the_workstations_plan_rules_file(
    services: Services, admin: Actor, technician: Actor, tmp_path: Path
) -> None:
    """The training payer's rules are edited in a JSON file named in settings.ini."""
    bench = _bench(services, admin)
    with services.database.reading() as session:
        package = session.get(DrugPackage, bench.package_id)
        assert package is not None
        ndc11 = package.ndc11
    primary = {
        "name": "House Training Plan",
        "bin": PRIMARY_BIN,
        "pcn": PRIMARY_PCN,
        "dispensing_fee_cents": 150,
        "copay_cents_by_tier": {"1": 500},
        "default_tier": 1,
        "default_unit_cost_cents": 100,
        "not_covered": [ndc11],
    }
    rules = tmp_path / "training-plans.json"
    rules.write_text(json.dumps({"plans": [primary]}), encoding="utf-8")
    settings = replace(services.settings, claims_training_rules=str(rules))
    claims = ClaimService(services.database, claims_transport(settings))
    row = claims.bill(technician, bench.fill_id)
    assert row.status is ClaimStatus.REJECTED
    assert [reject.code for reject in row.rejects] == ["70"]
    rules.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValidationFailed, match=str(rules)):
        claims_transport(settings)

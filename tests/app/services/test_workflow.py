"""The fill workflow service: every edge, every refusal, claiming, hold and resume, refills,
will-call aging and return to stock, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.base import utc_now
from app.db.models import (
    AuditEvent,
    ChangeEvent,
    ClinicalFinding,
    ControlledSubstanceEntry,
    Fill,
    FillBottle,
    FillTransition,
    Prescription,
    StockLot,
    StockMovement,
    WorkItem,
)
from app.domain.fill_states import FillState
from app.domain.rx_rules import PrescriptionRefused
from app.domain.workflow import (
    TRANSITIONS,
    ReasonRequired,
    RoleRequired,
    Transition,
    TransitionNotAllowed,
)
from app.errors import PermissionDenied, StaleRecord
from app.services.unit_of_work import Actor
from app.services.workflow import (
    FillHeldByAnother,
    RefillNotAllowed,
    VerificationRequired,
    move_fill,
)
from tests.app.services.pharmacy_data import (
    SEEDED,
    add_dispensed_stock,
    add_drug,
    add_fill,
    add_patient,
    add_prescription,
    package_of,
    simple_fill,
)
from tests.app.services.verification_data import (
    LISINOPRIL,
    OXYCODONE,
    SHELF_LOT,
    catalogue_fill,
    package_upc,
    receive_lot,
    verify_fill,
)


def _fill(services: Services, fill_id: int) -> Fill:
    with services.database.reading() as session:
        fill = session.get(Fill, fill_id)
        assert fill is not None
        return fill


def _transitions(services: Services, fill_id: int) -> list[FillTransition]:
    with services.database.reading() as session:
        return list(
            session.scalars(
                select(FillTransition)
                .where(FillTransition.fill_id == fill_id)
                .order_by(FillTransition.id)
            )
        )


def _events(services: Services, action: str, fill_id: int | None = None) -> list[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    if fill_id is not None:
        statement = statement.where(AuditEvent.entity_id == str(fill_id))
    with services.database.reading() as session:
        return list(session.scalars(statement))


def _open_items(services: Services, fill_id: int) -> list[str]:
    with services.database.reading() as session:
        return list(
            session.scalars(
                select(WorkItem.kind).where(
                    WorkItem.entity_type == "fills",
                    WorkItem.entity_id == str(fill_id),
                    WorkItem.closed_at.is_(None),
                )
            )
        )


def _actor_for(edge: Transition, technician: Actor, pharmacist: Actor) -> Actor:
    return pharmacist if edge.pharmacist_only else technician


def _is_verification(edge: Transition) -> bool:
    return (edge.source, edge.target) == (FillState.FILL, FillState.FINAL_VERIFICATION)


@pytest.mark.parametrize("edge", TRANSITIONS, ids=lambda e: f"{e.source}->{e.target}")
def test_every_edge_of_the_state_machine_through_the_service(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, edge: Transition
) -> None:
    held_from = edge.target if edge.action == "resume" else None
    reason = "patient asked" if edge.reason_required else ""
    actor = _actor_for(edge, technician, pharmacist)
    if _is_verification(edge):
        # Only the Verify panel takes this edge (the refusal through advance is tested below).
        fill_id = catalogue_fill(services, admin, edge.source)
        row = verify_fill(services, actor, fill_id)
        version = 4  # opened, one bottle accepted, completed
    else:
        fill_id = simple_fill(services, admin, edge.source, resume_state=held_from)
        row = services.workflow.advance(
            actor, fill_id, to_state=edge.target, expected_version=1, reason=reason
        )
        version = 2

    assert (row.state, row.version, row.held_by) == (edge.target, version, None)
    [transition] = _transitions(services, fill_id)
    assert (transition.from_state, transition.to_state, transition.reason) == (
        edge.source.value,
        edge.target.value,
        reason,
    )
    assert (transition.username, transition.workstation) == (actor.username, "test-workstation")
    [event] = _events(services, "fill.advanced", fill_id)
    assert event.summary["before"] == {"state": edge.source.value}
    assert event.summary["after"] == {"state": edge.target.value}
    assert event.summary["step"] == edge.action
    with services.database.reading() as session:
        topics = set(
            session.scalars(select(ChangeEvent.topic).where(ChangeEvent.entity_id == str(fill_id)))
        )
    assert topics == {"fills"}


def test_advance_never_moves_a_fill_to_final_verification_even_with_every_bottle_scanned(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    unscanned = simple_fill(services, admin, FillState.FILL)
    scanned = catalogue_fill(services, admin, FillState.FILL)
    package_id = package_of(services, LISINOPRIL)
    receive_lot(services, admin, package_id)
    view = services.verification.open_fill(technician, scanned)
    accepted = services.verification.accept_bottle(
        technician,
        scanned,
        text=package_upc(services, package_id),
        manual=False,
        quantity=view.quantity,
        expected_version=view.version,
        lot_number=SHELF_LOT,
    )
    assert accepted.complete

    attempts = (
        (unscanned, 1, (technician, pharmacist)),
        (scanned, accepted.fill_version, (technician,)),  # the one holding it
    )
    for fill_id, version, actors in attempts:
        for actor in actors:
            with pytest.raises(VerificationRequired) as refused:
                services.workflow.advance(
                    actor, fill_id, to_state=FillState.FINAL_VERIFICATION, expected_version=version
                )
            assert refused.value.message == (
                "Scan the stock bottles in the Verify panel: a fill goes to the pharmacist only "
                "after every bottle is verified."
            )
            assert refused.value.code == "verification-required"
        assert (_fill(services, fill_id).state, _fill(services, fill_id).version) == (
            "fill",
            version,
        )
        assert _transitions(services, fill_id) == []
        assert _events(services, "fill.advanced", fill_id) == []
    row = services.verification.complete(
        technician, scanned, expected_version=accepted.fill_version
    )
    assert row.state is FillState.FINAL_VERIFICATION


def test_no_move_reaches_final_verification_before_the_bottles_give_the_whole_quantity(
    services: Services, admin: Actor, technician: Actor
) -> None:
    """move_fill, the path every service shares, keeps the rule for any caller."""
    fill_id = catalogue_fill(services, admin, FillState.FILL)
    package_id = package_of(services, LISINOPRIL)
    receive_lot(services, admin, package_id)
    view = services.verification.open_fill(technician, fill_id)
    services.verification.accept_bottle(
        technician,
        fill_id,
        text=package_upc(services, package_id),
        manual=False,
        quantity=Decimal(20),
        expected_version=view.version,
        lot_number=SHELF_LOT,
    )

    with (
        pytest.raises(VerificationRequired) as refused,
        services.database.unit_of_work(technician) as uow,
    ):
        fill = uow.session.get(Fill, fill_id)
        assert fill is not None
        move_fill(uow, fill, FillState.FINAL_VERIFICATION, "")

    facts = refused.value.facts
    assert (facts["fill_id"], Decimal(facts["accepted"]), Decimal(facts["quantity"])) == (
        fill_id,
        20,
        30,
    )
    assert _fill(services, fill_id).state == FillState.FILL.value
    assert _transitions(services, fill_id) == []


def test_a_fill_walks_from_intake_to_ready_with_one_event_per_step(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    fill_id = catalogue_fill(services, admin, FillState.INTAKE)
    steps = [
        (technician, FillState.DATA_ENTRY),
        (technician, FillState.DATA_REVIEW),
        (pharmacist, FillState.BILLING_PENDING),
        (technician, FillState.FILL),
        (technician, FillState.FINAL_VERIFICATION),
        (pharmacist, FillState.READY),
    ]
    version = 1
    for actor, target in steps:
        if target is FillState.FINAL_VERIFICATION:
            row = verify_fill(services, actor, fill_id)
            assert row.version == version + 3  # opened, one bottle accepted, completed
        else:
            row = services.workflow.advance(
                actor, fill_id, to_state=target, expected_version=version
            )
            assert row.version == version + 1
        version = row.version
    assert _fill(services, fill_id).state == FillState.READY.value
    assert [t.to_state for t in _transitions(services, fill_id)] == [s.value for _, s in steps]
    assert len(_events(services, "fill.advanced", fill_id)) == len(steps)


def test_a_technician_cannot_take_a_pharmacist_step_and_the_refusal_is_audited(
    services: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = simple_fill(services, admin, FillState.FINAL_VERIFICATION)
    with pytest.raises(RoleRequired) as refused:
        services.workflow.advance(technician, fill_id, to_state=FillState.READY, expected_version=1)
    assert isinstance(refused.value, PermissionDenied)
    assert "pharmacist" in refused.value.message
    assert _fill(services, fill_id).state == FillState.FINAL_VERIFICATION.value
    [denied] = _events(services, "access.denied")
    assert (denied.username, denied.entity_id) == ("tess", "approve_final_verification")
    assert _transitions(services, fill_id) == []


def test_a_move_the_state_machine_has_no_edge_for_is_refused(
    services: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = simple_fill(services, admin)
    with pytest.raises(TransitionNotAllowed):
        services.workflow.advance(technician, fill_id, to_state=FillState.READY, expected_version=1)
    assert (_fill(services, fill_id).state, _fill(services, fill_id).version) == ("intake", 1)


def test_a_stale_version_is_refused_never_overwritten(
    services: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = simple_fill(services, admin)
    services.workflow.advance(
        technician, fill_id, to_state=FillState.DATA_ENTRY, expected_version=1
    )
    with pytest.raises(StaleRecord, match="Someone else changed this fill") as refused:
        services.workflow.advance(
            technician,
            fill_id,
            to_state=FillState.CANCELLED,
            expected_version=1,
            reason="duplicate",
        )
    assert refused.value.facts["current_version"] == 2
    assert _fill(services, fill_id).state == FillState.DATA_ENTRY.value


@pytest.mark.parametrize(
    ("source", "target", "who"),
    [
        (FillState.DATA_ENTRY, FillState.ON_HOLD, "technician"),
        (FillState.DATA_ENTRY, FillState.CANCELLED, "technician"),
        (FillState.DATA_REVIEW, FillState.DATA_ENTRY, "pharmacist"),
        (FillState.FINAL_VERIFICATION, FillState.FILL, "pharmacist"),
        (FillState.READY, FillState.RETURNED_TO_STOCK, "technician"),
    ],
)
def test_holds_send_backs_cancels_and_returns_need_a_reason(
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    source: FillState,
    target: FillState,
    who: str,
) -> None:
    fill_id = simple_fill(services, admin, source)
    actor = pharmacist if who == "pharmacist" else technician
    with pytest.raises(ReasonRequired):
        services.workflow.advance(actor, fill_id, to_state=target, expected_version=1, reason="  ")
    assert _fill(services, fill_id).state == source.value


def test_hold_keeps_where_and_why_and_resume_goes_back_there(
    services: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = simple_fill(services, admin, FillState.FILL)
    held = services.workflow.advance(
        technician,
        fill_id,
        to_state=FillState.ON_HOLD,
        expected_version=1,
        reason="out of stock until Tuesday",
    )
    stored = _fill(services, fill_id)
    assert (stored.resume_state, stored.hold_reason) == ("fill", "out of stock until Tuesday")
    assert held.hold_reason == "out of stock until Tuesday"
    with pytest.raises(TransitionNotAllowed, match="only resume there"):
        services.workflow.advance(
            technician, fill_id, to_state=FillState.DATA_ENTRY, expected_version=2
        )

    resumed = services.workflow.resume(technician, fill_id, expected_version=2)

    assert (resumed.state, resumed.hold_reason) == (FillState.FILL, "")
    assert _fill(services, fill_id).resume_state is None


def test_two_workstations_cannot_both_take_a_fill(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    fill_id = simple_fill(services, admin)
    taken = services.workflow.take_fill(technician, fill_id)
    assert (taken.held_by, taken.version) == ("tess", 2)
    with pytest.raises(FillHeldByAnother) as refused:
        services.workflow.take_fill(pharmacist, fill_id)
    assert refused.value.facts["held_by"] == "tess"
    assert "tess is working on this fill" in refused.value.message
    with pytest.raises(FillHeldByAnother):
        services.workflow.advance(
            pharmacist, fill_id, to_state=FillState.DATA_ENTRY, expected_version=2
        )
    assert services.workflow.take_fill(technician, fill_id).version == 2  # already hers

    moved = services.workflow.advance(
        technician, fill_id, to_state=FillState.DATA_ENTRY, expected_version=2
    )
    assert moved.held_by is None  # a move hands the fill on
    assert services.workflow.take_fill(pharmacist, fill_id).held_by == "phil"
    assert [e.username for e in _events(services, "fill.taken", fill_id)] == ["tess", "phil"]


def test_release_lets_another_take_it_and_only_the_holder_or_a_pharmacist_may(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    fill_id = simple_fill(services, admin)
    services.workflow.take_fill(pharmacist, fill_id)
    with pytest.raises(FillHeldByAnother):
        services.workflow.release_fill(technician, fill_id)
    assert services.workflow.release_fill(pharmacist, fill_id).held_by is None
    services.workflow.take_fill(technician, fill_id)
    assert services.workflow.release_fill(pharmacist, fill_id).held_by is None
    assert len(_events(services, "fill.released", fill_id)) == 2


def test_take_next_hands_out_the_oldest_unheld_fill_in_the_states_asked(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    package_id = add_drug(services, admin)
    patient_id = add_patient(services, admin)
    ids = []
    for state in (FillState.INTAKE, FillState.DATA_ENTRY, FillState.INTAKE, FillState.FILL):
        rx = add_prescription(services, admin, patient_id=patient_id, package_id=package_id)
        ids.append(add_fill(services, admin, prescription_id=rx, state=state))
    states = [FillState.INTAKE, FillState.DATA_ENTRY]

    first = services.workflow.take_next(technician, states=states)
    second = services.workflow.take_next(pharmacist, states=states)
    third = services.workflow.take_next(technician, states=states)

    assert first is not None and second is not None and third is not None
    assert [first.fill_id, second.fill_id, third.fill_id] == ids[:3]
    assert (first.held_by, second.held_by) == ("tess", "phil")
    assert services.workflow.take_next(technician, states=states) is None


def test_work_list_items_open_at_review_and_verification_and_close_after(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    fill_id = catalogue_fill(services, admin, FillState.DATA_ENTRY)
    services.workflow.advance(
        technician, fill_id, to_state=FillState.DATA_REVIEW, expected_version=1
    )
    assert _open_items(services, fill_id) == ["data_review"]
    services.workflow.advance(pharmacist, fill_id, to_state=FillState.FILL, expected_version=2)
    assert _open_items(services, fill_id) == []
    verified = verify_fill(services, technician, fill_id)
    assert _open_items(services, fill_id) == ["final_verification"]
    services.workflow.advance(
        pharmacist,
        fill_id,
        to_state=FillState.FILL,
        expected_version=verified.version,
        reason="wrong NDC",
    )
    assert _open_items(services, fill_id) == []
    assert len(_events(services, "worklist.closed")) == 2


# --- refills ------------------------------------------------------------------------------------


def _prescription_with_sold_fill(
    services: Services, admin: Actor, *, sold_days_ago: int, refills: int = 2
) -> int:
    package_id = add_drug(services, admin)
    patient_id = add_patient(services, admin)
    rx = add_prescription(
        services, admin, patient_id=patient_id, package_id=package_id, refills=refills
    )
    add_fill(
        services,
        admin,
        prescription_id=rx,
        state=FillState.SOLD,
        changed_at=utc_now() - timedelta(days=sold_days_ago),
    )
    return rx


def test_a_refill_on_time_starts_the_next_fill_at_intake_without_warning(
    services: Services, admin: Actor, technician: Actor
) -> None:
    rx = _prescription_with_sold_fill(services, admin, sold_days_ago=25)

    outcome = services.workflow.refill(technician, rx)

    assert (outcome.fill.fill_number, outcome.fill.state, outcome.warnings) == (
        1,
        FillState.INTAKE,
        (),
    )
    [transition] = _transitions(services, outcome.fill.fill_id)
    assert (transition.from_state, transition.to_state) == (None, "intake")
    assert len(_events(services, "fill.refill_started", outcome.fill.fill_id)) == 1


def test_a_refill_too_soon_is_allowed_with_a_warning_finding_for_the_pharmacist(
    services: Services, admin: Actor, technician: Actor
) -> None:
    rx = _prescription_with_sold_fill(services, admin, sold_days_ago=10)

    outcome = services.workflow.refill(technician, rx)

    [warning] = outcome.warnings
    assert warning.kind == "early_refill"
    assert warning.message.startswith("Too soon to refill: the last fill (30 days")
    assert "NOT a complete drug-interaction screen" in warning.disclaimer
    with services.database.reading() as session:
        [finding] = session.scalars(select(ClinicalFinding)).all()
        assert finding.fill_id == outcome.fill.fill_id
        kinds = session.scalars(select(WorkItem.kind).where(WorkItem.closed_at.is_(None))).all()
    assert kinds == ["clinical_finding"]


def test_the_refill_too_soon_threshold_is_a_house_setting(
    services: Services, admin: Actor, technician: Actor
) -> None:
    early = _prescription_with_sold_fill(services, admin, sold_days_ago=20)
    assert len(services.workflow.refill(technician, early).warnings) == 1
    services.house_settings.set_refill_too_soon_threshold(admin, Decimal("0.5"))
    rx = _prescription_with_sold_fill(services, admin, sold_days_ago=20)
    assert services.workflow.refill(technician, rx).warnings == ()


def test_refills_are_refused_when_none_left_or_one_is_in_progress(
    services: Services, admin: Actor, technician: Actor
) -> None:
    rx = _prescription_with_sold_fill(services, admin, sold_days_ago=40, refills=1)
    outcome = services.workflow.refill(technician, rx)
    with pytest.raises(RefillNotAllowed, match="already has a fill in progress"):
        services.workflow.refill(technician, rx)
    services.workflow.advance(
        technician,
        outcome.fill.fill_id,
        to_state=FillState.CANCELLED,
        expected_version=1,
        reason="patient declined",
    )
    second = services.workflow.refill(technician, rx)  # a cancelled refill used none
    assert second.fill.fill_number == 2
    with services.database.unit_of_work(admin) as uow:
        fill = uow.session.get(Fill, second.fill.fill_id)
        assert fill is not None
        fill.state = FillState.SOLD.value
        uow.audit(SEEDED, fill)
    with pytest.raises(PrescriptionRefused, match="No refills left") as refused:
        services.workflow.refill(technician, rx)
    [problem] = refused.value.facts["problems"]
    assert (problem.code, problem.facts) == ("no-refills-left", {"allowed": 1, "dispensed": 1})


def test_an_expired_prescription_is_not_refilled(
    services: Services, admin: Actor, technician: Actor
) -> None:
    rx = _prescription_with_sold_fill(services, admin, sold_days_ago=40)
    with services.database.unit_of_work(admin) as uow:
        prescription = uow.session.get(Prescription, rx)
        assert prescription is not None
        prescription.written_date = utc_now().date() - timedelta(days=400)
        uow.audit(SEEDED, prescription)
    with pytest.raises(PrescriptionRefused, match="expired"):
        services.workflow.refill(technician, rx)


def test_an_inactive_prescription_is_not_refilled(
    services: Services, admin: Actor, technician: Actor
) -> None:
    rx = _prescription_with_sold_fill(services, admin, sold_days_ago=40)
    with services.database.unit_of_work(admin) as uow:
        prescription = uow.session.get(Prescription, rx)
        assert prescription is not None
        prescription.status = "inactive"
        uow.audit(SEEDED, prescription)
    with pytest.raises(RefillNotAllowed, match="is inactive"):
        services.workflow.refill(technician, rx)


# --- will call -----------------------------------------------------------------------------------


def test_will_call_aging_lists_ready_fills_older_than_the_house_days(
    services: Services, admin: Actor, technician: Actor
) -> None:
    package_id = add_drug(services, admin)
    patient_id = add_patient(services, admin)
    ages = {}
    for days in (3, 12, 30):
        rx = add_prescription(services, admin, patient_id=patient_id, package_id=package_id)
        ages[days] = add_fill(
            services,
            admin,
            prescription_id=rx,
            state=FillState.READY,
            changed_at=utc_now() - timedelta(days=days),
        )
    rx = add_prescription(services, admin, patient_id=patient_id, package_id=package_id)
    add_fill(
        services,
        admin,
        prescription_id=rx,
        state=FillState.SOLD,
        changed_at=utc_now() - timedelta(days=40),
    )

    assert [r.fill_id for r in services.workflow.will_call_aging(technician)] == [
        ages[30],
        ages[12],
    ]
    assert [
        r.fill_id for r in services.workflow.will_call_aging(technician, older_than_days=2)
    ] == [
        ages[30],
        ages[12],
        ages[3],
    ]
    services.house_settings.set_will_call_aging_days(admin, 14)
    assert [r.fill_id for r in services.workflow.will_call_aging(technician)] == [ages[30]]


def test_return_to_stock_reverses_the_dispensed_movement_and_restores_on_hand(
    services: Services, admin: Actor, technician: Actor
) -> None:
    package_id = add_drug(services, admin)
    patient_id = add_patient(services, admin)
    rx = add_prescription(services, admin, patient_id=patient_id, package_id=package_id)
    fill_id = add_fill(services, admin, prescription_id=rx, state=FillState.READY)
    lot_id = add_dispensed_stock(
        services, admin, fill_id=fill_id, package_id=package_id, on_hand=Decimal(70)
    )

    row = services.workflow.return_to_stock(
        technician, fill_id, expected_version=1, reason="not picked up in 14 days"
    )

    assert row.state is FillState.RETURNED_TO_STOCK
    with services.database.reading() as session:
        lot = session.get(StockLot, lot_id)
        assert lot is not None and lot.on_hand == Decimal(100)
        dispensed, reversal = session.scalars(
            select(StockMovement).where(StockMovement.fill_id == fill_id).order_by(StockMovement.id)
        ).all()
        total = session.scalar(
            select(func.sum(StockMovement.quantity)).where(StockMovement.fill_id == fill_id)
        )
    assert (reversal.kind, reversal.reverses_id, reversal.quantity) == (
        "reversal",
        dispensed.id,
        Decimal(30),
    )
    assert reversal.reason == "not picked up in 14 days" and total == 0
    assert len(_events(services, "stock.reversed")) == 1
    with services.database.reading() as session:
        told = session.scalars(select(ChangeEvent.entity_id).where(ChangeEvent.topic == "stock"))
        assert str(package_id) in set(told)  # other workstations see the stock come back


def test_return_to_stock_voids_the_verified_bottles_and_reverses_the_controlled_log(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    fill_id = catalogue_fill(services, admin, FillState.FILL, product_ndc=OXYCODONE)  # C-II
    verified = verify_fill(services, technician, fill_id)
    ready = services.workflow.advance(
        pharmacist, fill_id, to_state=FillState.READY, expected_version=verified.version
    )
    reason = "not picked up in 14 days"

    row = services.workflow.return_to_stock(
        technician, fill_id, expected_version=ready.version, reason=reason
    )

    assert row.state is FillState.RETURNED_TO_STOCK
    with services.database.reading() as session:
        [bottle] = session.scalars(select(FillBottle).where(FillBottle.fill_id == fill_id)).all()
        dispensed, reversal = session.scalars(
            select(StockMovement).where(StockMovement.fill_id == fill_id).order_by(StockMovement.id)
        ).all()
        log = session.scalars(
            select(ControlledSubstanceEntry)
            .where(ControlledSubstanceEntry.fill_id == fill_id)
            .order_by(ControlledSubstanceEntry.id)
        ).all()
        lot = session.get(StockLot, dispensed.lot_id)
    assert bottle.voided_at is not None and bottle.voided_reason == reason
    assert bottle.movement_id == dispensed.id and dispensed.kind == "dispensed"
    assert (reversal.kind, reversal.reverses_id, reversal.quantity, reversal.reason) == (
        "reversal",
        dispensed.id,
        Decimal(30),
        reason,
    )
    assert lot is not None and lot.on_hand == Decimal(1000)
    assert [(line.kind, line.quantity, line.balance_after, line.schedule) for line in log] == [
        ("dispensed", Decimal(-30), Decimal(970), "CII"),
        ("reversal", Decimal(30), Decimal(1000), "CII"),
    ]
    assert log[1].movement_id == reversal.id
    assert log[1].note.endswith(f"returned to stock: {reason}")
    [event] = _events(services, "fill.bottle_voided")
    assert event.entity_id == str(bottle.id)
    assert (event.summary["step"], event.summary["reason"]) == ("return_to_stock", reason)
    assert event.summary["reversal_movement_id"] == reversal.id
    assert event.summary["controlled_entry_id"] == log[1].id
    assert _events(services, "stock.reversed") == []


def test_return_to_stock_needs_a_ready_fill(
    services: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = simple_fill(services, admin, FillState.SOLD)
    with pytest.raises(TransitionNotAllowed):
        services.workflow.return_to_stock(
            technician, fill_id, expected_version=1, reason="customer returned it"
        )


def _scan_controlled_bottles(
    services: Services, technician: Actor, fill_id: int, quantities: list[int]
) -> tuple[int, int]:
    """Open the C-II fill and accept one counted bottle per quantity from the shelf lot (UPC,
    lot typed); returns (lot, fill version)."""
    package_id = package_of(services, OXYCODONE)
    lot_id = receive_lot(services, technician, package_id)
    upc = package_upc(services, package_id)
    fill_version = services.verification.open_fill(technician, fill_id).version
    for each in quantities:
        quantity = Decimal(each)
        accepted = services.verification.accept_bottle(
            technician,
            fill_id,
            text=upc,
            manual=False,
            quantity=quantity,
            expected_version=fill_version,
            lot_number=SHELF_LOT,
            cii_count=(quantity, quantity),
        )
        fill_version = accepted.fill_version
    return lot_id, fill_version


@dataclass(frozen=True)
class _Ledger:
    """What a fill left in the stock ledger and the controlled-substance log."""

    on_hand: Decimal
    movements: list[tuple[str, Decimal, int | None]]  # kind, quantity, reverses
    dispensed: list[int]
    log: list[tuple[str, Decimal, Decimal]]  # kind, quantity, balance after
    notes: list[str]
    voided: list[tuple[bool, str]]


def _ledger(services: Services, fill_id: int, lot_id: int) -> _Ledger:
    with services.database.reading() as session:
        movements = session.scalars(
            select(StockMovement).where(StockMovement.fill_id == fill_id).order_by(StockMovement.id)
        ).all()
        log = session.scalars(
            select(ControlledSubstanceEntry)
            .where(ControlledSubstanceEntry.fill_id == fill_id)
            .order_by(ControlledSubstanceEntry.id)
        ).all()
        bottles = session.scalars(
            select(FillBottle).where(FillBottle.fill_id == fill_id).order_by(FillBottle.id)
        ).all()
        lot = session.get(StockLot, lot_id)
    assert lot is not None
    return _Ledger(
        on_hand=lot.on_hand,
        movements=[(m.kind, m.quantity, m.reverses_id) for m in movements],
        dispensed=[m.id for m in movements if m.kind == "dispensed"],
        log=[(line.kind, line.quantity, line.balance_after) for line in log],
        notes=[line.note for line in log],
        voided=[(b.voided_at is not None, b.voided_reason) for b in bottles],
    )


def test_cancelling_a_fill_puts_each_accepted_bottle_back_once_with_its_log_line(
    services: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = catalogue_fill(services, admin, FillState.FILL, product_ndc=OXYCODONE)  # C-II
    lot_id, fill_version = _scan_controlled_bottles(services, technician, fill_id, [12, 8, 5])
    with services.database.reading() as session:
        third = session.scalars(
            select(FillBottle.id).where(FillBottle.fill_id == fill_id).order_by(FillBottle.id)
        ).all()[2]
    voided = services.verification.void_bottle(
        technician, fill_id, third, reason="miscounted", expected_version=fill_version
    )
    reason = "prescriber cancelled the order"

    row = services.workflow.advance(
        technician,
        fill_id,
        to_state=FillState.CANCELLED,
        expected_version=voided.fill_version,
        reason=reason,
    )

    assert row.state is FillState.CANCELLED
    ledger = _ledger(services, fill_id, lot_id)
    first, second, third_dispensed = ledger.dispensed
    assert ledger.movements == [
        ("dispensed", Decimal(-12), None),
        ("dispensed", Decimal(-8), None),
        ("dispensed", Decimal(-5), None),
        ("reversal", Decimal(5), third_dispensed),  # the bench's void, not reversed again
        ("reversal", Decimal(12), first),
        ("reversal", Decimal(8), second),
    ]
    assert ledger.on_hand == Decimal(1000)
    assert ledger.log == [
        ("dispensed", Decimal(-12), Decimal(988)),
        ("dispensed", Decimal(-8), Decimal(980)),
        ("dispensed", Decimal(-5), Decimal(975)),
        ("reversal", Decimal(5), Decimal(980)),
        ("reversal", Decimal(12), Decimal(992)),
        ("reversal", Decimal(8), Decimal(1000)),
    ]
    assert ledger.notes[-1].endswith(f"cancelled: {reason}")
    assert ledger.voided == [(True, reason), (True, reason), (True, "miscounted")]
    events = _events(services, "fill.bottle_voided")
    assert [event.summary["step"] for event in events if "step" in event.summary] == [
        "cancel",
        "cancel",
    ]


def test_a_hold_keeps_the_bottles_and_cancelling_the_held_fill_puts_them_back(
    services: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = catalogue_fill(services, admin, FillState.FILL, product_ndc=OXYCODONE)
    lot_id, fill_version = _scan_controlled_bottles(services, technician, fill_id, [20, 10])
    scanned = _ledger(services, fill_id, lot_id)

    held = services.workflow.advance(
        technician,
        fill_id,
        to_state=FillState.ON_HOLD,
        expected_version=fill_version,
        reason="patient asked to wait for payday",
    )

    assert held.state is FillState.ON_HOLD
    assert _ledger(services, fill_id, lot_id) == scanned  # the bottles stay with the fill
    assert scanned.on_hand == Decimal(970)

    services.workflow.advance(
        technician,
        fill_id,
        to_state=FillState.CANCELLED,
        expected_version=held.version,
        reason="patient no longer wants it",
    )

    ledger = _ledger(services, fill_id, lot_id)
    assert ledger.on_hand == Decimal(1000)
    reversed_ids = [reverses for kind, _, reverses in ledger.movements if kind == "reversal"]
    assert reversed_ids == ledger.dispensed  # each bottle once, in the order scanned
    assert ledger.log[-1] == ("reversal", Decimal(10), Decimal(1000))


def test_cancelling_a_ready_fill_reverses_its_stock_without_controlled_lines(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    fill_id = catalogue_fill(services, admin, FillState.FILL)  # lisinopril: not controlled
    verified = verify_fill(services, technician, fill_id)
    ready = services.workflow.advance(
        pharmacist, fill_id, to_state=FillState.READY, expected_version=verified.version
    )
    lot_id = receive_lot(services, technician, package_of(services, LISINOPRIL))

    services.workflow.advance(
        technician,
        fill_id,
        to_state=FillState.CANCELLED,
        expected_version=ready.version,
        reason="duplicate of another fill",
    )

    ledger = _ledger(services, fill_id, lot_id)
    assert ledger.on_hand == Decimal(1000)
    [dispensed] = ledger.dispensed
    assert ledger.movements[1:] == [("reversal", Decimal(30), dispensed)]
    assert ledger.log == []
    assert ledger.voided == [(True, "duplicate of another fill")]

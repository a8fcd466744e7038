"""Fill state machine: each edge for its roles only, non-edges refused, reasons, random walks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.domain.workflow import (
    CANCELLABLE_STATES,
    HOLDABLE_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    ReasonRequired,
    RoleRequired,
    Transition,
    TransitionNotAllowed,
    allowed_transitions,
    check_clinical_override,
    check_transition,
    next_step,
)
from app.errors import PermissionDenied, ValidationFailed

S = FillState
TECH = {Role.TECHNICIAN}
RPH = {Role.PHARMACIST}
ADMIN = {Role.ADMINISTRATOR}

# The main flow, written out by hand from the issue: (source, target, pharmacist only, reason).
EXPECTED_FLOW = {
    (S.INTAKE, S.DATA_ENTRY): (False, False),
    (S.DATA_ENTRY, S.DATA_REVIEW): (False, False),
    (S.DATA_REVIEW, S.BILLING_PENDING): (True, False),
    (S.DATA_REVIEW, S.FILL): (True, False),
    (S.DATA_REVIEW, S.DATA_ENTRY): (True, True),
    (S.BILLING_PENDING, S.WAITING_ON_SWITCH): (False, False),
    (S.BILLING_PENDING, S.FILL): (False, False),
    (S.WAITING_ON_SWITCH, S.FILL): (False, False),
    (S.WAITING_ON_SWITCH, S.CLAIM_REJECTED): (False, False),
    (S.CLAIM_REJECTED, S.BILLING_PENDING): (False, False),
    (S.CLAIM_REJECTED, S.DATA_ENTRY): (False, False),
    (S.FILL, S.FINAL_VERIFICATION): (False, False),
    (S.FINAL_VERIFICATION, S.READY): (True, False),
    (S.FINAL_VERIFICATION, S.FILL): (True, True),
    (S.READY, S.SOLD): (False, False),
    (S.READY, S.RETURNED_TO_STOCK): (False, True),
}
HOLDABLE = {
    S.INTAKE,
    S.DATA_ENTRY,
    S.DATA_REVIEW,
    S.BILLING_PENDING,
    S.CLAIM_REJECTED,
    S.FILL,
    S.FINAL_VERIFICATION,
    S.READY,
}


def expected_edges() -> dict[tuple[FillState, FillState], tuple[bool, bool]]:
    edges = dict(EXPECTED_FLOW)
    for state in HOLDABLE:
        edges[(state, S.ON_HOLD)] = (False, True)
        edges[(S.ON_HOLD, state)] = (False, False)
        edges[(state, S.CANCELLED)] = (False, True)
    edges[(S.ON_HOLD, S.CANCELLED)] = (False, True)
    return edges


def held_from_for(edge: Transition) -> FillState | None:
    return edge.target if edge.action == "resume" else None


def test_the_graph_is_exactly_the_one_the_issue_describes() -> None:
    assert {(e.source, e.target): (e.pharmacist_only, e.reason_required) for e in TRANSITIONS} == (
        expected_edges()
    )
    assert len({(e.source, e.target) for e in TRANSITIONS}) == len(TRANSITIONS)
    assert HOLDABLE_STATES == HOLDABLE
    assert HOLDABLE | {S.ON_HOLD} == CANCELLABLE_STATES


def test_no_edge_is_open_to_an_administrator_alone() -> None:
    assert all(Role.ADMINISTRATOR not in edge.roles for edge in TRANSITIONS)


@pytest.mark.parametrize("edge", TRANSITIONS, ids=lambda e: f"{e.source}->{e.target}")
def test_every_edge_is_allowed_for_its_roles_and_refused_to_others(edge: Transition) -> None:
    held_from = held_from_for(edge)
    for roles in (TECH, RPH, ADMIN, TECH | RPH):
        if edge.roles & roles:
            taken = check_transition(
                edge.source, edge.target, roles=roles, reason="patient asked", held_from=held_from
            )
            assert taken == edge
            assert edge in allowed_transitions(edge.source, roles, held_from=held_from)
        else:
            with pytest.raises(RoleRequired) as refused:
                check_transition(
                    edge.source, edge.target, roles=roles, reason="x", held_from=held_from
                )
            assert isinstance(refused.value, PermissionDenied)
            assert refused.value.facts["required"] == sorted(edge.roles)
            assert edge not in allowed_transitions(edge.source, roles, held_from=held_from)


def test_pharmacist_only_edges_are_review_and_verification() -> None:
    assert {e.action for e in TRANSITIONS if e.pharmacist_only} == {
        "approve_and_bill",
        "approve_without_billing",
        "send_back_to_data_entry",
        "approve_final_verification",
        "send_back_to_fill",
    }
    with pytest.raises(RoleRequired, match="Only a pharmacist"):
        check_transition(S.FINAL_VERIFICATION, S.READY, roles=TECH, reason=None)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (source, target)
        for source, target in itertools.product(FillState, FillState)
        if (source, target) not in expected_edges()
    ],
)
def test_every_non_edge_is_refused_with_the_states_named(
    source: FillState, target: FillState
) -> None:
    with pytest.raises(TransitionNotAllowed) as refused:
        check_transition(source, target, roles=TECH | RPH, reason="why", held_from=target)
    assert refused.value.facts == {"source": source, "target": target}
    assert source.label in refused.value.message and target.label in refused.value.message


@pytest.mark.parametrize(
    "edge", [e for e in TRANSITIONS if e.reason_required], ids=lambda e: f"{e.source}->{e.target}"
)
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reasons_are_required_where_they_must_be(edge: Transition, reason: str | None) -> None:
    with pytest.raises(ReasonRequired) as refused:
        check_transition(edge.source, edge.target, roles=TECH | RPH, reason=reason)
    assert isinstance(refused.value, ValidationFailed)
    assert refused.value.facts["action"] == edge.action


def test_reason_required_exactly_for_hold_send_back_cancel_and_return() -> None:
    assert {e.action for e in TRANSITIONS if e.reason_required} == {
        "put_on_hold",
        "send_back_to_data_entry",
        "send_back_to_fill",
        "cancel",
        "return_to_stock",
    }
    edge = check_transition(S.DATA_ENTRY, S.DATA_REVIEW, roles=TECH, reason=None)
    assert edge.action == "submit_for_review"


def test_terminal_states_have_no_way_out() -> None:
    assert {S.SOLD, S.CANCELLED, S.RETURNED_TO_STOCK} == TERMINAL_STATES
    for state in TERMINAL_STATES:
        assert allowed_transitions(state, TECH | RPH | ADMIN) == []


def test_a_claim_in_flight_is_neither_held_nor_cancelled() -> None:
    with pytest.raises(TransitionNotAllowed):
        check_transition(S.WAITING_ON_SWITCH, S.ON_HOLD, roles=RPH, reason="patient called")
    with pytest.raises(TransitionNotAllowed):
        check_transition(S.WAITING_ON_SWITCH, S.CANCELLED, roles=RPH, reason="patient called")


def test_a_held_fill_resumes_only_where_it_was_held() -> None:
    assert [e.target for e in allowed_transitions(S.ON_HOLD, TECH, held_from=S.FILL)] == [
        S.FILL,
        S.CANCELLED,
    ]
    assert [e.target for e in allowed_transitions(S.ON_HOLD, TECH)] == [S.CANCELLED]
    with pytest.raises(TransitionNotAllowed, match="only resume there") as refused:
        check_transition(S.ON_HOLD, S.READY, roles=TECH, reason=None, held_from=S.FILL)
    assert refused.value.facts["held_from"] == S.FILL
    with pytest.raises(TransitionNotAllowed, match="unknown state"):
        check_transition(S.ON_HOLD, S.READY, roles=TECH, reason=None)


def test_allowed_transitions_from_data_review() -> None:
    assert [e.action for e in allowed_transitions(S.DATA_REVIEW, TECH)] == [
        "put_on_hold",
        "cancel",
    ]
    assert [e.action for e in allowed_transitions(S.DATA_REVIEW, RPH)] == [
        "approve_and_bill",
        "approve_without_billing",
        "send_back_to_data_entry",
        "put_on_hold",
        "cancel",
    ]


def test_clinical_override_is_the_pharmacists() -> None:
    check_clinical_override(RPH)
    check_clinical_override(TECH | RPH)
    with pytest.raises(RoleRequired, match="override a clinical finding"):
        check_clinical_override(TECH | ADMIN)


def test_every_state_has_a_next_step_for_the_queue() -> None:
    assert next_step(S.INTAKE) == "Enter the prescription"
    assert next_step(S.DATA_REVIEW) == "Pharmacist data review"
    assert next_step(S.FILL) == "Fill and scan"
    assert next_step(S.FINAL_VERIFICATION) == "Pharmacist final verification"
    assert next_step(S.READY) == "Ready for pickup"
    assert len({next_step(state) for state in FillState}) == len(FillState)


@given(st.lists(st.integers(min_value=0), max_size=60), st.sampled_from([TECH, RPH, TECH | RPH]))
def test_random_walks_along_allowed_edges_stay_legal(choices: list[int], roles: set[Role]) -> None:
    state, held_from = S.INTAKE, None
    reviewed = verified = False
    for choice in choices:
        options = allowed_transitions(state, roles, held_from=held_from)
        if not options:
            assert state in TERMINAL_STATES
            break
        edge = options[choice % len(options)]
        assert (
            check_transition(state, edge.target, roles=roles, reason="because", held_from=held_from)
            == edge
        )
        if edge.target == S.ON_HOLD:
            held_from = state
        elif state == S.ON_HOLD:
            assert edge.target in (held_from, S.CANCELLED)
            held_from = None
        if edge.action in ("approve_and_bill", "approve_without_billing"):
            reviewed = True
        if edge.action in ("send_back_to_data_entry", "correct_data_entry"):
            reviewed = verified = False
        if edge.action == "approve_final_verification":
            verified = True
        if edge.action == "send_back_to_fill":
            verified = False
        state = edge.target
        # No fill reaches the bench unreviewed, or the patient unverified.
        if state in (S.FILL, S.FINAL_VERIFICATION, S.BILLING_PENDING):
            assert reviewed
        if state in (S.READY, S.SOLD, S.RETURNED_TO_STOCK):
            assert reviewed and verified
        assert (state == S.ON_HOLD) == (held_from is not None)

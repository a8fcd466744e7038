"""The fill state machine: which move a fill may make next, who may make it, and why.

The graph below is the whole of it (Mermaid); `TRANSITIONS` is the same graph as data.
Edges marked [P] are the pharmacist's alone, [R] need a reason; every other edge is open to a
technician or a pharmacist.

```mermaid
stateDiagram-v2
    [*] --> intake
    intake --> data_entry: start data entry
    data_entry --> data_review: submit for review
    data_review --> billing_pending: approve and bill [P]
    data_review --> fill: approve without billing [P]
    data_review --> data_entry: send back [P] [R]
    billing_pending --> waiting_on_switch: submit claim
    billing_pending --> fill: proceed without claim (cash, no coverage)
    waiting_on_switch --> fill: claim paid
    waiting_on_switch --> claim_rejected: claim rejected
    claim_rejected --> billing_pending: rebill
    claim_rejected --> data_entry: correct data entry
    fill --> final_verification: submit for verification
    final_verification --> ready: approve [P]
    final_verification --> fill: send back [P] [R]
    ready --> sold: sell
    ready --> returned_to_stock: return to stock (will-call aging) [R]
    sold --> [*]
    cancelled --> [*]
    returned_to_stock --> [*]
    note right of on_hold
        Every active state but waiting_on_switch --> on_hold [R],
        and on_hold --> the state it was held from (resume).
        Every active state but waiting_on_switch, on_hold included --> cancelled [R].
    end note
```

A fill waiting on the switch has a claim in flight: it can be neither held nor cancelled until
the payer answers (a paid claim would otherwise be left unreversed); the claims layer turns a
switch time-out into a rejection, from which hold and cancel are open again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.errors import PermissionDenied, ValidationFailed

ANYONE_ON_THE_BENCH = frozenset({Role.TECHNICIAN, Role.PHARMACIST})
PHARMACIST_ONLY = frozenset({Role.PHARMACIST})


@dataclass(frozen=True, slots=True)
class Transition:
    """One edge: `action` moves a fill from `source` to `target` for any of `roles`."""

    source: FillState
    target: FillState
    action: str
    roles: frozenset[Role]
    reason_required: bool = False

    @property
    def pharmacist_only(self) -> bool:
        return self.roles == PHARMACIST_ONLY


class TransitionNotAllowed(ValidationFailed):
    """No edge leads from the fill's state to the state asked for."""

    code = "transition-not-allowed"


class RoleRequired(PermissionDenied):
    """The edge exists but none of the user's roles may take it; `facts["required"]` lists them."""

    code = "role-required"


class ReasonRequired(ValidationFailed):
    """Holds, send-backs, cancellations and returns to stock must say why."""

    code = "reason-required"


_FLOW = (
    Transition(FillState.INTAKE, FillState.DATA_ENTRY, "start_data_entry", ANYONE_ON_THE_BENCH),
    Transition(
        FillState.DATA_ENTRY, FillState.DATA_REVIEW, "submit_for_review", ANYONE_ON_THE_BENCH
    ),
    Transition(
        FillState.DATA_REVIEW, FillState.BILLING_PENDING, "approve_and_bill", PHARMACIST_ONLY
    ),
    Transition(FillState.DATA_REVIEW, FillState.FILL, "approve_without_billing", PHARMACIST_ONLY),
    Transition(
        FillState.DATA_REVIEW,
        FillState.DATA_ENTRY,
        "send_back_to_data_entry",
        PHARMACIST_ONLY,
        reason_required=True,
    ),
    Transition(
        FillState.BILLING_PENDING, FillState.WAITING_ON_SWITCH, "submit_claim", ANYONE_ON_THE_BENCH
    ),
    Transition(
        FillState.BILLING_PENDING, FillState.FILL, "proceed_without_claim", ANYONE_ON_THE_BENCH
    ),
    Transition(FillState.WAITING_ON_SWITCH, FillState.FILL, "claim_paid", ANYONE_ON_THE_BENCH),
    Transition(
        FillState.WAITING_ON_SWITCH,
        FillState.CLAIM_REJECTED,
        "claim_rejected",
        ANYONE_ON_THE_BENCH,
    ),
    Transition(FillState.CLAIM_REJECTED, FillState.BILLING_PENDING, "rebill", ANYONE_ON_THE_BENCH),
    Transition(
        FillState.CLAIM_REJECTED, FillState.DATA_ENTRY, "correct_data_entry", ANYONE_ON_THE_BENCH
    ),
    Transition(
        FillState.FILL, FillState.FINAL_VERIFICATION, "submit_for_verification", ANYONE_ON_THE_BENCH
    ),
    Transition(
        FillState.FINAL_VERIFICATION, FillState.READY, "approve_final_verification", PHARMACIST_ONLY
    ),
    Transition(
        FillState.FINAL_VERIFICATION,
        FillState.FILL,
        "send_back_to_fill",
        PHARMACIST_ONLY,
        reason_required=True,
    ),
    Transition(FillState.READY, FillState.SOLD, "sell", ANYONE_ON_THE_BENCH),
    Transition(
        FillState.READY,
        FillState.RETURNED_TO_STOCK,
        "return_to_stock",
        ANYONE_ON_THE_BENCH,
        reason_required=True,
    ),
)

# See the module docstring for why a claim in flight can be neither held nor cancelled.
HOLDABLE_STATES = frozenset(
    state
    for state in FillState
    if state.is_active and state not in (FillState.ON_HOLD, FillState.WAITING_ON_SWITCH)
)
CANCELLABLE_STATES = HOLDABLE_STATES | {FillState.ON_HOLD}
TERMINAL_STATES = frozenset(state for state in FillState if not state.is_active)

TRANSITIONS: tuple[Transition, ...] = (
    _FLOW
    + tuple(
        Transition(state, FillState.ON_HOLD, "put_on_hold", ANYONE_ON_THE_BENCH, True)
        for state in FillState
        if state in HOLDABLE_STATES
    )
    + tuple(
        Transition(FillState.ON_HOLD, state, "resume", ANYONE_ON_THE_BENCH)
        for state in FillState
        if state in HOLDABLE_STATES
    )
    + tuple(
        Transition(state, FillState.CANCELLED, "cancel", ANYONE_ON_THE_BENCH, True)
        for state in FillState
        if state in CANCELLABLE_STATES
    )
)

# Not a move between states, but decided in data review with the same authority.
OVERRIDE_CLINICAL_FINDING_ROLES = PHARMACIST_ONLY

_EDGES = {(edge.source, edge.target): edge for edge in TRANSITIONS}

_NEXT_STEPS = {
    FillState.INTAKE: "Enter the prescription",
    FillState.DATA_ENTRY: "Finish data entry and send for review",
    FillState.DATA_REVIEW: "Pharmacist data review",
    FillState.BILLING_PENDING: "Bill the claim",
    FillState.WAITING_ON_SWITCH: "Waiting for the payer's answer",
    FillState.CLAIM_REJECTED: "Resolve the claim rejection",
    FillState.FILL: "Fill and scan",
    FillState.FINAL_VERIFICATION: "Pharmacist final verification",
    FillState.READY: "Ready for pickup",
    FillState.SOLD: "Done: sold",
    FillState.ON_HOLD: "On hold: resume when the reason is resolved",
    FillState.CANCELLED: "Done: cancelled",
    FillState.RETURNED_TO_STOCK: "Done: returned to stock",
}


def next_step(state: FillState) -> str:
    """What the queue tells the bench to do with a fill in `state`."""
    return _NEXT_STEPS[state]


def _resumes_elsewhere(edge: Transition, held_from: FillState | None) -> bool:
    return edge.action == "resume" and edge.target != held_from


def allowed_transitions(
    state: FillState, roles: Collection[Role], *, held_from: FillState | None = None
) -> list[Transition]:
    """The moves `roles` may make from `state`; a held fill resumes only where it was held."""
    return [
        edge
        for edge in TRANSITIONS
        if edge.source == state
        and edge.roles & set(roles)
        and not _resumes_elsewhere(edge, held_from)
    ]


def check_transition(
    source: FillState,
    target: FillState,
    *,
    roles: Collection[Role],
    reason: str | None,
    held_from: FillState | None = None,
) -> Transition:
    """The edge from `source` to `target`, or the typed error that says why it cannot be taken.

    `held_from` is the state a held fill left, needed only to resume it.
    """
    edge = _EDGES.get((source, target))
    if edge is None:
        raise TransitionNotAllowed(
            f"A fill in “{source.label}” cannot move to “{target.label}”.",
            source=source,
            target=target,
        )
    if _resumes_elsewhere(edge, held_from):
        where = f"“{held_from.label}”" if held_from else "an unknown state"
        raise TransitionNotAllowed(
            f"This fill was put on hold from {where}: it can only resume there, "
            f"not in “{target.label}”.",
            source=source,
            target=target,
            held_from=held_from,
        )
    if not edge.roles & set(roles):
        required = sorted(edge.roles)
        raise RoleRequired(
            f"Only a {' or a '.join(role.label.lower() for role in required)} may move a fill "
            f"from “{source.label}” to “{target.label}”.",
            required=required,
            action=edge.action,
        )
    if edge.reason_required and not (reason and reason.strip()):
        raise ReasonRequired(
            f"Say why the fill moves from “{source.label}” to “{target.label}”.",
            source=source,
            target=target,
            action=edge.action,
        )
    return edge


def check_clinical_override(roles: Collection[Role]) -> None:
    """Overriding a clinical finding (interaction, allergy, duplication) is a pharmacist's call."""
    if not OVERRIDE_CLINICAL_FINDING_ROLES & set(roles):
        raise RoleRequired(
            "Only a pharmacist may override a clinical finding.",
            required=sorted(OVERRIDE_CLINICAL_FINDING_ROLES),
            action="override_clinical_finding",
        )

"""Eight workstations (processes) race for the same 1,000 fills on PostgreSQL: no fill is held
twice, no update is lost, and every transition has exactly one audit event.

Every step is a claim (take_next) and a move (advance), except the Fill step, which is what
the Verify panel does with the fill it claimed: open it, accept its one stock bottle (scanned by
the UPC of a real demo catalogue package, the lot typed) and complete it to final verification.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import AuditEvent, Fill, FillBottle, FillTransition, StockLot, StockMovement
from app.domain.fill_states import FillState
from app.services.unit_of_work import Actor
from app.workstation_race import NEXT, QUANTITY, run_workstation, seed_race
from tests.conftest import BACKEND

WORKERS = 8
FILLS = 1_000
SHELF_LOT = "RACE-LOT-1"
SPARE = Decimal(500)
STEPS = len(NEXT)

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql",
    reason="several workstations share a database only on PostgreSQL (SQLite serves one)",
)


def test_eight_workstations_move_a_thousand_fills_without_double_claims_or_lost_updates(
    services: Services, admin: Actor, database_url: str
) -> None:
    pairs = seed_race(
        services.database, admin, fills=FILLS, workers=WORKERS, lot_number=SHELF_LOT, spare=SPARE
    )
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        steps = pool.starmap(
            run_workstation,
            [(database_url, tech, pharm, SHELF_LOT) for tech, pharm in pairs],
        )
    elapsed = time.perf_counter() - started
    moved = sum(len(worker) for worker in steps)
    print(f"\n{moved} transitions by {WORKERS} processes in {elapsed:.1f} s")

    assert moved == FILLS * STEPS
    with services.database.reading() as session:
        fills = session.execute(select(Fill.id, Fill.state, Fill.version)).all()
        transitions = session.execute(
            select(
                FillTransition.fill_id, FillTransition.from_state, FillTransition.to_state
            ).order_by(FillTransition.id)
        ).all()
        events = session.execute(
            select(AuditEvent.entity_id, AuditEvent.action, AuditEvent.username)
            .where(AuditEvent.entity_type == "fills")
            .order_by(AuditEvent.id)
        ).all()
        bottle_events = session.execute(
            select(AuditEvent.summary, AuditEvent.username).where(
                AuditEvent.action == "fill.bottle_accepted"
            )
        ).all()
        bottles = session.execute(
            select(FillBottle.fill_id, FillBottle.quantity, FillBottle.voided_at)
        ).all()
        on_hand = session.scalars(
            select(StockLot.on_hand).where(StockLot.lot_number == SHELF_LOT)
        ).one()
        ledger = session.scalar(
            select(func.sum(StockMovement.quantity))
            .join(StockLot, StockMovement.lot_id == StockLot.id)
            .where(StockLot.lot_number == SHELF_LOT)
        )

    # Each fill took exactly one bottle, accepted once, with its one audit event.
    assert sorted(fill_id for fill_id, _, _ in bottles) == sorted(
        fill_id for fill_id, _, _ in fills
    )
    assert all(quantity == QUANTITY and voided is None for _, quantity, voided in bottles)
    accepted_for = Counter(int(summary["fill_id"]) for summary, _ in bottle_events)
    assert set(accepted_for.values()) == {1} and len(accepted_for) == FILLS
    # No lost update on the shelf either: the lot's balance is its ledger, every bottle taken.
    assert on_hand == ledger == SPARE

    # No lost update: every fill is ready, its version counts every committed change (each
    # take and move, and the bottle accepted at the Fill step).
    updates = Counter(
        int(e.entity_id) for e in events if e.action in ("fill.taken", "fill.advanced")
    )
    assert {state for _, state, _ in fills} == {FillState.READY.value}
    assert all(
        version == updates[fill_id] + accepted_for[fill_id] + 1 == 2 * STEPS + 2
        for fill_id, _, version in fills
    )

    # No duplicate transition: each fill took each step exactly once, in order.
    steps: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for fill_id, source, target in transitions:
        steps[fill_id].append((source, target))
    expected = [(source.value, target.value) for source, target in NEXT.items()]
    assert len(steps) == FILLS and all(path == expected for path in steps.values())

    # No double claim: each take is followed by that same person's move, before any other take
    # (opening a fill its opener already holds takes nothing), and the bottle of a fill was
    # accepted by the one who took it at the Fill step.
    history: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for entity_id, action, username in events:
        history[int(entity_id)].append((action, username))
    for fill_history in history.values():
        assert [action for action, _ in fill_history] == ["fill.taken", "fill.advanced"] * STEPS
        takers, movers = fill_history[0::2], fill_history[1::2]
        assert [user for _, user in takers] == [user for _, user in movers]
    fill_step = list(NEXT).index(FillState.FILL)
    for summary, username in bottle_events:
        assert history[int(summary["fill_id"])][2 * fill_step] == ("fill.taken", username)

    # Exactly one audit event per transition.
    advanced = [e for e in events if e.action == "fill.advanced"]
    assert len(advanced) == len(transitions) == FILLS * STEPS

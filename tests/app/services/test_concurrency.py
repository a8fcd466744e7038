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
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select

from app.bootstrap import Services
from app.db.engine import create_database_engine, describe_database
from app.db.models import (
    AuditEvent,
    DrugPackage,
    Fill,
    FillBottle,
    FillTransition,
    Patient,
    Prescriber,
    Prescription,
    StockLot,
    StockMovement,
    User,
    UserRole,
)
from app.demo import DEMO_CATALOGUE_DIR, load_catalogue_subset
from app.domain.barcodes import upc_a_for
from app.domain.fill_states import FillState
from app.domain.ndc import parse_ndc
from app.domain.roles import Role
from app.services.unit_of_work import Actor, Database
from app.services.verification import VerificationService
from app.services.workflow import WorkflowService
from tests.conftest import BACKEND

WORKERS = 8
FILLS = 1_000
QUANTITY = Decimal(30)
PACKAGE_NDC = "65862-039-30"  # lisinopril, 30 tablets: one bottle fills a fill
BOTTLE_UPC = upc_a_for(parse_ndc(PACKAGE_NDC))
SHELF_LOT = "RACE-LOT-1"
ON_SHELF = QUANTITY * FILLS + 500
NEXT = {
    FillState.INTAKE: FillState.DATA_ENTRY,
    FillState.DATA_ENTRY: FillState.DATA_REVIEW,
    FillState.DATA_REVIEW: FillState.FILL,
    FillState.FILL: FillState.FINAL_VERIFICATION,
    FillState.FINAL_VERIFICATION: FillState.READY,
}
PHARMACIST_STATES = (FillState.DATA_REVIEW, FillState.FINAL_VERIFICATION)
TECHNICIAN_STATES = (FillState.INTAKE, FillState.DATA_ENTRY, FillState.FILL)
STEPS = len(NEXT)

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql",
    reason="several workstations share a database only on PostgreSQL (SQLite serves one)",
)


def _worker(url: str, technician: Actor, pharmacist: Actor) -> int:
    """One workstation: take the next fill either person may work on and move it one step (at
    the Fill step: open it, accept its bottle and complete it, as the Verify panel does)."""
    engine = create_database_engine(url)
    database = Database(engine, describe_database(engine.url))
    workflow, verification = WorkflowService(database), VerificationService(database)
    moved = 0
    turns = [(pharmacist, PHARMACIST_STATES), (technician, TECHNICIAN_STATES)]
    try:
        while True:
            row = None
            for actor, states in turns:
                row = workflow.take_next(actor, states=states)
                if row is not None:
                    break
            if row is None:
                with engine.connect() as connection:
                    unfinished = connection.scalar(
                        select(Fill.id).where(Fill.state != FillState.READY.value).limit(1)
                    )
                if unfinished is None:
                    return moved
                time.sleep(0.005)  # another workstation holds what is left
                continue
            if row.state is FillState.FILL:
                view = verification.open_fill(actor, row.fill_id)
                accepted = verification.accept_bottle(
                    actor,
                    row.fill_id,
                    text=BOTTLE_UPC,
                    manual=False,
                    quantity=QUANTITY,
                    expected_version=view.version,
                    lot_number=SHELF_LOT,
                )
                verification.complete(actor, row.fill_id, expected_version=accepted.fill_version)
            else:
                workflow.advance(
                    actor, row.fill_id, to_state=NEXT[row.state], expected_version=row.version
                )
            moved += 1
            turns.reverse()
    finally:
        engine.dispose()


def _seed(services: Services, admin: Actor) -> list[tuple[Actor, Actor]]:
    """1,000 fills at intake of a real demo catalogue package, each for its own fictional
    patient; a lot of that package on the shelf for all of them; a technician and a pharmacist
    per workstation."""
    load_catalogue_subset(services.database, admin, DEMO_CATALOGUE_DIR)
    engine = services.database.engine
    with engine.begin() as connection:
        package_id = connection.scalars(
            select(DrugPackage.id).where(DrugPackage.ndc == PACKAGE_NDC)
        ).one()
        lot_id = connection.execute(
            insert(StockLot).returning(StockLot.id),
            {
                "package_id": package_id,
                "lot_number": SHELF_LOT,
                "expiry": date.today() + timedelta(days=730),
                "status": "available",
                "on_hand": ON_SHELF,
            },
        ).scalar_one()
        connection.execute(
            insert(StockMovement),
            {"lot_id": lot_id, "kind": "received", "quantity": ON_SHELF, "workstation": "seed"},
        )
        prescriber_id = connection.execute(
            insert(Prescriber).returning(Prescriber.id),
            {"last_name": "Racewell", "first_name": "Orla", "npi": "1999999984"},
        ).scalar_one()
        patient_ids = connection.execute(
            insert(Patient).returning(Patient.id, sort_by_parameter_order=True),
            [
                {
                    "last_name": f"Sprinter{n}",
                    "first_name": "Ada",
                    "date_of_birth": date(1970, 1, 1),
                    "sex": "F",
                }
                for n in range(FILLS)
            ],
        ).scalars()
        prescription_ids = connection.execute(
            insert(Prescription).returning(Prescription.id, sort_by_parameter_order=True),
            [
                {
                    "rx_number": str(8_000_000 + n),
                    "patient_id": patient_id,
                    "prescriber_id": prescriber_id,
                    "package_id": package_id,
                    "written_date": date.today(),
                    "quantity": QUANTITY,
                    "days_supply": 30,
                }
                for n, patient_id in enumerate(patient_ids)
            ],
        ).scalars()
        connection.execute(
            insert(Fill),
            [
                {
                    "prescription_id": prescription_id,
                    "state": FillState.INTAKE.value,
                    "quantity": QUANTITY,
                    "days_supply": 30,
                }
                for prescription_id in prescription_ids
            ],
        )
        pairs = []
        for n in range(WORKERS):
            actors = []
            for role in (Role.TECHNICIAN, Role.PHARMACIST):
                username = f"{role.value[:4]}{n}"
                user_id = connection.execute(
                    insert(User).returning(User.id),
                    {"username": username, "full_name": username, "password_hash": "-"},
                ).scalar_one()
                connection.execute(insert(UserRole), {"user_id": user_id, "role": role.value})
                actors.append(Actor(user_id, username, username, frozenset({role}), f"station-{n}"))
            pairs.append((actors[0], actors[1]))
    return pairs


def test_eight_workstations_move_a_thousand_fills_without_double_claims_or_lost_updates(
    services: Services, admin: Actor, database_url: str
) -> None:
    pairs = _seed(services, admin)
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        moved = pool.starmap(_worker, [(database_url, tech, pharm) for tech, pharm in pairs])
    elapsed = time.perf_counter() - started
    print(f"\n{sum(moved)} transitions by {WORKERS} processes in {elapsed:.1f} s")

    assert sum(moved) == FILLS * STEPS
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
    assert on_hand == ledger == ON_SHELF - QUANTITY * FILLS

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

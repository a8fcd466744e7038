"""Eight workstations (processes) race for the same 1,000 fills on PostgreSQL: no fill is held
twice, no update is lost, and every transition has exactly one audit event."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from app.bootstrap import Services
from app.db.engine import create_database_engine, describe_database
from app.db.models import (
    AuditEvent,
    DrugPackage,
    DrugProduct,
    Fill,
    FillTransition,
    Patient,
    Prescriber,
    Prescription,
    User,
    UserRole,
)
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.services.unit_of_work import Actor, Database
from app.services.workflow import WorkflowService
from tests.conftest import BACKEND

WORKERS = 8
FILLS = 1_000
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
    """One workstation: take the next fill either person may work on and move it one step."""
    engine = create_database_engine(url)
    workflow = WorkflowService(Database(engine, describe_database(engine.url)))
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
            workflow.advance(
                actor, row.fill_id, to_state=NEXT[row.state], expected_version=row.version
            )
            moved += 1
            turns.reverse()
    finally:
        engine.dispose()


def _seed(services: Services) -> list[tuple[Actor, Actor]]:
    """1,000 fills at intake, each for its own fictional patient, and a technician and a
    pharmacist per workstation."""
    engine = services.database.engine
    with engine.begin() as connection:
        product_id = connection.execute(
            insert(DrugProduct).returning(DrugProduct.id),
            {"fda_product_id": "RACE-1", "product_ndc": "99999-001", "substance_name": "ATENOLOL"},
        ).scalar_one()
        package_id = connection.execute(
            insert(DrugPackage).returning(DrugPackage.id),
            {"product_id": product_id, "ndc": "99999-001-01", "ndc11": "99999000101"},
        ).scalar_one()
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
                    "quantity": Decimal(30),
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
                    "quantity": Decimal(30),
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
    services: Services, database_url: str
) -> None:
    pairs = _seed(services)
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

    # No lost update: every fill is ready, its version counts every committed change.
    updates = Counter(
        int(e.entity_id) for e in events if e.action in ("fill.taken", "fill.advanced")
    )
    assert {state for _, state, _ in fills} == {FillState.READY.value}
    assert all(version == updates[fill_id] + 1 == 2 * STEPS + 1 for fill_id, _, version in fills)

    # No duplicate transition: each fill took each step exactly once, in order.
    steps: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for fill_id, source, target in transitions:
        steps[fill_id].append((source, target))
    expected = [(source.value, target.value) for source, target in NEXT.items()]
    assert len(steps) == FILLS and all(path == expected for path in steps.values())

    # No double claim: each take is followed by that same person's move, before any other take.
    history: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for entity_id, action, username in events:
        history[int(entity_id)].append((action, username))
    for fill_history in history.values():
        assert [action for action, _ in fill_history] == ["fill.taken", "fill.advanced"] * STEPS
        takers, movers = fill_history[0::2], fill_history[1::2]
        assert [user for _, user in takers] == [user for _, user in movers]

    # Exactly one audit event per transition.
    advanced = [e for e in events if e.action == "fill.advanced"]
    assert len(advanced) == len(transitions) == FILLS * STEPS

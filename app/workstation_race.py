"""Several workstations racing one another through the fill workflow on a shared database.

The concurrency test (no double claim, no lost update) and the throughput benchmark run the
same floor, so what the benchmark measures is what the test proves correct. Each step is what a
workstation really commits: take the next fill (SKIP LOCKED), then move it one step — except the
Fill step, which is what the Verify panel does with the fill it took: open it, accept its one
stock bottle (the UPC of a real demo catalogue package, the lot typed) and complete it.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import insert, select

from app.db.engine import create_database_engine, describe_database
from app.db.models import (
    DrugPackage,
    Fill,
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

QUANTITY = Decimal(30)
PACKAGE_NDC = "65862-039-30"  # lisinopril, 30 tablets: one bottle fills a fill
BOTTLE_UPC = upc_a_for(parse_ndc(PACKAGE_NDC))
NEXT = {
    FillState.INTAKE: FillState.DATA_ENTRY,
    FillState.DATA_ENTRY: FillState.DATA_REVIEW,
    FillState.DATA_REVIEW: FillState.FILL,
    FillState.FILL: FillState.FINAL_VERIFICATION,
    FillState.FINAL_VERIFICATION: FillState.READY,
}
PHARMACIST_STATES = (FillState.DATA_REVIEW, FillState.FINAL_VERIFICATION)
TECHNICIAN_STATES = (FillState.INTAKE, FillState.DATA_ENTRY, FillState.FILL)
ADVANCE, VERIFY = "claim + advance", "verification"


def seed_race(
    database: Database,
    loader: Actor,
    *,
    fills: int,
    workers: int,
    lot_number: str,
    spare: Decimal = Decimal(0),
) -> list[tuple[Actor, Actor]]:
    """`fills` fills at intake, each for its own fictional patient; one lot on the shelf for
    all of them (plus `spare`); a technician and a pharmacist per workstation."""
    load_catalogue_subset(database, loader, DEMO_CATALOGUE_DIR)
    on_shelf = QUANTITY * fills + spare
    with database.engine.begin() as connection:
        package_id = connection.scalars(
            select(DrugPackage.id).where(DrugPackage.ndc == PACKAGE_NDC)
        ).one()
        lot_id = connection.execute(
            insert(StockLot).returning(StockLot.id),
            {
                "package_id": package_id,
                "lot_number": lot_number,
                "expiry": date.today() + timedelta(days=730),
                "status": "available",
                "on_hand": on_shelf,
            },
        ).scalar_one()
        connection.execute(
            insert(StockMovement),
            {"lot_id": lot_id, "kind": "received", "quantity": on_shelf, "workstation": "seed"},
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
                for n in range(fills)
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
        for n in range(workers):
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


def run_workstation(
    url: str, technician: Actor, pharmacist: Actor, lot_number: str
) -> list[tuple[str, float]]:
    """One workstation until no fill is left: take the next fill either person may work on and
    move it one step. Returns each step's kind and its time, from the first claim attempt (one
    person's states may have nothing waiting) to the commit of its last transaction."""
    engine = create_database_engine(url)
    database = Database(engine, describe_database(engine.url))
    workflow, verification = WorkflowService(database), VerificationService(database)
    steps: list[tuple[str, float]] = []
    turns = [(pharmacist, PHARMACIST_STATES), (technician, TECHNICIAN_STATES)]
    try:
        while True:
            started = time.perf_counter()
            for actor, states in turns:
                row = workflow.take_next(actor, states=states)
                if row is not None:
                    break
            else:
                with engine.connect() as connection:
                    unfinished = connection.scalar(
                        select(Fill.id).where(Fill.state != FillState.READY.value).limit(1)
                    )
                if unfinished is None:
                    return steps
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
                    lot_number=lot_number,
                )
                verification.complete(actor, row.fill_id, expected_version=accepted.fill_version)
                steps.append((VERIFY, time.perf_counter() - started))
            else:
                workflow.advance(
                    actor, row.fill_id, to_state=NEXT[row.state], expected_version=row.version
                )
                steps.append((ADVANCE, time.perf_counter() - started))
            turns.reverse()
    finally:
        engine.dispose()

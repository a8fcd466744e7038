"""Workflow throughput on PostgreSQL: N workstation processes claim and advance fills.

Each transition is what a workstation really commits: take the next fill (SKIP LOCKED, its
own committed transaction, audited, with a change note), then move it one step (a second
committed transaction) with its history row, audit event, work-list items, screening at data
review and a change note with NOTIFY. The Fill step is not an `advance` (no fill reaches the
pharmacist unverified): there the workstation does what the Verify panel does with the fill it
claimed: open it, accept its one stock bottle (the UPC of a real demo catalogue package, the lot
typed, from one shared lot) and complete it, three more committed transactions.

Reports the claim + advance transitions as before (throughput and the p50/p95 time of one
transition, claim start to move commit) and the verification step apart, each throughput
over its share of the run (the wall time split by the time the workstations spent on each),
so the claim + advance figure stays comparable with runs made before the Fill step was
verified. Target: at least 200 claim + advance transitions a second with 8 processes. The
database named on the command line is dropped and re-created.

    python bench/claim_throughput.py postgresql://postgres@127.0.0.1:5432/rxbench_bench_claims
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import time
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from app.db import migrate
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

NEXT = {
    FillState.INTAKE: FillState.DATA_ENTRY,
    FillState.DATA_ENTRY: FillState.DATA_REVIEW,
    FillState.DATA_REVIEW: FillState.FILL,
    FillState.FILL: FillState.FINAL_VERIFICATION,
    FillState.FINAL_VERIFICATION: FillState.READY,
}
PHARMACIST_STATES = (FillState.DATA_REVIEW, FillState.FINAL_VERIFICATION)
TECHNICIAN_STATES = (FillState.INTAKE, FillState.DATA_ENTRY, FillState.FILL)
QUANTITY = Decimal(30)
PACKAGE_NDC = "65862-039-30"  # lisinopril, 30 tablets: one bottle fills a fill
BOTTLE_UPC = upc_a_for(parse_ndc(PACKAGE_NDC))
SHELF_LOT = "BENCH-LOT-1"
ADVANCE, VERIFY = "claim + advance", "verification"


def recreate(url: str) -> None:
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def seed(url: str, *, fills: int, workers: int) -> list[tuple[Actor, Actor]]:
    """`fills` fills at intake of a real demo catalogue package for as many fictional patients,
    a lot of it on the shelf for all of them, and two users per workstation."""
    engine = create_database_engine(url)
    migrate.upgrade(engine)
    loader = Actor(None, "bench", "Benchmark seed", frozenset({Role.ADMINISTRATOR}), "bench")
    load_catalogue_subset(
        Database(engine, describe_database(engine.url)), loader, DEMO_CATALOGUE_DIR
    )
    on_shelf = QUANTITY * fills
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
                "on_hand": on_shelf,
            },
        ).scalar_one()
        connection.execute(
            insert(StockMovement),
            {"lot_id": lot_id, "kind": "received", "quantity": on_shelf, "workstation": "bench"},
        )
        prescriber_id = connection.execute(
            insert(Prescriber).returning(Prescriber.id),
            {"last_name": "Benchley", "first_name": "Orla", "npi": "1999999984"},
        ).scalar_one()
        patients = connection.execute(
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
        prescriptions = connection.execute(
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
                for n, patient_id in enumerate(patients)
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
                for prescription_id in prescriptions
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
                actors.append(Actor(user_id, username, username, frozenset({role}), f"bench-{n}"))
            pairs.append((actors[0], actors[1]))
    engine.dispose()
    return pairs


def work(url: str, technician: Actor, pharmacist: Actor) -> list[tuple[str, float]]:
    """One workstation: take the next fill either person may work on, move it one step (at the
    Fill step: open it, accept its bottle, complete it).

    Returns each step's kind and how long it took, from the first claim attempt (one person's
    states may have nothing waiting) to the commit of its last transaction.
    """
    engine = create_database_engine(url)
    database = Database(engine, describe_database(engine.url))
    workflow, verification = WorkflowService(database), VerificationService(database)
    durations: list[tuple[str, float]] = []
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
                    left = connection.scalar(
                        select(Fill.id).where(Fill.state != FillState.READY.value).limit(1)
                    )
                if left is None:
                    return durations
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
                durations.append((VERIFY, time.perf_counter() - started))
            else:
                workflow.advance(
                    actor, row.fill_id, to_state=NEXT[row.state], expected_version=row.version
                )
                durations.append((ADVANCE, time.perf_counter() - started))
            turns.reverse()
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--fills", type=int, default=1_000)
    args = parser.parse_args()
    recreate(args.database_url)
    pairs = seed(args.database_url, fills=args.fills, workers=args.workers)
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers) as pool:
        pool.apply(time.sleep, (0,))  # the processes are up before the clock starts
        started = time.perf_counter()
        timed = pool.starmap(work, [(args.database_url, tech, pharm) for tech, pharm in pairs])
        elapsed = time.perf_counter() - started
    steps = [step for worker in timed for step in worker]
    busy = sum(duration for _, duration in steps)
    print(
        f"{len(steps)} steps by {args.workers} processes in {elapsed:.1f} s "
        f"({len(steps) / elapsed:.0f} steps/s)"
    )
    for kind, what, target in (
        (ADVANCE, "claim + advance + audit + change notice, committed", " (target >= 200)"),
        (VERIFY, "claim + open + accept one bottle + complete, committed", ""),
    ):
        durations = sorted(duration for step, duration in steps if step == kind)
        share = elapsed * sum(durations) / busy  # this kind's part of the wall time
        print(
            f"  {kind}: {len(durations)} ({what}): {len(durations) / share:.0f}/s{target}; "
            f"each p50 {_percentile(durations, 50) * 1000:.1f} ms, "
            f"p95 {_percentile(durations, 95) * 1000:.1f} ms"
        )


def _percentile(ordered: list[float], percent: int) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


if __name__ == "__main__":
    main()

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

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import migrate
from app.db.engine import create_database_engine, describe_database
from app.domain.roles import Role
from app.services.unit_of_work import Actor, Database
from app.workstation_race import ADVANCE, VERIFY, run_workstation, seed_race

SHELF_LOT = "BENCH-LOT-1"


def recreate(url: str) -> None:
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def seed(url: str, *, fills: int, workers: int) -> list[tuple[Actor, Actor]]:
    engine = create_database_engine(url)
    migrate.upgrade(engine)
    loader = Actor(None, "bench", "Benchmark seed", frozenset({Role.ADMINISTRATOR}), "bench")
    try:
        database = Database(engine, describe_database(engine.url))
        return seed_race(database, loader, fills=fills, workers=workers, lot_number=SHELF_LOT)
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
        timed = pool.starmap(
            run_workstation,
            [(args.database_url, tech, pharm, SHELF_LOT) for tech, pharm in pairs],
        )
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

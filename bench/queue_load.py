"""Fill queue load: 5,000 active fills among 200,000 historical, service call to populated model.

Measures `FillQueryService.queue` plus `FillQueueModel.set_rows` (offscreen Qt), the work the
window does on every refresh. Target: at most 100 ms. The database is seeded once with
bench/seed.py and reused when it already holds fills.

    python bench/queue_load.py sqlite:///bench/out/queue.sqlite3
    python bench/queue_load.py postgresql://postgres@127.0.0.1:5432/rxbench_bench_queue
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from PySide6.QtWidgets import QApplication
from seed import seed
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from app.db.engine import create_database_engine, describe_database
from app.db.models import Fill
from app.domain.roles import Role
from app.services.fills import FillQueryService
from app.services.unit_of_work import Actor, Database
from ui.models.fills import FillQueueModel

ACTOR = Actor(None, "bench", "Queue benchmark", frozenset({Role.TECHNICIAN}), "bench")


def _fill_count(url: str) -> int:
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(Fill)) or 0
    except (OperationalError, ProgrammingError):
        return 0  # no schema yet
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--fills", type=int, default=200_000)
    parser.add_argument("--active", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if _fill_count(args.database_url) == 0:
        started = time.perf_counter()
        seed(args.database_url, patients=args.patients, fills=args.fills, active=args.active)
        print(f"seeded {args.fills} fills in {time.perf_counter() - started:.0f} s")
    app = QApplication.instance() or QApplication([])
    engine = create_database_engine(args.database_url)
    service = FillQueryService(Database(engine, describe_database(engine.url)))
    model = FillQueueModel()
    timings, queries = [], []
    for _ in range(args.runs + 1):
        started = time.perf_counter()
        rows = service.queue(ACTOR)
        queried = time.perf_counter()
        model.set_rows(rows)
        timings.append((time.perf_counter() - started) * 1000)
        queries.append((queried - started) * 1000)
    # The first run pays for connecting and compiling the statement.
    timings, queries = timings[1:], queries[1:]
    app.processEvents()
    engine.dispose()
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * len(timings)))]
    print(
        f"queue of {model.rowCount()} active fills among {_fill_count(args.database_url)}: "
        f"median {statistics.median(timings):.0f} ms, p95 {p95:.0f} ms, "
        f"max {timings[-1]:.0f} ms over {args.runs} runs (target <= 100 ms); of which the "
        f"service call: median {statistics.median(queries):.0f} ms"
    )


if __name__ == "__main__":
    main()

"""Inventory at scale: on-hand lookup and the suggested-order report over a large stock ledger.

Builds (once) a database of 30,000 package NDCs, each with a reorder level, about three lots
each (a few expired, about 2 % quarantined), and 1,000,000 ledger rows: one receipt per lot and
dispensing movements spread over the last 180 days (without fills: the report reads the ledger
alone). Rows go in with bulk Core inserts, the lots' maintained balances agreeing with their
movements. Then it measures:

- on-hand lookup for one package, `InventoryService.on_hand` (all lots) and the reorder
  service's dispensable on-hand (available, unexpired lots), over 1,000 random packages:
  p50/p95, target ≤ 10 ms;
- the suggested-order report, `ReorderService.suggested_order` over 30 and 90 days: best and
  median of 3 runs, target ≤ 2 s;
- the Inventory dock's reads (`StockQueryService`): the lot list whole, searched by drug words
  and by an NDC fragment, and in its views (best and median of 3 runs); one package's lots, its
  500 newest movements and its usage per day over 30, 90 and 365 days, over the same 1,000
  packages and the busiest one: p50/p95, target ≤ 50 ms.

    python bench/inventory_scale.py                       # SQLite: bench/out/inventory.sqlite3
    python bench/inventory_scale.py --database postgresql://postgres@127.0.0.1:5432/bench_inv
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import cast

from sqlalchemy import Engine, Table, bindparam, func, insert, select, update

from app.bootstrap import Services, build_services
from app.config import Settings
from app.db.models import DrugPackage, DrugProduct, StockLevel, StockLot, StockMovement
from app.domain.roles import Role
from app.services.reorder import available_on_hand
from app.services.stock import StockView
from app.services.unit_of_work import Actor

HERE = Path(__file__).resolve().parent
DEFAULT_DB = HERE / "out" / "inventory.sqlite3"
PACKAGES = 30_000
LEDGER_ROWS = 1_000_000
BATCH = 20_000
HISTORY_DAYS = 180


def _batched(engine: Engine, table: type, rows: list[dict[str, object]]) -> None:
    with engine.begin() as connection:
        for start in range(0, len(rows), BATCH):
            connection.execute(insert(table), rows[start : start + BATCH])


def build(engine: Engine, today: date, rng: random.Random) -> None:
    started = time.perf_counter()
    _batched(
        engine,
        DrugProduct,
        [
            {
                "fda_product_id": f"BENCH-{n}",
                "product_ndc": f"7{n:04d}-{n % 1000:03d}",
                "proprietary_name": f"Benchmarkol {n}",
                "nonproprietary_name": "benchmarkol",
                "dosage_form": "TABLET",
                "strength": str(5 * (1 + n % 8)),
                "strength_unit": "mg/1",
                "search_name": f"benchmarkol {n}",
                "search_text": f"benchmarkol {n} benchmarkol {5 * (1 + n % 8)} mg 1 tablet",
            }
            for n in range(PACKAGES)
        ],
    )
    with engine.connect() as connection:
        product_ids = connection.scalars(select(DrugProduct.id).order_by(DrugProduct.id)).all()
    sizes = (30, 90, 100, 500, 1000)
    _batched(
        engine,
        DrugPackage,
        [
            {
                "product_id": product_id,
                "ndc": f"7{n:04d}-{n % 1000:03d}-01",
                "ndc11": f"7{n:04d}{n % 1000:04d}01"[:11],
                "description": "100 TABLET in 1 BOTTLE",
                "billing_quantity": Decimal(sizes[n % len(sizes)]),
                "billing_quantity_source": "parsed",
                "search_ndc": f"7{n:04d}{n % 1000:03d}01 7{n:04d}{n % 1000:04d}01"[:22],
            }
            for n, product_id in enumerate(product_ids)
        ],
    )
    with engine.connect() as connection:
        package_ids = connection.scalars(select(DrugPackage.id).order_by(DrugPackage.id)).all()
    _batched(
        engine,
        StockLevel,
        [
            {"package_id": package_id, "minimum": Decimal(m), "maximum": Decimal(m * 3)}
            for package_id in package_ids
            for m in [rng.choice((50, 100, 200, 500))]
        ],
    )
    lots: list[dict[str, object]] = []
    for package_id in package_ids:
        for number in range(rng.choice((2, 3, 3, 4))):
            expiry = today + timedelta(days=rng.randint(-60, 900))
            lots.append(
                {
                    "package_id": package_id,
                    "lot_number": f"L{package_id}-{number}",
                    "expiry": expiry,
                    "status": "quarantined" if rng.random() < 0.02 else "available",
                    "location": "shelf",
                    "on_hand": Decimal(0),
                }
            )
    _batched(engine, StockLot, lots)
    with engine.connect() as connection:
        lot_ids = connection.scalars(select(StockLot.id).order_by(StockLot.id)).all()
    now = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    received = {lot_id: rng.choice((500, 1000, 2000, 5000)) for lot_id in lot_ids}
    balance = dict(received)
    movements: list[dict[str, object]] = [
        {
            "lot_id": lot_id,
            "kind": "received",
            "quantity": Decimal(quantity),
            "workstation": "bench",
            "occurred_at": now - timedelta(days=HISTORY_DAYS + 1),
        }
        for lot_id, quantity in received.items()
    ]
    for _ in range(LEDGER_ROWS - len(movements)):
        lot_id = lot_ids[rng.randrange(len(lot_ids))]
        quantity = rng.choice((1, 2, 5, 10, 30, 60, 90))
        balance[lot_id] -= quantity
        movements.append(
            {
                "lot_id": lot_id,
                "kind": "dispensed",
                "quantity": Decimal(-quantity),
                "workstation": "bench",
                "occurred_at": now - timedelta(seconds=rng.randrange(HISTORY_DAYS * 86_400)),
            }
        )
    _batched(engine, StockMovement, movements)
    # The lots' maintained balances, as the ledger would have kept them (negatives allowed here:
    # a random ledger overdraws a few busy lots).
    table = cast(Table, StockLot.__table__)
    with engine.begin() as connection:
        rows = [{"lot": lot_id, "on_hand": Decimal(value)} for lot_id, value in balance.items()]
        statement = (
            update(table).where(table.c.id == bindparam("lot")).values(on_hand=bindparam("on_hand"))
        )
        for start in range(0, len(rows), BATCH):
            connection.execute(statement, rows[start : start + BATCH])
    if engine.dialect.name == "postgresql":
        # As autovacuum would after a bulk load: without statistics the planner guesses 200
        # lots a package and scans the whole ledger for one package's movements (150 ms, not 10).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    print(
        f"built {len(package_ids):,} packages, {len(lot_ids):,} lots, {len(movements):,} ledger "
        f"rows in {time.perf_counter() - started:.1f} s"
    )


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"p50 {statistics.median(ordered) * 1000:6.2f} ms  p95 {p95 * 1000:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", help=f"database URL (default: {DEFAULT_DB})")
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
    url = args.database or f"sqlite:///{DEFAULT_DB}"
    settings = Settings(
        database_url=url,
        workstation="bench",
        config_dir=DEFAULT_DB.parent / "config",
        data_dir=DEFAULT_DB.parent / "data",
    )
    services = build_services(settings)
    engine = services.database.engine
    today = date.today()
    rng = random.Random(1304)
    with engine.connect() as connection:
        movements = connection.scalar(select(func.count()).select_from(StockMovement)) or 0
    if movements == 0:
        print("Building the ledger first…")
        build(engine, today, rng)
    elif movements < LEDGER_ROWS:
        raise SystemExit(f"{url} holds {movements:,} ledger rows: use an empty database")
    with engine.connect() as connection:
        package_ids = connection.scalars(select(DrugPackage.id)).all()
        movements = connection.scalar(select(func.count()).select_from(StockMovement)) or 0
    actor = Actor(None, "bench", "Benchmark", frozenset({Role.TECHNICIAN}), "bench")
    sample = rng.sample(sorted(package_ids), min(args.lookups, len(package_ids)))

    all_lots: list[float] = []
    for package_id in sample:
        started = time.perf_counter()
        services.inventory.on_hand(actor, package_id)
        all_lots.append(time.perf_counter() - started)
    dispensable: list[float] = []
    for package_id in sample:
        started = time.perf_counter()
        with services.database.reading() as session:
            available_on_hand(session, [package_id], today)
        dispensable.append(time.perf_counter() - started)

    reports: dict[int, list[float]] = {30: [], 90: []}
    lines: dict[int, int] = {}
    for _ in range(args.rounds):
        for window in reports:
            started = time.perf_counter()
            lines[window] = len(services.reorder.suggested_order(actor, window_days=window))
            reports[window].append(time.perf_counter() - started)
    dock = _dock_reads(services, actor, sample, args.rounds)
    services.close()

    print(f"{services.database.description}: {len(package_ids):,} packages, {movements:,} rows")
    print(f"  on-hand, all lots ({len(sample)} packages):        {_percentiles(all_lots)}")
    print(f"  on-hand, dispensable lots ({len(sample)} packages): {_percentiles(dispensable)}")
    for window, samples in reports.items():
        print(
            f"  suggested order, {window} days ({lines[window]:,} lines): best "
            f"{min(samples):.3f} s  median {statistics.median(samples):.3f} s"
        )
    for line in dock:
        print(f"  {line}")


def _dock_reads(services: Services, actor: Actor, sample: list[int], rounds: int) -> list[str]:
    """The Inventory dock's reads, one line of figures each."""
    stock = services.stock
    lines: list[str] = []
    lists = {
        "lot list, all": lambda: stock.on_hand(actor),
        "lot list, search 'benchmarkol 15'": lambda: stock.on_hand(actor, search="benchmarkol 15"),
        "lot list, search NDC '70123'": lambda: stock.on_hand(actor, search="70123"),
        "lot list, below minimum": lambda: stock.on_hand(actor, view=StockView.BELOW_MINIMUM),
        "lot list, expired": lambda: stock.on_hand(actor, view=StockView.EXPIRED),
    }
    for name, read in lists.items():
        samples: list[float] = []
        for _ in range(rounds):
            started = time.perf_counter()
            rows = len(read())
            samples.append(time.perf_counter() - started)
        lines.append(
            f"{name} ({rows:,} lots): best {min(samples):.3f} s  "
            f"median {statistics.median(samples):.3f} s"
        )
    with services.database.reading() as session:
        busiest = session.execute(
            select(StockLot.package_id, func.count(StockMovement.id))
            .join(StockMovement, StockMovement.lot_id == StockLot.id)
            .group_by(StockLot.package_id)
            .order_by(func.count(StockMovement.id).desc())
            .limit(1)
        ).one()
    per_package = {
        "package lots": lambda package_id: stock.package_stock(actor, package_id),
        "movements (500 newest)": lambda package_id: stock.movements(actor, package_id),
        **{
            f"usage per day, {days} days": (
                lambda package_id, days=days: stock.usage_by_day(actor, package_id, days=days)
            )
            for days in (30, 90, 365)
        },
    }
    for name, read in per_package.items():
        timings: list[float] = []
        for package_id in sample:
            started = time.perf_counter()
            read(package_id)
            timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        read(busiest[0])
        worst = time.perf_counter() - started
        lines.append(
            f"{name} ({len(sample)} packages): {_percentiles(timings)}  "
            f"busiest ({busiest[1]:,} movements) {worst * 1000:.2f} ms"
        )
    return lines


if __name__ == "__main__":
    main()

"""Catalogue import benchmark: the full FDA NDC Directory through CatalogueService.

Compares the wall time of `import_directory` (reading and checking the zip, bulk upserts,
search index, one commit) on a fresh SQLite file with a raw `sqlite3.executemany` of the same
product and package rows into bare tables (no indexes, no search index) with the same pragmas.
Targets on SQLite: import ≤ 20 s and ≤ 5× the raw executemany. With --database URL the import
runs against that database instead (e.g. PostgreSQL), without the raw comparison.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from app.bootstrap import build_services
from app.catalogue.fda_directory import ProductRecord, read_directory
from app.config import Settings
from app.domain.roles import Role
from app.services.unit_of_work import Actor

DEFAULT_DIRECTORY = Path("/work/shared/data/fda-ndc-directory-2019-04-29/ndctext.zip")
_PRODUCT_FIELDS = list(ProductRecord.__dataclass_fields__)


def _import(url: str, directory: Path, work: Path) -> float:
    settings = Settings(
        database_url=url, workstation="bench", config_dir=work / "config", data_dir=work / "data"
    )
    services = build_services(settings)
    actor = Actor(None, "bench", "Benchmark", frozenset({Role.ADMINISTRATOR}), "bench")
    try:
        started = time.perf_counter()
        report = services.catalogue.import_directory(actor, directory)
        elapsed = time.perf_counter() - started
    finally:
        services.close()
    print(
        f"  imported {report.products:,} products and {report.packages:,} packages "
        f"({report.products_added:,} / {report.packages_added:,} new)"
    )
    return elapsed


def _raw_executemany(directory: Path, path: Path) -> tuple[float, float]:
    """(seconds to read and check the zip, seconds for executemany + commit of its rows)."""
    started = time.perf_counter()
    records = read_directory(directory)
    read = time.perf_counter() - started
    products = [
        tuple(
            value.isoformat() if hasattr(value, "isoformat") else value
            for value in (getattr(record, field) for field in _PRODUCT_FIELDS)
        )
        for record in records.products
    ]
    packages = [
        (
            record.fda_product_id,
            record.ndc,
            record.ndc11,
            record.description,
            float(record.quantities.package_quantity or 0),
            record.quantities.package_unit,
            record.quantities.billing_unit,
            float(record.quantities.billing_quantity or 0),
            record.sample_package,
            record.start_marketing_date.isoformat() if record.start_marketing_date else None,
            record.end_marketing_date.isoformat() if record.end_marketing_date else None,
            record.ndc_exclude_flag,
        )
        for record in records.packages
    ]
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute(
        f"CREATE TABLE products (id INTEGER PRIMARY KEY, {', '.join(_PRODUCT_FIELDS)})"
    )
    connection.execute(
        "CREATE TABLE packages (id INTEGER PRIMARY KEY, product, ndc, ndc11, description, "
        "package_quantity, package_unit, billing_unit, billing_quantity, sample, start, end, "
        "exclude_flag)"
    )
    started = time.perf_counter()
    connection.execute("BEGIN")
    marks = ", ".join("?" * len(_PRODUCT_FIELDS))
    connection.executemany(
        f"INSERT INTO products ({', '.join(_PRODUCT_FIELDS)}) VALUES ({marks})", products
    )
    connection.executemany(
        "INSERT INTO packages (product, ndc, ndc11, description, package_quantity, package_unit, "
        "billing_unit, billing_quantity, sample, start, end, exclude_flag) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        packages,
    )
    connection.execute("COMMIT")
    raw = time.perf_counter() - started
    connection.close()
    return read, raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--directory", type=Path, default=DEFAULT_DIRECTORY)
    parser.add_argument("--database", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    if not args.directory.exists():
        sys.exit(f"{args.directory} is not here: pass --directory path/to/ndctext.zip")
    with tempfile.TemporaryDirectory(prefix="rxbench-bench-") as temporary:
        work = Path(temporary)
        if args.database:
            print(f"Importing into {args.database.split('@')[-1]}:")
            seconds = _import(args.database, args.directory, work)
            print(f"  import_directory: {seconds:.2f} s")
            return
        print("Importing into a fresh SQLite file:")
        seconds = _import(f"sqlite:///{work / 'rxbench.sqlite3'}", args.directory, work)
        read, raw = _raw_executemany(args.directory, work / "raw.sqlite3")
        print(f"  import_directory:              {seconds:6.2f} s   (target ≤ 20 s)")
        print(f"  of which reading the zip:      {read:6.2f} s")
        print(f"  raw sqlite3.executemany+commit: {raw:6.2f} s")
        print(f"  ratio import / raw:            {seconds / raw:6.2f}×  (target ≤ 5×)")
        print(f"  ratio (import - read) / raw:   {(seconds - read) / raw:6.2f}×")


if __name__ == "__main__":
    main()

"""Catalogue import benchmark: the full FDA NDC Directory through CatalogueService.

Compares the wall time of `import_directory` (reading and checking the zip, building the rows,
bulk inserts, secondary indexes, search index, one commit) on a fresh SQLite file with a raw
`sqlite3.executemany` baseline: the very rows the import wrote, read back from its file, into
tables with the same columns and declared types but no index, constraint or search index, with
the same pragmas (WAL, synchronous=FULL, the import's cache size) and one commit. The baseline
is what storing those rows costs at the least; everything the import does beyond it (reading,
checking, computing the rows, indexes, FTS5) is what the ratio measures.
Targets on SQLite: import ≤ 20 s and ≤ 5× the raw executemany. Both are run --rounds times,
alternately, each on fresh files, and compared by their best and by their median rounds: on a
shared machine one run of either can be slowed by half. With --database URL the import runs
against that database instead (an empty PostgreSQL database, say), without the comparison.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app.bootstrap import build_services
from app.catalogue.fda_directory import read_directory
from app.config import Settings
from app.domain.roles import Role
from app.services.unit_of_work import Actor

DEFAULT_DIRECTORY = Path("/work/shared/data/fda-ndc-directory-2019-04-29/ndctext.zip")
_TABLES = ("drug_products", "drug_packages")
# The import's own cache size (app.services.catalogue), so the baseline is not handicapped.
_CACHE_KIB = 256 * 1024


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


def _read_seconds(directory: Path) -> float:
    """Seconds to read and check the zip, as the import does it (cycle collector paused)."""
    gc.disable()
    try:
        started = time.perf_counter()
        read_directory(directory)
        return time.perf_counter() - started
    finally:
        gc.enable()


def _raw_executemany(imported: Path, path: Path) -> float:
    """Seconds for executemany + commit of the imported rows into bare tables of the same shape."""
    source = sqlite3.connect(imported)
    shapes = {
        table: [(name, kind) for _, name, kind, *_ in source.execute(f"PRAGMA table_info({table})")]
        for table in _TABLES
    }
    rows = {
        table: source.execute(f"SELECT * FROM {table} ORDER BY id").fetchall() for table in _TABLES
    }
    source.close()
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
    for table, columns in shapes.items():
        # The rowid primary key is the table itself; every other column is bare.
        definitions = ", ".join(
            f"{name} {kind} PRIMARY KEY" if name == "id" else f"{name} {kind}"
            for name, kind in columns
        )
        connection.execute(f"CREATE TABLE {table} ({definitions})")
    started = time.perf_counter()
    connection.execute("BEGIN")
    for table, columns in shapes.items():
        marks = ", ".join("?" * len(columns))
        connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows[table])
    connection.execute("COMMIT")
    raw = time.perf_counter() - started
    connection.close()
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--directory", type=Path, default=DEFAULT_DIRECTORY)
    parser.add_argument("--database", help="database URL (default: fresh SQLite files)")
    parser.add_argument("--rounds", type=int, default=3, help="import and raw runs on SQLite")
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
        print("Importing into fresh SQLite files:")
        imports, raws, reads = [], [], []
        for round_number in range(args.rounds):
            imported = work / f"rxbench-{round_number}.sqlite3"
            imports.append(_import(f"sqlite:///{imported}", args.directory, work))
            raws.append(_raw_executemany(imported, work / f"raw-{round_number}.sqlite3"))
            reads.append(_read_seconds(args.directory))
            print(
                f"  round {round_number + 1}: import {imports[-1]:6.2f} s, raw {raws[-1]:5.2f} s, "
                f"ratio {imports[-1] / raws[-1]:5.2f}×"
            )
        for label, pick in (("best", min), ("median", statistics.median)):
            seconds, raw, read = pick(imports), pick(raws), pick(reads)
            print(f"  {label} of {args.rounds} rounds:")
            print(f"    import_directory:               {seconds:6.2f} s   (target ≤ 20 s)")
            print(f"    of which reading the zip:       {read:6.2f} s")
            print(f"    raw sqlite3.executemany+commit: {raw:6.2f} s")
            print(f"    ratio import / raw:             {seconds / raw:6.2f}×  (target ≤ 5×)")
            print(f"    ratio (import - read) / raw:    {(seconds - read) / raw:6.2f}×")


if __name__ == "__main__":
    main()

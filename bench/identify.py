"""Scan-to-answer latency of `IdentifyService.identify` on the full FDA NDC Directory.

In-process, as the workstation calls it: a mix of UPC-A, GTIN-14, GS1 DataMatrix element
strings (GTIN, expiry, lot, serial) and typed NDCs (hyphenated, NDC-11, ten bare digits) built
from random real packages, each identified alone and with `expect` (the verdict path). Target:
p95 ≤ 5 ms. The catalogue is imported into bench/out/catalogue.sqlite3 on first use.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from datetime import date
from pathlib import Path

from sqlalchemy import select

from app.bootstrap import build_services
from app.config import Settings
from app.db.models import DrugPackage
from app.domain.barcodes import GS, gs1_element_string, gtin14_for, upc_a_for
from app.domain.ndc import parse_ndc
from app.domain.roles import Role
from app.services.unit_of_work import Actor

HERE = Path(__file__).resolve().parent
DEFAULT_DB = HERE / "out" / "catalogue.sqlite3"
DEFAULT_DIRECTORY = Path("/work/shared/data/fda-ndc-directory-2019-04-29/ndctext.zip")
KINDS = ("upc", "gtin14", "gs1", "ndc-hyphenated", "ndc11", "ndc10-digits")


def _scan_text(kind: str, ndc_text: str, rng: random.Random) -> str:
    ndc = parse_ndc(ndc_text)
    if kind == "upc":
        return upc_a_for(ndc)
    if kind == "gtin14":
        return gtin14_for(ndc, rng.randint(0, 8))
    if kind == "gs1":
        lot = f"L{rng.randint(10_000, 99_999)}"
        return gs1_element_string(
            gtin14_for(ndc), expiry=date(2028, 3, 31), lot=lot, serial="S1", gs=GS
        )
    if kind == "ndc-hyphenated":
        return ndc.hyphenated
    if kind == "ndc11":
        return ndc.ndc11
    return ndc.ndc10_digits


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (
        f"p50 {statistics.median(ordered) * 1000:5.2f} ms  p95 {p95 * 1000:5.2f} ms  "
        f"max {ordered[-1] * 1000:6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", help=f"database URL (default: {DEFAULT_DB})")
    parser.add_argument("--directory", type=Path, default=DEFAULT_DIRECTORY)
    parser.add_argument("--packages", type=int, default=500, help="random real packages")
    args = parser.parse_args()
    DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        database_url=args.database or f"sqlite:///{DEFAULT_DB}",
        workstation="bench",
        config_dir=DEFAULT_DB.parent / "config",
        data_dir=DEFAULT_DB.parent / "data",
    )
    services = build_services(settings)
    actor = Actor(None, "bench", "Benchmark", frozenset({Role.TECHNICIAN}), "bench")
    if services.catalogue.snapshot() is None:
        print("Importing the catalogue first…")
        admin = Actor(None, "bench", "Benchmark", frozenset({Role.ADMINISTRATOR}), "bench")
        services.catalogue.import_directory(admin, args.directory)
    rng = random.Random(20190429)
    with services.database.reading() as session:
        ndcs = sorted(set(session.scalars(select(DrugPackage.ndc)).all()))
    sample = rng.sample(ndcs, args.packages)
    inputs = [(kind, _scan_text(kind, ndc, rng), ndc) for ndc in sample for kind in KINDS]
    rng.shuffle(inputs)
    for _, text, _ in inputs[:50]:  # warm the connection pool and the page cache
        services.identify.identify(actor, text)
    timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
    judged: list[float] = []
    statuses: Counter[str] = Counter()
    for kind, text, ndc in inputs:
        started = time.perf_counter()
        found = services.identify.identify(actor, text)
        timings[kind].append(time.perf_counter() - started)
        statuses[found.status] += 1
        started = time.perf_counter()
        services.identify.identify(actor, text, expect=ndc)
        judged.append(time.perf_counter() - started)
    services.close()
    print(f"{services.database.description}: {len(ndcs):,} package NDCs, {len(inputs)} inputs")
    for kind in KINDS:
        print(f"  {kind:<15} {_percentiles(timings[kind])}")
    everything = [sample for samples in timings.values() for sample in samples]
    print(f"  {'all':<15} {_percentiles(everything)}   (target p95 ≤ 5 ms)")
    print(f"  {'with --expect':<15} {_percentiles(judged)}")
    print(f"  statuses: {dict(statuses)}")


if __name__ == "__main__":
    main()

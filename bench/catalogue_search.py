"""Search-as-you-type benchmark on the full FDA NDC Directory.

Times `CatalogueService.search` over every prefix (2+ characters) of random product names and
random 4-10 digit NDC fragments, as a technician types them, against the raw index query alone
(FTS5 MATCH or trigram LIKE on SQLite, trigram LIKE on PostgreSQL, LIMIT 50, no ranking, no
join). Target: search p95 ≤ 20 ms on SQLite and PostgreSQL. The catalogue is imported on first
use.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from sqlalchemy import func, select, text

from app.bootstrap import build_services
from app.config import Settings
from app.db.models import DrugPackage, DrugProduct
from app.domain.roles import Role
from app.services.catalogue import search_words
from app.services.unit_of_work import Actor

HERE = Path(__file__).resolve().parent
DEFAULT_DB = HERE / "out" / "catalogue.sqlite3"
DEFAULT_DIRECTORY = Path("/work/shared/data/fda-ndc-directory-2019-04-29/ndctext.zip")


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"p50 {statistics.median(ordered) * 1000:6.2f} ms  p95 {p95 * 1000:6.2f} ms"


def _raw_index_query(sqlite: bool, kind: str, query: str) -> tuple[str, dict[str, str]]:
    """The index lookup alone, as the search uses it: words on products, NDC digits on
    packages (FTS5 MATCH and the trigram LIKE on SQLite, trigram LIKE on PostgreSQL)."""
    if kind == "ndc":
        source = "rowid FROM catalogue_search_ndc" if sqlite else "id FROM drug_packages"
        return f"SELECT {source} WHERE search_ndc LIKE :d LIMIT 50", {"d": f"%{query}%"}
    words = query.split()
    if sqlite:
        # As the search does: one letter is no prefix the index holds.
        match = " AND ".join(f'"{word}"*' for word in [w for w in words if len(w) > 1] or words)
        return (
            "SELECT rowid FROM catalogue_search WHERE catalogue_search MATCH :m LIMIT 50",
            {"m": match},
        )
    conditions = " AND ".join(f"(' ' || search_text) LIKE :w{index}" for index in range(len(words)))
    return (
        f"SELECT id FROM drug_products WHERE {conditions} LIMIT 50",
        {f"w{index}": f"% {word}%" for index, word in enumerate(words)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", help=f"database URL (default: {DEFAULT_DB})")
    parser.add_argument("--directory", type=Path, default=DEFAULT_DIRECTORY)
    parser.add_argument("--names", type=int, default=150, help="product names typed")
    parser.add_argument("--fragments", type=int, default=300, help="NDC fragments typed")
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
    actor = Actor(None, "bench", "Benchmark", frozenset({Role.ADMINISTRATOR}), "bench")
    if services.catalogue.snapshot() is None:
        print("Importing the catalogue first…")
        services.catalogue.import_directory(actor, args.directory)
    rng = random.Random(20190429)
    with services.database.reading() as session:
        # Sorted, so both backends type the same queries.
        names = sorted(set(session.scalars(select(DrugProduct.proprietary_name))))
        ndcs = sorted(session.scalars(select(DrugPackage.ndc)))
        packages = session.scalar(select(func.count()).select_from(DrugPackage))
    queries: list[tuple[str, str]] = []
    for name in rng.sample(names, args.names):
        word = search_words(name)
        queries += [("name", word[:end]) for end in range(2, min(len(word), 12) + 1)]
    for ndc in rng.sample(ndcs, args.fragments):
        digits = ndc.replace("-", "")
        length = rng.randint(4, 10)
        start = rng.randint(0, len(digits) - length)
        queries.append(("ndc", digits[start : start + length]))
    sqlite = services.database.engine.dialect.name == "sqlite"
    timings: dict[str, list[float]] = {"name": [], "ndc": []}
    raw_timings: dict[str, list[float]] = {"name": [], "ndc": []}
    for kind, query in queries:
        started = time.perf_counter()
        services.catalogue.search(actor, query)
        timings[kind].append(time.perf_counter() - started)
    with services.database.engine.connect() as connection:
        for kind, query in queries:
            statement, parameters = _raw_index_query(sqlite, kind, query)
            started = time.perf_counter()
            connection.execute(text(statement), parameters).all()
            raw_timings[kind].append(time.perf_counter() - started)
    services.close()
    print(f"{services.database.description}: {packages:,} packages")
    for kind, label in (("name", "name prefixes"), ("ndc", "NDC fragments")):
        print(f"  {label} ({len(timings[kind])} searches)")
        print(f"    CatalogueService.search  {_percentiles(timings[kind])}")
        print(f"    raw index query          {_percentiles(raw_timings[kind])}")
    everything = timings["name"] + timings["ndc"]
    print(f"  all searches: {_percentiles(everything)}   (target: p95 ≤ 20 ms)")


if __name__ == "__main__":
    main()

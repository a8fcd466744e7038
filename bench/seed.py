"""Fill a database with a realistic pharmacy's history for benchmarks.

20,000 patients and 200,000 past fills by default, written with bulk Core inserts (minutes of
ORM work otherwise). Drugs come from the demo subset of the FDA NDC Directory. Every name is
generated and fictional.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, insert, select

from app.db import migrate
from app.db.engine import create_database_engine
from app.db.models import (
    DrugPackage,
    DrugProduct,
    Fill,
    Patient,
    Prescriber,
    Prescription,
    StockLot,
)
from app.domain.fill_states import FillState
from app.domain.identifiers import npi_check_digit

DEMO_CATALOGUE = Path(__file__).resolve().parents[1] / "resources" / "demo" / "ndc-demo"
FIRST_NAMES = (
    "Avery Blake Casey Devon Emery Finley Harper Jordan Kendall Logan Morgan Parker".split()
)
LAST_NAMES = "Abbott Bramble Corliss Dunmore Ellery Fairweather Gresham Holloway Ingram".split()
BATCH = 5_000


def _read_fda(name: str) -> list[dict[str, str]]:
    with (DEMO_CATALOGUE / name).open(encoding="cp1252", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def _date(text: str) -> date | None:
    return datetime.strptime(text, "%Y%m%d").date() if text else None


def _seed_catalogue(engine: Engine) -> list[int]:
    products = _read_fda("product.txt")
    packages = _read_fda("package.txt")
    with engine.begin() as connection:
        ids: dict[str, int] = {}
        for row in products:
            ids[row["PRODUCTID"]] = connection.execute(
                insert(DrugProduct).returning(DrugProduct.id),
                {
                    "fda_product_id": row["PRODUCTID"],
                    "product_ndc": row["PRODUCTNDC"],
                    "product_type": row["PRODUCTTYPENAME"],
                    "proprietary_name": row["PROPRIETARYNAME"],
                    "proprietary_name_suffix": row["PROPRIETARYNAMESUFFIX"],
                    "nonproprietary_name": row["NONPROPRIETARYNAME"],
                    "dosage_form": row["DOSAGEFORMNAME"],
                    "route": row["ROUTENAME"],
                    "start_marketing_date": _date(row["STARTMARKETINGDATE"]),
                    "end_marketing_date": _date(row["ENDMARKETINGDATE"]),
                    "marketing_category": row["MARKETINGCATEGORYNAME"],
                    "application_number": row["APPLICATIONNUMBER"],
                    "labeler": row["LABELERNAME"],
                    "substance_name": row["SUBSTANCENAME"],
                    "strength": row["ACTIVE_NUMERATOR_STRENGTH"],
                    "strength_unit": row["ACTIVE_INGRED_UNIT"],
                    "pharm_classes": row["PHARM_CLASSES"],
                    "dea_schedule": row["DEASCHEDULE"] or None,
                    "ndc_exclude_flag": row["NDC_EXCLUDE_FLAG"],
                    "discontinued": False,
                },
            ).scalar_one()
        package_ids = []
        for row in packages:
            if row["PRODUCTID"] not in ids:
                continue
            labeler, product, package = row["NDCPACKAGECODE"].split("-")
            package_ids.append(
                connection.execute(
                    insert(DrugPackage).returning(DrugPackage.id),
                    {
                        "product_id": ids[row["PRODUCTID"]],
                        "ndc": row["NDCPACKAGECODE"],
                        "ndc11": f"{labeler:0>5}{product:0>4}{package:0>2}",
                        "description": row["PACKAGEDESCRIPTION"],
                        "billing_unit": "EA",
                        "sample_package": row["SAMPLE_PACKAGE"] == "Y",
                        "ndc_exclude_flag": row["NDC_EXCLUDE_FLAG"],
                    },
                ).scalar_one()
            )
    return package_ids


def seed(url: str, *, patients: int, fills: int, active: int, seed_value: int = 7) -> None:
    """Create the schema and the volume; `active` of the fills are still in the queue."""
    rng = random.Random(seed_value)
    engine = create_database_engine(url)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        if connection.scalar(select(func.count()).select_from(Fill)):
            raise SystemExit(f"{url} already holds fills; seed an empty database")
    package_ids = _seed_catalogue(engine)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(Prescriber),
            [
                {
                    "last_name": rng.choice(LAST_NAMES),
                    "first_name": rng.choice(FIRST_NAMES),
                    "credentials": "MD",
                    "npi": f"1{n:08d}{npi_check_digit(f'1{n:08d}')}",
                }
                for n in range(1, 201)
            ],
        )
        for start in range(0, patients, BATCH):
            connection.execute(
                insert(Patient),
                [
                    {
                        "last_name": rng.choice(LAST_NAMES),
                        "first_name": rng.choice(FIRST_NAMES),
                        "date_of_birth": date(1930, 1, 1) + timedelta(days=rng.randrange(30_000)),
                        "sex": rng.choice("FMXU"),
                        "phone": f"(555) 01{rng.randrange(100):02d}",
                    }
                    for _ in range(start, min(start + BATCH, patients))
                ],
            )
        connection.execute(
            insert(StockLot),
            [
                {
                    "package_id": package_id,
                    "lot_number": f"L{package_id:05d}",
                    "expiry": date(2028, 1, 31),
                    "on_hand": Decimal(500),
                }
                for package_id in package_ids
            ],
        )
        active_states = [state.value for state in FillState if state.is_active]
        rx_number = 1_000_000
        for start in range(0, fills, BATCH):
            size = min(start + BATCH, fills) - start
            prescriptions = [
                {
                    "rx_number": str(rx_number + offset),
                    "patient_id": rng.randrange(1, patients + 1),
                    "prescriber_id": rng.randrange(1, 201),
                    "package_id": rng.choice(package_ids),
                    "written_date": (now - timedelta(days=rng.randrange(400))).date(),
                    "quantity": Decimal(30),
                    "days_supply": 30,
                    "sig_code": "1 T PO QD",
                    "directions": "Take 1 tablet by mouth once daily",
                }
                for offset in range(size)
            ]
            ids = connection.execute(
                insert(Prescription).returning(Prescription.id, sort_by_parameter_order=True),
                prescriptions,
            ).scalars()
            connection.execute(
                insert(Fill),
                [
                    {
                        "prescription_id": prescription_id,
                        "fill_number": 0,
                        "state": (
                            rng.choice(active_states)
                            if start + index < active
                            else FillState.SOLD.value
                        ),
                        "quantity": Decimal(30),
                        "days_supply": 30,
                        "created_at": now - timedelta(minutes=rng.randrange(600_000)),
                        "state_changed_at": now,
                    }
                    for index, prescription_id in enumerate(ids)
                ],
            )
            rx_number += size
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--fills", type=int, default=200_000)
    parser.add_argument("--active", type=int, default=5_000)
    args = parser.parse_args()
    started = time.perf_counter()
    seed(args.database_url, patients=args.patients, fills=args.fills, active=args.active)
    elapsed = time.perf_counter() - started
    print(f"seeded {args.patients} patients, {args.fills} fills in {elapsed:.1f} s")


if __name__ == "__main__":
    main()

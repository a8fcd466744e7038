"""The service part of scan-to-verdict latency: `VerificationService.judge` and `accept_bottle`
(its commit included) on the full FDA NDC Directory.

In-process, as the workstation calls them. Fills at the Fill step are seeded for random real
packages counted by the unit; each is opened, then a DataMatrix of its own package (new lot:
the lot is created and the balance goes negative, the worst case) is judged and accepted, and
a scan of another random package is judged (mostly wrong drug). The Verify dock adds its own
painting on top. The catalogue is imported into bench/out/verify.sqlite3 on first use; pass
--database for PostgreSQL.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from app.bootstrap import Services, build_services
from app.config import Settings
from app.db.models import (
    DrugPackage,
    DrugProduct,
    Fill,
    Patient,
    Prescriber,
    Prescription,
    User,
)
from app.domain.barcodes import GS, gs1_element_string, gtin14_for
from app.domain.fill_states import FillState
from app.domain.ndc import parse_ndc
from app.domain.roles import Role
from app.services.pharmacy import PharmacyProfile
from app.services.unit_of_work import Actor

HERE = Path(__file__).resolve().parent
DEFAULT_DB = HERE / "out" / "verify.sqlite3"
DEFAULT_DIRECTORY = Path("/work/shared/data/fda-ndc-directory-2019-04-29/ndctext.zip")
PASSWORD = "bench-password-1"
PROFILE = PharmacyProfile(
    name="Bench Pharmacy",
    address_line1="1 Bench Road",
    city="Springfield",
    state="IL",
    postal_code="62701",
    phone="217-555-0199",
    npi="1234567893",
    ncpdp_id="1234567",
    dea_number="BT1234563",
)
FILL_QUANTITY = Decimal(30)


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (
        f"p50 {statistics.median(ordered) * 1000:6.2f} ms  p95 {p95 * 1000:6.2f} ms  "
        f"max {ordered[-1] * 1000:7.2f} ms"
    )


def _people(services: Services) -> tuple[Actor, Actor]:
    """The administrator-pharmacist and a technician, created on first use."""
    with services.database.reading() as session:
        exists = session.scalar(select(func.count(User.id))) or 0
    if not exists:
        admin = services.pharmacy.first_run(
            PROFILE,
            admin_username="benchadmin",
            admin_full_name="Bench Admin",
            admin_password=PASSWORD,
        )
        services.users.add_user(
            admin,
            username="benchtech",
            full_name="Bench Technician",
            password=PASSWORD,
            roles=frozenset({Role.TECHNICIAN}),
        )
    return (
        services.auth.login("benchadmin", PASSWORD),
        services.auth.login("benchtech", PASSWORD),
    )


def _seed_fills(services: Services, admin: Actor, package_ids: list[int]) -> list[int]:
    """One fictional patient's prescription per package, its fill at the Fill step."""
    fill_ids = []
    with services.database.unit_of_work(admin) as uow:
        session = uow.session
        prescriber = session.scalars(select(Prescriber)).first()
        if prescriber is None:
            prescriber = Prescriber(last_name="Benchley", first_name="Iona", npi="1245319599")
            session.add(prescriber)
            uow.audit("bench.seeded", prescriber)
        first_rx = 8_000_000 + (session.scalar(select(func.count(Prescription.id))) or 0)
        for index, package_id in enumerate(package_ids):
            patient = Patient(
                last_name=f"Benchpatient{index}",
                first_name="Wendell",
                date_of_birth=date(1960, 1, 1) + timedelta(days=index),
                sex="U",
            )
            prescription = Prescription(
                rx_number=str(first_rx + index),
                patient=patient,
                prescriber=prescriber,
                package_id=package_id,
                written_date=date.today() - timedelta(days=1),
                quantity=FILL_QUANTITY,
                days_supply=30,
                directions="Take 1 tablet by mouth once daily",
            )
            fill = Fill(
                prescription=prescription,
                state=FillState.FILL.value,
                quantity=FILL_QUANTITY,
                days_supply=30,
            )
            session.add_all([patient, prescription, fill])
            session.flush()
            for record in (patient, prescription, fill):
                uow.audit("bench.seeded", record)
            fill_ids.append(fill.id)
    return fill_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", help=f"database URL (default: {DEFAULT_DB})")
    parser.add_argument("--directory", type=Path, default=DEFAULT_DIRECTORY)
    parser.add_argument("--fills", type=int, default=300, help="fills to verify")
    args = parser.parse_args()
    DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        database_url=args.database or f"sqlite:///{DEFAULT_DB}",
        workstation="bench",
        config_dir=DEFAULT_DB.parent / "config",
        data_dir=DEFAULT_DB.parent / "data",
        password_hash_profile="fast-insecure-for-tests",
    )
    services = build_services(settings)
    admin, technician = _people(services)
    if services.catalogue.snapshot() is None:
        print("Importing the catalogue first…")
        services.catalogue.import_directory(admin, args.directory)
    rng = random.Random(20190429)
    with services.database.reading() as session:
        counted = session.execute(
            select(DrugPackage.id, DrugPackage.ndc)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
            .where(
                DrugPackage.billing_unit == "EA",
                DrugPackage.billing_quantity >= FILL_QUANTITY,
                DrugPackage.sample_package.is_(False),
                DrugProduct.dosage_form.in_(("TABLET", "CAPSULE", "TABLET, FILM COATED")),
                DrugProduct.discontinued.is_(False),
            )
            .order_by(DrugPackage.id)
        ).all()
        every_ndc = sorted(set(session.scalars(select(DrugPackage.ndc)).all()))
        package_count = len(every_ndc)
    chosen = rng.sample(counted, args.fills)
    fill_ids = _seed_fills(services, admin, [package_id for package_id, _ in chosen])
    verification = services.verification
    judged, judged_other, accepted = [], [], []
    verdicts: dict[str, int] = {}
    for index, (fill_id, (package_id, ndc)) in enumerate(zip(fill_ids, chosen, strict=True)):
        view = verification.open_fill(technician, fill_id)
        lot, expiry = f"B{rng.randint(10_000, 99_999)}", date.today() + timedelta(days=400)
        # On the shelf first: a bottle of a lot never received would take it below zero.
        services.inventory.receive(
            technician, package_id, lot_number=lot, expiry=expiry, quantity=FILL_QUANTITY
        )
        scan = gs1_element_string(
            gtin14_for(parse_ndc(ndc)),
            expiry=expiry,
            lot=lot,
            serial=f"BENCH{fill_id}X{index}",
            gs=GS,
        )
        other = gs1_element_string(gtin14_for(parse_ndc(rng.choice(every_ndc))), lot="X1")
        started = time.perf_counter()
        judgement = verification.judge(technician, fill_id, text=scan)
        judged.append(time.perf_counter() - started)
        started = time.perf_counter()
        wrong = verification.judge(technician, fill_id, text=other)
        judged_other.append(time.perf_counter() - started)
        verdicts[str(wrong.verdict)] = verdicts.get(str(wrong.verdict), 0) + 1
        assert judgement.suggested_quantity is not None, judgement.message
        started = time.perf_counter()
        verification.accept_bottle(
            technician,
            fill_id,
            text=scan,
            manual=False,
            quantity=judgement.suggested_quantity,
            expected_version=view.version,
            cii_count=(judgement.suggested_quantity, judgement.suggested_quantity),
        )
        accepted.append(time.perf_counter() - started)
    services.close()
    print(f"{services.database.description}: {package_count:,} package NDCs, {len(fill_ids)} fills")
    # The first few calls warm the connection pool and the page cache; they are kept.
    print(f"  judge, own package       {_percentiles(judged)}")
    print(f"  judge, another package   {_percentiles(judged_other)}   verdicts {verdicts}")
    print(f"  accept_bottle + commit   {_percentiles(accepted)}")


if __name__ == "__main__":
    main()

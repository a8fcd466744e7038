"""A 50-fill sale end to end at the register: p50/p95 of the whole sale and of its completion.

One sale is what a technician does for a family picking up a month of prescriptions: open the
sale, add 50 ready fills (each priced from its paid claim), a card for half and cash for the
rest, the receipt signature, then complete — 50 fills moved to sold through the workflow with
their history, audit events and change notes in one transaction. Each run sells 50 fresh fills
of one patient, seeded beforehand into a freshly migrated database.

    python bench/sale_50_fills.py [database_url] [--runs 10] [--fills 50]
    python bench/sale_50_fills.py postgresql://postgres@127.0.0.1:5432/rxbench_bench_sale
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.adapters.payment_terminal import FakeTerminal
from app.db import migrate
from app.db.base import utc_now
from app.db.engine import create_database_engine, describe_database
from app.db.models import (
    Claim,
    DrugPackage,
    DrugProduct,
    Fill,
    InsuranceCoverage,
    Patient,
    Prescriber,
    Prescription,
    User,
    UserRole,
)
from app.demo import demo_signature_png
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.services.payment import PaymentService, SignaturePurpose, TenderKind
from app.services.unit_of_work import Actor, Database

SEEDED = "bench.seeded"


def _fresh_database(url: str | None) -> tuple[str, Path | None]:
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="rxbench-sale-"))
        return f"sqlite:///{folder / 'sale.sqlite3'}", folder
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        admin = create_database_engine(
            parsed.set(database="postgres").render_as_string(hide_password=False)
        )
        with admin.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    return url, None


def _seed(
    database: Database, *, sales: int, fills: int
) -> tuple[Actor, list[tuple[int, list[int]]]]:
    """A technician, and per sale a patient with `fills` ready fills, each with a paid claim."""
    bootstrap = Actor(None, "bench", "Bench", frozenset({Role.ADMINISTRATOR}), "bench")
    plan: list[tuple[int, list[int]]] = []
    with database.unit_of_work(bootstrap) as uow:
        session = uow.session
        user = User(
            username="benchtech",
            full_name="Bench Technician",
            password_hash="-",
            roles=[UserRole(role=Role.TECHNICIAN.value)],
        )
        product = DrugProduct(
            fda_product_id="BENCH-1",
            product_ndc="99999-001",
            proprietary_name="Benchapril",
            nonproprietary_name="Benchapril",
            dosage_form="TABLET",
            substance_name="BENCHAPRIL",
            strength="10",
            strength_unit="mg/1",
        )
        package = DrugPackage(
            product=product, ndc="99999-001-01", ndc11="99999000101", description="100 TABLET"
        )
        prescriber = Prescriber(last_name="Hemlock", first_name="Iona", npi="1245319599")
        session.add_all([user, product, package, prescriber])
        for record in (user, product, package, prescriber):
            uow.audit(SEEDED, record)
        rx_number = 8_000_000
        for sale in range(sales):
            patient = Patient(
                last_name=f"Family{sale}",
                first_name="Bench",
                date_of_birth=date(1970, 1, 1),
                sex="F",
                privacy_notice_acknowledged_on=date(2026, 1, 1),
            )
            coverage = InsuranceCoverage(
                patient=patient,
                rank=1,
                plan_name="Bench Plan",
                bin="610999",
                pcn="RXTRAIN",
                cardholder_id=f"B{sale:06d}",
            )
            session.add_all([patient, coverage])
            uow.audit(SEEDED, patient)
            uow.audit(SEEDED, coverage)
            fill_ids = []
            for _ in range(fills):
                rx_number += 1
                prescription = Prescription(
                    rx_number=str(rx_number),
                    patient=patient,
                    prescriber=prescriber,
                    package=package,
                    written_date=utc_now().date() - timedelta(days=30),
                    quantity=Decimal(30),
                    days_supply=30,
                    refills_authorized=5,
                )
                # Refills: no counseling is due, as for a family's monthly pickup.
                fill = Fill(
                    prescription=prescription,
                    fill_number=1,
                    state=FillState.READY.value,
                    quantity=Decimal(30),
                    days_supply=30,
                )
                session.add_all([prescription, fill])
                session.flush()
                claim = Claim(
                    fill_id=fill.id,
                    coverage_id=coverage.id,
                    payer_rank=1,
                    transaction_code="B1",
                    status="paid",
                    ndc11=package.ndc11,
                    quantity=Decimal(30),
                    days_supply=30,
                    date_of_service=utc_now().date(),
                    request=b"B1",
                    patient_pay_cents=500 + (rx_number % 7) * 100,
                    workstation="bench",
                )
                session.add(claim)
                for record in (prescription, fill, claim):
                    uow.audit(SEEDED, record)
                fill_ids.append(fill.id)
            plan.append((patient.id, fill_ids))
    technician = Actor(
        user.id, user.username, user.full_name, frozenset({Role.TECHNICIAN}), "register-1"
    )
    return technician, plan


def _percentile(timings: list[float], fraction: float) -> float:
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url", nargs="?")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--fills", type=int, default=50)
    args = parser.parse_args()
    url, _folder = _fresh_database(args.database_url)
    engine = create_database_engine(url)
    migrate.upgrade(engine)
    database = Database(engine, describe_database(engine.url))
    # One warm-up sale pays for connecting and compiling the statements.
    technician, plan = _seed(database, sales=args.runs + 1, fills=args.fills)
    register = PaymentService(database, FakeTerminal())
    signature = demo_signature_png()
    whole, completing = [], []
    for patient_id, fill_ids in plan:
        started = time.perf_counter()
        sale = register.open_sale(technician, patient_id=patient_id)
        for fill_id in fill_ids:
            view = register.add_fill(technician, sale.sale_id, fill_id)
        card = view.total_cents // 2
        card += 1 if card % 100 == 13 else 0
        register.take_card(technician, sale.sale_id, kind=TenderKind.CREDIT, amount_cents=card)
        register.take_cash(technician, sale.sale_id, handed_cents=view.total_cents - card + 500)
        view = register.add_signature(
            technician,
            sale.sale_id,
            purpose=SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS,
            png=signature,
            signer_name="Bench Family",
        )
        before_completion = time.perf_counter()
        done = register.complete_sale(technician, sale.sale_id, expected_version=view.version)
        finished = time.perf_counter()
        assert len(done.fills_sold) == args.fills
        whole.append((finished - started) * 1000)
        completing.append((finished - before_completion) * 1000)
    whole, completing = whole[1:], completing[1:]
    engine.dispose()
    print(
        f"{args.fills}-fill sale on {engine.dialect.name}, {len(whole)} runs: "
        f"whole sale p50 {statistics.median(whole):.0f} ms, p95 {_percentile(whole, 0.95):.0f} ms; "
        f"complete_sale p50 {statistics.median(completing):.0f} ms, "
        f"p95 {_percentile(completing, 0.95):.0f} ms"
    )


if __name__ == "__main__":
    main()

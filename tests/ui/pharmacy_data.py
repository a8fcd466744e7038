"""A small fictional pharmacy written straight through the ORM, for the window tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from app.bootstrap import Services
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

ACTIVE_STATES = (
    FillState.DATA_ENTRY,
    FillState.FILL,
    FillState.FINAL_VERIFICATION,
    FillState.READY,
    FillState.READY,
    FillState.CLAIM_REJECTED,
)


@dataclass(frozen=True)
class SeededPharmacy:
    active_fill_ids: tuple[int, ...]
    ready_fill_ids: tuple[int, ...]
    sold_fill_id: int
    controlled_fill_id: int
    lot_numbers: tuple[str, ...]


def _product(session: Session, *, key: str, name: str, strength: str, schedule: str | None):
    product = DrugProduct(
        fda_product_id=f"0000-{key}_test",
        product_ndc=f"0000-{key}",
        product_type="HUMAN PRESCRIPTION DRUG",
        proprietary_name=name,
        nonproprietary_name=name.lower(),
        dosage_form="TABLET",
        route="ORAL",
        strength=strength,
        strength_unit="mg/1",
        dea_schedule=schedule,
    )
    package = DrugPackage(
        product=product,
        ndc=f"0000-{key}-01",
        ndc11=f"0000{key}01".rjust(11, "0"),
        description="100 TABLET in 1 BOTTLE",
        package_quantity=Decimal(100),
        package_unit="TABLET",
    )
    session.add_all([product, package])
    return package


def seed_pharmacy(services: Services) -> SeededPharmacy:
    """Patients, a prescriber, two drugs, fills in several states and three stock lots."""
    now = datetime.now(UTC)
    today = date.today()
    with Session(services.database.engine, expire_on_commit=False) as session, session.begin():
        patients = [
            Patient(last_name="Rivera", first_name="Ana", date_of_birth=date(1961, 3, 4), sex="F"),
            Patient(last_name="Okafor", first_name="Ben", date_of_birth=date(1979, 8, 19), sex="M"),
            Patient(
                last_name="Lindqvist", first_name="Cy", date_of_birth=date(1990, 1, 2), sex="X"
            ),
        ]
        prescriber = Prescriber(
            last_name="Hale", first_name="Dana", credentials="MD", npi="1245319599"
        )
        lisinopril = _product(session, key="1111", name="Lisinopril", strength="10", schedule=None)
        oxycodone = _product(session, key="2222", name="Oxycodone", strength="5", schedule="CII")
        session.add_all([*patients, prescriber])
        fills: list[Fill] = []
        for number, state in enumerate((*ACTIVE_STATES, FillState.SOLD)):
            controlled = state == FillState.FINAL_VERIFICATION
            prescription = Prescription(
                rx_number=f"70000{number}",
                patient=patients[number % len(patients)],
                prescriber=prescriber,
                package=oxycodone if controlled else lisinopril,
                written_date=today - timedelta(days=2),
                quantity=Decimal(30),
                days_supply=30,
                directions="Take 1 tablet by mouth once daily",
            )
            fill = Fill(
                prescription=prescription,
                state=state.value,
                priority="waiter" if number == 0 else "today",
                quantity=Decimal("30.000"),
                days_supply=30,
                promised_at=now + timedelta(hours=number - 1),
                created_at=now - timedelta(minutes=30 + number * 10),
                state_changed_at=now - timedelta(minutes=number),
            )
            session.add_all([prescription, fill])
            fills.append(fill)
        lots = [
            StockLot(package=lisinopril, lot_number="L-EXPIRED", expiry=today - timedelta(days=3)),
            StockLot(package=lisinopril, lot_number="L-SHORT", expiry=today + timedelta(days=40)),
            StockLot(
                package=oxycodone,
                lot_number="OX-GOOD",
                expiry=today + timedelta(days=400),
                on_hand=Decimal(200),
                location="vault",
            ),
        ]
        session.add_all(lots)
    active = tuple(fill.id for fill in fills if FillState(fill.state).is_active)
    return SeededPharmacy(
        active_fill_ids=active,
        ready_fill_ids=tuple(fill.id for fill in fills if fill.state == FillState.READY.value),
        sold_fill_id=fills[-1].id,
        controlled_fill_id=next(
            fill.id for fill in fills if fill.state == FillState.FINAL_VERIFICATION.value
        ),
        lot_numbers=tuple(lot.lot_number for lot in lots),
    )

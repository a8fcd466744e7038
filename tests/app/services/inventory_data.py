"""Hand-made packages (plain or controlled) and counts of what the stock ledger holds, for the
inventory tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import (
    AuditEvent,
    ControlledSubstanceEntry,
    DrugPackage,
    DrugProduct,
    StockLot,
    StockMovement,
)
from app.domain.roles import Role
from app.services.unit_of_work import Actor
from tests.app.services.pharmacy_data import SEEDED
from tests.conftest import TEST_PASSWORD


def add_package(services: Services, actor: Actor, *, schedule: str | None = None) -> int:
    """A product with one package; `schedule` (CII–CV) makes it a controlled substance."""
    with services.database.unit_of_work(actor) as uow:
        count = uow.session.scalar(select(func.count(DrugProduct.id))) or 0
        product = DrugProduct(
            fda_product_id=f"INVENTORY-{count}",
            product_ndc=f"88888-{count:03d}",
            proprietary_name=f"Stockol {count}",
            nonproprietary_name="stockol",
            dosage_form="TABLET",
            strength="5",
            strength_unit="mg/1",
            dea_schedule=schedule,
        )
        package = DrugPackage(
            product=product,
            ndc=f"88888-{count:03d}-01",
            ndc11=f"88888{count:04d}01",
            description="100 TABLET in 1 BOTTLE",
        )
        uow.session.add_all([product, package])
        uow.audit(SEEDED, product)
        uow.audit(SEEDED, package)
    return package.id


def add_user(services: Services, admin: Actor, username: str, *roles: Role) -> Actor:
    services.users.add_user(
        admin,
        username=username,
        full_name=username.title(),
        password=TEST_PASSWORD,
        roles=frozenset(roles),
    )
    return services.auth.login(username, TEST_PASSWORD)


@dataclass(frozen=True)
class Written:
    """How many rows each record of what happened holds (refused attempts excluded)."""

    lots: int
    movements: int
    controlled_entries: int
    audit_events: int


def written(services: Services) -> Written:
    with services.database.reading() as session:
        return Written(
            lots=session.scalar(select(func.count(StockLot.id))) or 0,
            movements=session.scalar(select(func.count(StockMovement.id))) or 0,
            controlled_entries=session.scalar(select(func.count(ControlledSubstanceEntry.id))) or 0,
            audit_events=session.scalar(
                select(func.count(AuditEvent.id)).where(AuditEvent.action != "access.denied")
            )
            or 0,
        )

"""Controlled-substance stock for the controlled-record tests: packages of known sizes received
through the ledger, and the inventory lines that count them."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import DrugPackage
from app.services.controlled import InventoryLineInput
from app.services.unit_of_work import Actor
from tests.app.services.inventory_data import add_package
from tests.app.services.pharmacy_data import SEEDED

EXPIRY = date.today() + timedelta(days=400)


def set_package_units(services: Services, admin: Actor, package_id: int, units: int) -> None:
    with services.database.unit_of_work(admin) as uow:
        package = uow.session.get_one(DrugPackage, package_id)
        package.package_quantity = Decimal(units)
        uow.audit(SEEDED, package)


def package_of_ndc(services: Services, ndc: str) -> int:
    with services.database.reading() as session:
        return session.scalars(select(DrugPackage.id).where(DrugPackage.ndc == ndc)).one()


def receive(services: Services, actor: Actor, package_id: int, quantity: int, lot="L1") -> int:
    change = services.inventory.receive(
        actor, package_id, lot_number=lot, expiry=EXPIRY, quantity=quantity
    )
    return change.lot.lot_id


def stock_controlled(services: Services, admin: Actor, technician: Actor) -> dict[str, int]:
    """A CII of 100-count packages (250 on hand), a CIV of 30-count (75), a CIII of
    1,000-count (1,400) and a CV of 5,000-unit bottles (6,000): an opened one of those is
    counted exactly."""
    packages = {}
    for name, schedule, units, received in (
        ("cii", "CII", 100, 250),
        ("civ", "CIV", 30, 75),
        ("ciii", "CIII", 1000, 1400),
        ("cv", "CV", 5000, 6000),
    ):
        package_id = add_package(services, admin, schedule=schedule)
        set_package_units(services, admin, package_id, units)
        receive(services, technician, package_id, received)
        packages[name] = package_id
    return packages


def counted_lines(
    stocked: dict[str, int], **changes: InventoryLineInput
) -> list[InventoryLineInput]:
    """What was found: CII two short of the ledger (248), the others as the ledger says."""
    lines = {
        "cii": InventoryLineInput(stocked["cii"], 2, "48"),
        "civ": InventoryLineInput(stocked["civ"], 2, "15"),
        "ciii": InventoryLineInput(stocked["ciii"], 1, "400"),
        "cv": InventoryLineInput(stocked["cv"], 1, "1000"),
    }
    lines.update(changes)
    return list(lines.values())

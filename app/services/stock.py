"""Reading stock on hand by lot, for the Inventory dock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from app.db.models import DrugPackage, DrugProduct, StockLot
from app.domain.roles import Role
from app.services.unit_of_work import Actor, Database, require_role


@dataclass(frozen=True)
class StockRow:
    lot_id: int
    ndc: str
    drug: str
    dea_schedule: str | None
    lot_number: str
    expiry: date
    status: str
    location: str
    on_hand: Decimal


class StockQueryService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def on_hand(self, actor: Actor) -> list[StockRow]:
        """Every lot with its maintained balance, soonest expiry first."""
        require_role(actor, *Role, action="see stock on hand")
        statement = (
            select(StockLot, DrugPackage.ndc, DrugProduct)
            .join(DrugPackage, StockLot.package_id == DrugPackage.id)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
            .order_by(StockLot.expiry, DrugPackage.ndc)
        )
        with self._db.reading() as session:
            return [
                StockRow(
                    lot_id=lot.id,
                    ndc=ndc,
                    drug=product.display_name,
                    dea_schedule=product.dea_schedule,
                    lot_number=lot.lot_number,
                    expiry=lot.expiry,
                    status=lot.status,
                    location=lot.location,
                    on_hand=lot.on_hand,
                )
                for lot, ndc, product in session.execute(statement)
            ]

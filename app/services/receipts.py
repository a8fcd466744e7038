"""A sale's receipt, read as data (the window prints it through the label printing path)."""

from __future__ import annotations

from sqlalchemy import select

from app.db.models import Pharmacy, Sale, User
from app.domain.receipts import ReceiptContent, ReceiptItem, ReceiptTender
from app.errors import NotFound
from app.services.payment import APPROVER_ROLES, REGISTER_ROLES, SaleStatus, sale_view
from app.services.unit_of_work import Actor, Database, require_role


class ReceiptService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def receipt(self, actor: Actor, sale_id: int) -> ReceiptContent:
        """What the receipt of a completed (or refunded) sale says."""
        require_role(actor, *REGISTER_ROLES, *APPROVER_ROLES, action="print a receipt")
        with self._db.reading() as session:
            sale = session.get(Sale, sale_id)
            if sale is None:
                raise NotFound(f"There is no sale number {sale_id}.", sale_id=sale_id)
            view = sale_view(session, sale)
            if view.status is SaleStatus.OPEN:
                raise NotFound(
                    f"Sale {sale_id} is still open: its receipt is printed once it is completed.",
                    sale_id=sale_id,
                )
            pharmacy = session.scalars(select(Pharmacy)).first()
            cashier = session.get(User, sale.completed_by_user_id or sale.opened_by_user_id or 0)
            city = f"{pharmacy.city}, {pharmacy.state} {pharmacy.postal_code}" if pharmacy else ""
            return ReceiptContent(
                pharmacy_name=pharmacy.name if pharmacy else "Pharmacy",
                pharmacy_address=(
                    (pharmacy.address_line1, pharmacy.address_line2, city) if pharmacy else ()
                ),
                pharmacy_phone=pharmacy.phone if pharmacy else "",
                sale_id=sale.id,
                status=sale.status,
                when=sale.completed_at or sale.opened_at,
                workstation=sale.workstation,
                cashier=cashier.full_name if cashier else "",
                patient_name=view.patient_name,
                items=tuple(
                    ReceiptItem(line.description, line.quantity, line.amount_cents, line.taxable)
                    for line in view.lines
                ),
                subtotal_cents=view.subtotal_cents,
                tax_cents=view.tax_cents,
                tax_basis_points=sale.tax_basis_points,
                total_cents=view.total_cents,
                tenders=tuple(
                    ReceiptTender(
                        tender.kind.label,
                        tender.amount_cents,
                        tender.card_last_four,
                        tender.reference,
                    )
                    for tender in view.tenders
                ),
                change_cents=view.change_given_cents,
                refunded_cents=view.refunded_cents,
            )

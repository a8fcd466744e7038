"""End of day: expected vs counted by tender, differences recorded with a note; receipts as data
and as 40-column lines."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent, DrawerCloseLine
from app.domain.receipts import receipt_lines
from app.errors import NotFound, ValidationFailed
from app.services.payment import PaymentService, SignaturePurpose, TenderKind
from app.services.unit_of_work import Actor
from tests.app.services.payment_data import SIGNATURE, make_register, ready_fill


@pytest.fixture
def register(services: Services, admin: Actor) -> PaymentService:
    return make_register(services, admin)


def _sell(register: PaymentService, services: Services, admin: Actor, actor: Actor) -> int:
    patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=1500)
    sale = register.open_sale(actor, patient_id=patient_id)
    register.add_fill(actor, sale.sale_id, fill_id)
    register.add_item(actor, sale.sale_id, "036000291452")  # $4.99 + 8.25 % tax = $5.40
    register.take_card(actor, sale.sale_id, kind=TenderKind.DEBIT, amount_cents=1000)
    register.take_cash(actor, sale.sale_id, handed_cents=2000)  # $10.40 due: $9.60 change
    view = register.add_signature(
        actor,
        sale.sale_id,
        purpose=SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS,
        png=SIGNATURE,
        signer_name="Wendell Quibble",
    )
    register.complete_sale(actor, sale.sale_id, expected_version=view.version)
    return sale.sale_id


def test_the_drawer_expects_what_this_register_took_less_refunds(
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    register: PaymentService,
) -> None:
    sale_id = _sell(register, services, admin, technician)
    _sell(register, services, admin, replace(technician, workstation="REGISTER-2"))
    register.refund(
        technician,
        sale_id,
        amount_cents=200,
        tender_kind=TenderKind.CASH,
        reason="Coupon not applied",
        approved_by=pharmacist,
    )
    expected = services.drawer.expected(technician, opening_float_cents=10_000)
    assert expected.line(TenderKind.CASH).expected_cents == 10_000 + 1040 - 200
    assert expected.line(TenderKind.DEBIT).expected_cents == 1000
    assert expected.line(TenderKind.CREDIT).expected_cents == 0

    with pytest.raises(ValidationFailed, match=r"Cash -\$1\.00"):
        services.drawer.close(
            technician,
            counted={TenderKind.CASH: 10_740, TenderKind.DEBIT: 1000},
            opening_float_cents=10_000,
        )
    closed = services.drawer.close(
        technician,
        counted={TenderKind.CASH: 10_740, TenderKind.DEBIT: 1000},
        opening_float_cents=10_000,
        note="A dollar short; recounted twice",
    )
    assert closed.line(TenderKind.CASH).difference_cents == -100
    with services.database.reading() as session:
        lines = {
            line.tender_kind: line.difference_cents
            for line in session.scalars(
                select(DrawerCloseLine).where(DrawerCloseLine.close_id == closed.close_id)
            )
        }
        assert lines == {"cash": -100, "debit": 0}
        assert session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "drawer.closed")
        ).one()
    # The next close starts after this one: nothing is expected yet.
    after = services.drawer.expected(technician)
    assert all(line.expected_cents == 0 for line in after.lines)


def test_a_receipt_lists_items_tax_tenders_and_change(
    services: Services, admin: Actor, technician: Actor, register: PaymentService
) -> None:
    sale_id = _sell(register, services, admin, technician)
    receipt = services.receipts.receipt(technician, sale_id)
    assert (receipt.subtotal_cents, receipt.tax_cents, receipt.total_cents) == (1999, 41, 2040)
    assert receipt.change_cents == 960
    lines = receipt_lines(receipt)
    assert all(len(line) <= 40 for line in lines)
    text = "\n".join(lines)
    assert "Test Pharmacy" in text
    assert "Tax 8.25% on T items" in text and "$0.41" in text
    assert "Debit card ****4242" in text
    assert "Change" in text and "$9.60" in text


def test_an_open_sale_has_no_receipt_yet(
    services: Services, admin: Actor, technician: Actor, register: PaymentService
) -> None:
    sale = register.open_sale(technician, patient_id=None)
    with pytest.raises(NotFound, match="still open"):
        services.receipts.receipt(technician, sale.sale_id)

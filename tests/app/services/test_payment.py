"""The register: split tender, change, declines, short tender, PSE limits, counseling, controlled
pickup ID, a second workstation, refunds and voids with approval, and one-transaction sales."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.adapters.payment_terminal import FakeTerminal
from app.bootstrap import Services
from app.db.base import utc_now
from app.db.models import (
    AuditEvent,
    Fill,
    FillTransition,
    PseLogEntry,
    Sale,
    Tender,
    WorkItem,
)
from app.domain.fill_states import FillState
from app.domain.pse_limits import PseLimitExceeded
from app.errors import StaleRecord
from app.services.payment import (
    ApprovalRequired,
    CardDeclined,
    FillInAnotherSale,
    FillNotReady,
    IdPurpose,
    IdRequired,
    IdType,
    PaymentService,
    RefundTooLarge,
    SaleIncomplete,
    SaleNotOpen,
    SaleStatus,
    SignaturePurpose,
    TenderKind,
    TenderShort,
    TenderTooLarge,
)
from app.services.unit_of_work import Actor
from tests.app.services.payment_data import (
    PSE_ITEM_MG,
    PSE_UPC,
    SIGNATURE,
    make_register,
    ready_fill,
)
from tests.app.services.pharmacy_data import SEEDED


@pytest.fixture
def register(services: Services, admin: Actor) -> PaymentService:
    return make_register(services, admin)


def _state(services: Services, fill_id: int) -> FillState:
    with services.database.reading() as session:
        fill = session.get(Fill, fill_id)
        assert fill is not None
        return FillState(fill.state)


def _signed(register: PaymentService, actor: Actor, sale_id: int, *purposes: SignaturePurpose):
    view = None
    for purpose in purposes:
        view = register.add_signature(
            actor, sale_id, purpose=purpose, png=SIGNATURE, signer_name="Wendell Quibble"
        )
    return view


def test_split_tender_with_cash_change_sells_every_fill(
    services: Services, admin: Actor, technician: Actor, register: PaymentService
) -> None:
    patient_id, first = ready_fill(services, admin, patient_pay_cents=1000)
    _, second = ready_fill(services, admin, patient_id=patient_id, patient_pay_cents=None)
    found = register.find_ready_fills(technician, "Quibble, Wendell")
    assert {fill.fill_id for fill in found} == {first, second}
    cash_priced = next(fill for fill in found if fill.fill_id == second)
    assert (cash_priced.price_source, cash_priced.price_cents) == ("cash_price", 999)

    sale = register.open_sale(technician, patient_id=patient_id)
    register.add_fill(technician, sale.sale_id, first)
    register.add_fill(technician, sale.sale_id, second)
    view = register.add_item(technician, sale.sale_id, "036000291452", quantity=2)
    # Tax on the taxable OTC line only: 8.25 % of $9.98 = $0.82 (0.82335 rounded).
    assert (view.subtotal_cents, view.tax_cents, view.total_cents) == (2997, 82, 3079)

    view = register.take_card(technician, sale.sale_id, kind=TenderKind.CREDIT, amount_cents=2000)
    assert view.tenders[0].card_last_four == "4242" and view.tenders[0].reference
    view = register.take_cash(technician, sale.sale_id, handed_cents=2000)
    assert view.balance_due_cents == 0
    assert view.change_given_cents == 2000 - 1079
    view = _signed(register, technician, sale.sale_id, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    assert view is not None and view.missing == ()

    done = register.complete_sale(technician, sale.sale_id, expected_version=view.version)
    assert done.sale.status is SaleStatus.COMPLETED
    assert set(done.fills_sold) == {first, second}
    assert _state(services, first) is FillState.SOLD
    assert _state(services, second) is FillState.SOLD
    with services.database.reading() as session:
        actions = set(
            session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "sales"))
        )
        assert {"sale.opened", "sale.completed"} <= actions


def test_a_declined_card_records_no_tender_and_a_short_tender_is_refused(
    services: Services, admin: Actor, technician: Actor, register: PaymentService
) -> None:
    patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=1513)
    sale = register.open_sale(technician, patient_id=patient_id)
    register.add_fill(technician, sale.sale_id, fill_id)
    with pytest.raises(CardDeclined, match=r"declined for \$15\.13"):
        register.take_card(technician, sale.sale_id, kind=TenderKind.DEBIT, amount_cents=1513)
    with pytest.raises(TenderTooLarge):
        register.take_card(technician, sale.sale_id, kind=TenderKind.DEBIT, amount_cents=1600)
    view = register.take_cash(technician, sale.sale_id, handed_cents=1000)
    view = _signed(register, technician, sale.sale_id, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    assert view is not None
    with pytest.raises(TenderShort, match=r"\$5\.13 is still due"):
        register.complete_sale(technician, sale.sale_id, expected_version=view.version)
    assert _state(services, fill_id) is FillState.READY
    with services.database.reading() as session:
        assert session.scalar(select(func.count(Tender.id))) == 1
        assert (
            session.scalar(
                select(func.count(AuditEvent.id)).where(AuditEvent.action == "sale.card_declined")
            )
            == 1
        )


def test_pseudoephedrine_needs_an_id_and_stays_within_the_federal_limits(
    services: Services, technician: Actor, register: PaymentService
) -> None:
    sale = register.open_sale(technician, patient_id=None)
    with pytest.raises(IdRequired):
        register.add_item(technician, sale.sale_id, PSE_UPC)
    register.record_identification(
        technician,
        sale.sale_id,
        purpose=IdPurpose.PSE_PURCHASE,
        id_type=IdType.DRIVERS_LICENSE,
        id_number="D123-4567",
        id_state="il",
        name="Wendell Quibble",
    )
    register.add_item(technician, sale.sale_id, PSE_UPC, quantity=2)  # 2.88 g
    with pytest.raises(PseLimitExceeded, match=r"3\.60 g a day"):
        register.add_item(technician, sale.sale_id, PSE_UPC)  # 4.32 g in a day
    view = register.sale(technician, sale.sale_id)
    view = register.take_cash(technician, sale.sale_id, handed_cents=view.total_cents)
    register.complete_sale(technician, sale.sale_id, expected_version=view.version)
    with services.database.reading() as session:
        entry = session.scalars(select(PseLogEntry)).one()
        assert entry.base_mg == PSE_ITEM_MG * 2
        assert entry.purchaser_key == "drivers_license:IL:D123-4567"

    # The same purchaser the same day (ID typed differently): 2.88 + 1.44 > 3.6 g.
    again = register.open_sale(technician, patient_id=None)
    register.record_identification(
        technician,
        again.sale_id,
        purpose=IdPurpose.PSE_PURCHASE,
        id_type=IdType.DRIVERS_LICENSE,
        id_number="d123-4567 ",
        id_state="IL",
        name="Wendell Quibble",
    )
    with pytest.raises(PseLimitExceeded):
        register.add_item(technician, again.sale_id, PSE_UPC)


def test_thirty_day_pse_limit_counts_earlier_days(
    services: Services, admin: Actor, technician: Actor, register: PaymentService
) -> None:
    for days_ago in (3, 10, 17):
        sale = register.open_sale(technician, patient_id=None)
        register.record_identification(
            technician,
            sale.sale_id,
            purpose=IdPurpose.PSE_PURCHASE,
            id_type=IdType.STATE_ID,
            id_number="S1",
            id_state="IL",
            name="Ivy Ames",
        )
        register.add_item(technician, sale.sale_id, PSE_UPC, quantity=2)
        view = register.sale(technician, sale.sale_id)
        view = register.take_cash(technician, sale.sale_id, handed_cents=view.total_cents)
        register.complete_sale(technician, sale.sale_id, expected_version=view.version)
        with services.database.unit_of_work(admin) as uow:
            for entry in uow.session.scalars(
                select(PseLogEntry).where(PseLogEntry.sale_id == sale.sale_id)
            ):
                entry.sold_on = utc_now().date() - timedelta(days=days_ago)
                uow.audit(SEEDED, entry)
    # 8.64 g in the last 30 days: 1.44 g more today is within 3.6 g/day but over 9 g.
    sale = register.open_sale(technician, patient_id=None)
    register.record_identification(
        technician,
        sale.sale_id,
        purpose=IdPurpose.PSE_PURCHASE,
        id_type=IdType.STATE_ID,
        id_number="S1",
        id_state="IL",
        name="Ivy Ames",
    )
    with pytest.raises(PseLimitExceeded, match="30 days"):
        register.add_item(technician, sale.sale_id, PSE_UPC)


def test_a_new_prescription_waits_for_the_pharmacists_counseling(
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    register: PaymentService,
) -> None:
    patient_id, fill_id = ready_fill(services, admin, fill_number=0, patient_pay_cents=500)
    sale = register.open_sale(technician, patient_id=patient_id)
    register.add_fill(technician, sale.sale_id, fill_id)
    register.take_cash(technician, sale.sale_id, handed_cents=500)
    view = _signed(register, technician, sale.sale_id, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    assert view is not None
    assert view.missing == ("Offer counseling: this sale has a new prescription.",)
    with pytest.raises(SaleIncomplete):
        register.complete_sale(technician, sale.sale_id, expected_version=view.version)

    changes = register.offer_counseling(technician, sale.sale_id, accepted=True)
    assert changes.worklist
    with services.database.reading() as session:
        item = session.scalars(select(WorkItem).where(WorkItem.kind == "counseling")).one()
        assert item.entity_id == str(sale.sale_id) and item.closed_at is None
    with pytest.raises(SaleIncomplete, match="not yet marked"):
        register.complete_sale(technician, sale.sale_id, expected_version=changes.sale.version)
    counseled = register.mark_counseled(pharmacist, sale.sale_id, notes="Dose and side effects")
    assert counseled.sale.counseling == "counseled" and counseled.sale.missing == ()
    with services.database.reading() as session:
        assert session.scalars(select(WorkItem.closed_at)).one() is not None
    register.complete_sale(technician, sale.sale_id, expected_version=counseled.sale.version)
    assert _state(services, fill_id) is FillState.SOLD


def test_declined_counseling_is_signed_for(
    services: Services, admin: Actor, technician: Actor, register: PaymentService
) -> None:
    patient_id, fill_id = ready_fill(services, admin, fill_number=0, patient_pay_cents=500)
    sale = register.open_sale(technician, patient_id=patient_id)
    register.add_fill(technician, sale.sale_id, fill_id)
    register.take_cash(technician, sale.sale_id, handed_cents=500)
    _signed(register, technician, sale.sale_id, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    view = register.offer_counseling(technician, sale.sale_id, accepted=False).sale
    assert view.missing == ("The patient signs that they declined counseling.",)
    view = _signed(register, technician, sale.sale_id, SignaturePurpose.COUNSELING_OFFER)
    assert view is not None and view.missing == ()


def test_a_controlled_pickup_needs_the_id_and_a_signature(
    services: Services, admin: Actor, technician: Actor, register: PaymentService
) -> None:
    patient_id, fill_id = ready_fill(services, admin, schedule="CII", patient_pay_cents=300)
    sale = register.open_sale(technician, patient_id=patient_id)
    register.add_fill(technician, sale.sale_id, fill_id)
    register.take_cash(technician, sale.sale_id, handed_cents=300)
    view = _signed(register, technician, sale.sale_id, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    assert view is not None
    assert "Record the photo ID of the person picking up the controlled drug." in view.missing
    with pytest.raises(SaleIncomplete, match="photo ID"):
        register.complete_sale(technician, sale.sale_id, expected_version=view.version)
    register.record_identification(
        technician,
        sale.sale_id,
        purpose=IdPurpose.CONTROLLED_PICKUP,
        id_type=IdType.DRIVERS_LICENSE,
        id_number="Q555",
        id_state="IL",
        name="Wendell Quibble",
    )
    view = _signed(register, technician, sale.sale_id, SignaturePurpose.CONTROLLED_PICKUP)
    assert view is not None and view.missing == ()
    register.complete_sale(technician, sale.sale_id, expected_version=view.version)
    with services.database.reading() as session:
        audits = session.scalars(
            select(AuditEvent.summary).where(AuditEvent.action == "sale.id_recorded")
        ).all()
        assert "Q555" not in repr(audits)  # the ID number stays in its own row


def test_a_second_workstation_cannot_sell_the_same_fill(
    services: Services, admin: Actor, technician: Actor, register: PaymentService
) -> None:
    patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=700)
    other = replace(technician, workstation="REGISTER-2")
    sale = register.open_sale(technician, patient_id=patient_id)
    register.add_fill(technician, sale.sale_id, fill_id)
    with services.database.unit_of_work(admin) as uow:
        # The other register's sale for the same patient, made before ours was seen.
        rival = Sale(patient_id=patient_id, workstation="REGISTER-2", status="open")
        uow.session.add(rival)
        uow.audit(SEEDED, rival)
    with pytest.raises(FillInAnotherSale, match="already in sale"):
        register.add_fill(other, rival.id, fill_id)

    register.take_cash(technician, sale.sale_id, handed_cents=700)
    view = _signed(register, technician, sale.sale_id, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    assert view is not None
    with pytest.raises(StaleRecord):
        register.complete_sale(technician, sale.sale_id, expected_version=view.version - 1)
    register.complete_sale(technician, sale.sale_id, expected_version=view.version)
    with pytest.raises(FillNotReady, match="Sold"):
        register.add_fill(other, rival.id, fill_id)


def test_the_patient_walking_away_keeps_the_cart_and_sells_nothing(
    services: Services, admin: Actor, technician: Actor, register: PaymentService
) -> None:
    patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=700)
    sale = register.open_sale(technician, patient_id=patient_id)
    register.add_fill(technician, sale.sale_id, fill_id)
    register.take_cash(technician, sale.sale_id, handed_cents=200)
    assert _state(services, fill_id) is FillState.READY
    assert [s.sale_id for s in register.open_sales(technician)] == [sale.sale_id]
    resumed = register.open_sale(technician, patient_id=patient_id)
    assert resumed.sale_id == sale.sale_id
    assert resumed.paid_cents == 200 and resumed.balance_due_cents == 500


def test_a_sale_is_all_or_nothing(
    services: Services, admin: Actor, technician: Actor, register: PaymentService
) -> None:
    patient_id, first = ready_fill(services, admin, patient_pay_cents=400)
    _, second = ready_fill(services, admin, patient_id=patient_id, patient_pay_cents=400)
    sale = register.open_sale(technician, patient_id=patient_id)
    register.add_fill(technician, sale.sale_id, first)
    register.add_fill(technician, sale.sale_id, second)
    register.take_cash(technician, sale.sale_id, handed_cents=800)
    view = _signed(register, technician, sale.sale_id, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    assert view is not None
    # The second fill is put on hold elsewhere before the sale completes.
    services.workflow.advance(
        admin,
        second,
        to_state=FillState.ON_HOLD,
        expected_version=_version(services, second),
        reason="Patient asked to wait",
    )
    with pytest.raises(FillNotReady, match="nothing was sold"):
        register.complete_sale(technician, sale.sale_id, expected_version=view.version)
    assert _state(services, first) is FillState.READY
    assert register.sale(technician, sale.sale_id).status is SaleStatus.OPEN


def _version(services: Services, fill_id: int) -> int:
    with services.database.reading() as session:
        fill = session.get(Fill, fill_id)
        assert fill is not None
        return fill.version


def test_refunds_need_approval_and_never_exceed_what_was_paid(
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    register: PaymentService,
) -> None:
    patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=1200)
    sale = register.open_sale(technician, patient_id=patient_id)
    register.add_fill(technician, sale.sale_id, fill_id)
    register.take_card(technician, sale.sale_id, kind=TenderKind.CREDIT, amount_cents=700)
    register.take_cash(technician, sale.sale_id, handed_cents=500)
    view = _signed(register, technician, sale.sale_id, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    assert view is not None
    register.complete_sale(technician, sale.sale_id, expected_version=view.version)

    with pytest.raises(ApprovalRequired):
        register.refund(
            technician,
            sale.sale_id,
            amount_cents=100,
            tender_kind=TenderKind.CASH,
            reason="Overcharged",
            approved_by=None,
        )
    with pytest.raises(RefundTooLarge, match=r"Only \$5\.00"):
        register.refund(
            technician,
            sale.sale_id,
            amount_cents=600,
            tender_kind=TenderKind.CASH,
            reason="Overcharged",
            approved_by=pharmacist,
        )
    view = register.refund(
        technician,
        sale.sale_id,
        amount_cents=500,
        tender_kind=TenderKind.CASH,
        reason="Copay corrected",
        approved_by=pharmacist,
    )
    assert view.refunded_cents == 500 and view.status is SaleStatus.COMPLETED
    view = register.refund(
        technician,
        sale.sale_id,
        amount_cents=700,
        tender_kind=TenderKind.CREDIT,
        reason="Copay corrected",
        approved_by=pharmacist,
    )
    assert view.status is SaleStatus.REFUNDED
    with pytest.raises(Exception, match="refunded"):
        register.refund(
            technician,
            sale.sale_id,
            amount_cents=1,
            tender_kind=TenderKind.CASH,
            reason="Again",
            approved_by=pharmacist,
        )
    assert _state(services, fill_id) is FillState.SOLD


def test_voiding_an_open_sale_needs_approval_and_gives_the_money_back(
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    register: PaymentService,
) -> None:
    patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=900)
    sale = register.open_sale(technician, patient_id=patient_id)
    register.add_fill(technician, sale.sale_id, fill_id)
    register.take_cash(technician, sale.sale_id, handed_cents=300)
    with pytest.raises(ApprovalRequired):
        register.void_sale(technician, sale.sale_id, reason="Wrong patient", approved_by=None)
    view = register.void_sale(
        technician, sale.sale_id, reason="Wrong patient", approved_by=pharmacist
    )
    assert view.status is SaleStatus.VOIDED and view.refunded_cents == 300
    assert _state(services, fill_id) is FillState.READY
    # The fill is free for a new sale.
    again = register.open_sale(technician, patient_id=patient_id)
    assert again.sale_id != sale.sale_id
    register.add_fill(technician, again.sale_id, fill_id)


def test_scanning_the_bag_label_finds_the_patients_ready_fills(
    services: Services, admin: Actor, technician: Actor, register: PaymentService
) -> None:
    patient_id, first = ready_fill(services, admin)
    _, second = ready_fill(services, admin, patient_id=patient_id)
    with services.database.reading() as session:
        fill = session.get(Fill, second)
        assert fill is not None
        label = f"RX{fill.prescription.rx_number}-{fill.fill_number}"
        rx_number = fill.prescription.rx_number
    found = register.find_ready_fills(technician, label)
    assert found[0].fill_id == second and len(found) == 2
    assert {f.fill_id for f in register.find_ready_fills(technician, rx_number)} == {
        first,
        second,
    }


def _race(*calls):
    """Run the calls at once on their own threads; each result or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = calls[index]()
        except Exception as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_registers_racing_for_one_fill_sell_it_once(
    services: Services, admin: Actor, technician: Actor, register: PaymentService
) -> None:
    patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=700)
    other = replace(technician, workstation="REGISTER-2")
    mine = register.open_sale(technician, patient_id=patient_id)
    theirs = register.open_sale(other, patient_id=None)  # a walk-in sale takes the patient's fill
    added = _race(
        lambda: register.add_fill(technician, mine.sale_id, fill_id),
        lambda: register.add_fill(other, theirs.sale_id, fill_id),
    )
    refused = [outcome for outcome in added if isinstance(outcome, FillInAnotherSale)]
    won = [outcome for outcome in added if not isinstance(outcome, Exception)]
    assert len(refused) == 1 and len(won) == 1, added
    sale_id = won[0].sale_id  # type: ignore[attr-defined]
    seller = technician if sale_id == mine.sale_id else other
    register.take_cash(seller, sale_id, handed_cents=700)
    view = _signed(register, seller, sale_id, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    assert view is not None
    # The same register's sale completed twice at once (a double press on two screens).
    completed = _race(
        lambda: register.complete_sale(seller, sale_id, expected_version=view.version),
        lambda: register.complete_sale(seller, sale_id, expected_version=view.version),
    )
    assert sum(not isinstance(outcome, Exception) for outcome in completed) == 1, completed
    assert all(
        isinstance(outcome, (StaleRecord, SaleNotOpen))
        for outcome in completed
        if isinstance(outcome, Exception)
    )
    with services.database.reading() as session:
        sold = session.scalar(
            select(func.count(FillTransition.id)).where(
                FillTransition.fill_id == fill_id, FillTransition.to_state == "sold"
            )
        )
        assert sold == 1


class VoidingTerminal(FakeTerminal):
    """A terminal that is slow enough for another register to void the sale meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile = lambda: None

    def charge(self, *, kind, amount_cents: int, reference: str):  # type: ignore[no-untyped-def]
        self.meanwhile()
        return super().charge(kind=kind, amount_cents=amount_cents, reference=reference)


def test_a_card_charged_for_a_sale_closed_meanwhile_is_refunded(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    terminal = VoidingTerminal()
    register = PaymentService(services.database, terminal)
    patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=900)
    sale = register.open_sale(technician, patient_id=patient_id)
    register.add_fill(technician, sale.sale_id, fill_id)
    terminal.meanwhile = lambda: register.void_sale(
        pharmacist, sale.sale_id, reason="Patient left", approved_by=None
    )
    with pytest.raises(SaleNotOpen, match="refunded to the card"):
        register.take_card(technician, sale.sale_id, kind=TenderKind.CREDIT, amount_cents=900)
    assert [amount for _kind, amount, _ref in terminal.charges] == [900, -900]
    assert register.sale(technician, sale.sale_id).tenders == ()

"""The register: a patient's ready fills and OTC items in a sale, tenders, signatures, the
counseling offer, ID for controlled pickups and pseudoephedrine, completion, refunds and voids.

A sale stays open while the cart is built; the patient may walk away and it is kept, nothing
sold. Completing it checks every requirement (money, signatures, ID, counseling) and, in one
transaction, moves every fill to sold through the workflow, writes the PSE logbook and audits
each change. A card is charged through the `PaymentTerminal` outside any transaction; only its
approval code and last four digits are kept. Money is integer cents throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.adapters.payment_terminal import CardKind, PaymentTerminal
from app.db.base import utc_now
from app.db.models import (
    Claim,
    CounselingRecord,
    Fill,
    OtcItem,
    Patient,
    PharmacySetting,
    PickupIdentification,
    Prescription,
    PseLogEntry,
    Sale,
    SaleLine,
    SaleRefund,
    SaleSignature,
    Tender,
)
from app.domain.barcodes import ScanKind, interpret_scan
from app.domain.fill_states import FillState
from app.domain.money import MAX_TAX_BASIS_POINTS, apply_cash, cart_totals, dollars
from app.domain.pse_limits import PsePurchase, check_pse_purchase
from app.domain.roles import Role
from app.errors import NotFound, PermissionDenied, RxBenchError, StaleRecord, ValidationFailed
from app.services.changes import Change, publish_all
from app.services.claim_records import BILLED_STATUSES, ClaimStatus
from app.services.claims import acquisition_cents, read_price_formula
from app.services.fills import FillRow, fill_rows_statement, read_fill_rows
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role
from app.services.workflow import locked_fill, move_locked_fill, refuse_if_held_by_another
from app.services.worklist import TOPIC as WORKLIST_TOPIC
from app.services.worklist import close_items, open_item

TOPIC = "sales"
COUNSELING = "counseling"
REGISTER_ROLES = (Role.TECHNICIAN, Role.PHARMACIST)
APPROVER_ROLES = (Role.PHARMACIST, Role.ADMINISTRATOR)
SALES_TAX_BASIS_POINTS = "sales_tax_basis_points"
COUNSELING_REQUIRED_FOR_NEW_RX = "counseling_required_for_new_rx"
# Paid B1s whose patient pay is what the patient owes (an unknown outcome is not a price).
_PRICED_STATUSES = [s.value for s in BILLED_STATUSES if s is not ClaimStatus.UNKNOWN_OUTCOME]


class SaleStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    VOIDED = "voided"
    REFUNDED = "refunded"


class TenderKind(StrEnum):
    CASH = "cash"
    CREDIT = "credit"
    DEBIT = "debit"
    CHECK = "check"
    HSA_FSA = "hsa_fsa"
    HOUSE_CHARGE = "house_charge"

    @property
    def label(self) -> str:
        return _TENDER_LABELS[self]


_TENDER_LABELS = {
    TenderKind.CASH: "Cash",
    TenderKind.CREDIT: "Credit card",
    TenderKind.DEBIT: "Debit card",
    TenderKind.CHECK: "Check",
    TenderKind.HSA_FSA: "HSA/FSA card",
    TenderKind.HOUSE_CHARGE: "House charge",
}
CARD_TENDERS = frozenset({TenderKind.CREDIT, TenderKind.DEBIT, TenderKind.HSA_FSA})


class SignaturePurpose(StrEnum):
    RECEIPT_OF_PRESCRIPTIONS = "receipt_of_prescriptions"
    PRIVACY_NOTICE = "privacy_notice"
    COUNSELING_OFFER = "counseling_offer"
    CONTROLLED_PICKUP = "controlled_pickup"

    @property
    def label(self) -> str:
        return _SIGNATURE_LABELS[self]


_SIGNATURE_LABELS = {
    SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS: "receipt of prescriptions",
    SignaturePurpose.PRIVACY_NOTICE: "privacy notice acknowledgement",
    SignaturePurpose.COUNSELING_OFFER: "counseling declined",
    SignaturePurpose.CONTROLLED_PICKUP: "controlled-substance pickup",
}


class IdPurpose(StrEnum):
    CONTROLLED_PICKUP = "controlled_pickup"
    PSE_PURCHASE = "pse_purchase"


class IdType(StrEnum):
    DRIVERS_LICENSE = "drivers_license"
    STATE_ID = "state_id"
    PASSPORT = "passport"
    MILITARY_ID = "military_id"
    TRIBAL_ID = "tribal_id"
    OTHER_GOVERNMENT_ID = "other_government_id"


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- errors -----------------------------------------------------------------------------------


class SaleNotOpen(ValidationFailed):
    code = "sale-not-open"


class FillNotReady(ValidationFailed):
    code = "fill-not-ready"


class FillInAnotherSale(ValidationFailed):
    """The fill is in another open sale (another workstation's cart); `facts` say which."""

    code = "fill-in-another-sale"


class UnknownItem(NotFound):
    code = "unknown-item"


class TenderShort(ValidationFailed):
    """The tenders do not cover the total; `facts["balance_due_cents"]` says by how much."""

    code = "tender-short"


class TenderTooLarge(ValidationFailed):
    code = "tender-too-large"


class CardDeclined(RxBenchError):
    """The terminal declined the card: nothing was charged or recorded as paid."""

    code = "card-declined"


class SaleIncomplete(ValidationFailed):
    """Something the law or the house requires is missing; `facts["missing"]` lists each."""

    code = "sale-incomplete"


class IdRequired(ValidationFailed):
    code = "id-required"


class InvalidSignature(ValidationFailed):
    code = "invalid-signature"


class ApprovalRequired(PermissionDenied):
    """A refund or void needs a pharmacist's or an administrator's approval."""

    code = "approval-required"


class RefundTooLarge(ValidationFailed):
    code = "refund-too-large"


class CounselingNotOffered(ValidationFailed):
    code = "counseling-not-offered"


# --- rows the window shows --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadyFill:
    """A fill waiting for pickup, priced as the patient would pay for it now."""

    fill_id: int
    rx_number: str
    fill_number: int
    patient_id: int
    patient_name: str
    drug: str
    controlled: bool
    new_prescription: bool
    price_cents: int
    price_source: str
    claim_id: int | None


@dataclass(frozen=True, slots=True)
class SaleLineRow:
    line_id: int
    fill_id: int | None
    otc_item_id: int | None
    description: str
    quantity: int
    unit_price_cents: int
    amount_cents: int
    taxable: bool
    price_source: str


@dataclass(frozen=True, slots=True)
class TenderRow:
    tender_id: int
    kind: TenderKind
    amount_cents: int
    change_given_cents: int
    reference: str
    card_last_four: str


@dataclass(frozen=True, slots=True)
class SaleView:
    """A sale as the register shows it, with what is still missing before it can complete."""

    sale_id: int
    patient_id: int | None
    patient_name: str
    workstation: str
    status: SaleStatus
    lines: tuple[SaleLineRow, ...]
    tenders: tuple[TenderRow, ...]
    subtotal_cents: int
    tax_cents: int
    total_cents: int
    refunded_cents: int
    counseling: str | None
    signatures: frozenset[SignaturePurpose]
    identifications: frozenset[IdPurpose]
    missing: tuple[str, ...]
    version: int
    opened_at: datetime
    completed_at: datetime | None

    @property
    def paid_cents(self) -> int:
        return sum(tender.amount_cents for tender in self.tenders)

    @property
    def balance_due_cents(self) -> int:
        return max(0, self.total_cents - self.paid_cents)

    @property
    def change_given_cents(self) -> int:
        return sum(tender.change_given_cents for tender in self.tenders)


@dataclass(frozen=True, slots=True)
class OtcItemRow:
    item_id: int
    upc: str
    description: str
    price_cents: int
    taxable: bool
    pse_base_mg: Decimal


@dataclass(frozen=True, slots=True)
class SalePolicy:
    sales_tax_basis_points: int = 0
    counseling_required_for_new_rx: bool = True


@dataclass(frozen=True, slots=True)
class SaleChanges:
    """What a register action changed, for the window to refresh."""

    sale: SaleView
    fills_sold: tuple[int, ...] = ()
    worklist: bool = False


# --- helpers ----------------------------------------------------------------------------------


def read_sale_policy(session: Session) -> SalePolicy:
    rows = {
        row.key: row.value
        for row in session.scalars(
            select(PharmacySetting).where(
                PharmacySetting.key.in_([SALES_TAX_BASIS_POINTS, COUNSELING_REQUIRED_FOR_NEW_RX])
            )
        )
    }
    return SalePolicy(
        sales_tax_basis_points=int(rows.get(SALES_TAX_BASIS_POINTS, 0)),
        counseling_required_for_new_rx=bool(rows.get(COUNSELING_REQUIRED_FOR_NEW_RX, True)),
    )


def _fill_price(session: Session, fill_id: int) -> tuple[int, str, int | None]:
    """The patient pay of the fill's last-ranked paid claim, else the house cash price."""
    claim = session.scalars(
        select(Claim)
        .where(
            Claim.fill_id == fill_id,
            Claim.transaction_code == "B1",
            Claim.status.in_(_PRICED_STATUSES),
            Claim.patient_pay_cents.is_not(None),
        )
        .order_by(Claim.payer_rank.desc(), Claim.id.desc())
        .limit(1)
    ).first()
    if claim is not None and claim.patient_pay_cents is not None:
        return claim.patient_pay_cents, "claim", claim.id
    fill = session.get(Fill, fill_id)
    assert fill is not None
    package_id = fill.dispensed_package_id or fill.prescription.package_id
    price = read_price_formula(session).price_cents(acquisition_cents(session, fill, package_id))
    return price, "cash_price", None


def _ready_fill(session: Session, row: FillRow) -> ReadyFill:
    price, source, claim_id = _fill_price(session, row.fill_id)
    return ReadyFill(
        fill_id=row.fill_id,
        rx_number=row.rx_number,
        fill_number=row.fill_number,
        patient_id=row.patient_id,
        patient_name=row.patient_name,
        drug=row.drug,
        controlled=bool(row.dea_schedule),
        new_prescription=row.fill_number == 0,
        price_cents=price,
        price_source=source,
        claim_id=claim_id,
    )


def _fill_line_description(row: FillRow) -> str:
    return f"Rx {row.rx_number}-{row.fill_number} {row.drug}"[:255]


def _purchaser_key(identification: PickupIdentification) -> str:
    number = "".join(identification.id_number.split()).upper()
    return f"{identification.id_type}:{identification.id_state.upper()}:{number}"[:80]


def _locked_sale(session: Session, sale_id: int, *, expected_version: int | None = None) -> Sale:
    sale = session.scalars(select(Sale).where(Sale.id == sale_id).with_for_update()).first()
    if sale is None:
        raise NotFound(f"There is no sale number {sale_id}.", sale_id=sale_id)
    if expected_version is not None and sale.version != expected_version:
        raise StaleRecord(
            f"Sale {sale_id} was changed at another register since you looked at it; nothing "
            "was saved. Look at the sale again.",
            sale_id=sale_id,
        )
    return sale


def _open_sale(session: Session, sale_id: int, *, expected_version: int | None = None) -> Sale:
    sale = _locked_sale(session, sale_id, expected_version=expected_version)
    if sale.status != SaleStatus.OPEN:
        raise SaleNotOpen(
            f"Sale {sale_id} is {sale.status}; start a new sale instead.",
            sale_id=sale_id,
            status=sale.status,
        )
    return sale


def _recompute(session: Session, sale: Sale) -> None:
    session.flush()
    policy = read_sale_policy(session)
    lines = session.scalars(select(SaleLine).where(SaleLine.sale_id == sale.id)).all()
    totals = cart_totals(
        [(line.amount_cents, line.taxable) for line in lines], policy.sales_tax_basis_points
    )
    sale.subtotal_cents = totals.subtotal_cents
    sale.tax_cents = totals.tax_cents
    sale.total_cents = totals.total_cents
    sale.tax_basis_points = policy.sales_tax_basis_points


def _approver_check(approved_by: Actor | None, actor: Actor, what: str) -> Actor:
    approver = approved_by if approved_by is not None else actor
    if not approver.has_any(*APPROVER_ROLES):
        raise ApprovalRequired(
            f"A pharmacist or an administrator must approve {what}. Ask one to co-sign.",
            action=what,
            required=[role.value for role in APPROVER_ROLES],
        )
    return approver


def _publish(
    uow: UnitOfWork, sale: Sale, *, worklist: bool = False, fills: tuple[int, ...] = ()
) -> None:
    changes = [Change(TOPIC, str(sale.id))]
    changes.extend(Change("fills", str(fill_id)) for fill_id in fills)
    if worklist:
        changes.append(Change(WORKLIST_TOPIC, None))
    publish_all(uow.session, changes, workstation=uow.actor.workstation)


def sale_view(session: Session, sale: Sale) -> SaleView:
    """The sale as the register shows it, read in the caller's transaction."""
    session.flush()
    lines = session.scalars(
        select(SaleLine).where(SaleLine.sale_id == sale.id).order_by(SaleLine.id)
    ).all()
    tenders = session.scalars(
        select(Tender).where(Tender.sale_id == sale.id).order_by(Tender.id)
    ).all()
    refunded = session.scalar(
        select(func.coalesce(func.sum(SaleRefund.amount_cents), 0)).where(
            SaleRefund.sale_id == sale.id
        )
    )
    signatures = frozenset(
        SignaturePurpose(purpose)
        for purpose in session.scalars(
            select(SaleSignature.purpose).where(SaleSignature.sale_id == sale.id)
        )
    )
    identifications = frozenset(
        IdPurpose(purpose)
        for purpose in session.scalars(
            select(PickupIdentification.purpose).where(PickupIdentification.sale_id == sale.id)
        )
    )
    counseling = session.scalars(
        select(CounselingRecord).where(CounselingRecord.sale_id == sale.id)
    ).first()
    counseling_state = None
    if counseling is not None:
        counseling_state = (
            "counseled"
            if counseling.counseled_at is not None
            else ("waiting" if counseling.outcome == "accepted" else "declined")
        )
    patient = session.get(Patient, sale.patient_id) if sale.patient_id else None
    view = SaleView(
        sale_id=sale.id,
        patient_id=sale.patient_id,
        patient_name=patient.display_name if patient else "",
        workstation=sale.workstation,
        status=SaleStatus(sale.status),
        lines=tuple(
            SaleLineRow(
                line.id,
                line.fill_id,
                line.otc_item_id,
                line.description,
                line.quantity,
                line.unit_price_cents,
                line.amount_cents,
                line.taxable,
                line.price_source,
            )
            for line in lines
        ),
        tenders=tuple(
            TenderRow(
                tender.id,
                TenderKind(tender.kind),
                tender.amount_cents,
                tender.change_given_cents,
                tender.reference,
                tender.card_last_four,
            )
            for tender in tenders
        ),
        subtotal_cents=sale.subtotal_cents,
        tax_cents=sale.tax_cents,
        total_cents=sale.total_cents,
        refunded_cents=int(refunded or 0),
        counseling=counseling_state,
        signatures=signatures,
        identifications=identifications,
        missing=(),
        version=sale.version,
        opened_at=sale.opened_at,
        completed_at=sale.completed_at,
    )
    if view.status is SaleStatus.OPEN:
        return _with_missing(session, view, patient)
    return view


def _with_missing(session: Session, view: SaleView, patient: Patient | None) -> SaleView:
    """Every requirement not yet met, each as a sentence the technician can act on."""
    missing: list[str] = []
    fill_ids = [line.fill_id for line in view.lines if line.fill_id is not None]
    fills = read_fill_rows(session, fill_rows_statement(Fill.id.in_(fill_ids))) if fill_ids else []
    if not view.lines:
        missing.append("Add the patient's prescriptions or an item to the sale.")
    if fills and SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS not in view.signatures:
        missing.append("The patient signs for receipt of the prescriptions.")
    if (
        fills
        and patient is not None
        and patient.privacy_notice_acknowledged_on is None
        and SignaturePurpose.PRIVACY_NOTICE not in view.signatures
    ):
        missing.append("The patient signs that they received the privacy notice.")
    if any(row.dea_schedule for row in fills):
        if IdPurpose.CONTROLLED_PICKUP not in view.identifications:
            missing.append("Record the photo ID of the person picking up the controlled drug.")
        if SignaturePurpose.CONTROLLED_PICKUP not in view.signatures:
            missing.append("The person picking up signs for the controlled drug.")
    if _has_pse(session, view) and IdPurpose.PSE_PURCHASE not in view.identifications:
        missing.append("Record the purchaser's photo ID for the pseudoephedrine logbook.")
    policy = read_sale_policy(session)
    if policy.counseling_required_for_new_rx and any(row.fill_number == 0 for row in fills):
        if view.counseling is None:
            missing.append("Offer counseling: this sale has a new prescription.")
        elif view.counseling == "waiting":
            missing.append("The pharmacist has not yet marked the patient counseled.")
        elif (
            view.counseling == "declined"
            and SignaturePurpose.COUNSELING_OFFER not in view.signatures
        ):
            missing.append("The patient signs that they declined counseling.")
    if view.balance_due_cents > 0:
        missing.append(f"{dollars(view.balance_due_cents)} is still due.")
    return replace(view, missing=tuple(missing))


def _has_pse(session: Session, view: SaleView) -> bool:
    item_ids = [line.otc_item_id for line in view.lines if line.otc_item_id is not None]
    if not item_ids:
        return False
    return bool(
        session.scalar(
            select(func.count(OtcItem.id)).where(OtcItem.id.in_(item_ids), OtcItem.pse_base_mg > 0)
        )
    )


def _pse_check(session: Session, sale: Sale, identification: PickupIdentification) -> None:
    """Refuse unless this sale's PSE/ephedrine, with what the purchaser bought before, stays
    within the federal limits."""
    buying = session.scalar(
        select(func.coalesce(func.sum(OtcItem.pse_base_mg * SaleLine.quantity), 0))
        .join(SaleLine, SaleLine.otc_item_id == OtcItem.id)
        .where(SaleLine.sale_id == sale.id)
    )
    buying_mg = Decimal(buying or 0)
    if buying_mg <= 0:
        return
    history = [
        PsePurchase(sold_on, Decimal(base))
        for sold_on, base in session.execute(
            select(PseLogEntry.sold_on, PseLogEntry.base_mg).where(
                PseLogEntry.purchaser_key == _purchaser_key(identification)
            )
        )
    ]
    check_pse_purchase(history, buying_mg=buying_mg, on=utc_now().date())


def _refuse_refund_over(
    session: Session, view: SaleView, kind: TenderKind, amount_cents: int
) -> None:
    if view.status not in (SaleStatus.COMPLETED,):
        raise SaleNotOpen(
            f"Sale {view.sale_id} is {view.status}; only a completed sale is refunded.",
            sale_id=view.sale_id,
        )
    paid = sum(t.amount_cents for t in view.tenders if t.kind is kind)
    back = session.scalar(
        select(func.coalesce(func.sum(SaleRefund.amount_cents), 0)).where(
            SaleRefund.sale_id == view.sale_id, SaleRefund.tender_kind == kind.value
        )
    )
    left = paid - int(back or 0)
    if amount_cents > left:
        raise RefundTooLarge(
            f"Only {dollars(max(left, 0))} was paid by {kind.label.lower()} on sale "
            f"{view.sale_id} and not yet refunded; {dollars(amount_cents)} cannot be given "
            "back.",
            sale_id=view.sale_id,
            left_cents=left,
            amount_cents=amount_cents,
        )


def _identification(session: Session, sale_id: int, purpose: IdPurpose) -> PickupIdentification:
    found = session.scalars(
        select(PickupIdentification).where(
            PickupIdentification.sale_id == sale_id, PickupIdentification.purpose == purpose
        )
    ).first()
    if found is None:
        raise IdRequired(
            "Record the purchaser's photo ID first: pseudoephedrine and ephedrine are sold "
            "only to an identified purchaser, within the federal limits."
            if purpose is IdPurpose.PSE_PURCHASE
            else "Record the photo ID of the person picking up the controlled drug first.",
            purpose=purpose.value,
        )
    return found


class PaymentService:
    """The register's actions, each one unit of work."""

    def __init__(self, database: Database, terminal: PaymentTerminal) -> None:
        self._db = database
        self._terminal = terminal

    # --- policy and items ---------------------------------------------------------------------

    def policy(self) -> SalePolicy:
        with self._db.reading() as session:
            return read_sale_policy(session)

    def set_policy(self, actor: Actor, policy: SalePolicy) -> SalePolicy:
        """Change the sales tax rate and the counseling rule (pharmacist or administrator)."""
        require_role(actor, *APPROVER_ROLES, action="change the register's policies")
        if not 0 <= policy.sales_tax_basis_points <= MAX_TAX_BASIS_POINTS:
            raise ValidationFailed(
                f"A sales tax rate must be between 0 and {MAX_TAX_BASIS_POINTS / 100}%.",
                basis_points=policy.sales_tax_basis_points,
            )
        values: dict[str, Any] = {
            SALES_TAX_BASIS_POINTS: policy.sales_tax_basis_points,
            COUNSELING_REQUIRED_FOR_NEW_RX: policy.counseling_required_for_new_rx,
        }
        with self._db.unit_of_work(actor) as uow:
            # A rule never set is in force at its default: saving that default changes nothing
            # and is not recorded as a change.
            in_force = read_sale_policy(uow.session)
            in_force_values: dict[str, Any] = {
                SALES_TAX_BASIS_POINTS: in_force.sales_tax_basis_points,
                COUNSELING_REQUIRED_FOR_NEW_RX: in_force.counseling_required_for_new_rx,
            }
            for key, value in values.items():
                before = in_force_values[key]
                if before == value:
                    continue
                row = uow.session.get(PharmacySetting, key)
                if row is None:
                    row = PharmacySetting(key=key, value=value)
                    uow.session.add(row)
                else:
                    row.value = value
                uow.session.flush()
                uow.audit("settings.changed", row, key=key, before=before, after=value)
            return read_sale_policy(uow.session)

    def add_otc_item(
        self,
        actor: Actor,
        *,
        upc: str,
        description: str,
        price_cents: int,
        taxable: bool,
        pse_base_mg: Decimal = Decimal(0),
    ) -> OtcItemRow:
        """Put an item in the register's table (pharmacist or administrator)."""
        require_role(actor, *APPROVER_ROLES, action="add an item to the register")
        digits = upc.strip()
        if not digits.isdigit() or not 8 <= len(digits) <= 14:
            raise ValidationFailed(f"“{upc}” is not a UPC: 8 to 14 digits.", upc=upc)
        if price_cents < 0 or pse_base_mg < 0 or not description.strip():
            raise ValidationFailed(
                "An item needs a description, a price and a PSE amount that are not negative.",
                upc=upc,
            )
        with self._db.unit_of_work(actor) as uow:
            if uow.session.scalars(select(OtcItem.id).where(OtcItem.upc == digits)).first():
                raise ValidationFailed(f"UPC {digits} is already in the item table.", upc=digits)
            item = OtcItem(
                upc=digits,
                description=description.strip(),
                price_cents=price_cents,
                taxable=taxable,
                pse_base_mg=pse_base_mg,
            )
            uow.session.add(item)
            uow.audit("otc_item.added", item, upc=digits, price_cents=price_cents)
            return OtcItemRow(item.id, digits, item.description, price_cents, taxable, pse_base_mg)

    # --- finding what to sell -----------------------------------------------------------------

    def find_ready_fills(self, actor: Actor, text: str) -> list[ReadyFill]:
        """Ready fills by a scanned bag/Rx label (`RX<rx>-<fill>`: all that patient's ready
        fills, the scanned one first), an Rx number, or a patient's name ("last, first")."""
        require_role(actor, *REGISTER_ROLES, action="look up fills for pickup")
        typed = text.strip()
        if not typed:
            return []
        with self._db.reading() as session:
            first_fill: int | None = None
            if typed[:2].upper() == "RX":
                scan = interpret_scan(typed)
                assert scan.kind is ScanKind.RX_LABEL
                found = session.execute(
                    select(Prescription.patient_id, Fill.id)
                    .join(Fill, Fill.prescription_id == Prescription.id)
                    .where(
                        Prescription.rx_number == scan.rx_number,
                        Fill.fill_number == scan.fill_number,
                    )
                ).first()
                if found is None:
                    raise NotFound(
                        f"No fill has the label {typed}; rescan it or type the Rx number.",
                        text=typed,
                    )
                patients = [found[0]]
                first_fill = found[1]
            elif typed.isdigit():
                patients = list(
                    session.scalars(
                        select(Prescription.patient_id).where(Prescription.rx_number == typed)
                    )
                )
            else:
                last, _, first = (part.strip() for part in typed.partition(","))
                conditions = [Patient.last_name.ilike(f"{last}%")]
                if first:
                    conditions.append(Patient.first_name.ilike(f"{first}%"))
                patients = list(session.scalars(select(Patient.id).where(*conditions).limit(50)))
            if not patients:
                return []
            rows = read_fill_rows(
                session,
                fill_rows_statement(
                    Patient.id.in_(patients), Fill.state == FillState.READY.value
                ).order_by(Patient.last_name, Patient.first_name, Prescription.rx_number),
            )
            ready = [_ready_fill(session, row) for row in rows]
            ready.sort(key=lambda fill: fill.fill_id != first_fill)
            return ready

    # --- the cart -----------------------------------------------------------------------------

    def open_sale(self, actor: Actor, *, patient_id: int | None) -> SaleView:
        """Start a sale for the patient, or take up the one left open for them (the patient
        who walked away and came back); `None` is a walk-in buying OTC items only."""
        require_role(actor, *REGISTER_ROLES, action="ring up a sale")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            if patient_id is not None:
                if session.get(Patient, patient_id) is None:
                    raise NotFound(f"There is no patient {patient_id}.", patient_id=patient_id)
                waiting = session.scalars(
                    select(Sale)
                    .where(Sale.patient_id == patient_id, Sale.status == SaleStatus.OPEN)
                    .order_by(Sale.id)
                ).first()
                if waiting is not None:
                    return sale_view(session, waiting)
            sale = Sale(
                patient_id=patient_id,
                workstation=actor.workstation,
                status=SaleStatus.OPEN,
                opened_by_user_id=actor.user_id,
            )
            session.add(sale)
            uow.audit("sale.opened", sale, patient_id=patient_id)
            _publish(uow, sale)
            return sale_view(session, sale)

    def open_sales(self, actor: Actor) -> list[SaleView]:
        """Sales left open (carts kept), oldest first."""
        require_role(actor, *REGISTER_ROLES, action="see open sales")
        with self._db.reading() as session:
            sales = session.scalars(
                select(Sale).where(Sale.status == SaleStatus.OPEN).order_by(Sale.opened_at)
            ).all()
            return [sale_view(session, sale) for sale in sales]

    def sale(self, actor: Actor, sale_id: int) -> SaleView:
        require_role(actor, *REGISTER_ROLES, *APPROVER_ROLES, action="see a sale")
        with self._db.reading() as session:
            sale = session.get(Sale, sale_id)
            if sale is None:
                raise NotFound(f"There is no sale number {sale_id}.", sale_id=sale_id)
            return sale_view(session, sale)

    def add_fill(self, actor: Actor, sale_id: int, fill_id: int) -> SaleView:
        """Put a ready fill of the sale's patient in the cart, at its patient pay."""
        require_role(actor, *REGISTER_ROLES, action="ring up a sale")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _open_sale(session, sale_id)
            _lock, row = locked_fill(session, fill_id)
            if row.state is not FillState.READY:
                raise FillNotReady(
                    f"Rx {row.rx_number}-{row.fill_number} is “{row.state.label}”, not ready "
                    "for pickup; it cannot be sold.",
                    fill_id=fill_id,
                    state=row.state.value,
                )
            if sale.patient_id is None:
                sale.patient_id = row.patient_id
            elif row.patient_id != sale.patient_id:
                raise ValidationFailed(
                    f"Rx {row.rx_number}-{row.fill_number} belongs to {row.patient_name}, not "
                    "to this sale's patient. Start a sale for them instead.",
                    fill_id=fill_id,
                )
            elsewhere = session.execute(
                select(Sale.id, Sale.workstation)
                .join(SaleLine, SaleLine.sale_id == Sale.id)
                .where(SaleLine.fill_id == fill_id, Sale.status == SaleStatus.OPEN)
            ).first()
            if elsewhere is not None:
                raise FillInAnotherSale(
                    f"Rx {row.rx_number}-{row.fill_number} is already in sale {elsewhere[0]} at "
                    f"{elsewhere[1]}.",
                    fill_id=fill_id,
                    sale_id=elsewhere[0],
                    workstation=elsewhere[1],
                )
            ready = _ready_fill(session, row)
            line = SaleLine(
                sale_id=sale.id,
                fill_id=fill_id,
                description=_fill_line_description(row),
                quantity=1,
                unit_price_cents=ready.price_cents,
                amount_cents=ready.price_cents,
                taxable=False,
                price_source=ready.price_source,
                claim_id=ready.claim_id,
            )
            session.add(line)
            uow.audit(
                "sale.fill_added",
                line,
                sale_id=sale.id,
                fill_id=fill_id,
                amount_cents=ready.price_cents,
                price_source=ready.price_source,
            )
            _recompute(session, sale)
            uow.audit("sale.totals", sale, total_cents=sale.total_cents)
            _publish(uow, sale)
            return sale_view(session, sale)

    def add_item(self, actor: Actor, sale_id: int, upc: str, *, quantity: int = 1) -> SaleView:
        """Scan an OTC item into the cart; pseudoephedrine and ephedrine need the purchaser's
        ID first and stay within the federal limits."""
        require_role(actor, *REGISTER_ROLES, action="ring up a sale")
        if quantity <= 0:
            raise ValidationFailed("The quantity must be at least 1.", quantity=quantity)
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _open_sale(session, sale_id)
            item = session.scalars(
                select(OtcItem).where(OtcItem.upc == upc.strip(), OtcItem.is_active)
            ).first()
            if item is None:
                raise UnknownItem(
                    f"No item has the UPC {upc.strip()}; scan it again or ring it up by hand.",
                    upc=upc,
                )
            line = SaleLine(
                sale_id=sale.id,
                otc_item_id=item.id,
                description=item.description,
                quantity=quantity,
                unit_price_cents=item.price_cents,
                amount_cents=item.price_cents * quantity,
                taxable=item.taxable,
                price_source="item_price",
            )
            session.add(line)
            session.flush()
            if item.pse_base_mg > 0:
                _pse_check(session, sale, _identification(session, sale.id, IdPurpose.PSE_PURCHASE))
            uow.audit("sale.item_added", line, sale_id=sale.id, upc=item.upc, quantity=quantity)
            _recompute(session, sale)
            uow.audit("sale.totals", sale, total_cents=sale.total_cents)
            _publish(uow, sale)
            return sale_view(session, sale)

    def remove_line(self, actor: Actor, sale_id: int, line_id: int) -> SaleView:
        """Take a line out of the cart, unless the money already taken would exceed the total."""
        require_role(actor, *REGISTER_ROLES, action="ring up a sale")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _open_sale(session, sale_id)
            line = session.get(SaleLine, line_id)
            if line is None or line.sale_id != sale.id:
                raise NotFound(f"Sale {sale_id} has no line {line_id}.", line_id=line_id)
            uow.audit(
                "sale.line_removed",
                line,
                sale_id=sale.id,
                fill_id=line.fill_id,
                otc_item_id=line.otc_item_id,
                amount_cents=line.amount_cents,
            )
            session.delete(line)
            _recompute(session, sale)
            paid = sum(tender.amount_cents for tender in sale.tenders)
            if paid > sale.total_cents:
                raise TenderTooLarge(
                    f"{dollars(paid)} has already been taken; removing this line would leave "
                    "less to pay than that. Void the sale instead.",
                    paid_cents=paid,
                )
            uow.audit("sale.totals", sale, total_cents=sale.total_cents)
            _publish(uow, sale)
            return sale_view(session, sale)

    # --- pickup requirements ------------------------------------------------------------------

    def record_identification(
        self,
        actor: Actor,
        sale_id: int,
        *,
        purpose: IdPurpose,
        id_type: IdType,
        id_number: str,
        id_state: str,
        name: str,
    ) -> SaleView:
        """The photo ID shown for a controlled pickup or a pseudoephedrine purchase."""
        require_role(actor, *REGISTER_ROLES, action="record an ID")
        purpose, id_type = IdPurpose(purpose), IdType(id_type)
        number, state, who = id_number.strip(), id_state.strip().upper(), name.strip()
        if not number or not who:
            raise ValidationFailed(
                "Type the ID number and the name as they appear on the ID.", purpose=purpose
            )
        if state and (len(state) != 2 or not state.isalpha()):
            raise ValidationFailed(f"“{id_state}” is not a two-letter state.", state=id_state)
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _open_sale(session, sale_id)
            record = session.scalars(
                select(PickupIdentification).where(
                    PickupIdentification.sale_id == sale.id,
                    PickupIdentification.purpose == purpose,
                )
            ).first()
            before = None
            if record is None:
                record = PickupIdentification(sale_id=sale.id, purpose=purpose.value)
                session.add(record)
            else:
                before = {"id_type": record.id_type, "id_state": record.id_state}
            record.id_type = id_type.value
            record.id_number = number
            record.id_state = state
            record.name = who
            record.recorded_by_user_id = actor.user_id
            record.recorded_at = utc_now()
            session.flush()
            if purpose is IdPurpose.PSE_PURCHASE:
                _pse_check(session, sale, record)
            # The ID number itself stays in its row; the audit trail says only that one was seen.
            uow.audit(
                "sale.id_recorded",
                record,
                sale_id=sale.id,
                purpose=purpose.value,
                before=before,
                after={"id_type": id_type.value, "id_state": state},
            )
            _publish(uow, sale)
            return sale_view(session, sale)

    def add_signature(
        self,
        actor: Actor,
        sale_id: int,
        *,
        purpose: SignaturePurpose,
        png: bytes,
        signer_name: str,
    ) -> SaleView:
        """A signature drawn on the pad, as a PNG image; a new one replaces the earlier one."""
        require_role(actor, *REGISTER_ROLES, action="capture a signature")
        purpose = SignaturePurpose(purpose)
        if not png.startswith(PNG_SIGNATURE) or len(png) < 64:
            raise InvalidSignature(
                "The signature is empty or not an image; ask the patient to sign again.",
                purpose=purpose.value,
            )
        if not signer_name.strip():
            raise InvalidSignature("Type the name of the person who signed.", purpose=purpose)
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _open_sale(session, sale_id)
            record = session.scalars(
                select(SaleSignature).where(
                    SaleSignature.sale_id == sale.id, SaleSignature.purpose == purpose
                )
            ).first()
            replaced = record is not None
            if record is None:
                record = SaleSignature(sale_id=sale.id, purpose=purpose.value)
                session.add(record)
            record.png = png
            record.signer_name = signer_name.strip()[:200]
            record.captured_at = utc_now()
            record.workstation = actor.workstation
            uow.audit(
                "sale.signed",
                record,
                sale_id=sale.id,
                purpose=purpose.value,
                signer=record.signer_name,
                replaced=replaced,
                png_bytes=len(png),
            )
            _publish(uow, sale)
            return sale_view(session, sale)

    def offer_counseling(self, actor: Actor, sale_id: int, *, accepted: bool) -> SaleChanges:
        """Record the patient's answer to the counseling offer. Accepted: the patient goes on
        the pharmacist's consult list and the sale waits for the "counseled" mark. Declined:
        the patient signs for it (purpose `counseling_offer`)."""
        require_role(actor, *REGISTER_ROLES, action="offer counseling")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _open_sale(session, sale_id)
            record = session.scalars(
                select(CounselingRecord).where(CounselingRecord.sale_id == sale.id)
            ).first()
            if record is not None and record.counseled_at is not None:
                raise ValidationFailed(
                    "The pharmacist has already counseled this patient.", sale_id=sale_id
                )
            before = None if record is None else record.outcome
            if record is None:
                record = CounselingRecord(sale_id=sale.id)
                session.add(record)
            record.outcome = "accepted" if accepted else "declined"
            record.offered_by_user_id = actor.user_id
            record.offered_at = utc_now()
            uow.audit(
                "sale.counseling_offered",
                record,
                sale_id=sale.id,
                before={"outcome": before},
                after={"outcome": record.outcome},
            )
            entity = str(sale.id)
            worklist = False
            if accepted and before != "accepted":
                patient = session.get(Patient, sale.patient_id) if sale.patient_id else None
                rx = ", ".join(
                    line.description.split(" ", 2)[1]
                    for line in sale.lines
                    if line.fill_id is not None
                )
                open_item(
                    uow,
                    kind=COUNSELING,
                    entity_type="sales",
                    entity_id=entity,
                    summary=(
                        f"Counsel {patient.display_name if patient else 'the patient'} at "
                        f"{sale.workstation} · Rx {rx}"
                    ),
                )
                worklist = True
            elif not accepted and before == "accepted":
                worklist = bool(
                    close_items(
                        uow, entity_type="sales", entity_id=entity, kinds=frozenset({COUNSELING})
                    )
                )
            _publish(uow, sale, worklist=worklist)
            return SaleChanges(sale_view(session, sale), worklist=worklist)

    def mark_counseled(self, actor: Actor, sale_id: int, *, notes: str = "") -> SaleChanges:
        """The pharmacist counseled the patient: the sale may complete."""
        require_role(actor, Role.PHARMACIST, action="mark a patient counseled")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _open_sale(session, sale_id)
            record = session.scalars(
                select(CounselingRecord)
                .where(CounselingRecord.sale_id == sale.id)
                .with_for_update()
            ).first()
            if record is None or record.outcome != "accepted":
                raise CounselingNotOffered(
                    "This patient has not accepted a counseling offer at the register.",
                    sale_id=sale_id,
                )
            if record.counseled_at is not None:
                return SaleChanges(sale_view(session, sale))
            record.pharmacist_user_id = actor.user_id
            record.counseled_at = utc_now()
            record.notes = notes.strip()
            uow.audit("sale.counseled", record, sale_id=sale.id, notes=record.notes)
            close_items(
                uow, entity_type="sales", entity_id=str(sale.id), kinds=frozenset({COUNSELING})
            )
            _publish(uow, sale, worklist=True)
            return SaleChanges(sale_view(session, sale), worklist=True)

    # --- tenders ------------------------------------------------------------------------------

    def take_cash(self, actor: Actor, sale_id: int, *, handed_cents: int) -> SaleView:
        """Cash handed over: what is due is applied, the rest is change (in the view)."""
        require_role(actor, *REGISTER_ROLES, action="take payment")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _open_sale(session, sale_id)
            due = sale.total_cents - sum(tender.amount_cents for tender in sale.tenders)
            cash = apply_cash(handed_cents, due)
            tender = Tender(
                sale_id=sale.id,
                kind=TenderKind.CASH.value,
                amount_cents=cash.applied_cents,
                change_given_cents=cash.change_cents,
                user_id=actor.user_id,
                workstation=actor.workstation,
            )
            session.add(tender)
            uow.audit(
                "sale.tender",
                tender,
                sale_id=sale.id,
                kind="cash",
                amount_cents=cash.applied_cents,
                change_cents=cash.change_cents,
            )
            _publish(uow, sale)
            return sale_view(session, sale)

    def take_card(
        self, actor: Actor, sale_id: int, *, kind: TenderKind, amount_cents: int
    ) -> SaleView:
        """Charge a card through the terminal for part or all of what is due; a decline
        records nothing but its audit event."""
        require_role(actor, *REGISTER_ROLES, action="take payment")
        if kind not in CARD_TENDERS:
            raise ValidationFailed(f"{kind.label} is not a card.", kind=kind.value)
        self._refuse_over_due(actor, sale_id, amount_cents)
        result = self._terminal.charge(
            kind=CardKind(kind.value), amount_cents=amount_cents, reference=f"SALE-{sale_id}"
        )
        closed_meanwhile = False
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _locked_sale(session, sale_id)
            if not result.approved or sale.status != SaleStatus.OPEN:
                # Declined, or approved for a sale another register finished meanwhile: the
                # charge is refunded below, outside the transaction.
                closed_meanwhile = result.approved
                uow.audit(
                    "sale.card_refunded_sale_closed" if closed_meanwhile else "sale.card_declined",
                    entity_type="sales",
                    entity_id=str(sale.id),
                    kind=kind.value,
                    amount_cents=amount_cents,
                    message=result.message,
                    approval=result.approval_code,
                )
            else:
                tender = Tender(
                    sale_id=sale.id,
                    kind=kind.value,
                    amount_cents=amount_cents,
                    reference=result.approval_code[:64],
                    card_last_four=result.card_last_four[-4:],
                    user_id=actor.user_id,
                    workstation=actor.workstation,
                )
                session.add(tender)
                uow.audit(
                    "sale.tender",
                    tender,
                    sale_id=sale.id,
                    kind=kind.value,
                    amount_cents=amount_cents,
                    approval=result.approval_code,
                )
                _publish(uow, sale)
                return sale_view(session, sale)
        if closed_meanwhile:
            self._refund_cards(sale_id, {kind: amount_cents})
            raise SaleNotOpen(
                f"Sale {sale_id} was finished at another register while the card was charged; "
                f"the {dollars(amount_cents)} charged was refunded to the card.",
                sale_id=sale_id,
            )
        raise CardDeclined(
            f"The card was declined for {dollars(amount_cents)}: {result.message} Ask for "
            "another card or another way to pay.",
            sale_id=sale_id,
            amount_cents=amount_cents,
        )

    def take_other(
        self, actor: Actor, sale_id: int, *, kind: TenderKind, amount_cents: int, reference: str
    ) -> SaleView:
        """A check (its number) or a house charge (the account) for part or all of what is due."""
        require_role(actor, *REGISTER_ROLES, action="take payment")
        if kind not in (TenderKind.CHECK, TenderKind.HOUSE_CHARGE):
            raise ValidationFailed(f"Take {kind.label} with its own button.", kind=kind.value)
        if not reference.strip():
            raise ValidationFailed(
                "Type the check number." if kind is TenderKind.CHECK else "Type the account.",
                kind=kind.value,
            )
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _open_sale(session, sale_id)
            self._refuse_over(sale, amount_cents)
            tender = Tender(
                sale_id=sale.id,
                kind=kind.value,
                amount_cents=amount_cents,
                reference=reference.strip()[:64],
                user_id=actor.user_id,
                workstation=actor.workstation,
            )
            session.add(tender)
            uow.audit(
                "sale.tender", tender, sale_id=sale.id, kind=kind.value, amount_cents=amount_cents
            )
            _publish(uow, sale)
            return sale_view(session, sale)

    def _refuse_over_due(self, actor: Actor, sale_id: int, amount_cents: int) -> None:
        with self._db.reading() as session:
            sale = session.get(Sale, sale_id)
            if sale is None:
                raise NotFound(f"There is no sale number {sale_id}.", sale_id=sale_id)
            if sale.status != SaleStatus.OPEN:
                raise SaleNotOpen(f"Sale {sale_id} is {sale.status}.", sale_id=sale_id)
            self._refuse_over(sale, amount_cents)

    @staticmethod
    def _refuse_over(sale: Sale, amount_cents: int) -> None:
        due = sale.total_cents - sum(tender.amount_cents for tender in sale.tenders)
        if amount_cents <= 0:
            raise ValidationFailed("The amount must be more than $0.00.", amount=amount_cents)
        if amount_cents > due:
            raise TenderTooLarge(
                f"Only {dollars(max(due, 0))} is due; a card, check or charge cannot be taken "
                f"for {dollars(amount_cents)}.",
                due_cents=due,
                amount_cents=amount_cents,
            )

    # --- completion ---------------------------------------------------------------------------

    def complete_sale(self, actor: Actor, sale_id: int, *, expected_version: int) -> SaleChanges:
        """Sell: every requirement met, every fill moved to sold, the PSE logbook written, in
        one transaction; refused whole if anything is missing or a fill was sold elsewhere."""
        require_role(actor, *REGISTER_ROLES, action="complete a sale")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _open_sale(session, sale_id, expected_version=expected_version)
            view = sale_view(session, sale)
            if view.balance_due_cents > 0:
                raise TenderShort(
                    f"{dollars(view.balance_due_cents)} is still due: take another tender "
                    "before completing the sale.",
                    balance_due_cents=view.balance_due_cents,
                )
            if view.missing:
                raise SaleIncomplete(
                    "The sale cannot be completed yet: " + " ".join(view.missing),
                    missing=list(view.missing),
                )
            sold: list[int] = []
            for line in view.lines:
                if line.fill_id is None:
                    continue
                fill, row = locked_fill(session, line.fill_id)
                if fill.state is not FillState.READY:
                    raise FillNotReady(
                        f"Rx {row.rx_number}-{row.fill_number} is “{fill.state.label}” now (sold "
                        "or moved at another workstation); nothing was sold. Remove it from "
                        "the sale.",
                        fill_id=fill.id,
                        state=fill.state.value,
                    )
                refuse_if_held_by_another(session, fill, actor)
                move_locked_fill(uow, fill, row, FillState.SOLD, f"Sale {sale.id}")
                sold.append(fill.id)
            if IdPurpose.PSE_PURCHASE in view.identifications and _has_pse(session, view):
                self._write_pse_log(uow, sale)
            if SignaturePurpose.PRIVACY_NOTICE in view.signatures and sale.patient_id:
                patient = session.get(Patient, sale.patient_id)
                assert patient is not None
                if patient.privacy_notice_acknowledged_on is None:
                    patient.privacy_notice_acknowledged_on = utc_now().date()
                    uow.audit("patient.privacy_notice_acknowledged", patient, sale_id=sale.id)
            sale.status = SaleStatus.COMPLETED
            sale.completed_at = utc_now()
            sale.completed_by_user_id = actor.user_id
            uow.audit(
                "sale.completed",
                sale,
                total_cents=sale.total_cents,
                tax_cents=sale.tax_cents,
                paid_cents=view.paid_cents,
                change_cents=view.change_given_cents,
                fills=sold,
                tenders={t.kind.value: t.amount_cents for t in view.tenders},
            )
            _publish(uow, sale, fills=tuple(sold))
            return SaleChanges(sale_view(session, sale), fills_sold=tuple(sold))

    @staticmethod
    def _write_pse_log(uow: UnitOfWork, sale: Sale) -> None:
        session = uow.session
        identification = _identification(session, sale.id, IdPurpose.PSE_PURCHASE)
        _pse_check(session, sale, identification)
        today = utc_now().date()
        lines = session.execute(
            select(SaleLine, OtcItem)
            .join(OtcItem, SaleLine.otc_item_id == OtcItem.id)
            .where(SaleLine.sale_id == sale.id, OtcItem.pse_base_mg > 0)
            .order_by(SaleLine.id)
        ).all()
        for line, item in lines:
            entry = PseLogEntry(
                sale_id=sale.id,
                otc_item_id=item.id,
                identification_id=identification.id,
                purchaser_key=_purchaser_key(identification),
                purchaser_name=identification.name,
                quantity=line.quantity,
                base_mg=item.pse_base_mg * line.quantity,
                sold_on=today,
            )
            session.add(entry)
            uow.audit("pse.logged", entry, sale_id=sale.id, base_mg=str(entry.base_mg))

    # --- money back ---------------------------------------------------------------------------

    def void_sale(
        self, actor: Actor, sale_id: int, *, reason: str, approved_by: Actor | None
    ) -> SaleView:
        """Abandon an open sale (nothing sold); any money taken is given back, cards through
        the terminal. Needs a pharmacist's or administrator's approval and a reason."""
        require_role(actor, *REGISTER_ROLES, *APPROVER_ROLES, action="void a sale")
        approver = _approver_check(approved_by, actor, "voiding a sale")
        if not reason.strip():
            raise ValidationFailed("Say why the sale is voided.", sale_id=sale_id)
        view = self.sale(actor, sale_id)
        if view.status is not SaleStatus.OPEN:
            raise SaleNotOpen(
                f"Sale {sale_id} is {view.status}; a completed sale is refunded, not voided.",
                sale_id=sale_id,
            )
        by_kind: dict[TenderKind, int] = {}
        for tender in view.tenders:
            by_kind[tender.kind] = by_kind.get(tender.kind, 0) + tender.amount_cents
        self._refund_cards(sale_id, by_kind)
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _open_sale(session, sale_id, expected_version=view.version)
            for kind, amount in by_kind.items():
                refund = SaleRefund(
                    sale_id=sale.id,
                    kind="void",
                    tender_kind=kind.value,
                    amount_cents=amount,
                    reason=reason.strip(),
                    user_id=actor.user_id,
                    approved_by_user_id=approver.user_id,
                    workstation=actor.workstation,
                )
                session.add(refund)
                uow.audit("sale.money_back", refund, sale_id=sale.id, amount_cents=amount)
            sale.status = SaleStatus.VOIDED
            had = close_items(
                uow, entity_type="sales", entity_id=str(sale.id), kinds=frozenset({COUNSELING})
            )
            uow.audit(
                "sale.voided",
                sale,
                reason=reason.strip(),
                approved_by=approver.username,
                returned_cents=sum(by_kind.values()),
            )
            _publish(uow, sale, worklist=bool(had))
            return sale_view(session, sale)

    def refund(
        self,
        actor: Actor,
        sale_id: int,
        *,
        amount_cents: int,
        tender_kind: TenderKind,
        reason: str,
        approved_by: Actor | None,
    ) -> SaleView:
        """Give money back on a completed sale, never more than was paid by that tender; the
        fills stay sold (a dispensed prescription does not go back on the shelf)."""
        require_role(actor, *REGISTER_ROLES, *APPROVER_ROLES, action="refund a sale")
        approver = _approver_check(approved_by, actor, "a refund")
        if not reason.strip():
            raise ValidationFailed("Say why the money is given back.", sale_id=sale_id)
        if amount_cents <= 0:
            raise ValidationFailed("A refund must be more than $0.00.", amount=amount_cents)
        with self._db.reading() as session:
            sale_read = session.get(Sale, sale_id)
            if sale_read is None:
                raise NotFound(f"There is no sale number {sale_id}.", sale_id=sale_id)
            _refuse_refund_over(session, sale_view(session, sale_read), tender_kind, amount_cents)
        self._refund_cards(sale_id, {tender_kind: amount_cents})
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            sale = _locked_sale(session, sale_id)
            view = sale_view(session, sale)
            _refuse_refund_over(session, view, tender_kind, amount_cents)
            refund = SaleRefund(
                sale_id=sale.id,
                kind="refund",
                tender_kind=tender_kind.value,
                amount_cents=amount_cents,
                reason=reason.strip(),
                user_id=actor.user_id,
                approved_by_user_id=approver.user_id,
                workstation=actor.workstation,
            )
            session.add(refund)
            uow.audit("sale.money_back", refund, sale_id=sale.id, amount_cents=amount_cents)
            if view.refunded_cents + amount_cents >= view.paid_cents:
                sale.status = SaleStatus.REFUNDED
            uow.audit(
                "sale.refunded",
                sale,
                amount_cents=amount_cents,
                tender=tender_kind.value,
                reason=reason.strip(),
                approved_by=approver.username,
            )
            _publish(uow, sale)
            return sale_view(session, sale)

    def _refund_cards(self, sale_id: int, amounts: dict[TenderKind, int]) -> None:
        for kind, amount in amounts.items():
            if kind in CARD_TENDERS:
                result = self._terminal.refund(
                    kind=CardKind(kind.value), amount_cents=amount, reference=f"SALE-{sale_id}"
                )
                if not result.approved:
                    raise CardDeclined(
                        f"The terminal refused the card refund: {result.message}",
                        sale_id=sale_id,
                    )

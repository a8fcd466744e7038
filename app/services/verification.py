"""Fill verification by scanning: each stock bottle judged, counted and taken from stock.

The technician opens a fill at the Fill step (and holds it), scans each stock bottle, and the
service judges it with the one verdict vocabulary (app.domain.verdicts) on top of the rules of
the bench: typed NDCs, lot and expiry, duplicate serials, quantities, C-II counts and
pharmacist overrides. `judge` only reads; `accept_bottle` judges again inside its transaction
(the window is never trusted) and writes the bottle, its dispensing movement, the lot's balance,
the controlled-substance log line and ONE audit event naming them, or nothing at all. The
house's rule on negative on-hand holds here as in the stock ledger: a bottle that would take
its lot below zero (a lot never received, say) is refused unless the house allows negative
stock, and then the bottle carries the warning that the lot is negative. Like every change of
stock, an accepted or voided bottle checks its package for shortage notices in its transaction.
`complete` also refuses while the fill's last printed label promises a discard-after date
later than a bottle's lot expires: the label is reprinted first.

What may follow each verdict here (the verdict table's `overridable`/`requires`, narrowed by
what the stock ledger needs):

- `match`: accepted.
- `package-size-differs`: a product counted by the unit is accepted once the technician
  confirms, and the fill's dispensed NDC becomes the one in the bottle; a product dispensed
  as whole packages goes back to data entry; a sample package is a stop.
- `other-manufacturer`: accepted only with a pharmacist's co-signature and reason (the
  verdict's `requires`), recorded on the bottle and in its audit event; the fill's dispensed
  NDC becomes the scanned one, since label and claim must name what is in the vial.
- `unknown`: a stop, never overridden blind (a bottle not in the catalogue has no package to
  take stock from): a pharmacist may add the product from the scanned bottle
  (`add_product_from_scan`, app.services.local_products), then the bottle is scanned again and
  judged like any other.
- `wrong-drug`, `recalled`, `expired`: never overridable. `invalid`, `ambiguous`: rescan or
  type the NDC with its hyphens.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import identity_key

from app.db.models import (
    DrugPackage,
    DrugProduct,
    Fill,
    FillBottle,
    LabelPrint,
    Patient,
    Prescription,
    StockLot,
    User,
)
from app.domain.barcodes import Scan, ScanKind
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.domain.verdicts import (
    Requirement,
    Verdict,
    VerdictResult,
    is_counted_by_unit,
    judge_scan,
    strength_text,
)
from app.errors import NotFound, RxBenchError, StaleRecord, ValidationFailed
from app.services.changes import publish
from app.services.claim_records import queue_rebill
from app.services.dispensing import (
    accepted_total,
    controlled_schedule,
    dispense_from_lot,
    stock_changed,
    void_accepted_bottle,
)
from app.services.fills import FillRow
from app.services.house_settings import (
    CiiCountMode,
    VerificationPolicy,
    read_verification_policy,
)
from app.services.identify import CataloguePackage, ResolvedScan, packages_by_id, resolve_scan
from app.services.local_products import AddedProduct, PharmacyProductDraft, add_pharmacy_product
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role
from app.services.workflow import TOPIC, FillHeldByAnother, QueuedClaimSender, move_fill

BENCH_ROLES = (Role.TECHNICIAN, Role.PHARMACIST)
NEVER_RECEIVED_WARNING = "Stock of this lot was never received in RxBench."
_STOP_VERDICTS = frozenset(
    {
        Verdict.WRONG_DRUG,
        Verdict.RECALLED,
        Verdict.EXPIRED,
        Verdict.INVALID,
        Verdict.AMBIGUOUS,
        Verdict.UNKNOWN,
    }
)


class NextStep(StrEnum):
    """What the technician must do before (or instead of) accepting the scanned bottle."""

    QUANTITY = "quantity"  # whole package by default, or a counted partial
    LOT_AND_EXPIRY = "lot-and-expiry"  # only a UPC was scanned: type them from the package
    CONFIRM_PACKAGE_SIZE = "confirm-package-size"
    PHARMACIST_OVERRIDE = "pharmacist-override"
    CII_COUNT_TWICE = "cii-count-twice"
    CII_SECOND_PERSON = "cii-second-person"
    RESCAN = "rescan"
    TYPE_NDC_WITH_HYPHENS = "type-ndc-with-hyphens"
    DATA_ENTRY = "data-entry"
    TAKE_ANOTHER_BOTTLE = "take-another-bottle"
    PHARMACIST_ADDS_PRODUCT = "pharmacist-adds-product"  # then the bottle is scanned again


class StopReason(StrEnum):
    """Why a scanned bottle cannot be accepted as it is (besides the verdict's own stops)."""

    VERDICT = "verdict"
    SAMPLE_PACKAGE = "sample-package"
    BACK_TO_DATA_ENTRY = "back-to-data-entry"
    NOT_IN_CATALOGUE = "not-in-catalogue"
    MANUAL_ENTRY_NOT_ALLOWED = "manual-entry-not-allowed"
    DUPLICATE_SERIAL = "duplicate-serial"
    MIXED_PRODUCTS = "mixed-products"
    UNIT_DIFFERS = "unit-differs"
    FILL_COMPLETE = "fill-complete"
    OWN_RX_LABEL = "own-rx-label"


# --- errors ------------------------------------------------------------------------------------


class FillNotAtFillStep(ValidationFailed):
    """Bottles are scanned only while the fill is at the Fill step."""

    code = "fill-not-at-fill-step"


class FillNotOpen(ValidationFailed):
    """The fill must be opened for verification (and so held) by the person scanning."""

    code = "fill-not-open"


class RxLabelOfAnotherFill(RxBenchError):
    """An Rx label of another fill was scanned mid-fill: a vial may be in the wrong basket."""

    code = "rx-label-of-another-fill"


class BottleRefused(ValidationFailed):
    """The bottle cannot be accepted; `facts["reason"]` is a `StopReason` or a rule's name."""

    code = "bottle-refused"


class PharmacistOverrideRequired(BottleRefused):
    code = "pharmacist-override-required"


class ConfirmationRequired(BottleRefused):
    code = "package-size-confirmation-required"


class LotAndExpiryRequired(BottleRefused):
    code = "lot-and-expiry-required"


class QuantityRefused(BottleRefused):
    code = "quantity-refused"


class ControlledCountRefused(BottleRefused):
    code = "cii-count-refused"


class VerificationIncomplete(ValidationFailed):
    code = "verification-incomplete"


class LabelReprintRequired(ValidationFailed):
    """The last label printed for the fill says discard after a bottle's lot expires."""

    code = "label-reprint-required"


# --- what the window shows --------------------------------------------------------------------


@dataclass(frozen=True)
class BottleRow:
    """One scanned bottle of a fill, as the bench and the final verification show it."""

    bottle_id: int
    ndc: str
    drug: str
    kind: str
    scanned_text: str
    lot_number: str
    expiry: date | None
    serial: str | None
    quantity: Decimal
    verdict: Verdict
    verdict_message: str
    warnings: tuple[str, ...]
    manual: bool
    confirmed: bool
    overridden_by: str | None
    override_reason: str
    scanned_by: str | None
    workstation: str
    scanned_at: datetime
    voided_at: datetime | None
    voided_reason: str

    @property
    def voided(self) -> bool:
        return self.voided_at is not None


@dataclass(frozen=True)
class VerificationView:
    """Everything the Verify dock shows for the fill being scanned."""

    fill_id: int
    rx_number: str
    fill_number: int
    patient_id: int
    patient_name: str
    patient_date_of_birth: date
    drug: str
    strength: str
    dosage_form: str
    manufacturer: str
    ndc: str
    package_description: str
    package_quantity: Decimal | None
    counted_by_unit: bool
    quantity: Decimal
    unit: str
    days_supply: int
    directions: str
    dea_schedule: str | None
    bottles: tuple[BottleRow, ...]
    accepted_total: Decimal
    remaining: Decimal
    version: int
    policy: VerificationPolicy
    label_reprint_needed: str | None = None  # why the label must be printed again, if it must


@dataclass(frozen=True)
class ScanJudgement:
    """The verdict on one scan for this fill, and what must happen next.

    `verdict` is None only for this fill's own Rx label (nothing to judge). `stop` says the
    bottle cannot be accepted as scanned; `stop_reason` why, when the verdict alone does not.
    `suggested_quantity` is a whole package, or what the fill still needs if that is less.
    `candidates` are the NDCs an `ambiguous` code names, or the readings of an `unknown` one.
    """

    verdict: Verdict | None
    message: str
    warnings: tuple[str, ...]
    overridable: bool
    requires: Requirement | None
    stop: bool
    stop_reason: StopReason | None
    next_steps: tuple[NextStep, ...]
    kind: str | None
    manual: bool
    ndc: str | None
    drug: str | None
    package_description: str | None
    lot: str | None
    expiry: date | None
    serial: str | None
    lot_known: bool
    package_quantity: Decimal | None
    suggested_quantity: Decimal | None
    remaining: Decimal
    unit: str
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class BottleAccepted:
    """What accepting a bottle changed: the bottle, the fill's totals and version, the ledger."""

    bottle: BottleRow
    accepted_total: Decimal
    remaining: Decimal
    fill_version: int
    dispensed_ndc: str
    movement_id: int
    controlled_entry_id: int | None
    label_reprint_needed: str | None = None

    @property
    def complete(self) -> bool:
        return self.remaining == 0


@dataclass(frozen=True)
class BottleVoided:
    bottle: BottleRow
    accepted_total: Decimal
    remaining: Decimal
    fill_version: int
    reversal_movement_id: int
    label_reprint_needed: str | None = None


# --- the fill under verification --------------------------------------------------------------


@dataclass(frozen=True)
class _FillContext:
    id: int
    state: FillState
    version: int
    held_by_user_id: int | None
    quantity: Decimal
    days_supply: int
    dispensed_package_id: int | None
    prescription_id: int
    rx_number: str
    fill_number: int
    prescribed_package_id: int
    unit: str
    directions: str
    patient_id: int
    patient_name: str
    patient_date_of_birth: date


_FILLS = cast(Table, Fill.__table__)


def _fill_context(session: Session, fill_id: int, *, lock: bool) -> _FillContext:
    statement = (
        select(
            Fill.id,
            Fill.state,
            Fill.version,
            Fill.held_by_user_id,
            Fill.quantity,
            Fill.days_supply,
            Fill.dispensed_package_id,
            Prescription.id.label("prescription_id"),
            Prescription.rx_number,
            Fill.fill_number,
            Prescription.package_id,
            Prescription.quantity_unit,
            Prescription.directions,
            Patient.id.label("patient_id"),
            Patient.last_name,
            Patient.first_name,
            Patient.date_of_birth,
        )
        .join(Prescription, Fill.prescription_id == Prescription.id)
        .join(Patient, Prescription.patient_id == Patient.id)
        .where(Fill.id == fill_id)
    )
    if lock:
        statement = statement.with_for_update(of=_FILLS)
    row = session.execute(statement).first()
    if row is None:
        raise NotFound(f"There is no fill with id {fill_id}.", fill_id=fill_id)
    return _FillContext(
        id=row.id,
        state=FillState(row.state),
        version=row.version,
        held_by_user_id=row.held_by_user_id,
        quantity=row.quantity,
        days_supply=row.days_supply,
        dispensed_package_id=row.dispensed_package_id,
        prescription_id=row.prescription_id,
        rx_number=row.rx_number,
        fill_number=row.fill_number,
        prescribed_package_id=row.package_id,
        unit=row.quantity_unit,
        directions=row.directions,
        patient_id=row.patient_id,
        patient_name=f"{row.last_name}, {row.first_name}",
        patient_date_of_birth=row.date_of_birth,
    )


def _refuse_unless_at_fill_step(fill: _FillContext) -> None:
    if fill.state is not FillState.FILL:
        raise FillNotAtFillStep(
            f"Rx {fill.rx_number}-{fill.fill_number} is at “{fill.state.label}”, not at the "
            "Fill step: bottles are scanned only while it is being filled.",
            fill_id=fill.id,
            state=fill.state.value,
        )


def _holder_name(session: Session, user_id: int) -> str:
    return session.scalar(select(User.username).where(User.id == user_id)) or "another user"


def _refuse_unless_open_by(session: Session, fill: _FillContext, actor: Actor) -> None:
    """The actor must hold the fill (open_fill takes it); nobody else may be working on it."""
    if fill.held_by_user_id == actor.user_id:
        return
    if fill.held_by_user_id is not None:
        name = _holder_name(session, fill.held_by_user_id)
        raise FillHeldByAnother(
            f"{name} is working on this fill. Ask them to release it, or pick another fill.",
            fill_id=fill.id,
            held_by=name,
        )
    raise FillNotOpen(
        f"Open Rx {fill.rx_number}-{fill.fill_number} for verification before scanning bottles.",
        fill_id=fill.id,
    )


def _refuse_stale(fill: _FillContext, expected_version: int) -> None:
    if fill.version != expected_version:
        raise StaleRecord(
            "This fill changed since you opened it (another workstation scanned or moved it); "
            "nothing was saved. Look at the fill again.",
            fill_id=fill.id,
            expected_version=expected_version,
            current_version=fill.version,
        )


def _bump_fill(session: Session, fill: _FillContext, *, dispensed_package_id: int | None) -> int:
    """Write the fill's new version (and dispensed package): the other workstation goes stale."""
    result = session.connection().execute(
        update(_FILLS)
        .where(_FILLS.c.id == fill.id, _FILLS.c.version == fill.version)
        .values(version=_FILLS.c.version + 1, dispensed_package_id=dispensed_package_id)
    )
    if result.rowcount != 1:
        raise StaleRecord(
            "Someone else changed this fill while you were scanning; nothing was saved.",
            fill_id=fill.id,
        )
    loaded = session.identity_map.get(identity_key(Fill, fill.id))
    if loaded is not None:
        session.expire(loaded)
    return fill.version + 1


# --- judging ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Assessment:
    """A scan judged for a fill, with what accepting it would use."""

    judgement: ScanJudgement
    expected: CataloguePackage
    scanned: CataloguePackage | None
    scan: Scan | None
    lot: StockLot | None
    lot_number: str
    expiry: date | None


@dataclass(frozen=True)
class _Typed:
    """Lot and expiry typed from the package when the barcode carried none."""

    lot_number: str | None = None
    expiry: date | None = None


def _accepted_bottles(session: Session, fill_id: int) -> list[tuple[FillBottle, str]]:
    """The fill's bottles not voided, each with its product NDC."""
    rows = session.execute(
        select(FillBottle, DrugProduct.product_ndc)
        .join(DrugPackage, FillBottle.package_id == DrugPackage.id)
        .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
        .where(FillBottle.fill_id == fill_id, FillBottle.voided_at.is_(None))
        .order_by(FillBottle.id)
    ).all()
    return [(bottle, product_ndc) for bottle, product_ndc in rows]


def _serial_in_use(session: Session, package_id: int, serial: str) -> str | None:
    """The Rx-fill that already holds a bottle with this serial, if any (voided ones free it)."""
    row = session.execute(
        select(Prescription.rx_number, Fill.fill_number)
        .select_from(FillBottle)
        .join(Fill, FillBottle.fill_id == Fill.id)
        .join(Prescription, Fill.prescription_id == Prescription.id)
        .where(
            FillBottle.package_id == package_id,
            FillBottle.serial == serial,
            FillBottle.voided_at.is_(None),
        )
        .limit(1)
    ).first()
    return None if row is None else f"{row.rx_number}-{row.fill_number}"


def _rx_label_refusal(session: Session, fill: _FillContext, scan: Scan) -> RxLabelOfAnotherFill:
    label = f"{scan.rx_number}-{scan.fill_number}"
    patient_id = session.scalar(
        select(Prescription.patient_id).where(Prescription.rx_number == scan.rx_number)
    )
    if patient_id is None:
        message = f"This is the label of Rx {label}, which is not a prescription of this pharmacy."
    elif patient_id != fill.patient_id:
        message = (
            f"This is the label of Rx {label} for another patient, not of Rx "
            f"{fill.rx_number}-{fill.fill_number}: check that no vial is in the wrong basket."
        )
    else:
        message = (
            f"This is the label of Rx {label}, another prescription of the same patient, not of "
            f"Rx {fill.rx_number}-{fill.fill_number}: check that no vial is in the wrong basket."
        )
    return RxLabelOfAnotherFill(
        message, fill_id=fill.id, scanned_rx=scan.rx_number, scanned_fill=scan.fill_number
    )


def _is_own_label(fill: _FillContext, scan: Scan) -> bool:
    return scan.rx_number is not None and (
        scan.rx_number.lstrip("0") == fill.rx_number.lstrip("0")
        and scan.fill_number == fill.fill_number
    )


def _find_lot(session: Session, package_id: int, lot_number: str, *, lock: bool) -> StockLot | None:
    statement = select(StockLot).where(
        StockLot.package_id == package_id, StockLot.lot_number == lot_number
    )
    if lock:
        statement = statement.with_for_update()
    return session.scalars(statement).first()


def _soonest_lot(session: Session, package_id: int, today: date, *, lock: bool) -> StockLot | None:
    """First-expiry-first-out: the lot a bottle without a recorded lot is taken from."""
    statement = (
        select(StockLot)
        .where(
            StockLot.package_id == package_id,
            StockLot.status == "available",
            StockLot.on_hand > 0,
            StockLot.expiry >= today,
        )
        .order_by(StockLot.expiry, StockLot.id)
        .limit(1)
    )
    if lock:
        statement = statement.with_for_update()
    return session.scalars(statement).first()


def _assess(
    session: Session,
    fill: _FillContext,
    resolved: ResolvedScan,
    *,
    manual: bool,
    typed: _Typed,
    policy: VerificationPolicy,
    today: date,
    lock: bool,
) -> _Assessment:
    """Judge a scan for the fill: the verdict first, then the bench's own rules in order."""
    expected = packages_by_id(session, {fill.prescribed_package_id})[fill.prescribed_package_id]
    scan = resolved.scan
    remaining = fill.quantity - accepted_total(session, fill.id)
    if scan is not None and scan.kind is ScanKind.RX_LABEL:
        if not _is_own_label(fill, scan):
            raise _rx_label_refusal(session, fill, scan)
        return _Assessment(
            judgement=_own_label_judgement(fill, scan, remaining),
            expected=expected,
            scanned=None,
            scan=scan,
            lot=None,
            lot_number="",
            expiry=None,
        )
    scanned = resolved.found[0] if len(resolved.found) == 1 else None
    manual = manual or (scan is not None and scan.manual)
    lot: StockLot | None = None
    lot_number = ""
    expiry: date | None = None
    warnings: list[str] = []
    if scan is not None and scanned is not None:
        lot_number = scan.lot or (typed.lot_number or "").strip()
        if lot_number:
            lot = _find_lot(session, scanned.package_id, lot_number, lock=lock)
        elif not policy.require_lot_for_upc and typed.expiry is None:
            lot = _soonest_lot(session, scanned.package_id, today, lock=lock)
            if lot is not None:
                warnings.append(
                    f"Lot not recorded: the stock is taken from lot {lot.lot_number} (expires "
                    f"{lot.expiry.isoformat()}), the soonest to expire."
                )
        expiry = scan.expiry or typed.expiry or (lot.expiry if lot is not None else None)
        if lot_number and lot is None:
            warnings.append(NEVER_RECEIVED_WARNING)
    verdict = judge_scan(
        expected=expected.facts,
        scan=resolved.scan_or_error,
        found=[package.facts for package in resolved.found],
        today=today,
        lot_status=lot.status if lot is not None else None,
        expiry=expiry,
        days_supply=fill.days_supply,
    )
    judgement = _judgement(
        session,
        fill,
        verdict,
        scan=scan,
        expected=expected,
        scanned=scanned,
        manual=manual,
        lot=lot,
        lot_number=lot_number,
        expiry=expiry,
        extra_warnings=tuple(warnings),
        policy=policy,
        remaining=remaining,
        candidates=_candidates(verdict.verdict, resolved),
    )
    return _Assessment(judgement, expected, scanned, scan, lot, lot_number, expiry)


def _candidates(verdict: Verdict, resolved: ResolvedScan) -> tuple[str, ...]:
    """The NDCs to choose from: the packages an ambiguous code names, or every reading of a
    code the catalogue lacks (the pharmacist adding it picks the one on the package)."""
    if verdict is Verdict.AMBIGUOUS:
        return tuple(sorted(package.facts.package_ndc for package in resolved.found))
    if verdict is Verdict.UNKNOWN and resolved.scan is not None:
        return tuple(candidate.hyphenated for candidate in resolved.scan.candidates)
    return ()


def _own_label_judgement(fill: _FillContext, scan: Scan, remaining: Decimal) -> ScanJudgement:
    return ScanJudgement(
        verdict=None,
        message=f"That is this fill's own Rx label (Rx {fill.rx_number}-{fill.fill_number}): "
        "now scan the manufacturer's barcode on the stock bottle.",
        warnings=(),
        overridable=False,
        requires=None,
        stop=True,
        stop_reason=StopReason.OWN_RX_LABEL,
        next_steps=(NextStep.RESCAN,),
        kind=scan.kind.value,
        manual=False,
        ndc=None,
        drug=None,
        package_description=None,
        lot=None,
        expiry=None,
        serial=None,
        lot_known=False,
        package_quantity=None,
        suggested_quantity=None,
        remaining=remaining,
        unit=fill.unit,
    )


def _judgement(
    session: Session,
    fill: _FillContext,
    verdict: VerdictResult,
    *,
    scan: Scan | None,
    expected: CataloguePackage,
    scanned: CataloguePackage | None,
    manual: bool,
    lot: StockLot | None,
    lot_number: str,
    expiry: date | None,
    extra_warnings: tuple[str, ...],
    policy: VerificationPolicy,
    remaining: Decimal,
    candidates: tuple[str, ...],
) -> ScanJudgement:
    stop_reason, message, steps = _stop_or_steps(
        session,
        fill,
        verdict,
        scan=scan,
        expected=expected,
        scanned=scanned,
        manual=manual,
        lot=lot,
        lot_number=lot_number,
        expiry=expiry,
        policy=policy,
        remaining=remaining,
    )
    package_quantity = scanned.billing_quantity if scanned is not None else None
    suggested = None
    if stop_reason is None and remaining > 0:
        suggested = min(package_quantity, remaining) if package_quantity else remaining
    return ScanJudgement(
        verdict=verdict.verdict,
        message=message or verdict.message,
        warnings=verdict.warnings + extra_warnings,
        overridable=verdict.overridable,
        requires=verdict.requires,
        stop=stop_reason is not None,
        stop_reason=stop_reason,
        next_steps=steps,
        kind=scan.kind.value if scan is not None else None,
        manual=manual,
        ndc=scanned.facts.package_ndc if scanned is not None else None,
        drug=scanned.facts.label if scanned is not None else None,
        package_description=scanned.facts.description if scanned is not None else None,
        lot=lot_number or None,
        expiry=expiry,
        serial=scan.serial if scan is not None else None,
        lot_known=lot is not None,
        package_quantity=package_quantity,
        suggested_quantity=suggested,
        remaining=remaining,
        unit=fill.unit,
        candidates=candidates,
    )


def _stop_or_steps(
    session: Session,
    fill: _FillContext,
    verdict: VerdictResult,
    *,
    scan: Scan | None,
    expected: CataloguePackage,
    scanned: CataloguePackage | None,
    manual: bool,
    lot: StockLot | None,
    lot_number: str,
    expiry: date | None,
    policy: VerificationPolicy,
    remaining: Decimal,
) -> tuple[StopReason | None, str | None, tuple[NextStep, ...]]:
    """(why it stops, a message replacing the verdict's, what to do next)."""
    if verdict.verdict in _STOP_VERDICTS:
        if verdict.verdict is Verdict.UNKNOWN:
            return (
                StopReason.NOT_IN_CATALOGUE,
                None,
                (NextStep.PHARMACIST_ADDS_PRODUCT, NextStep.TAKE_ANOTHER_BOTTLE),
            )
        step = {
            Verdict.INVALID: NextStep.RESCAN,
            Verdict.AMBIGUOUS: NextStep.TYPE_NDC_WITH_HYPHENS,
        }.get(verdict.verdict, NextStep.TAKE_ANOTHER_BOTTLE)
        return StopReason.VERDICT, None, (step,)
    assert scan is not None and scanned is not None  # only stop verdicts lack them
    if scanned.facts.sample_package:
        return StopReason.SAMPLE_PACKAGE, None, (NextStep.TAKE_ANOTHER_BOTTLE,)
    if verdict.requires is Requirement.DATA_ENTRY:
        return (
            StopReason.BACK_TO_DATA_ENTRY,
            f"{verdict.message} Send the fill back to data entry.",
            (NextStep.DATA_ENTRY,),
        )
    if manual and policy.require_scanning:
        return (
            StopReason.MANUAL_ENTRY_NOT_ALLOWED,
            "This pharmacy requires the bottle to be scanned: a typed NDC is not accepted. "
            "Scan the barcode on the bottle; if it will not scan, ask the pharmacist.",
            (NextStep.RESCAN,),
        )
    if scan.serial and (holder := _serial_in_use(session, scanned.package_id, scan.serial)):
        return (
            StopReason.DUPLICATE_SERIAL,
            f"A bottle with serial {scan.serial} was already used on Rx {holder}: one package "
            "cannot be dispensed twice. Set it aside for the pharmacist.",
            (NextStep.TAKE_ANOTHER_BOTTLE,),
        )
    if scanned.facts.billing_unit.upper() != fill.unit.upper():
        return (
            StopReason.UNIT_DIFFERS,
            f"This package is billed in {scanned.facts.billing_unit}, the prescription in "
            f"{fill.unit}: send the fill back to data entry.",
            (NextStep.DATA_ENTRY,),
        )
    others = {
        product_ndc
        for _, product_ndc in _accepted_bottles(session, fill.id)
        if product_ndc != scanned.facts.product_ndc
    }
    if others:
        return (
            StopReason.MIXED_PRODUCTS,
            f"This fill already holds bottles of product NDC {', '.join(sorted(others))}: "
            "one fill is dispensed from one product. Take a bottle of that product.",
            (NextStep.TAKE_ANOTHER_BOTTLE,),
        )
    if remaining <= 0:
        return (
            StopReason.FILL_COMPLETE,
            f"The fill already has its {_shown(fill.quantity)} {fill.unit}: nothing more is "
            "needed.",
            (),
        )
    steps: list[NextStep] = []
    if verdict.requires is Requirement.CONFIRMATION:
        steps.append(NextStep.CONFIRM_PACKAGE_SIZE)
    if verdict.requires is Requirement.PHARMACIST_OVERRIDE:
        steps.append(NextStep.PHARMACIST_OVERRIDE)
    if not scan.lot and policy.require_lot_for_upc:
        steps.append(NextStep.LOT_AND_EXPIRY)
    elif lot_number and lot is None and expiry is None:
        steps.append(NextStep.LOT_AND_EXPIRY)  # a lot never received: its expiry is needed
    steps.append(NextStep.QUANTITY)
    if controlled_schedule(expected.facts.dea_schedule, scanned.facts.dea_schedule) == "CII":
        steps.append(
            NextStep.CII_SECOND_PERSON
            if policy.cii_count_mode is CiiCountMode.SECOND_PERSON
            else NextStep.CII_COUNT_TWICE
        )
    return None, None, tuple(steps)


# --- rows -------------------------------------------------------------------------------------


def _bottle_rows(
    session: Session, fill_id: int, *, bottle_id: int | None = None
) -> list[BottleRow]:
    scanner = aliased(User)
    overrider = aliased(User)
    statement = (
        select(
            FillBottle,
            DrugPackage.ndc,
            DrugProduct,
            scanner.username.label("scanned_by"),
            overrider.username.label("overridden_by"),
        )
        .join(DrugPackage, FillBottle.package_id == DrugPackage.id)
        .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
        .outerjoin(scanner, FillBottle.user_id == scanner.id)
        .outerjoin(overrider, FillBottle.overridden_by_user_id == overrider.id)
        .where(FillBottle.fill_id == fill_id)
        .order_by(FillBottle.id)
    )
    if bottle_id is not None:
        statement = statement.where(FillBottle.id == bottle_id)
    return [
        BottleRow(
            bottle_id=bottle.id,
            ndc=ndc,
            drug=product.display_name,
            kind=bottle.kind,
            scanned_text=bottle.scanned_text,
            lot_number=bottle.lot_number,
            expiry=bottle.expiry,
            serial=bottle.serial,
            quantity=bottle.quantity,
            verdict=Verdict(bottle.verdict),
            verdict_message=bottle.verdict_message,
            warnings=tuple(bottle.warnings),
            manual=bottle.manual,
            confirmed=bottle.confirmed,
            overridden_by=overridden_by,
            override_reason=bottle.override_reason,
            scanned_by=scanned_by,
            workstation=bottle.workstation,
            scanned_at=bottle.scanned_at,
            voided_at=bottle.voided_at,
            voided_reason=bottle.voided_reason,
        )
        for bottle, ndc, product, scanned_by, overridden_by in session.execute(statement)
    ]


def _view(session: Session, fill: _FillContext, policy: VerificationPolicy) -> VerificationView:
    package = packages_by_id(session, {fill.prescribed_package_id})[fill.prescribed_package_id]
    facts = package.facts
    bottles = tuple(_bottle_rows(session, fill.id))
    total = sum((row.quantity for row in bottles if not row.voided), Decimal(0))
    return VerificationView(
        fill_id=fill.id,
        rx_number=fill.rx_number,
        fill_number=fill.fill_number,
        patient_id=fill.patient_id,
        patient_name=fill.patient_name,
        patient_date_of_birth=fill.patient_date_of_birth,
        drug=facts.name or facts.substance_name,
        strength=strength_text(facts.strength, facts.strength_unit),
        dosage_form=facts.dosage_form,
        manufacturer=facts.labeler,
        ndc=facts.package_ndc,
        package_description=facts.description,
        package_quantity=package.billing_quantity,
        counted_by_unit=is_counted_by_unit(facts),
        quantity=fill.quantity,
        unit=fill.unit,
        days_supply=fill.days_supply,
        directions=fill.directions,
        dea_schedule=facts.dea_schedule,
        bottles=bottles,
        accepted_total=total,
        remaining=fill.quantity - total,
        version=fill.version,
        policy=policy,
        label_reprint_needed=_reprint_message(session, fill.id),
    )


def _label_reprint_refusal(session: Session, fill_id: int) -> LabelReprintRequired | None:
    """The refusal to send the fill on while its last printed label promises a discard-after
    date later than the soonest expiry among its accepted bottles; None when none is due."""
    printed = session.execute(
        select(LabelPrint.printed_at, LabelPrint.discard_after)
        .where(LabelPrint.fill_id == fill_id)
        .order_by(LabelPrint.id.desc())
        .limit(1)
    ).first()
    if printed is None:
        return None
    expiry = func.coalesce(FillBottle.expiry, StockLot.expiry)
    soonest = session.execute(
        select(FillBottle.lot_number, expiry.label("expiry"))
        .outerjoin(StockLot, FillBottle.lot_id == StockLot.id)
        .where(FillBottle.fill_id == fill_id, FillBottle.voided_at.is_(None), expiry.is_not(None))
        .order_by(expiry, FillBottle.id)
        .limit(1)
    ).first()
    if soonest is None or soonest.expiry >= printed.discard_after:
        return None
    return LabelReprintRequired(
        f"The label printed on {printed.printed_at.date().isoformat()} says discard after "
        f"{printed.discard_after.isoformat()}; lot {soonest.lot_number} expires "
        f"{soonest.expiry.isoformat()}: reprint the label (with a reason) before sending it to "
        "the pharmacist.",
        fill_id=fill_id,
        discard_after=printed.discard_after.isoformat(),
        lot=soonest.lot_number,
        expiry=soonest.expiry.isoformat(),
    )


def _reprint_message(session: Session, fill_id: int) -> str | None:
    refusal = _label_reprint_refusal(session, fill_id)
    return refusal.message if refusal is not None else None


def _shown(quantity: Decimal) -> str:
    """A quantity as people write it: 30, 2.5 (the column keeps three decimals: 30.000)."""
    return f"{quantity.normalize():f}"


# --- writing ----------------------------------------------------------------------------------


def rebill_for_dispensed_package(uow: UnitOfWork, fill_id: int, *, package_id: int) -> bool:
    """The NDC dispensed changed: queue a B2 for each paid claim naming another NDC, the fill
    to be billed again with the NDC in the vial once it is answered (sent after commit by the
    claims service, never inside this transaction). True when something was queued."""
    package = uow.session.get(DrugPackage, package_id)
    fill = uow.session.get(Fill, fill_id)
    assert package is not None and fill is not None  # both locked or written by the caller
    return bool(queue_rebill(uow, fill_id, ndc11=package.ndc11, quantity=fill.quantity))


def _dispensed_package(bottles: Sequence[FillBottle], prescribed_package_id: int) -> int | None:
    """The package the label and claim name: the one giving most of the quantity; on a tie
    the prescribed one, then the first scanned."""
    if not bottles:
        return None
    given: dict[int, Decimal] = defaultdict(Decimal)
    first_seen: dict[int, int] = {}
    for bottle in bottles:
        given[bottle.package_id] += bottle.quantity
        first_seen.setdefault(bottle.package_id, bottle.id)
    return max(
        given,
        key=lambda package_id: (
            given[package_id],
            package_id == prescribed_package_id,
            -first_seen[package_id],
        ),
    )


def _require_override(
    judgement: ScanJudgement, override: Actor | None, override_reason: str
) -> None:
    if NextStep.PHARMACIST_OVERRIDE not in judgement.next_steps:
        if override is not None:
            raise BottleRefused(
                "This bottle needs no pharmacist override; nothing was saved.",
                reason="override-not-applicable",
            )
        return
    if override is None or not override.has_any(Role.PHARMACIST):
        who = "" if override is None else f" ({override.username} is not a pharmacist)"
        raise PharmacistOverrideRequired(
            f"{judgement.message} A pharmacist must co-sign to accept it{who}.",
            reason="pharmacist-override",
            verdict=judgement.verdict.value if judgement.verdict else None,
        )
    if not override_reason.strip():
        raise PharmacistOverrideRequired(
            "The pharmacist's override needs a reason (why this product may be used).",
            reason="override-reason",
        )


def _check_quantity(judgement: ScanJudgement, quantity: Decimal, fill: _FillContext) -> None:
    if quantity <= 0:
        raise QuantityRefused(
            f"The quantity from a bottle must be more than 0 {fill.unit}.",
            reason="not-positive",
            quantity=str(quantity),
        )
    package_quantity = judgement.package_quantity
    if package_quantity is not None and quantity > package_quantity:
        raise QuantityRefused(
            f"{_shown(quantity)} {fill.unit} is more than this package holds "
            f"({_shown(package_quantity)} {fill.unit}).",
            reason="more-than-package",
            quantity=str(quantity),
            package_quantity=str(package_quantity),
        )
    if quantity > judgement.remaining:
        raise QuantityRefused(
            f"{_shown(quantity)} {fill.unit} would exceed the fill: it needs "
            f"{_shown(judgement.remaining)} {fill.unit} more of {_shown(fill.quantity)}.",
            reason="more-than-fill",
            quantity=str(quantity),
            remaining=str(judgement.remaining),
        )


def _check_cii_count(
    judgement: ScanJudgement,
    *,
    actor: Actor,
    quantity: Decimal,
    cii_count: tuple[Decimal, Decimal] | None,
    second_person: Actor | None,
) -> None:
    if NextStep.CII_COUNT_TWICE in judgement.next_steps:
        if cii_count is None:
            raise ControlledCountRefused(
                "Schedule II: count the units and enter the exact count twice.",
                reason="count-missing",
            )
        first, second = cii_count
        if first != second:
            raise ControlledCountRefused(
                f"The two counts differ ({_shown(first)} and {_shown(second)}): count again.",
                reason="counts-differ",
            )
        if first != quantity:
            raise ControlledCountRefused(
                f"The count ({_shown(first)}) is not the quantity taken ({_shown(quantity)}): "
                "count again.",
                reason="count-not-quantity",
            )
    if NextStep.CII_SECOND_PERSON in judgement.next_steps:
        if second_person is None:
            raise ControlledCountRefused(
                "Schedule II: a second person must count and confirm.",
                reason="second-person-missing",
            )
        if second_person.user_id == actor.user_id:
            raise ControlledCountRefused(
                f"The second count must be by someone other than {actor.username}.",
                reason="second-person-same",
            )
        if not second_person.has_any(*BENCH_ROLES):
            raise ControlledCountRefused(
                f"{second_person.username} is not a technician or pharmacist.",
                reason="second-person-role",
            )


def _raise_if_stopped(judgement: ScanJudgement) -> None:
    if not judgement.stop:
        return
    facts: dict[str, Any] = {
        "reason": (judgement.stop_reason or StopReason.VERDICT).value,
        "verdict": judgement.verdict.value if judgement.verdict else None,
        "scanned_ndc": judgement.ndc,
    }
    raise BottleRefused(judgement.message, **facts)


# --- the service ------------------------------------------------------------------------------


class VerificationService:
    def __init__(
        self,
        database: Database,
        *,
        today: Callable[[], date] = date.today,
        claims: QueuedClaimSender | None = None,
    ) -> None:
        self._db = database
        self._today = today
        # Sends the reversal and rebill a bottle of another NDC queued, after it commits.
        self._claims = claims

    def open_fill(self, actor: Actor, fill_id: int) -> VerificationView:
        """Take the fill for scanning (refused if someone else holds it) and show what it needs."""
        require_role(actor, *BENCH_ROLES, action="verify a fill")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            fill = _fill_context(session, fill_id, lock=True)
            _refuse_unless_at_fill_step(fill)
            if fill.held_by_user_id not in (None, actor.user_id):
                _refuse_unless_open_by(session, fill, actor)
            if fill.held_by_user_id is None:
                result = session.connection().execute(
                    update(_FILLS)
                    .where(_FILLS.c.id == fill.id, _FILLS.c.version == fill.version)
                    .values(held_by_user_id=actor.user_id, version=_FILLS.c.version + 1)
                )
                if result.rowcount != 1:
                    raise StaleRecord("This fill changed as you opened it.", fill_id=fill.id)
                uow.audit(
                    "fill.taken",
                    entity_type="fills",
                    entity_id=str(fill.id),
                    before={"held_by": None},
                    after={"held_by": actor.user_id},
                    purpose="verification",
                )
                publish(session, topic=TOPIC, entity_id=str(fill.id), workstation=actor.workstation)
                fill = replace(fill, held_by_user_id=actor.user_id, version=fill.version + 1)
            return _view(session, fill, read_verification_policy(session))

    def view(self, actor: Actor, fill_id: int) -> VerificationView:
        """The fill as the Verify dock shows it, without taking it (e.g. to refresh)."""
        require_role(actor, *Role, action="see a fill's verification")
        with self._db.reading() as session:
            fill = _fill_context(session, fill_id, lock=False)
            return _view(session, fill, read_verification_policy(session))

    def judge(
        self,
        actor: Actor,
        fill_id: int,
        *,
        text: str,
        manual: bool = False,
        lot_number: str | None = None,
        expiry: date | None = None,
        gs_substitute: str | None = None,
        today: date | None = None,
    ) -> ScanJudgement:
        """The verdict on a scan for this fill and what is needed next; writes nothing.

        `lot_number`/`expiry` typed from the package (after a UPC) are judged too, so the
        window can show a recalled lot or a past expiry before anything is accepted.
        """
        require_role(actor, *BENCH_ROLES, action="verify a fill")
        with self._db.reading() as session:
            fill = _fill_context(session, fill_id, lock=False)
            _refuse_unless_at_fill_step(fill)
            _refuse_unless_open_by(session, fill, actor)
            resolved = resolve_scan(session, text, gs_substitute=gs_substitute)
            return _assess(
                session,
                fill,
                resolved,
                manual=manual,
                typed=_Typed(lot_number=lot_number, expiry=expiry),
                policy=read_verification_policy(session),
                today=today or self._today(),
                lock=False,
            ).judgement

    def accept_bottle(
        self,
        actor: Actor,
        fill_id: int,
        *,
        text: str,
        manual: bool,
        quantity: Decimal,
        expected_version: int,
        lot_number: str | None = None,
        expiry: date | None = None,
        confirm_package_size: bool = False,
        override: Actor | None = None,
        override_reason: str = "",
        cii_count: tuple[Decimal, Decimal] | None = None,
        second_person: Actor | None = None,
        gs_substitute: str | None = None,
        today: date | None = None,
    ) -> BottleAccepted:
        """Judge the bottle again in this transaction and, if every rule is met, take it from
        stock for the fill: bottle, dispensing movement, lot balance, C-II–V log line and one
        audit event, all or nothing. `override` is a pharmacist's co-signature
        (AuthService.cosign) for a verdict that requires one."""
        require_role(actor, *BENCH_ROLES, action="verify a fill")
        on = today or self._today()
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            fill = _fill_context(session, fill_id, lock=True)
            _refuse_unless_at_fill_step(fill)
            _refuse_unless_open_by(session, fill, actor)
            _refuse_stale(fill, expected_version)
            policy = read_verification_policy(session)
            resolved = resolve_scan(session, text, gs_substitute=gs_substitute)
            assessment = _assess(
                session,
                fill,
                resolved,
                manual=manual,
                typed=_Typed(lot_number=lot_number, expiry=expiry),
                policy=policy,
                today=on,
                lock=True,
            )
            judgement = assessment.judgement
            _raise_if_stopped(judgement)
            scanned, scan = assessment.scanned, assessment.scan
            assert scanned is not None and scan is not None and judgement.verdict is not None
            if NextStep.CONFIRM_PACKAGE_SIZE in judgement.next_steps and not confirm_package_size:
                raise ConfirmationRequired(
                    f"{judgement.message} Confirm the package size to use it.",
                    reason="confirm-package-size",
                )
            _require_override(judgement, override, override_reason)
            if assessment.lot is None and assessment.expiry is None:
                raise LotAndExpiryRequired(
                    "Only the product barcode was scanned: type the lot and expiry printed on "
                    "the package.",
                    reason="lot-and-expiry",
                )
            if not assessment.lot_number and assessment.lot is None:
                raise LotAndExpiryRequired(
                    "Type the lot number printed on the package.", reason="lot"
                )
            _check_quantity(judgement, quantity, fill)
            _check_cii_count(
                judgement,
                actor=actor,
                quantity=quantity,
                cii_count=cii_count,
                second_person=second_person,
            )
            accepted, rebill_queued = self._take_from_stock(
                uow,
                fill,
                assessment,
                quantity=quantity,
                confirmed=confirm_package_size
                and NextStep.CONFIRM_PACKAGE_SIZE in judgement.next_steps,
                override=override if NextStep.PHARMACIST_OVERRIDE in judgement.next_steps else None,
                override_reason=override_reason.strip(),
                witness=second_person,
                cii_count=cii_count,
                today=on,
            )
        # Only a bottle that changed the NDC billed queues claims: the usual accept, on the
        # scanning hot path, makes no further round trip.
        if rebill_queued and self._claims is not None:
            self._claims.send_queued(actor, fill_id)
        return accepted

    def _take_from_stock(
        self,
        uow: UnitOfWork,
        fill: _FillContext,
        assessment: _Assessment,
        *,
        quantity: Decimal,
        confirmed: bool,
        override: Actor | None,
        override_reason: str,
        witness: Actor | None,
        cii_count: tuple[Decimal, Decimal] | None,
        today: date,
    ) -> tuple[BottleAccepted, bool]:
        """The bottle taken from stock, and whether it queued a claim reversal to send."""
        session, actor = uow.session, uow.actor
        judgement, scan, scanned = assessment.judgement, assessment.scan, assessment.scanned
        assert scan is not None and scanned is not None and judgement.verdict is not None
        schedule = controlled_schedule(
            assessment.expected.facts.dea_schedule, scanned.facts.dea_schedule
        )
        lot = assessment.lot
        if lot is None:
            assert assessment.expiry is not None  # refused above
            # Saved by dispense_from_lot once the rule on negative stock lets it be taken from.
            lot = StockLot(
                package_id=scanned.package_id,
                lot_number=assessment.lot_number,
                expiry=assessment.expiry,
                status="available",
                on_hand=Decimal(0),
            )
        taken = dispense_from_lot(
            uow,
            lot,
            quantity=quantity,
            fill_id=fill.id,
            note=f"Rx {fill.rx_number}-{fill.fill_number}",
            schedule=schedule,
            witness_user_id=witness.user_id if witness is not None else None,
        )
        movement, entry = taken.movement, taken.controlled_entry
        warnings = [*judgement.warnings, *([taken.notice] if taken.notice else [])]
        bottle = FillBottle(
            fill_id=fill.id,
            scanned_text=scan.text.strip()[:200],
            manual=judgement.manual,
            kind=scan.kind.value,
            package_id=scanned.package_id,
            lot_id=lot.id,
            lot_number=assessment.lot_number,
            expiry=assessment.expiry,
            serial=scan.serial,
            quantity=quantity,
            verdict=judgement.verdict.value,
            verdict_message=judgement.message,
            warnings=warnings,
            confirmed=confirmed,
            overridden_by_user_id=override.user_id if override is not None else None,
            override_reason=override_reason if override is not None else "",
            movement_id=movement.id,
            user_id=actor.user_id,
            workstation=actor.workstation,
        )
        session.add(bottle)
        session.flush()
        bottles = [each for each, _ in _accepted_bottles(session, fill.id)]
        dispensed = _dispensed_package(bottles, fill.prescribed_package_id)
        version = _bump_fill(session, fill, dispensed_package_id=dispensed)
        rebill_queued = False
        if dispensed != fill.dispensed_package_id and dispensed != fill.prescribed_package_id:
            assert dispensed is not None  # the new bottle is among them
            rebill_queued = rebill_for_dispensed_package(uow, fill.id, package_id=dispensed)
        total = sum((each.quantity for each in bottles), Decimal(0))
        uow.audit(
            "fill.bottle_accepted",
            bottle,
            fill_id=fill.id,
            rx=f"{fill.rx_number}-{fill.fill_number}",
            ndc=scanned.facts.package_ndc,
            lot=assessment.lot_number or lot.lot_number,
            lot_id=lot.id,
            lot_created=assessment.lot is None,
            expiry=assessment.expiry.isoformat() if assessment.expiry else None,
            serial=scan.serial,
            quantity=str(quantity),
            verdict=judgement.verdict.value,
            warnings=warnings,
            negative=lot.on_hand < 0,
            manual=judgement.manual,
            confirmed=confirmed,
            override_by=override.username if override is not None else None,
            override_reason=override_reason if override is not None else None,
            movement_id=movement.id,
            controlled_entry_id=entry.id if entry is not None else None,
            schedule=schedule,
            cii_count=[str(count) for count in cii_count] if cii_count else None,
            witness=witness.username if witness is not None else None,
            dispensed_package_id=dispensed,
        )
        publish(session, topic=TOPIC, entity_id=str(fill.id), workstation=actor.workstation)
        stock_changed(uow, [lot.package_id], today)
        session.flush()
        dispensed_ndc = session.scalar(select(DrugPackage.ndc).where(DrugPackage.id == dispensed))
        accepted = BottleAccepted(
            bottle=_bottle_rows(session, fill.id, bottle_id=bottle.id)[0],
            accepted_total=total,
            remaining=fill.quantity - total,
            fill_version=version,
            dispensed_ndc=dispensed_ndc or scanned.facts.package_ndc,
            movement_id=movement.id,
            controlled_entry_id=entry.id if entry is not None else None,
            label_reprint_needed=_reprint_message(session, fill.id),
        )
        return accepted, rebill_queued

    def void_bottle(
        self,
        actor: Actor,
        fill_id: int,
        bottle_id: int,
        *,
        reason: str,
        expected_version: int,
    ) -> BottleVoided:
        """Put a wrongly accepted bottle back: a reversing movement (never a deletion), the lot
        balance restored, a reversal line in the controlled-substance log, one audit event."""
        require_role(actor, *BENCH_ROLES, action="void a scanned bottle")
        if not reason.strip():
            raise ValidationFailed("Say why the bottle is voided.", field="reason")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            fill = _fill_context(session, fill_id, lock=True)
            _refuse_unless_at_fill_step(fill)
            _refuse_unless_open_by(session, fill, actor)
            _refuse_stale(fill, expected_version)
            bottle = session.get(FillBottle, bottle_id, with_for_update=True)
            if bottle is None or bottle.fill_id != fill.id:
                raise NotFound(
                    f"Fill {fill.id} has no bottle {bottle_id}.", fill_id=fill.id, bottle=bottle_id
                )
            if bottle.voided_at is not None:
                raise ValidationFailed("This bottle is already voided.", bottle=bottle_id)
            reversal = void_accepted_bottle(
                uow,
                bottle,
                reason=reason.strip(),
                log_note=f"voided bottle {bottle.id}: {reason.strip()}",
            )
            bottles = [each for each, _ in _accepted_bottles(session, fill.id)]
            package_id = _dispensed_package(bottles, fill.prescribed_package_id)
            version = _bump_fill(session, fill, dispensed_package_id=package_id)
            publish(session, topic=TOPIC, entity_id=str(fill.id), workstation=actor.workstation)
            stock_changed(uow, [bottle.package_id], self._today())
            total = sum((each.quantity for each in bottles), Decimal(0))
            return BottleVoided(
                bottle=_bottle_rows(session, fill.id, bottle_id=bottle.id)[0],
                accepted_total=total,
                remaining=fill.quantity - total,
                fill_version=version,
                reversal_movement_id=reversal.movement.id,
                label_reprint_needed=_reprint_message(session, fill.id),
            )

    def complete(self, actor: Actor, fill_id: int, *, expected_version: int) -> FillRow:
        """Every unit scanned (and the label reprinted if a lot expires before the date it
        promised): the fill goes to the pharmacist's final verification."""
        require_role(actor, *BENCH_ROLES, action="verify a fill")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            context = _fill_context(session, fill_id, lock=True)
            _refuse_unless_at_fill_step(context)
            _refuse_unless_open_by(session, context, actor)
            _refuse_stale(context, expected_version)
            total = accepted_total(session, fill_id)
            if total != context.quantity:
                raise VerificationIncomplete(
                    f"The bottles scanned give {_shown(total)} {context.unit} of the "
                    f"{_shown(context.quantity)} {context.unit} prescribed: scan the rest first.",
                    fill_id=fill_id,
                    accepted=str(total),
                    quantity=str(context.quantity),
                )
            reprint = _label_reprint_refusal(session, fill_id)
            if reprint is not None:
                raise reprint
            fill = session.get(Fill, fill_id)
            assert fill is not None  # locked above
            return move_fill(uow, fill, FillState.FINAL_VERIFICATION, "")

    def add_product_from_scan(
        self, actor: Actor, fill_id: int, *, scanned_text: str, product: PharmacyProductDraft
    ) -> AddedProduct:
        """A pharmacist adds the product of a bottle scanned for this fill that the catalogue
        lacks (see app.services.local_products). The bottle is not accepted: it is scanned
        again and judged against the prescription like any other."""
        with self._db.unit_of_work(actor) as uow:
            require_role(actor, Role.PHARMACIST, action="add a product to the drug catalogue")
            fill = _fill_context(uow.session, fill_id, lock=False)
            return add_pharmacy_product(
                uow,
                product,
                scanned_text=scanned_text,
                fill_id=fill.id,
                rx=f"{fill.rx_number}-{fill.fill_number}",
            )

    def bottles_for_review(self, actor: Actor, fill_id: int) -> list[BottleRow]:
        """Every bottle of the fill (voided ones too) for the pharmacist's final verification."""
        require_role(actor, *BENCH_ROLES, action="review a fill's bottles")
        with self._db.reading() as session:
            _fill_context(session, fill_id, lock=False)
            return _bottle_rows(session, fill_id)

"""Prescription entry: a new prescription, its first fill on the way to pharmacist data review.

One entry is one unit of work: the prescription (with its scanned image), an Rx number from the
locked counter, fill 0 moved intake → data entry → data review with a history row and an audit
event per step, clinical screening, the pharmacist's data-review work item and the change notes
for the other workstations: all of it, or none of it.

The federal rules (app.domain.rx_rules) with the house state-law settings decide what is
refused; every problem is reported at once so all can be fixed together. A sig the house table
cannot read is never refused: the typed text becomes the directions, `sig_needs_review` is set
and the pharmacist is told at review.

A prescription is corrected only while its fill waits at intake or data entry (after the
pharmacist sends it back, for instance): the correction passes the same rules as an entry, keeps
the Rx number and records the changed fields before and after; `submit_for_review` then sends the
fill back to the pharmacist. Once reviewed, the prescription is fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from sqlalchemy import func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.models import (
    Counter,
    DrugPackage,
    DrugProduct,
    Fill,
    FillTransition,
    Patient,
    Prescriber,
    Prescription,
    PrescriptionImage,
    User,
)
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.domain.rx_rules import (
    EMERGENCY_ORAL_FOLLOW_UP_DAYS,
    PrescriptionRefused,
    PrescriptionSource,
    RuleProblem,
    Schedule,
    StateLawConfig,
    check_new_prescription,
    check_transfer,
    dea_schedule_allowed,
    parse_schedule,
)
from app.domain.sig import days_supply_for, expand_sig, ismp_problems
from app.domain.workflow import TransitionNotAllowed
from app.errors import NotFound, StaleRecord, ValidationFailed
from app.services.changes import publish
from app.services.claim_records import queue_rebill
from app.services.fills import FillRow
from app.services.house_settings import read_house_settings
from app.services.prescribers import parse_schedules
from app.services.reorder import open_shortage_notices
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role
from app.services.workflow import TOPIC as FILLS_TOPIC
from app.services.workflow import (
    FillHeldByAnother,
    QueuedClaimSender,
    move_fill,
    record_transition,
)

RX_NUMBER_COUNTER = "rx_number"
FIRST_RX_NUMBER = 6100100
MAX_IMAGE_BYTES = 10 * 1024 * 1024
# What each accepted file type starts with: the content decides, not the name or the claim.
IMAGE_SIGNATURES = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
    "application/pdf": b"%PDF-",
}
# More than this many whole packages on one prescription is a typing error (300 for 3 tablets).
MAX_PACKAGES_PER_PRESCRIPTION = 100
MAX_DAYS_SUPPLY = 365
SIG_REVIEW_NOTICE = (
    "The directions need the pharmacist's review: they will be flagged at data review."
)
_ENTRY_STEPS = (FillState.DATA_ENTRY, FillState.DATA_REVIEW)
ENTRY_REASON = "prescription entered"
# Where a fill still is before review, and the steps that take it from there to data review.
_STEPS_TO_REVIEW = {
    FillState.INTAKE: _ENTRY_STEPS,
    FillState.DATA_ENTRY: (FillState.DATA_REVIEW,),
}


class PrescriptionFixed(ValidationFailed):
    """The prescription is past data entry (or filled before), so it can no longer be changed."""

    code = "prescription-fixed"


@dataclass(frozen=True)
class ScannedImage:
    file_name: str
    media_type: str
    content: bytes


@dataclass(frozen=True)
class TransferIn:
    """A prescription transferred in from another pharmacy."""

    pharmacy: str
    previous_transfers: int = 0
    electronic_unfilled: bool = False
    shared_database: bool = False


@dataclass(frozen=True)
class PrescriptionDraft:
    """What the data-entry form sends; `days_supply` None means compute it from the sig."""

    patient_id: int
    prescriber_id: int
    package_id: int
    source: str
    written_date: date
    quantity: Decimal
    sig_code: str
    refills: int = 0
    days_supply: int | None = None
    daw_code: int = 0
    indication: str = ""
    notes: str = ""
    do_not_fill_before: date | None = None
    emergency_oral: bool = False
    faxed_cii_exception: bool = False
    transfer: TransferIn | None = None
    image: ScannedImage | None = None


@dataclass(frozen=True)
class PrescriptionEntered:
    prescription_id: int
    rx_number: str
    fill_id: int
    fill_state: FillState
    directions: str
    sig_needs_review: bool
    days_supply: int
    days_supply_overridden: bool
    quantity_unit: str
    written_follow_up_due: date | None
    # Flags the bench must see now: rule warnings, why the sig needs review.
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class PrescriptionCorrected(PrescriptionEntered):
    """A correction saved: the fields it changed, and the versions the next step must send."""

    changed: tuple[str, ...]
    prescription_version: int
    fill_version: int


@dataclass(frozen=True)
class SendBack:
    """Why the pharmacist sent the fill back to data entry, who did, and when."""

    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class PrescriptionDetail:
    id: int
    rx_number: str
    patient_id: int
    patient_name: str
    prescriber_id: int
    prescriber_name: str
    package_id: int
    drug: str
    ndc: str
    dea_schedule: str | None
    source: str
    written_date: date
    quantity: Decimal
    quantity_unit: str
    days_supply: int
    days_supply_overridden: bool
    refills_authorized: int
    sig_code: str
    directions: str
    sig_needs_review: bool
    daw_code: int
    indication: str
    notes: str
    do_not_fill_before: date | None
    emergency_oral: bool
    written_follow_up_due: date | None
    transferred_from: str
    transfer_count: int
    status: str
    has_image: bool
    version: int
    # Set while the current fill waits at data entry after the pharmacist sent it back.
    send_back: SendBack | None


@dataclass(frozen=True)
class PrescriptionImageContent:
    file_name: str
    media_type: str
    content: bytes


def _problem(code: str, message: str, **facts: Any) -> RuleProblem:
    return RuleProblem(code, message, facts)


def checked_image(image: ScannedImage) -> ScannedImage:
    """A PNG, JPEG or PDF of at most 10 MB whose content is what it claims to be."""
    media_type = image.media_type.strip().lower()
    signature = IMAGE_SIGNATURES.get(media_type)
    if signature is None:
        raise ValidationFailed(
            f"A prescription image must be a PNG, JPEG or PDF file, not {media_type or 'unknown'}.",
            field="image",
            media_type=media_type,
        )
    if not image.content:
        raise ValidationFailed("The prescription image file is empty.", field="image")
    if len(image.content) > MAX_IMAGE_BYTES:
        raise ValidationFailed(
            f"The prescription image is {len(image.content) / 1024 / 1024:.1f} MB; the limit is "
            "10 MB. Scan it again at a lower resolution.",
            field="image",
            size=len(image.content),
            limit=MAX_IMAGE_BYTES,
        )
    if not image.content.startswith(signature):
        raise ValidationFailed(
            f"The file is not really a {media_type} file: scan or save it again.",
            field="image",
            media_type=media_type,
        )
    name = PurePath(image.file_name.replace("\\", "/")).name.strip()
    if not name:
        raise ValidationFailed("The prescription image needs a file name.", field="image")
    return ScannedImage(file_name=name[-255:], media_type=media_type, content=image.content)


def next_rx_number(session: Session) -> str:
    """The next Rx number, taken atomically: UPDATE … RETURNING holds the counter's row lock
    until commit on PostgreSQL, and SQLite serialises writers, so no two entries share one."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    highest = session.scalar(
        select(func.max(Prescription.rx_number)).where(
            func.length(Prescription.rx_number) == len(str(FIRST_RX_NUMBER))
        )
    )
    start = max(FIRST_RX_NUMBER, int(highest) + 1 if highest and highest.isdigit() else 0)
    session.execute(
        dialect.insert(Counter)
        .values(name=RX_NUMBER_COUNTER, next_value=start)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    taken = session.execute(
        update(Counter)
        .where(Counter.name == RX_NUMBER_COUNTER)
        .values(next_value=Counter.next_value + 1)
        .returning(Counter.next_value)
    ).scalar_one()
    return str(taken - 1)


@dataclass(frozen=True)
class _Evaluated:
    """A draft that passed every entry rule: the prescription columns it decides, and the
    flags the bench must see now (rule warnings, why the sig needs review)."""

    columns: dict[str, Any]
    warnings: tuple[str, ...]

    def entered(self, prescription: Prescription, fill: Fill) -> dict[str, Any]:
        """The fields of PrescriptionEntered, read after the write."""
        return {
            "prescription_id": prescription.id,
            "rx_number": prescription.rx_number,
            "fill_id": fill.id,
            "fill_state": FillState(fill.state),
            "directions": prescription.directions,
            "sig_needs_review": prescription.sig_needs_review,
            "days_supply": prescription.days_supply,
            "days_supply_overridden": prescription.days_supply_overridden,
            "quantity_unit": prescription.quantity_unit,
            "written_follow_up_due": prescription.written_follow_up_due,
            "warnings": self.warnings,
        }


class PrescriptionService:
    def __init__(
        self,
        database: Database,
        *,
        today: Callable[[], date] = date.today,
        claims: QueuedClaimSender | None = None,
    ) -> None:
        """With `claims`, a correction that changes what a billed claim says (quantity or NDC)
        reverses that claim and bills the fill again, once the correction has committed."""
        self._db = database
        self._today = today
        self._claims = claims

    def enter_prescription(self, actor: Actor, *, draft: PrescriptionDraft) -> PrescriptionEntered:
        """Enter a new prescription and send its first fill to pharmacist data review."""
        require_role(actor, Role.TECHNICIAN, Role.PHARMACIST, action="enter prescriptions")
        image = checked_image(draft.image) if draft.image else None
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            evaluated = self._evaluate(session, draft)
            prescription = Prescription(rx_number=next_rx_number(session), **evaluated.columns)
            session.add(prescription)
            session.flush()
            uow.audit(
                "prescription.entered",
                prescription,
                rx_number=prescription.rx_number,
                patient_id=prescription.patient_id,
                prescriber_id=prescription.prescriber_id,
                ndc=prescription.package.ndc,
                source=prescription.source,
                sig_needs_review=prescription.sig_needs_review,
                days_supply_overridden=prescription.days_supply_overridden,
            )
            if image is not None:
                _add_image(uow, prescription, image)
            fill = _first_fill(uow, prescription)
            # A fill that needs more than the shelf holds tells the pharmacist now, not at the
            # next stock change.
            open_shortage_notices(uow, [prescription.package_id], self._today())
            return PrescriptionEntered(**evaluated.entered(prescription, fill))

    def correct_prescription(
        self,
        actor: Actor,
        prescription_id: int,
        *,
        expected_version: int,
        draft: PrescriptionDraft,
    ) -> PrescriptionCorrected:
        """Correct a prescription whose fill waits at intake or data entry; the Rx number stays.

        Every entry rule is applied again to the whole draft. The audit event names only the
        fields that changed, before and after; the fill's quantity and days supply follow the
        prescription's. The fill stays where it is: `submit_for_review` sends it on.
        """
        require_role(actor, Role.TECHNICIAN, Role.PHARMACIST, action="correct prescriptions")
        image = checked_image(draft.image) if draft.image else None
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            prescription = session.get(Prescription, prescription_id, with_for_update=True)
            if prescription is None:
                raise NotFound(
                    f"There is no prescription with id {prescription_id}.",
                    prescription_id=prescription_id,
                )
            if prescription.version != expected_version:
                raise StaleRecord(
                    f"Someone else changed Rx {prescription.rx_number} since you opened it; "
                    "nothing was saved. Open the fill again to see their change, then redo yours.",
                    prescription_id=prescription_id,
                    expected_version=expected_version,
                    current_version=prescription.version,
                )
            fill = _fill_at_data_entry(session, prescription)
            _refuse_if_held_by_another(session, fill, actor)
            evaluated = self._evaluate(session, draft, correcting=prescription.id)
            before, after = _changed(
                {name: getattr(prescription, name) for name in evaluated.columns},
                evaluated.columns,
            )
            if before:
                for name, value in evaluated.columns.items():
                    setattr(prescription, name, value)
                session.flush()
                uow.audit(
                    "prescription.corrected",
                    prescription,
                    before=before,
                    after=after,
                    rx_number=prescription.rx_number,
                    fill_id=fill.id,
                )
            fill_before, fill_after = _changed(
                {"quantity": fill.quantity, "days_supply": fill.days_supply},
                {"quantity": prescription.quantity, "days_supply": prescription.days_supply},
            )
            if fill_before:
                fill.quantity = prescription.quantity
                fill.days_supply = prescription.days_supply
                session.flush()
                uow.audit("fill.corrected", fill, before=fill_before, after=fill_after)
            # A claim already billed for another quantity or NDC is reversed and billed again.
            rebill = queue_rebill(
                uow, fill.id, ndc11=prescription.package.ndc11, quantity=fill.quantity
            )
            if image is not None:
                _add_image(uow, prescription, image)
            if before or fill_before or image is not None:
                publish(
                    session,
                    topic=FILLS_TOPIC,
                    entity_id=str(fill.id),
                    workstation=actor.workstation,
                )
            corrected = PrescriptionCorrected(
                **evaluated.entered(prescription, fill),
                changed=tuple(before),
                prescription_version=prescription.version,
                fill_version=fill.version,
            )
        if rebill and self._claims is not None:
            self._claims.send_queued(actor, corrected.fill_id)
        return corrected

    def submit_for_review(self, actor: Actor, fill_id: int, *, expected_version: int) -> FillRow:
        """Send a fill at intake or data entry on to the pharmacist's data review.

        Each step goes through the workflow's `move_fill`: history, audit, the pharmacist's
        work-list item, screening and change notes as for any move.
        """
        require_role(actor, Role.TECHNICIAN, Role.PHARMACIST, action="submit fills for review")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            fill = session.get(Fill, fill_id, with_for_update=True)
            if fill is None:
                raise NotFound(f"There is no fill with id {fill_id}.", fill_id=fill_id)
            state = FillState(fill.state)
            if fill.version != expected_version:
                raise StaleRecord(
                    "Someone else changed this fill since you opened it (it is now "
                    f"“{state.label}”); nothing was sent. Look at it again.",
                    fill_id=fill_id,
                    expected_version=expected_version,
                    current_version=fill.version,
                    state=state.value,
                )
            steps = _STEPS_TO_REVIEW.get(state)
            if steps is None:
                raise TransitionNotAllowed(
                    f"This fill is at “{state.label}”, not at data entry: there is nothing to "
                    "send for review.",
                    source=state,
                    target=FillState.DATA_REVIEW,
                )
            _refuse_if_held_by_another(session, fill, actor)
            for target in steps[:-1]:
                move_fill(uow, fill, target, "")
            return move_fill(uow, fill, steps[-1], "")

    def _evaluate(
        self, session: Session, draft: PrescriptionDraft, *, correcting: int | None = None
    ) -> _Evaluated:
        """Apply every entry rule to the draft; PrescriptionRefused lists every problem.

        `correcting` is the prescription being corrected, left out of its own C-II series.
        """
        today = self._today()
        patient = _get(session, Patient, draft.patient_id, "patient")
        prescriber = _get(session, Prescriber, draft.prescriber_id, "prescriber")
        package = _get(session, DrugPackage, draft.package_id, "drug package")
        house = read_house_settings(session)

        expansion = expand_sig(draft.sig_code, house.sig_table)
        directions = expansion.directions
        needs_review = not expansion.parsed or expansion.needs_pharmacist_review
        if expansion.parsed and ismp_problems(directions):
            needs_review = True
        quantity = Decimal(draft.quantity)
        # A quantity of zero or less is refused with the other problems below.
        computed = days_supply_for(expansion, quantity) if quantity > 0 else None
        if draft.days_supply is None and computed is None and quantity > 0:
            raise ValidationFailed(
                "Enter the days supply: the directions give no daily amount to count it from.",
                field="days_supply",
            )
        days_supply = draft.days_supply if draft.days_supply is not None else computed or 0
        overridden = draft.days_supply is not None and draft.days_supply != computed

        schedule = parse_schedule(package.product.dea_schedule)
        problems, warnings = self._check(
            session,
            draft,
            today=today,
            schedule=schedule,
            days_supply=days_supply,
            package=package,
            prescriber=prescriber,
            state_law=house.state_law,
            correcting=correcting,
        )
        if problems:
            raise PrescriptionRefused(
                " ".join(problem.message for problem in problems), problems=tuple(problems)
            )
        follow_up = (
            draft.written_date + timedelta(days=EMERGENCY_ORAL_FOLLOW_UP_DAYS)
            if draft.emergency_oral and schedule is Schedule.CII
            else None
        )
        review = list(expansion.review_reasons)
        if needs_review:
            review.append(SIG_REVIEW_NOTICE)
        columns = {
            "patient_id": patient.id,
            "prescriber_id": prescriber.id,
            "package_id": package.id,
            "source": draft.source,
            "written_date": draft.written_date,
            "quantity": quantity,
            "quantity_unit": package.billing_unit,
            "days_supply": days_supply,
            "days_supply_overridden": overridden,
            "refills_authorized": draft.refills,
            "sig_code": " ".join(draft.sig_code.split()),
            "directions": directions,
            "sig_needs_review": needs_review,
            "daw_code": draft.daw_code,
            "indication": draft.indication.strip(),
            "notes": draft.notes.strip(),
            "do_not_fill_before": draft.do_not_fill_before,
            "emergency_oral": draft.emergency_oral,
            "written_follow_up_due": follow_up,
            "transferred_from": draft.transfer.pharmacy.strip() if draft.transfer else "",
            "transfer_count": draft.transfer.previous_transfers + 1 if draft.transfer else 0,
        }
        return _Evaluated(
            columns=columns,
            warnings=tuple(problem.message for problem in warnings) + tuple(review),
        )

    def get_prescription(self, actor: Actor, rx_number: str) -> PrescriptionDetail:
        """One prescription by Rx number; it names the patient, so the view is audited."""
        require_role(actor, *Role, action="open a prescription")
        with self._db.unit_of_work(actor) as uow:
            prescription = uow.session.scalars(
                select(Prescription).where(Prescription.rx_number == rx_number.strip())
            ).first()
            if prescription is None:
                raise NotFound(f"There is no Rx {rx_number.strip()}.", rx_number=rx_number)
            images = uow.session.scalar(
                select(func.count())
                .select_from(PrescriptionImage)
                .where(PrescriptionImage.prescription_id == prescription.id)
            )
            uow.audit("prescription.viewed", prescription)
            return _detail(
                prescription,
                has_image=bool(images),
                send_back=_pending_send_back(uow.session, prescription.id),
            )

    def prescription_image(self, actor: Actor, prescription_id: int) -> PrescriptionImageContent:
        """The scanned prescription (the latest when rescanned); viewing it is audited."""
        require_role(actor, *Role, action="view a prescription image")
        with self._db.unit_of_work(actor) as uow:
            image = uow.session.scalars(
                select(PrescriptionImage)
                .where(PrescriptionImage.prescription_id == prescription_id)
                .order_by(PrescriptionImage.id.desc())
                .limit(1)
            ).first()
            if image is None:
                raise NotFound(
                    "There is no scanned image for this prescription.",
                    prescription_id=prescription_id,
                )
            uow.audit("prescription.image_viewed", image, prescription_id=prescription_id)
            return PrescriptionImageContent(image.file_name, image.media_type, image.content)

    def _check(
        self,
        session: Session,
        draft: PrescriptionDraft,
        *,
        today: date,
        schedule: Schedule | None,
        days_supply: int,
        package: DrugPackage,
        prescriber: Prescriber,
        state_law: StateLawConfig,
        correcting: int | None,
    ) -> tuple[list[RuleProblem], list[RuleProblem]]:
        """Every refusal and flag: the federal rules, then the prescriber, package and form."""
        per_package = package.billing_quantity
        limit = per_package * MAX_PACKAGES_PER_PRESCRIPTION if per_package else Decimal(10_000)
        outcome = check_new_prescription(
            schedule=schedule.value if schedule else None,
            source=draft.source,
            written=draft.written_date,
            today=today,
            refills=draft.refills,
            quantity=Decimal(draft.quantity),
            days_supply=days_supply,
            do_not_fill_before=draft.do_not_fill_before,
            emergency_oral=draft.emergency_oral,
            config=state_law,
            series_days_supply_total=_cii_series_total(
                session, draft, days_supply, excluding=correcting
            )
            if schedule is Schedule.CII and draft.do_not_fill_before
            else None,
            max_reasonable_quantity=limit,
            faxed_cii_exception=draft.faxed_cii_exception,
        )
        problems, warnings = list(outcome.errors), list(outcome.warnings)
        if days_supply > MAX_DAYS_SUPPLY:
            problems.append(
                _problem(
                    "days-supply-over-limit",
                    f"A days supply of {days_supply} is more than {MAX_DAYS_SUPPLY}: check it.",
                    days_supply=days_supply,
                    limit=MAX_DAYS_SUPPLY,
                )
            )
        if not 0 <= draft.daw_code <= 9:
            problems.append(
                _problem("daw-code", "The DAW code is a digit from 0 to 9.", daw=draft.daw_code)
            )
        if schedule is not None:
            problems += _prescriber_problems(prescriber, schedule, today)
        if draft.source == PrescriptionSource.TRANSFERRED:
            problems += _transfer_problems(draft.transfer, schedule)
        elif draft.transfer is not None:
            problems.append(
                _problem(
                    "transfer-source",
                    "Transfer details are given but the source is not “transferred”.",
                )
            )
        if package.product.discontinued or package.discontinued:
            warnings.append(
                _problem(
                    "package-discontinued",
                    f"NDC {package.ndc} is discontinued in the catalogue: check the package.",
                )
            )
        return problems, warnings


def _get(session: Session, model: Any, record_id: int, what: str) -> Any:
    record = session.get(model, record_id)
    if record is None:
        raise NotFound(f"There is no {what} with id {record_id}.", id=record_id, what=what)
    return record


def _prescriber_problems(
    prescriber: Prescriber, schedule: Schedule, today: date
) -> list[RuleProblem]:
    name = prescriber.display_name
    if not prescriber.dea_number:
        return [
            _problem(
                "prescriber-no-dea",
                f"{name} has no DEA registration on file, so cannot prescribe a "
                f"{schedule.label}. Add it to the prescriber, or call the office.",
            )
        ]
    problems = []
    if prescriber.dea_expires_on is None or prescriber.dea_expires_on < today:
        when = (
            f"expired on {prescriber.dea_expires_on:%m/%d/%Y}"
            if prescriber.dea_expires_on
            else "has no expiry date on file"
        )
        problems.append(
            _problem(
                "prescriber-dea-expired",
                f"{name}'s DEA registration {when}: a {schedule.label} cannot be accepted until "
                "a current registration is on file.",
                expires_on=prescriber.dea_expires_on,
            )
        )
    if not dea_schedule_allowed(parse_schedules(prescriber.dea_schedules), schedule.value):
        problems.append(
            _problem(
                "prescriber-schedule-not-registered",
                f"{name}'s DEA registration does not cover {schedule.label} "
                f"(registered: {prescriber.dea_schedules or 'none'}).",
                schedules=prescriber.dea_schedules,
            )
        )
    return problems


def _transfer_problems(transfer: TransferIn | None, schedule: Schedule | None) -> list[RuleProblem]:
    if transfer is None or not transfer.pharmacy.strip():
        return [
            _problem(
                "transfer-pharmacy-missing",
                "Name the pharmacy the prescription is transferred from.",
            )
        ]
    if transfer.previous_transfers < 0:
        return [_problem("transfer-count", "Previous transfers cannot be negative.")]
    outcome = check_transfer(
        schedule=schedule.value if schedule else None,
        is_electronic_unfilled=transfer.electronic_unfilled,
        previous_transfers=transfer.previous_transfers,
        shared_database=transfer.shared_database,
    )
    return list(outcome.errors)


def _cii_series_total(
    session: Session, draft: PrescriptionDraft, days_supply: int, *, excluding: int | None
) -> int:
    """Days supply of the C-II prescriptions for this patient, drug and prescriber written the
    same day (a multiple-prescription series), this one included (`excluding` is its stored
    self when it is being corrected)."""
    others = session.scalar(
        select(func.coalesce(func.sum(Prescription.days_supply), 0))
        .join(DrugPackage, Prescription.package_id == DrugPackage.id)
        .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
        .where(
            Prescription.patient_id == draft.patient_id,
            Prescription.prescriber_id == draft.prescriber_id,
            Prescription.written_date == draft.written_date,
            DrugProduct.dea_schedule == Schedule.CII.value,
            Prescription.status == "active",
            Prescription.id != excluding if excluding is not None else true(),
        )
    )
    return int(others or 0) + days_supply


def _first_fill(uow: UnitOfWork, prescription: Prescription) -> Fill:
    """Fill 0, born at intake and moved through data entry to data review.

    The moves go through the workflow's `move_fill`, so history, audit, the pharmacist's
    work-list item, screening and change notes are exactly those of any other move.
    """
    fill = Fill(
        prescription_id=prescription.id,
        fill_number=0,
        state=FillState.INTAKE.value,
        quantity=prescription.quantity,
        days_supply=prescription.days_supply,
    )
    uow.session.add(fill)
    uow.session.flush()
    record_transition(uow, fill, source=None, target=FillState.INTAKE, reason=ENTRY_REASON)
    uow.audit("fill.created", fill, rx_number=prescription.rx_number, state=fill.state)
    for target in _ENTRY_STEPS:
        move_fill(uow, fill, target, ENTRY_REASON)
    return fill


def _add_image(uow: UnitOfWork, prescription: Prescription, image: ScannedImage) -> None:
    """Store a checked scan; a rescan is added beside the earlier one, which stays on record."""
    stored = PrescriptionImage(
        prescription_id=prescription.id,
        file_name=image.file_name,
        media_type=image.media_type,
        content=image.content,
    )
    uow.session.add(stored)
    uow.audit(
        "prescription.image_added",
        stored,
        prescription_id=prescription.id,
        media_type=image.media_type,
        size=len(image.content),
    )


def _audit_value(value: Any) -> Any:
    """A column value as the audit event's JSON holds it."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 30, not 30.000 or 3E+1
    return value


def _changed(
    stored: dict[str, Any], wanted: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose value differs, before and after, in audit form."""
    names = [name for name in wanted if stored[name] != wanted[name]]
    return (
        {name: _audit_value(stored[name]) for name in names},
        {name: _audit_value(wanted[name]) for name in names},
    )


def _current_fill(session: Session, prescription_id: int, *, lock: bool = False) -> Fill | None:
    """The prescription's latest fill (the one the bench works on now)."""
    statement = (
        select(Fill)
        .where(Fill.prescription_id == prescription_id)
        .order_by(Fill.fill_number.desc())
        .limit(1)
    )
    return session.scalars(statement.with_for_update() if lock else statement).first()


def _fill_at_data_entry(session: Session, prescription: Prescription) -> Fill:
    """The fill whose data entry a correction belongs to, locked; PrescriptionFixed otherwise."""
    fill = _current_fill(session, prescription.id, lock=True)
    rx = prescription.rx_number
    if fill is None:
        raise PrescriptionFixed(f"Rx {rx} has no fill to correct.", rx_number=rx)
    state = FillState(fill.state)
    if fill.fill_number > 0:
        raise PrescriptionFixed(
            f"Rx {rx} has been filled before, so it cannot be changed: enter a new "
            "prescription for the corrected order.",
            rx_number=rx,
            fill_number=fill.fill_number,
        )
    if state is FillState.DATA_REVIEW:
        raise PrescriptionFixed(
            f"Rx {rx} is waiting for the pharmacist's data review: only the pharmacist can send "
            "it back to data entry, with the reason, for it to be corrected.",
            rx_number=rx,
            state=state.value,
        )
    if state not in _STEPS_TO_REVIEW:
        raise PrescriptionFixed(
            f"Rx {rx} is at “{state.label}”: the pharmacist has reviewed it, so the prescription "
            "is fixed. A change needs the fill sent back to data entry.",
            rx_number=rx,
            state=state.value,
        )
    return fill


def _refuse_if_held_by_another(session: Session, fill: Fill, actor: Actor) -> None:
    if fill.held_by_user_id is None or fill.held_by_user_id == actor.user_id:
        return
    holder = session.get(User, fill.held_by_user_id)
    name = holder.username if holder else "another user"
    raise FillHeldByAnother(
        f"{name} is working on this fill. Ask them to release it, or pick another fill.",
        fill_id=fill.id,
        held_by=name,
    )


def _pending_send_back(session: Session, prescription_id: int) -> SendBack | None:
    """The pharmacist's send-back, while the current fill still waits at data entry for it."""
    fill = _current_fill(session, prescription_id)
    if fill is None or fill.state != FillState.DATA_ENTRY.value:
        return None
    arrival = session.scalars(
        select(FillTransition)
        .where(
            FillTransition.fill_id == fill.id,
            FillTransition.to_state == FillState.DATA_ENTRY.value,
        )
        .order_by(FillTransition.id.desc())
        .limit(1)
    ).first()
    if arrival is None or arrival.from_state != FillState.DATA_REVIEW.value:
        return None
    return SendBack(reason=arrival.reason, by=arrival.username, at=arrival.occurred_at)


def _detail(
    prescription: Prescription, *, has_image: bool, send_back: SendBack | None
) -> PrescriptionDetail:
    product = prescription.package.product
    return PrescriptionDetail(
        id=prescription.id,
        rx_number=prescription.rx_number,
        patient_id=prescription.patient_id,
        patient_name=prescription.patient.display_name,
        prescriber_id=prescription.prescriber_id,
        prescriber_name=prescription.prescriber.display_name,
        package_id=prescription.package_id,
        drug=product.display_name,
        ndc=prescription.package.ndc,
        dea_schedule=product.dea_schedule,
        source=prescription.source,
        written_date=prescription.written_date,
        quantity=prescription.quantity,
        quantity_unit=prescription.quantity_unit,
        days_supply=prescription.days_supply,
        days_supply_overridden=prescription.days_supply_overridden,
        refills_authorized=prescription.refills_authorized,
        sig_code=prescription.sig_code,
        directions=prescription.directions,
        sig_needs_review=prescription.sig_needs_review,
        daw_code=prescription.daw_code,
        indication=prescription.indication,
        notes=prescription.notes,
        do_not_fill_before=prescription.do_not_fill_before,
        emergency_oral=prescription.emergency_oral,
        written_follow_up_due=prescription.written_follow_up_due,
        transferred_from=prescription.transferred_from,
        transfer_count=prescription.transfer_count,
        status=prescription.status,
        has_image=has_image,
        version=prescription.version,
        send_back=send_back,
    )

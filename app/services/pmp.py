"""Prescription-monitoring (PMP) reporting: each day's ASAP 4.2 file of schedule II–V
dispensing, a zero report for a day without any, and the record of what was sent when and where.

What "dispensed on day D" means: a fill's controlled stock is taken at the Fill step, each
accepted bottle writing a dispensing line in the controlled-substance log, and put back (a
reversal line) when a bottle is voided or the fill is cancelled or returned to stock. Day D's file
is made from the log as it stood at the end of D, in the pharmacy's local time:

- a fill whose log lines on D leave stock dispensed (net of reversals) is reported, dated by its
  latest dispensing still standing, with its net quantity and the NDC most of it came from;
- a fill an earlier day's file reported whose lines on D took all its stock back (returned to
  stock, cancelled, bottles voided) is voided (DSP01 "02", the record as it was sent);
- a fill reported earlier whose lines on D changed what was dispensed (another bottle, another
  NDC, another quantity) is voided and reported anew.

What a file reported is read back from the files themselves (the ones not replaced), so the
corrections follow from what the state was sent. Files are made in date order, one per day, so
every day's corrections land in the next file; a day already made can be made again (the new
file replaces it), a file already sent only by a pharmacist with a reason. A file made waits
on the pharmacist's work list ("pmp_report") until it is marked sent. The file holds patient
data by law: none of it is logged or put into audit events or work-list summaries.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path

from sqlalchemy import ColumnElement, func, select, type_coerce
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.db.base import UtcDateTime, utc_now
from app.db.models import (
    ControlledSubstanceEntry,
    DrugPackage,
    Fill,
    FillTransition,
    InsuranceCoverage,
    Patient,
    Pharmacy,
    PmpReport,
    StockMovement,
    User,
)
from app.domain import asap
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.errors import DiskFull, NotFound, ValidationFailed
from app.services.changes import publish
from app.services.pharmacy import US_STATES
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role
from app.services.worklist import TOPIC as WORKLIST_TOPIC
from app.services.worklist import close_items, open_item

# A file made and not yet sent waits on the pharmacist's work list until it is marked sent.
PMP_REPORT = "pmp_report"
GENERATE_ROLES = (Role.TECHNICIAN, Role.PHARMACIST, Role.ADMINISTRATOR)
# Marking a file sent attests that the state's legally required report was made: the
# pharmacist's responsibility, or the administrator's whose script uploads the files.
SEND_ROLES = (Role.PHARMACIST, Role.ADMINISTRATOR)
_TO_SEND = frozenset({PMP_REPORT})
_DESTINATION_LENGTH = 255  # pmp_reports.destination
_SHOWN_DAYS = 3
_UNITS = {
    "EA": asap.DosageUnit.EACH,
    "ML": asap.DosageUnit.MILLILITERS,
    "GM": asap.DosageUnit.GRAMS,
}
_ORIGINS = {
    "written": asap.RxOrigin.WRITTEN,
    "phoned": asap.RxOrigin.TELEPHONE,
    "faxed": asap.RxOrigin.FAX,
    "electronic": asap.RxOrigin.ELECTRONIC,
    "transferred": asap.RxOrigin.OTHER,
}
# The payer's kind is not on file until the claims work records it: read from the plan's name,
# commercial insurance otherwise, private pay without active coverage.
_PLAN_WORDS = (
    ("medicaid", asap.PaymentType.MEDICAID),
    ("medicare", asap.PaymentType.MEDICARE),
    ("tricare", asap.PaymentType.MILITARY_OR_VA),
    ("veterans", asap.PaymentType.MILITARY_OR_VA),
    ("workers", asap.PaymentType.WORKERS_COMPENSATION),
)


class PmpRefused(ValidationFailed):
    """A PMP action refused because of the files already made or sent; nothing was written."""

    code = "pmp-refused"


@dataclass(frozen=True)
class PmpReportRow:
    report_id: int
    state: str
    report_date: date
    file_name: str
    record_count: int
    status: str
    sha256: str
    generated_at: datetime
    generated_by: str | None
    replaces_id: int | None
    destination: str
    sent_at: datetime | None
    sent_by: str | None

    @property
    def zero_report(self) -> bool:
        return self.record_count == 0


@dataclass(frozen=True)
class _Truth:
    """What the log says a fill dispensed, as of a day's end."""

    filled_on: date
    package_id: int
    quantity: Decimal


class PmpService:
    def __init__(
        self,
        database: Database,
        *,
        today: Callable[[], date] = date.today,
        now: Callable[[], datetime] = utc_now,
        zone: tzinfo | None = None,
    ) -> None:
        """`zone` is the pharmacy's time zone (its days are local days); None is this
        computer's, as the pharmacy's own workstations run in it."""
        self._db = database
        self._today = today
        self._now = now
        self._zone = zone

    # --- reading ------------------------------------------------------------------------------

    def reports(self, actor: Actor, *, state: str | None = None) -> list[PmpReportRow]:
        """Every file made, newest day first (a replaced one after its replacement)."""
        require_role(actor, *Role, action="see the PMP reports")
        with self._db.reading() as session:
            chosen = _state(session, state)
            rows = session.scalars(
                select(PmpReport)
                .where(PmpReport.state == chosen)
                .order_by(PmpReport.report_date.desc(), PmpReport.id.desc())
            ).all()
            return _rows(session, rows)

    def pending_days(
        self, actor: Actor, *, through: date | None = None, state: str | None = None
    ) -> list[date]:
        """The days after the last file made (or, before any, from the first controlled
        dispensing) through `through` (yesterday, the last day that is over) without a file."""
        require_role(actor, *Role, action="see the PMP reports")
        last_over = self._today() - timedelta(days=1)
        until = last_over if through is None else through
        if until > last_over:
            raise ValidationFailed(
                f"{until.isoformat()} is not over yet: a day's file is made from the next day on.",
                field="through",
            )
        with self._db.reading() as session:
            return self._pending(session, _state(session, state), until)

    # --- making files -------------------------------------------------------------------------

    def generate(
        self, actor: Actor, report_date: date, *, state: str | None = None, reason: str = ""
    ) -> PmpReportRow:
        """Make the file of `report_date` (a zero report when nothing was dispensed), or make it
        again: the new file replaces the old, which a pharmacist alone may do, with a reason,
        once the old one was sent."""
        require_role(actor, *GENERATE_ROLES, action="make PMP files")
        why = " ".join(str(reason).split())
        with self._db.unit_of_work(actor) as uow:
            pharmacy = _locked_pharmacy(uow.session)
            chosen = _state(uow.session, state)
            report = self._generate(uow, pharmacy, chosen, report_date, why)
            _worklist_changed(uow)
            return _rows(uow.session, [report])[0]

    def generate_pending(self, actor: Actor, *, state: str | None = None) -> list[PmpReportRow]:
        """Make the file of every pending day, oldest first, all of them or none."""
        require_role(actor, *GENERATE_ROLES, action="make PMP files")
        with self._db.unit_of_work(actor) as uow:
            pharmacy = _locked_pharmacy(uow.session)
            chosen = _state(uow.session, state)
            days = self._pending(uow.session, chosen, self._today() - timedelta(days=1))
            made = [self._generate(uow, pharmacy, chosen, day, "") for day in days]
            if made:
                _worklist_changed(uow)
            return _rows(uow.session, made)

    def _generate(
        self, uow: UnitOfWork, pharmacy: Pharmacy, state: str, day: date, reason: str
    ) -> PmpReport:
        session = uow.session
        last_over = self._today() - timedelta(days=1)
        if day > last_over:
            raise PmpRefused(
                f"{day.isoformat()} is not over yet: its file is made from the next day on, "
                "with everything dispensed that day.",
                report_date=day.isoformat(),
            )
        current = _current_report(session, state, day)
        if current is None:
            self._refuse_out_of_order(session, state, day)
        elif current.status == "sent":
            require_role(uow.actor, *SEND_ROLES, action="replace a PMP file already sent")
            if not reason:
                raise PmpRefused(
                    f"The file of {day.isoformat()} was already sent to the PMP: say why it is "
                    "made again (the PMP rejected it, or asked for it again).",
                    field="reason",
                )
        records = self._records(session, pharmacy, state, day)
        sequence = (
            session.scalar(
                select(func.count(PmpReport.id)).where(
                    PmpReport.state == state, PmpReport.report_date == day
                )
            )
            or 0
        ) + 1
        stamp = asap.format_date(day)
        content = asap.write_file(
            asap.Transaction(
                control_number=f"{stamp}{state}{sequence:02d}",
                created_at=self._now().astimezone(self._zone),
                source_id=pharmacy.ncpdp_id or pharmacy.npi,
                source_name=pharmacy.name,
                report_date=day,
                pharmacy=_pharmacy(pharmacy),
                records=tuple(records),
            )
        )
        suffix = "" if sequence == 1 else f"_{sequence}"
        report = PmpReport(
            state=state,
            report_date=day,
            file_name=f"{pharmacy.ncpdp_id}_{state}_{stamp}{suffix}.dat",
            content=content,
            sha256=hashlib.sha256(content.encode("ascii")).hexdigest(),
            record_count=len(records),
            replaces_id=current.id if current is not None else None,
            generated_by_user_id=uow.actor.user_id,
            generated_at=self._now(),
        )
        session.add(report)
        session.flush()
        if current is not None:
            close_items(uow, entity_type="pmp_reports", entity_id=str(current.id), kinds=_TO_SEND)
            current.status = "replaced"
            uow.audit(
                "pmp.replaced",
                current,
                before={"status": "sent" if current.sent_at else "generated"},
                after={"status": "replaced"},
                replaced_by=report.id,
                reason=reason,
            )
        uow.audit(
            "pmp.generated",
            report,
            state=state,
            report_date=day.isoformat(),
            record_count=report.record_count,
            sha256=report.sha256,
            replaces_id=report.replaces_id,
            reason=reason,
        )
        what = "a zero report" if not records else f"{len(records)} record(s)"
        open_item(
            uow,
            kind=PMP_REPORT,
            entity_type="pmp_reports",
            entity_id=str(report.id),
            summary=f"PMP file of {day.isoformat()} for {state}, {what}: save it for upload, "
            "then mark it sent",
        )
        return report

    def _refuse_out_of_order(self, session: Session, state: str, day: date) -> None:
        later = session.scalar(
            select(func.max(PmpReport.report_date)).where(
                PmpReport.state == state, PmpReport.report_date > day
            )
        )
        if later is not None:
            raise PmpRefused(
                f"Files are made in date order and {later.isoformat()} already has one: "
                f"{day.isoformat()}, before it, cannot get a file now.",
                report_date=day.isoformat(),
            )
        earlier = self._pending(session, state, day - timedelta(days=1))
        if earlier:
            shown = ", ".join(each.isoformat() for each in earlier[:_SHOWN_DAYS])
            more = f" and {len(earlier) - _SHOWN_DAYS} more" if len(earlier) > _SHOWN_DAYS else ""
            raise PmpRefused(
                f"Make the files of the days before {day.isoformat()} first: {shown}{more} "
                "(Generate pending does them in order).",
                pending=[each.isoformat() for each in earlier],
            )

    def _pending(self, session: Session, state: str, until: date) -> list[date]:
        last = session.scalar(
            select(func.max(PmpReport.report_date)).where(PmpReport.state == state)
        )
        if last is not None:
            start = last + timedelta(days=1)
        else:
            first = session.scalar(
                select(_earliest(ControlledSubstanceEntry.occurred_at)).where(
                    ControlledSubstanceEntry.kind == "dispensed",
                    ControlledSubstanceEntry.fill_id.is_not(None),
                )
            )
            if first is None:
                return []
            start = self._local_date(first)
        return [start + timedelta(days=n) for n in range((until - start).days + 1)]

    # --- what a day's file holds --------------------------------------------------------------

    def _records(
        self, session: Session, pharmacy: Pharmacy, state: str, day: date
    ) -> list[tuple[asap.Segment, ...]]:
        start, end = self._start_of(day), self._start_of(day + timedelta(days=1))
        fill_ids = session.scalars(
            select(ControlledSubstanceEntry.fill_id)
            .where(
                ControlledSubstanceEntry.fill_id.is_not(None),
                ControlledSubstanceEntry.kind.in_(("dispensed", "reversal")),
                ControlledSubstanceEntry.occurred_at >= start,
                ControlledSubstanceEntry.occurred_at < end,
            )
            .distinct()
        ).all()
        fills = {
            fill.id: fill
            for fill in session.scalars(
                select(Fill).where(Fill.id.in_([fill_id for fill_id in fill_ids if fill_id]))
            )
        }
        if pharmacy.state != state:  # a non-resident pharmacy reports the state's residents
            fills = {
                fill_id: fill
                for fill_id, fill in fills.items()
                if fill.prescription.patient.state == state
            }
        truths = self._truths(session, list(fills), end)
        first_day = min((self._first_dispensed(session, fill_id) for fill_id in fills), default=day)
        sent = _reported(session, state, first_day, day)
        records: list[tuple[asap.Segment, ...]] = []
        ordered = sorted(
            fills.values(), key=lambda fill: (fill.prescription.rx_number, fill.fill_number)
        )
        for fill in ordered:
            truth = truths.get(fill.id)
            earlier = sent.get((fill.prescription.rx_number, fill.fill_number))
            if earlier is not None and earlier.status is not asap.ReportingStatus.VOID:
                if truth is not None and self._same(session, earlier, truth):
                    continue
                records.append(earlier.voided())
            if truth is not None:
                records.append(self._dispense(session, fill, truth, end).segments())
        return records

    def _truths(
        self, session: Session, fill_ids: Sequence[int], end: datetime
    ) -> dict[int, _Truth]:
        """Each fill's standing dispensing as of `end`: the log's dispensing lines whose stock
        was not put back by then."""
        if not fill_ids:
            return {}
        lines = session.execute(
            select(
                ControlledSubstanceEntry.fill_id,
                ControlledSubstanceEntry.kind,
                ControlledSubstanceEntry.package_id,
                ControlledSubstanceEntry.quantity,
                ControlledSubstanceEntry.occurred_at,
                ControlledSubstanceEntry.movement_id,
                StockMovement.reverses_id,
            )
            .join(StockMovement, StockMovement.id == ControlledSubstanceEntry.movement_id)
            .where(
                ControlledSubstanceEntry.fill_id.in_(fill_ids),
                ControlledSubstanceEntry.kind.in_(("dispensed", "reversal")),
                ControlledSubstanceEntry.occurred_at < end,
            )
        ).all()
        put_back = {line.reverses_id for line in lines if line.kind == "reversal"}
        standing: dict[int, list[tuple[int, Decimal, datetime]]] = {}
        for line in lines:
            if line.kind == "dispensed" and line.movement_id not in put_back:
                standing.setdefault(line.fill_id, []).append(
                    (line.package_id, -Decimal(line.quantity), line.occurred_at)
                )
        truths: dict[int, _Truth] = {}
        for fill_id, taken in standing.items():
            by_package: dict[int, Decimal] = {}
            for package_id, quantity, _ in taken:
                by_package[package_id] = by_package.get(package_id, Decimal(0)) + quantity
            total = sum(by_package.values(), Decimal(0))
            if total <= 0:
                continue
            package_id = min(by_package, key=lambda each: (-by_package[each], each))
            latest = max(moment for _, _, moment in taken)
            truths[fill_id] = _Truth(self._local_date(latest), package_id, total)
        return truths

    def _first_dispensed(self, session: Session, fill_id: int) -> date:
        first = session.scalar(
            select(_earliest(ControlledSubstanceEntry.occurred_at)).where(
                ControlledSubstanceEntry.fill_id == fill_id,
                ControlledSubstanceEntry.kind == "dispensed",
            )
        )
        assert first is not None  # a fill is here for its log lines
        return self._local_date(first)

    @staticmethod
    def _same(session: Session, earlier: asap.ReportedRecord, truth: _Truth) -> bool:
        ndc11 = session.scalar(select(DrugPackage.ndc11).where(DrugPackage.id == truth.package_id))
        return (earlier.filled_on, earlier.ndc11, earlier.quantity) == (
            truth.filled_on,
            ndc11,
            truth.quantity,
        )

    def _dispense(
        self, session: Session, fill: Fill, truth: _Truth, end: datetime
    ) -> asap.Dispense:
        prescription = fill.prescription
        patient, prescriber = prescription.patient, prescription.prescriber
        package = session.get(DrugPackage, truth.package_id)
        assert package is not None  # a foreign key guarantees it
        sold = session.scalar(
            select(_earliest(FillTransition.occurred_at)).where(
                FillTransition.fill_id == fill.id,
                FillTransition.to_state == FillState.SOLD.value,
                FillTransition.occurred_at < end,
            )
        )
        verifier = session.scalars(
            select(User.full_name)
            .join(FillTransition, FillTransition.user_id == User.id)
            .where(
                FillTransition.fill_id == fill.id,
                FillTransition.from_state == FillState.FINAL_VERIFICATION.value,
                FillTransition.to_state == FillState.READY.value,
                FillTransition.occurred_at < end,
            )
            .order_by(FillTransition.id.desc())
        ).first()
        first_name, _, last_name = (verifier or "").rpartition(" ")
        return asap.Dispense(
            status=asap.ReportingStatus.NEW,
            rx_number=prescription.rx_number,
            written_on=prescription.written_date,
            refills_authorized=prescription.refills_authorized,
            filled_on=truth.filled_on,
            refill_number=fill.fill_number,
            ndc11=package.ndc11,
            quantity=truth.quantity,
            days_supply=fill.days_supply,
            unit=_UNITS.get(package.billing_unit, asap.DosageUnit.EACH),
            origin=(
                asap.RxOrigin.TELEPHONE_EMERGENCY
                if prescription.emergency_oral
                else _ORIGINS.get(prescription.source, asap.RxOrigin.OTHER)
            ),
            payment=_payment(session, patient, truth.filled_on),
            sold_on=self._local_date(sold) if sold is not None else None,
            patient=asap.Patient(
                last_name=patient.last_name,
                first_name=patient.first_name,
                middle_name=patient.middle_name,
                address_line1=patient.address_line1,
                address_line2=patient.address_line2,
                city=patient.city,
                state=patient.state,
                postal_code=patient.postal_code,
                phone=patient.phone,
                date_of_birth=patient.date_of_birth,
                sex=patient.sex,
                system_id=str(patient.id),
            ),
            prescriber=asap.Prescriber(
                npi=prescriber.npi,
                dea=prescriber.dea_number or "",
                state_license=prescriber.state_license,
                last_name=prescriber.last_name,
                first_name=prescriber.first_name,
                phone=prescriber.phone,
            ),
            pharmacist_last_name=last_name,
            pharmacist_first_name=first_name,
        )

    # --- files and sending --------------------------------------------------------------------

    def save_file(self, actor: Actor, report_id: int, directory: Path) -> Path:
        """Write the file's exact bytes as `directory/<its file name>` (audited: the file holds
        patient data). A different file of that name already there is not overwritten."""
        require_role(actor, *GENERATE_ROLES, action="save PMP files")
        folder = Path(directory)
        if not folder.is_dir():
            raise ValidationFailed(f"There is no folder {folder}.", field="directory")
        with self._db.unit_of_work(actor) as uow:
            report = _report(uow.session, report_id)
            data = report.content.encode("ascii")
            if hashlib.sha256(data).hexdigest() != report.sha256:
                raise PmpRefused(
                    f"PMP file {report.file_name} no longer matches the checksum taken when it "
                    "was made: make the day's file again.",
                    report_id=report_id,
                )
            target = folder / report.file_name
            if target.exists() and target.read_bytes() != data:
                raise PmpRefused(
                    f"{target} already exists and is a different file: choose another folder.",
                    path=str(target),
                )
            uow.audit("pmp.saved", report, path=str(target), sha256=report.sha256)
            _write_exactly(target, data)
            return target

    def mark_sent(self, actor: Actor, report_id: int, *, destination: str) -> PmpReportRow:
        """Record that the file reached the state's PMP: when, by whom, where to."""
        require_role(actor, *SEND_ROLES, action="mark PMP files sent")
        where = " ".join(str(destination).split())
        if not where:
            raise ValidationFailed(
                "Say where the file was sent (the PMP's upload site or SFTP server).",
                field="destination",
            )
        if len(where) > _DESTINATION_LENGTH:
            raise ValidationFailed(
                f"The destination is at most {_DESTINATION_LENGTH} characters.",
                field="destination",
            )
        with self._db.unit_of_work(actor) as uow:
            report = _report(uow.session, report_id, lock=True)
            if report.status == "replaced":
                raise PmpRefused(
                    f"PMP file {report.file_name} was replaced by a newer file of the same day: "
                    "send that one instead.",
                    report_id=report_id,
                )
            if report.status == "sent":
                raise PmpRefused(
                    f"PMP file {report.file_name} was already marked sent on "
                    f"{report.sent_at:%Y-%m-%d %H:%M} UTC to {report.destination}.",
                    report_id=report_id,
                )
            report.status = "sent"
            report.destination = where
            report.sent_by_user_id = actor.user_id
            report.sent_at = self._now()
            uow.audit(
                "pmp.sent",
                report,
                before={"status": "generated"},
                after={"status": "sent"},
                destination=where,
            )
            close_items(uow, entity_type="pmp_reports", entity_id=str(report.id), kinds=_TO_SEND)
            _worklist_changed(uow)
            return _rows(uow.session, [report])[0]

    # --- local days ---------------------------------------------------------------------------

    def _start_of(self, day: date) -> datetime:
        midnight = datetime.combine(day, time())
        local = (
            midnight.replace(tzinfo=self._zone) if self._zone is not None else midnight.astimezone()
        )
        return local.astimezone(UTC)

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self._zone).date()


# --- helpers ----------------------------------------------------------------------------------


def _earliest(column: InstrumentedAttribute[datetime]) -> ColumnElement[datetime]:
    """MIN of a UTC time column, read back as an aware UTC time (SQLite hands an aggregate
    back as text unless told its type)."""
    return type_coerce(func.min(column), UtcDateTime())


def _worklist_changed(uow: UnitOfWork) -> None:
    publish(uow.session, topic=WORKLIST_TOPIC, entity_id=None, workstation=uow.actor.workstation)


def _state(session: Session, state: str | None) -> str:
    if state is None:
        home = session.scalar(select(Pharmacy.state))
        if home is None:
            raise NotFound("The pharmacy profile is not set up yet: finish the first-run set-up.")
        return home
    chosen = str(state).strip().upper()
    if chosen not in US_STATES:
        raise ValidationFailed(f"“{state}” is not a US state code (like IL).", field="state")
    return chosen


def _locked_pharmacy(session: Session) -> Pharmacy:
    """The profile, locked: two workstations making files at once take turns (on SQLite the
    write lock taken at BEGIN does the same)."""
    pharmacy = session.scalars(select(Pharmacy).order_by(Pharmacy.id).with_for_update()).first()
    if pharmacy is None:
        raise NotFound("The pharmacy profile is not set up yet: finish the first-run set-up.")
    return pharmacy


def _pharmacy(pharmacy: Pharmacy) -> asap.Pharmacy:
    return asap.Pharmacy(
        npi=pharmacy.npi,
        ncpdp=pharmacy.ncpdp_id,
        dea=pharmacy.dea_number,
        name=pharmacy.name,
        address_line1=pharmacy.address_line1,
        address_line2=pharmacy.address_line2,
        city=pharmacy.city,
        state=pharmacy.state,
        postal_code=pharmacy.postal_code,
        phone=pharmacy.phone,
    )


def _payment(session: Session, patient: Patient, on: date) -> asap.PaymentType:
    plans = session.scalars(
        select(InsuranceCoverage.plan_name)
        .where(
            InsuranceCoverage.patient_id == patient.id,
            InsuranceCoverage.active.is_(True),
            (InsuranceCoverage.effective_on.is_(None)) | (InsuranceCoverage.effective_on <= on),
            (InsuranceCoverage.terminated_on.is_(None)) | (InsuranceCoverage.terminated_on >= on),
        )
        .order_by(InsuranceCoverage.rank)
    ).all()
    if not plans:
        return asap.PaymentType.PRIVATE_PAY
    words = set(re.findall(r"[a-z]+", plans[0].lower()))
    return next(
        (kind for word, kind in _PLAN_WORDS if word in words),
        asap.PaymentType.COMMERCIAL_INSURANCE,
    )


def _current_report(session: Session, state: str, day: date) -> PmpReport | None:
    return session.scalars(
        select(PmpReport)
        .where(
            PmpReport.state == state,
            PmpReport.report_date == day,
            PmpReport.status != "replaced",
        )
        .with_for_update()
    ).first()


def _reported(
    session: Session, state: str, first_day: date, day: date
) -> dict[tuple[str, int], asap.ReportedRecord]:
    """The last record each fill (Rx number, refill number) had in the files in force for the
    days from `first_day` to the day before `day`."""
    contents = session.scalars(
        select(PmpReport.content)
        .where(
            PmpReport.state == state,
            PmpReport.status != "replaced",
            PmpReport.report_date >= first_day,
            PmpReport.report_date < day,
        )
        .order_by(PmpReport.report_date, PmpReport.id)
    ).all()
    last: dict[tuple[str, int], asap.ReportedRecord] = {}
    for content in contents:
        for record in asap.read_file(content).records:
            last[(record.rx_number, record.refill_number)] = record
    return last


def _report(session: Session, report_id: int, *, lock: bool = False) -> PmpReport:
    statement = select(PmpReport).where(PmpReport.id == report_id)
    report = session.scalars(statement.with_for_update() if lock else statement).first()
    if report is None:
        raise NotFound(f"There is no PMP file {report_id}.")
    return report


def _rows(session: Session, reports: Iterable[PmpReport]) -> list[PmpReportRow]:
    listed = list(reports)
    user_ids = {
        user_id
        for report in listed
        for user_id in (report.generated_by_user_id, report.sent_by_user_id)
        if user_id is not None
    }
    names: dict[int | None, str] = dict(
        session.execute(select(User.id, User.username).where(User.id.in_(sorted(user_ids)))).all()
    )
    return [
        PmpReportRow(
            report_id=report.id,
            state=report.state,
            report_date=report.report_date,
            file_name=report.file_name,
            record_count=report.record_count,
            status=report.status,
            sha256=report.sha256,
            generated_at=report.generated_at,
            generated_by=names.get(report.generated_by_user_id),
            replaces_id=report.replaces_id,
            destination=report.destination,
            sent_at=report.sent_at,
            sent_by=names.get(report.sent_by_user_id),
        )
        for report in listed
    ]


def _write_exactly(target: Path, data: bytes) -> None:
    """The bytes land whole or not at all: written beside the target, then renamed onto it."""
    partial = target.with_name(target.name + ".partial")
    try:
        with open(partial, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, target)
    except OSError as error:
        partial.unlink(missing_ok=True)
        if error.errno == errno.ENOSPC:
            raise DiskFull(
                f"The disk holding {target.parent} is full; nothing was saved."
            ) from None
        raise ValidationFailed(
            f"{target} could not be written ({error.strerror or error}).", path=str(target)
        ) from None

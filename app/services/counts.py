"""Cycle counts: a location or a package counted lot by lot, recounted, submitted and approved
by a pharmacist into count corrections; controlled discrepancies and DEA Form 106 reports.

A count is saved line by line, so a closed window or another workstation resumes it exactly.
Each line records the ledger balance when it was (re)counted (`expected`); approval applies
(final count − expected) to the lot, so stock dispensed or received while the count was open is
not lost. Only one active count may hold a location or package: the partial unique index on
`count_sessions.scope_key` refuses a second one, whichever workstation starts it.

Recounts: a controlled (CII–CV) line whose count differs from the ledger must be recounted
before the count is submitted. Each one becomes a controlled discrepancy on the pharmacy's
record, and a loss may start a DEA Form 106 due the next business day, so a second look
confirms it first. Other lines may be recounted; their differences go to the pharmacist as is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.base import utc_now
from app.db.models import (
    CountLine,
    CountSession,
    DeaLossReport,
    DrugPackage,
    DrugProduct,
    StockLot,
    User,
)
from app.domain.barcodes import ScanError
from app.domain.roles import Role
from app.errors import NotFound, ValidationFailed
from app.services.auth import actor_for
from app.services.changes import publish
from app.services.controlled import open_discrepancy
from app.services.dispensing import controlled_schedule
from app.services.house_settings import CountPolicy, SecondSignature, read_count_policy
from app.services.identify import CataloguePackage, resolve_scan
from app.services.inventory import (
    STOCK_ROLES,
    _check_witness,
    _location,
    _lock_lot,
    _lock_package_lots,
    _lot_number,
    _write_movement,
    shown,
)
from app.services.inventory import TOPIC as STOCK_TOPIC
from app.services.reorder import open_shortage_notices
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role
from app.services.worklist import TOPIC as WORKLIST_TOPIC
from app.services.worklist import close_items, open_item

COUNT_APPROVAL = "count_approval"
DEA_106 = "dea_106"
ACTIVE_STATUSES = ("counting", "submitted")
# Dosage forms counted unit by unit: a schedule II count of these is in whole units.
COUNTABLE_FORMS = (
    "TABLET",
    "CAPSULE",
    "PATCH",
    "FILM",
    "LOZENGE",
    "TROCHE",
    "SUPPOSITORY",
    "PELLET",
    "WAFER",
    "GUM",
    "INSERT",
)
_MAX_COUNT = Decimal("999999999.999")  # Numeric(12, 3)
_DEA_REFERENCE_LENGTH = 64  # dea_loss_reports.dea_reference


class CountRefused(ValidationFailed):
    """A count action refused because of the count's state or rules; nothing was written."""

    code = "count-refused"


class CountInProgress(CountRefused):
    """Another active count already holds this location or package."""

    code = "count-in-progress"


class LotNeeded(CountRefused):
    """The scan carries no lot (a UPC), or names a lot not on record without its expiry."""

    code = "lot-needed"


@dataclass(frozen=True)
class CountLineRow:
    """One lot of a count. `expected` is the ledger balance when the lot was (re)counted, or,
    before it is counted, the ledger now."""

    line_id: int
    lot_id: int
    package_id: int
    ndc: str
    drug: str
    dea_schedule: str | None
    countable: bool
    lot_number: str
    expiry: date
    location: str
    expected: Decimal
    counted: Decimal | None
    recount: Decimal | None
    movement_id: int | None

    @property
    def final(self) -> Decimal | None:
        """What the count says: the recount when there is one."""
        return self.recount if self.recount is not None else self.counted

    @property
    def difference(self) -> Decimal | None:
        final = self.final
        return None if final is None else final - self.expected

    @property
    def discrepant(self) -> bool:
        return bool(self.difference)

    @property
    def needs_recount(self) -> bool:
        """A controlled line that differs from the ledger and has not been recounted."""
        return self.dea_schedule is not None and self.discrepant and self.recount is None

    @property
    def described(self) -> str:
        return f"lot {self.lot_number} of NDC {self.ndc}"


@dataclass(frozen=True)
class CountSessionRow:
    session_id: int
    scope: str
    scope_text: str
    location: str
    package_id: int | None
    status: str
    started_by: str
    workstation: str
    started_at: datetime
    submitted_by: str | None
    second_signer: str | None
    approved_by: str | None
    closed_reason: str
    lines: tuple[CountLineRow, ...]

    @property
    def counted_lines(self) -> int:
        return sum(1 for line in self.lines if line.final is not None)

    @property
    def discrepancies(self) -> tuple[CountLineRow, ...]:
        return tuple(line for line in self.lines if line.discrepant)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class LossReportRow:
    """A DEA Form 106 to file (due), filed with DEA's reference, or withdrawn with why."""

    report_id: int
    package_id: int
    ndc: str
    drug: str
    schedule: str
    lot_number: str | None
    quantity: Decimal
    loss_type: str
    count_session_id: int | None
    discovered_at: datetime
    due_on: date
    status: str
    dea_reference: str
    note: str
    filed_by: str | None
    filed_at: datetime | None

    def overdue(self, today: date) -> bool:
        return self.status == "due" and self.due_on < today


@dataclass(frozen=True)
class CountApproved:
    """What an approval wrote: the corrections, the controlled discrepancies opened, and the
    DEA Form 106 reports now due (the window prompts for them when there are any)."""

    session: CountSessionRow
    movement_ids: tuple[int, ...]
    discrepancy_ids: tuple[int, ...]
    loss_reports: tuple[LossReportRow, ...]

    @property
    def form_106_due(self) -> bool:
        return bool(self.loss_reports)


def next_business_day(day: date) -> date:
    """The next weekday after `day`: Form 106 is due within one business day of discovery."""
    due = day + timedelta(days=1)
    while due.weekday() >= 5:
        due += timedelta(days=1)
    return due


def countable(dosage_form: str) -> bool:
    form = dosage_form.upper()
    return any(word in form for word in COUNTABLE_FORMS)


def second_signature_needed(policy: CountPolicy, lines: Iterable[CountLineRow]) -> bool:
    """Whether the house wants a second person to sign this count (not a DEA rule)."""
    schedules = {line.dea_schedule for line in lines}
    if policy.second_signature is SecondSignature.EVERY:
        return True
    if policy.second_signature is SecondSignature.CONTROLLED:
        return bool(schedules - {None})
    if policy.second_signature is SecondSignature.SCHEDULE_II:
        return "CII" in schedules
    return False


def _count_quantity(value: Decimal | int | str, *, field: str) -> Decimal:
    """A counted quantity: a finite number of 0 or more with at most three decimals."""
    if isinstance(value, bool | float):
        raise ValidationFailed(f"“{value}” is not a count: type it as a number.", field=field)
    try:
        quantity = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed(f"“{value}” is not a number.", field=field) from None
    if not quantity.is_finite():
        raise ValidationFailed(f"“{value}” is not a number.", field=field)
    if quantity < 0:
        raise ValidationFailed(
            f"A count is 0 or more, not {shown(quantity)}: type what is on the shelf.", field=field
        )
    if quantity != quantity.quantize(Decimal("0.001")):
        raise ValidationFailed(
            f"{shown(quantity)} has more than three decimals: the ledger keeps units to 0.001.",
            field=field,
        )
    if quantity > _MAX_COUNT:
        raise ValidationFailed(f"{shown(quantity)} units is more than the ledger holds.")
    return quantity


def _lines() -> Select[CountLine, StockLot, str, DrugProduct]:
    return (
        select(CountLine, StockLot, DrugPackage.ndc, DrugProduct)
        .join(StockLot, CountLine.lot_id == StockLot.id)
        .join(DrugPackage, StockLot.package_id == DrugPackage.id)
        .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
    )


def _line_row(line: CountLine, lot: StockLot, ndc: str, product: DrugProduct) -> CountLineRow:
    counted = line.counted is not None or line.recount is not None
    return CountLineRow(
        line_id=line.id,
        lot_id=lot.id,
        package_id=lot.package_id,
        ndc=ndc,
        drug=product.display_name,
        dea_schedule=controlled_schedule(product.dea_schedule),
        countable=countable(product.dosage_form),
        lot_number=lot.lot_number,
        expiry=lot.expiry,
        location=lot.location,
        expected=Decimal(line.expected if counted and line.expected is not None else lot.on_hand),
        counted=line.counted,
        recount=line.recount,
        movement_id=line.movement_id,
    )


def _line_rows(session: Session, session_id: int) -> tuple[CountLineRow, ...]:
    session.flush()
    rows = session.execute(
        _lines()
        .where(CountLine.session_id == session_id)
        .order_by(DrugPackage.ndc, StockLot.expiry, StockLot.id)
    ).all()
    return tuple(_line_row(*row) for row in rows)


def _one_line(session: Session, line_id: int) -> CountLineRow:
    session.flush()
    row = session.execute(_lines().where(CountLine.id == line_id)).one()
    return _line_row(*row)


def _usernames(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({user_id for user_id in user_ids if user_id is not None})
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def _scope_text(session: Session, count: CountSession) -> str:
    if count.scope == "location":
        return f"the {count.location}"
    ndc = session.scalar(select(DrugPackage.ndc).where(DrugPackage.id == count.package_id))
    return f"NDC {ndc}"


def _session_row(session: Session, count: CountSession) -> CountSessionRow:
    names = _usernames(
        session,
        (
            count.started_by_user_id,
            count.submitted_by_user_id,
            count.second_signer_user_id,
            count.approved_by_user_id,
        ),
    )

    def name(user_id: int | None) -> str | None:
        return None if user_id is None else names.get(user_id)

    return CountSessionRow(
        session_id=count.id,
        scope=count.scope,
        scope_text=_scope_text(session, count),
        location=count.location,
        package_id=count.package_id,
        status=count.status,
        started_by=name(count.started_by_user_id) or "",
        workstation=count.workstation,
        started_at=count.started_at,
        submitted_by=name(count.submitted_by_user_id),
        second_signer=name(count.second_signer_user_id),
        approved_by=name(count.approved_by_user_id),
        closed_reason=count.closed_reason,
        lines=_line_rows(session, count.id),
    )


def _loss_rows(session: Session, statement: Select[DeaLossReport]) -> list[LossReportRow]:
    reports = session.scalars(statement).all()
    packages = {
        package_id: (ndc, product)
        for package_id, ndc, product in session.execute(
            select(DrugPackage.id, DrugPackage.ndc, DrugProduct)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
            .where(DrugPackage.id.in_(sorted({report.package_id for report in reports})))
        )
    }
    lots = dict(
        session.execute(
            select(StockLot.id, StockLot.lot_number).where(
                StockLot.id.in_(sorted({r.lot_id for r in reports if r.lot_id is not None}))
            )
        ).all()
    )
    names = _usernames(session, (report.filed_by_user_id for report in reports))
    return [
        LossReportRow(
            report_id=report.id,
            package_id=report.package_id,
            ndc=packages[report.package_id][0],
            drug=packages[report.package_id][1].display_name,
            schedule=report.schedule,
            lot_number=lots.get(report.lot_id) if report.lot_id is not None else None,
            quantity=report.quantity,
            loss_type=report.loss_type,
            count_session_id=report.count_session_id,
            discovered_at=report.discovered_at,
            due_on=report.due_on,
            status=report.status,
            dea_reference=report.dea_reference,
            note=report.note,
            filed_by=names.get(report.filed_by_user_id) if report.filed_by_user_id else None,
            filed_at=report.filed_at,
        )
        for report in reports
    ]


def _one_package(found: tuple[CataloguePackage, ...], text: str) -> CataloguePackage:
    if len(found) > 1:
        ndcs = ", ".join(package.facts.package_ndc for package in found)
        raise CountRefused(
            f"This code can mean NDC {ndcs}: type the NDC with its hyphens as printed on the "
            "package."
        )
    if not found:
        raise CountRefused(
            f"“{text}” names no package in the drug catalogue: count only catalogued packages "
            "(a pharmacist adds a missing one from the Verify dock)."
        )
    return found[0]


class CountService:
    def __init__(
        self,
        database: Database,
        *,
        today: Callable[[], date] = date.today,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = database
        self._today = today
        self._now = now

    # --- starting and resuming ----------------------------------------------------------------

    def start(
        self,
        actor: Actor,
        *,
        location: str | None = None,
        package_id: int | None = None,
        note: str = "",
    ) -> CountSessionRow:
        """Count one location (a `inventory.LOCATIONS` name) or one package NDC everywhere; its
        lines are the lots there with stock. A second active count of the same location or
        package is refused, naming who started the first and at which workstation."""
        require_role(actor, *STOCK_ROLES, action="count stock")
        if (location is None) == (package_id is None):
            raise ValidationFailed("Count either a location or a package NDC.", field="scope")
        place = "" if location is None else _location(location)
        scope_key = f"location:{place}" if location is not None else f"package:{package_id}"
        try:
            with self._db.unit_of_work(actor) as uow:
                session = uow.session
                if package_id is not None and session.get(DrugPackage, package_id) is None:
                    raise NotFound(f"There is no package {package_id} in the catalogue.")
                count = CountSession(
                    scope="location" if location is not None else "package",
                    location=place,
                    package_id=package_id,
                    scope_key=scope_key,
                    status="counting",
                    note=" ".join(str(note).split()),
                    started_by_user_id=actor.user_id,
                    workstation=actor.workstation,
                    started_at=self._now(),
                )
                session.add(count)
                session.flush()  # the unique index refuses a second active count here
                in_scope = select(StockLot.id).where(StockLot.on_hand != 0)
                in_scope = (
                    in_scope.where(StockLot.location == place)
                    if location is not None
                    else in_scope.where(StockLot.package_id == package_id)
                )
                lot_ids = session.scalars(in_scope.order_by(StockLot.package_id, StockLot.id)).all()
                uow.audit("count.started", count, scope=scope_key, lots=len(lot_ids))
                for lot_id in lot_ids:
                    line = CountLine(session_id=count.id, lot_id=lot_id)
                    session.add(line)
                    uow.audit("count.line_added", line, lot_id=lot_id, expected_by="ledger")
                return _session_row(session, count)
        except IntegrityError:
            raise self._in_progress(scope_key) from None

    def _in_progress(self, scope_key: str) -> CountInProgress:
        with self._db.reading() as session:
            holder = session.scalars(
                select(CountSession).where(
                    CountSession.scope_key == scope_key,
                    CountSession.status.in_(ACTIVE_STATUSES),
                )
            ).first()
            if holder is None:
                return CountInProgress(
                    "Another workstation started this count at the same moment and has since "
                    "closed it: start again.",
                    scope=scope_key,
                )
            user = (
                session.get(User, holder.started_by_user_id) if holder.started_by_user_id else None
            )
            who = f"{user.full_name} ({user.username})" if user is not None else "someone"
            state = "waiting for approval" if holder.status == "submitted" else "being counted"
            scope = _scope_text(session, holder)
            return CountInProgress(
                f"{scope[:1].upper()}{scope[1:]} is already {state}: {who} started "
                f"count {holder.id} at workstation {holder.workstation} on "
                f"{holder.started_at:%Y-%m-%d %H:%M} UTC. Resume that count, or ask them to "
                "finish or cancel it.",
                session_id=holder.id,
                started_by=user.username if user is not None else None,
                workstation=holder.workstation,
            )

    def active(self, actor: Actor) -> list[CountSessionRow]:
        """Counts not yet approved or cancelled, oldest first: the ones to resume or approve."""
        require_role(actor, *Role, action="see stock counts")
        with self._db.reading() as session:
            counts = session.scalars(
                select(CountSession)
                .where(CountSession.status.in_(ACTIVE_STATUSES))
                .order_by(CountSession.started_at, CountSession.id)
            ).all()
            return [_session_row(session, count) for count in counts]

    def get(self, actor: Actor, session_id: int) -> CountSessionRow:
        """One count with its lines as saved: how an interrupted count resumes."""
        require_role(actor, *Role, action="see stock counts")
        with self._db.reading() as session:
            count = session.get(CountSession, session_id)
            if count is None:
                raise NotFound(f"There is no count {session_id}.")
            return _session_row(session, count)

    # --- counting -------------------------------------------------------------------------------

    def scan(
        self,
        actor: Actor,
        session_id: int,
        text: str,
        *,
        lot_number: str = "",
        expiry: date | None = None,
        quantity: Decimal | int | str | None = None,
    ) -> CountLineRow:
        """A package scanned into the count: a GS1 DataMatrix names its lot, a UPC needs the lot
        typed. Without `quantity` the scan adds one sealed package's units to the lot's count;
        with it, the lot's count becomes `quantity` (an opened container). A lot the count did
        not expect here is added; one not on record at all is created at 0 on hand (audited),
        so the approved correction brings it in."""
        require_role(actor, *STOCK_ROLES, action="count stock")
        typed = None if quantity is None else _count_quantity(quantity, field="quantity")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            count = self._counting(session, session_id)
            resolved = resolve_scan(session, str(text))
            if isinstance(resolved.scan_or_error, ScanError):
                raise resolved.scan_or_error
            scan = resolved.scan
            assert scan is not None  # not an error
            if scan.rx_number is not None:
                raise CountRefused("This is a prescription label, not a stock package.")
            package = _one_package(resolved.found, scan.text)
            if count.scope == "package" and package.package_id != count.package_id:
                raise CountRefused(
                    f"NDC {package.facts.package_ndc} is not in this count of "
                    f"{_scope_text(session, count)}: set it apart and count it on its own.",
                    ndc=package.facts.package_ndc,
                )
            typed_lot = str(lot_number).strip()
            if scan.lot and typed_lot and typed_lot != scan.lot:
                raise CountRefused(
                    f"The barcode says lot {scan.lot}, not {typed_lot}: check the package."
                )
            if not (scan.lot or typed_lot):
                raise LotNeeded(
                    f"This {scan.kind.value.upper()} code carries no lot: type the lot number "
                    "printed on the package.",
                    field="lot_number",
                )
            lot = self._lot_for(
                uow, count, package, _lot_number(scan.lot or typed_lot), scan.expiry or expiry
            )
            if lot is None:
                raise LotNeeded(
                    f"Lot {scan.lot or typed_lot} of NDC {package.facts.package_ndc} is not on "
                    "record: type its expiry from the package, and it is added to the count.",
                    field="expiry",
                )
            line = session.scalars(
                select(CountLine)
                .where(CountLine.session_id == count.id, CountLine.lot_id == lot.id)
                .with_for_update()
            ).one_or_none()
            if line is None:
                line = CountLine(session_id=count.id, lot_id=lot.id)
                session.add(line)
                session.flush()
                uow.audit(
                    "count.line_added",
                    line,
                    lot_id=lot.id,
                    expected_by="scan",
                    recorded_location=lot.location,
                )
            if typed is not None:
                counted = typed
            elif package.billing_quantity is None:
                raise CountRefused(
                    f"The catalogue does not say how many units NDC {package.facts.package_ndc} "
                    "holds: type the count of units.",
                    field="quantity",
                )
            else:
                counted = (line.counted or Decimal(0)) + package.billing_quantity
            self._record(uow, line, lot, counted, how="scan" if typed is None else "typed")
            return _one_line(session, line.id)

    def set_count(
        self, actor: Actor, session_id: int, line_id: int, quantity: Decimal | int | str
    ) -> CountLineRow:
        """The count of one lot as typed (an opened container, or 0 when none is found); it
        replaces the earlier count and any recount."""
        require_role(actor, *STOCK_ROLES, action="count stock")
        counted = _count_quantity(quantity, field="quantity")
        with self._db.unit_of_work(actor) as uow:
            count = self._counting(uow.session, session_id)
            line, lot = self._line(uow.session, count, line_id)
            self._record(uow, line, lot, counted, how="typed")
            return _one_line(uow.session, line.id)

    def recount(
        self, actor: Actor, session_id: int, line_id: int, quantity: Decimal | int | str
    ) -> CountLineRow:
        """A second count of a lot whose count differs from the ledger; it is the one approved."""
        require_role(actor, *STOCK_ROLES, action="count stock")
        recounted = _count_quantity(quantity, field="quantity")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            count = self._counting(session, session_id)
            line, lot = self._line(session, count, line_id)
            row = _one_line(session, line.id)
            if line.counted is None:
                raise CountRefused(f"Count {row.described} before recounting it.")
            if line.recount is None and not row.discrepant:
                raise CountRefused(
                    f"The count of {row.described} matches the ledger: there is nothing to "
                    "recount. Type a new count if it was wrong."
                )
            self._check_units(session, lot, recounted)
            before = line.recount
            line.expected = lot.on_hand
            line.recount = recounted
            line.recounted_by_user_id = actor.user_id
            line.recounted_at = self._now()
            uow.audit(
                "count.line_recounted",
                line,
                lot_id=lot.id,
                expected=str(lot.on_hand),
                counted=str(line.counted),
                before={"recount": None if before is None else str(before)},
                after={"recount": str(recounted)},
            )
            return _one_line(session, line.id)

    # --- submitting, approving, cancelling -----------------------------------------------------

    def submit(
        self, actor: Actor, session_id: int, *, second_signer: Actor | None = None
    ) -> CountSessionRow:
        """Send the count to the pharmacist's work list. Refused while a schedule II lot is not
        counted or a controlled difference is not recounted; when the house wants a second
        signature on this count (`count_second_signature`), `second_signer` is a pharmacist or
        technician other than whoever counted it."""
        require_role(actor, *STOCK_ROLES, action="submit a count")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            count = self._counting(session, session_id)
            row = _session_row(session, count)
            if not row.counted_lines:
                raise CountRefused("Count at least one lot before submitting the count.")
            uncounted = [
                line for line in row.lines if line.dea_schedule == "CII" and line.final is None
            ]
            if uncounted:
                raise CountRefused(
                    "Every schedule II lot must be counted (type 0 when none is found): "
                    + ", ".join(line.described for line in uncounted)
                    + ".",
                    lines=[line.line_id for line in uncounted],
                )
            unrecounted = [line for line in row.lines if line.needs_recount]
            if unrecounted:
                raise CountRefused(
                    "A controlled-substance difference must be recounted before the count is "
                    "submitted: " + ", ".join(line.described for line in unrecounted) + ".",
                    lines=[line.line_id for line in unrecounted],
                )
            policy = read_count_policy(session)
            signer = None
            if second_signature_needed(policy, row.lines):
                signer = self._check_second_signer(session, actor, count, second_signer, policy)
                count.second_signer_user_id = signer.user_id
            count.status = "submitted"
            count.submitted_by_user_id = actor.user_id
            count.submitted_at = self._now()
            differences = len(row.discrepancies)
            uow.audit(
                "count.submitted",
                count,
                counted=row.counted_lines,
                differences=differences,
                second_signer=signer.username if signer is not None else None,
            )
            open_item(
                uow,
                kind=COUNT_APPROVAL,
                entity_type="count_sessions",
                entity_id=str(count.id),
                summary=(
                    f"Count {count.id} of {row.scope_text}: {row.counted_lines} lot"
                    f"{'s' if row.counted_lines != 1 else ''} counted, {differences} "
                    f"difference{'s' if differences != 1 else ''}"
                ),
            )
            publish(session, topic=WORKLIST_TOPIC, entity_id=None, workstation=actor.workstation)
            return _session_row(session, count)

    def approve(self, actor: Actor, session_id: int) -> CountApproved:
        """A pharmacist turns each difference into a `count_correction` movement (with its
        controlled-substance log line, witnessed by the second signer), opens a controlled
        discrepancy for each CII–CV difference and a DEA Form 106 for a significant loss, and
        takes the count off the work list: all in one transaction."""
        with self._db.unit_of_work(actor) as uow:
            # Inside the unit of work, so a technician's refused attempt is itself audited.
            require_role(actor, Role.PHARMACIST, action="approve a count")
            session = uow.session
            count = self._locked(session, session_id)
            if count.status != "submitted":
                raise CountRefused(
                    f"Count {count.id} is {count.status}, not waiting for approval.",
                    status=count.status,
                )
            today = self._today()
            policy = read_count_policy(session)
            witness = None
            if count.second_signer_user_id is not None:
                signer = session.get(User, count.second_signer_user_id)
                assert signer is not None  # a foreign key
                witness = actor_for(signer, actor.workstation)
            rows = sorted(
                (line for line in _session_row(session, count).lines if line.final is not None),
                key=lambda line: (line.package_id, line.lot_id),  # the lots' lock order
            )
            movements: list[int] = []
            corrected: set[int] = set()
            discrepancies: list[int] = []
            reports: list[int] = []
            for row in rows:
                lot = _lock_lot(session, row.lot_id)
                line = session.get_one(CountLine, row.line_id)
                # A lot found here that the ledger kept elsewhere lives here now (not when none
                # of it was found).
                if count.scope == "location" and lot.location != count.location and row.final:
                    before = lot.location
                    lot.location = count.location
                    uow.audit(
                        "stock.lot_moved",
                        lot,
                        before={"location": before},
                        after={"location": count.location},
                        reason=f"found in count {count.id}",
                    )
                difference = row.difference
                if not difference:
                    continue
                written = _write_movement(
                    uow,
                    lot,
                    kind="count_correction",
                    change=difference,
                    reason=(
                        f"Count {count.id}: counted {shown(row.final or Decimal(0))}, "
                        f"ledger {shown(row.expected)}"
                    ),
                    schedule=row.dea_schedule,
                    witness=witness,
                )
                line.movement_id = written.movement.id
                movements.append(written.movement.id)
                corrected.add(lot.package_id)
                uow.audit(
                    "stock.count_corrected",
                    written.movement,
                    count_id=count.id,
                    count_line_id=line.id,
                    lot_id=lot.id,
                    lot=lot.lot_number,
                    quantity=str(difference),
                    on_hand_after=str(lot.on_hand),
                    reason=written.movement.reason,
                    schedule=row.dea_schedule,
                    controlled_entry_id=written.entry.id if written.entry else None,
                    witness=witness.username if witness else None,
                    negative=lot.on_hand < 0,
                )
                uow.audit("count.line_corrected", line, movement_id=written.movement.id)
                if row.dea_schedule is None:
                    continue
                loss = -difference
                significant = loss > 0 and (
                    row.dea_schedule == "CII" or loss > policy.loss_threshold_units
                )
                discrepancy = open_discrepancy(
                    uow,
                    package=lot.package,
                    schedule=row.dea_schedule,
                    expected=row.expected,
                    counted=row.expected + difference,
                    found_by_user_id=line.recounted_by_user_id or line.counted_by_user_id,
                    found_at=self._now(),
                    lot_id=lot.id,
                    count_line_id=line.id,
                    count_id=count.id,
                    difference=str(difference),
                    significant_loss=significant,
                )
                discrepancies.append(discrepancy.id)
                if significant:
                    report = self._loss_report(uow, count, row, loss, today)
                    discrepancy.loss_report_id = report.id
                    reports.append(report.id)
            count.status = "approved"
            count.approved_by_user_id = actor.user_id
            count.approved_at = self._now()
            uow.audit(
                "count.approved",
                count,
                corrections=len(movements),
                controlled_discrepancies=len(discrepancies),
                form_106_due=len(reports),
            )
            close_items(
                uow,
                entity_type="count_sessions",
                entity_id=str(count.id),
                kinds=frozenset({COUNT_APPROVAL}),
            )
            packages = sorted(corrected)
            for package_id in packages:
                publish(
                    session,
                    topic=STOCK_TOPIC,
                    entity_id=str(package_id),
                    workstation=actor.workstation,
                )
            publish(session, topic=WORKLIST_TOPIC, entity_id=None, workstation=actor.workstation)
            open_shortage_notices(uow, packages, today)
            session.flush()
            return CountApproved(
                session=_session_row(session, count),
                movement_ids=tuple(movements),
                discrepancy_ids=tuple(discrepancies),
                loss_reports=tuple(
                    _loss_rows(
                        session,
                        select(DeaLossReport)
                        .where(DeaLossReport.id.in_(reports))
                        .order_by(DeaLossReport.id),
                    )
                ),
            )

    def cancel(self, actor: Actor, session_id: int, *, reason: str) -> CountSessionRow:
        """Give up a count, with why: nothing it counted changes stock; it leaves the work list."""
        require_role(actor, *STOCK_ROLES, action="cancel a count")
        why = " ".join(str(reason).split())
        if not why:
            raise ValidationFailed("Say why the count is cancelled.", field="reason")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            count = self._locked(session, session_id)
            if count.status not in ACTIVE_STATUSES:
                raise CountRefused(f"Count {count.id} is already {count.status}.")
            before = count.status
            count.status = "cancelled"
            count.closed_reason = why
            uow.audit(
                "count.cancelled",
                count,
                before={"status": before},
                after={"status": "cancelled"},
                reason=why,
            )
            close_items(
                uow,
                entity_type="count_sessions",
                entity_id=str(count.id),
                kinds=frozenset({COUNT_APPROVAL}),
            )
            publish(session, topic=WORKLIST_TOPIC, entity_id=None, workstation=actor.workstation)
            return _session_row(session, count)

    # --- DEA Form 106 ------------------------------------------------------------------------

    def loss_reports(self, actor: Actor, *, include_closed: bool = False) -> list[LossReportRow]:
        """The DEA Form 106 reports due (overdue ones first, by due date); with
        `include_closed`, the filed and withdrawn ones too."""
        require_role(actor, *Role, action="see DEA Form 106 reports")
        statement = select(DeaLossReport).order_by(DeaLossReport.due_on, DeaLossReport.id)
        if not include_closed:
            statement = statement.where(DeaLossReport.status == "due")
        with self._db.reading() as session:
            return _loss_rows(session, statement)

    def record_form_106_filed(
        self,
        actor: Actor,
        report_id: int,
        *,
        dea_reference: str,
        filed_at: datetime | None = None,
    ) -> LossReportRow:
        """A pharmacist records that the Form 106 was filed on DEA's site, with its reference."""
        reference = " ".join(str(dea_reference).split())
        if not reference:
            raise ValidationFailed(
                "Type the reference DEA gave when the Form 106 was filed.", field="dea_reference"
            )
        if len(reference) > _DEA_REFERENCE_LENGTH:
            raise ValidationFailed(
                f"A DEA reference has at most {_DEA_REFERENCE_LENGTH} characters.",
                field="dea_reference",
            )
        when = filed_at or self._now()
        if when > self._now():
            raise ValidationFailed("The Form 106 cannot be filed in the future.", field="filed_at")
        with self._db.unit_of_work(actor) as uow:
            require_role(actor, Role.PHARMACIST, action="record a DEA Form 106")
            report = self._due_report(uow.session, report_id)
            if when < report.discovered_at:
                raise ValidationFailed(
                    "The Form 106 cannot be filed before the loss was discovered "
                    f"({report.discovered_at:%Y-%m-%d %H:%M} UTC).",
                    field="filed_at",
                )
            report.status = "filed"
            report.dea_reference = reference
            report.filed_by_user_id = actor.user_id
            report.filed_at = when
            uow.audit(
                "dea_106.filed",
                report,
                dea_reference=reference,
                filed_at=when.isoformat(),
                due_on=report.due_on.isoformat(),
                late=when.date() > report.due_on,
            )
            return self._closed_report(uow, report)

    def withdraw_form_106(self, actor: Actor, report_id: int, *, reason: str) -> LossReportRow:
        """A pharmacist withdraws a Form 106 not to be filed (the stock was found), with why."""
        why = " ".join(str(reason).split())
        if not why:
            raise ValidationFailed("Say why the Form 106 is withdrawn.", field="reason")
        with self._db.unit_of_work(actor) as uow:
            require_role(actor, Role.PHARMACIST, action="withdraw a DEA Form 106")
            report = self._due_report(uow.session, report_id)
            report.status = "withdrawn"
            report.note = why
            report.filed_by_user_id = actor.user_id
            uow.audit("dea_106.withdrawn", report, reason=why)
            return self._closed_report(uow, report)

    # --- shared -------------------------------------------------------------------------------

    @staticmethod
    def _locked(session: Session, session_id: int) -> CountSession:
        count = session.get(CountSession, session_id, with_for_update=True, populate_existing=True)
        if count is None:
            raise NotFound(f"There is no count {session_id}.")
        return count

    def _counting(self, session: Session, session_id: int) -> CountSession:
        count = self._locked(session, session_id)
        if count.status != "counting":
            state = {"submitted": "submitted for approval"}.get(count.status, count.status)
            raise CountRefused(
                f"Count {count.id} is {state}: it is no longer counted.", status=count.status
            )
        return count

    @staticmethod
    def _line(session: Session, count: CountSession, line_id: int) -> tuple[CountLine, StockLot]:
        line = session.get(CountLine, line_id, with_for_update=True)
        if line is None or line.session_id != count.id:
            raise NotFound(f"Count {count.id} has no line {line_id}.")
        lot = session.get_one(StockLot, line.lot_id)
        return line, lot

    def _lot_for(
        self,
        uow: UnitOfWork,
        count: CountSession,
        package: CataloguePackage,
        lot_number: str,
        expiry: date | None,
    ) -> StockLot | None:
        """The package's lot, or a new one at 0 on hand (audited) when its expiry is known."""
        session = uow.session
        _lock_package_lots(session, package.package_id)
        lot = session.scalars(
            select(StockLot).where(
                StockLot.package_id == package.package_id, StockLot.lot_number == lot_number
            )
        ).one_or_none()
        if lot is not None:
            if expiry is not None and lot.expiry != expiry:
                raise CountRefused(
                    f"Lot {lot_number} is on record with expiry {lot.expiry.isoformat()}, not "
                    f"{expiry.isoformat()}: check the package. One lot has one expiry."
                )
            return lot
        if expiry is None:
            return None
        lot = StockLot(
            package_id=package.package_id,
            lot_number=lot_number,
            expiry=expiry,
            status="available",
            location=count.location or "shelf",
            on_hand=Decimal(0),
        )
        session.add(lot)
        session.flush()
        uow.audit(
            "count.lot_created",
            lot,
            count_id=count.id,
            ndc=package.facts.package_ndc,
            lot=lot_number,
            expiry=expiry.isoformat(),
            location=lot.location,
        )
        return lot

    def _record(
        self, uow: UnitOfWork, line: CountLine, lot: StockLot, counted: Decimal, *, how: str
    ) -> None:
        """The lot's count, against the ledger as it stands now; an earlier recount is void."""
        self._check_units(uow.session, lot, counted)
        before = line.counted
        line.expected = lot.on_hand
        line.counted = counted
        line.counted_by_user_id = uow.actor.user_id
        line.counted_at = self._now()
        line.recount = None
        line.recounted_by_user_id = None
        line.recounted_at = None
        uow.audit(
            "count.line_counted",
            line,
            lot_id=lot.id,
            how=how,
            expected=str(lot.on_hand),
            before={"counted": None if before is None else str(before)},
            after={"counted": str(counted)},
        )

    @staticmethod
    def _check_units(session: Session, lot: StockLot, counted: Decimal) -> None:
        schedule, form = session.execute(
            select(DrugProduct.dea_schedule, DrugProduct.dosage_form)
            .join(DrugPackage, DrugPackage.product_id == DrugProduct.id)
            .where(DrugPackage.id == lot.package_id)
        ).one()
        if (
            controlled_schedule(schedule) == "CII"
            and countable(form)
            and counted != counted.to_integral_value()
        ):
            raise CountRefused(
                f"Schedule II {form.lower()} is counted in whole units, not {shown(counted)}.",
                field="quantity",
            )

    @staticmethod
    def _check_second_signer(
        session: Session,
        actor: Actor,
        count: CountSession,
        signer: Actor | None,
        policy: CountPolicy,
    ) -> Actor:
        needed_for = (
            f"By house policy (not a DEA rule), {policy.second_signature.label} are signed by a "
            "second person: this count"
        )
        _check_witness(session, actor, signer, needed_for=needed_for)
        assert signer is not None  # checked
        counters = session.execute(
            select(CountLine.counted_by_user_id, CountLine.recounted_by_user_id).where(
                CountLine.session_id == count.id
            )
        ).all()
        if any(signer.user_id in pair for pair in counters):
            raise CountRefused(
                f"{signer.username} counted lots of this count: the second signer is someone "
                "who did not count it.",
                reason="witness-counted",
            )
        return signer

    def _loss_report(
        self, uow: UnitOfWork, count: CountSession, row: CountLineRow, loss: Decimal, today: date
    ) -> DeaLossReport:
        report = DeaLossReport(
            package_id=row.package_id,
            lot_id=row.lot_id,
            schedule=row.dea_schedule,
            quantity=loss,
            loss_type="significant_loss",
            count_session_id=count.id,
            discovered_at=self._now(),
            due_on=next_business_day(today),
            status="due",
            created_by_user_id=uow.actor.user_id,
        )
        uow.session.add(report)
        uow.session.flush()
        uow.audit(
            "dea_106.due",
            report,
            count_id=count.id,
            schedule=row.dea_schedule,
            quantity=str(loss),
            due_on=report.due_on.isoformat(),
        )
        open_item(
            uow,
            kind=DEA_106,
            entity_type="dea_loss_reports",
            entity_id=str(report.id),
            summary=(
                f"DEA Form 106 due {report.due_on.isoformat()}: {shown(loss)} units of "
                f"{row.drug} (NDC {row.ndc}, {row.dea_schedule}) lost, count {count.id}"
            ),
        )
        return report

    @staticmethod
    def _due_report(session: Session, report_id: int) -> DeaLossReport:
        report = session.get(DeaLossReport, report_id, with_for_update=True)
        if report is None:
            raise NotFound(f"There is no DEA Form 106 report {report_id}.")
        if report.status != "due":
            raise CountRefused(f"DEA Form 106 report {report_id} is already {report.status}.")
        return report

    @staticmethod
    def _closed_report(uow: UnitOfWork, report: DeaLossReport) -> LossReportRow:
        close_items(
            uow,
            entity_type="dea_loss_reports",
            entity_id=str(report.id),
            kinds=frozenset({DEA_106}),
        )
        publish(
            uow.session, topic=WORKLIST_TOPIC, entity_id=None, workstation=uow.actor.workstation
        )
        uow.session.flush()
        return _loss_rows(uow.session, select(DeaLossReport).where(DeaLossReport.id == report.id))[
            0
        ]

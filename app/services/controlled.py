"""The controlled-substance record: the perpetual log, witnessed count-backs, discrepancies
investigated and signed off, and the DEA inventory (21 CFR 1304.11) with its report and CSV.

The perpetual log is written by every change of a CII–CV package's stock (app.services.inventory,
app.services.dispensing); this module reads it, compares it with the ledger, and records what
people found when they counted. A count never changes stock: a correction goes through a count
session or an adjustment, so the record shows who corrected what and why.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from app.db.base import utc_now
from app.db.models import (
    ControlledDiscrepancy,
    ControlledInventory,
    ControlledInventoryLine,
    ControlledSubstanceEntry,
    DrugPackage,
    DrugProduct,
    Fill,
    Pharmacy,
    Prescription,
    StockLot,
    User,
)
from app.domain.roles import Role
from app.errors import NotFound, ValidationFailed
from app.services.changes import publish
from app.services.dispensing import CONTROLLED_SCHEDULES, controlled_balance, controlled_schedule
from app.services.identify import resolve_scan
from app.services.inventory import STOCK_ROLES, _check_witness, _package_schedule, shown
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role
from app.services.worklist import close_items, open_item

DISCREPANCY_KIND = "controlled_discrepancy"
WORKLIST_TOPIC = "worklist"
READ_ROLES = (Role.TECHNICIAN, Role.PHARMACIST, Role.ADMINISTRATOR)
INVENTORY_KINDS = {
    "biennial": "Biennial inventory",
    "initial": "Initial inventory",
    "schedule_change": "Inventory on a schedule change",
}
INVENTORY_TIMINGS = {"opening": "opening of business", "close": "close of business"}
# 21 CFR 1304.11(e)(3): an opened container of more than 1,000 units is counted exactly.
EXACT_COUNT_ABOVE = Decimal(1000)
SCHEDULE_NAMES = {"CII": "II", "CIII": "III", "CIV": "IV", "CV": "V"}
DISCREPANCY_STATUSES = ("open", "signed_off")
CSV_COLUMNS = (
    "inventory_id",
    "taken_on",
    "timing",
    "registrant_dea_number",
    "schedule",
    "ndc",
    "drug",
    "package_units",
    "sealed_containers",
    "opened_quantity",
    "total_units",
    "count",
    "ledger_balance",
    "difference",
    "note",
)
_MAX_QUANTITY = Decimal("999999999.999")  # Numeric(12, 3)


# --- what the screens and reports get ---------------------------------------------------------


@dataclass(frozen=True)
class ControlledPackageRow:
    """A CII–CV package NDC: its perpetual-log balance beside its ledger on-hand."""

    package_id: int
    ndc: str
    drug: str
    schedule: str
    perpetual_balance: Decimal
    on_hand: Decimal

    @property
    def differs(self) -> bool:
        return self.perpetual_balance != self.on_hand


@dataclass(frozen=True)
class LogLine:
    entry_id: int
    occurred_at: datetime
    kind: str
    quantity: Decimal
    balance_after: Decimal
    username: str | None
    witness: str | None
    rx_number: str | None
    lot_number: str | None
    note: str


@dataclass(frozen=True)
class CountBack:
    """What a witnessed count-back found; `discrepancy_id` when it did not match the log."""

    package_id: int
    expected: Decimal
    counted: Decimal
    witness: str
    discrepancy_id: int | None

    @property
    def matches(self) -> bool:
        return self.discrepancy_id is None


@dataclass(frozen=True)
class DiscrepancyRow:
    discrepancy_id: int
    package_id: int
    ndc: str
    drug: str
    schedule: str
    expected: Decimal
    counted: Decimal
    status: str
    found_by: str | None
    found_at: datetime
    notes: tuple[str, ...]
    resolution: str
    signed_off_by: str | None
    signed_off_at: datetime | None

    @property
    def difference(self) -> Decimal:
        return self.counted - self.expected


@dataclass(frozen=True)
class DraftLine:
    """One package proposed for an inventory from the ledger; the person counts and edits."""

    package_id: int
    ndc: str
    drug: str
    schedule: str
    package_units: Decimal | None
    sealed_containers: int
    opened_quantity: Decimal
    ledger_balance: Decimal
    exact_required: bool


@dataclass(frozen=True)
class InventoryLineInput:
    """What was found of one package: `exact` None means the rule decides (exact when it must
    be, else an estimate)."""

    package_id: int
    sealed_containers: int
    opened_quantity: Decimal | int | str
    exact: bool | None = None
    note: str = ""


@dataclass(frozen=True)
class Registrant:
    name: str
    address: str
    dea_number: str


@dataclass(frozen=True)
class ReportLine:
    schedule: str
    ndc: str
    drug: str
    package_units: Decimal | None
    sealed_containers: int
    opened_quantity: Decimal
    total: Decimal
    exact: bool
    ledger_balance: Decimal
    note: str

    @property
    def difference(self) -> Decimal:
        return self.total - self.ledger_balance

    @property
    def count_text(self) -> str:
        return "exact" if self.exact else "estimated"


@dataclass(frozen=True)
class ScheduleTotal:
    schedule: str
    packages: int
    units: Decimal


@dataclass(frozen=True)
class InventorySummary:
    inventory_id: int
    kind: str
    timing: str
    taken_on: date
    taken_by: str
    lines: int


@dataclass(frozen=True)
class InventoryReport:
    """The inventory as the DEA asks for it: schedule II apart, then III–V, with totals."""

    inventory_id: int
    kind: str
    timing: str
    taken_on: date
    registrant: Registrant
    taken_by: str
    witness: str | None
    recorded_at: datetime
    note: str
    schedule_ii: tuple[ReportLine, ...]
    schedules_iii_v: tuple[ReportLine, ...]
    totals: tuple[ScheduleTotal, ...]

    @property
    def title(self) -> str:
        return INVENTORY_KINDS[self.kind]

    @property
    def timing_text(self) -> str:
        return f"Taken at the {INVENTORY_TIMINGS[self.timing]} on {self.taken_on.isoformat()}"

    @property
    def differences(self) -> int:
        return sum(1 for line in (*self.schedule_ii, *self.schedules_iii_v) if line.difference)


def inventory_csv(report: InventoryReport) -> str:
    """The report's lines as CSV (`CSV_COLUMNS`), schedule II first; quantities as written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in (*report.schedule_ii, *report.schedules_iii_v):
        writer.writerow(
            (
                report.inventory_id,
                report.taken_on.isoformat(),
                report.timing,
                report.registrant.dea_number,
                line.schedule,
                line.ndc,
                line.drug,
                "" if line.package_units is None else shown(line.package_units),
                line.sealed_containers,
                shown(line.opened_quantity),
                shown(line.total),
                line.count_text,
                shown(line.ledger_balance),
                shown(line.difference),
                line.note,
            )
        )
    return buffer.getvalue()


# --- input ------------------------------------------------------------------------------------


def _count(value: Decimal | int | str, *, field: str, what: str) -> Decimal:
    """A counted quantity: 0 or more, with at most three decimals (what the ledger keeps)."""
    if isinstance(value, bool | float):
        raise ValidationFailed(f"{what}: “{value}” is not a count; type a number.", field=field)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed(f"{what}: “{value}” is not a number.", field=field) from None
    if not amount.is_finite():
        raise ValidationFailed(f"{what}: “{value}” is not a number.", field=field)
    if amount < 0:
        raise ValidationFailed(f"{what} cannot be less than 0.", field=field)
    if amount != amount.quantize(Decimal("0.001")):
        raise ValidationFailed(
            f"{what}: {shown(amount)} has more than three decimals; counts are kept to 0.001.",
            field=field,
        )
    if amount > _MAX_QUANTITY:
        raise ValidationFailed(f"{what}: {shown(amount)} is more than RxBench keeps.", field=field)
    return amount


def _text(value: str) -> str:
    return " ".join(str(value).split())


def _required_text(value: str, *, field: str, message: str) -> str:
    clean = _text(value)
    if not clean:
        raise ValidationFailed(message, field=field)
    return clean


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# --- reading helpers --------------------------------------------------------------------------


def _controlled_packages(session: Session, package_ids: Sequence[int] | None = None) -> list[Any]:
    """(package, product, on-hand) of every CII–CV package with lots or log lines."""
    on_hand = (
        select(StockLot.package_id, func.sum(StockLot.on_hand).label("on_hand"))
        .group_by(StockLot.package_id)
        .subquery()
    )
    logged = select(ControlledSubstanceEntry.package_id).distinct().subquery()
    statement = (
        select(DrugPackage, DrugProduct, on_hand.c.on_hand)
        .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
        .outerjoin(on_hand, on_hand.c.package_id == DrugPackage.id)
        .where(DrugProduct.dea_schedule.in_(CONTROLLED_SCHEDULES))
        .where((on_hand.c.package_id.is_not(None)) | DrugPackage.id.in_(select(logged)))
        .order_by(DrugProduct.search_name, DrugProduct.proprietary_name, DrugPackage.ndc)
    )
    if package_ids is not None:
        statement = statement.where(DrugPackage.id.in_(package_ids))
    return list(session.execute(statement).all())


def _last_balances(session: Session) -> dict[int, Decimal]:
    last = (
        select(func.max(ControlledSubstanceEntry.id).label("id"))
        .group_by(ControlledSubstanceEntry.package_id)
        .subquery()
    )
    rows = session.execute(
        select(ControlledSubstanceEntry.package_id, ControlledSubstanceEntry.balance_after).join(
            last, last.c.id == ControlledSubstanceEntry.id
        )
    ).all()
    return {package_id: Decimal(balance) for package_id, balance in rows}


def _described_package(session: Session, package_id: int) -> tuple[DrugPackage, str]:
    """The package and its schedule; refused when it is not a controlled substance."""
    package = session.get(DrugPackage, package_id)
    if package is None:
        raise NotFound(f"There is no package {package_id} in the catalogue.")
    schedule = _package_schedule(session, package_id)
    if schedule is None:
        raise ValidationFailed(
            f"NDC {package.ndc} ({package.product.display_name}) is not a controlled substance.",
            package_id=package_id,
        )
    return package, schedule


def _who(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return None if user is None else f"{user.full_name} ({user.username})"


def _discrepancy_rows(
    session: Session, status: str | None, discrepancy_id: int | None = None
) -> list[DiscrepancyRow]:
    finder, signer = aliased(User), aliased(User)
    statement = (
        select(
            ControlledDiscrepancy,
            DrugPackage.ndc,
            DrugProduct,
            finder.username,
            signer.username,
        )
        .join(DrugPackage, ControlledDiscrepancy.package_id == DrugPackage.id)
        .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
        .outerjoin(finder, ControlledDiscrepancy.found_by_user_id == finder.id)
        .outerjoin(signer, ControlledDiscrepancy.signed_off_by_user_id == signer.id)
        .order_by(ControlledDiscrepancy.found_at.desc(), ControlledDiscrepancy.id.desc())
    )
    if status is not None:
        statement = statement.where(ControlledDiscrepancy.status == status)
    if discrepancy_id is not None:
        statement = statement.where(ControlledDiscrepancy.id == discrepancy_id)
    return [
        DiscrepancyRow(
            discrepancy_id=row.id,
            package_id=row.package_id,
            ndc=ndc,
            drug=product.display_name,
            schedule=row.schedule,
            expected=Decimal(row.expected),
            counted=Decimal(row.counted),
            status=row.status,
            found_by=found_by,
            found_at=row.found_at,
            notes=tuple(line for line in row.investigation.split("\n") if line),
            resolution=row.resolution,
            signed_off_by=signed_off_by,
            signed_off_at=row.signed_off_at,
        )
        for row, ndc, product, found_by, signed_off_by in session.execute(statement)
    ]


def _registrant(values: dict[str, Any]) -> Registrant:
    return Registrant(
        name=str(values.get("name", "")),
        address=str(values.get("address", "")),
        dea_number=str(values.get("dea_number", "")),
    )


def _registrant_of(pharmacy: Pharmacy) -> dict[str, str]:
    street = ", ".join(part for part in (pharmacy.address_line1, pharmacy.address_line2) if part)
    return {
        "name": pharmacy.name,
        "address": f"{street}, {pharmacy.city}, {pharmacy.state} {pharmacy.postal_code}",
        "dea_number": pharmacy.dea_number,
    }


def open_discrepancy(
    uow: UnitOfWork,
    *,
    package: DrugPackage,
    schedule: str,
    expected: Decimal,
    counted: Decimal,
    found_by_user_id: int | None,
    found_at: datetime,
    lot_id: int | None = None,
    count_line_id: int | None = None,
    **facts: Any,
) -> ControlledDiscrepancy:
    """A controlled count that does not match the log, audited and put on the pharmacist's work
    list, whether a count-back or an approved cycle count found it: sign-off closes both."""
    discrepancy = ControlledDiscrepancy(
        package_id=package.id,
        lot_id=lot_id,
        schedule=schedule,
        count_line_id=count_line_id,
        expected=expected,
        counted=counted,
        status="open",
        found_by_user_id=found_by_user_id,
        found_at=found_at,
    )
    uow.session.add(discrepancy)
    uow.session.flush()
    uow.audit(
        "controlled_discrepancy.opened",
        discrepancy,
        package_id=package.id,
        expected=str(expected),
        counted=str(counted),
        **facts,
    )
    open_item(
        uow,
        kind=DISCREPANCY_KIND,
        entity_type=ControlledDiscrepancy.__tablename__,
        entity_id=str(discrepancy.id),
        summary=(
            f"C{SCHEDULE_NAMES[schedule]} {package.product.display_name} "
            f"(NDC {package.ndc}): counted {shown(counted)}, the log says {shown(expected)}"
        ),
    )
    return discrepancy


class ControlledSubstanceService:
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

    # --- the perpetual log --------------------------------------------------------------------

    def packages(self, actor: Actor) -> list[ControlledPackageRow]:
        """Every CII–CV package with stock or log lines: the log's balance beside the ledger's
        on-hand (a package not yet in the log starts from its on-hand, as the log does)."""
        require_role(actor, *READ_ROLES, action="see the controlled-substance record")
        with self._db.reading() as session:
            balances = _last_balances(session)
            rows = []
            for package, product, on_hand in _controlled_packages(session):
                stock = Decimal(on_hand or 0)
                schedule = controlled_schedule(product.dea_schedule)
                assert schedule is not None  # filtered by schedule above
                rows.append(
                    ControlledPackageRow(
                        package_id=package.id,
                        ndc=package.ndc,
                        drug=product.display_name,
                        schedule=schedule,
                        perpetual_balance=balances.get(package.id, stock),
                        on_hand=stock,
                    )
                )
            return rows

    def package_for_scan(self, actor: Actor, text: str) -> int:
        """The CII–CV package a scanned barcode (GS1 DataMatrix, UPC) or typed NDC names, so
        the package to count is chosen by scanning it."""
        require_role(actor, *READ_ROLES, action="see the controlled-substance record")
        with self._db.reading() as session:
            resolved = resolve_scan(session, text)
        if resolved.scan is None:
            raise ValidationFailed(
                "That scan could not be read: scan the package's barcode again, or choose the "
                "package in the list."
            )
        if not resolved.found:
            raise NotFound(
                "The scanned package is not in the catalogue: choose the package in the list."
            )
        controlled = [
            package
            for package in resolved.found
            if controlled_schedule(package.facts.dea_schedule) is not None
        ]
        if not controlled:
            found = resolved.found[0]
            raise ValidationFailed(
                f"NDC {found.facts.package_ndc} ({found.display}) is not a controlled substance."
            )
        if len(controlled) > 1:
            raise ValidationFailed(
                "The scan matches several packages: choose the package in the list."
            )
        return controlled[0].package_id

    def log(
        self,
        actor: Actor,
        package_id: int,
        *,
        since: date | None = None,
        until: date | None = None,
    ) -> list[LogLine]:
        """The package's running-balance lines, oldest first, between two days (inclusive, UTC).
        Looking is audited: the log names the patients' prescriptions."""
        require_role(actor, *READ_ROLES, action="see the controlled-substance log")
        if since is not None and until is not None and since > until:
            raise ValidationFailed(
                f"The log cannot run from {since.isoformat()} back to {until.isoformat()}: "
                "the first day comes first.",
                field="since",
            )
        user, witness = aliased(User), aliased(User)
        statement = (
            select(
                ControlledSubstanceEntry,
                user.username,
                witness.username,
                Prescription.rx_number,
                Fill.fill_number,
                StockLot.lot_number,
            )
            .outerjoin(user, ControlledSubstanceEntry.user_id == user.id)
            .outerjoin(witness, ControlledSubstanceEntry.witness_user_id == witness.id)
            .outerjoin(Fill, ControlledSubstanceEntry.fill_id == Fill.id)
            .outerjoin(Prescription, Fill.prescription_id == Prescription.id)
            .outerjoin(StockLot, ControlledSubstanceEntry.lot_id == StockLot.id)
            .where(ControlledSubstanceEntry.package_id == package_id)
            .order_by(ControlledSubstanceEntry.id)
        )
        if since is not None:
            statement = statement.where(ControlledSubstanceEntry.occurred_at >= _day_start(since))
        if until is not None:
            statement = statement.where(
                ControlledSubstanceEntry.occurred_at < _day_start(until + timedelta(days=1))
            )
        with self._db.unit_of_work(actor) as uow:
            package, _schedule = _described_package(uow.session, package_id)
            lines = [
                LogLine(
                    entry_id=entry.id,
                    occurred_at=entry.occurred_at,
                    kind=entry.kind,
                    quantity=Decimal(entry.quantity),
                    balance_after=Decimal(entry.balance_after),
                    username=username,
                    witness=witness_name,
                    rx_number=None if rx_number is None else f"{rx_number}-{fill_number}",
                    lot_number=lot_number,
                    note=entry.note,
                )
                for entry, username, witness_name, rx_number, fill_number, lot_number in (
                    uow.session.execute(statement)
                )
            ]
            uow.audit(
                "controlled.log_viewed",
                package,
                since=None if since is None else since.isoformat(),
                until=None if until is None else until.isoformat(),
                lines=len(lines),
            )
            return lines

    # --- count-backs and discrepancies --------------------------------------------------------

    def witnessed_count(
        self,
        actor: Actor,
        package_id: int,
        *,
        counted: Decimal | int | str,
        witness: Actor | None,
        note: str = "",
    ) -> CountBack:
        """A count-back of one CII–CV package before a witness, against the log's balance.
        A mismatch opens a discrepancy for the pharmacist; the stock itself does not change."""
        require_role(actor, *STOCK_ROLES, action="count back controlled substances")
        amount = _count(counted, field="counted", what="The count")
        remark = _text(note)
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            package, schedule = _described_package(session, package_id)
            _check_witness(session, actor, witness, needed_for="A controlled-substance count-back")
            assert witness is not None  # checked above
            expected = controlled_balance(session, package_id)
            discrepancy_id = None
            if amount != expected:
                discrepancy = open_discrepancy(
                    uow,
                    package=package,
                    schedule=schedule,
                    expected=expected,
                    counted=amount,
                    found_by_user_id=actor.user_id,
                    found_at=self._now(),
                    witness=witness.username,
                    found_by="count-back",
                )
                discrepancy_id = discrepancy.id
                publish(
                    session, topic=WORKLIST_TOPIC, entity_id=None, workstation=actor.workstation
                )
            uow.audit(
                "controlled.counted_back",
                package,
                schedule=schedule,
                expected=str(expected),
                counted=str(amount),
                witness=witness.username,
                discrepancy_id=discrepancy_id,
                note=remark,
            )
            return CountBack(package_id, expected, amount, witness.username, discrepancy_id)

    def discrepancies(self, actor: Actor, status: str | None = "open") -> list[DiscrepancyRow]:
        """Discrepancies in `status` ('open', 'signed_off', or None for all), newest first."""
        require_role(actor, *READ_ROLES, action="see controlled-substance discrepancies")
        if status is not None and status not in DISCREPANCY_STATUSES:
            raise ValidationFailed(
                f"“{status}” is not a discrepancy status: use open or signed_off.", field="status"
            )
        with self._db.reading() as session:
            return _discrepancy_rows(session, status)

    def add_investigation_note(
        self, actor: Actor, discrepancy_id: int, note: str
    ) -> DiscrepancyRow:
        """Append a dated, signed note to the investigation; earlier notes are never changed."""
        require_role(actor, *STOCK_ROLES, action="investigate a controlled-substance discrepancy")
        text = _required_text(
            note, field="note", message="Write what you found: the note is empty."
        )
        with self._db.unit_of_work(actor) as uow:
            discrepancy = self._locked(uow, discrepancy_id)
            if discrepancy.status != "open":
                raise ValidationFailed(
                    f"Discrepancy {discrepancy_id} is signed off: its investigation is closed.",
                    discrepancy_id=discrepancy_id,
                )
            stamp = self._now().strftime("%Y-%m-%d %H:%M UTC")
            line = f"{stamp} {actor.full_name} ({actor.username}): {text}"
            before = discrepancy.investigation
            discrepancy.investigation = f"{before}\n{line}" if before else line
            uow.audit("controlled_discrepancy.noted", discrepancy, note=text)
            return self._row(uow, discrepancy_id)

    def sign_off(self, actor: Actor, discrepancy_id: int, resolution: str) -> DiscrepancyRow:
        """A pharmacist closes an investigated discrepancy with its resolution; its work item
        leaves the list. Stock is corrected separately (a count or an adjustment)."""
        require_role(actor, Role.PHARMACIST, action="sign off a controlled-substance discrepancy")
        text = _required_text(
            resolution,
            field="resolution",
            message="Write the resolution: what was found and what was done.",
        )
        with self._db.unit_of_work(actor) as uow:
            discrepancy = self._locked(uow, discrepancy_id)
            if discrepancy.status != "open":
                raise ValidationFailed(
                    f"Discrepancy {discrepancy_id} is already signed off.",
                    discrepancy_id=discrepancy_id,
                )
            if not discrepancy.investigation.strip():
                raise ValidationFailed(
                    f"Discrepancy {discrepancy_id} has no investigation note yet: write what "
                    "was looked at before signing it off.",
                    discrepancy_id=discrepancy_id,
                )
            discrepancy.status = "signed_off"
            discrepancy.resolution = text
            discrepancy.signed_off_by_user_id = actor.user_id
            discrepancy.signed_off_at = self._now()
            uow.audit(
                "controlled_discrepancy.signed_off",
                discrepancy,
                before={"status": "open"},
                after={"status": "signed_off"},
                resolution=text,
            )
            close_items(
                uow,
                entity_type=ControlledDiscrepancy.__tablename__,
                entity_id=str(discrepancy_id),
                kinds=frozenset({DISCREPANCY_KIND}),
            )
            publish(
                uow.session, topic=WORKLIST_TOPIC, entity_id=None, workstation=actor.workstation
            )
            return self._row(uow, discrepancy_id)

    @staticmethod
    def _locked(uow: UnitOfWork, discrepancy_id: int) -> ControlledDiscrepancy:
        discrepancy = uow.session.get(ControlledDiscrepancy, discrepancy_id, with_for_update=True)
        if discrepancy is None:
            raise NotFound(f"There is no controlled-substance discrepancy {discrepancy_id}.")
        return discrepancy

    @staticmethod
    def _row(uow: UnitOfWork, discrepancy_id: int) -> DiscrepancyRow:
        uow.session.flush()
        [row] = _discrepancy_rows(uow.session, None, discrepancy_id)
        return row

    # --- the DEA inventory --------------------------------------------------------------------

    def draft(self, actor: Actor) -> list[DraftLine]:
        """Every CII–CV package with stock, its ledger on-hand split into whole sealed packages
        and the rest, to be counted and corrected before the inventory is taken."""
        require_role(actor, *STOCK_ROLES, action="take a controlled-substance inventory")
        with self._db.reading() as session:
            lines = []
            for package, product, on_hand in _controlled_packages(session):
                stock = Decimal(on_hand or 0)
                if stock <= 0:
                    continue
                schedule = controlled_schedule(product.dea_schedule)
                assert schedule is not None  # filtered by schedule above
                units = package.package_quantity if package.package_quantity else None
                sealed = int(stock // units) if units else 0
                lines.append(
                    DraftLine(
                        package_id=package.id,
                        ndc=package.ndc,
                        drug=product.display_name,
                        schedule=schedule,
                        package_units=units,
                        sealed_containers=sealed,
                        opened_quantity=stock - sealed * units if units else stock,
                        ledger_balance=stock,
                        exact_required=_exact_required(schedule, units),
                    )
                )
            return lines

    def take_inventory(
        self,
        actor: Actor,
        *,
        kind: str,
        timing: str,
        taken_on: date,
        lines: Sequence[InventoryLineInput],
        witness: Actor | None = None,
        note: str = "",
    ) -> InventoryReport:
        """Record an inventory (21 CFR 1304.11) as counted, with the registrant as it is today.
        Schedule II and opened containers of more than 1,000 units are exact counts, other
        opened containers may be estimates. The ledger is not corrected: each line keeps the
        ledger's balance beside the count, so the report shows every difference."""
        require_role(actor, *STOCK_ROLES, action="take a controlled-substance inventory")
        if kind not in INVENTORY_KINDS:
            raise ValidationFailed(
                f"“{kind}” is not an inventory kind: use {', '.join(INVENTORY_KINDS)}.",
                field="kind",
            )
        if timing not in INVENTORY_TIMINGS:
            raise ValidationFailed(
                f"Say whether the inventory was taken at the opening or the close of business, "
                f"not “{timing}”.",
                field="timing",
            )
        if isinstance(taken_on, datetime) or not isinstance(taken_on, date):
            raise ValidationFailed(f"“{taken_on}” is not a date.", field="taken_on")
        if taken_on > self._today():
            raise ValidationFailed(
                f"An inventory is recorded once taken: {taken_on.isoformat()} is in the future.",
                field="taken_on",
            )
        if not lines:
            raise ValidationFailed("The inventory has no lines: add what was counted.")
        seen = [line.package_id for line in lines]
        if len(set(seen)) != len(seen):
            raise ValidationFailed("A package is listed twice: give each NDC one line.")
        remark = _text(note)
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            if witness is not None:
                _check_witness(session, actor, witness, needed_for="The inventory")
            pharmacy = session.scalars(select(Pharmacy)).first()
            if pharmacy is None:
                raise ValidationFailed(
                    "The pharmacy's profile (name, address, DEA number) is not entered yet: an "
                    "inventory names its registrant."
                )
            found = {
                package.id: (package, product, Decimal(on_hand or 0))
                for package, product, on_hand in _controlled_packages(session, seen)
            }
            if kind in ("biennial", "initial"):
                self._refuse_missing(session, seen)
            inventory = ControlledInventory(
                kind=kind,
                timing=timing,
                taken_on=taken_on,
                registrant=_registrant_of(pharmacy),
                note=remark,
                taken_by_user_id=actor.user_id,
                witness_user_id=witness.user_id if witness is not None else None,
                workstation=actor.workstation,
                recorded_at=self._now(),
            )
            session.add(inventory)
            session.flush()
            uow.audit(
                "controlled_inventory.taken",
                inventory,
                kind=kind,
                timing=timing,
                taken_on=taken_on.isoformat(),
                lines=len(lines),
                witness=witness.username if witness is not None else None,
            )
            for line in lines:
                self._add_line(uow, inventory, line, found)
            return self._report(session, inventory.id)

    @staticmethod
    def _refuse_missing(session: Session, listed: Sequence[int]) -> None:
        """A biennial or initial inventory lists every controlled substance on hand."""
        missing = [
            f"NDC {package.ndc} ({product.display_name})"
            for package, product, on_hand in _controlled_packages(session)
            if Decimal(on_hand or 0) > 0 and package.id not in listed
        ]
        if missing:
            raise ValidationFailed(
                "The inventory must list every controlled substance on hand; missing: "
                f"{'; '.join(missing)}. Add each, with 0 if none was found.",
                missing=missing,
            )

    @staticmethod
    def _add_line(
        uow: UnitOfWork,
        inventory: ControlledInventory,
        line: InventoryLineInput,
        found: dict[int, tuple[DrugPackage, DrugProduct, Decimal]],
    ) -> None:
        session = uow.session
        if line.package_id not in found:
            package, _schedule = _described_package(session, line.package_id)
            found[line.package_id] = (package, package.product, Decimal(0))
        package, product, on_hand = found[line.package_id]
        schedule = controlled_schedule(product.dea_schedule)
        assert schedule is not None  # checked by _described_package or the query
        named = f"NDC {package.ndc}"
        sealed = line.sealed_containers
        if isinstance(sealed, bool) or not isinstance(sealed, int) or sealed < 0:
            raise ValidationFailed(
                f"{named}: sealed containers is a whole number, 0 or more, not “{sealed}”.",
                field="sealed_containers",
                package_id=package.id,
            )
        opened = _count(line.opened_quantity, field="opened_quantity", what=f"{named} opened")
        units = package.package_quantity if package.package_quantity else None
        if sealed and units is None:
            raise ValidationFailed(
                f"{named}: the catalogue does not say how many units one package holds; count "
                "the units of its sealed containers into the opened quantity.",
                field="sealed_containers",
                package_id=package.id,
            )
        required = _exact_required(schedule, units)
        if line.exact is False and required:
            why = (
                "schedule II is always counted exactly"
                if schedule == "CII"
                else f"one package holds {shown(units or Decimal(0))} units, more than 1,000"
            )
            raise ValidationFailed(
                f"{named}: {why}; an estimate is not allowed.",
                field="exact",
                package_id=package.id,
            )
        exact = required if line.exact is None else line.exact
        row = ControlledInventoryLine(
            inventory_id=inventory.id,
            package_id=package.id,
            schedule=schedule,
            sealed_containers=sealed,
            opened_quantity=opened,
            total=sealed * (units or Decimal(0)) + opened,
            exact=exact,
            ledger_balance=on_hand,
            note=_text(line.note),
        )
        session.add(row)
        session.flush()
        uow.audit(
            "controlled_inventory.line_recorded",
            row,
            inventory_id=inventory.id,
            package_id=package.id,
            total=str(row.total),
            exact=exact,
            ledger_balance=str(on_hand),
        )

    def inventories(self, actor: Actor) -> list[InventorySummary]:
        """Every inventory taken, newest first."""
        require_role(actor, *READ_ROLES, action="see controlled-substance inventories")
        lines = (
            select(ControlledInventoryLine.inventory_id, func.count().label("lines"))
            .group_by(ControlledInventoryLine.inventory_id)
            .subquery()
        )
        statement = (
            select(ControlledInventory, User.full_name, User.username, lines.c.lines)
            .outerjoin(User, ControlledInventory.taken_by_user_id == User.id)
            .outerjoin(lines, lines.c.inventory_id == ControlledInventory.id)
            .order_by(ControlledInventory.taken_on.desc(), ControlledInventory.id.desc())
        )
        with self._db.reading() as session:
            return [
                InventorySummary(
                    inventory_id=inventory.id,
                    kind=inventory.kind,
                    timing=inventory.timing,
                    taken_on=inventory.taken_on,
                    taken_by=f"{full_name} ({username})" if username else "",
                    lines=count or 0,
                )
                for inventory, full_name, username, count in session.execute(statement)
            ]

    def report(self, actor: Actor, inventory_id: int) -> InventoryReport:
        """The inventory as recorded, schedule II apart, for the PDF, the CSV and the screen."""
        require_role(actor, *READ_ROLES, action="see controlled-substance inventories")
        with self._db.reading() as session:
            return self._report(session, inventory_id)

    def record_export(
        self, actor: Actor, inventory_id: int, *, file_format: str, destination: str
    ) -> None:
        """Note that an inventory left RxBench as a file (PDF or CSV), and where to."""
        require_role(actor, *READ_ROLES, action="export a controlled-substance inventory")
        with self._db.unit_of_work(actor) as uow:
            inventory = uow.session.get(ControlledInventory, inventory_id)
            if inventory is None:
                raise NotFound(f"There is no controlled-substance inventory {inventory_id}.")
            uow.audit(
                "controlled_inventory.exported",
                inventory,
                file_format=file_format,
                destination=destination,
            )

    @staticmethod
    def _report(session: Session, inventory_id: int) -> InventoryReport:
        inventory = session.get(ControlledInventory, inventory_id)
        if inventory is None:
            raise NotFound(f"There is no controlled-substance inventory {inventory_id}.")
        rows = session.execute(
            select(ControlledInventoryLine, DrugPackage, DrugProduct)
            .join(DrugPackage, ControlledInventoryLine.package_id == DrugPackage.id)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
            .where(ControlledInventoryLine.inventory_id == inventory_id)
        ).all()
        lines = sorted(
            (
                ReportLine(
                    schedule=line.schedule,
                    ndc=package.ndc,
                    drug=product.display_name,
                    package_units=package.package_quantity or None,
                    sealed_containers=line.sealed_containers,
                    opened_quantity=Decimal(line.opened_quantity),
                    total=Decimal(line.total),
                    exact=line.exact,
                    ledger_balance=Decimal(line.ledger_balance),
                    note=line.note,
                )
                for line, package, product in rows
            ),
            key=lambda line: (CONTROLLED_SCHEDULES.index(line.schedule), line.drug, line.ndc),
        )
        totals = tuple(
            ScheduleTotal(
                schedule=schedule,
                packages=len(of_schedule),
                units=sum((line.total for line in of_schedule), Decimal(0)),
            )
            for schedule in CONTROLLED_SCHEDULES
            if (of_schedule := [line for line in lines if line.schedule == schedule])
        )
        return InventoryReport(
            inventory_id=inventory.id,
            kind=inventory.kind,
            timing=inventory.timing,
            taken_on=inventory.taken_on,
            registrant=_registrant(inventory.registrant),
            taken_by=_who(session, inventory.taken_by_user_id) or "",
            witness=_who(session, inventory.witness_user_id),
            recorded_at=inventory.recorded_at,
            note=inventory.note,
            schedule_ii=tuple(line for line in lines if line.schedule == "CII"),
            schedules_iii_v=tuple(line for line in lines if line.schedule != "CII"),
            totals=totals,
        )


def _exact_required(schedule: str, package_units: Decimal | None) -> bool:
    return schedule == "CII" or (package_units is not None and package_units > EXACT_COUNT_ABOVE)

"""Receiving: a delivery checked in by scanning its packages, or imported from the wholesaler's
invoice as CSV, with its DSCSA transaction information kept per receipt.

One receipt is one unit of work: the `Receipt`, its lines, each line's received movement
(through `app.services.inventory.receive_stock`, so the lot rules, the controlled-substance log
and the audit are those of any receipt of stock), the lot's unit cost, and the audit events, all
written together or not at all. Every line is checked before anything is written, and a
refusal names every bad line with its number.

A line's `unit_cost_cents` is the cost of one package as invoiced (the line's package NDC), in
cents; the lot keeps the last one received. Suspect product (DSCSA) is received into quarantine
for investigation; stock of a recalled or quarantined lot stays there.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import DrugPackage, DrugProduct, Receipt, ReceiptLine, StockLot, User
from app.domain.barcodes import ScanError
from app.domain.roles import Role
from app.errors import NotFound, RxBenchError, ValidationFailed
from app.services.changes import publish
from app.services.dispensing import controlled_schedule
from app.services.identify import CataloguePackage, resolve_scan
from app.services.inventory import STOCK_ROLES, TOPIC, receive_stock
from app.services.reorder import open_shortage_notices
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role

SCAN = "scan"
INVOICE_CSV = "invoice_csv"
DEFAULT_RECEIPTS_LIMIT = 100
MAX_RECEIPTS_LIMIT = 1000
_SUPPLIER_LENGTH = 200
_INVOICE_NUMBER_LENGTH = 64
_DEA_ORDER_LENGTH = 32
_SERIAL_LENGTH = 40
_MAX_COST_CENTS = 2_147_483_647  # receipt_lines.unit_cost_cents is an INTEGER
_MAX_PACKAGES = 100_000
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DOLLARS = re.compile(r"\d+(\.\d{1,2})?")
_WHOLE = re.compile(r"[1-9]\d*")

# The invoice CSV's columns (header names, any order, case-insensitive).
CSV_REQUIRED = (
    "supplier",
    "invoice_number",
    "invoice_date",
    "ndc",
    "lot",
    "expiry",
    "quantity",
    "unit_cost",
)
CSV_OPTIONAL = ("serial", "units", "dea_order_number", "dea_order_date")


class ReceivingRefused(ValidationFailed):
    """A receipt refused whole: `problems` lists every bad line ("Line 3: …"); nothing written."""

    code = "receiving-refused"

    def __init__(self, message: str, *, problems: Sequence[str] = (), **facts: Any) -> None:
        super().__init__(message, problems=list(problems), **facts)
        self.problems = tuple(problems)


class UnknownProduct(ReceivingRefused):
    """A scanned or invoiced NDC that is not in the catalogue."""

    code = "unknown-product"


@dataclass(frozen=True)
class ReceivedScan:
    """One scanned package (or `packages` identical ones) as the technician checks it in.

    `text` is what the scanner sent; `lot_number`/`expiry` are typed from the package when the
    code carries none (a UPC). The stock received is `packages` × the package's billing quantity,
    or `quantity` units when given. `unit_cost_cents` is the cost of one package.
    """

    text: str
    lot_number: str = ""
    expiry: date | None = None
    packages: int = 1
    quantity: Decimal | int | str | None = None
    unit_cost_cents: int | None = None
    suspect: bool = False
    suspect_reason: str = ""
    gs_substitute: str | None = None


@dataclass(frozen=True)
class ReceiptLineRow:
    line_id: int
    package_id: int
    ndc: str
    drug: str
    dea_schedule: str | None
    lot_id: int
    lot_number: str
    expiry: date
    lot_status: str
    quantity: Decimal
    serial: str | None
    unit_cost_cents: int | None
    movement_id: int
    suspect: bool
    suspect_reason: str


@dataclass(frozen=True)
class ReceiptRow:
    receipt_id: int
    supplier: str
    invoice_number: str
    invoice_date: date
    source: str
    dea_order_number: str
    dea_order_date: date | None
    note: str
    username: str | None
    workstation: str
    received_at: datetime
    lines: tuple[ReceiptLineRow, ...] = ()
    # What the person must read: stock received into quarantine, a lot gone negative…
    notices: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class _Header:
    supplier: str
    invoice_number: str
    invoice_date: date
    dea_order_number: str
    dea_order_date: date | None
    note: str


@dataclass(frozen=True)
class _Plan:
    """One line checked and ready to write."""

    number: int
    package: CataloguePackage
    schedule: str | None
    lot_number: str
    expiry: date
    quantity: Decimal
    serial: str | None
    unit_cost_cents: int | None
    suspect_reason: str


def _clean(value: object) -> str:
    return " ".join(str(value if value is not None else "").split())


def _header(
    *,
    supplier: str,
    invoice_number: str,
    invoice_date: date | None,
    dea_order_number: str,
    dea_order_date: date | None,
    note: str,
    today: date,
) -> tuple[_Header | None, list[str]]:
    problems: list[str] = []
    seller = _clean(supplier)
    if not seller:
        problems.append("Name the supplier (who sold the stock), as on the invoice.")
    elif len(seller) > _SUPPLIER_LENGTH:
        problems.append(f"The supplier's name has at most {_SUPPLIER_LENGTH} characters.")
    number = _clean(invoice_number)
    if not number:
        problems.append("Type the invoice number printed on the invoice.")
    elif len(number) > _INVOICE_NUMBER_LENGTH:
        problems.append(f"An invoice number has at most {_INVOICE_NUMBER_LENGTH} characters.")
    if isinstance(invoice_date, datetime) or not isinstance(invoice_date, date):
        problems.append(f"“{invoice_date}” is not the invoice date: type the date on it.")
    elif invoice_date > today:
        problems.append(f"The invoice date {invoice_date.isoformat()} is in the future.")
    order = _clean(dea_order_number)
    if len(order) > _DEA_ORDER_LENGTH:
        problems.append(f"A DEA order number has at most {_DEA_ORDER_LENGTH} characters.")
    if dea_order_date is not None and (
        isinstance(dea_order_date, datetime) or not isinstance(dea_order_date, date)
    ):
        problems.append(f"“{dea_order_date}” is not the DEA order date.")
    elif dea_order_date is not None and dea_order_date > today:
        problems.append(f"The DEA order date {dea_order_date.isoformat()} is in the future.")
    elif (dea_order_date is None) != (not order):
        problems.append("Give both the DEA Form 222 / CSOS order number and its date, or neither.")
    if problems:
        return None, problems
    assert isinstance(invoice_date, date)
    return _Header(seller, number, invoice_date, order, dea_order_date, _clean(note)), []


def _refused(what: str, problems: Sequence[str], **facts: Any) -> ReceivingRefused:
    unknown = [problem for problem in problems if "is not in the drug catalogue" in problem]
    kind = UnknownProduct if unknown and len(unknown) == len(problems) else ReceivingRefused
    problems = sorted(problems, key=_line_number)
    listed = "\n".join(problems)
    count = len(problems)
    return kind(
        f"{what} was not received ({count} problem{'s' if count != 1 else ''}; nothing was "
        f"written):\n{listed}",
        problems=problems,
        **facts,
    )


def _line_number(problem: str) -> int:
    found = re.match(r"Line (\d+):", problem)
    return int(found.group(1)) if found else 0


class ReceivingService:
    def __init__(self, database: Database, *, today: Callable[[], date] = date.today) -> None:
        self._db = database
        self._today = today

    # --- receiving ----------------------------------------------------------------------------

    def receive_scans(
        self,
        actor: Actor,
        *,
        supplier: str,
        invoice_number: str,
        invoice_date: date,
        lines: Sequence[ReceivedScan],
        dea_order_number: str = "",
        dea_order_date: date | None = None,
        note: str = "",
    ) -> ReceiptRow:
        """Check in a delivery scanned package by package: all its lines or none."""
        require_role(actor, *STOCK_ROLES, action="receive stock")
        today = self._today()
        header, problems = _header(
            supplier=supplier,
            invoice_number=invoice_number,
            invoice_date=invoice_date,
            dea_order_number=dea_order_number,
            dea_order_date=dea_order_date,
            note=note,
            today=today,
        )
        if not lines:
            problems.append("Scan at least one package.")
        with self._db.unit_of_work(actor) as uow:
            plans: list[_Plan] = []
            for number, line in enumerate(lines, start=1):
                try:
                    plans.append(self._scan_plan(uow.session, number, line, today))
                except RxBenchError as error:
                    problems.append(f"Line {number}: {error.message}")
            problems.extend(
                _plan_problems(uow.session, plans, dea_order_given=bool(_clean(dea_order_number)))
            )
            if problems or header is None:
                raise _refused("The delivery", problems)
            return self._write(uow, header, SCAN, plans)

    def import_invoice_csv(self, actor: Actor, path_or_text: str | Path) -> ReceiptRow:
        """Receive a wholesaler's invoice given as CSV (the columns are in the README): the file
        is received whole, or refused whole with every bad line's number and reason."""
        require_role(actor, *STOCK_ROLES, action="receive stock")
        text = _csv_text(path_or_text)
        today = self._today()
        rows, problems = _csv_rows(text)
        header: _Header | None = None
        with self._db.unit_of_work(actor) as uow:
            plans: list[_Plan] = []
            if rows:
                header, header_problems = _csv_header(rows, today)
                problems.extend(header_problems)
            for number, row in rows:
                try:
                    plans.append(self._csv_plan(uow.session, number, row, today))
                except RxBenchError as error:
                    problems.append(f"Line {number}: {error.message}")
            # Each schedule II line names its DEA order itself (checked in _csv_plan).
            problems.extend(_plan_problems(uow.session, plans, dea_order_given=True))
            if problems or header is None:
                raise _refused("The invoice", problems or ["The file has no invoice lines."])
            return self._write(uow, header, INVOICE_CSV, plans)

    # --- reading ------------------------------------------------------------------------------

    def receipts(self, actor: Actor, *, limit: int = DEFAULT_RECEIPTS_LIMIT) -> list[ReceiptRow]:
        """The latest receipts, newest first, without their lines (see `receipt`)."""
        require_role(actor, *Role, action="see receipts of stock")
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_RECEIPTS_LIMIT
        ):
            raise ValidationFailed(
                f"Show 1 to {MAX_RECEIPTS_LIMIT} receipts, not “{limit}”.", field="limit"
            )
        with self._db.reading() as session:
            found = session.execute(
                select(Receipt, User.username)
                .outerjoin(User, Receipt.user_id == User.id)
                .order_by(Receipt.received_at.desc(), Receipt.id.desc())
                .limit(limit)
            ).all()
            return [_receipt_row(receipt, username, ()) for receipt, username in found]

    def receipt(self, actor: Actor, receipt_id: int) -> ReceiptRow:
        """One receipt with its lines, in the order they were received."""
        require_role(actor, *Role, action="see receipts of stock")
        with self._db.reading() as session:
            return _read_receipt(session, receipt_id)

    # --- checking lines -----------------------------------------------------------------------

    def _scan_plan(self, session: Session, number: int, line: ReceivedScan, today: date) -> _Plan:
        resolved = resolve_scan(session, str(line.text), gs_substitute=line.gs_substitute)
        if isinstance(resolved.scan_or_error, ScanError):
            raise resolved.scan_or_error
        scan = resolved.scan
        assert scan is not None  # not an error
        if scan.rx_number is not None:
            raise ValidationFailed("This is a prescription label, not a stock package.")
        package = _one_package(resolved.found, [c.hyphenated for c in scan.candidates])
        lot_number = _clean(line.lot_number)
        if scan.lot and lot_number and lot_number != scan.lot:
            raise ValidationFailed(
                f"The barcode says lot {scan.lot}, not {lot_number}: check the package."
            )
        if scan.expiry and line.expiry and line.expiry != scan.expiry:
            raise ValidationFailed(
                f"The barcode says expiry {scan.expiry.isoformat()}, not "
                f"{line.expiry.isoformat()}: check the package."
            )
        lot_number = scan.lot or lot_number
        expiry = scan.expiry or line.expiry
        if not lot_number or expiry is None:
            missing = " and ".join(
                what
                for what, absent in (("lot number", not lot_number), ("expiry", expiry is None))
                if absent
            )
            raise ValidationFailed(
                f"This {scan.kind.value.upper()} code carries no {missing}: type the {missing} "
                "printed on the package."
            )
        if not isinstance(line.packages, int) or isinstance(line.packages, bool):
            raise ValidationFailed(f"“{line.packages}” is not a number of packages.")
        quantity = _units(package, line.packages, line.quantity)
        if scan.serial and line.packages != 1:
            raise ValidationFailed(
                f"Serial {scan.serial} names one package, not {line.packages}: scan each one."
            )
        cost = line.unit_cost_cents
        if cost is not None and (
            isinstance(cost, bool) or not isinstance(cost, int) or not 0 <= cost <= _MAX_COST_CENTS
        ):
            raise ValidationFailed(f"“{cost}” is not a cost in cents (a whole number, 0 or more).")
        suspect = _clean(line.suspect_reason)
        if line.suspect and not suspect:
            raise ValidationFailed("Say why the product is suspect: a suspect line needs a reason.")
        return _plan(
            number,
            package,
            lot_number=lot_number,
            expiry=expiry,
            quantity=quantity,
            serial=scan.serial,
            unit_cost_cents=cost,
            suspect_reason=suspect if line.suspect else "",
            today=today,
        )

    def _csv_plan(self, session: Session, number: int, row: dict[str, str], today: date) -> _Plan:
        problems: list[str] = []
        ndc_text = row["ndc"]
        package: CataloguePackage | None = None
        if not ndc_text:
            problems.append("the NDC is missing")
        else:
            resolved = resolve_scan(session, ndc_text)
            if isinstance(resolved.scan_or_error, ScanError) or resolved.scan is None:
                problems.append(f"“{ndc_text}” is not an NDC")
            else:
                try:
                    package = _one_package(
                        resolved.found, [c.hyphenated for c in resolved.scan.candidates]
                    )
                except RxBenchError as error:
                    problems.append(error.message.rstrip("."))
        lot_number = row["lot"]
        if not lot_number:
            problems.append("the lot is missing")
        expiry = _csv_date(row["expiry"], "expiry", problems)
        packages = 0
        if not _WHOLE.fullmatch(row["quantity"]):
            problems.append(f"the quantity “{row['quantity']}” is not a whole number of packages")
        else:
            packages = int(row["quantity"])
        cost = _cents(row["unit_cost"], problems)
        serial = row.get("serial") or None
        if serial and packages > 1:
            problems.append(f"serial {serial} names one package, not {packages}")
        if (
            package is not None
            and controlled_schedule(package.facts.dea_schedule) == "CII"
            and not (row["dea_order_number"] and row["dea_order_date"])
        ):
            problems.append(
                f"NDC {package.facts.package_ndc} is schedule II: give the DEA Form 222 / CSOS "
                "order number and date (dea_order_number, dea_order_date)"
            )
        if problems or package is None or expiry is None:
            raise ValidationFailed("; ".join(problems) + ".")
        quantity = _units(package, packages, row.get("units") or None)
        return _plan(
            number,
            package,
            lot_number=lot_number,
            expiry=expiry,
            quantity=quantity,
            serial=serial,
            unit_cost_cents=cost,
            suspect_reason="",
            today=today,
        )

    # --- writing ------------------------------------------------------------------------------

    def _write(
        self, uow: UnitOfWork, header: _Header, source: str, plans: Sequence[_Plan]
    ) -> ReceiptRow:
        session, actor = uow.session, uow.actor
        receipt = Receipt(
            supplier=header.supplier,
            invoice_number=header.invoice_number,
            invoice_date=header.invoice_date,
            source=source,
            dea_order_number=header.dea_order_number,
            dea_order_date=header.dea_order_date,
            note=header.note,
            user_id=actor.user_id,
            workstation=actor.workstation,
        )
        session.add(receipt)
        session.flush()
        notices: list[str] = []
        for plan in plans:
            try:
                received = receive_stock(
                    uow,
                    plan.package.package_id,
                    lot_number=plan.lot_number,
                    expiry=plan.expiry,
                    quantity=plan.quantity,
                    location=_location(plan),
                    reason=f"Receipt {receipt.id}: invoice {header.invoice_number} from "
                    f"{header.supplier}",
                    today=self._today(),
                    suspect_reason=plan.suspect_reason,
                    receipt_id=receipt.id,
                )
            except RxBenchError as error:
                raise _refused("The delivery", [f"Line {plan.number}: {error.message}"]) from None
            lot = received.lot
            before_cost = lot.unit_cost_cents
            if plan.unit_cost_cents is not None:
                lot.unit_cost_cents = plan.unit_cost_cents
            line = ReceiptLine(
                receipt_id=receipt.id,
                package_id=plan.package.package_id,
                lot_id=lot.id,
                quantity=plan.quantity,
                serial=plan.serial,
                unit_cost_cents=plan.unit_cost_cents,
                movement_id=received.written.movement.id,
                suspect=bool(plan.suspect_reason),
                suspect_reason=plan.suspect_reason,
            )
            session.add(line)
            session.flush()
            uow.audit(
                "receipt.line_received",
                line,
                receipt_id=receipt.id,
                line=plan.number,
                ndc=plan.package.facts.package_ndc,
                lot_id=lot.id,
                lot=lot.lot_number,
                quantity=str(plan.quantity),
                serial=plan.serial,
                unit_cost_cents=plan.unit_cost_cents,
                lot_unit_cost_cents_before=before_cost,
                movement_id=received.written.movement.id,
                suspect=bool(plan.suspect_reason),
                suspect_reason=plan.suspect_reason,
                lot_status=lot.status,
            )
            if received.notice:
                notices.append(f"Line {plan.number}: {received.notice}")
        uow.audit(
            "receipt.received",
            receipt,
            supplier=header.supplier,
            invoice_number=header.invoice_number,
            invoice_date=header.invoice_date.isoformat(),
            source=source,
            dea_order_number=header.dea_order_number,
            dea_order_date=header.dea_order_date.isoformat() if header.dea_order_date else None,
            lines=len(plans),
        )
        for package_id in sorted({plan.package.package_id for plan in plans}):
            publish(session, topic=TOPIC, entity_id=str(package_id), workstation=actor.workstation)
        # As every stock change does: a short-dated lot received is told to the pharmacist.
        open_shortage_notices(uow, [plan.package.package_id for plan in plans], self._today())
        session.flush()
        row = _read_receipt(session, receipt.id)
        return ReceiptRow(**{**vars(row), "notices": tuple(notices)})


# --- helpers ----------------------------------------------------------------------------------


def _one_package(found: Sequence[CataloguePackage], readings: Sequence[str]) -> CataloguePackage:
    if len(found) > 1:
        ndcs = ", ".join(package.facts.package_ndc for package in found)
        raise ValidationFailed(
            f"This code can mean NDC {ndcs}: type the NDC with its hyphens as printed on the "
            "package."
        )
    if not found:
        raise ValidationFailed(
            f"NDC {', '.join(readings)} is not in the drug catalogue: a pharmacist adds the "
            "product with the Verify dock’s “Add product from this scan…”, then receive it again."
        )
    return found[0]


def _units(
    package: CataloguePackage, packages: int, quantity: Decimal | int | str | None
) -> Decimal:
    if quantity is not None and str(quantity).strip():
        if isinstance(quantity, bool | float):
            raise ValidationFailed(f"“{quantity}” is not a count of units.")
        try:
            units = Decimal(str(quantity).strip())
        except InvalidOperation:
            raise ValidationFailed(f"“{quantity}” is not a count of units.") from None
        if not units.is_finite() or units <= 0:
            raise ValidationFailed(f"“{quantity}” is not a count of units more than 0.")
        return units
    if not 1 <= packages <= _MAX_PACKAGES:
        raise ValidationFailed(f"Receive 1 to {_MAX_PACKAGES} packages, not {packages}.")
    if package.billing_quantity is None:
        raise ValidationFailed(
            f"The catalogue does not say how many units NDC {package.facts.package_ndc} "
            "holds: give the count of units."
        )
    return package.billing_quantity * packages


def _plan(
    number: int,
    package: CataloguePackage,
    *,
    lot_number: str,
    expiry: date,
    quantity: Decimal,
    serial: str | None,
    unit_cost_cents: int | None,
    suspect_reason: str,
    today: date,
) -> _Plan:
    if expiry < today:
        raise ValidationFailed(
            f"Lot {lot_number} expired on {expiry.isoformat()}: expired stock is not received. "
            "Return it to the seller."
        )
    if serial is not None and len(serial) > _SERIAL_LENGTH:
        raise ValidationFailed(f"A serial number has at most {_SERIAL_LENGTH} characters.")
    return _Plan(
        number=number,
        package=package,
        schedule=controlled_schedule(package.facts.dea_schedule),
        lot_number=lot_number,
        expiry=expiry,
        quantity=quantity,
        serial=serial,
        unit_cost_cents=unit_cost_cents,
        suspect_reason=suspect_reason,
    )


def _plan_problems(session: Session, plans: Sequence[_Plan], *, dea_order_given: bool) -> list[str]:
    """What only the whole receipt shows: a serial received before or twice, a schedule II
    line without its DEA order."""
    problems: list[str] = []
    seen: dict[tuple[int, str], int] = {}
    serials = [(plan.package.package_id, plan.serial) for plan in plans if plan.serial]
    earlier: dict[tuple[int, str], int] = {}
    if serials:
        for package_id, serial, receipt_id in session.execute(
            select(ReceiptLine.package_id, ReceiptLine.serial, ReceiptLine.receipt_id).where(
                ReceiptLine.package_id.in_(sorted({package_id for package_id, _ in serials})),
                ReceiptLine.serial.in_(sorted({serial for _, serial in serials})),
            )
        ):
            earlier[(package_id, serial or "")] = receipt_id
    for plan in plans:
        if plan.serial:
            key = (plan.package.package_id, plan.serial)
            if key in earlier:
                problems.append(
                    f"Line {plan.number}: serial {plan.serial} of NDC "
                    f"{plan.package.facts.package_ndc} was already received (receipt "
                    f"{earlier[key]}): a duplicate serial is suspect — set the package apart."
                )
            elif key in seen:
                problems.append(
                    f"Line {plan.number}: serial {plan.serial} of NDC "
                    f"{plan.package.facts.package_ndc} is on line {seen[key]} already."
                )
            seen.setdefault(key, plan.number)
        if plan.schedule == "CII" and not dea_order_given:
            problems.append(
                f"Line {plan.number}: NDC {plan.package.facts.package_ndc} is schedule II: give "
                "the DEA Form 222 / CSOS order number and date of this order."
            )
    return problems


def _location(plan: _Plan) -> str:
    if plan.suspect_reason:
        return "quarantine shelf"
    if plan.schedule == "CII":
        return "controlled-substance cabinet"
    return "shelf"


def _csv_text(path_or_text: str | Path) -> str:
    if isinstance(path_or_text, Path) or (
        isinstance(path_or_text, str)
        and "\n" not in path_or_text
        and path_or_text.lower().endswith(".csv")
    ):
        path = Path(path_or_text)
        try:
            return path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise NotFound(f"There is no file {path}.") from None
        except UnicodeDecodeError:
            raise ReceivingRefused(f"{path.name} is not a UTF-8 text (CSV) file.") from None
        except OSError as error:
            raise ReceivingRefused(f"{path} cannot be read: {error.strerror}.") from None
    if not isinstance(path_or_text, str):
        raise ValidationFailed("Give the invoice as a CSV file or its text.")
    return path_or_text.removeprefix("\ufeff")


def _csv_rows(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], ["The file is empty: the first line names the columns."]
    except csv.Error as error:
        return [], [f"Line 1: {error}."]
    names = [name.strip().lower() for name in header]
    missing = [name for name in CSV_REQUIRED if name not in names]
    unknown = [name for name in names if name not in (*CSV_REQUIRED, *CSV_OPTIONAL)]
    problems: list[str] = []
    if missing:
        problems.append(
            f"Line 1: the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} {'are' if len(missing) > 1 else 'is'} missing."
        )
    if unknown:
        problems.append(f"Line 1: unknown column(s) {', '.join(unknown)}.")
    if len(set(names)) != len(names):
        problems.append("Line 1: a column is named twice.")
    if problems:
        return [], problems
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            number = reader.line_num
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(names):
                problems.append(
                    f"Line {number}: {len(values)} fields where the header names {len(names)}."
                )
                continue
            row = {name: " ".join(value.split()) for name, value in zip(names, values, strict=True)}
            for name in CSV_OPTIONAL:
                row.setdefault(name, "")
            rows.append((number, row))
    except csv.Error as error:
        problems.append(f"Line {reader.line_num}: {error}.")
    if not rows and not problems:
        problems.append("The file has no invoice lines.")
    return rows, problems


def _csv_date(text: str, what: str, problems: list[str]) -> date | None:
    if not _ISO_DATE.fullmatch(text):
        problems.append(f"the {what} “{text}” is not a date written YYYY-MM-DD")
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(f"the {what} “{text}” is not a real date")
        return None


def _cents(text: str, problems: list[str]) -> int | None:
    if not _DOLLARS.fullmatch(text):
        problems.append(f"the unit cost “{text}” is not dollars and cents (like 12.34)")
        return None
    cents = int(Decimal(text) * 100)
    if cents > _MAX_COST_CENTS:
        problems.append(f"the unit cost {text} is more than a package can cost")
        return None
    return cents


def _csv_header(
    rows: Sequence[tuple[int, dict[str, str]]], today: date
) -> tuple[_Header | None, list[str]]:
    """The invoice's supplier, number, date and DEA order: every line must say the same."""
    problems: list[str] = []
    values: dict[str, str] = {}
    for name in (
        "supplier",
        "invoice_number",
        "invoice_date",
        "dea_order_number",
        "dea_order_date",
    ):
        first: tuple[int, str] | None = None
        for number, row in rows:
            value = row[name]
            if name in ("dea_order_number", "dea_order_date") and not value:
                continue
            if first is None:
                first = (number, value)
            elif value != first[1]:
                problems.append(
                    f"Line {number}: {name} “{value}” differs from “{first[1]}” on line "
                    f"{first[0]}: one file is one invoice."
                )
        values[name] = first[1] if first is not None else ""
    date_problems: list[str] = []
    invoice_date = _csv_date(values["invoice_date"], "invoice date", date_problems)
    order_date = (
        _csv_date(values["dea_order_date"], "DEA order date", date_problems)
        if values["dea_order_date"]
        else None
    )
    problems.extend(f"Line {rows[0][0]}: {problem}." for problem in date_problems)
    if problems or invoice_date is None:
        return None, problems
    header, header_problems = _header(
        supplier=values["supplier"],
        invoice_number=values["invoice_number"],
        invoice_date=invoice_date,
        dea_order_number=values["dea_order_number"],
        dea_order_date=order_date,
        note="",
        today=today,
    )
    return header, [f"Line {rows[0][0]}: {problem}" for problem in header_problems]


def _receipt_row(
    receipt: Receipt, username: str | None, lines: tuple[ReceiptLineRow, ...]
) -> ReceiptRow:
    return ReceiptRow(
        receipt_id=receipt.id,
        supplier=receipt.supplier,
        invoice_number=receipt.invoice_number,
        invoice_date=receipt.invoice_date,
        source=receipt.source,
        dea_order_number=receipt.dea_order_number,
        dea_order_date=receipt.dea_order_date,
        note=receipt.note,
        username=username,
        workstation=receipt.workstation,
        received_at=receipt.received_at,
        lines=lines,
    )


def _read_receipt(session: Session, receipt_id: int) -> ReceiptRow:
    found = session.execute(
        select(Receipt, User.username)
        .outerjoin(User, Receipt.user_id == User.id)
        .where(Receipt.id == receipt_id)
    ).first()
    if found is None:
        raise NotFound(f"There is no receipt {receipt_id}.", receipt_id=receipt_id)
    receipt, username = found
    lines = tuple(
        ReceiptLineRow(
            line_id=line.id,
            package_id=line.package_id,
            ndc=ndc,
            drug=product.display_name,
            dea_schedule=product.dea_schedule,
            lot_id=lot.id,
            lot_number=lot.lot_number,
            expiry=lot.expiry,
            lot_status=lot.status,
            quantity=line.quantity,
            serial=line.serial,
            unit_cost_cents=line.unit_cost_cents,
            movement_id=line.movement_id,
            suspect=line.suspect,
            suspect_reason=line.suspect_reason,
        )
        for line, lot, ndc, product in session.execute(
            select(ReceiptLine, StockLot, DrugPackage.ndc, DrugProduct)
            .join(StockLot, ReceiptLine.lot_id == StockLot.id)
            .join(DrugPackage, ReceiptLine.package_id == DrugPackage.id)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
            .where(ReceiptLine.receipt_id == receipt_id)
            .order_by(ReceiptLine.id)
        )
    )
    return _receipt_row(receipt, username, lines)

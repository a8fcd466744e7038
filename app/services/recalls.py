"""Drug recalls: entered by hand or imported from the openFDA drug enforcement report, the lots of
ours they match quarantined as recalled, and the recall's work: stock to pull, patients to call.

A recall names package NDCs, each with one lot or every lot (`RecallItem.lot_number` empty). On
entry every lot of ours it matches (lot numbers compared without regard to case) is set to
`recalled` — never dispensable, refused at verification — and listed to pull. The recall level
decides who else is told:

- ``consumer``: the recall reaches patients: one contact per fill that took stock from a
  matched lot (its bottle not voided) is listed to call;
- ``retail``: our stock is pulled, no patient is contacted;
- ``wholesale``: the recall stops at the wholesaler, so no patient is contacted; our matching
  stock is quarantined and pulled all the same, as the pharmacy must not dispense it.

Stock received later for a package and lot an open recall names goes straight into it (the
receiving hook `quarantine_if_recalled`). A recall puts one ``recall`` item on the pharmacist's
work list; a pharmacist closes it once every lot is pulled and every patient's contact is
resolved (contacted, unreachable, or not required). Closing leaves the lots recalled: recalled
stock goes back to the vendor or is destroyed, never onto the shelf.

The import is two steps: `preview` reads the enforcement JSON (layout in the README) and shows,
per report, the NDCs found (openfda `package_ndc`, else NDCs in the product description and code
text, else every package of the openfda `product_ndc`), our packages among them, the lot numbers
read out of `code_info` and which of our lots they match; `confirm` records the reports chosen
with the items a person confirmed. A recall number already recorded is never recorded twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.db.base import utc_now
from app.db.models import (
    DrugPackage,
    DrugProduct,
    Fill,
    FillBottle,
    Patient,
    Prescription,
    Recall,
    RecallContact,
    RecallItem,
    RecallLot,
    StockLot,
    User,
)
from app.domain.ndc import ndc_candidates
from app.domain.recall_text import MAX_LOT_LENGTH, lot_candidates, ndcs_in_text
from app.domain.roles import Role
from app.errors import EnvironmentFault, NotFound, StaleRecord, ValidationFailed
from app.services.changes import Change, publish_all
from app.services.inventory import (
    STOCK_ROLES,
    InventoryService,
    _lock_package_lots,
    _package_schedule,
    _write_movement,
    shown,
)
from app.services.inventory import TOPIC as STOCK_TOPIC
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role
from app.services.worklist import TOPIC as WORKLIST_TOPIC
from app.services.worklist import close_items, open_item

TOPIC = "recalls"
RECALL = "recall"  # the work-list kind
CLASSIFICATIONS = ("Class I", "Class II", "Class III")
LEVELS = ("consumer", "retail", "wholesale")
# openFDA has no recall depth: a proposal from the classification, changed at confirmation.
PROPOSED_LEVEL = {"Class I": "consumer", "Class II": "retail", "Class III": "retail"}
TO_CONTACT = "to_contact"
CONTACT_STATUSES = (TO_CONTACT, "contacted", "unreachable", "not_required")
CONTACT_LABELS = {
    TO_CONTACT: "To contact",
    "contacted": "Contacted",
    "unreachable": "Unreachable",
    "not_required": "Not required",
}
# A contact closed without reaching the patient must say why.
_NOTE_NEEDED = frozenset({"unreachable", "not_required"})
QUARANTINE_LOCATION = "quarantine shelf"
# The enforcement-report keys a result must carry (strings); the others are read when present.
REQUIRED_KEYS = (
    "recall_number",
    "classification",
    "reason_for_recall",
    "recalling_firm",
    "product_description",
    "code_info",
)
_RECALL_NUMBER_LENGTH = 64  # recalls.recall_number
_FIRM_LENGTH = 200  # recalls.firm


class RecallImportRefused(ValidationFailed):
    """An enforcement file refused whole: `problems` names each bad result and key."""

    code = "recall-import-refused"

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        super().__init__(message, problems=list(problems))
        self.problems = tuple(problems)


class ReadFailed(EnvironmentFault):
    code = "read-failed"


# --- what the UI is given -----------------------------------------------------------------------


@dataclass(frozen=True)
class RecallItemRow:
    package_id: int
    ndc: str
    drug: str
    lot_number: str  # "" = every lot


@dataclass(frozen=True)
class RecallRow:
    recall_id: int
    recall_number: str
    source: str
    classification: str
    level: str
    reason: str
    firm: str
    product_description: str
    initiated_on: date | None
    status: str
    created_at: datetime
    items: tuple[RecallItemRow, ...]
    lots: int
    lots_pulled: int
    contacts: int
    contacts_open: int


@dataclass(frozen=True)
class PullRow:
    """A lot of ours the recall matched: where it is, what it holds now, whether it was pulled."""

    recall_lot_id: int
    lot_id: int
    ndc: str
    drug: str
    lot_number: str
    expiry: date
    location: str
    on_hand_when_matched: Decimal
    on_hand: Decimal
    pulled_at: datetime | None
    pulled_by: str | None


@dataclass(frozen=True)
class ContactRow:
    """A patient who took home stock of a recalled lot (patient data: shown, never logged)."""

    contact_id: int
    patient_id: int
    patient_name: str
    phone: str
    phone_alternate: str
    rx_number: str
    fill_number: int
    fill_state: str
    filled_at: datetime | None
    ndc: str
    lot_number: str
    status: str
    note: str
    updated_by: str | None
    updated_at: datetime | None
    version: int

    @property
    def status_label(self) -> str:
        return CONTACT_LABELS[self.status]


@dataclass(frozen=True)
class RecallWorklist:
    recall: RecallRow
    pulls: tuple[PullRow, ...]
    contacts: tuple[ContactRow, ...]

    @property
    def can_close(self) -> bool:
        return (
            self.recall.status == "open"
            and all(pull.pulled_at is not None for pull in self.pulls)
            and all(contact.status != TO_CONTACT for contact in self.contacts)
        )


@dataclass(frozen=True)
class OurLot:
    lot_id: int
    package_id: int
    ndc: str
    lot_number: str
    status: str
    on_hand: Decimal


@dataclass(frozen=True)
class PackageMatch:
    """A catalogue package an enforcement report names, with every lot of it we hold."""

    package_id: int
    ndc: str
    drug: str
    lots: tuple[OurLot, ...]


@dataclass(frozen=True)
class ReportPreview:
    """One enforcement report as read: what it names, what of ours it may match.

    `ndc_source` says where the NDCs came from: "openfda" (its package_ndc), "text" (the
    product description or code text), "openfda product" (every package of its product_ndc),
    or "" when none was found. `matching_lots` are our lots whose number is a lot candidate.
    """

    index: int
    recall_number: str
    classification: str
    report_status: str
    reason: str
    firm: str
    product_description: str
    code_info: str
    initiated_on: date | None
    proposed_level: str
    ndcs: tuple[str, ...]
    ndc_source: str
    unknown_ndcs: tuple[str, ...]
    packages: tuple[PackageMatch, ...]
    lot_candidates: tuple[str, ...]
    matching_lots: tuple[OurLot, ...]
    already_recorded_id: int | None
    record: dict[str, Any]

    @property
    def importable(self) -> bool:
        return bool(self.packages) and self.already_recorded_id is None


@dataclass(frozen=True)
class ImportPreview:
    reports: tuple[ReportPreview, ...]


@dataclass(frozen=True)
class ImportChoice:
    """A report to record (`index` in the preview) at `level`, with the confirmed items:
    (package id, lot number or "" for every lot)."""

    index: int
    level: str
    items: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class _Header:
    recall_number: str
    classification: str
    level: str
    reason: str
    firm: str
    product_description: str = ""
    initiated_on: date | None = None


# --- input --------------------------------------------------------------------------------------


def _clean(value: object) -> str:
    return " ".join(str(value).split())


def _header(
    *,
    classification: str,
    level: str,
    reason: str,
    firm: str,
    recall_number: str,
    product_description: str = "",
    initiated_on: date | None = None,
) -> _Header:
    if classification not in CLASSIFICATIONS:
        raise ValidationFailed(
            f"“{classification}” is not an FDA recall classification: choose "
            f"{', '.join(CLASSIFICATIONS)}.",
            field="classification",
        )
    if level not in LEVELS:
        raise ValidationFailed(
            f"“{level}” is not a recall level: choose consumer (patients are contacted), "
            "retail or wholesale.",
            field="level",
        )
    why = _clean(reason)
    if not why:
        raise ValidationFailed("Say why the product is recalled.", field="reason")
    number = _clean(recall_number)
    if len(number) > _RECALL_NUMBER_LENGTH:
        raise ValidationFailed(
            f"A recall number has at most {_RECALL_NUMBER_LENGTH} characters.",
            field="recall_number",
        )
    who = _clean(firm)
    if len(who) > _FIRM_LENGTH:
        raise ValidationFailed(
            f"The recalling firm's name has at most {_FIRM_LENGTH} characters.", field="firm"
        )
    return _Header(
        number, classification, level, why, who, _clean(product_description), initiated_on
    )


def _lot_of_item(lot_number: str, *, where: str) -> str:
    lot = str(lot_number).strip().upper()
    if len(lot) > MAX_LOT_LENGTH:
        raise ValidationFailed(f"{where}: a lot number has at most {MAX_LOT_LENGTH} characters.")
    return lot


def _packages_named(session: Session, ndc_text: str) -> list[tuple[int, str]]:
    """The catalogue packages (id, NDC) an NDC typed in any form names; raises when the text is
    no NDC or reads as several catalogued NDCs."""
    candidates = ndc_candidates(ndc_text)
    keys = sorted({candidate.hyphenated for candidate in candidates})
    rows = [
        (package_id, ndc)
        for package_id, ndc in session.execute(
            select(DrugPackage.id, DrugPackage.ndc)
            .where(DrugPackage.ndc.in_(keys))
            .order_by(DrugPackage.ndc, DrugPackage.id)
        )
    ]
    named = sorted({ndc for _, ndc in rows})
    if len(named) > 1:
        raise ValidationFailed(
            f"“{ndc_text.strip()}” can mean {', '.join(named)}: type the NDC with its hyphens "
            "as printed on the package."
        )
    return rows


def _resolve_items(session: Session, items: Sequence[tuple[str, str]]) -> list[tuple[int, str]]:
    """(package id, lot) for each (NDC, lot) typed; every bad item is named, nothing kept."""
    if not items:
        raise ValidationFailed("Name at least one package NDC the recall covers.", field="items")
    problems: list[str] = []
    resolved: dict[tuple[int, str], None] = {}
    for number, (ndc_text, lot_text) in enumerate(items, start=1):
        where = f"Item {number}"
        try:
            lot = _lot_of_item(lot_text, where=where)
            packages = _packages_named(session, str(ndc_text))
        except ValidationFailed as error:
            problems.append(
                error.message if error.message.startswith(where) else f"{where}: {error.message}"
            )
            continue
        if not packages:
            problems.append(
                f"{where}: NDC {str(ndc_text).strip()} is not in the drug catalogue: a pharmacist "
                "adds the product first (or check the NDC)."
            )
            continue
        for package_id, _ in packages:
            resolved.setdefault((package_id, lot), None)
    if problems:
        raise ValidationFailed(
            "The recall was not saved: " + " ".join(problems), problems=problems, field="items"
        )
    return list(resolved)


# --- matching our stock -------------------------------------------------------------------------


def _lot_matches(lot_number: str) -> Any:
    return func.upper(StockLot.lot_number) == lot_number.upper()


def _mark_recalled(uow: UnitOfWork, recall: Recall, lot: StockLot, *, received: bool) -> bool:
    """Put one lot of ours into the recall (the caller locked it): its RecallLot row, its status
    recalled. Returns whether the recall gained something to pull."""
    session = uow.session
    listed = session.scalars(
        select(RecallLot).where(RecallLot.recall_id == recall.id, RecallLot.lot_id == lot.id)
    ).first()
    gained = False
    if listed is None:
        listed = RecallLot(recall_id=recall.id, lot_id=lot.id, on_hand_when_matched=lot.on_hand)
        session.add(listed)
        session.flush()
        uow.audit(
            "recall.lot_matched",
            listed,
            recall_id=recall.id,
            lot_id=lot.id,
            lot=lot.lot_number,
            on_hand=str(lot.on_hand),
            received=received,
        )
        gained = True
    elif listed.pulled_at is not None and received:
        # Stock arrived after the lot was pulled: the new stock must be pulled too.
        before = listed.pulled_at.isoformat()
        listed.pulled_at = None
        listed.pulled_by_user_id = None
        uow.audit(
            "recall.lot_rematched",
            listed,
            before={"pulled_at": before},
            after={"pulled_at": None},
            on_hand=str(lot.on_hand),
        )
        gained = True
    if lot.status != "recalled":
        before_status = lot.status
        lot.status = "recalled"
        uow.audit(
            "stock.lot_recalled",
            lot,
            before={"status": before_status},
            after={"status": "recalled"},
            recall_id=recall.id,
            recall_number=recall.recall_number,
        )
    return gained


def _match_stock(uow: UnitOfWork, recall: Recall, items: Iterable[tuple[int, str]]) -> list[int]:
    """Every lot of ours the items name, put into the recall; returns their lot ids."""
    session = uow.session
    by_package: dict[int, list[str]] = {}
    for package_id, lot_number in items:
        by_package.setdefault(package_id, []).append(lot_number)
    matched: list[int] = []
    for package_id in sorted(by_package):
        _lock_package_lots(session, package_id)
        numbers = by_package[package_id]
        statement = select(StockLot).where(StockLot.package_id == package_id)
        if "" not in numbers:
            statement = statement.where(or_(*(_lot_matches(number) for number in numbers)))
        for lot in session.scalars(statement.order_by(StockLot.id)):
            _mark_recalled(uow, recall, lot, received=False)
            matched.append(lot.id)
    return matched


def _add_contacts(uow: UnitOfWork, recall: Recall, lot_ids: Sequence[int]) -> int:
    """One contact per fill (and lot) that took stock of the lots and was not voided."""
    if not lot_ids:
        return 0
    session = uow.session
    rows = session.execute(
        select(FillBottle.fill_id, FillBottle.lot_id, Prescription.patient_id)
        .join(Fill, Fill.id == FillBottle.fill_id)
        .join(Prescription, Prescription.id == Fill.prescription_id)
        .where(FillBottle.lot_id.in_(sorted(lot_ids)), FillBottle.voided_at.is_(None))
        .distinct()
        .order_by(FillBottle.fill_id, FillBottle.lot_id)
    ).all()
    existing = {
        (fill_id, lot_id)
        for fill_id, lot_id in session.execute(
            select(RecallContact.fill_id, RecallContact.lot_id).where(
                RecallContact.recall_id == recall.id
            )
        )
    }
    added = 0
    for fill_id, lot_id, patient_id in rows:
        if (fill_id, lot_id) in existing or lot_id is None:
            continue
        contact = RecallContact(
            recall_id=recall.id, patient_id=patient_id, fill_id=fill_id, lot_id=lot_id
        )
        session.add(contact)
        session.flush()
        uow.audit(
            "recall.contact_listed",
            contact,
            recall_id=recall.id,
            patient_id=patient_id,
            fill_id=fill_id,
            lot_id=lot_id,
        )
        added += 1
    return added


def quarantine_if_recalled(uow: UnitOfWork, lot: StockLot) -> list[str]:
    """The receiving hook, in the receipt's unit of work (lot locked, stock written): a lot an
    open recall names is recalled and listed to pull. Returns the recall numbers (or ids)."""
    session = uow.session
    recall_ids = session.scalars(
        select(RecallItem.recall_id)
        .join(Recall, Recall.id == RecallItem.recall_id)
        .where(
            Recall.status == "open",
            RecallItem.package_id == lot.package_id,
            or_(
                RecallItem.lot_number == "",
                func.upper(RecallItem.lot_number) == lot.lot_number.upper(),
            ),
        )
        .distinct()
        .order_by(RecallItem.recall_id)
    ).all()
    named: list[str] = []
    for recall_id in recall_ids:
        recall = session.get(Recall, recall_id)
        assert recall is not None  # found above
        _mark_recalled(uow, recall, lot, received=True)
        named.append(recall.recall_number or f"#{recall.id}")
    if named:
        publish_all(
            session,
            [Change(TOPIC, str(recall_id)) for recall_id in recall_ids],
            workstation=uow.actor.workstation,
        )
    return named


def _one_writer_per_number(session: Session, recall_number: str) -> None:
    """Two workstations recording the same recall number at once: the second waits until the
    first commits, then finds its recall (PostgreSQL; SQLite has one writer at a time)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(func.pg_advisory_xact_lock(func.hashtext(f"recall:{recall_number}")))
        )


# --- reading ------------------------------------------------------------------------------------


def _drug(product: DrugProduct) -> str:
    return product.display_name


def _recall_rows(session: Session, recalls: Sequence[Recall]) -> list[RecallRow]:
    ids = [recall.id for recall in recalls]
    if not ids:
        return []
    items: dict[int, list[RecallItemRow]] = {}
    for item, ndc, product in session.execute(
        select(RecallItem, DrugPackage.ndc, DrugProduct)
        .join(DrugPackage, DrugPackage.id == RecallItem.package_id)
        .join(DrugProduct, DrugProduct.id == DrugPackage.product_id)
        .where(RecallItem.recall_id.in_(ids))
        .order_by(DrugPackage.ndc, RecallItem.lot_number)
    ):
        items.setdefault(item.recall_id, []).append(
            RecallItemRow(item.package_id, ndc, _drug(product), item.lot_number)
        )
    lots = {
        recall_id: (count, pulled)
        for recall_id, count, pulled in session.execute(
            select(RecallLot.recall_id, func.count(RecallLot.id), func.count(RecallLot.pulled_at))
            .where(RecallLot.recall_id.in_(ids))
            .group_by(RecallLot.recall_id)
        )
    }
    contacts: dict[int, tuple[int, int]] = {}
    for recall_id, status, count in session.execute(
        select(RecallContact.recall_id, RecallContact.status, func.count(RecallContact.id))
        .where(RecallContact.recall_id.in_(ids))
        .group_by(RecallContact.recall_id, RecallContact.status)
    ):
        total, waiting = contacts.get(recall_id, (0, 0))
        contacts[recall_id] = (total + count, waiting + (count if status == TO_CONTACT else 0))
    return [
        RecallRow(
            recall_id=recall.id,
            recall_number=recall.recall_number,
            source=recall.source,
            classification=recall.classification,
            level=recall.level,
            reason=recall.reason,
            firm=recall.firm,
            product_description=recall.product_description,
            initiated_on=recall.initiated_on,
            status=recall.status,
            created_at=recall.created_at,
            items=tuple(items.get(recall.id, ())),
            lots=lots.get(recall.id, (0, 0))[0],
            lots_pulled=lots.get(recall.id, (0, 0))[1],
            contacts=contacts.get(recall.id, (0, 0))[0],
            contacts_open=contacts.get(recall.id, (0, 0))[1],
        )
        for recall in recalls
    ]


def _recall_row(session: Session, recall_id: int) -> RecallRow:
    session.flush()
    recall = session.get(Recall, recall_id)
    if recall is None:
        raise NotFound(f"There is no recall {recall_id}.", recall_id=recall_id)
    return _recall_rows(session, [recall])[0]


def _pull_rows(session: Session, recall_id: int) -> list[PullRow]:
    return [
        PullRow(
            recall_lot_id=listed.id,
            lot_id=lot.id,
            ndc=ndc,
            drug=_drug(product),
            lot_number=lot.lot_number,
            expiry=lot.expiry,
            location=lot.location,
            on_hand_when_matched=listed.on_hand_when_matched,
            on_hand=lot.on_hand,
            pulled_at=listed.pulled_at,
            pulled_by=username,
        )
        for listed, lot, ndc, product, username in session.execute(
            select(RecallLot, StockLot, DrugPackage.ndc, DrugProduct, User.username)
            .join(StockLot, StockLot.id == RecallLot.lot_id)
            .join(DrugPackage, DrugPackage.id == StockLot.package_id)
            .join(DrugProduct, DrugProduct.id == DrugPackage.product_id)
            .outerjoin(User, User.id == RecallLot.pulled_by_user_id)
            .where(RecallLot.recall_id == recall_id)
            .order_by(DrugPackage.ndc, StockLot.lot_number)
        )
    ]


def _contact_rows(session: Session, recall_id: int) -> list[ContactRow]:
    filled = (
        select(
            FillBottle.fill_id,
            FillBottle.lot_id,
            func.min(FillBottle.scanned_at).label("filled_at"),
        )
        .where(FillBottle.voided_at.is_(None))
        .group_by(FillBottle.fill_id, FillBottle.lot_id)
        .subquery()
    )
    return [
        ContactRow(
            contact_id=contact.id,
            patient_id=patient.id,
            patient_name=patient.display_name,
            phone=patient.phone,
            phone_alternate=patient.phone_alternate,
            rx_number=rx_number,
            fill_number=fill_number,
            fill_state=fill_state,
            filled_at=filled_at,
            ndc=ndc,
            lot_number=lot_number,
            status=contact.status,
            note=contact.note,
            updated_by=username,
            updated_at=contact.updated_at,
            version=contact.version,
        )
        for (
            contact,
            patient,
            rx_number,
            fill_number,
            fill_state,
            filled_at,
            ndc,
            lot_number,
            username,
        ) in session.execute(
            select(
                RecallContact,
                Patient,
                Prescription.rx_number,
                Fill.fill_number,
                Fill.state,
                filled.c.filled_at,
                DrugPackage.ndc,
                StockLot.lot_number,
                User.username,
            )
            .join(Patient, Patient.id == RecallContact.patient_id)
            .join(Fill, Fill.id == RecallContact.fill_id)
            .join(Prescription, Prescription.id == Fill.prescription_id)
            .join(StockLot, StockLot.id == RecallContact.lot_id)
            .join(DrugPackage, DrugPackage.id == StockLot.package_id)
            .outerjoin(
                filled,
                (filled.c.fill_id == RecallContact.fill_id)
                & (filled.c.lot_id == RecallContact.lot_id),
            )
            .outerjoin(User, User.id == RecallContact.updated_by_user_id)
            .where(RecallContact.recall_id == recall_id)
            .order_by(Patient.last_name, Patient.first_name, Prescription.rx_number, Fill.id)
        )
    ]


# --- the openFDA enforcement file ---------------------------------------------------------------


def _read_text(json_or_path: str | Path) -> str:
    if isinstance(json_or_path, Path):
        try:
            return json_or_path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise RecallImportRefused(
                f"{json_or_path.name} is not UTF-8 text: save the FDA download as it came."
            ) from None
        except OSError as failure:
            raise ReadFailed(
                f"{json_or_path} could not be read: {failure.strerror or failure}.",
                path=str(json_or_path),
            ) from None
    return json_or_path


def _string_list(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _initiated(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def _parse_reports(text: str) -> list[dict[str, Any]]:
    """The results of an enforcement report, checked; refused whole with every problem."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecallImportRefused(
            f"The file is not JSON (line {error.lineno}, column {error.colno}: {error.msg}): "
            "use the openFDA drug enforcement download as it came."
        ) from None
    if not isinstance(document, dict) or "results" not in document:
        raise RecallImportRefused(
            "The file is not an openFDA drug enforcement report: it has no “results” list."
        )
    results = document["results"]
    if not isinstance(results, list) or not results:
        raise RecallImportRefused("The report's “results” is not a list of recalls, or is empty.")
    problems: list[str] = []
    for number, result in enumerate(results, start=1):
        where = f"Result {number}"
        if not isinstance(result, dict):
            problems.append(f"{where} is not an object.")
            continue
        for key in REQUIRED_KEYS:
            if key not in result:
                problems.append(f"{where} has no “{key}”.")
            elif not isinstance(result[key], str):
                problems.append(f"{where}: “{key}” is not text.")
        classification = result.get("classification")
        if isinstance(classification, str) and classification not in CLASSIFICATIONS:
            problems.append(
                f"{where}: “classification” is “{classification}”, not Class I, II or III."
            )
        number_text = result.get("recall_number")
        if isinstance(number_text, str) and not _clean(number_text):
            problems.append(f"{where}: “recall_number” is empty.")
        if isinstance(number_text, str) and len(_clean(number_text)) > _RECALL_NUMBER_LENGTH:
            problems.append(f"{where}: “recall_number” is longer than {_RECALL_NUMBER_LENGTH}.")
        reason = result.get("reason_for_recall")
        if isinstance(reason, str) and not _clean(reason):
            problems.append(f"{where}: “reason_for_recall” is empty.")
        started = result.get("recall_initiation_date", "")
        if started and (not isinstance(started, str) or _initiated(started) is None):
            problems.append(f"{where}: “recall_initiation_date” is not a date YYYYMMDD.")
        if "openfda" in result and not isinstance(result["openfda"], dict):
            problems.append(f"{where}: “openfda” is not an object.")
    if problems:
        raise RecallImportRefused(
            "The enforcement report was not imported: " + " ".join(problems), problems=problems
        )
    return results


def _our_lots(session: Session, package_ids: Sequence[int]) -> list[OurLot]:
    if not package_ids:
        return []
    return [
        OurLot(lot.id, lot.package_id, ndc, lot.lot_number, lot.status, lot.on_hand)
        for lot, ndc in session.execute(
            select(StockLot, DrugPackage.ndc)
            .join(DrugPackage, DrugPackage.id == StockLot.package_id)
            .where(StockLot.package_id.in_(sorted(package_ids)))
            .order_by(DrugPackage.ndc, StockLot.lot_number)
        )
    ]


def _preview_report(session: Session, index: int, result: dict[str, Any]) -> ReportPreview:
    openfda = result.get("openfda") or {}
    description = _clean(result["product_description"])
    code_info = str(result["code_info"])
    ndcs = _string_list(openfda.get("package_ndc"))
    source = "openfda" if ndcs else ""
    if not ndcs:
        ndcs = ndcs_in_text(f"{description}\n{code_info}")
        source = "text" if ndcs else ""
    packages: dict[int, str] = {}
    unknown: list[str] = []
    for ndc_text in ndcs:
        try:
            found = _packages_named(session, ndc_text)
        except ValidationFailed:
            found = []
        if not found:
            unknown.append(ndc_text)
        packages.update(found)
    if not ndcs:
        products = _string_list(openfda.get("product_ndc"))
        rows = session.execute(
            select(DrugPackage.id, DrugPackage.ndc)
            .join(DrugProduct, DrugProduct.id == DrugPackage.product_id)
            .where(DrugProduct.product_ndc.in_(products))
        ).all()
        packages.update(dict(rows))
        ndcs, source = products, ("openfda product" if products else "")
        unknown = [] if rows else products
    names = {
        package_id: (ndc, _drug(product))
        for package_id, ndc, product in session.execute(
            select(DrugPackage.id, DrugPackage.ndc, DrugProduct)
            .join(DrugProduct, DrugProduct.id == DrugPackage.product_id)
            .where(DrugPackage.id.in_(sorted(packages)))
        )
    }
    lots = _our_lots(session, list(packages))
    candidates = lot_candidates(code_info)
    wanted = {lot.upper() for lot in candidates}
    recall_number = _clean(result["recall_number"])
    already = session.scalar(
        select(func.min(Recall.id)).where(Recall.recall_number == recall_number)
    )
    classification = result["classification"]
    return ReportPreview(
        index=index,
        recall_number=recall_number,
        classification=classification,
        report_status=_clean(result.get("status", "")),
        reason=_clean(result["reason_for_recall"]),
        firm=_clean(result["recalling_firm"])[:_FIRM_LENGTH],
        product_description=description,
        code_info=_clean(code_info),
        initiated_on=_initiated(str(result.get("recall_initiation_date", ""))),
        proposed_level=PROPOSED_LEVEL[classification],
        ndcs=tuple(ndcs),
        ndc_source=source,
        unknown_ndcs=tuple(unknown),
        packages=tuple(
            PackageMatch(
                package_id,
                names[package_id][0],
                names[package_id][1],
                tuple(lot for lot in lots if lot.package_id == package_id),
            )
            for package_id in sorted(packages, key=lambda key: (names[key][0], key))
        ),
        lot_candidates=tuple(candidates),
        matching_lots=tuple(lot for lot in lots if lot.lot_number.upper() in wanted),
        already_recorded_id=already,
        record=result,
    )


# --- the service --------------------------------------------------------------------------------


class RecallService:
    def __init__(self, database: Database) -> None:
        self._db = database

    # --- recording a recall -----------------------------------------------------------------

    def enter(
        self,
        actor: Actor,
        *,
        classification: str,
        level: str,
        reason: str,
        firm: str,
        recall_number: str,
        items: Sequence[tuple[str, str]],
        product_description: str = "",
        initiated_on: date | None = None,
    ) -> RecallRow:
        """Record a recall typed from the notice: `items` are (package NDC in any form, lot
        number or "" for every lot); every bad item is named and nothing is written. Our lots it
        names are recalled at once (see the module's description of the levels)."""
        require_role(actor, *STOCK_ROLES, action="record a recall")
        header = _header(
            classification=classification,
            level=level,
            reason=reason,
            firm=firm,
            recall_number=recall_number,
            product_description=product_description,
            initiated_on=initiated_on,
        )
        with self._db.unit_of_work(actor) as uow:
            resolved = _resolve_items(uow.session, items)
            recall = self._record(uow, header, resolved, source="manual", record={})
            return _recall_row(uow.session, recall.id)

    def preview(self, actor: Actor, json_or_path: str | Path) -> ImportPreview:
        """Read an openFDA drug enforcement report (JSON text, or a Path to the file) and show
        what each result names and may match; nothing is written. A malformed file is refused
        whole, naming each result and key at fault."""
        require_role(actor, *STOCK_ROLES, action="import recalls")
        results = _parse_reports(_read_text(json_or_path))
        with self._db.reading() as session:
            return ImportPreview(
                tuple(
                    _preview_report(session, index, result) for index, result in enumerate(results)
                )
            )

    def confirm(
        self, actor: Actor, preview: ImportPreview, choices: Sequence[ImportChoice]
    ) -> list[RecallRow]:
        """Record the chosen reports of a preview, each with its confirmed items and level: all
        of them or none. A recall number recorded already (by another import or workstation
        since the preview) is refused, so an import never records a recall twice."""
        require_role(actor, *STOCK_ROLES, action="import recalls")
        if not choices:
            raise ValidationFailed("Choose at least one recall to import.")
        by_index = {report.index: report for report in preview.reports}
        problems: list[str] = []
        planned: list[tuple[ReportPreview, _Header, list[tuple[int, str]]]] = []
        seen: set[str] = set()
        for choice in choices:
            report = by_index.get(choice.index)
            if report is None:
                problems.append(f"There is no result {choice.index + 1} in the report.")
                continue
            where = f"Recall {report.recall_number}"
            if report.recall_number in seen:
                problems.append(f"{where} is chosen twice.")
                continue
            seen.add(report.recall_number)
            named = {package.package_id for package in report.packages}
            items: dict[tuple[int, str], None] = {}
            for package_id, lot_text in choice.items:
                if package_id not in named:
                    problems.append(f"{where} does not name package {package_id}.")
                    continue
                try:
                    items.setdefault((package_id, _lot_of_item(lot_text, where=where)), None)
                except ValidationFailed as error:
                    problems.append(error.message)
            if not items:
                problems.append(f"{where}: confirm at least one package and lot.")
            try:
                header = _header(
                    classification=report.classification,
                    level=choice.level,
                    reason=report.reason,
                    firm=report.firm,
                    recall_number=report.recall_number,
                    product_description=report.product_description,
                    initiated_on=report.initiated_on,
                )
            except ValidationFailed as error:
                problems.append(f"{where}: {error.message}")
                continue
            planned.append((report, header, list(items)))
        if problems:
            raise ValidationFailed("Nothing was imported: " + " ".join(problems), problems=problems)
        with self._db.unit_of_work(actor) as uow:
            recorded = [
                self._record(uow, header, items, source="openfda", record=report.record)
                for report, header, items in planned
            ]
            uow.session.flush()
            return _recall_rows(uow.session, recorded)

    def _record(
        self,
        uow: UnitOfWork,
        header: _Header,
        items: Sequence[tuple[int, str]],
        *,
        source: str,
        record: dict[str, Any],
    ) -> Recall:
        session, actor = uow.session, uow.actor
        if header.recall_number:
            _one_writer_per_number(session, header.recall_number)
            earlier = session.scalar(
                select(func.min(Recall.id)).where(Recall.recall_number == header.recall_number)
            )
            if earlier is not None:
                raise ValidationFailed(
                    f"Recall {header.recall_number} is already recorded (recall {earlier}): "
                    "open it from the recalls list.",
                    recall_id=earlier,
                    field="recall_number",
                )
        recall = Recall(
            recall_number=header.recall_number,
            source=source,
            classification=header.classification,
            level=header.level,
            reason=header.reason,
            firm=header.firm,
            product_description=header.product_description,
            initiated_on=header.initiated_on,
            source_record=record,
            created_by_user_id=actor.user_id,
        )
        session.add(recall)
        session.flush()
        uow.audit(
            "recall.imported" if source == "openfda" else "recall.entered",
            recall,
            recall_number=header.recall_number,
            classification=header.classification,
            level=header.level,
            firm=header.firm,
            items=len(items),
        )
        for package_id, lot in items:
            item = RecallItem(recall_id=recall.id, package_id=package_id, lot_number=lot)
            session.add(item)
            session.flush()
            uow.audit(
                "recall.item_added", item, recall_id=recall.id, package_id=package_id, lot=lot
            )
        matched = _match_stock(uow, recall, items)
        contacts = _add_contacts(uow, recall, matched) if header.level == "consumer" else 0
        name = header.recall_number or f"#{recall.id}"
        open_item(
            uow,
            kind=RECALL,
            entity_type="recalls",
            entity_id=str(recall.id),
            summary=f"Recall {name} ({header.classification}, {header.level} level): "
            f"{len(matched)} lot{'s' if len(matched) != 1 else ''} of ours to pull, "
            f"{contacts} patient contact{'s' if contacts != 1 else ''} · {header.firm}",
        )
        packages = sorted({package_id for package_id, _ in items})
        publish_all(
            session,
            [
                Change(TOPIC, str(recall.id)),
                Change(WORKLIST_TOPIC, None),
                *(Change(STOCK_TOPIC, str(package_id)) for package_id in packages),
            ],
            workstation=actor.workstation,
        )
        return recall

    # --- the recall's work ------------------------------------------------------------------

    def worklist(self, actor: Actor, recall_id: int) -> RecallWorklist:
        """The recall with its stock to pull and patients to contact. Showing the patients is a
        view of patient records, so it is audited (which patients were shown, to whom)."""
        require_role(actor, *STOCK_ROLES, action="see a recall's work")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            recall = _recall_row(session, recall_id)
            contacts = _contact_rows(session, recall_id)
            if contacts:
                uow.audit(
                    "recall.contacts_viewed",
                    entity_type="recalls",
                    entity_id=str(recall_id),
                    patient_ids=sorted({contact.patient_id for contact in contacts}),
                )
            return RecallWorklist(recall, tuple(_pull_rows(session, recall_id)), tuple(contacts))

    def recalls(self, actor: Actor, status: str | None = "open") -> list[RecallRow]:
        """Recalls with `status` ("open", "closed", or None for all), newest first."""
        require_role(actor, *STOCK_ROLES, Role.ADMINISTRATOR, action="see recalls")
        if status not in ("open", "closed", None):
            raise ValidationFailed(
                f"“{status}” is not a recall status: open or closed.", field="status"
            )
        statement = select(Recall).order_by(Recall.created_at.desc(), Recall.id.desc())
        if status is not None:
            statement = statement.where(Recall.status == status)
        with self._db.reading() as session:
            return _recall_rows(session, session.scalars(statement).all())

    def mark_pulled(
        self, actor: Actor, recall_lot_id: int, *, return_to_vendor: bool = False
    ) -> PullRow:
        """The lot's stock was taken off the shelf: the lot is kept on the quarantine shelf,
        or with `return_to_vendor` all its stock on hand goes back to the seller (a
        returned-to-vendor movement, in the controlled-substance log for CII–CV)."""
        require_role(actor, *STOCK_ROLES, action="pull recalled stock")
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            listed = session.get(RecallLot, recall_lot_id)
            if listed is None:
                raise NotFound(f"There is no recalled lot {recall_lot_id} to pull.")
            recall = session.get(Recall, listed.recall_id)
            assert recall is not None  # a foreign key
            lot_id = listed.lot_id
            package_id = session.scalars(
                select(StockLot.package_id).where(StockLot.id == lot_id)
            ).one()
            _lock_package_lots(session, package_id)
            session.refresh(listed, with_for_update=True)
            lot = session.get(StockLot, lot_id)
            assert lot is not None  # locked above
            name = recall.recall_number or f"#{recall.id}"
            if recall.status != "open":
                raise ValidationFailed(f"Recall {name} is closed: its lots were pulled.")
            if listed.pulled_at is not None:
                raise ValidationFailed(
                    f"Lot {lot.lot_number} was already pulled for recall {name}."
                )
            before = lot.location
            lot.location = QUARANTINE_LOCATION
            returned = None
            if return_to_vendor and lot.on_hand > 0:
                schedule = _package_schedule(session, package_id)
                written = _write_movement(
                    uow,
                    lot,
                    kind="returned_to_vendor",
                    change=-lot.on_hand,
                    reason=f"Recall {name}: returned to the vendor",
                    schedule=schedule,
                )
                InventoryService._audit_movement(
                    uow,
                    "stock.returned_to_vendor",
                    lot,
                    written,
                    schedule,
                    None,
                    recall_id=recall.id,
                )
                returned = shown(-written.movement.quantity)
            listed.pulled_at = utc_now()
            listed.pulled_by_user_id = actor.user_id
            uow.audit(
                "recall.lot_pulled",
                listed,
                recall_id=recall.id,
                lot_id=lot.id,
                lot=lot.lot_number,
                location_before=before,
                location=lot.location,
                returned_to_vendor=returned,
            )
            publish_all(
                session,
                [Change(TOPIC, str(recall.id)), Change(STOCK_TOPIC, str(package_id))],
                workstation=actor.workstation,
            )
            session.flush()
            return next(
                row for row in _pull_rows(session, recall.id) if row.recall_lot_id == listed.id
            )

    def set_contact_status(
        self,
        actor: Actor,
        contact_id: int,
        status: str,
        note: str = "",
        *,
        expected_version: int | None = None,
    ) -> ContactRow:
        """Record how contacting a patient went; "unreachable" and "not required" need a note
        saying why. `expected_version` (as read) refuses a contact changed since (StaleRecord)."""
        require_role(actor, *STOCK_ROLES, action="record a recall contact")
        if status not in CONTACT_STATUSES:
            raise ValidationFailed(
                f"“{status}” is not a contact status: "
                f"{', '.join(CONTACT_LABELS[known].lower() for known in CONTACT_STATUSES)}.",
                field="status",
            )
        text = _clean(note)
        if status in _NOTE_NEEDED and not text:
            raise ValidationFailed(
                f"Say why the patient is {CONTACT_LABELS[status].lower()}: write a note "
                "(e.g. the calls tried, or why no call is needed).",
                field="note",
            )
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            contact = session.get(RecallContact, contact_id, with_for_update=True)
            if contact is None:
                raise NotFound(f"There is no recall contact {contact_id}.")
            recall = session.get(Recall, contact.recall_id)
            assert recall is not None  # a foreign key
            if recall.status != "open":
                raise ValidationFailed(
                    f"Recall {recall.recall_number or recall.id} is closed: its contacts are "
                    "kept as they were."
                )
            if expected_version is not None and contact.version != expected_version:
                raise StaleRecord(
                    "Someone else updated this patient's contact since you read it: nothing was "
                    "saved. Reload and try again.",
                    contact_id=contact_id,
                )
            if (contact.status, contact.note) == (status, text):
                raise ValidationFailed(
                    f"The contact is already {CONTACT_LABELS[status].lower()} with this note."
                )
            before = {"status": contact.status, "note": contact.note}
            contact.status, contact.note = status, text
            contact.updated_by_user_id = actor.user_id
            contact.updated_at = utc_now()
            uow.audit(
                "recall.contact_updated",
                contact,
                before=before,
                after={"status": status, "note": text},
                recall_id=recall.id,
                patient_id=contact.patient_id,
            )
            publish_all(session, [Change(TOPIC, str(recall.id))], workstation=actor.workstation)
            session.flush()
            return next(
                row for row in _contact_rows(session, recall.id) if row.contact_id == contact.id
            )

    def close(self, actor: Actor, recall_id: int, note: str = "") -> RecallRow:
        """A pharmacist closes the recall once every lot is pulled and every patient contact
        is resolved; its work-list item closes with it. The lots stay recalled."""
        require_role(actor, Role.PHARMACIST, action="close a recall")
        text = _clean(note)
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            recall = session.get(Recall, recall_id, with_for_update=True)
            if recall is None:
                raise NotFound(f"There is no recall {recall_id}.", recall_id=recall_id)
            name = recall.recall_number or f"#{recall.id}"
            if recall.status != "open":
                raise ValidationFailed(f"Recall {name} is already closed.")
            unpulled = session.scalar(
                select(func.count(RecallLot.id)).where(
                    RecallLot.recall_id == recall_id, RecallLot.pulled_at.is_(None)
                )
            )
            waiting = session.scalar(
                select(func.count(RecallContact.id)).where(
                    RecallContact.recall_id == recall_id, RecallContact.status == TO_CONTACT
                )
            )
            if unpulled or waiting:
                left = []
                if unpulled:
                    left.append(f"{unpulled} lot{'s' if unpulled != 1 else ''} to pull")
                if waiting:
                    left.append(f"{waiting} patient{'s' if waiting != 1 else ''} to contact")
                raise ValidationFailed(
                    f"Recall {name} cannot be closed yet: {' and '.join(left)}.",
                    unpulled=unpulled,
                    to_contact=waiting,
                )
            recall.status = "closed"
            recall.closed_at = utc_now()
            recall.closed_by_user_id = actor.user_id
            uow.audit(
                "recall.closed",
                recall,
                before={"status": "open"},
                after={"status": "closed"},
                note=text,
            )
            close_items(
                uow, entity_type="recalls", entity_id=str(recall_id), kinds=frozenset({RECALL})
            )
            publish_all(
                session,
                [Change(TOPIC, str(recall_id)), Change(WORKLIST_TOPIC, None)],
                workstation=actor.workstation,
            )
            return _recall_row(session, recall_id)

"""Prescription labels: what each container's label says, and the rules around printing it.

`contents` builds the label from the fill's records in one read: the same data feeds the live
preview, the printer and the PDF. Printing itself is the Label dock's or the command line's;
they call `record_print` only once the job reached the printer or the file, so a print that
failed is never recorded. A fill's label prints once the pharmacist's data review is done; every
print after the first is a reprint, marked on the label and recorded with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import (
    CatalogueSnapshot,
    DrugPackage,
    DrugProduct,
    Fill,
    FillBottle,
    LabelPrint,
    Pharmacy,
    Prescription,
    StockLot,
    User,
)
from app.domain.auxiliary_warnings import AuxiliaryRule, DrugFacts, auxiliary_warnings
from app.domain.barcodes import rx_label_payload
from app.domain.fill_states import FillState
from app.domain.label_text import (
    discard_after,
    drug_line,
    drug_name,
    label_problems,
    quantity_text,
    refills_text,
    strength_text,
)
from app.domain.labels import LabelContent, LabelLanguage, LabelStock, PharmacyHeading
from app.domain.roles import Role
from app.domain.sig import expand_sig, ismp_problems, spanish_directions
from app.domain.workflow import ReasonRequired
from app.errors import NotFound, StaleRecord, ValidationFailed
from app.services.changes import Change, publish, publish_all
from app.services.fills import FillRow, read_fill_row
from app.services.house_settings import (
    HouseSettingsService,
    LabelPolicy,
    read_house_settings,
    read_label_policy,
)
from app.services.unit_of_work import Actor, Database, require_role
from app.services.workflow import TOPIC as FILLS_TOPIC
from app.services.workflow import FillHeldByAnother

TOPIC = "labels"
PRINTING_ROLES = (Role.TECHNICIAN, Role.PHARMACIST)
TRANSFER_CAUTION = (
    "Caution: Federal law prohibits the transfer of this drug to any person other than the "
    "patient for whom it was prescribed."
)
_TRANSFER_SCHEDULES = frozenset({"CII", "CIII", "CIV"})
# A label prints once the pharmacist has reviewed the data entry, never for a withdrawn fill.
_NOT_YET_REVIEWED = frozenset({FillState.INTAKE, FillState.DATA_ENTRY, FillState.DATA_REVIEW})
_WITHDRAWN = frozenset({FillState.CANCELLED, FillState.RETURNED_TO_STOCK})
_BRAND_CATEGORIES = ("NDA", "BLA")
_MAX_CONTAINERS = 99
_MAX_PHYSICAL_DESCRIPTION = 200
_MAX_DESTINATION = 255  # label_prints.destination
_MAX_LABEL_COUNT = 999


class LabelRefused(ValidationFailed):
    """The label cannot be printed now; the preview still shows it with the reason."""

    code = "label-refused"


class PhysicalDescriptionRequired(LabelRefused):
    """The pharmacy's state requires the dosage unit's description, and the NDC has none."""

    code = "physical-description-required"


class PrintKind(StrEnum):
    ORIGINAL = "original"
    REPRINT = "reprint"


@dataclass(frozen=True)
class LabelPrintRow:
    """One recorded print of a fill's label, as the Label dock's history shows it."""

    id: int
    fill_id: int
    kind: PrintKind
    reason: str
    destination: str
    stock_name: str
    label_count: int
    language: LabelLanguage
    discard_after: date
    username: str | None
    workstation: str
    printed_at: datetime


@dataclass(frozen=True)
class LabelledFill:
    fill_id: int
    rx_number: str
    fill_number: int


def printing_refusal_text(
    state: FillState, resume_state: FillState | None, rx_number: str, fill_number: int
) -> str | None:
    """Why a fill in `state` may not have its label printed, or None when it may."""
    rx = f"Rx {rx_number}-{fill_number}"
    if state in _NOT_YET_REVIEWED:
        return (
            f"{rx} is at “{state.label}”: its label prints only after the pharmacist's data "
            "review. Preview it meanwhile."
        )
    if state is FillState.ON_HOLD and resume_state in _NOT_YET_REVIEWED:
        assert resume_state is not None
        return (
            f"{rx} is on hold from “{resume_state.label}”: its label prints only after the "
            "pharmacist's data review. Preview it meanwhile."
        )
    if state in _WITHDRAWN:
        return f"{rx} is {state.label.lower()}: its label cannot be printed."
    return None


def _folded(text: str) -> str:
    return " ".join(text.split()).rstrip(".").casefold()


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if not text or text.endswith((".", "!", "?")) else f"{text}."


def _indication(text: str) -> str:
    """The purpose as the label says it: "Hypertension" → "for hypertension", "COPD" kept."""
    text = " ".join(text.split())
    if not text:
        return ""
    first = text.split()[0]
    if first[:1].isupper() and first[1:] == first[1:].lower():
        text = text[0].lower() + text[1:]
    return f"for {text}"


def _is_brand(
    marketing_category: str, proprietary_name: str, nonproprietary_name: str, substance_name: str
) -> bool:
    """A product sold under an application of its own and a name that is not the generic's."""
    name = _folded(proprietary_name)
    return (
        marketing_category in _BRAND_CATEGORIES
        and bool(name)
        and name not in {_folded(nonproprietary_name), _folded(substance_name)}
    )


@dataclass(frozen=True)
class _Brand:
    name: str
    strength: str
    strength_unit: str


@dataclass(frozen=True)
class _BrandNames:
    """Every brand product by active substance and dosage form, read once per catalogue state:
    finding the brand of a generic would otherwise scan the whole directory on every label."""

    catalogue_state: tuple[int | None, int | None]
    by_contents: dict[tuple[str, str], list[_Brand]]


def _catalogue_state(session: Session) -> tuple[int | None, int | None]:
    """Changes with every import (a new snapshot) and every product a pharmacist adds."""
    return (
        session.scalar(select(func.max(CatalogueSnapshot.id))),
        session.scalar(select(func.max(DrugProduct.id))),
    )


def _read_brands(session: Session) -> dict[tuple[str, str], list[_Brand]]:
    """Brand products, marketed ones first, by (substance, dosage form)."""
    rows = session.execute(
        select(
            DrugProduct.marketing_category,
            DrugProduct.proprietary_name,
            DrugProduct.nonproprietary_name,
            DrugProduct.substance_name,
            DrugProduct.dosage_form,
            DrugProduct.strength,
            DrugProduct.strength_unit,
        )
        .where(DrugProduct.marketing_category.in_(_BRAND_CATEGORIES))
        .order_by(DrugProduct.discontinued, DrugProduct.proprietary_name, DrugProduct.id)
    )
    brands: dict[tuple[str, str], list[_Brand]] = {}
    for row in rows:
        if _is_brand(
            row.marketing_category,
            row.proprietary_name,
            row.nonproprietary_name,
            row.substance_name,
        ):
            brands.setdefault((row.substance_name, row.dosage_form), []).append(
                _Brand(row.proprietary_name, row.strength, row.strength_unit)
            )
    return brands


def _heading(pharmacy: Pharmacy | None) -> PharmacyHeading:
    if pharmacy is None:
        return PharmacyHeading("", "", "")
    street = ", ".join(part for part in (pharmacy.address_line1, pharmacy.address_line2) if part)
    return PharmacyHeading(
        name=pharmacy.name,
        address=f"{street}, {pharmacy.city}, {pharmacy.state} {pharmacy.postal_code}",
        phone=pharmacy.phone,
    )


def _print_row(row: LabelPrint, username: str | None) -> LabelPrintRow:
    return LabelPrintRow(
        id=row.id,
        fill_id=row.fill_id,
        kind=PrintKind(row.kind),
        reason=row.reason,
        destination=row.destination,
        stock_name=row.stock_name,
        label_count=row.label_count,
        language=LabelLanguage(row.language),
        discard_after=row.discard_after,
        username=username,
        workstation=row.workstation,
        printed_at=row.printed_at,
    )


def _get_fill(session: Session, fill_id: int, *, lock: bool = False) -> Fill:
    fill = session.get(Fill, fill_id, with_for_update=lock)
    if fill is None:
        raise NotFound(f"There is no fill with id {fill_id}.", fill_id=fill_id)
    return fill


def _fill_refusal(fill: Fill) -> str | None:
    resume = FillState(fill.resume_state) if fill.resume_state else None
    return printing_refusal_text(
        FillState(fill.state), resume, fill.prescription.rx_number, fill.fill_number
    )


@dataclass(frozen=True)
class _Directions:
    text: str
    language: LabelLanguage


class LabelService:
    def __init__(self, database: Database, *, today: Callable[[], date] = date.today) -> None:
        self._db = database
        self._today = today
        self._settings = HouseSettingsService(database)
        self._brands: _BrandNames | None = None

    # --- what the label says ------------------------------------------------------------------

    def contents(
        self,
        actor: Actor,
        fill_id: int,
        *,
        language: LabelLanguage | None = None,
        for_print: bool = False,
    ) -> list[LabelContent]:
        """One label per container of the fill, in `language` (None: the patient's).

        A preview always succeeds and lists what stands in the way of printing in `notices`;
        with `for_print` the same problems refuse (LabelRefused) and a fill printed before
        gives reprint labels.
        """
        require_role(actor, *Role, action="see a prescription label")
        wanted = None if language is None else self._language(language)
        with self._db.reading() as session:
            fill = _get_fill(session, fill_id)
            notices: list[str] = []

            def problem(
                message: str, error: type[LabelRefused] = LabelRefused, **facts: object
            ) -> None:
                """Refuse a print; add a notice to a preview."""
                if for_print:
                    raise error(message, fill_id=fill_id, **facts)
                notices.append(message)

            if refusal := _fill_refusal(fill):
                problem(refusal)
            label = self._label(session, fill, wanted, problem, notices)
            label = replace(label, reprint=for_print and self._printed_before(session, fill.id))
            for field, problems in label_problems(label).items():
                problem(
                    f"The {field.replace('_', ' ')} uses an error-prone form: {' '.join(problems)}",
                    field=field,
                )
            label = replace(label, notices=tuple(notices))
            count = fill.containers
            return [
                replace(label, container_index=index, container_count=count)
                for index in range(1, count + 1)
            ]

    def _label(
        self,
        session: Session,
        fill: Fill,
        wanted: LabelLanguage | None,
        problem: Callable[..., None],
        notices: list[str],
    ) -> LabelContent:
        prescription = fill.prescription
        patient = prescription.patient
        package = fill.dispensed_package or prescription.package
        product = package.product
        policy = read_label_policy(session)
        pharmacy = session.scalars(select(Pharmacy).order_by(Pharmacy.id)).first()
        if pharmacy is None:
            problem("The pharmacy's name, address and phone are not set up: enter them first.")

        schedule = product.dea_schedule or ""
        directions = self._directions(session, prescription, wanted, policy, notices)
        description = ""
        if pharmacy is not None and pharmacy.state in policy.physical_description_states:
            description = " ".join(package.physical_description.split())
            if not description:
                problem(
                    f"{pharmacy.state} requires the label to describe the dosage unit, and NDC "
                    f"{package.ndc} has no physical description: a pharmacist enters what it "
                    "looks like before the label is printed.",
                    PhysicalDescriptionRequired,
                    ndc=package.ndc,
                    state=pharmacy.state,
                )
        fill_date = self._fill_date(session, fill)
        expiries = self._lot_expiries(session, fill.id)
        if not expiries:
            notices.append(
                f"No lot is scanned yet: the discard-after date is {policy.discard_after_months} "
                "months from the fill date until a bottle is scanned."
            )
        facts = DrugFacts(
            route=product.route,
            dosage_form=product.dosage_form,
            pharmacologic_class=product.pharm_classes,
            dea_schedule=schedule,
            active_ingredient=product.substance_name,
        )
        name = f"{product.proprietary_name} {product.proprietary_name_suffix}".strip()
        first_name, last_name = patient.first_name.strip(), patient.last_name.strip()
        return LabelContent(
            pharmacy=_heading(pharmacy),
            rx_number=prescription.rx_number,
            fill_number=fill.fill_number,
            fill_date=fill_date,
            patient_name=" ".join(part for part in (first_name, last_name) if part),
            drug_line=drug_line(
                name or product.nonproprietary_name,
                product.strength,
                product.strength_unit,
                product.dosage_form,
            ),
            generic_for=self._generic_for(session, product),
            directions=directions.text,
            indication=_indication(prescription.indication),
            quantity=quantity_text(
                fill.quantity,
                billing_unit=prescription.quantity_unit,
                dosage_form=product.dosage_form,
                package_description=package.description,
                package_quantity=package.package_quantity,
                package_unit=package.package_unit,
                billing_quantity=package.billing_quantity,
            ),
            refills=refills_text(prescription.refills_authorized - fill.fill_number),
            prescriber=prescription.prescriber.display_name,
            discard_after=discard_after(fill_date, expiries, months=policy.discard_after_months),
            manufacturer=product.labeler,
            ndc=package.ndc,
            physical_description=description,
            auxiliary_warnings=auxiliary_warnings(
                facts, policy.auxiliary_rules, directions.language
            ),
            transfer_caution=TRANSFER_CAUTION if schedule in _TRANSFER_SCHEDULES else "",
            barcode_payload=rx_label_payload(prescription.rx_number, fill.fill_number),
            language=directions.language,
            english_directions=_sentence(prescription.directions),
            large_print=patient.large_print_labels,
            dea_schedule=schedule,
        )

    def _generic_for(self, session: Session, product: DrugProduct) -> str:
        """Names the brand ("generic for Proair") of the same ingredients, strength and dosage
        form, a marketed one first; "" for a brand itself or when the catalogue has none."""
        if not product.substance_name or _is_brand(
            product.marketing_category,
            product.proprietary_name,
            product.nonproprietary_name,
            product.substance_name,
        ):
            return ""
        state = _catalogue_state(session)
        brands = self._brands
        if brands is None or brands.catalogue_state != state:
            brands = self._brands = _BrandNames(state, _read_brands(session))
        strength = strength_text(product.strength, product.strength_unit)
        for brand in brands.by_contents.get((product.substance_name, product.dosage_form), []):
            if strength_text(brand.strength, brand.strength_unit) == strength:
                return f"generic for {drug_name(brand.name)}"
        return ""

    def _directions(
        self,
        session: Session,
        prescription: Prescription,
        wanted: LabelLanguage | None,
        policy: LabelPolicy,
        notices: list[str],
    ) -> _Directions:
        """The directions in the language asked (or the patient's): Spanish only when the
        English on file is exactly the sig's expansion and every phrase of it translates."""
        english = _Directions(_sentence(prescription.directions), LabelLanguage.ENGLISH)
        preferred = prescription.patient.preferred_language.strip().lower()
        if wanted is None:
            if preferred not in {language.value for language in LabelLanguage}:
                notices.append(
                    f"The patient prefers the language “{preferred}”; labels print in English "
                    "or Spanish: the label is in English."
                )
            wanted = LabelLanguage.SPANISH if preferred == "es" else LabelLanguage.ENGLISH
        if wanted is LabelLanguage.ENGLISH:
            return english
        sig_table = read_house_settings(session).sig_table
        expansion = expand_sig(prescription.sig_code, sig_table)
        if not expansion.parsed:
            why = "the sig was not read completely."
        elif _folded(expansion.directions) != _folded(prescription.directions):
            why = "the English directions on file are not the sig's own wording."
        else:
            spanish = spanish_directions(prescription.sig_code, sig_table, policy.spanish_sig_table)
            if spanish.available:
                return _Directions(_sentence(spanish.directions), LabelLanguage.SPANISH)
            why = spanish.reason[0].lower() + spanish.reason[1:]
        notices.append(
            f"No Spanish directions: {why} The label prints the English directions; go over "
            "them with the patient."
        )
        return english

    def _fill_date(self, session: Session, fill: Fill) -> date:
        """The day of the first print (a reprint keeps its dates), else today."""
        first = session.scalar(
            select(LabelPrint.printed_at)
            .where(LabelPrint.fill_id == fill.id)
            .order_by(LabelPrint.id)
            .limit(1)
        )
        return self._today() if first is None else first.astimezone().date()

    @staticmethod
    def _lot_expiries(session: Session, fill_id: int) -> list[date]:
        """The expiry of every lot the fill's accepted (not voided) bottles came from."""
        expiries = session.scalars(
            select(func.coalesce(FillBottle.expiry, StockLot.expiry))
            .outerjoin(StockLot, FillBottle.lot_id == StockLot.id)
            .where(FillBottle.fill_id == fill_id, FillBottle.voided_at.is_(None))
        ).all()
        return [expiry for expiry in expiries if expiry is not None]

    @staticmethod
    def _printed_before(session: Session, fill_id: int) -> bool:
        return (
            session.scalar(select(LabelPrint.id).where(LabelPrint.fill_id == fill_id).limit(1))
            is not None
        )

    @staticmethod
    def _language(language: LabelLanguage | str) -> LabelLanguage:
        try:
            return LabelLanguage(language)
        except ValueError:
            choices = ", ".join(member.value for member in LabelLanguage)
            raise ValidationFailed(
                f"“{language}” is not a label language: use {choices}.", field="language"
            ) from None

    # --- printing ---------------------------------------------------------------------------

    def printing_refusal(self, actor: Actor, fill_id: int) -> str | None:
        """None when the fill's label may be printed, else why not (a preview always may)."""
        require_role(actor, *Role, action="see a prescription label")
        with self._db.reading() as session:
            return _fill_refusal(_get_fill(session, fill_id))

    def record_print(
        self,
        actor: Actor,
        fill_id: int,
        *,
        destination: str,
        stock_name: str,
        label_count: int,
        language: LabelLanguage,
        discard_after: date,
        reason: str = "",
    ) -> LabelPrintRow:
        """Record a print that reached `destination` (a printer or a PDF file), once it did.

        The first print of a fill is the original; every later one is a reprint and needs a
        reason (ReasonRequired otherwise, nothing recorded). One audit event per print.
        """
        require_role(actor, *PRINTING_ROLES, action="print a prescription label")
        destination, reason = " ".join(destination.split()), reason.strip()
        chosen = self._language(language)
        if not destination or len(destination) > _MAX_DESTINATION:
            raise ValidationFailed(
                f"Name the printer or file the label went to (1 to {_MAX_DESTINATION} characters).",
                field="destination",
            )
        if isinstance(label_count, bool) or not isinstance(label_count, int):
            raise ValidationFailed("The number of labels is a whole number.", field="label_count")
        if not 1 <= label_count <= _MAX_LABEL_COUNT:
            raise ValidationFailed(
                f"A print has 1 to {_MAX_LABEL_COUNT} labels, not {label_count}.",
                field="label_count",
            )
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            if stock_name not in {stock.name for stock in read_label_policy(session).stocks}:
                raise ValidationFailed(
                    f"“{stock_name}” is not a label stock of this pharmacy.", field="stock_name"
                )
            fill = _get_fill(session, fill_id, lock=True)
            rx = f"{fill.prescription.rx_number}-{fill.fill_number}"
            if refusal := _fill_refusal(fill):
                raise LabelRefused(refusal, fill_id=fill_id)
            kind = (
                PrintKind.REPRINT if self._printed_before(session, fill_id) else PrintKind.ORIGINAL
            )
            if kind is PrintKind.REPRINT and not reason:
                raise ReasonRequired(
                    f"Rx {rx}'s label was printed before: give the reason for this reprint "
                    "(damaged label, a lot that expires sooner, the patient's request…).",
                    fill_id=fill_id,
                )
            printed = LabelPrint(
                fill_id=fill_id,
                kind=kind.value,
                reason=reason,
                destination=destination,
                stock_name=stock_name,
                label_count=label_count,
                language=chosen.value,
                discard_after=discard_after,
                user_id=actor.user_id,
                workstation=actor.workstation,
            )
            session.add(printed)
            uow.audit(
                "label.reprinted" if kind is PrintKind.REPRINT else "label.printed",
                printed,
                fill_id=fill_id,
                rx=rx,
                reason=reason,
                destination=destination,
                stock=stock_name,
                label_count=label_count,
                language=chosen.value,
                discard_after=discard_after.isoformat(),
            )
            publish(session, topic=TOPIC, entity_id=str(fill_id), workstation=actor.workstation)
            return _print_row(printed, actor.username)

    def record_export(self, actor: Actor, fill_id: int, path: str) -> None:
        """Audit a label written to a PDF file for support or a delivery route: an export is
        not a print, so it leaves no print record and does not make the next print a reprint."""
        require_role(actor, *Role, action="export a prescription label")
        if not path.strip():
            raise ValidationFailed("Name the file the label was exported to.", field="path")
        with self._db.unit_of_work(actor) as uow:
            fill = _get_fill(uow.session, fill_id)
            uow.audit(
                "label.exported",
                fill,
                rx=f"{fill.prescription.rx_number}-{fill.fill_number}",
                path=path,
            )

    def prints(self, actor: Actor, fill_id: int) -> list[LabelPrintRow]:
        """Every recorded print of the fill's label, oldest first."""
        require_role(actor, *Role, action="see a label's print history")
        with self._db.reading() as session:
            _get_fill(session, fill_id)
            rows = session.execute(
                select(LabelPrint, User.username)
                .outerjoin(User, LabelPrint.user_id == User.id)
                .where(LabelPrint.fill_id == fill_id)
                .order_by(LabelPrint.id)
            ).all()
            return [_print_row(printed, username) for printed, username in rows]

    def labelled_fills(self, actor: Actor) -> list[LabelledFill]:
        """Every fill whose label may be printed, by Rx and fill number."""
        require_role(actor, *Role, action="list prescription labels")
        never = [state.value for state in _NOT_YET_REVIEWED | _WITHDRAWN]
        with self._db.reading() as session:
            rows = session.execute(
                select(
                    Fill.id, Prescription.rx_number, Fill.fill_number, Fill.state, Fill.resume_state
                )
                .join(Prescription, Fill.prescription_id == Prescription.id)
                .where(Fill.state.not_in(never))
                .order_by(Prescription.rx_number, Fill.fill_number)
            ).all()
        return [
            LabelledFill(row.id, row.rx_number, row.fill_number)
            for row in rows
            if printing_refusal_text(
                FillState(row.state),
                FillState(row.resume_state) if row.resume_state else None,
                row.rx_number,
                row.fill_number,
            )
            is None
        ]

    def find_fill(self, actor: Actor, rx_number: str, fill_number: int | None = None) -> int:
        """The fill `fill_number` of the Rx (its latest fill when None)."""
        require_role(actor, *Role, action="find a prescription label")
        rx = rx_number.strip()
        with self._db.reading() as session:
            prescription_id = session.scalar(
                select(Prescription.id).where(Prescription.rx_number == rx)
            )
            if prescription_id is None:
                raise NotFound(f"There is no Rx {rx}.", rx_number=rx)
            statement = select(Fill.id).where(Fill.prescription_id == prescription_id)
            if fill_number is not None:
                statement = statement.where(Fill.fill_number == fill_number)
            fill_id = session.scalar(statement.order_by(Fill.fill_number.desc()).limit(1))
        if fill_id is None:
            which = f"fill {fill_number}" if fill_number is not None else "fill"
            raise NotFound(f"Rx {rx} has no {which}.", rx_number=rx, fill_number=fill_number)
        return fill_id

    # --- what the label is made from ------------------------------------------------------------

    def set_containers(
        self, actor: Actor, fill_id: int, containers: int, *, expected_version: int
    ) -> FillRow:
        """How many containers the fill goes home in: one label each ("1 of 3")."""
        require_role(actor, *PRINTING_ROLES, action="change a fill's containers")
        if isinstance(containers, bool) or not isinstance(containers, int):
            raise ValidationFailed("Containers is a whole number.", field="containers")
        if not 1 <= containers <= _MAX_CONTAINERS:
            raise ValidationFailed(
                f"A fill goes home in 1 to {_MAX_CONTAINERS} containers, not {containers}.",
                field="containers",
            )
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            fill = _get_fill(session, fill_id, lock=True)
            if fill.version != expected_version:
                raise StaleRecord(
                    "Someone else changed this fill since you opened it; nothing was saved. "
                    "Look at it again.",
                    fill_id=fill_id,
                    expected_version=expected_version,
                    current_version=fill.version,
                )
            state = FillState(fill.state)
            if not state.is_active:
                raise ValidationFailed(
                    f"This fill is finished ({state.label}): its containers cannot change.",
                    fill_id=fill_id,
                    state=state.value,
                )
            if fill.held_by_user_id not in (None, actor.user_id):
                holder = session.get(User, fill.held_by_user_id)
                name = holder.username if holder else "another user"
                raise FillHeldByAnother(
                    f"{name} is working on this fill. Ask them to release it, or pick another "
                    "fill.",
                    fill_id=fill_id,
                    held_by=name,
                )
            if fill.containers != containers:
                before = fill.containers
                fill.containers = containers
                uow.audit(
                    "fill.containers_changed",
                    fill,
                    before={"containers": before},
                    after={"containers": containers},
                )
                publish_all(
                    session,
                    [Change(FILLS_TOPIC, str(fill_id)), Change(TOPIC, str(fill_id))],
                    workstation=actor.workstation,
                )
            return read_fill_row(session, fill_id)

    def set_physical_description(self, actor: Actor, package_id: int, text: str) -> str:
        """What the package's dosage unit looks like ("white round tablet, M 30"), for the
        states that require it on the label; "" clears it."""
        require_role(actor, Role.PHARMACIST, action="describe a drug's dosage unit")
        description = " ".join(text.split())
        if len(description) > _MAX_PHYSICAL_DESCRIPTION:
            raise ValidationFailed(
                f"A physical description has at most {_MAX_PHYSICAL_DESCRIPTION} characters.",
                field="physical_description",
            )
        if problems := ismp_problems(description):
            raise ValidationFailed(
                f"The description uses an error-prone form: {' '.join(problems)}",
                field="physical_description",
            )
        with self._db.unit_of_work(actor) as uow:
            package = uow.session.get(DrugPackage, package_id)
            if package is None:
                raise NotFound(f"There is no drug package with id {package_id}.")
            before = package.physical_description
            if before != description:
                package.physical_description = description
                uow.audit(
                    "package.physical_description_changed",
                    package,
                    before={"physical_description": before},
                    after={"physical_description": description},
                    ndc=package.ndc,
                )
                publish(uow.session, topic=TOPIC, entity_id=None, workstation=actor.workstation)
            return description

    # --- house label policies -----------------------------------------------------------------

    def policies(self) -> LabelPolicy:
        return self._settings.label_policy()

    def set_discard_after_months(self, actor: Actor, months: int) -> LabelPolicy:
        return self._settings.set_label_discard_after_months(actor, months)

    def set_physical_description_states(self, actor: Actor, states: Sequence[str]) -> LabelPolicy:
        return self._settings.set_label_physical_description_states(actor, states)

    def set_auxiliary_rules(self, actor: Actor, rules: Sequence[AuxiliaryRule]) -> LabelPolicy:
        return self._settings.set_label_auxiliary_rules(actor, rules)

    def stocks(self) -> tuple[LabelStock, ...]:
        """The built-in label stocks, then the pharmacy's own."""
        return self.policies().stocks

    def set_custom_stocks(self, actor: Actor, stocks: Sequence[LabelStock]) -> LabelPolicy:
        return self._settings.set_label_custom_stocks(actor, stocks)

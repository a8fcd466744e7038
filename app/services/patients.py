"""Patient intake: profiles, allergies, conditions, coverages, search, and the audited record view.

Every view of protected health information is audited: opening a record writes
`patient.viewed`, a search or duplicate check writes one event with the count of names shown
(and only the kind of key typed, never the text, which may itself be a name or a birth date).
Every change writes an event on the changed row with before/after summaries of what changed.
Removing an allergy deletes its row (the schema keeps no removal date): the audit event holds
the whole removed allergy and the reason, so the record of it is not lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from app.db.models import (
    DrugPackage,
    Fill,
    InsuranceCoverage,
    Patient,
    PatientAllergy,
    PatientCondition,
    Prescription,
)
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.errors import NotFound, RxBenchError, StaleRecord, ValidationFailed
from app.services import contact
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role

ALL_ROLES = tuple(Role)
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
SEXES = {"F": "female", "M": "male", "X": "non-binary", "U": "unknown"}
SEVERITIES = ("mild", "moderate", "severe", "unknown")
RELATIONSHIP_CODES = {
    "0": "not specified",
    "1": "cardholder",
    "2": "spouse",
    "3": "child",
    "4": "other",
}
_NOT_REFILLS = (FillState.CANCELLED.value, FillState.RETURNED_TO_STOCK.value)
_DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d")
_PHONE_QUERY = re.compile(r"\+?[\d\s().-]+")


class PossibleDuplicate(RxBenchError):
    """Patients already on file may be the same person; saving needs an explicit confirmation."""

    code = "possible-duplicate"

    def __init__(self, candidates: tuple[PatientHit, ...]) -> None:
        names = "; ".join(
            f"{hit.display_name} (born {hit.date_of_birth:%m/%d/%Y})" for hit in candidates
        )
        super().__init__(
            f"This may be a patient already on file: {names}. Open that record instead, or "
            "confirm this is a different person.",
            candidates=[hit.id for hit in candidates],
        )
        self.candidates = candidates


# --- what the window sends --------------------------------------------------------------------


@dataclass(frozen=True)
class PatientDraft:
    last_name: str
    first_name: str
    date_of_birth: date | None
    sex: str
    middle_name: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    phone: str = ""
    phone_alternate: str = ""
    email: str = ""
    preferred_language: str = "en"
    notes: str = ""

    def validated(self, today: date) -> PatientDraft:
        """A normalised copy, or `ValidationFailed` naming the first wrong field."""
        born = self.date_of_birth
        if born is None:
            raise ValidationFailed(
                "Enter the date of birth: a patient cannot be saved without one.",
                field="date_of_birth",
            )
        if born > today:
            raise ValidationFailed(
                f"The date of birth {born:%m/%d/%Y} is in the future.", field="date_of_birth"
            )
        if born < EARLIEST_BIRTH_DATE:
            raise ValidationFailed(
                f"The date of birth {born:%m/%d/%Y} is before 1900: check the year.",
                field="date_of_birth",
            )
        sex = self.sex.strip().upper()
        if sex not in SEXES:
            raise ValidationFailed(
                "Sex is F (female), M (male), X (non-binary) or U (unknown).", field="sex"
            )
        return replace(
            self,
            last_name=contact.required(self.last_name, field="last_name", label="last name"),
            first_name=contact.required(self.first_name, field="first_name", label="first name"),
            middle_name=contact.limited(
                self.middle_name, field="middle_name", label="middle name", max_length=100
            ),
            sex=sex,
            address_line1=contact.limited(
                self.address_line1, field="address_line1", label="address", max_length=200
            ),
            address_line2=contact.limited(
                self.address_line2, field="address_line2", label="address", max_length=200
            ),
            city=contact.limited(self.city, field="city", label="city", max_length=100),
            state=contact.state_code(self.state),
            postal_code=contact.zip_code(self.postal_code),
            phone=contact.phone(self.phone),
            phone_alternate=contact.phone(
                self.phone_alternate, field="phone_alternate", label="alternate phone number"
            ),
            email=contact.email(self.email),
            preferred_language=contact.language(self.preferred_language),
            notes=self.notes.strip(),
        )


@dataclass(frozen=True)
class AllergyDraft:
    """Coded to an ingredient and/or a pharmacologic class where possible, else free text."""

    substance: str = ""
    drug_class: str = ""
    reaction: str = ""
    severity: str = "unknown"
    free_text: str = ""


@dataclass(frozen=True)
class CoverageDraft:
    rank: int
    bin: str
    cardholder_id: str
    pcn: str = ""
    group_number: str = ""
    person_code: str = ""
    relationship_code: str = "1"
    plan_name: str = ""
    effective_on: date | None = None
    terminated_on: date | None = None

    def validated(self) -> CoverageDraft:
        if self.rank not in (1, 2):
            raise ValidationFailed(
                "A coverage is primary (1) or secondary (2).", field="rank", rank=self.rank
            )
        bin_number = self.bin.strip()
        if not re.fullmatch(r"\d{6}", bin_number):
            raise ValidationFailed(
                f"A BIN has exactly 6 digits; “{bin_number}” does not.", field="bin"
            )
        cardholder = self.cardholder_id.strip().upper()
        if not cardholder:
            raise ValidationFailed("Enter the cardholder ID from the card.", field="cardholder_id")
        if not re.fullmatch(r"[A-Z0-9-]{1,20}", cardholder):
            raise ValidationFailed(
                "A cardholder ID is up to 20 letters and digits.", field="cardholder_id"
            )
        pcn = self.pcn.strip().upper()
        if pcn and not re.fullmatch(r"[A-Z0-9-]{1,10}", pcn):
            raise ValidationFailed("A PCN is up to 10 letters and digits.", field="pcn")
        group = self.group_number.strip().upper()
        if group and not re.fullmatch(r"[A-Z0-9-]{1,15}", group):
            raise ValidationFailed(
                "A group number is up to 15 letters and digits.", field="group_number"
            )
        person_code = self.person_code.strip()
        if person_code and not re.fullmatch(r"\d{1,3}", person_code):
            raise ValidationFailed("A person code is 1 to 3 digits.", field="person_code")
        relationship = self.relationship_code.strip()
        if relationship not in RELATIONSHIP_CODES:
            raise ValidationFailed(
                "The relationship code is 0 (not specified), 1 (cardholder), 2 (spouse), "
                "3 (child) or 4 (other).",
                field="relationship_code",
            )
        if self.effective_on and self.terminated_on and self.terminated_on < self.effective_on:
            raise ValidationFailed("The coverage ends before it starts.", field="terminated_on")
        return replace(
            self,
            bin=bin_number,
            cardholder_id=cardholder,
            pcn=pcn,
            group_number=group,
            person_code=person_code,
            relationship_code=relationship,
            plan_name=contact.limited(
                self.plan_name, field="plan_name", label="plan name", max_length=200
            ),
        )


@dataclass(frozen=True)
class PatientPreferences:
    easy_open_caps: bool = False
    large_print_labels: bool = False
    delivery: bool = False


# --- what the window receives -----------------------------------------------------------------


@dataclass(frozen=True)
class PatientHit:
    id: int
    display_name: str
    date_of_birth: date
    phone: str
    address_line: str


@dataclass(frozen=True)
class PatientSummary:
    """The saved patient and the version to send with the next edit."""

    id: int
    display_name: str
    date_of_birth: date
    version: int


@dataclass(frozen=True)
class PatientCreated:
    patient: PatientSummary
    possible_duplicates: tuple[PatientHit, ...]


@dataclass(frozen=True)
class AllergyEntry:
    id: int
    substance: str
    drug_class: str
    reaction: str
    severity: str
    free_text: str
    recorded_at: datetime


@dataclass(frozen=True)
class ConditionEntry:
    id: int
    description: str
    recorded_at: datetime


@dataclass(frozen=True)
class CoverageEntry:
    id: int
    rank: int
    plan_name: str
    bin: str
    pcn: str
    group_number: str
    cardholder_id: str
    person_code: str
    relationship_code: str
    effective_on: date | None
    terminated_on: date | None
    active: bool
    version: int


@dataclass(frozen=True)
class PrescriptionHistoryEntry:
    prescription_id: int
    rx_number: str
    drug: str
    written_date: date
    status: str
    last_fill_date: date | None
    last_fill_state: FillState | None
    refills_remaining: int


@dataclass(frozen=True)
class PatientRecord:
    """The full profile shown when a record is opened."""

    id: int
    display_name: str
    date_of_birth: date
    sex: str
    address: str
    phone: str
    email: str
    preferred_language: str
    version: int
    last_name: str
    first_name: str
    middle_name: str
    address_line1: str
    address_line2: str
    city: str
    state: str
    postal_code: str
    phone_alternate: str
    notes: str
    # None: nobody asked yet; True: "no known allergies"; False: allergies on file.
    no_known_allergies: bool | None
    allergies: tuple[AllergyEntry, ...]
    conditions: tuple[ConditionEntry, ...]
    coverages: tuple[CoverageEntry, ...]
    preferences: PatientPreferences
    privacy_notice_acknowledged_on: date | None
    prescriptions: tuple[PrescriptionHistoryEntry, ...]

    @property
    def allergy_status(self) -> str:
        if self.allergies:
            return "allergies on file"
        return "no known allergies" if self.no_known_allergies else "not asked"


# --- helpers ----------------------------------------------------------------------------------

_DEMOGRAPHICS = tuple(field for field in PatientDraft.__dataclass_fields__)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _changes(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    changed = [key for key in after if before.get(key) != after[key]]
    return (
        {key: _jsonable(before.get(key)) for key in changed},
        {key: _jsonable(after[key]) for key in changed},
    )


def _demographics(patient: Patient) -> dict[str, Any]:
    return {name: getattr(patient, name) for name in _DEMOGRAPHICS}


def _address_line(patient: Patient) -> str:
    city = f"{patient.city} {patient.state} {patient.postal_code}".strip()
    return ", ".join(part for part in (patient.address_line1, patient.address_line2, city) if part)


def _hit(patient: Patient) -> PatientHit:
    return PatientHit(
        id=patient.id,
        display_name=patient.display_name,
        date_of_birth=patient.date_of_birth,
        phone=patient.phone,
        address_line=_address_line(patient),
    )


def _summary(patient: Patient) -> PatientSummary:
    return PatientSummary(
        id=patient.id,
        display_name=patient.display_name,
        date_of_birth=patient.date_of_birth,
        version=patient.version,
    )


def _allergy_entry(allergy: PatientAllergy) -> AllergyEntry:
    return AllergyEntry(
        id=allergy.id,
        substance=allergy.substance,
        drug_class=allergy.drug_class,
        reaction=allergy.reaction,
        severity=allergy.severity,
        free_text=allergy.free_text,
        recorded_at=allergy.recorded_at,
    )


def _allergy_facts(allergy: PatientAllergy) -> dict[str, Any]:
    return {
        "substance": allergy.substance,
        "drug_class": allergy.drug_class,
        "reaction": allergy.reaction,
        "severity": allergy.severity,
        "free_text": allergy.free_text,
    }


def _coverage_entry(coverage: InsuranceCoverage) -> CoverageEntry:
    return CoverageEntry(
        id=coverage.id,
        rank=coverage.rank,
        plan_name=coverage.plan_name,
        bin=coverage.bin,
        pcn=coverage.pcn,
        group_number=coverage.group_number,
        cardholder_id=coverage.cardholder_id,
        person_code=coverage.person_code,
        relationship_code=coverage.relationship_code,
        effective_on=coverage.effective_on,
        terminated_on=coverage.terminated_on,
        active=coverage.active,
        version=coverage.version,
    )


def _coverage_facts(coverage: InsuranceCoverage) -> dict[str, Any]:
    entry = asdict(_coverage_entry(coverage))
    del entry["id"], entry["version"]
    return {key: _jsonable(value) for key, value in entry.items()}


def _stale(what: str) -> StaleRecord:
    return StaleRecord(
        f"{what} was changed by another workstation since you opened it; reopen it and enter "
        "your change again."
    )


def _flush(uow: UnitOfWork, what: str) -> None:
    """Flush now, so a concurrent edit that won the race is reported as a stale record."""
    try:
        uow.session.flush()
    except StaleDataError:
        raise _stale(what) from None


def transposed_dates(born: date) -> set[date]:
    """The date itself, day and month swapped, and every swap of two adjacent digits."""
    found = {born}
    if born.day <= 12:
        found.add(born.replace(month=born.day, day=born.month))
    digits = born.strftime("%m%d%Y")
    for index in range(len(digits) - 1):
        swapped = digits[:index] + digits[index + 1] + digits[index] + digits[index + 2 :]
        try:
            found.add(datetime.strptime(swapped, "%m%d%Y").date())
        except ValueError:
            continue
    return found


def _like_prefix(column: Any, text: str) -> ColumnElement[bool]:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"{escaped}%", escape="\\")


def _parse_date(text: str) -> date | None:
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def classify_search(text: str) -> tuple[str, Any]:
    """What a search text is: ("dob", date), ("phone", formatted), ("rx", digits), ("name", …).

    A name is (last, first) for "smith" / "smith, jo", or the words in order for "jo smith".
    """
    stripped = text.strip()
    born = _parse_date(stripped)
    if born is not None:
        return "dob", born
    digits = contact.phone_digits(stripped)
    if stripped.isdigit() and len(digits) != 10:
        return "rx", stripped
    if _PHONE_QUERY.fullmatch(stripped) and len(digits) == 10:
        return "phone", contact.phone(digits)
    if "," in stripped:
        last, _, first = stripped.partition(",")
        return "name", (last.strip(), first.strip())
    return "name", tuple(stripped.split())


def _name_condition(words: tuple[str, ...]) -> ColumnElement[bool] | None:
    words = tuple(word for word in words if word)
    if not words:
        return None
    if len(words) == 1:
        return _like_prefix(Patient.last_name, words[0])
    first, last = words[0], " ".join(words[1:])
    return or_(
        and_(_like_prefix(Patient.first_name, first), _like_prefix(Patient.last_name, last)),
        and_(_like_prefix(Patient.last_name, first), _like_prefix(Patient.first_name, last)),
    )


def _comma_name_condition(last: str, first: str) -> ColumnElement[bool] | None:
    if not last:
        return None
    condition = _like_prefix(Patient.last_name, last)
    return and_(condition, _like_prefix(Patient.first_name, first)) if first else condition


# --- the service ------------------------------------------------------------------------------


class PatientService:
    def __init__(self, database: Database, *, today: Callable[[], date] = date.today) -> None:
        self._db = database
        self._today = today

    # --- reading ------------------------------------------------------------------------------

    def search(self, actor: Actor, text: str, *, limit: int = 50) -> list[PatientHit]:
        """Patients by name, birth date, phone or Rx number; the search itself is audited."""
        require_role(actor, *ALL_ROLES, action="search patients")
        kind, key = classify_search(text)
        condition: ColumnElement[bool] | None
        if kind == "dob":
            condition = Patient.date_of_birth == key
        elif kind == "phone":
            condition = or_(Patient.phone == key, Patient.phone_alternate == key)
        elif kind == "rx":
            condition = Patient.id.in_(
                select(Prescription.patient_id).where(Prescription.rx_number == key)
            )
        elif len(key) == 2 and "," in text:
            condition = _comma_name_condition(*key)
        else:
            condition = _name_condition(key)
        if condition is None:
            return []
        with self._db.unit_of_work(actor) as uow:
            patients = uow.session.scalars(
                select(Patient)
                .where(condition)
                .order_by(Patient.last_name, Patient.first_name, Patient.date_of_birth, Patient.id)
                .limit(limit)
            ).all()
            hits = [_hit(patient) for patient in patients]
            uow.audit("patient.search", entity_type="none", kind=kind, count=len(hits))
        return hits

    def find_possible_duplicates(self, actor: Actor, draft: PatientDraft) -> list[PatientHit]:
        """Patients who may be the one being entered, for the warning shown before saving."""
        require_role(actor, *ALL_ROLES, action="check for duplicate patients")
        clean = draft.validated(self._today())
        with self._db.unit_of_work(actor) as uow:
            hits = self._duplicates(uow.session, clean)
            uow.audit("patient.duplicate_check", entity_type="none", count=len(hits))
        return hits

    def open_record(self, actor: Actor, patient_id: int, *, purpose: str) -> PatientRecord:
        """Return the patient's record and write the `patient.viewed` audit event with it."""
        require_role(actor, *ALL_ROLES, action="open a patient record")
        with self._db.unit_of_work(actor) as uow:
            patient = uow.session.scalars(
                select(Patient)
                .where(Patient.id == patient_id)
                .options(
                    selectinload(Patient.allergies),
                    selectinload(Patient.conditions),
                    selectinload(Patient.coverages),
                )
            ).first()
            if patient is None:
                raise NotFound(f"There is no patient with id {patient_id}.", patient_id=patient_id)
            uow.audit("patient.viewed", patient, purpose=purpose)
            return PatientRecord(
                id=patient.id,
                display_name=patient.display_name,
                date_of_birth=patient.date_of_birth,
                sex=patient.sex,
                address=_address_line(patient),
                phone=patient.phone,
                email=patient.email,
                preferred_language=patient.preferred_language,
                version=patient.version,
                last_name=patient.last_name,
                first_name=patient.first_name,
                middle_name=patient.middle_name,
                address_line1=patient.address_line1,
                address_line2=patient.address_line2,
                city=patient.city,
                state=patient.state,
                postal_code=patient.postal_code,
                phone_alternate=patient.phone_alternate,
                notes=patient.notes,
                no_known_allergies=patient.no_known_allergies,
                allergies=tuple(_allergy_entry(allergy) for allergy in patient.allergies),
                conditions=tuple(
                    ConditionEntry(c.id, c.description, c.recorded_at) for c in patient.conditions
                ),
                coverages=tuple(_coverage_entry(coverage) for coverage in patient.coverages),
                preferences=PatientPreferences(
                    easy_open_caps=patient.easy_open_caps,
                    large_print_labels=patient.large_print_labels,
                    delivery=patient.delivery,
                ),
                privacy_notice_acknowledged_on=patient.privacy_notice_acknowledged_on,
                prescriptions=tuple(_history(uow.session, patient.id)),
            )

    # --- the patient row ----------------------------------------------------------------------

    def create_patient(
        self, actor: Actor, *, draft: PatientDraft, confirm_not_duplicate: bool = False
    ) -> PatientCreated:
        """Save a new patient; possible duplicates refuse it unless the person confirmed."""
        require_role(actor, *ALL_ROLES, action="add patients")
        clean = draft.validated(self._today())
        with self._db.unit_of_work(actor) as uow:
            duplicates = tuple(self._duplicates(uow.session, clean))
            if duplicates and not confirm_not_duplicate:
                raise PossibleDuplicate(duplicates)
            patient = Patient(**asdict(clean))
            uow.session.add(patient)
            uow.session.flush()
            _, after = _changes({}, _demographics(patient))
            details: dict[str, Any] = {}
            if duplicates:
                details["confirmed_not_duplicate_of"] = [hit.id for hit in duplicates]
            uow.audit("patient.created", patient, after=after, **details)
            return PatientCreated(patient=_summary(patient), possible_duplicates=duplicates)

    def update_patient(
        self, actor: Actor, patient_id: int, *, expected_version: int, draft: PatientDraft
    ) -> PatientSummary:
        """Save edited demographics, refused if another workstation saved first."""
        require_role(actor, *ALL_ROLES, action="change patient records")
        clean = draft.validated(self._today())
        with self._db.unit_of_work(actor) as uow:
            patient = _patient(uow.session, patient_id, expected_version=expected_version)
            before = _demographics(patient)
            for name, value in asdict(clean).items():
                setattr(patient, name, value)
            old, new = _changes(before, _demographics(patient))
            if new:
                _flush(uow, "This patient's record")
                uow.audit("patient.updated", patient, before=old, after=new)
            return _summary(patient)

    def set_preferences(
        self,
        actor: Actor,
        patient_id: int,
        *,
        expected_version: int,
        preferences: PatientPreferences,
    ) -> PatientSummary:
        require_role(actor, *ALL_ROLES, action="change patient preferences")
        with self._db.unit_of_work(actor) as uow:
            patient = _patient(uow.session, patient_id, expected_version=expected_version)
            before = {name: getattr(patient, name) for name in asdict(preferences)}
            for name, value in asdict(preferences).items():
                setattr(patient, name, value)
            old, new = _changes(before, asdict(preferences))
            if new:
                _flush(uow, "This patient's record")
                uow.audit("patient.preferences_changed", patient, before=old, after=new)
            return _summary(patient)

    def acknowledge_privacy_notice(
        self, actor: Actor, patient_id: int, *, acknowledged_on: date
    ) -> PatientSummary:
        """Record the day the patient acknowledged the notice of privacy practices."""
        require_role(actor, *ALL_ROLES, action="record a privacy notice acknowledgement")
        if acknowledged_on > self._today():
            raise ValidationFailed(
                "The acknowledgement date is in the future.", field="acknowledged_on"
            )
        with self._db.unit_of_work(actor) as uow:
            patient = _patient(uow.session, patient_id)
            before = _jsonable(patient.privacy_notice_acknowledged_on)
            patient.privacy_notice_acknowledged_on = acknowledged_on
            uow.audit(
                "patient.privacy_notice_acknowledged",
                patient,
                before={"privacy_notice_acknowledged_on": before},
                after={"privacy_notice_acknowledged_on": acknowledged_on.isoformat()},
            )
            _flush(uow, "This patient's record")
            return _summary(patient)

    # --- allergies ----------------------------------------------------------------------------

    def add_allergy(self, actor: Actor, patient_id: int, *, allergy: AllergyDraft) -> AllergyEntry:
        """Record an allergy; the patient's answer becomes "allergies on file"."""
        require_role(actor, *ALL_ROLES, action="record allergies")
        facts = {
            "substance": contact.limited(
                allergy.substance, field="substance", label="substance", max_length=200
            ),
            "drug_class": contact.limited(
                allergy.drug_class, field="drug_class", label="drug class", max_length=200
            ),
            "reaction": contact.limited(
                allergy.reaction, field="reaction", label="reaction", max_length=200
            ),
            "severity": allergy.severity.strip().lower(),
            "free_text": allergy.free_text.strip(),
        }
        if not (facts["substance"] or facts["drug_class"] or facts["free_text"]):
            raise ValidationFailed(
                "Name the substance or drug class the patient is allergic to.", field="substance"
            )
        if facts["severity"] not in SEVERITIES:
            raise ValidationFailed(
                "Severity is mild, moderate, severe or unknown.", field="severity"
            )
        with self._db.unit_of_work(actor) as uow:
            patient = _patient(uow.session, patient_id, lock=True)
            for existing in patient.allergies:
                same = (existing.substance.lower(), existing.drug_class.lower())
                if same == (facts["substance"].lower(), facts["drug_class"].lower()) and (
                    facts["substance"] or facts["drug_class"]
                ):
                    raise ValidationFailed(
                        "This allergy is already on file.",
                        field="substance",
                        allergy_id=existing.id,
                    )
            row = PatientAllergy(patient_id=patient.id, **facts)
            uow.session.add(row)
            uow.audit("patient.allergy_added", row, patient_id=patient.id, after=facts)
            if patient.no_known_allergies is not False:
                uow.audit(
                    "patient.allergy_status_changed",
                    patient,
                    before={"no_known_allergies": patient.no_known_allergies},
                    after={"no_known_allergies": False},
                )
                patient.no_known_allergies = False
            _flush(uow, "This patient's record")
            return _allergy_entry(row)

    def remove_allergy(self, actor: Actor, allergy_id: int, *, reason: str) -> None:
        """Delete an allergy entered in error; the audit event keeps what it said and why."""
        require_role(actor, *ALL_ROLES, action="remove allergies")
        why = reason.strip()
        if not why:
            raise ValidationFailed("Say why the allergy is removed.", field="reason")
        with self._db.unit_of_work(actor) as uow:
            row = uow.session.get(PatientAllergy, allergy_id)
            if row is None:
                raise NotFound(f"There is no allergy with id {allergy_id}.", allergy_id=allergy_id)
            patient = _patient(uow.session, row.patient_id, lock=True)
            uow.audit(
                "patient.allergy_removed",
                row,
                patient_id=patient.id,
                before=_allergy_facts(row),
                reason=why,
            )
            uow.session.delete(row)
            uow.session.flush()
            if not uow.session.scalar(
                select(func.count())
                .select_from(PatientAllergy)
                .where(PatientAllergy.patient_id == patient.id)
            ):
                # With the last allergy gone, the answer must be asked for again.
                uow.audit(
                    "patient.allergy_status_changed",
                    patient,
                    before={"no_known_allergies": patient.no_known_allergies},
                    after={"no_known_allergies": None},
                )
                patient.no_known_allergies = None
            _flush(uow, "This patient's record")

    def set_no_known_allergies(self, actor: Actor, patient_id: int) -> PatientSummary:
        """Record the patient's explicit answer "no known allergies"."""
        require_role(actor, *ALL_ROLES, action="record allergies")
        with self._db.unit_of_work(actor) as uow:
            patient = _patient(uow.session, patient_id, lock=True)
            on_file = len(patient.allergies)
            if on_file:
                raise ValidationFailed(
                    f"This patient has {on_file} allergies on file: remove them before recording "
                    "“no known allergies”.",
                    allergies=on_file,
                )
            if patient.no_known_allergies is not True:
                uow.audit(
                    "patient.allergy_status_changed",
                    patient,
                    before={"no_known_allergies": patient.no_known_allergies},
                    after={"no_known_allergies": True},
                )
                patient.no_known_allergies = True
                _flush(uow, "This patient's record")
            return _summary(patient)

    # --- conditions ---------------------------------------------------------------------------

    def add_condition(self, actor: Actor, patient_id: int, *, description: str) -> ConditionEntry:
        require_role(actor, *ALL_ROLES, action="record conditions")
        text = contact.required(description, field="description", label="condition", max_length=200)
        with self._db.unit_of_work(actor) as uow:
            patient = _patient(uow.session, patient_id)
            row = PatientCondition(patient_id=patient.id, description=text)
            uow.session.add(row)
            uow.audit(
                "patient.condition_added", row, patient_id=patient.id, after={"description": text}
            )
            return ConditionEntry(row.id, row.description, row.recorded_at)

    def remove_condition(self, actor: Actor, condition_id: int, *, reason: str) -> None:
        require_role(actor, *ALL_ROLES, action="remove conditions")
        why = reason.strip()
        if not why:
            raise ValidationFailed("Say why the condition is removed.", field="reason")
        with self._db.unit_of_work(actor) as uow:
            row = uow.session.get(PatientCondition, condition_id)
            if row is None:
                raise NotFound(
                    f"There is no condition with id {condition_id}.", condition_id=condition_id
                )
            uow.audit(
                "patient.condition_removed",
                row,
                patient_id=row.patient_id,
                before={"description": row.description},
                reason=why,
            )
            uow.session.delete(row)

    # --- coverages ----------------------------------------------------------------------------

    def add_coverage(
        self, actor: Actor, patient_id: int, *, coverage: CoverageDraft
    ) -> CoverageEntry:
        require_role(actor, *ALL_ROLES, action="add insurance coverage")
        clean = coverage.validated()
        with self._db.unit_of_work(actor) as uow:
            patient = _patient(uow.session, patient_id, lock=True)
            _refuse_taken_rank(patient.coverages, clean.rank, keep=None)
            row = InsuranceCoverage(patient_id=patient.id, active=True, **asdict(clean))
            uow.session.add(row)
            uow.session.flush()
            uow.audit(
                "patient.coverage_added", row, patient_id=patient.id, after=_coverage_facts(row)
            )
            return _coverage_entry(row)

    def update_coverage(
        self, actor: Actor, coverage_id: int, *, expected_version: int, coverage: CoverageDraft
    ) -> CoverageEntry:
        require_role(actor, *ALL_ROLES, action="change insurance coverage")
        clean = coverage.validated()
        with self._db.unit_of_work(actor) as uow:
            row = _coverage(uow.session, coverage_id, expected_version=expected_version)
            patient = _patient(uow.session, row.patient_id, lock=True)
            if row.active:
                _refuse_taken_rank(patient.coverages, clean.rank, keep=row.id)
            before = _coverage_facts(row)
            for name, value in asdict(clean).items():
                setattr(row, name, value)
            old, new = _changes(before, _coverage_facts(row))
            if new:
                _flush(uow, "This coverage")
                uow.audit(
                    "patient.coverage_updated", row, patient_id=patient.id, before=old, after=new
                )
            return _coverage_entry(row)

    def deactivate_coverage(
        self, actor: Actor, coverage_id: int, *, expected_version: int
    ) -> CoverageEntry:
        """Stop billing a card; it stays on the profile, inactive, for the claim history."""
        require_role(actor, *ALL_ROLES, action="deactivate insurance coverage")
        with self._db.unit_of_work(actor) as uow:
            row = _coverage(uow.session, coverage_id, expected_version=expected_version)
            if row.active:
                row.active = False
                _flush(uow, "This coverage")
                uow.audit(
                    "patient.coverage_deactivated",
                    row,
                    patient_id=row.patient_id,
                    before={"active": True},
                    after={"active": False},
                )
            return _coverage_entry(row)

    # --- internals ----------------------------------------------------------------------------

    def _duplicates(self, session: Session, draft: PatientDraft) -> list[PatientHit]:
        assert draft.date_of_birth is not None  # validated() refuses a draft without one
        born = draft.date_of_birth
        last, first = draft.last_name.lower(), draft.first_name.lower()
        same_name = and_(
            func.lower(Patient.last_name) == last, func.lower(Patient.first_name) == first
        )
        conditions = [
            and_(func.lower(Patient.last_name) == last, Patient.date_of_birth == born),
            and_(same_name, Patient.date_of_birth.in_(sorted(transposed_dates(born)))),
        ]
        if draft.phone:
            conditions.append(and_(Patient.phone == draft.phone, Patient.date_of_birth == born))
        patients = session.scalars(
            select(Patient).where(or_(*conditions)).order_by(Patient.last_name, Patient.id)
        ).all()
        return [_hit(patient) for patient in patients]


def _patient(
    session: Session, patient_id: int, *, expected_version: int | None = None, lock: bool = False
) -> Patient:
    statement = select(Patient).where(Patient.id == patient_id)
    if lock:
        # Serialises rank and allergy checks of one patient across workstations (PostgreSQL).
        statement = statement.with_for_update()
    patient = session.scalars(statement).first()
    if patient is None:
        raise NotFound(f"There is no patient with id {patient_id}.", patient_id=patient_id)
    if expected_version is not None and patient.version != expected_version:
        raise _stale("This patient's record")
    return patient


def _coverage(session: Session, coverage_id: int, *, expected_version: int) -> InsuranceCoverage:
    row = session.get(InsuranceCoverage, coverage_id)
    if row is None:
        raise NotFound(f"There is no coverage with id {coverage_id}.", coverage_id=coverage_id)
    if row.version != expected_version:
        raise _stale("This coverage")
    return row


def _refuse_taken_rank(
    coverages: Iterable[InsuranceCoverage], rank: int, *, keep: int | None
) -> None:
    for other in coverages:
        if other.active and other.rank == rank and other.id != keep:
            label = "primary" if rank == 1 else "secondary"
            raise ValidationFailed(
                f"This patient already has an active {label} coverage "
                f"({other.plan_name or other.bin}): deactivate it first.",
                field="rank",
                coverage_id=other.id,
            )


def _history(session: Session, patient_id: int) -> list[PrescriptionHistoryEntry]:
    prescriptions = session.scalars(
        select(Prescription)
        .where(Prescription.patient_id == patient_id)
        .options(
            selectinload(Prescription.fills),
            selectinload(Prescription.package).selectinload(DrugPackage.product),
        )
        .order_by(Prescription.written_date.desc(), Prescription.id.desc())
    ).all()
    entries = []
    for prescription in prescriptions:
        fills: list[Fill] = sorted(prescription.fills, key=lambda fill: fill.fill_number)
        last = fills[-1] if fills else None
        refills_used = sum(
            1 for fill in fills if fill.fill_number > 0 and fill.state not in _NOT_REFILLS
        )
        entries.append(
            PrescriptionHistoryEntry(
                prescription_id=prescription.id,
                rx_number=prescription.rx_number,
                drug=prescription.package.product.display_name,
                written_date=prescription.written_date,
                status=prescription.status,
                last_fill_date=last.state_changed_at.date() if last else None,
                last_fill_state=FillState(last.state) if last else None,
                refills_remaining=max(0, prescription.refills_authorized - refills_used),
            )
        )
    return entries

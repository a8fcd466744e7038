"""Clinical screening at data review: allergies, duplicate therapy, early refill — and no more.

Findings are `ClinicalFinding` rows with an item on the pharmacist's work list; a fill cannot
leave data review for billing or filling while one is unacknowledged.

How ingredients are compared: the FDA writes a product's active ingredients in SUBSTANCENAME
as a ";"-separated list of salt forms ("AMOXICILLIN", "AMLODIPINE BESYLATE", "HYDROCODONE
BITARTRATE; ACETAMINOPHEN"). Each ingredient is reduced to its active moiety by dropping the
salt and hydrate words (`SALT_WORDS`), so an allergy recorded as "Amoxicillin trihydrate"
matches a product of "AMOXICILLIN"; an ingredient that is nothing but salt words ("SODIUM
CHLORIDE") keeps its full name. Drug classes are compared with the FDA pharmacologic class
strings in PHARM_CLASSES ("Penicillin-class Antibacterial [EPC]"), with or without the
bracketed class type, ignoring case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.db.base import utc_now
from app.db.models import (
    ClinicalFinding,
    DrugPackage,
    DrugProduct,
    Fill,
    PatientAllergy,
    Prescription,
    User,
)
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.domain.rx_rules import RuleOutcome, check_refill
from app.domain.workflow import check_clinical_override
from app.errors import NotFound, StaleRecord, ValidationFailed
from app.services.changes import publish
from app.services.fills import read_fill_row
from app.services.house_settings import read_house_settings
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role
from app.services.worklist import CLINICAL_FINDING, close_items, open_item

SCREENING_DISCLAIMER = (
    "RxBench screens only for allergies (by ingredient and by drug class), duplicate therapy "
    "and early refills. It is NOT a complete drug-interaction screen: drug-drug, drug-disease "
    "and dose checks are not done, and the pharmacist's own review is still required."
)

ALLERGY_INGREDIENT = "allergy_ingredient"
ALLERGY_CLASS = "allergy_class"
DUPLICATE_THERAPY = "duplicate_therapy"
EARLY_REFILL = "early_refill"
KIND_LABELS = {
    ALLERGY_INGREDIENT: "Allergy (ingredient)",
    ALLERGY_CLASS: "Allergy (drug class)",
    DUPLICATE_THERAPY: "Duplicate therapy",
    EARLY_REFILL: "Refill too soon",
}


SALT_WORDS = frozenset(
    """ACETATE ANHYDROUS BESYLATE BITARTRATE BROMIDE CALCIUM CHLORIDE CITRATE DIHYDRATE
    DIPROPIONATE DISODIUM FUMARATE FUROATE GLUCONATE HCL HEMIHYDRATE HYCLATE HYDRATE HYDROBROMIDE
    HYDROCHLORIDE LACTATE MAGNESIUM MALEATE MESYLATE MONOHYDRATE NITRATE PHOSPHATE POTASSIUM
    PROPIONATE SODIUM SUCCINATE SULFATE TARTRATE TRIHYDRATE VALERATE XINAFOATE""".split()
)
# Fills that never reach the patient cannot duplicate or precede anything.
_NEVER_DISPENSED = (FillState.CANCELLED.value, FillState.RETURNED_TO_STOCK.value)
_CLASS_SEPARATOR = re.compile(r"(?<=\])\s*,\s*")
_BRACKETED = re.compile(r"\s*\[[^\]]*\]\s*$")


class UnacknowledgedFindings(ValidationFailed):
    """A fill leaves data review only after the pharmacist has acknowledged every finding."""

    code = "unacknowledged-findings"


@dataclass(frozen=True)
class FindingDTO:
    finding_id: int
    fill_id: int
    kind: str
    kind_label: str
    severity: str
    message: str
    found_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledgement_reason: str
    version: int
    disclaimer: str = SCREENING_DISCLAIMER

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


def active_moieties(substance_names: str) -> frozenset[str]:
    """The active moieties in a ";"-separated FDA substance list (see the module docstring)."""
    moieties = set()
    for ingredient in substance_names.upper().split(";"):
        words = ingredient.split()
        kept = [word for word in words if word not in SALT_WORDS]
        if words:
            moieties.add(" ".join(kept or words))
    return frozenset(moieties)


def _class_names(pharm_classes: str) -> frozenset[str]:
    """Each class both as written and without its "[EPC]"-style suffix, lower-case."""
    names = set()
    for entry in _CLASS_SEPARATOR.split(pharm_classes.strip()):
        if entry:
            names.add(entry.lower())
            names.add(_BRACKETED.sub("", entry).lower())
    return frozenset(names)


def class_matches(allergy_class: str, pharm_classes: str) -> bool:
    wanted = allergy_class.strip().lower()
    if not wanted:
        return False
    return bool({wanted, _BRACKETED.sub("", wanted)} & _class_names(pharm_classes))


@dataclass(frozen=True)
class _Candidate:
    """A finding screening would raise; `key` says which facts it is about, to raise it once."""

    kind: str
    key: str
    severity: str
    message: str
    details: dict[str, Any]


def refill_outcome(
    session: Session, prescription: Prescription, *, fill_number: int, today: date
) -> tuple[RuleOutcome, Fill | None]:
    """rx_rules.check_refill on the facts before fill `fill_number`, and the last dispensed fill.

    Without a dispensed fill there is no supply to be too soon after: the rule is then asked
    with the written date and no days' supply, which can never warn.
    """
    earlier = session.scalars(
        select(Fill)
        .where(
            Fill.prescription_id == prescription.id,
            Fill.fill_number < fill_number,
            Fill.state.not_in(_NEVER_DISPENSED),
        )
        .order_by(Fill.fill_number)
    ).all()
    dispensed = [fill for fill in earlier if fill.state == FillState.SOLD.value]
    last = dispensed[-1] if dispensed else None
    schedule = session.scalar(
        select(DrugProduct.dea_schedule)
        .join(DrugPackage, DrugPackage.product_id == DrugProduct.id)
        .where(DrugPackage.id == prescription.package_id)
    )
    outcome = check_refill(
        schedule=schedule,
        written=prescription.written_date,
        today=today,
        refills_authorized=prescription.refills_authorized,
        refills_dispensed=sum(1 for fill in earlier if fill.fill_number > 0),
        last_filled=last.state_changed_at.date() if last else prescription.written_date,
        last_days_supply=last.days_supply if last else 0,
        config=read_house_settings(session).state_law,
    )
    return outcome, last


def early_refill_candidate(session: Session, fill: Fill, today: date) -> _Candidate | None:
    """The refill-too-soon warning of rx_rules for this fill, as a finding."""
    prescription = session.get(Prescription, fill.prescription_id)
    assert prescription is not None  # a foreign key guarantees it
    outcome, last = refill_outcome(session, prescription, fill_number=fill.fill_number, today=today)
    too_soon = [w for w in outcome.warnings if w.code == "refill-too-soon"]
    if not too_soon or last is None:
        return None
    return _Candidate(
        kind=EARLY_REFILL,
        key=f"fill-{last.id}",
        severity="warning",
        message=too_soon[0].message,
        details={
            "previous_fill_id": last.id,
            "earliest": too_soon[0].facts["earliest"].isoformat(),
            "fraction": str(read_house_settings(session).refill_too_soon_threshold),
        },
    )


def _allergy_candidates(
    session: Session, patient_id: int, product: DrugProduct
) -> list[_Candidate]:
    moieties = active_moieties(product.substance_name)
    found = []
    allergies = session.scalars(
        select(PatientAllergy).where(PatientAllergy.patient_id == patient_id)
    ).all()
    for allergy in allergies:
        shared = sorted(active_moieties(allergy.substance) & moieties) if allergy.substance else []
        if shared:
            found.append(
                _Candidate(
                    kind=ALLERGY_INGREDIENT,
                    key=f"allergy-{allergy.id}",
                    severity="critical",
                    message=(
                        f"Allergy: the patient is allergic to {allergy.substance.strip()}; "
                        f"this drug contains {', '.join(shared).lower()}."
                    ),
                    details={"allergy_id": allergy.id, "ingredients": shared},
                )
            )
        elif class_matches(allergy.drug_class, product.pharm_classes):
            found.append(
                _Candidate(
                    kind=ALLERGY_CLASS,
                    key=f"allergy-{allergy.id}",
                    severity="critical",
                    message=(
                        f"Allergy: the patient is allergic to the class "
                        f"{allergy.drug_class.strip()}; this drug belongs to it."
                    ),
                    details={"allergy_id": allergy.id, "drug_class": allergy.drug_class},
                )
            )
    return found


def _duplicate_candidates(
    session: Session, fill: Fill, patient_id: int, product: DrugProduct, now: datetime
) -> list[_Candidate]:
    """Other prescriptions' fills with a shared ingredient, in progress or within their supply."""
    moieties = active_moieties(product.substance_name)
    longest_supply = timedelta(days=366)
    others = session.execute(
        select(Fill, Prescription.rx_number, DrugProduct.substance_name)
        .join(Prescription, Fill.prescription_id == Prescription.id)
        .join(DrugPackage, Prescription.package_id == DrugPackage.id)
        .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
        .where(
            Prescription.patient_id == patient_id,
            Fill.prescription_id != fill.prescription_id,
            Fill.state.not_in(_NEVER_DISPENSED),
            or_(Fill.state != FillState.SOLD.value, Fill.state_changed_at > now - longest_supply),
        )
    ).all()
    found = []
    for other, rx_number, substance_name in others:
        sold = other.state == FillState.SOLD.value
        if sold and other.state_changed_at + timedelta(days=other.days_supply) <= now:
            continue
        shared = sorted(active_moieties(substance_name) & moieties)
        if shared:
            where = (
                "was picked up and is still within its days' supply" if sold else "is in progress"
            )
            found.append(
                _Candidate(
                    kind=DUPLICATE_THERAPY,
                    key=f"fill-{other.id}",
                    severity="warning",
                    message=(
                        f"Duplicate therapy: Rx {rx_number}-{other.fill_number} with "
                        f"{', '.join(shared).lower()} {where}."
                    ),
                    details={"other_fill_id": other.id, "ingredients": shared},
                )
            )
    return found


def record_findings(uow: UnitOfWork, fill: Fill, candidates: list[_Candidate]) -> None:
    """Add each finding not already raised for this fill, with its work-list item."""
    raised = {
        (finding.kind, finding.details.get("key"))
        for finding in uow.session.scalars(
            select(ClinicalFinding).where(ClinicalFinding.fill_id == fill.id)
        )
    }
    new = [c for c in candidates if (c.kind, c.key) not in raised]
    if not new:
        return
    row = read_fill_row(uow.session, fill.id)
    for candidate in new:
        finding = ClinicalFinding(
            fill_id=fill.id,
            kind=candidate.kind,
            severity=candidate.severity,
            message=candidate.message,
            details={"key": candidate.key, **candidate.details},
        )
        uow.session.add(finding)
        uow.audit("finding.raised", finding, fill_id=fill.id, kind=candidate.kind)
        open_item(
            uow,
            kind=CLINICAL_FINDING,
            entity_type="clinical_findings",
            entity_id=str(finding.id),
            summary=(
                f"{KIND_LABELS[candidate.kind]} · Rx {row.rx_number}-{row.fill_number} · "
                f"{row.patient_name} · {row.drug}"
            ),
        )
    publish(uow.session, topic="worklist", entity_id=None, workstation=uow.actor.workstation)


def screen_fill(uow: UnitOfWork, fill: Fill, *, now: datetime | None = None) -> None:
    """Run every check on `fill` in the caller's unit of work and record what it finds."""
    now = now or utc_now()
    patient_id, product = uow.session.execute(
        select(Prescription.patient_id, DrugProduct)
        .join(DrugPackage, Prescription.package_id == DrugPackage.id)
        .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
        .where(Prescription.id == fill.prescription_id)
    ).one()
    candidates = _allergy_candidates(uow.session, patient_id, product)
    candidates += _duplicate_candidates(uow.session, fill, patient_id, product, now)
    if fill.fill_number > 0:  # an original fill follows no earlier supply
        early = early_refill_candidate(uow.session, fill, now.date())
        if early is not None:
            candidates.append(early)
    record_findings(uow, fill, candidates)


def unacknowledged_count(session: Session, fill_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(ClinicalFinding)
            .where(ClinicalFinding.fill_id == fill_id, ClinicalFinding.acknowledged_at.is_(None))
        )
        or 0
    )


def fill_findings(session: Session, fill_id: int) -> list[FindingDTO]:
    statement = (
        select(ClinicalFinding, User.username)
        .outerjoin(User, ClinicalFinding.acknowledged_by_user_id == User.id)
        .where(ClinicalFinding.fill_id == fill_id)
        .order_by(ClinicalFinding.id)
    )
    return [_dto(finding, username) for finding, username in session.execute(statement)]


def _dto(finding: ClinicalFinding, acknowledged_by: str | None) -> FindingDTO:
    return FindingDTO(
        finding_id=finding.id,
        fill_id=finding.fill_id,
        kind=finding.kind,
        kind_label=KIND_LABELS.get(finding.kind, finding.kind),
        severity=finding.severity,
        message=finding.message,
        found_at=finding.found_at,
        acknowledged_by=acknowledged_by,
        acknowledged_at=finding.acknowledged_at,
        acknowledgement_reason=finding.acknowledgement_reason,
        version=finding.version,
    )


class ScreeningService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def screen(self, actor: Actor, fill_id: int) -> list[FindingDTO]:
        """Screen the fill again (new findings only are added); returns all its findings."""
        with self._db.unit_of_work(actor) as uow:
            require_role(actor, Role.TECHNICIAN, Role.PHARMACIST, action="screen a fill")
            fill = uow.session.get(Fill, fill_id)
            if fill is None:
                raise NotFound(f"There is no fill with id {fill_id}.", fill_id=fill_id)
            screen_fill(uow, fill)
            return fill_findings(uow.session, fill_id)

    def findings(self, actor: Actor, fill_id: int) -> list[FindingDTO]:
        require_role(actor, *Role, action="see a fill's clinical findings")
        with self._db.reading() as session:
            return fill_findings(session, fill_id)

    def acknowledge(
        self, actor: Actor, finding_id: int, *, expected_version: int, reason: str
    ) -> FindingDTO:
        """The pharmacist has weighed the finding: say why the fill may go on."""
        with self._db.unit_of_work(actor) as uow:
            check_clinical_override(actor.roles)
            finding = uow.session.get(ClinicalFinding, finding_id, with_for_update=True)
            if finding is None:
                raise NotFound(f"There is no clinical finding with id {finding_id}.")
            if finding.version != expected_version:
                raise StaleRecord(
                    "Someone else acknowledged or changed this finding while you were reading "
                    "it. Look at it again before acknowledging.",
                    finding_id=finding_id,
                    expected_version=expected_version,
                    current_version=finding.version,
                )
            if finding.acknowledged_at is not None:
                raise ValidationFailed(
                    "This finding has already been acknowledged.", finding_id=finding_id
                )
            if not reason.strip():
                raise ValidationFailed(
                    "Say why the fill may go on despite this finding.",
                    field="reason",
                    finding_id=finding_id,
                )
            finding.acknowledged_at = utc_now()
            finding.acknowledged_by_user_id = actor.user_id
            finding.acknowledgement_reason = reason.strip()
            uow.audit(
                "finding.acknowledged",
                finding,
                fill_id=finding.fill_id,
                kind=finding.kind,
                reason=reason.strip(),
            )
            close_items(
                uow,
                entity_type="clinical_findings",
                entity_id=str(finding.id),
                kinds=frozenset({CLINICAL_FINDING}),
            )
            publish(uow.session, topic="worklist", entity_id=None, workstation=actor.workstation)
            uow.session.flush()
            return _dto(finding, actor.username)

"""The RxBench schema as typed SQLAlchemy models.

Records of what happened (stock movements, audit events) are append-only: a correction is a
new reversing row. Rows two workstations may edit at once carry a version counter so a stale
edit is refused instead of silently overwriting.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, utc_now
from app.domain.label_text import drug_line

Quantity = Numeric(12, 3)


# --- people who use RxBench -------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(role.role for role in self.roles)


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")

    __table_args__ = (
        CheckConstraint("role IN ('technician', 'pharmacist', 'administrator')", name="known_role"),
    )


# --- the pharmacy -----------------------------------------------------------------------------


class Pharmacy(Base):
    """The pharmacy's profile: one row, shared by every workstation."""

    __tablename__ = "pharmacy"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(2))
    postal_code: Mapped[str] = mapped_column(String(10))
    phone: Mapped[str] = mapped_column(String(32))
    npi: Mapped[str] = mapped_column(String(10))
    ncpdp_id: Mapped[str] = mapped_column(String(7))
    dea_number: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


# --- patients and prescribers -----------------------------------------------------------------


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    middle_name: Mapped[str] = mapped_column(String(100), default="")
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    address_line1: Mapped[str] = mapped_column(String(200), default="")
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(2), default="")
    postal_code: Mapped[str] = mapped_column(String(10), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    preferred_language: Mapped[str] = mapped_column(String(8), default="en")
    phone_alternate: Mapped[str] = mapped_column(String(32), default="")
    # None: nobody asked yet; True: the patient said "no known allergies" (an explicit answer).
    no_known_allergies: Mapped[bool | None] = mapped_column(Boolean)
    easy_open_caps: Mapped[bool] = mapped_column(Boolean, default=False)
    large_print_labels: Mapped[bool] = mapped_column(Boolean, default=False)
    delivery: Mapped[bool] = mapped_column(Boolean, default=False)
    privacy_notice_acknowledged_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    allergies: Mapped[list[PatientAllergy]] = relationship(
        back_populates="patient", order_by="PatientAllergy.id"
    )
    conditions: Mapped[list[PatientCondition]] = relationship(
        back_populates="patient", order_by="PatientCondition.id"
    )
    coverages: Mapped[list[InsuranceCoverage]] = relationship(
        back_populates="patient", order_by="InsuranceCoverage.rank"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("sex IN ('F', 'M', 'X', 'U')", name="known_sex"),
        Index("ix_patients_phone", "phone"),
        Index("ix_patients_name", "last_name", "first_name"),
        Index("ix_patients_date_of_birth", "date_of_birth"),
    )

    @property
    def display_name(self) -> str:
        return f"{self.last_name}, {self.first_name}"


class PatientAllergy(Base):
    """An allergy coded to an ingredient and/or a pharmacologic class where possible."""

    __tablename__ = "patient_allergies"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    substance: Mapped[str] = mapped_column(String(200), default="")
    drug_class: Mapped[str] = mapped_column(String(200), default="")
    reaction: Mapped[str] = mapped_column(String(200), default="")
    severity: Mapped[str] = mapped_column(String(16), default="unknown")
    free_text: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utc_now)

    patient: Mapped[Patient] = relationship(back_populates="allergies")

    __table_args__ = (
        CheckConstraint(
            "severity IN ('mild', 'moderate', 'severe', 'unknown')", name="known_severity"
        ),
    )


class PatientCondition(Base):
    __tablename__ = "patient_conditions"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    description: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(default=utc_now)

    patient: Mapped[Patient] = relationship(back_populates="conditions")


class InsuranceCoverage(Base):
    """A pharmacy benefit card; rank 1 is primary, 2 secondary (NCPDP coordination of benefits)."""

    __tablename__ = "insurance_coverages"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    plan_name: Mapped[str] = mapped_column(String(200), default="")
    bin: Mapped[str] = mapped_column(String(6))
    pcn: Mapped[str] = mapped_column(String(10), default="")
    group_number: Mapped[str] = mapped_column(String(15), default="")
    cardholder_id: Mapped[str] = mapped_column(String(20))
    person_code: Mapped[str] = mapped_column(String(3), default="")
    # NCPDP 306-C6: 0 not specified, 1 cardholder, 2 spouse, 3 child, 4 other.
    relationship_code: Mapped[str] = mapped_column(String(1), default="1")
    effective_on: Mapped[date | None] = mapped_column(Date)
    terminated_on: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    patient: Mapped[Patient] = relationship(back_populates="coverages")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("rank BETWEEN 1 AND 9", name="rank_range"),
        CheckConstraint("relationship_code IN ('0', '1', '2', '3', '4')", name="relationship"),
    )


class Prescriber(Base):
    __tablename__ = "prescribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    credentials: Mapped[str] = mapped_column(String(32), default="")
    npi: Mapped[str] = mapped_column(String(10), unique=True)
    dea_number: Mapped[str | None] = mapped_column(String(20))
    state_license: Mapped[str] = mapped_column(String(32), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    fax: Mapped[str] = mapped_column(String(32), default="")
    address_line1: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(2), default="")
    postal_code: Mapped[str] = mapped_column(String(10), default="")
    # Schedules the DEA registration covers, comma-separated: 2,2N,3,3N,4,5.
    dea_schedules: Mapped[str] = mapped_column(String(20), default="")
    dea_expires_on: Mapped[date | None] = mapped_column(Date)
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_prescribers_name", "last_name", "first_name"),)

    @property
    def display_name(self) -> str:
        suffix = f", {self.credentials}" if self.credentials else ""
        return f"{self.first_name} {self.last_name}{suffix}"


# --- the drug catalogue (FDA NDC Directory) ---------------------------------------------------


class CatalogueSnapshot(Base):
    """Which NDC Directory snapshot the catalogue holds, so its age can be shown."""

    __tablename__ = "catalogue_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_name: Mapped[str] = mapped_column(String(255))
    snapshot_date: Mapped[date] = mapped_column(Date)
    imported_at: Mapped[datetime] = mapped_column(default=utc_now)
    product_count: Mapped[int] = mapped_column(Integer)
    package_count: Mapped[int] = mapped_column(Integer)


class DrugProduct(Base):
    """One FDA listing (PRODUCTID); PRODUCTNDC alone is not unique in the directory."""

    __tablename__ = "drug_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    fda_product_id: Mapped[str] = mapped_column(String(80), unique=True)
    product_ndc: Mapped[str] = mapped_column(String(12), index=True)
    product_type: Mapped[str] = mapped_column(String(64), default="")
    proprietary_name: Mapped[str] = mapped_column(String(255), default="")
    proprietary_name_suffix: Mapped[str] = mapped_column(String(255), default="")
    nonproprietary_name: Mapped[str] = mapped_column(Text, default="")
    dosage_form: Mapped[str] = mapped_column(String(100), default="")
    route: Mapped[str] = mapped_column(String(255), default="")
    start_marketing_date: Mapped[date | None] = mapped_column(Date)
    end_marketing_date: Mapped[date | None] = mapped_column(Date)
    marketing_category: Mapped[str] = mapped_column(String(64), default="")
    application_number: Mapped[str] = mapped_column(String(32), default="")
    labeler: Mapped[str] = mapped_column(String(255), default="")
    substance_name: Mapped[str] = mapped_column(Text, default="")
    strength: Mapped[str] = mapped_column(Text, default="")
    strength_unit: Mapped[str] = mapped_column(Text, default="")
    pharm_classes: Mapped[str] = mapped_column(Text, default="")
    dea_schedule: Mapped[str | None] = mapped_column(String(4))
    ndc_exclude_flag: Mapped[str] = mapped_column(String(1), default="N")
    listing_certified_through: Mapped[date | None] = mapped_column(Date)
    discontinued: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last directory that listed it: a product the FDA drops is kept, marked discontinued.
    last_seen_snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("catalogue_snapshots.id"))
    # The display name folded to lower-case ASCII words, for ranking and ordering search hits.
    search_name: Mapped[str] = mapped_column(String(255), default="", index=True)
    # "fda" from the NDC Directory; "pharmacy" when a pharmacist added it from a scanned bottle
    # the directory lacks. An import never marks a pharmacy product discontinued.
    source: Mapped[str] = mapped_column(String(8), default="fda", server_default="fda")
    # The words catalogue search matches for each of its packages (see app.services.catalogue).
    search_text: Mapped[str] = mapped_column(Text, default="")

    packages: Mapped[list[DrugPackage]] = relationship(back_populates="product")

    __table_args__ = (CheckConstraint("source IN ('fda', 'pharmacy')", name="known_source"),)

    @property
    def display_name(self) -> str:
        """As the label prints it (ISMP-safe strength), so every panel names the drug alike."""
        name = self.proprietary_name or self.nonproprietary_name
        return drug_line(name, self.strength, self.strength_unit, self.dosage_form)


class DrugPackage(Base):
    """One package NDC; `ndc11` is indexed but not unique (the directory has collisions).

    `billing_quantity_source` says whether the billing quantity was parsed from the FDA package
    description, edited by a pharmacist (a re-import keeps it), or is unknown. `search_ndc` (its
    10- and 11-digit forms) is what the NDC search index holds (see app.services.catalogue).
    """

    __tablename__ = "drug_packages"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("drug_products.id"), index=True)
    ndc: Mapped[str] = mapped_column(String(14), index=True)
    ndc11: Mapped[str] = mapped_column(String(11), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    package_quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    package_unit: Mapped[str] = mapped_column(String(64), default="")
    billing_unit: Mapped[str] = mapped_column(String(2), default="EA")
    billing_quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    sample_package: Mapped[bool] = mapped_column(Boolean, default=False)
    start_marketing_date: Mapped[date | None] = mapped_column(Date)
    end_marketing_date: Mapped[date | None] = mapped_column(Date)
    ndc_exclude_flag: Mapped[str] = mapped_column(String(1), default="N")
    billing_quantity_source: Mapped[str] = mapped_column(String(8), default="unknown")
    discontinued: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the pharmacy sees in the bottle ("white round tablet, M 30"); never from the FDA.
    physical_description: Mapped[str] = mapped_column(Text, default="")
    last_seen_snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("catalogue_snapshots.id"))
    search_ndc: Mapped[str] = mapped_column(Text, default="")

    product: Mapped[DrugProduct] = relationship(back_populates="packages")

    __table_args__ = (
        UniqueConstraint("product_id", "ndc"),
        CheckConstraint("billing_unit IN ('EA', 'GM', 'ML')", name="billing_unit"),
        CheckConstraint(
            "billing_quantity_source IN ('parsed', 'edited', 'unknown')",
            name="billing_quantity_source",
        ),
    )


# Search objects the migrations create by hand because models cannot describe them: the SQLite
# FTS5 tables (catalogue_search, catalogue_search_ndc and their shadow tables) and the
# PostgreSQL trigram indexes.
SEARCH_INDEX_TABLE = "catalogue_search"
SEARCH_TRIGRAM_INDEXES = frozenset(
    {"ix_drug_products_search_text_trgm", "ix_drug_packages_search_ndc_trgm"}
)


def managed_by_models(
    _object: Any, name: str | None, type_: str, reflected: bool, _compare_to: Any
) -> bool:
    """Alembic `include_object`: leave the hand-made search objects out of model comparison."""
    if not reflected or name is None:
        return True
    if type_ == "table":
        return not (name == SEARCH_INDEX_TABLE or name.startswith(SEARCH_INDEX_TABLE + "_"))
    if type_ == "index":
        return name not in SEARCH_TRIGRAM_INDEXES
    return True


# --- prescriptions and fills ------------------------------------------------------------------


class Prescription(Base):
    __tablename__ = "prescriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    rx_number: Mapped[str] = mapped_column(String(12), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    prescriber_id: Mapped[int] = mapped_column(ForeignKey("prescribers.id"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("drug_packages.id"))
    source: Mapped[str] = mapped_column(String(16), default="electronic")
    written_date: Mapped[date] = mapped_column(Date)
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    days_supply: Mapped[int] = mapped_column(Integer)
    refills_authorized: Mapped[int] = mapped_column(Integer, default=0)
    sig_code: Mapped[str] = mapped_column(String(255), default="")
    directions: Mapped[str] = mapped_column(Text, default="")
    daw_code: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[str] = mapped_column(Text, default="")
    quantity_unit: Mapped[str] = mapped_column(String(2), default="EA")
    days_supply_overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    # The sig could not be fully expanded: directions keep the free text for the pharmacist.
    sig_needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    indication: Mapped[str] = mapped_column(String(200), default="")
    transferred_from: Mapped[str] = mapped_column(String(200), default="")
    transfer_count: Mapped[int] = mapped_column(Integer, default=0)
    do_not_fill_before: Mapped[date | None] = mapped_column(Date)
    emergency_oral: Mapped[bool] = mapped_column(Boolean, default=False)
    written_follow_up_due: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    patient: Mapped[Patient] = relationship()
    prescriber: Mapped[Prescriber] = relationship()
    package: Mapped[DrugPackage] = relationship()
    fills: Mapped[list[Fill]] = relationship(back_populates="prescription")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("quantity > 0", name="positive_quantity"),
        CheckConstraint("days_supply > 0", name="positive_days_supply"),
        CheckConstraint("refills_authorized >= 0", name="refills_not_negative"),
        CheckConstraint("daw_code BETWEEN 0 AND 9", name="daw_code_range"),
        CheckConstraint(
            "source IN ('electronic', 'written', 'phoned', 'faxed', 'transferred')",
            name="known_source",
        ),
        CheckConstraint("status IN ('active', 'inactive', 'transferred_out')", name="known_status"),
    )


class PrescriptionImage(Base):
    """The scanned paper or faxed prescription, shown beside it at pharmacist data review."""

    __tablename__ = "prescription_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    prescription_id: Mapped[int] = mapped_column(ForeignKey("prescriptions.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[datetime] = mapped_column(default=utc_now)


class Fill(Base):
    """One dispensing of a prescription; fill number 0 is the original."""

    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(primary_key=True)
    prescription_id: Mapped[int] = mapped_column(ForeignKey("prescriptions.id"))
    fill_number: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(24))
    priority: Mapped[str] = mapped_column(String(16), default="today")
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    days_supply: Mapped[int] = mapped_column(Integer)
    dispensed_package_id: Mapped[int | None] = mapped_column(ForeignKey("drug_packages.id"))
    promised_at: Mapped[datetime | None]
    held_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The state a fill on hold returns to, and why it is held.
    resume_state: Mapped[str | None] = mapped_column(String(24))
    hold_reason: Mapped[str] = mapped_column(Text, default="")
    # How many containers the patient takes home: one label each ("1 of 3").
    containers: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    state_changed_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    prescription: Mapped[Prescription] = relationship(back_populates="fills")
    dispensed_package: Mapped[DrugPackage | None] = relationship()
    held_by: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("prescription_id", "fill_number"),
        CheckConstraint("quantity > 0", name="positive_quantity"),
        CheckConstraint("fill_number >= 0", name="fill_number_not_negative"),
        CheckConstraint("containers BETWEEN 1 AND 99", name="containers_range"),
        Index("ix_fills_state_created", "state", "created_at"),
    )


class FillTransition(Base):
    """Append-only history of a fill's workflow: who moved it, from where to where, and why."""

    __tablename__ = "fill_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    fill_id: Mapped[int] = mapped_column(ForeignKey("fills.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str] = mapped_column(String(64))
    workstation: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now)


class ClinicalFinding(Base):
    """A screening result at data review (allergy, duplicate therapy, early refill)."""

    __tablename__ = "clinical_findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    fill_id: Mapped[int] = mapped_column(ForeignKey("fills.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    found_at: Mapped[datetime] = mapped_column(default=utc_now)
    acknowledged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None]
    acknowledgement_reason: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


class WorkItem(Base):
    """One entry in the single pharmacist work list, whatever kind of thing waits on them.

    Fills at data review and final verification, clinical findings, and the later kinds
    (shortage notices, count approvals, recalls, counseling, overrides) all land here, so
    there is one queue and one badge.
    """

    __tablename__ = "work_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(default=utc_now)
    closed_at: Mapped[datetime | None]
    closed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_work_items_open", "closed_at", "kind"),)


class ChangeEvent(Base):
    """A note that something other workstations show has changed; they poll or LISTEN."""

    __tablename__ = "change_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    workstation: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now)


class Counter(Base):
    """Named sequences handed out under a row lock (Rx numbers)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_value: Mapped[int] = mapped_column(Integer)


class PharmacySetting(Base):
    """House policies shared by every workstation (thresholds, state-law choices, sig table)."""

    __tablename__ = "pharmacy_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


# --- stock ------------------------------------------------------------------------------------


class StockLot(Base):
    __tablename__ = "stock_lots"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("drug_packages.id"), index=True)
    lot_number: Mapped[str] = mapped_column(String(40))
    expiry: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="available")
    location: Mapped[str] = mapped_column(String(64), default="shelf")
    on_hand: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))
    # What one billing unit of this lot cost, from its latest invoice (claims price from it).
    unit_cost_cents: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    package: Mapped[DrugPackage] = relationship()

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("package_id", "lot_number"),
        CheckConstraint(
            "status IN ('available', 'quarantined', 'recalled')", name="known_lot_status"
        ),
    )


class StockLevel(Base):
    """The pharmacy's reorder point for one package NDC: below `minimum`, tell the pharmacist;
    a suggested order brings it back up to `maximum`."""

    __tablename__ = "stock_levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("drug_packages.id"), unique=True)
    minimum: Mapped[Decimal] = mapped_column(Quantity)
    maximum: Mapped[Decimal] = mapped_column(Quantity)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("minimum >= 0", name="minimum_not_negative"),
        CheckConstraint("maximum >= minimum", name="maximum_at_least_minimum"),
    )


class Receipt(Base):
    """One delivery checked in: the DSCSA transaction information that came with it, and for
    schedule II the DEA Form 222 / CSOS order it fills."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier: Mapped[str] = mapped_column(String(200))
    invoice_number: Mapped[str] = mapped_column(String(64))
    invoice_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), default="scan")
    dea_order_number: Mapped[str] = mapped_column(String(32), default="")
    dea_order_date: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    workstation: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (CheckConstraint("source IN ('scan', 'invoice_csv')", name="known_source"),)


class ReceiptLine(Base):
    """One package (or a count of identical packages) of a receipt, with its product identifiers."""

    __tablename__ = "receipt_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("drug_packages.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("stock_lots.id"), index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    serial: Mapped[str | None] = mapped_column(String(40))
    unit_cost_cents: Mapped[int | None] = mapped_column(Integer)
    movement_id: Mapped[int] = mapped_column(ForeignKey("stock_movements.id"))
    suspect: Mapped[bool] = mapped_column(Boolean, default=False)
    suspect_reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        CheckConstraint("quantity > 0", name="positive_quantity"),
        CheckConstraint(
            "unit_cost_cents IS NULL OR unit_cost_cents >= 0", name="cost_not_negative"
        ),
    )


class StockMovement(Base):
    """Append-only: on-hand is the sum of movements; a mistake is undone by a reversal."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("stock_lots.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    fill_id: Mapped[int | None] = mapped_column(ForeignKey("fills.id"), index=True)
    # Indexed: "movements not yet reversed" joins on it for every return to stock.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movements.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    workstation: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        CheckConstraint(
            "kind IN ('received', 'dispensed', 'returned_to_vendor', 'transferred', "
            "'destroyed', 'adjusted', 'count_correction', 'reversal')",
            name="known_movement_kind",
        ),
    )


class FillBottle(Base):
    """One stock bottle scanned for a fill at verification: what it was judged, how much it gave.

    A bottle that was accepted points to the dispensing movement it caused; a stop is never
    stored here (nothing was taken from the shelf). A voided bottle keeps its row, with why.
    """

    __tablename__ = "fill_bottles"

    id: Mapped[int] = mapped_column(primary_key=True)
    fill_id: Mapped[int] = mapped_column(ForeignKey("fills.id"), index=True)
    scanned_text: Mapped[str] = mapped_column(String(200))
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(16))
    package_id: Mapped[int] = mapped_column(ForeignKey("drug_packages.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("stock_lots.id"))
    lot_number: Mapped[str] = mapped_column(String(40), default="")
    expiry: Mapped[date | None] = mapped_column(Date)
    serial: Mapped[str | None] = mapped_column(String(40), index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    verdict: Mapped[str] = mapped_column(String(24))
    verdict_message: Mapped[str] = mapped_column(Text, default="")
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    overridden_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    override_reason: Mapped[str] = mapped_column(Text, default="")
    movement_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movements.id"))
    voided_at: Mapped[datetime | None]
    voided_reason: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    workstation: Mapped[str] = mapped_column(String(100))
    scanned_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (CheckConstraint("quantity > 0", name="positive_quantity"),)


class ControlledSubstanceEntry(Base):
    """The perpetual controlled-substance log: one line per change of a CII–CV package's stock."""

    __tablename__ = "controlled_substance_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("drug_packages.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("stock_lots.id"))
    schedule: Mapped[str] = mapped_column(String(4))
    kind: Mapped[str] = mapped_column(String(24))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    balance_after: Mapped[Decimal] = mapped_column(Quantity)
    fill_id: Mapped[int | None] = mapped_column(ForeignKey("fills.id"))
    movement_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movements.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    witness_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        CheckConstraint("schedule IN ('CII', 'CIII', 'CIV', 'CV')", name="known_schedule"),
    )


# --- counts and the controlled-substance record -------------------------------------------------

# A count session is "active" until a pharmacist approves it or it is cancelled: only one active
# session may count a given location or package, whichever workstation starts it.
_ACTIVE_COUNT = "status IN ('counting', 'submitted')"


class CountSession(Base):
    """A cycle count of one location or one package NDC.

    Counted line by line (it survives a closed window and resumes where it was left), submitted,
    then approved by a pharmacist, whose approval turns each discrepancy into a
    `count_correction` movement. `scope_key` ("location:shelf", "package:42") is what the
    partial unique index holds, so two workstations cannot count the same thing at once.
    """

    __tablename__ = "count_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    location: Mapped[str] = mapped_column(String(64), default="")
    package_id: Mapped[int | None] = mapped_column(ForeignKey("drug_packages.id"))
    scope_key: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default="counting")
    note: Mapped[str] = mapped_column(Text, default="")
    started_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    workstation: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    submitted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None]
    # A pharmacist approves; the house may also want a second person's signature on the count.
    approved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]
    second_signer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_reason: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("scope IN ('location', 'package')", name="known_scope"),
        CheckConstraint(
            "status IN ('counting', 'submitted', 'approved', 'cancelled')", name="known_status"
        ),
        Index(
            "uq_count_sessions_active_scope",
            "scope_key",
            unique=True,
            sqlite_where=text(_ACTIVE_COUNT),
            postgresql_where=text(_ACTIVE_COUNT),
        ),
    )


class CountLine(Base):
    """One lot in a count: what the ledger said when it was counted, what was counted, and a
    recount where the two differ. `movement_id` is the correction the approval wrote."""

    __tablename__ = "count_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("count_sessions.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("stock_lots.id"))
    expected: Mapped[Decimal | None] = mapped_column(Quantity)
    counted: Mapped[Decimal | None] = mapped_column(Quantity)
    counted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    counted_at: Mapped[datetime | None]
    recount: Mapped[Decimal | None] = mapped_column(Quantity)
    recounted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recounted_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text, default="")
    movement_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movements.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("session_id", "lot_id"),
        CheckConstraint("counted IS NULL OR counted >= 0", name="counted_not_negative"),
        CheckConstraint("recount IS NULL OR recount >= 0", name="recount_not_negative"),
    )


class ControlledDiscrepancy(Base):
    """A controlled-substance count that did not match the perpetual log: investigated with
    notes, then signed off by a pharmacist; a significant loss links its DEA Form 106."""

    __tablename__ = "controlled_discrepancies"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("drug_packages.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("stock_lots.id"))
    schedule: Mapped[str] = mapped_column(String(4))
    count_line_id: Mapped[int | None] = mapped_column(ForeignKey("count_lines.id"))
    expected: Mapped[Decimal] = mapped_column(Quantity)
    counted: Mapped[Decimal] = mapped_column(Quantity)
    status: Mapped[str] = mapped_column(String(16), default="open")
    investigation: Mapped[str] = mapped_column(Text, default="")
    resolution: Mapped[str] = mapped_column(Text, default="")
    found_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    found_at: Mapped[datetime] = mapped_column(default=utc_now)
    signed_off_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_off_at: Mapped[datetime | None]
    loss_report_id: Mapped[int | None] = mapped_column(ForeignKey("dea_loss_reports.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("schedule IN ('CII', 'CIII', 'CIV', 'CV')", name="known_schedule"),
        CheckConstraint("status IN ('open', 'signed_off')", name="known_status"),
    )


class DeaLossReport(Base):
    """DEA Form 106: a theft or significant loss of controlled substances, due within one
    business day of discovery. RxBench records that it was filed (with DEA's reference); the
    form itself is filed on DEA's site."""

    __tablename__ = "dea_loss_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("drug_packages.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("stock_lots.id"))
    schedule: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    loss_type: Mapped[str] = mapped_column(String(24))
    count_session_id: Mapped[int | None] = mapped_column(ForeignKey("count_sessions.id"))
    discovered_at: Mapped[datetime] = mapped_column(default=utc_now)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="due")
    dea_reference: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("schedule IN ('CII', 'CIII', 'CIV', 'CV')", name="known_schedule"),
        CheckConstraint("quantity > 0", name="positive_quantity"),
        CheckConstraint(
            "loss_type IN ('theft', 'significant_loss', 'loss_in_transit', 'other')",
            name="known_loss_type",
        ),
        CheckConstraint("status IN ('due', 'filed', 'withdrawn')", name="known_status"),
    )


class ControlledInventory(Base):
    """A DEA inventory of controlled substances (biennial, initial or on a schedule change),
    taken at the opening or the close of business: the report states which."""

    __tablename__ = "controlled_inventories"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="biennial")
    timing: Mapped[str] = mapped_column(String(8))
    taken_on: Mapped[date] = mapped_column(Date)
    # The registrant as it was when the inventory was taken (name, address, DEA number).
    registrant: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    taken_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    witness_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    workstation: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        CheckConstraint("kind IN ('biennial', 'initial', 'schedule_change')", name="known_kind"),
        CheckConstraint("timing IN ('opening', 'close')", name="known_timing"),
    )


class ControlledInventoryLine(Base):
    """One package NDC in an inventory: sealed containers, what is in opened ones, and whether
    the figure is an exact count (always for CII, and for a container of more than 1,000
    units) or an estimate."""

    __tablename__ = "controlled_inventory_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    inventory_id: Mapped[int] = mapped_column(ForeignKey("controlled_inventories.id"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("drug_packages.id"))
    schedule: Mapped[str] = mapped_column(String(4))
    sealed_containers: Mapped[int] = mapped_column(Integer, default=0)
    opened_quantity: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))
    total: Mapped[Decimal] = mapped_column(Quantity)
    exact: Mapped[bool] = mapped_column(Boolean)
    ledger_balance: Mapped[Decimal] = mapped_column(Quantity)
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        UniqueConstraint("inventory_id", "package_id"),
        CheckConstraint("schedule IN ('CII', 'CIII', 'CIV', 'CV')", name="known_schedule"),
        CheckConstraint("sealed_containers >= 0", name="sealed_not_negative"),
        CheckConstraint("opened_quantity >= 0", name="opened_not_negative"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint("schedule <> 'CII' OR exact", name="cii_counted_exactly"),
    )


class PmpReport(Base):
    """One prescription-monitoring (ASAP 4.2) file for one state and dispensing day: its exact
    bytes, how many records (zero for a zero report), and when and where it was sent. A
    corrected file for the same day names the one it replaces."""

    __tablename__ = "pmp_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(2))
    report_date: Mapped[date] = mapped_column(Date)
    file_name: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    record_count: Mapped[int] = mapped_column(Integer)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("pmp_reports.id"))
    generated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    generated_at: Mapped[datetime] = mapped_column(default=utc_now)
    status: Mapped[str] = mapped_column(String(16), default="generated")
    destination: Mapped[str] = mapped_column(String(255), default="")
    sent_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sent_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("record_count >= 0", name="record_count_not_negative"),
        CheckConstraint("status IN ('generated', 'sent', 'replaced')", name="known_status"),
        Index("ix_pmp_reports_state_date", "state", "report_date"),
    )


# --- recalls ----------------------------------------------------------------------------------


class Recall(Base):
    """A manufacturer's or FDA recall, entered by hand or imported from an FDA enforcement
    report. The level (how deep the recall reaches) decides whether patients are contacted."""

    __tablename__ = "recalls"

    id: Mapped[int] = mapped_column(primary_key=True)
    recall_number: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(16), default="manual")
    classification: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    firm: Mapped[str] = mapped_column(String(200), default="")
    product_description: Mapped[str] = mapped_column(Text, default="")
    initiated_on: Mapped[date | None] = mapped_column(Date)
    # The enforcement-report record it came from, kept as read (public FDA data, no PHI).
    source_record: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    closed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("source IN ('manual', 'openfda')", name="known_source"),
        CheckConstraint(
            "classification IN ('Class I', 'Class II', 'Class III')", name="known_classification"
        ),
        CheckConstraint("level IN ('consumer', 'retail', 'wholesale')", name="known_level"),
        CheckConstraint("status IN ('open', 'closed')", name="known_status"),
    )


class RecallItem(Base):
    """One package NDC a recall names, with one lot, or every lot when `lot_number` is empty.
    Received stock that matches an item of an open recall goes straight to quarantine."""

    __tablename__ = "recall_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("drug_packages.id"), index=True)
    lot_number: Mapped[str] = mapped_column(String(40), default="")

    __table_args__ = (UniqueConstraint("recall_id", "package_id", "lot_number"),)


class RecallLot(Base):
    """A lot of ours a recall matched: quarantined when matched, and when its stock was pulled."""

    __tablename__ = "recall_lots"

    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("stock_lots.id"), index=True)
    on_hand_when_matched: Mapped[Decimal] = mapped_column(Quantity)
    matched_at: Mapped[datetime] = mapped_column(default=utc_now)
    pulled_at: Mapped[datetime | None]
    pulled_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (UniqueConstraint("recall_id", "lot_id"),)


class RecallContact(Base):
    """A patient who received a recalled lot, to be contacted: one row per fill, with status."""

    __tablename__ = "recall_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    fill_id: Mapped[int] = mapped_column(ForeignKey("fills.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("stock_lots.id"))
    status: Mapped[str] = mapped_column(String(16), default="to_contact")
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("recall_id", "fill_id", "lot_id"),
        CheckConstraint(
            "status IN ('to_contact', 'contacted', 'unreachable', 'not_required')",
            name="known_status",
        ),
    )


# --- claims -----------------------------------------------------------------------------------


class Claim(Base):
    """One NCPDP D.0 transaction sent (or about to be sent) to a payer for a fill.

    Written before the request leaves (status `pending`, its request bytes kept) and answered
    after: a `pending` claim older than the send timeout is a crash between the two, shown as
    an unknown outcome and settled by a reversal. A B2 row reverses the B1 in `reverses_id`.
    Money is integer cents.
    """

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    fill_id: Mapped[int] = mapped_column(ForeignKey("fills.id"), index=True)
    coverage_id: Mapped[int] = mapped_column(ForeignKey("insurance_coverages.id"))
    payer_rank: Mapped[int] = mapped_column(Integer)
    transaction_code: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    ndc11: Mapped[str] = mapped_column(String(11))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    days_supply: Mapped[int] = mapped_column(Integer)
    date_of_service: Mapped[date] = mapped_column(Date)
    request: Mapped[bytes] = mapped_column(LargeBinary)
    response: Mapped[bytes | None] = mapped_column(LargeBinary)
    authorization_number: Mapped[str] = mapped_column(String(20), default="")
    ingredient_cost_submitted_cents: Mapped[int] = mapped_column(Integer, default=0)
    usual_and_customary_cents: Mapped[int] = mapped_column(Integer, default=0)
    ingredient_cost_paid_cents: Mapped[int | None] = mapped_column(Integer)
    dispensing_fee_paid_cents: Mapped[int | None] = mapped_column(Integer)
    patient_pay_cents: Mapped[int | None] = mapped_column(Integer)
    copay_cents: Mapped[int | None] = mapped_column(Integer)
    other_payer_amount_cents: Mapped[int | None] = mapped_column(Integer)
    total_paid_cents: Mapped[int | None] = mapped_column(Integer)
    reject_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    message: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(default=utc_now)
    submitted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    workstation: Mapped[str] = mapped_column(String(100))
    answered_at: Mapped[datetime | None]
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"), index=True)
    # Why a B2 was sent (cancelled, returned to stock, NDC changed) and whether the fill is
    # billed again once it is answered (the dispensed NDC or quantity changed).
    reason: Mapped[str] = mapped_column(Text, default="")
    then_rebill: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("payer_rank BETWEEN 1 AND 9", name="payer_rank_range"),
        CheckConstraint("transaction_code IN ('B1', 'B2')", name="known_transaction"),
        CheckConstraint(
            "status IN ('pending', 'paid', 'captured', 'rejected', 'reversed', 'duplicate', "
            "'unknown_outcome', 'approved')",
            name="known_status",
        ),
        CheckConstraint("quantity > 0", name="positive_quantity"),
        CheckConstraint(
            "(transaction_code = 'B2') = (reverses_id IS NOT NULL)", name="reversal_names_claim"
        ),
        Index("ix_claims_status", "status"),
    )


# --- point of sale ----------------------------------------------------------------------------


class OtcItem(Base):
    """An over-the-counter item sold at the register, found by its UPC; money in cents.

    `pse_base_mg` is the pseudoephedrine or ephedrine base in one package (0 for other items):
    such items are sold only under the federal limits, to an identified purchaser, logged.
    """

    __tablename__ = "otc_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    upc: Mapped[str] = mapped_column(String(14), unique=True)
    description: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int] = mapped_column(Integer)
    taxable: Mapped[bool] = mapped_column(Boolean, default=True)
    pse_base_mg: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal(0))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("pse_base_mg >= 0", name="pse_base_not_negative"),
    )


class Sale(Base):
    """One transaction at the register: open while the cart is built, then completed (its
    fills sold), voided (an open sale abandoned with approval) or refunded (all money back)."""

    __tablename__ = "sales"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    workstation: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="open")
    subtotal_cents: Mapped[int] = mapped_column(Integer, default=0)
    tax_cents: Mapped[int] = mapped_column(Integer, default=0)
    total_cents: Mapped[int] = mapped_column(Integer, default=0)
    tax_basis_points: Mapped[int] = mapped_column(Integer, default=0)
    opened_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utc_now)
    completed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    lines: Mapped[list[SaleLine]] = relationship(
        back_populates="sale", order_by="SaleLine.id", cascade="all, delete-orphan"
    )
    tenders: Mapped[list[Tender]] = relationship(back_populates="sale", order_by="Tender.id")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'completed', 'voided', 'refunded')", name="known_status"
        ),
        CheckConstraint("subtotal_cents >= 0 AND tax_cents >= 0", name="amounts_not_negative"),
        CheckConstraint("total_cents = subtotal_cents + tax_cents", name="total_adds_up"),
        CheckConstraint(
            "(status = 'open') = (completed_at IS NULL) OR status = 'voided'",
            name="completed_has_time",
        ),
        Index("ix_sales_status_workstation", "status", "workstation"),
    )


class SaleLine(Base):
    """A fill or an OTC item in a sale; `amount_cents` is what the patient pays for the line."""

    __tablename__ = "sale_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sales.id"), index=True)
    fill_id: Mapped[int | None] = mapped_column(ForeignKey("fills.id"), index=True)
    otc_item_id: Mapped[int | None] = mapped_column(ForeignKey("otc_items.id"))
    description: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(Integer)
    taxable: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where a fill's price came from: the paid claim's patient pay, or the house cash price.
    price_source: Mapped[str] = mapped_column(String(16))
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"))

    sale: Mapped[Sale] = relationship(back_populates="lines")

    __table_args__ = (
        CheckConstraint("(fill_id IS NULL) <> (otc_item_id IS NULL)", name="fill_or_item"),
        CheckConstraint("quantity > 0", name="positive_quantity"),
        CheckConstraint("unit_price_cents >= 0 AND amount_cents >= 0", name="not_negative"),
        CheckConstraint("fill_id IS NULL OR NOT taxable", name="prescriptions_untaxed"),
        CheckConstraint(
            "price_source IN ('claim', 'cash_price', 'item_price')", name="known_price_source"
        ),
    )


class Tender(Base):
    """Money taken for a sale: append-only. A card keeps only its last four digits and the
    terminal's approval code, never the card number."""

    __tablename__ = "tenders"

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sales.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(Integer)
    change_given_cents: Mapped[int] = mapped_column(Integer, default=0)
    reference: Mapped[str] = mapped_column(String(64), default="")
    card_last_four: Mapped[str] = mapped_column(String(4), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    workstation: Mapped[str] = mapped_column(String(100))
    taken_at: Mapped[datetime] = mapped_column(default=utc_now)

    sale: Mapped[Sale] = relationship(back_populates="tenders")

    __table_args__ = (
        CheckConstraint(
            "kind IN ('cash', 'credit', 'debit', 'check', 'hsa_fsa', 'house_charge')",
            name="known_kind",
        ),
        CheckConstraint("amount_cents > 0", name="positive_amount"),
        CheckConstraint("change_given_cents >= 0", name="change_not_negative"),
        CheckConstraint("kind = 'cash' OR change_given_cents = 0", name="change_only_for_cash"),
        CheckConstraint(
            "card_last_four = '' OR (length(card_last_four) = 4 "
            "AND kind IN ('credit', 'debit', 'hsa_fsa'))",
            name="last_four_only_for_cards",
        ),
    )


class SaleRefund(Base):
    """Money given back on a sale (a refund of a completed sale, or the tenders of a voided
    one): append-only, approved by a pharmacist or administrator, with a reason."""

    __tablename__ = "sale_refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sales.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    tender_kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    workstation: Mapped[str] = mapped_column(String(100))
    refunded_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        CheckConstraint("kind IN ('refund', 'void')", name="known_kind"),
        CheckConstraint("amount_cents > 0", name="positive_amount"),
        CheckConstraint("reason <> ''", name="has_reason"),
    )


class SaleSignature(Base):
    """A signature captured at the register, as a PNG image, for one purpose."""

    __tablename__ = "sale_signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sales.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    png: Mapped[bytes] = mapped_column(LargeBinary)
    signer_name: Mapped[str] = mapped_column(String(200))
    captured_at: Mapped[datetime] = mapped_column(default=utc_now)
    workstation: Mapped[str] = mapped_column(String(100))

    __table_args__ = (
        CheckConstraint(
            "purpose IN ('receipt_of_prescriptions', 'privacy_notice', 'counseling_offer', "
            "'controlled_pickup')",
            name="known_purpose",
        ),
        CheckConstraint("signer_name <> ''", name="has_signer"),
        UniqueConstraint("sale_id", "purpose"),
    )


class PickupIdentification(Base):
    """The photo ID shown at the register: for a controlled-substance pickup or a
    pseudoephedrine purchase (the logbook's purchaser)."""

    __tablename__ = "pickup_identifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sales.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(24))
    id_type: Mapped[str] = mapped_column(String(24))
    id_number: Mapped[str] = mapped_column(String(40))
    id_state: Mapped[str] = mapped_column(String(2), default="")
    name: Mapped[str] = mapped_column(String(200))
    recorded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        CheckConstraint("purpose IN ('controlled_pickup', 'pse_purchase')", name="known_purpose"),
        CheckConstraint(
            "id_type IN ('drivers_license', 'state_id', 'passport', 'military_id', "
            "'tribal_id', 'other_government_id')",
            name="known_id_type",
        ),
        CheckConstraint("id_number <> '' AND name <> ''", name="id_complete"),
        UniqueConstraint("sale_id", "purpose"),
    )


class CounselingRecord(Base):
    """The counseling offer made with a sale and its answer; an accepted offer waits on the
    pharmacist's work list until they mark the patient counseled."""

    __tablename__ = "counseling_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sales.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(16))
    offered_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    offered_at: Mapped[datetime] = mapped_column(default=utc_now)
    pharmacist_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    counseled_at: Mapped[datetime | None]
    notes: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("outcome IN ('accepted', 'declined')", name="known_outcome"),
        CheckConstraint(
            "(counseled_at IS NULL) = (pharmacist_user_id IS NULL)", name="counseled_by_someone"
        ),
        CheckConstraint(
            "outcome = 'accepted' OR counseled_at IS NULL", name="declined_not_counseled"
        ),
    )


class PseLogEntry(Base):
    """The pseudoephedrine/ephedrine logbook (21 USC 830(e)): append-only, one row per item
    sold, with the identified purchaser and the base milligrams."""

    __tablename__ = "pse_logbook"

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sales.id"), index=True)
    otc_item_id: Mapped[int] = mapped_column(ForeignKey("otc_items.id"))
    identification_id: Mapped[int] = mapped_column(ForeignKey("pickup_identifications.id"))
    purchaser_key: Mapped[str] = mapped_column(String(80))
    purchaser_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    base_mg: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    sold_on: Mapped[date] = mapped_column(Date)
    sold_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        CheckConstraint("quantity > 0", name="positive_quantity"),
        CheckConstraint("base_mg > 0", name="positive_base"),
        Index("ix_pse_logbook_purchaser_day", "purchaser_key", "sold_on"),
    )


class DrawerClose(Base):
    """End of day at one register: what each tender should hold since its last close, what was
    counted, and the difference; append-only (a recount is a new close)."""

    __tablename__ = "drawer_closes"

    id: Mapped[int] = mapped_column(primary_key=True)
    workstation: Mapped[str] = mapped_column(String(100))
    covers_from: Mapped[datetime | None]
    covers_to: Mapped[datetime]
    opening_float_cents: Mapped[int] = mapped_column(Integer, default=0)
    closed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")

    lines: Mapped[list[DrawerCloseLine]] = relationship(order_by="DrawerCloseLine.id")

    __table_args__ = (
        CheckConstraint("opening_float_cents >= 0", name="float_not_negative"),
        CheckConstraint(
            "covers_from IS NULL OR covers_from <= covers_to", name="covers_a_period"
        ),
        Index("ix_drawer_closes_workstation", "workstation", "covers_to"),
    )


class DrawerCloseLine(Base):
    """One tender of a drawer close: expected, counted, and the difference (over is positive)."""

    __tablename__ = "drawer_close_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    close_id: Mapped[int] = mapped_column(ForeignKey("drawer_closes.id"), index=True)
    tender_kind: Mapped[str] = mapped_column(String(16))
    expected_cents: Mapped[int] = mapped_column(Integer)
    counted_cents: Mapped[int] = mapped_column(Integer)
    difference_cents: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint(
            "tender_kind IN ('cash', 'credit', 'debit', 'check', 'hsa_fsa', 'house_charge')",
            name="known_kind",
        ),
        CheckConstraint("counted_cents >= 0", name="counted_not_negative"),
        CheckConstraint(
            "difference_cents = counted_cents - expected_cents", name="difference_adds_up"
        ),
        UniqueConstraint("close_id", "tender_kind"),
    )


# --- labels -----------------------------------------------------------------------------------


class LabelPrint(Base):
    """Append-only: every label that really reached a printer or a PDF, and what it promised.

    `discard_after` is the date the printed label carries, so a later scan of a lot that expires
    sooner can demand an audited reprint; a print that failed is never recorded.
    """

    __tablename__ = "label_prints"

    id: Mapped[int] = mapped_column(primary_key=True)
    fill_id: Mapped[int] = mapped_column(ForeignKey("fills.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text, default="")
    destination: Mapped[str] = mapped_column(String(255))
    stock_name: Mapped[str] = mapped_column(String(64))
    label_count: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8), default="en")
    discard_after: Mapped[date] = mapped_column(Date)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    workstation: Mapped[str] = mapped_column(String(100))
    printed_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        CheckConstraint("kind IN ('original', 'reprint')", name="known_kind"),
        CheckConstraint("kind = 'original' OR reason <> ''", name="reprint_has_reason"),
        CheckConstraint("label_count > 0", name="positive_label_count"),
    )


# --- audit ------------------------------------------------------------------------------------


class AuditEvent(Base):
    """Who did what to which record, when and where; written in the same transaction."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str] = mapped_column(String(64))
    workstation: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id"),)

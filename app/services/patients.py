"""Opening a patient's record: every view of protected health information is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from app.db.models import Patient
from app.domain.roles import Role
from app.errors import NotFound
from app.services.unit_of_work import Actor, Database, require_role


@dataclass(frozen=True)
class PatientRecord:
    id: int
    display_name: str
    date_of_birth: date
    sex: str
    address: str
    phone: str
    email: str
    preferred_language: str


class PatientService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def open_record(self, actor: Actor, patient_id: int, *, purpose: str) -> PatientRecord:
        """Return the patient's record and write the `patient.viewed` audit event with it."""
        require_role(actor, *Role, action="open a patient record")
        with self._db.unit_of_work(actor) as uow:
            patient = uow.session.scalars(select(Patient).where(Patient.id == patient_id)).first()
            if patient is None:
                raise NotFound(f"There is no patient with id {patient_id}.")
            uow.audit("patient.viewed", patient, purpose=purpose)
            address = ", ".join(
                part
                for part in (
                    patient.address_line1,
                    patient.address_line2,
                    f"{patient.city} {patient.state} {patient.postal_code}".strip(),
                )
                if part
            )
            return PatientRecord(
                id=patient.id,
                display_name=patient.display_name,
                date_of_birth=patient.date_of_birth,
                sex=patient.sex,
                address=address,
                phone=patient.phone,
                email=patient.email,
                preferred_language=patient.preferred_language,
            )

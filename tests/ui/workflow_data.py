"""Fictional prescriptions entered through PrescriptionService, for the workflow window tests."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import DrugPackage
from app.demo import DEMO_CATALOGUE_DIR, load_catalogue_subset
from app.services.patients import AllergyDraft, PatientDraft
from app.services.prescribers import PrescriberDraft
from app.services.prescriptions import PrescriptionDraft, PrescriptionEntered, ScannedImage
from app.services.unit_of_work import Actor
from ui.dialogs.reason import ReasonDialog

ANSWER_ATTEMPTS = 250  # 5 s of 20 ms waits for the dialog to appear
LISINOPRIL_30 = "65862-039-30"
AMOXICILLIN_50 = "0093-3109-53"


def tiny_png(width: int = 40, height: int = 20) -> bytes:
    """A real, decodable grey PNG (a stand-in for a scanned prescription)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xc8" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class Intake:
    """Who is at the bench and whom the prescriptions are for."""

    services: Services
    technician: Actor
    patient_id: int
    prescriber_id: int

    def package(self, ndc: str) -> int:
        with self.services.database.reading() as session:
            return session.scalars(select(DrugPackage.id).where(DrugPackage.ndc == ndc)).one()

    def enter(
        self,
        ndc: str = LISINOPRIL_30,
        *,
        sig_code: str = "1 T PO QD",
        image: ScannedImage | None = None,
        indication: str = "hypertension",
        days_supply: int | None = None,
    ) -> PrescriptionEntered:
        """A new prescription whose fill 0 is waiting in pharmacist data review."""
        return self.services.prescriptions.enter_prescription(
            self.technician,
            draft=PrescriptionDraft(
                patient_id=self.patient_id,
                prescriber_id=self.prescriber_id,
                package_id=self.package(ndc),
                source="electronic",
                written_date=date.today(),
                quantity=Decimal(30),
                sig_code=sig_code,
                indication=indication,
                days_supply=days_supply,
                image=image,
            ),
        )


def set_up_intake(services: Services, admin: Actor, technician: Actor) -> Intake:
    """The demo catalogue, one fictional patient allergic to penicillins, one prescriber."""
    load_catalogue_subset(services.database, admin, DEMO_CATALOGUE_DIR)
    patient = services.patients.create_patient(
        technician,
        draft=PatientDraft("Quillfeather", "Maren", date(1966, 4, 12), "F", phone="217-555-0188"),
    ).patient
    services.patients.add_allergy(
        technician,
        patient.id,
        allergy=AllergyDraft(drug_class="Penicillin-class Antibacterial [EPC]", reaction="hives"),
    )
    prescriber = services.prescribers.create_prescriber(
        technician,
        draft=PrescriberDraft(
            last_name="Ashgrove",
            first_name="Tobin",
            credentials="MD",
            npi="1555030000",
            dea_number="AA5550303",
            dea_schedules=frozenset({"2", "2N", "3", "3N", "4", "5"}),
            dea_expires_on=date(date.today().year + 2, 6, 30),
        ),
    ).prescriber
    return Intake(services, technician, patient.id, prescriber.id)


def answer_reason(qtbot, reason: str, *, then_cancel: bool = False) -> list[str]:
    """Answer the next ReasonDialog by keyboard; returns what its message line said.

    A blank reason is typed first when `reason` is "", and the dialog's refusal is recorded
    before the dialog is cancelled (with `then_cancel`) or left open.
    """
    said: list[str] = []

    def answer(attempt: int = 0) -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ReasonDialog):
            if attempt < ANSWER_ATTEMPTS:
                QTimer.singleShot(20, lambda: answer(attempt + 1))
            return
        qtbot.keyClicks(dialog.reason_edit, reason)
        qtbot.keyClick(dialog.reason_edit, Qt.Key.Key_Return)
        if dialog.message.isVisible():
            said.append(dialog.message.text())
        if then_cancel and dialog.isVisible():
            dialog.reject()

    QTimer.singleShot(0, answer)
    return said


def answer_message_box(qtbot) -> list[str]:
    """Close the next message box with Enter; returns its text."""
    said: list[str] = []

    def answer(attempt: int = 0) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            if attempt < ANSWER_ATTEMPTS:
                QTimer.singleShot(20, lambda: answer(attempt + 1))
            return
        said.append(box.text())
        box.done(QDialog.DialogCode.Accepted)

    QTimer.singleShot(0, answer)
    return said

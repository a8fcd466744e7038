"""Save the pharmacist's data review dialog and work list, as a pharmacist sees them, as PNGs.

    .venv/bin/rxbench-admin --database sqlite:////tmp/demo.sqlite3 demo
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python \\
        docs/screenshots/make_pharmacist_views.py sqlite:////tmp/demo.sqlite3

A fictional amoxicillin prescription, with a drawn stand-in for its scanned paper, is entered
for the demo patient with a penicillin-class allergy, so the review shows an image and a finding.
"""

from __future__ import annotations

import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRect, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from app.bootstrap import Services, build_services
from app.config import load_settings
from app.db.models import DrugPackage, Patient, PatientAllergy, Prescriber, StockLot
from app.domain.barcodes import upc_a_for
from app.domain.fill_states import FillState
from app.domain.ndc import parse_ndc
from app.services.prescriptions import PrescriptionDraft, ScannedImage
from app.services.unit_of_work import Actor
from ui.context import UiContext
from ui.main_window import MainWindow
from ui.session import SessionController

HERE = Path(__file__).parent
REVIEW_OUTPUT = HERE / "pharmacist-review.png"
WORKLIST_OUTPUT = HERE / "worklist.png"
AMOXICILLIN_500_CAPSULES = "0093-3109-53"


def paper_prescription(patient: str, prescriber: str, signature: str) -> bytes:
    """A drawn prescription pad (fictional names), as the PNG a scanner would give."""
    image = QImage(700, 900, QImage.Format.Format_RGB32)
    image.fill(QColor("#fbfaf4"))
    painter = QPainter(image)
    painter.setPen(QColor("#1d2a55"))
    painter.setFont(QFont("DejaVu Sans", 22, QFont.Weight.Bold))
    painter.drawText(QRect(40, 40, 620, 40), Qt.AlignmentFlag.AlignLeft, prescriber)
    painter.setFont(QFont("DejaVu Sans", 13))
    painter.drawText(40, 110, "Springfield Family Practice · 217-555-0142")
    painter.drawLine(40, 130, 660, 130)
    painter.drawText(40, 180, f"Patient: {patient}")
    painter.drawText(40, 215, f"Date: {date.today():%m/%d/%Y}")
    painter.setFont(QFont("DejaVu Serif", 40, QFont.Weight.Bold))
    painter.drawText(40, 300, "℞")
    painter.setFont(QFont("DejaVu Sans", 18))
    painter.drawText(110, 300, "Amoxicillin 500 mg caps")
    painter.drawText(110, 345, "#30 (thirty)")
    painter.drawText(110, 390, "Sig: 1 cap po tid x 10 days")
    painter.drawText(110, 435, "Refills: 0")
    painter.setFont(QFont("DejaVu Serif", 26, QFont.Weight.Normal, True))
    painter.drawText(360, 720, signature)
    painter.drawLine(340, 735, 660, 735)
    painter.setFont(QFont("DejaVu Sans", 11))
    painter.drawText(360, 760, "Signature (fictional, for training)")
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def enter_amoxicillin(services: Services) -> None:
    technician = services.auth.login("tech", "tech-demo-1")
    with services.database.reading() as session:
        patient = session.scalars(
            select(Patient)
            .join(PatientAllergy, PatientAllergy.patient_id == Patient.id)
            .where(PatientAllergy.drug_class.like("Penicillin%"))
        ).first()
        prescriber = session.scalars(select(Prescriber).where(Prescriber.dea_number != "")).first()
        package_id = session.scalars(
            select(DrugPackage.id).where(DrugPackage.ndc == AMOXICILLIN_500_CAPSULES)
        ).one()
        assert patient is not None and prescriber is not None
        patient_name = f"{patient.first_name} {patient.last_name}"
        patient_id, prescriber_id = patient.id, prescriber.id
        prescriber_name = (
            f"{prescriber.first_name} {prescriber.last_name}, {prescriber.credentials}"
        )
        signature = f"{prescriber.first_name[0]}. {prescriber.last_name}"
    services.prescriptions.enter_prescription(
        technician,
        draft=PrescriptionDraft(
            patient_id=patient_id,
            prescriber_id=prescriber_id,
            package_id=package_id,
            source="written",
            written_date=date.today(),
            quantity=Decimal(30),
            sig_code="1 CAP PO TID X10D",
            indication="acute otitis media",
            image=ScannedImage(
                "rx-scan.png",
                "image/png",
                paper_prescription(patient_name, prescriber_name, signature),
            ),
        ),
    )


def send_demo_fills_to_the_pharmacist(services: Services) -> None:
    """The demo's fills were written directly; move a few through the services like a bench:
    two submitted for data review, one verified at the fill station."""
    technician = services.auth.login("tech", "tech-demo-1")
    rows = services.fills.queue(technician)
    for _ in range(2):
        row = next(r for r in rows if r.state is FillState.DATA_ENTRY and r.held_by is None)
        rows.remove(row)
        services.workflow.advance(
            technician, row.fill_id, to_state=FillState.DATA_REVIEW, expected_version=row.version
        )
    row = next(
        r
        for r in rows
        if r.state is FillState.FILL and r.held_by is None and r.dea_schedule is None
    )
    verify_at_the_fill_station(services, technician, row.fill_id)


def verify_at_the_fill_station(services: Services, technician: Actor, fill_id: int) -> None:
    """Scan the fill's stock bottles as the Verify panel does (the package's UPC, the lot typed
    from the shelf's package), accept each and complete: the fill goes to the pharmacist."""
    verification = services.verification
    view = verification.open_fill(technician, fill_id)
    with services.database.reading() as session:
        lot_number = session.scalars(
            select(StockLot.lot_number)
            .join(DrugPackage, StockLot.package_id == DrugPackage.id)
            .where(DrugPackage.ndc == view.ndc, StockLot.status == "available")
            .order_by(StockLot.expiry.desc())
        ).first()
    assert lot_number is not None  # the demo keeps a main lot of every prescribed package
    upc = upc_a_for(parse_ndc(view.ndc))
    version, remaining = view.version, view.remaining
    while remaining > 0:
        judgement = verification.judge(technician, fill_id, text=upc, lot_number=lot_number)
        assert judgement.suggested_quantity is not None, judgement.message
        accepted = verification.accept_bottle(
            technician,
            fill_id,
            text=upc,
            manual=False,
            quantity=judgement.suggested_quantity,
            expected_version=version,
            lot_number=lot_number,
        )
        version, remaining = accepted.fill_version, accepted.remaining
    verification.complete(technician, fill_id, expected_version=version)


def main(database_url: str) -> int:
    app = QApplication(sys.argv[:1])
    services = build_services(load_settings(database_url))
    send_demo_fills_to_the_pharmacist(services)
    enter_amoxicillin(services)
    session = SessionController(services, idle_minutes=60)
    window = MainWindow(UiContext.for_services(services), session)
    window.resize(1600, 1000)
    window.show()

    def loaded() -> None:
        window.all_docks_loaded.disconnect(loaded)
        rows = [row for row in window.fill_queue.model.rows if row.drug.startswith("Amoxicillin")]
        newest = max(rows, key=lambda row: row.created_at)
        window.workflow.open_review(newest)
        QTimer.singleShot(1500, capture_review)

    def capture_review() -> None:
        dialog = window.workflow.dialog
        assert dialog is not None
        dialog.grab().save(str(REVIEW_OUTPUT))
        print(f"saved {REVIEW_OUTPUT}")
        dialog.reject()
        dock = window.worklist
        dock.setFloating(True)
        dock.resize(900, 380)
        QTimer.singleShot(800, capture_worklist)

    def capture_worklist() -> None:
        window.worklist.grab().save(str(WORKLIST_OUTPUT))
        print(f"saved {WORKLIST_OUTPUT}")
        window.shutdown()
        app.quit()

    window.all_docks_loaded.connect(loaded)
    session.sign_in_as(services.auth.login("pharm", "pharm-demo-1"))
    app.exec()
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

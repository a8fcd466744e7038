from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import Fill
from app.domain.fill_states import FillState
from app.services.patients import PatientDraft
from app.services.prescribers import PrescriberDraft
from app.services.unit_of_work import Actor
from app.services.worklist import DATA_REVIEW
from tests.ui.dialogs.helpers import control
from tests.ui.dialogs.keyboard import focused, press, show_active, type_into
from tests.ui.intake_data import import_demo_catalogue
from ui.dialogs.patient_search import PatientSearchDialog
from ui.dialogs.prescriber import PrescriberSearchDialog
from ui.dialogs.prescription import PrescriptionEntryDialog
from ui.widgets.catalogue_search import CatalogueSearchField

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def on_file(services: Services, admin: Actor, technician: Actor) -> None:
    import_demo_catalogue(services, admin)
    services.patients.create_patient(
        technician,
        draft=PatientDraft(
            last_name="Marsh", first_name="Odette", date_of_birth=date(1958, 4, 17), sex="F"
        ),
    )
    services.prescribers.create_prescriber(
        technician,
        draft=PrescriberDraft(
            last_name="Hale",
            first_name="Dana",
            credentials="MD",
            npi="1245319599",
            dea_number="AH1234563",
            dea_schedules=frozenset({"2", "2N", "3", "3N", "4", "5"}),
            dea_expires_on=date.today() + timedelta(days=400),
        ),
    )


@pytest.fixture
def dialog(qtbot, services: Services, technician: Actor, on_file) -> PrescriptionEntryDialog:
    return show_active(qtbot, PrescriptionEntryDialog(services, technician))


def pick(qtbot, dialog, kind, typed: str) -> None:
    """Type into the focused patient or prescriber field, Enter, Enter on the first found."""
    qtbot.keyClicks(focused(dialog), typed)
    press(qtbot, dialog, Qt.Key.Key_Return)
    picker = dialog.findChild(kind)
    assert picker is not None and picker.isVisible()
    qtbot.waitUntil(lambda: picker.model.rowCount() > 0)
    assert focused(picker).accessibleName().endswith("found")
    press(qtbot, picker, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not picker.isVisible())
    # The window manager gives the activation back to the dialog (offscreen: the test does).
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)


def choose_drug(qtbot, dialog, typed: str, *, down: int = 0) -> None:
    field = focused(dialog)
    assert isinstance(field, CatalogueSearchField)
    with qtbot.waitSignal(field.results_shown, timeout=5000):
        qtbot.keyClicks(field, typed)
    for _ in range(down):
        press(qtbot, dialog, Qt.Key.Key_Down)
    with qtbot.waitSignal(field.package_chosen):
        press(qtbot, dialog, Qt.Key.Key_Return)


def fill_in(qtbot, dialog, *, drug: str, quantity: str, sig: str) -> None:
    """Everything but the optional fields, through the controls (the keyboard test Tabs)."""
    control(dialog, "Patient").setFocus()
    pick(qtbot, dialog, PatientSearchDialog, "marsh")
    control(dialog, "Prescriber").setFocus()
    pick(qtbot, dialog, PrescriberSearchDialog, "hale")
    control(dialog, "Drug").setFocus()
    choose_drug(qtbot, dialog, drug)
    for name, text in (("Quantity", quantity), ("Sig", sig)):
        edit = control(dialog, name)
        assert isinstance(edit, QLineEdit)
        qtbot.keyClicks(edit, text)


def fill_of(services: Services, prescription_id: int) -> Fill:
    with services.database.reading() as session:
        return session.scalars(select(Fill).where(Fill.prescription_id == prescription_id)).one()


def test_a_prescription_is_entered_by_keyboard_alone(
    qtbot, services: Services, technician: Actor, pharmacist: Actor, dialog
) -> None:
    assert focused(dialog).accessibleName() == "Source"
    qtbot.keyClicks(focused(dialog), "W")
    assert control(dialog, "Source").currentData() == "written"
    press(qtbot, dialog, Qt.Key.Key_Tab)
    type_into(qtbot, dialog, "Date written")
    assert focused(dialog).accessibleName() == "Patient"
    pick(qtbot, dialog, PatientSearchDialog, "marsh")
    assert dialog.patient.display_name == "Marsh, Odette"
    press(qtbot, dialog, Qt.Key.Key_Tab)
    assert focused(dialog).accessibleName() == "Prescriber"
    pick(qtbot, dialog, PrescriberSearchDialog, "hale")
    assert dialog.prescriber.npi == "1245319599"
    press(qtbot, dialog, Qt.Key.Key_Tab)
    type_into(qtbot, dialog, "Indication", "high blood pressure")
    type_into(qtbot, dialog, "Notes")
    type_into(qtbot, dialog, "Attach image")
    assert focused(dialog).accessibleName() == "Drug"
    choose_drug(qtbot, dialog, "lisinopril 10")
    chosen = dialog.drug.chosen
    assert chosen.display_name == "Lisinopril" and chosen.strength.startswith("10 ")
    press(qtbot, dialog, Qt.Key.Key_Tab)
    type_into(qtbot, dialog, "Quantity", "60")
    assert control(dialog, "Quantity unit").text().startswith("each")
    assert focused(dialog).accessibleName() == "Sig"
    qtbot.keyClicks(focused(dialog), "1 T PO BID")
    assert control(dialog, "Directions").text() == "Take 1 tablet by mouth twice daily"
    assert control(dialog, "Sig flag").text() == ""
    assert control(dialog, "Days supply").value() == 30
    press(qtbot, dialog, Qt.Key.Key_Tab)
    type_into(qtbot, dialog, "Days supply")  # read-only until Override is ticked
    type_into(qtbot, dialog, "Override days supply")
    type_into(qtbot, dialog, "Refills", "3")
    type_into(qtbot, dialog, "DAW")
    type_into(qtbot, dialog, "Do not fill before")
    assert focused(dialog).accessibleName() == "Emergency oral C-II"
    with qtbot.waitSignal(dialog.prescription_entered) as entered:
        press(qtbot, dialog, Qt.Key.Key_Return)

    assert not dialog.isVisible()
    result = entered.args[0]
    assert result.rx_number.isdigit()
    assert result.fill_state is FillState.DATA_REVIEW
    detail = services.prescriptions.get_prescription(technician, result.rx_number)
    assert detail.patient_name == "Marsh, Odette"
    assert detail.ndc == chosen.ndc
    assert (detail.quantity, detail.days_supply, detail.refills_authorized) == (Decimal(60), 30, 3)
    assert detail.directions == "Take 1 tablet by mouth twice daily"
    assert detail.indication == "high blood pressure"
    assert detail.source == "written"
    assert fill_of(services, result.prescription_id).state == FillState.DATA_REVIEW.value
    items = services.worklist.items(pharmacist)
    assert any(item.kind == DATA_REVIEW and result.rx_number in item.summary for item in items)


def test_a_c_ii_with_refills_is_refused_with_every_problem_inline(
    qtbot, services: Services, technician: Actor, dialog
) -> None:
    control(dialog, "Source").setCurrentIndex(1)  # written
    written = control(dialog, "Date written")
    written.clear()
    qtbot.keyClicks(written, (date.today() + timedelta(days=2)).strftime("%m/%d/%Y"))
    fill_in(qtbot, dialog, drug="oxycodone 5", quantity="30", sig="1 T PO Q6H PRN PAIN")
    assert "Controlled C-II" in dialog.drug.model.index(0, dialog.drug.model.FLAGS).data()
    control(dialog, "Refills").setValue(1)
    qtbot.keyClick(control(dialog, "Sig"), Qt.Key.Key_Return)
    assert dialog.isVisible()
    assert "at most 0 refills" in control(dialog, "Refills problem").text()
    assert "in the future" in control(dialog, "Date written problem").text()
    assert "2 problems" in control(dialog, "Message").text()
    assert (
        services.patients.open_record(technician, dialog.patient.id, purpose="t").prescriptions
        == ()
    )


def test_a_phoned_c_ii_is_refused_under_the_source(qtbot, services: Services, dialog) -> None:
    control(dialog, "Source").setCurrentIndex(2)  # phoned
    fill_in(qtbot, dialog, drug="oxycodone 5", quantity="12", sig="1 T PO Q6H PRN PAIN")
    qtbot.keyClick(control(dialog, "Sig"), Qt.Key.Key_Return)
    assert "cannot be phoned in" in control(dialog, "Source problem").text()


def test_an_unparsed_sig_is_flagged_and_entered_for_review(
    qtbot, services: Services, technician: Actor, dialog
) -> None:
    fill_in(qtbot, dialog, drug="prednisone", quantity="21", sig="6 T D1 THEN TAPER PER CHART")
    assert control(dialog, "Sig flag").text().startswith("Will be flagged for the pharmacist")
    assert control(dialog, "Days supply").value() == 0  # shown as —: nothing to count from
    qtbot.keyClick(control(dialog, "Sig"), Qt.Key.Key_Return)
    assert "Enter the days supply" in control(dialog, "Days supply problem").text()

    control(dialog, "Override days supply").setFocus()
    qtbot.keyClick(focused(dialog), Qt.Key.Key_Space)
    assert focused(dialog).accessibleName() == "Days supply"
    qtbot.keyClicks(focused(dialog), "6")
    with qtbot.waitSignal(dialog.prescription_entered) as entered:
        press(qtbot, dialog, Qt.Key.Key_Return)
    result = entered.args[0]
    assert result.sig_needs_review
    assert result.days_supply == 6
    detail = services.prescriptions.get_prescription(technician, result.rx_number)
    assert detail.sig_needs_review and detail.days_supply_overridden


def test_a_transfer_asks_for_the_pharmacy(qtbot, services: Services, dialog) -> None:
    pharmacy = control(dialog, "Transferred from")
    assert not pharmacy.isVisibleTo(dialog)
    control(dialog, "Source").setCurrentIndex(4)
    assert pharmacy.isVisibleTo(dialog)
    fill_in(qtbot, dialog, drug="atorvastatin 20", quantity="30", sig="1 T PO QHS")
    qtbot.keyClick(control(dialog, "Sig"), Qt.Key.Key_Return)
    assert "Name the pharmacy" in control(dialog, "Transferred from problem").text()
    qtbot.keyClicks(pharmacy, "Elm Street Pharmacy (217) 555-0111")
    with qtbot.waitSignal(dialog.prescription_entered) as entered:
        qtbot.keyClick(pharmacy, Qt.Key.Key_Return)
    assert entered.args[0].rx_number


def test_missing_entries_are_each_marked(qtbot, dialog) -> None:
    qtbot.keyClick(control(dialog, "Source"), Qt.Key.Key_Return)
    for name in ("Patient", "Prescriber", "Drug", "Quantity", "Sig"):
        assert control(dialog, f"{name} problem").text(), name
    assert "5 entries need correcting" in control(dialog, "Message").text()


def test_a_scanned_image_is_attached(
    qtbot, services: Services, technician: Actor, dialog, tmp_path: Path
) -> None:
    image = tmp_path / "rx-scan.png"
    image.write_bytes(PNG)
    dialog.attach_image(image)
    assert control(dialog, "Scanned image").text().startswith("rx-scan.png")
    fill_in(qtbot, dialog, drug="amoxicillin 500", quantity="30", sig="1 C PO TID X10D")
    with qtbot.waitSignal(dialog.prescription_entered) as entered:
        qtbot.keyClick(control(dialog, "Sig"), Qt.Key.Key_Return)
    detail = services.prescriptions.get_prescription(technician, entered.args[0].rx_number)
    assert detail.has_image
    assert detail.days_supply == 10


def test_a_text_file_is_not_attached(qtbot, dialog, tmp_path: Path) -> None:
    notes = tmp_path / "rx.txt"
    notes.write_text("not an image")
    dialog.attach_image(notes)
    assert dialog.image is None
    assert "PNG, JPEG or PDF" in control(dialog, "Scanned image problem").text()

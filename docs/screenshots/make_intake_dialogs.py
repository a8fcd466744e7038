"""Regenerates patient.png, prescriber.png and prescription-entry.png with demo-like data."""

# QT_QPA_PLATFORM=xcb xvfb-run -s "-screen 0 1400x1000x24" \
#     .venv/bin/python docs/screenshots/make_intake_dialogs.py docs/screenshots

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget

from app.bootstrap import build_services
from app.config import Settings
from app.demo import DEMO_CATALOGUE_DIR, DEMO_CATALOGUE_SNAPSHOT
from app.services.patients import PatientDraft
from app.services.pharmacy import PharmacyProfile
from app.services.prescribers import PrescriberDraft
from ui.dialogs.patient import PatientDialog
from ui.dialogs.prescriber import PrescriberDialog
from ui.dialogs.prescription import PrescriptionEntryDialog

OUT = Path(sys.argv[1])
app = QApplication([])
scratch = tempfile.TemporaryDirectory()
tmp = Path(scratch.name)
settings = Settings(
    database_url=f"sqlite:///{tmp / 'shots.sqlite3'}",
    workstation="FRONT-COUNTER-1",
    config_dir=tmp,
    data_dir=tmp,
    password_hash_profile="fast-insecure-for-tests",
)
services = build_services(settings)
admin = services.pharmacy.first_run(
    PharmacyProfile(
        name="Main Street Pharmacy",
        address_line1="12 Main Street",
        city="Springfield",
        state="IL",
        postal_code="62701",
        phone="2175550100",
        npi="1234567893",
        ncpdp_id="1234567",
        dea_number="BM1234563",
    ),
    admin_username="jsmith",
    admin_full_name="Jane Smith",
    admin_password="a good password",
)
services.catalogue.import_directory(
    admin, DEMO_CATALOGUE_DIR, snapshot_date=DEMO_CATALOGUE_SNAPSHOT
)
services.patients.create_patient(
    admin,
    draft=PatientDraft(
        last_name="Marsh",
        first_name="Odette",
        date_of_birth=date(1958, 4, 17),
        sex="F",
        phone="217-555-0143",
        address_line1="14 Larkspur Lane",
        city="Springfield",
        state="IL",
        postal_code="62704",
    ),
)
services.prescribers.create_prescriber(
    admin,
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


def field(dialog: QWidget, name: str) -> QWidget:
    return next(w for w in dialog.findChildren(QWidget) if w.accessibleName() == name)


def settle(until: Callable[[], bool] = lambda: True, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for _ in range(5):
            app.processEvents()
        if until() or time.monotonic() > deadline:
            return
        time.sleep(0.02)


def show(dialog: QWidget) -> None:
    dialog.show()
    dialog.activateWindow()
    settle()


# --- patient: the person page filled in, a ZIP code refused under its field ---------------------
patient = PatientDialog(services, admin)
show(patient)
for name, text in {
    "Last name": "Quintero",
    "First name": "Rosa",
    "Middle name": "Elena",
    "Date of birth": "09/23/1947",
    "Address": "301 Bramble Way",
    "Suite, unit": "Apt 2B",
    "City": "Springfield",
    "ZIP code": "6270",
    "Phone": "(217) 555-0178",
    "Email": "rosa.quintero@example.org",
    "Notes": "Prefers calls after 10 am",
}.items():
    field(patient, name).setText(text)
field(patient, "Sex").setCurrentIndex(0)
field(patient, "State").setCurrentText("IL")
field(patient, "Language").setCurrentIndex(1)
patient.accept()
settle()
patient.grab().save(str(OUT / "patient.png"))
patient.close()

# --- prescriber: the DEA number's second letter is not the last name's initial ------------------
prescriber = PrescriberDialog(services, admin)
show(prescriber)
for name, text in {
    "Last name": "Okafor",
    "First name": "Chidi",
    "Credentials": "NP",
    "NPI": "1234567893",
    "DEA number": "MB1234563",
    "DEA expires on": (date.today() + timedelta(days=700)).strftime("%m/%d/%Y"),
    "State license": "209.004512",
    "Address": "800 Clinic Drive",
    "Suite": "Suite 4",
    "City": "Springfield",
    "ZIP code": "62702",
    "Phone": "(217) 555-0188",
    "Fax": "(217) 555-0189",
}.items():
    field(prescriber, name).setText(text)
for code in ("2", "2N", "3", "3N", "4", "5"):
    field(prescriber, f"Schedule {code}").setChecked(code not in ("2", "2N"))
field(prescriber, "State").setCurrentText("IL")
settle()
prescriber.grab().save(str(OUT / "prescriber.png"))
prescriber.close()

# --- prescription entry: picked patient and prescriber, a drug, the live directions -------------
entry = PrescriptionEntryDialog(services, admin)
show(entry)
field(entry, "Source").setCurrentIndex(1)
field(entry, "Patient").setText("marsh")
picker = entry.pick_patient()
settle(lambda: picker.model.rowCount() > 0)
picker.open_row(0)
field(entry, "Prescriber").setText("hale")
chooser = entry.pick_prescriber()
settle(lambda: chooser.model.rowCount() > 0)
chooser.open_row(0)
entry.drug.setText("lisinopril 10")
entry.drug.search_now()
settle(lambda: entry.drug.model.rowCount() > 0)
entry.drug.choose(entry.drug.model.row_at(0))
field(entry, "Quantity").setText("60")
field(entry, "Sig").setText("1 T PO BID")
field(entry, "Refills").setValue(3)
field(entry, "Indication").setText("high blood pressure")
settle()
entry.grab().save(str(OUT / "prescription-entry.png"))

# The drug list as it opens while typing.
entry.drug.setFocus()
entry.drug.setText("amoxicillin")
entry.drug.search_now()
settle(lambda: entry.drug.popup_visible and entry.drug.model.rowCount() > 0)
entry.grab().save(str(OUT / "prescription-drug-search.png"))
entry.close()
services.close()

"""Regenerates login.png, first-run.png and lock.png as a person sees them."""

# QT_QPA_PLATFORM=xcb xvfb-run -s "-screen 0 1280x900x24" \
#     .venv/bin/python docs/screenshots/sign_in_dialogs.py docs/screenshots

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMainWindow, QTableWidget, QTableWidgetItem, QWidget

from app.bootstrap import build_services
from app.config import Settings
from app.services.pharmacy import PharmacyProfile
from ui.dialogs.first_run import FirstRunDialog
from ui.dialogs.lock import LockDialog
from ui.dialogs.login import LoginDialog
from ui.session import SessionController

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


def field(dialog: QWidget, name: str) -> QWidget:
    return next(w for w in dialog.findChildren(QWidget) if w.accessibleName() == name)


def settle() -> None:
    for _ in range(5):
        app.processEvents()


first_run = FirstRunDialog(services)
first_run.show()
first_run.activateWindow()
settle()
for name, text in {
    "Pharmacy name": "Main Street Pharmacy",
    "Street address": "12 Main Street",
    "City": "Springfield",
    "ZIP code": "62701",
    "Phone": "217 555 0100",
    "NPI": "1234567890",
    "NCPDP ID": "1234567",
    "DEA number": "BM1234563",
    "User name": "jsmith",
    "Full name": "Jane Smith",
    "Password": "a good password",
    "Repeat password": "a good password",
}.items():
    field(first_run, name).setText(text)
field(first_run, "State").setCurrentText("IL")
first_run.accept()
settle()
first_run.grab().save(str(OUT / "first-run.png"))
first_run.close()

services.pharmacy.first_run(
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
login = LoginDialog(services)
login.show()
login.activateWindow()
settle()
field(login, "User name").setText("jsmith")
field(login, "Password").setText("wrong one")
login.accept()
settle()
login.grab().save(str(OUT / "login.png"))
login.close()

window = QMainWindow()
table = QTableWidget(6, 4)
table.setHorizontalHeaderLabels(["Rx", "Patient", "Drug", "Status"])
for row, values in enumerate([("100234", "Doe, Jane", "Lisinopril 10 mg", "Ready")] * 6):
    for col, value in enumerate(values):
        table.setItem(row, col, QTableWidgetItem(value))
window.setCentralWidget(table)
window.setWindowTitle("RxBench")
window.resize(900, 560)
window.move(0, 0)
window.show()
session = SessionController(services, idle_minutes=5)
session.sign_in_as(services.auth.login("jsmith", "a good password"))
session.attach(window)
session.lock()
settle()
lock = next(w for w in app.topLevelWidgets() if isinstance(w, LockDialog))
lock.move((900 - lock.width()) // 2, (560 - lock.height()) // 2)
settle()
app.primaryScreen().grabWindow(0, 0, 0, 900, 560).save(str(OUT / "lock.png"))
services.close()
scratch.cleanup()

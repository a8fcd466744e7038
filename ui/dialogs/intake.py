"""The Intake menu: new patient, find patient, new prescriber, new prescription."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QMainWindow

from app.bootstrap import Services
from app.services.prescriptions import PrescriptionEntered
from app.services.unit_of_work import Actor
from ui.dialogs.patient import PatientDialog
from ui.dialogs.patient_search import PatientSearchDialog, open_patient_profile
from ui.dialogs.prescriber import PrescriberDialog, PrescriberSearchDialog
from ui.dialogs.prescription import PrescriptionEntryDialog
from ui.errors import show_error
from ui.scanner import ScanRouter

SHORTCUTS = {
    "new_prescription": "Ctrl+N",
    "new_patient": "Ctrl+Shift+N",
    "find_patient": "Ctrl+F",
    "new_prescriber": "Ctrl+Shift+P",
}


class IntakeMenu(QObject):
    """Builds the menu on `window` and opens each dialog for the person signed in.

    Each dialog is window-modal and deletes itself when closed; `entered` is told of each
    prescription entered (the window says the Rx number and refreshes the queue).
    """

    def __init__(
        self,
        window: QMainWindow,
        services: Services,
        actor: Callable[[], Actor | None],
        scan_router: ScanRouter,
        entered: Callable[[PrescriptionEntered], None],
    ) -> None:
        super().__init__(window)
        self._window = window
        self._services = services
        self._actor = actor
        self._scan_router = scan_router
        self._entered = entered
        menu = window.menuBar().addMenu("&Intake")
        self.new_prescription_action = self._add(
            "New &prescription…", "new_prescription", self.new_prescription
        )
        self.new_patient_action = self._add("New p&atient…", "new_patient", self.new_patient)
        self.find_patient_action = self._add("&Find patient…", "find_patient", self.find_patient)
        self.new_prescriber_action = self._add(
            "New presc&riber…", "new_prescriber", self.new_prescriber
        )
        self.find_prescriber_action = QAction("Find pre&scriber…", window)
        self.find_prescriber_action.triggered.connect(self.find_prescriber)
        menu.addAction(self.new_prescription_action)
        menu.addSeparator()
        menu.addActions([self.new_patient_action, self.find_patient_action])
        menu.addSeparator()
        menu.addActions([self.new_prescriber_action, self.find_prescriber_action])

    def _add(self, text: str, key: str, slot: Callable[[], object]) -> QAction:
        action = QAction(text, self._window)
        action.setShortcut(QKeySequence(SHORTCUTS[key]))
        action.triggered.connect(slot)
        self._window.addAction(action)
        return action

    def _open(self, dialog: QDialog) -> QDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def new_prescription(self) -> PrescriptionEntryDialog | None:
        actor = self._actor()
        if actor is None:
            return None
        dialog = PrescriptionEntryDialog(
            self._services, actor, scan_router=self._scan_router, parent=self._window
        )
        dialog.prescription_entered.connect(self._entered)
        self._open(dialog)
        return dialog

    def new_patient(self) -> PatientDialog | None:
        actor = self._actor()
        if actor is None:
            return None
        dialog = PatientDialog(self._services, actor, parent=self._window)
        dialog.existing_patient_chosen.connect(
            lambda patient_id: self._open_profile(actor, patient_id)
        )
        self._open(dialog)
        return dialog

    def _open_profile(self, actor: Actor, patient_id: int) -> None:
        try:
            open_patient_profile(self._window, self._services, actor, patient_id)
        except Exception as exc:
            show_error(self._window, exc)

    def find_patient(self) -> PatientSearchDialog | None:
        actor = self._actor()
        if actor is None:
            return None
        dialog = PatientSearchDialog(self._services, actor, parent=self._window)
        self._open(dialog)
        return dialog

    def new_prescriber(self) -> PrescriberDialog | None:
        actor = self._actor()
        if actor is None:
            return None
        dialog = PrescriberDialog(self._services, actor, parent=self._window)
        self._open(dialog)
        return dialog

    def find_prescriber(self) -> PrescriberSearchDialog | None:
        actor = self._actor()
        if actor is None:
            return None
        dialog = PrescriberSearchDialog(self._services, actor, pick=False, parent=self._window)
        self._open(dialog)
        return dialog

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from app.bootstrap import Services
from app.services.unit_of_work import Actor
from tests.conftest import TEST_PASSWORD
from tests.ui.dialogs.helpers import audit_trail, control
from ui.dialogs.set_pin import SetPinDialog, open_set_pin_dialog


@pytest.fixture
def dialog(qtbot, services: Services, technician: Actor) -> SetPinDialog:
    shown = SetPinDialog(services, technician)
    qtbot.addWidget(shown)
    shown.show()
    return shown


def enter(
    qtbot, dialog: SetPinDialog, pin: str, repeat: str, password: str = TEST_PASSWORD
) -> None:
    qtbot.keyClicks(control(dialog, "Your password"), password)
    qtbot.keyClicks(control(dialog, "New PIN"), pin)
    qtbot.keyClicks(control(dialog, "Repeat PIN"), repeat)
    qtbot.keyClick(control(dialog, "Repeat PIN"), Qt.Key.Key_Return)


def test_the_new_pin_unlocks(
    qtbot, services: Services, technician: Actor, dialog: SetPinDialog
) -> None:
    with qtbot.waitSignal(dialog.accepted):
        enter(qtbot, dialog, "4321", "4321")
    assert audit_trail(services)[-1].action == "user.pin_set"
    assert services.auth.unlock(technician, "4321").username == "tess"


def test_a_wrong_password_sets_no_pin(qtbot, services: Services, dialog: SetPinDialog) -> None:
    enter(qtbot, dialog, "4321", "4321", password="not my password")
    assert dialog.isVisible()
    assert "Wrong user name or password" in control(dialog, "Message").text()
    assert "user.pin_set" not in [event.action for event in audit_trail(services)]
    assert control(dialog, "Your password").hasFocus()


def test_only_digits_can_be_typed(qtbot, dialog: SetPinDialog) -> None:
    qtbot.keyClicks(control(dialog, "New PIN"), "12ab34")
    assert control(dialog, "New PIN").text() == "1234"


def test_pins_that_differ_are_refused(qtbot, services: Services, dialog: SetPinDialog) -> None:
    enter(qtbot, dialog, "4321", "4322")
    assert dialog.isVisible()
    assert "two PINs differ" in control(dialog, "Message").text()
    assert "user.pin_set" not in [event.action for event in audit_trail(services)]


def test_a_short_pin_is_refused_with_the_services_reason(qtbot, dialog: SetPinDialog) -> None:
    enter(qtbot, dialog, "123", "123")
    assert dialog.isVisible()
    assert control(dialog, "Message").text() == "A PIN is 4 to 8 digits."


def test_open_set_pin_dialog_reports_whether_a_pin_was_saved(
    qtbot, services: Services, technician: Actor
) -> None:
    def type_pin() -> None:
        shown = QApplication.activeModalWidget()
        try:
            enter(qtbot, shown, "97531", "97531")
        finally:  # never leave the exec() loop waiting if typing failed
            if shown.isVisible():
                shown.reject()

    QTimer.singleShot(0, type_pin)
    assert open_set_pin_dialog(None, services, technician) is True
    assert services.auth.unlock(technician, "97531").username == "tess"

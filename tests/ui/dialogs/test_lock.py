from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.bootstrap import Services
from app.services.unit_of_work import Actor
from tests.conftest import TEST_PASSWORD
from tests.ui.dialogs.helpers import audit_trail, control
from ui.dialogs.lock import LockDialog


@pytest.fixture
def dialog(qtbot, services: Services, technician: Actor) -> LockDialog:
    services.auth.set_pin(technician, password=TEST_PASSWORD, pin="2468")
    shown = LockDialog(services, technician)
    qtbot.addWidget(shown)
    shown.show()
    return shown


def enter(qtbot, dialog: LockDialog, secret: str) -> None:
    qtbot.keyClicks(control(dialog, "Password or PIN"), secret)
    qtbot.keyClick(control(dialog, "Password or PIN"), Qt.Key.Key_Return)


def test_says_who_is_signed_in(dialog: LockDialog) -> None:
    assert (
        "Tess (tess) is signed in at test-workstation" in control(dialog, "Signed-in user").text()
    )


@pytest.mark.parametrize("secret", ["2468", TEST_PASSWORD])
def test_the_pin_or_the_password_unlocks(qtbot, dialog: LockDialog, secret: str) -> None:
    with qtbot.waitSignal(dialog.accepted):
        enter(qtbot, dialog, secret)
    assert dialog.actor.username == "tess"


def test_a_wrong_pin_is_refused_and_counted(qtbot, services: Services, dialog: LockDialog) -> None:
    enter(qtbot, dialog, "1111")
    assert dialog.isVisible()
    assert "2 attempts left" in control(dialog, "Message").text()
    assert control(dialog, "Password or PIN").text() == ""
    assert audit_trail(services)[-1].action == "unlock.failed"


def test_escape_does_not_unlock(qtbot, dialog: LockDialog) -> None:
    qtbot.keyClick(control(dialog, "Password or PIN"), Qt.Key.Key_Escape)
    assert dialog.isVisible()
    dialog.close()
    assert dialog.isVisible()


def test_switch_user_is_reachable_by_keyboard(qtbot, dialog: LockDialog) -> None:
    switch = control(dialog, "Switch user")
    qtbot.keyClick(control(dialog, "Password or PIN"), Qt.Key.Key_Tab)
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Tab)
    assert dialog.focusWidget() is switch
    with qtbot.waitSignal(dialog.switch_user_requested):
        qtbot.keyClick(switch, Qt.Key.Key_Space)
    assert not dialog.isVisible()

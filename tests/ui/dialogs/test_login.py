from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.bootstrap import Services
from app.services.unit_of_work import Actor
from tests.conftest import TEST_PASSWORD
from tests.ui.dialogs.helpers import audit_trail, control
from ui.dialogs.login import LoginDialog


@pytest.fixture
def dialog(qtbot, services: Services, admin: Actor) -> LoginDialog:
    shown = LoginDialog(services)
    qtbot.addWidget(shown)
    shown.show()
    return shown


def sign_in(qtbot, dialog: LoginDialog, username: str, password: str) -> None:
    qtbot.keyClicks(control(dialog, "User name"), username)
    qtbot.keyClicks(control(dialog, "Password"), password)
    qtbot.keyClick(control(dialog, "Password"), Qt.Key.Key_Return)


def message(dialog: LoginDialog) -> QLabel:
    label = control(dialog, "Message")
    assert isinstance(label, QLabel)
    return label


def test_enter_signs_in_and_returns_the_actor(qtbot, dialog: LoginDialog) -> None:
    with qtbot.waitSignal(dialog.accepted):
        sign_in(qtbot, dialog, "admin", TEST_PASSWORD)
    assert dialog.actor is not None
    assert dialog.actor.username == "admin"
    assert dialog.actor.workstation == "test-workstation"


def test_shows_the_pharmacy_and_the_workstation(dialog: LoginDialog) -> None:
    assert control(dialog, "Pharmacy").text() == "Test Pharmacy"
    assert "test-workstation" in control(dialog, "Workstation").text()


def test_escape_cancels(qtbot, dialog: LoginDialog) -> None:
    with qtbot.waitSignal(dialog.rejected):
        qtbot.keyClick(control(dialog, "User name"), Qt.Key.Key_Escape)
    assert dialog.actor is None


def test_tab_goes_from_user_name_to_password_to_sign_in(qtbot, dialog: LoginDialog) -> None:
    assert dialog.focusWidget() is control(dialog, "User name")
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Tab)
    assert dialog.focusWidget() is control(dialog, "Password")
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Tab)
    assert dialog.focusWidget() is control(dialog, "Sign in")


def test_wrong_password_is_explained_inline_and_asked_again(
    qtbot, services: Services, dialog: LoginDialog
) -> None:
    sign_in(qtbot, dialog, "admin", "not the password")
    assert dialog.isVisible()
    assert message(dialog).isVisible()
    assert "2 attempts left" in message(dialog).text()
    assert control(dialog, "Password").text() == ""
    assert control(dialog, "User name").text() == "admin"
    assert dialog.focusWidget() is control(dialog, "Password")
    with qtbot.waitSignal(dialog.accepted):
        qtbot.keyClicks(control(dialog, "Password"), TEST_PASSWORD)
        qtbot.keyClick(control(dialog, "Password"), Qt.Key.Key_Return)
    assert dialog.actor is not None
    assert dialog.actor.username == "admin"


def test_an_empty_password_is_not_tried(qtbot, services: Services, dialog: LoginDialog) -> None:
    before = len(audit_trail(services))
    qtbot.keyClicks(control(dialog, "User name"), "admin")
    qtbot.keyClick(control(dialog, "User name"), Qt.Key.Key_Return)
    assert message(dialog).text() == "Enter your password."
    assert dialog.focusWidget() is control(dialog, "Password")
    assert len(audit_trail(services)) == before


def test_too_many_wrong_passwords_lock_the_account(
    qtbot, services: Services, dialog: LoginDialog
) -> None:
    for attempt in range(services.settings.max_failed_logins):
        control(dialog, "User name").clear()
        sign_in(qtbot, dialog, "admin", f"wrong {attempt}")
    assert "is locked for 15 minutes" in message(dialog).text()
    assert [e for e in audit_trail(services) if e.action == "account.locked"]
    control(dialog, "User name").clear()
    sign_in(qtbot, dialog, "admin", TEST_PASSWORD)
    assert dialog.isVisible()
    assert dialog.actor is None
    assert "locked after too many wrong attempts" in message(dialog).text()


def test_disabled_account_is_refused(
    qtbot, services: Services, admin: Actor, technician: Actor, dialog: LoginDialog
) -> None:
    services.users.set_active(admin, username=technician.username, active=False)
    sign_in(qtbot, dialog, technician.username, TEST_PASSWORD)
    assert dialog.actor is None
    assert "is disabled" in message(dialog).text()

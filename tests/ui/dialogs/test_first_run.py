from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.bootstrap import Services
from app.domain.roles import Role
from tests.ui.dialogs.helpers import control, fill
from ui.dialogs.first_run import FirstRunDialog


@pytest.fixture
def dialog(qtbot, services: Services) -> FirstRunDialog:
    assert services.pharmacy.needs_first_run()
    shown = FirstRunDialog(services)
    qtbot.addWidget(shown)
    shown.show()
    return shown


def submit(qtbot, dialog: FirstRunDialog) -> None:
    qtbot.keyClick(control(dialog, "Repeat password"), Qt.Key.Key_Return)


def test_typing_a_state_code_chooses_it(qtbot, dialog: FirstRunDialog) -> None:
    qtbot.keyClicks(control(dialog, "State"), "IL")
    assert control(dialog, "State").currentText() == "IL"


def test_a_bad_npi_is_explained_and_nothing_is_saved_until_corrected(
    qtbot, services: Services, dialog: FirstRunDialog
) -> None:
    fill(qtbot, dialog, NPI="1234567890")
    submit(qtbot, dialog)
    assert dialog.isVisible()
    assert "wrong check digit" in control(dialog, "Message").text()
    assert dialog.focusWidget() is control(dialog, "NPI")
    assert services.pharmacy.needs_first_run()
    assert services.pharmacy.profile() is None

    control(dialog, "NPI").clear()
    qtbot.keyClicks(control(dialog, "NPI"), "1234567893")
    with qtbot.waitSignal(dialog.accepted):
        submit(qtbot, dialog)
    assert dialog.actor is not None
    assert dialog.actor.username == "jsmith"
    assert dialog.actor.roles == {Role.ADMINISTRATOR, Role.PHARMACIST}
    assert not services.pharmacy.needs_first_run()
    profile = services.pharmacy.profile()
    assert profile is not None
    assert profile.name == "Main Street Pharmacy"
    assert profile.phone == "(217) 555-0100"
    assert services.auth.login("jsmith", "a good password").user_id == dialog.actor.user_id


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        ({"DEA_number": "BT1234560"}, "wrong check digit"),
        ({"ZIP_code": "6270"}, "is not a ZIP code"),
        ({"User_name": "9lives"}, "Choose a user name"),
        ({"Password": "short", "Repeat_password": "short"}, "at least 8 characters"),
    ],
)
def test_invalid_entries_save_nothing(
    qtbot, services: Services, dialog: FirstRunDialog, changes: dict[str, str], sentence: str
) -> None:
    fill(qtbot, dialog, **changes)
    submit(qtbot, dialog)
    assert sentence in control(dialog, "Message").text()
    assert dialog.actor is None
    assert services.pharmacy.needs_first_run()
    assert services.pharmacy.profile() is None


def test_the_passwords_must_match(qtbot, services: Services, dialog: FirstRunDialog) -> None:
    fill(qtbot, dialog, Repeat_password="a good passwort")
    submit(qtbot, dialog)
    assert "two passwords differ" in control(dialog, "Message").text()
    assert control(dialog, "Repeat password").text() == ""
    assert dialog.focusWidget() is control(dialog, "Repeat password")
    assert services.pharmacy.needs_first_run()


def test_the_state_must_be_chosen(qtbot, services: Services, dialog: FirstRunDialog) -> None:
    fill(qtbot, dialog)
    control(dialog, "State").setCurrentIndex(-1)
    submit(qtbot, dialog)
    assert control(dialog, "Message").text() == "Choose the pharmacy's state."
    assert dialog.focusWidget() is control(dialog, "State")
    assert services.pharmacy.needs_first_run()

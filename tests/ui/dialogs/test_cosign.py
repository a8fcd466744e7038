from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.bootstrap import Services
from app.services.unit_of_work import Actor
from tests.conftest import TEST_PASSWORD
from tests.ui.dialogs.helpers import audit_trail, control
from ui.dialogs.cosign import CosignDialog

PURPOSE = "dispense a quantity above the plan limit"


@pytest.fixture
def dialog(qtbot, services: Services, technician: Actor) -> CosignDialog:
    shown = CosignDialog(services, technician, purpose=PURPOSE)
    qtbot.addWidget(shown)
    shown.show()
    return shown


def sign(qtbot, dialog: CosignDialog, username: str, password: str) -> None:
    qtbot.keyClicks(control(dialog, "Pharmacist's user name"), username)
    qtbot.keyClicks(control(dialog, "Password"), password)
    qtbot.keyClick(control(dialog, "Password"), Qt.Key.Key_Return)


def test_a_pharmacist_cosigns(
    qtbot, services: Services, dialog: CosignDialog, pharmacist: Actor
) -> None:
    assert PURPOSE in control(dialog, "What needs approval").text()
    with qtbot.waitSignal(dialog.accepted):
        sign(qtbot, dialog, "phil", TEST_PASSWORD)
    assert dialog.pharmacist == pharmacist
    event = audit_trail(services)[-1]
    assert (event.action, event.username) == ("cosign", "phil")
    assert event.summary == {"purpose": PURPOSE, "on_session_of": "tess"}


def test_a_technician_cannot_cosign(qtbot, services: Services, dialog: CosignDialog) -> None:
    sign(qtbot, dialog, "tess", TEST_PASSWORD)
    assert dialog.isVisible()
    assert dialog.pharmacist is None
    assert "Only a pharmacist may co-sign" in control(dialog, "Message").text()
    assert "cosign" not in [event.action for event in audit_trail(services)]

"""Keyboard and screen-reader access, checked over every dialog of the sign-in family."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from app.bootstrap import Services
from app.errors import AuthenticationFailed, DatabaseUnavailable
from app.services.unit_of_work import Actor
from ui.dialogs.cosign import CosignDialog
from ui.dialogs.fields import MessageLine, add_field
from ui.dialogs.first_run import FirstRunDialog
from ui.dialogs.lock import LockDialog
from ui.dialogs.login import LoginDialog
from ui.dialogs.set_pin import SetPinDialog

DIALOGS: dict[str, Callable[[Services, Actor], QDialog]] = {
    "login": lambda services, actor: LoginDialog(services),
    "switch user": lambda services, actor: LoginDialog(services, cancel_text="&Quit RxBench"),
    "first run": lambda services, actor: FirstRunDialog(services),
    "lock": LockDialog,
    "cosign": lambda services, actor: CosignDialog(services, actor, purpose="test"),
    "set pin": SetPinDialog,
}


def mnemonic(text: str) -> str | None:
    found = re.search(r"&([^&])", text.replace("&&", ""))
    return found.group(1).lower() if found else None


@pytest.mark.parametrize("kind", DIALOGS)
def test_every_control_is_named_and_reachable_by_a_unique_mnemonic(
    qtbot, services: Services, admin: Actor, kind: str
) -> None:
    dialog = DIALOGS[kind](services, admin)
    qtbot.addWidget(dialog)
    inputs = dialog.findChildren(QLineEdit) + dialog.findChildren(QComboBox)
    inputs = [w for w in inputs if not isinstance(w.parent(), QComboBox)]
    buddies = {label.buddy(): label for label in dialog.findChildren(QLabel) if label.buddy()}
    assert inputs
    for field in inputs:
        assert field.accessibleName(), field
        assert field in buddies, f"{field.accessibleName()} has no label"
        assert mnemonic(buddies[field].text()), buddies[field].text()
    keys = [mnemonic(label.text()) for label in buddies.values()]
    keys += [mnemonic(button.text()) for button in dialog.findChildren(QAbstractButton)]
    keys = [key for key in keys if key]
    assert len(keys) == len(set(keys)), sorted(keys)
    for button in dialog.findChildren(QAbstractButton):
        assert button.accessibleName(), button.text()


def test_add_field_names_the_field_after_its_label(qtbot) -> None:
    host = QWidget()
    qtbot.addWidget(host)
    form = QFormLayout(host)
    edit = add_field(form, "&Street address:", QLineEdit())
    assert edit.accessibleName() == "Street address"
    label = form.labelForField(edit)
    assert isinstance(label, QLabel)
    assert label.buddy() is edit


def test_message_line_is_hidden_until_there_is_a_problem(qtbot) -> None:
    host = QWidget()
    qtbot.addWidget(host)
    line = MessageLine(host)
    host.show()
    assert not line.isVisible()
    line.show_error(AuthenticationFailed("Wrong user name or password."))
    assert line.isVisible()
    assert line.text() == "Wrong user name or password."
    line.retract()
    assert not line.isVisible()
    assert line.text() == ""


def test_message_line_says_an_environment_fault_is_not_the_persons_fault(qtbot) -> None:
    line = MessageLine()
    qtbot.addWidget(line)
    line.show_error(DatabaseUnavailable("The database server does not answer."))
    assert line.text().startswith("The database server does not answer.")
    assert "not with your work" in line.text()

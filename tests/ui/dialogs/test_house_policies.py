"""Tools ▸ House policies…: a pharmacist changes policies by keyboard, a technician only sees."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLineEdit
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent
from app.errors import ValidationFailed
from app.services.house_settings import (
    CountPolicy,
    InventoryPolicy,
    SecondSignature,
)
from app.services.payment import SalePolicy
from app.services.unit_of_work import Actor
from tests.app.services.inventory_data import add_package
from tests.ui.dialogs.helpers import control, shown
from tests.ui.dialogs.keyboard import alt, focused, press, show_active, visible_mnemonics
from tests.ui.test_main_window import CosigningSession, open_window
from ui.context import UiContext
from ui.dialogs.house_policies import (
    DISCARD_MONTHS_RANGE,
    LOSS_THRESHOLD_RANGE,
    SHORT_DATED_DAYS_RANGE,
    TAX_PERCENT_RANGE,
    WILL_CALL_DAYS_RANGE,
    HousePoliciesDialog,
)
from ui.tasks import TaskRunner

LOAD_TIMEOUT_MS = 10_000
EDITORS = (
    "Billing point",
    "Refill too soon before (% of days supply)",
    "Will-call aging (days)",
    "Require scanning",
    "Require lot and expiry for a UPC",
    "C-II count proven by",
    "Allow negative on-hand",
    "Short-dated window (days)",
    "Second signature on",
    "Significant-loss threshold (units)",
    "Discard after (months)",
    "Sales tax on OTC items (%)",
    "Require counseling for new prescriptions",
)


@pytest.fixture
def tasks(qapp: QApplication) -> Iterator[TaskRunner]:
    runner = TaskRunner()
    yield runner
    runner.shutdown()


def _opened(qtbot, services: Services, actor: Actor, tasks: TaskRunner) -> HousePoliciesDialog:
    dialog = HousePoliciesDialog(services.house_settings, services.payment, actor, tasks)
    with qtbot.waitSignal(dialog.loaded, timeout=LOAD_TIMEOUT_MS):
        show_active(qtbot, dialog)
    return dialog


def _settings_changes(services: Services) -> list[AuditEvent]:
    with services.database.reading() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "settings.changed")
                .order_by(AuditEvent.id)
            )
        )


def _retype(qtbot, dialog: HousePoliciesDialog, name: str, text: str) -> None:
    edit = control(dialog, name)
    assert isinstance(edit, QLineEdit)
    edit.clear()
    qtbot.keyClicks(edit, text)


def _save(qtbot, dialog: HousePoliciesDialog) -> None:
    with qtbot.waitSignal(dialog.saved, timeout=LOAD_TIMEOUT_MS):
        press(qtbot, dialog, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not dialog.isVisible())


def test_it_shows_the_policies_in_force(qtbot, services: Services, pharmacist: Actor, tasks):
    services.house_settings.set_refill_too_soon_threshold(pharmacist, Decimal("0.825"))
    services.house_settings.set_count_policy(pharmacist, CountPolicy(SecondSignature.EVERY, 4))
    services.payment.set_policy(pharmacist, SalePolicy(825, counseling_required_for_new_rx=False))

    dialog = _opened(qtbot, services, pharmacist, tasks)

    assert control(dialog, "Billing point").currentText() == "At data entry"
    assert control(dialog, "C-II count proven by").currentText() == "Count entered twice"
    assert control(dialog, "Refill too soon before (% of days supply)").text() == "82.5"
    assert control(dialog, "Will-call aging (days)").text() == "10"
    assert control(dialog, "Require scanning").isChecked()
    assert not control(dialog, "Allow negative on-hand").isChecked()
    assert control(dialog, "Short-dated window (days)").text() == "90"
    assert control(dialog, "Second signature on").currentText() == "All counts"
    assert control(dialog, "Significant-loss threshold (units)").text() == "4"
    assert control(dialog, "Discard after (months)").text() == "12"
    assert control(dialog, "Sales tax on OTC items (%)").text() == "8.25"
    assert not control(dialog, "Require counseling for new prescriptions").isChecked()
    assert focused(dialog) is control(dialog, "Billing point")
    assert all(control(dialog, name).isEnabled() for name in EDITORS)
    letters = visible_mnemonics(dialog)
    assert len(letters) == len(set(letters)), letters


def test_a_pharmacist_allows_negative_stock_and_every_count_signed_by_keyboard(
    qtbot, services: Services, pharmacist: Actor, technician: Actor, admin: Actor, tasks
):
    dialog = _opened(qtbot, services, pharmacist, tasks)

    alt(qtbot, dialog, "n")
    alt(qtbot, dialog, "g")
    assert focused(dialog) is control(dialog, "Second signature on")
    press(qtbot, dialog, Qt.Key.Key_End)
    _save(qtbot, dialog)

    house = services.house_settings
    assert house.count_policy() == CountPolicy(SecondSignature.EVERY, 10)
    assert house.inventory_policy() == InventoryPolicy(allow_negative_on_hand=True)
    changed = {
        key: (event.summary["before"][key], event.summary["after"][key], event.username)
        for event in _settings_changes(services)
        for key in event.summary["after"]
    }
    assert changed["allow_negative_on_hand"] == (None, True, "phil")
    assert changed["count_second_signature"] == (None, "every", "phil")
    assert "billing_point" not in changed and "label_discard_after_months" not in changed
    # The stock rule is in force: taking more than a lot holds now leaves it negative.
    package = add_package(services, admin)
    received = services.inventory.receive(
        technician,
        package,
        lot_number="NEG1",
        expiry=date.today() + timedelta(days=400),
        quantity=5,
    )
    below = services.inventory.adjust(
        technician, received.lot.lot_id, quantity_change=-8, reason="miscount"
    )
    assert below.lot.on_hand == -3 and below.lot.negative


def test_a_bad_value_is_explained_per_field_and_nothing_is_saved(
    qtbot, services: Services, pharmacist: Actor, tasks
):
    dialog = _opened(qtbot, services, pharmacist, tasks)
    control(dialog, "Allow negative on-hand").setChecked(True)
    _retype(qtbot, dialog, "Will-call aging (days)", "90")
    _retype(qtbot, dialog, "Short-dated window (days)", "soon")
    _retype(qtbot, dialog, "Refill too soon before (% of days supply)", "40")
    _retype(qtbot, dialog, "Sales tax on OTC items (%)", "7.255")

    press(qtbot, dialog, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)

    assert dialog.isVisible()
    assert dialog.message.text().splitlines() == [
        "Refill too soon: type a percentage from 50 to 100 (75 means 75% of the last fill's "
        "days supply must pass), not “40”.",
        "Will-call aging: type a whole number of days from 1 to 60, not “90”.",
        "The short-dated window: type a whole number of days from 1 to 730, not “soon”.",
        "Sales tax: type a percentage from 0 to 25, to the hundredth (7.25 means 7.25%), "
        "not “7.255”.",
    ]
    assert focused(dialog) is control(dialog, "Refill too soon before (% of days supply)")
    assert _settings_changes(services) == []
    assert services.house_settings.inventory_policy() == InventoryPolicy()
    assert services.payment.policy() == SalePolicy()

    _retype(qtbot, dialog, "Refill too soon before (% of days supply)", "80")
    _retype(qtbot, dialog, "Will-call aging (days)", "14")
    _retype(qtbot, dialog, "Short-dated window (days)", "")
    _retype(qtbot, dialog, "Sales tax on OTC items (%)", "7.25%")
    press(qtbot, dialog, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert dialog.message.text() == (
        "The short-dated window: type a whole number of days from 1 to 730, not left empty."
    )
    assert _settings_changes(services) == []


def test_a_pharmacist_sets_the_sales_tax_and_the_counseling_rule_by_keyboard(
    qtbot, services: Services, pharmacist: Actor, admin: Actor, tasks
):
    dialog = _opened(qtbot, services, pharmacist, tasks)
    # Another workstation turns the counseling rule off meanwhile; only the tax is edited here.
    services.payment.set_policy(admin, SalePolicy(counseling_required_for_new_rx=False))
    alt(qtbot, dialog, "x")
    assert focused(dialog) is control(dialog, "Sales tax on OTC items (%)")
    _retype(qtbot, dialog, "Sales tax on OTC items (%)", "7.25")
    _save(qtbot, dialog)

    assert services.payment.policy() == SalePolicy(725, counseling_required_for_new_rx=False)
    tax_change = _settings_changes(services)[-1]
    assert tax_change.username == "phil"
    assert tax_change.summary == {"before": 0, "after": 725, "key": "sales_tax_basis_points"}

    dialog = _opened(qtbot, services, pharmacist, tasks)
    alt(qtbot, dialog, "o")
    assert control(dialog, "Require counseling for new prescriptions").isChecked()
    _save(qtbot, dialog)
    assert services.payment.policy().counseling_required_for_new_rx is True
    counseling_change = _settings_changes(services)[-1]
    assert counseling_change.summary["key"] == "counseling_required_for_new_rx"
    assert (counseling_change.summary["before"], counseling_change.summary["after"]) == (
        False,
        True,
    )


def test_only_what_changed_is_saved_over_a_change_made_meanwhile_elsewhere(
    qtbot, services: Services, pharmacist: Actor, admin: Actor, tasks
):
    dialog = _opened(qtbot, services, pharmacist, tasks)
    # Another workstation narrows the short-dated window while the dialog is open.
    services.house_settings.set_inventory_policy(admin, InventoryPolicy(short_dated_days=60))
    control(dialog, "Allow negative on-hand").setChecked(True)
    _retype(qtbot, dialog, "Refill too soon before (% of days supply)", "82.5%")
    _save(qtbot, dialog)

    house = services.house_settings
    assert house.inventory_policy() == InventoryPolicy(True, 60)
    assert house.current().refill_too_soon_threshold == Decimal("0.825")
    assert house.policies().will_call_aging_days == 10


def test_nothing_changed_closes_without_writing(qtbot, services: Services, pharmacist, tasks):
    dialog = _opened(qtbot, services, pharmacist, tasks)

    press(qtbot, dialog, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)

    assert not dialog.isVisible()
    assert _settings_changes(services) == []


def test_a_technician_sees_the_policies_read_only(
    qtbot, services: Services, technician: Actor, tasks
):
    dialog = _opened(qtbot, services, technician, tasks)

    assert not any(control(dialog, name).isEnabled() for name in EDITORS)
    assert not dialog.save_button.isVisible()
    assert control(dialog, "Who may change the policies").text() == (
        "Only a pharmacist or an administrator may change the house policies. You are signed in "
        "as tess (Technician): they are shown, not changeable."
    )
    assert focused(dialog) is control(dialog, "Close")
    press(qtbot, dialog, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert dialog.isVisible()
    press(qtbot, dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    assert _settings_changes(services) == []


def test_the_dialogs_limits_are_the_setters(services: Services, pharmacist: Actor) -> None:
    """The dialog checks every field before saving any; its limits must be the service's."""
    house = services.house_settings
    setters = {
        WILL_CALL_DAYS_RANGE: lambda value: house.set_will_call_aging_days(pharmacist, value),
        SHORT_DATED_DAYS_RANGE: lambda value: house.set_inventory_policy(
            pharmacist, InventoryPolicy(short_dated_days=value)
        ),
        LOSS_THRESHOLD_RANGE: lambda value: house.set_count_policy(
            pharmacist, CountPolicy(loss_threshold_units=value)
        ),
        DISCARD_MONTHS_RANGE: lambda value: house.set_label_discard_after_months(pharmacist, value),
    }
    for (low, high), setter in setters.items():
        setter(low)
        setter(high)
        for outside in (low - 1, high + 1):
            with pytest.raises(ValidationFailed):
                setter(outside)
    low, high = TAX_PERCENT_RANGE
    for percent in (low, high):
        services.payment.set_policy(pharmacist, SalePolicy(int(percent * 100)))
    for percent in (low - Decimal("0.01"), high + Decimal("0.01")):
        with pytest.raises(ValidationFailed):
            services.payment.set_policy(pharmacist, SalePolicy(int(percent * 100)))
    house.set_refill_too_soon_threshold(pharmacist, Decimal("0.5"))
    house.set_refill_too_soon_threshold(pharmacist, Decimal("1"))
    for outside in (Decimal("0.49"), Decimal("1.01")):
        with pytest.raises(ValidationFailed):
            house.set_refill_too_soon_threshold(pharmacist, outside)


def test_the_tools_menu_opens_it(
    qtbot, ui_context: UiContext, services: Services, pharmacist: Actor, technician: Actor
):
    window = open_window(qtbot, ui_context, CosigningSession(services, pharmacist), technician)
    assert window.house_policies_action.text() == "House &policies…"
    opened: list[bool] = []

    def look_and_close() -> None:
        dialog = shown(HousePoliciesDialog)
        opened.append(dialog.may_change)
        dialog.reject()

    QTimer.singleShot(0, look_and_close)
    window.house_policies_action.trigger()

    assert opened == [False]

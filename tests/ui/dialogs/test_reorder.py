"""The Reorder dialog: a bad level is said and saves nothing, a level added for a package found
in the catalogue, the suggested order over 30 or 90 days and its CSV, the short-dated report and
the house's window, a shortage check reaching the pharmacist's badge through the window, and the
window quarantining expired stock when someone signs in."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent, DrugPackage, StockLevel, StockLot, StockMovement
from app.services.house_settings import InventoryPolicy
from app.services.reorder import CSV_COLUMNS
from app.services.unit_of_work import Actor
from tests.app.services.inventory_data import add_package
from tests.app.services.pharmacy_data import SEEDED, load_demo_catalogue
from tests.ui.dialogs.helpers import control
from tests.ui.dialogs.keyboard import show_active, visible_mnemonics
from tests.ui.test_main_window import CosigningSession, open_window
from ui.context import UiContext
from ui.dialogs.reorder import (
    BELOW_MINIMUM_TEXT,
    NOTHING_CHOSEN,
    LevelsModel,
    ReorderDialog,
    ReorderTools,
)
from ui.docks.inventory import REORDER_SHORTCUT
from ui.tasks import TaskRunner

TODAY = date.today()
LATER = TODAY + timedelta(days=700)
WAIT_MS = 5000


@pytest.fixture
def tasks(qtbot) -> Iterator[TaskRunner]:
    runner = TaskRunner()
    yield runner
    runner.shutdown()


def tools(services: Services) -> ReorderTools:
    return ReorderTools(
        services.reorder, services.catalogue, services.inventory, services.house_settings
    )


def open_dialog(qtbot, services: Services, actor: Actor, tasks: TaskRunner) -> ReorderDialog:
    dialog = ReorderDialog(tools(services), actor, tasks)
    show_active(qtbot, dialog)
    qtbot.waitUntil(lambda: dialog.days.value() > 0 and not tasks.busy, timeout=WAIT_MS)
    return dialog


def add_lot(
    services: Services,
    actor: Actor,
    package_id: int,
    on_hand: int,
    *,
    lot_number: str = "L1",
    expiry: date = LATER,
    used: tuple[tuple[int, int], ...] = (),
) -> int:
    """A lot with its receipt and, for each (units, days ago) in `used`, a dispensing movement
    then: the lot's balance stays the sum of its movements."""
    now = datetime.now(UTC)
    with services.database.unit_of_work(actor) as uow:
        lot = StockLot(
            package_id=package_id,
            lot_number=lot_number,
            expiry=expiry,
            status="available",
            on_hand=Decimal(on_hand),
        )
        uow.session.add(lot)
        uow.session.flush()
        movements = [
            StockMovement(
                lot_id=lot.id,
                kind="received",
                quantity=Decimal(on_hand + sum(units for units, _ in used)),
                workstation="test",
                occurred_at=now - timedelta(days=120),
            ),
            *(
                StockMovement(
                    lot_id=lot.id,
                    kind="dispensed",
                    quantity=Decimal(-units),
                    workstation="test",
                    occurred_at=datetime.combine(
                        TODAY - timedelta(days=days_ago), time(12), tzinfo=UTC
                    ),
                )
                for units, days_ago in used
            ),
        ]
        uow.session.add_all(movements)
        for movement in movements:
            uow.audit(SEEDED, movement)
    return lot.id


def saved_levels(services: Services) -> list[tuple[int, Decimal, Decimal]]:
    with services.database.reading() as session:
        return [
            (level.package_id, level.minimum, level.maximum)
            for level in session.scalars(select(StockLevel).order_by(StockLevel.id))
        ]


def ndc_of(services: Services, package_id: int) -> str:
    with services.database.reading() as session:
        return session.scalars(select(DrugPackage.ndc).where(DrugPackage.id == package_id)).one()


def type_level(qtbot, dialog: ReorderDialog, minimum: str, maximum: str) -> None:
    for edit, text in ((dialog.minimum, minimum), (dialog.maximum, maximum)):
        edit.clear()
        qtbot.keyClicks(edit, text)


# --- levels -----------------------------------------------------------------------------------


def test_a_bad_level_is_said_and_nothing_is_saved(
    qtbot, services: Services, admin: Actor, technician: Actor, tasks: TaskRunner
) -> None:
    package = add_package(services, admin)
    add_lot(services, admin, package, 40)
    services.reorder.set_level(technician, package, minimum=10, maximum=50)
    dialog = open_dialog(qtbot, services, technician, tasks)
    qtbot.waitUntil(lambda: dialog.levels.rowCount() == 1, timeout=WAIT_MS)
    assert dialog.levels.index(0, LevelsModel.ON_HAND).data() == "40"
    assert dialog.levels.index(0, LevelsModel.FLAG).data() == ""
    assert len(set(visible_mnemonics(dialog))) == len(visible_mnemonics(dialog))

    # Keyboard only: the table has the focus, Down selects the level, Enter goes to the form.
    assert QApplication.focusWidget() is dialog.levels_table
    qtbot.keyClick(dialog.levels_table, Qt.Key.Key_Down)
    qtbot.keyClick(dialog.levels_table, Qt.Key.Key_Return)
    assert QApplication.focusWidget() is dialog.minimum
    assert (dialog.minimum.text(), dialog.maximum.text()) == ("10", "50")

    for minimum, maximum, said in [
        ("60", "50", "The maximum (50) cannot be below the minimum (60)."),
        ("-5", "50", "The minimum cannot be negative (“-5”)."),
        ("ten", "50", "The minimum is a quantity such as 100 or 2.5, not “ten”."),
    ]:
        type_level(qtbot, dialog, minimum, maximum)
        qtbot.keyClick(dialog, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: dialog.message.isVisible(), timeout=WAIT_MS)
        assert dialog.message.text() == said
        assert saved_levels(services) == [(package, Decimal(10), Decimal(50))]
        qtbot.waitUntil(lambda: not tasks.busy, timeout=WAIT_MS)

    type_level(qtbot, dialog, "45", "90")
    qtbot.keyClick(dialog.maximum, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: (
            dialog.levels.rowCount() == 1
            and dialog.levels.index(0, LevelsModel.FLAG).data() == BELOW_MINIMUM_TEXT
        ),
        timeout=WAIT_MS,
    )
    assert not dialog.message.isVisible()
    assert (
        dialog.status.text() == f"Saved: NDC {ndc_of(services, package)}, minimum 45, maximum 90."
    )
    assert saved_levels(services) == [(package, Decimal(45), Decimal(90))]

    # Typing over the package shown leaves no package to save for.
    dialog.package.setFocus()
    qtbot.keyClick(dialog.package, Qt.Key.Key_End)
    with qtbot.waitSignal(dialog.package.results_shown, timeout=WAIT_MS):  # its search answered
        qtbot.keyClicks(dialog.package, "x")
    qtbot.keyClick(dialog, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert dialog.message.text() == NOTHING_CHOSEN
    assert saved_levels(services) == [(package, Decimal(45), Decimal(90))]


def test_a_level_is_added_for_a_package_found_in_the_catalogue(
    qtbot, services: Services, admin: Actor, technician: Actor, tasks: TaskRunner
) -> None:
    load_demo_catalogue(services, admin)
    dialog = open_dialog(qtbot, services, technician, tasks)
    qtbot.keyClick(dialog, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert dialog.message.text() == NOTHING_CHOSEN
    assert QApplication.focusWidget() is dialog.package

    qtbot.keyClicks(dialog.package, "65862-039-30")
    qtbot.waitUntil(lambda: dialog.package.popup_visible, timeout=WAIT_MS)
    qtbot.keyClick(dialog.package, Qt.Key.Key_Return)
    hit = dialog.package.chosen
    assert hit is not None and hit.ndc == "65862-039-30"
    assert QApplication.focusWidget() is dialog.minimum
    type_level(qtbot, dialog, "60", "180")
    qtbot.keyClick(dialog.maximum, Qt.Key.Key_Return)

    qtbot.waitUntil(lambda: dialog.levels.rowCount() == 1, timeout=WAIT_MS)
    [row] = dialog.levels.rows
    assert (row.ndc, row.minimum, row.maximum, row.on_hand) == ("65862-039-30", 60, 180, 0)
    assert dialog.levels.index(0, LevelsModel.FLAG).data() == BELOW_MINIMUM_TEXT
    assert saved_levels(services) == [(hit.package_id, Decimal(60), Decimal(180))]


# --- the suggested order ------------------------------------------------------------------------


@pytest.fixture
def busy_package(services: Services, admin: Actor, technician: Actor) -> int:
    """120 on hand, minimum 100: little used in the last 30 days (35), much in the 60 before
    (600), so only the 90-day usage projects it below its minimum within a week."""
    package = add_package(services, admin)
    add_lot(services, admin, package, 120, used=((35, 10), (600, 60)))
    services.reorder.set_level(technician, package, minimum=100, maximum=200)
    return package


def test_the_suggested_order_follows_the_30_or_90_day_usage(
    qtbot, services: Services, technician: Actor, tasks: TaskRunner, busy_package: int
) -> None:
    dialog = open_dialog(qtbot, services, technician, tasks)
    qtbot.keyClick(dialog, Qt.Key.Key_O, Qt.KeyboardModifier.AltModifier)
    assert dialog.tabs.currentIndex() == 1
    assert dialog.window_days == 30
    assert dialog.order.rowCount() == 0

    qtbot.keyClick(dialog, Qt.Key.Key_9, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: dialog.window_days == 90, timeout=WAIT_MS)  # a mnemonic animates
    qtbot.waitUntil(lambda: dialog.order.rowCount() == 1, timeout=WAIT_MS)
    [line] = dialog.order.rows
    assert (line.package_id, line.on_hand, line.order_quantity) == (busy_package, 120, 80)
    assert line.usage_per_day == Decimal("7.056")  # 635 over 90 days
    assert not line.below_minimum

    qtbot.keyClick(dialog, Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: dialog.order.rowCount() == 0, timeout=WAIT_MS)


def test_export_csv_writes_the_order_shown(
    qtbot,
    services: Services,
    technician: Actor,
    tasks: TaskRunner,
    busy_package: int,
    tmp_path: Path,
) -> None:
    dialog = open_dialog(qtbot, services, technician, tasks)
    dialog.window_buttons.button(90).click()
    qtbot.waitUntil(lambda: dialog.order.rowCount() == 1, timeout=WAIT_MS)
    target = tmp_path / "order.csv"

    dialog.export_csv(str(target))
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Exported"), timeout=WAIT_MS)

    assert dialog.status.text() == "Exported 1 order line (90 days of usage) to order.csv."
    with target.open(newline="", encoding="utf-8") as exported:
        rows = list(csv.reader(exported))
    [line] = dialog.order.rows
    assert rows == [
        list(CSV_COLUMNS),
        [line.ndc, line.drug, "120", "100", "200", "7.056", "", "80"],
    ]
    with services.database.reading() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "reorder.exported")
        ).one()
    assert (event.summary["window_days"], event.summary["file"]) == (90, "order.csv")

    dialog.export_csv(str(tmp_path / "no-such-folder" / "order.csv"))
    qtbot.waitUntil(lambda: dialog.message.isVisible(), timeout=WAIT_MS)
    assert "could not be written" in dialog.message.text()


# --- short-dated stock --------------------------------------------------------------------------


def test_the_short_dated_report_uses_the_houses_window_which_a_pharmacist_changes(
    qtbot,
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    tasks: TaskRunner,
) -> None:
    package = add_package(services, admin)
    add_lot(services, admin, package, 10, lot_number="SOON", expiry=TODAY + timedelta(days=30))
    add_lot(services, admin, package, 10, lot_number="LATER", expiry=TODAY + timedelta(days=120))

    as_technician = open_dialog(qtbot, services, technician, tasks)
    qtbot.waitUntil(lambda: as_technician.short_dated.rowCount() == 1, timeout=WAIT_MS)
    assert as_technician.days.value() == InventoryPolicy().short_dated_days
    assert [row.lot_number for row in as_technician.short_dated.rows] == ["SOON"]
    assert not as_technician.save_days_button.isEnabled()
    as_technician.close()

    dialog = open_dialog(qtbot, services, pharmacist, tasks)
    qtbot.keyClick(dialog, Qt.Key.Key_D, Qt.KeyboardModifier.AltModifier)
    assert dialog.tabs.currentIndex() == 2
    dialog.days.setValue(150)
    qtbot.waitUntil(lambda: dialog.short_dated.rowCount() == 2, timeout=WAIT_MS)
    assert services.house_settings.inventory_policy().short_dated_days == 90  # not yet saved

    qtbot.keyClick(dialog, Qt.Key.Key_H, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: "150 days" in dialog.status.text(), timeout=WAIT_MS)
    assert services.house_settings.inventory_policy().short_dated_days == 150


# --- from the window: the shortage check, and expiry at sign-in --------------------------------


def test_check_shortages_from_the_window_reaches_the_pharmacist_badge(
    qtbot, ui_context: UiContext, services: Services, admin: Actor, pharmacist: Actor
) -> None:
    package = add_package(services, admin)
    add_lot(services, admin, package, 5)
    services.reorder.set_level(pharmacist, package, minimum=50, maximum=100)
    window = open_window(qtbot, ui_context, CosigningSession(services, pharmacist), pharmacist)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=WAIT_MS)
    assert window.worklist.waiting == 0
    assert window.inventory.reorder_button.text() == f"Reorder… ({REORDER_SHORTCUT})"

    qtbot.keyClick(
        window,
        Qt.Key.Key_O,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    dialog = window.inventory.findChild(ReorderDialog)
    assert dialog is not None
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=WAIT_MS)
    qtbot.keyClick(dialog, Qt.Key.Key_N, Qt.KeyboardModifier.AltModifier)

    qtbot.waitUntil(lambda: window.worklist.waiting == 1, timeout=WAIT_MS)
    assert window.worklist.badge.text() == "Pharmacist: 1 waiting"
    assert dialog.status.text() == "1 shortage on the pharmacist's work list (1 new)."
    assert control(dialog, "Check shortages now").isEnabled()
    dialog.reject()


def test_signing_in_quarantines_expired_stock(
    qtbot, ui_context: UiContext, services: Services, admin: Actor, technician: Actor
) -> None:
    package = add_package(services, admin)
    expired = add_lot(services, admin, package, 30, lot_number="OLD", expiry=TODAY - timedelta(1))
    fresh = add_lot(services, admin, package, 30, lot_number="NEW")

    window = open_window(qtbot, ui_context, CosigningSession(services, None), technician)

    def status(lot_id: int) -> str:
        with services.database.reading() as session:
            return session.scalars(select(StockLot.status).where(StockLot.id == lot_id)).one()

    qtbot.waitUntil(lambda: status(expired) == "quarantined", timeout=WAIT_MS)
    assert status(fresh) == "available"
    qtbot.waitUntil(
        lambda: "1 expired lot put in quarantine" in window.statusBar().currentMessage(),
        timeout=WAIT_MS,
    )
    with services.database.reading() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "stock.lot_quarantined")
        ).one()
    assert (event.username, event.entity_id, event.summary["reason"]) == (
        technician.username,
        str(expired),
        "expired",
    )

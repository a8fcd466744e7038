"""The Inventory dock: a load that fails says why and offers Retry; the search and the views
narrow the lots; a lot's package fills the detail tabs (lots in FEFO turn, movements with who
and why, usage charted); each lot action works from the keyboard, and a refusal changes nothing
and says why."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QLineEdit
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent, StockLot, StockMovement
from app.domain.roles import Role
from app.errors import DatabaseUnavailable
from app.services.stock import StockRow, StockView
from app.services.unit_of_work import Actor
from tests.app.services.inventory_data import add_user
from tests.app.services.pharmacy_data import SEEDED, load_demo_catalogue, package_of
from tests.app.services.verification_data import LISINOPRIL, OXYCODONE
from ui.dialogs.lot_actions import NO_PHARMACIST_TEXT, NO_WITNESS_TEXT, LotActionDialog
from ui.docks.inventory import (
    ADJUST_SHORTCUT,
    CHOOSE_LOT_TEXT,
    DESTROY_SHORTCUT,
    MOVE_SHORTCUT,
    QUARANTINE_SHORTCUT,
    RELEASE_SHORTCUT,
    RETURN_SHORTCUT,
    REVERSE_SHORTCUT,
    SEARCH_SHORTCUT,
    TRANSFER_SHORTCUT,
    InventoryDock,
)
from ui.models.stock import MovementModel, PackageLotsModel, StockModel
from ui.tasks import TaskRunner

ACTOR = Actor(7, "tess", "Tess", frozenset({Role.TECHNICIAN}), "bench-1")
LOT = StockRow(1, 11, "0000-1111-01", "Lisinopril 10 mg tablet", None, "L1", date(2030, 1, 31),
               "available", "shelf", Decimal(100))  # fmt: skip
TODAY = date.today()


class FlakyStock:
    """Fails while `down` is set, the way the real service does when the server is gone."""

    def __init__(self) -> None:
        self.down = True
        self.asked_by: list[Actor] = []

    def on_hand(self, actor: Actor, *, search: str = "", view: StockView = StockView.ALL):
        self.asked_by.append(actor)
        if self.down:
            raise DatabaseUnavailable("RxBench cannot reach the database (PostgreSQL db:5432/rx).")
        return [LOT]


def test_failed_load_shows_the_explained_error_and_retry(qtbot):
    tasks = TaskRunner()
    stock = FlakyStock()
    dock = InventoryDock(stock=stock, tasks=tasks, actor=lambda: ACTOR)  # type: ignore[arg-type]
    qtbot.addWidget(dock)
    dock.show()

    with qtbot.waitSignal(dock.load_failed) as failure:
        dock.reload()
    assert isinstance(failure.args[0], DatabaseUnavailable)
    assert dock.has_failed
    assert "Database unreachable" in dock.error_text
    assert "cannot reach the database" in dock.error_text
    assert "choose Retry" in dock.error_text
    assert dock.retry_button.isVisible()
    assert dock.focus_target() is dock.retry_button

    stock.down = False
    with qtbot.waitSignal(dock.loaded):
        dock.retry_button.click()
    assert not dock.has_failed
    assert not dock.retry_button.isVisible()
    assert dock.model.rows == (LOT,)
    assert stock.asked_by == [ACTOR, ACTOR]
    tasks.shutdown()


def test_nobody_signed_in_loads_nothing(qtbot):
    tasks = TaskRunner()
    stock = FlakyStock()
    dock = InventoryDock(stock=stock, tasks=tasks, actor=lambda: None)  # type: ignore[arg-type]
    qtbot.addWidget(dock)
    dock.reload()
    assert not tasks.busy
    assert stock.asked_by == []
    # Without the inventory service the lot actions are there, but disabled.
    assert not dock.adjust_action.isEnabled() and dock.adjust_lot() is None


# --- with the real services --------------------------------------------------------------------


class Witnesses:
    """The window's witness prompt: hands back `signer` (None: nobody co-signed), and keeps
    what each request said."""

    def __init__(self, signer: Actor | None) -> None:
        self.signer = signer
        self.purposes: list[str] = []

    def __call__(self, purpose: str) -> Actor | None:
        self.purposes.append(purpose)
        return self.signer


def stocked_lot(
    services: Services,
    actor: Actor,
    package_id: int,
    lot_number: str,
    *,
    on_hand: int,
    expiry: date,
    status: str = "available",
) -> int:
    with services.database.unit_of_work(actor) as uow:
        lot = StockLot(
            package_id=package_id,
            lot_number=lot_number,
            expiry=expiry,
            status=status,
            on_hand=Decimal(on_hand),
        )
        uow.session.add(lot)
        uow.session.flush()
        received = StockMovement(
            lot_id=lot.id,
            kind="received",
            quantity=Decimal(on_hand),
            workstation=actor.workstation,
            occurred_at=datetime.now(UTC) - timedelta(days=200),
        )
        uow.session.add(received)
        uow.audit(SEEDED, received)
        return lot.id


def dispensed(services: Services, actor: Actor, lot_id: int, quantity: int, days_ago: int) -> None:
    with services.database.unit_of_work(actor) as uow:
        lot = uow.session.get(StockLot, lot_id)
        assert lot is not None
        lot.on_hand -= quantity
        movement = StockMovement(
            lot_id=lot_id,
            kind="dispensed",
            quantity=Decimal(-quantity),
            workstation=actor.workstation,
            occurred_at=datetime.now(UTC) - timedelta(days=days_ago),
        )
        uow.session.add(movement)
        uow.audit(SEEDED, movement)


def on_hand(services: Services, lot_id: int) -> Decimal:
    with services.database.reading() as session:
        return session.scalars(select(StockLot.on_hand).where(StockLot.id == lot_id)).one()


def movements(services: Services, lot_id: int) -> list[tuple[str, Decimal, str]]:
    with services.database.reading() as session:
        return [
            (movement.kind, movement.quantity, movement.reason)
            for movement in session.scalars(
                select(StockMovement)
                .where(StockMovement.lot_id == lot_id)
                .order_by(StockMovement.id)
            )
        ]


class Pharmacy:
    """The demo catalogue with a lisinopril lot that was dispensed from, a second later lot,
    and a C-II oxycodone lot."""

    def __init__(self, services: Services, admin: Actor, technician: Actor) -> None:
        load_demo_catalogue(services, admin)
        self.lisinopril = package_of(services, LISINOPRIL)
        self.oxycodone = package_of(services, OXYCODONE)
        self.lis = stocked_lot(
            services,
            technician,
            self.lisinopril,
            "LIS-1",
            on_hand=500,
            expiry=TODAY + timedelta(days=60),
        )
        self.lis_late = stocked_lot(
            services,
            technician,
            self.lisinopril,
            "LIS-2",
            on_hand=100,
            expiry=TODAY + timedelta(days=700),
        )
        self.oxy = stocked_lot(
            services,
            technician,
            self.oxycodone,
            "OXY-1",
            on_hand=80,
            expiry=TODAY + timedelta(days=400),
        )
        # 30 + 12 in the last 30 days, 50 more before: 92 over 90 days.
        for quantity, days_ago in ((30, 1), (12, 10), (50, 45)):
            dispensed(services, technician, self.lis, quantity, days_ago)


@pytest.fixture
def pharmacy(services: Services, admin: Actor, technician: Actor) -> Pharmacy:
    return Pharmacy(services, admin, technician)


@pytest.fixture
def witnesses(services: Services, admin: Actor) -> Witnesses:
    return Witnesses(add_user(services, admin, "wes", Role.TECHNICIAN))


@pytest.fixture
def dock(qtbot, services: Services, pharmacy: Pharmacy, technician: Actor, witnesses, tmp_path):
    tasks = TaskRunner()
    settings_path = str(tmp_path / "dock.ini")
    built = InventoryDock(
        stock=services.stock,
        tasks=tasks,
        actor=lambda: technician,
        inventory=services.inventory,
        witness=witnesses,
        settings=lambda: QSettings(settings_path, QSettings.Format.IniFormat),
    )
    qtbot.addWidget(built)
    built.resize(1400, 700)
    built.show()
    built.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is built)
    with qtbot.waitSignal(built.loaded):
        built.reload()
    yield built
    tasks.shutdown()


def listed(dock: InventoryDock) -> list[str]:
    return [row.lot_number for row in dock.model.rows]


def choose(qtbot, dock: InventoryDock, lot_id: int) -> None:
    with qtbot.waitSignal(dock.detail_loaded):
        assert dock.select_lot(lot_id)
    dock.table.setFocus()


def shortcut(qtbot, dock: InventoryDock, keys: str) -> LotActionDialog:
    """Press a window-wide shortcut where the focus is; the lot dialog it opens."""
    sequence = keys.split("+")
    modifiers = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    assert sequence[:2] == ["Ctrl", "Shift"]
    # A dialog closed just now may have left no window active (offscreen has no window manager).
    dock.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dock)
    qtbot.keyClick(dock.focusWidget(), getattr(Qt.Key, f"Key_{sequence[2]}"), modifiers)
    dialogs = [d for d in dock.findChildren(LotActionDialog) if d.isVisible()]
    assert len(dialogs) == 1
    return dialogs[0]


def type_and_tab(qtbot, dialog: LotActionDialog, text: str) -> None:
    widget = dialog.focusWidget()
    assert isinstance(widget, QLineEdit)
    qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Tab)


def press_enter(qtbot, dialog: LotActionDialog) -> None:
    widget = dialog.focusWidget()
    assert widget is not None
    qtbot.keyClick(widget, Qt.Key.Key_Return)


def test_search_and_views_narrow_the_lots(qtbot, dock: InventoryDock, pharmacy: Pharmacy):
    assert listed(dock) == ["LIS-1", "OXY-1", "LIS-2"]
    assert dock.lots_listed.text() == "3 lots"
    qtbot.keyClick(
        dock.table,
        Qt.Key.Key_F,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert QApplication.focusWidget() is dock.search
    assert SEARCH_SHORTCUT in dock.search.placeholderText()

    with qtbot.waitSignal(dock.loaded):
        qtbot.keyClicks(dock.search, "oxycod")
    assert listed(dock) == ["OXY-1"]
    with qtbot.waitSignal(dock.loaded):
        dock.search.clear()
        qtbot.keyClicks(dock.search, "65862")  # an NDC fragment
    assert listed(dock) == ["LIS-1", "LIS-2"]

    with qtbot.waitSignal(dock.loaded):
        dock.view_choice.setCurrentIndex(dock.view_choice.findData(StockView.SHORT_DATED))
    assert listed(dock) == ["LIS-1"]
    assert dock.model.index(0, StockModel.DATING).data().startswith("Short-dated (60 d)")
    with qtbot.waitSignal(dock.loaded):
        dock.search.clear()
        qtbot.keyClick(dock.search, Qt.Key.Key_Return)
    with qtbot.waitSignal(dock.loaded):
        dock.view_choice.setCurrentIndex(dock.view_choice.findData(StockView.CONTROLLED))
    assert listed(dock) == ["OXY-1"]
    assert dock.model.index(0, StockModel.SCHEDULE).data() == "C-II"


def test_a_chosen_lot_fills_the_detail_tabs(
    qtbot, services: Services, dock: InventoryDock, pharmacy: Pharmacy
):
    dock.table.setFocus()
    qtbot.keyClick(dock.table, Qt.Key.Key_Down)  # the first lot, LIS-1
    with qtbot.waitSignal(dock.detail_loaded):
        pass
    assert "Lisinopril" in dock.detail_title.text()
    assert "508 on hand, 508 dispensable" in dock.detail_title.text()
    # Enter goes into the detail, on its Lots tab: the FEFO turn is marked.
    qtbot.keyClick(dock.table, Qt.Key.Key_Return)
    assert QApplication.focusWidget() is dock.lots_table
    qtbot.keyClick(dock.lots_table, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is dock.table
    # Tab goes from the search to the view, to the table, to the detail.
    dock.search.setFocus()
    for expected in (dock.view_choice, dock.table, dock.tabs.tabBar(), dock.lots_table):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        assert QApplication.focusWidget() is expected
    lots = dock.lots_model
    assert [lots.index(row, PackageLotsModel.LOT).data() for row in range(2)] == ["LIS-1", "LIS-2"]
    assert lots.index(0, PackageLotsModel.FEFO).data() == "1 · fill first"
    assert lots.index(1, PackageLotsModel.FEFO).data() == "2"

    kinds = [
        dock.movements_model.index(row, MovementModel.KIND).data()
        for row in range(dock.movements_model.rowCount())
    ]
    assert kinds.count("Dispensed") == 3 and kinds.count("Received") == 2

    # Usage: 30 days by day, bars summing to what was dispensed, on-hand ending at today's.
    chart = dock.usage_chart
    assert chart.dispensed_set.count() == 30
    assert sum(chart.dispensed_set.at(i) for i in range(30)) == 42
    assert chart.dispensed_set.at(28) == 30  # yesterday
    assert chart.on_hand_line.points()[-1].y() == 508
    assert chart.on_hand_line.points()[0].y() == 508 + 42
    assert "42 in all" in chart.chart_.title()
    # A longer period goes by week.
    with qtbot.waitSignal(dock.detail_loaded):
        dock.period.setCurrentIndex(dock.period.findData(90))
    assert chart.dispensed_set.count() == 13
    assert sum(chart.dispensed_set.at(i) for i in range(13)) == 92
    assert chart.days_axis.titleText() == "Week starting"


def test_adjust_by_keyboard_then_the_history_shows_who_and_why_and_reverse_it(
    qtbot, services: Services, dock: InventoryDock, pharmacy: Pharmacy
):
    choose(qtbot, dock, pharmacy.lis)
    dialog = shortcut(qtbot, dock, ADJUST_SHORTCUT)
    assert dialog.focusWidget().accessibleName() == "Change (units, + or -)"
    type_and_tab(qtbot, dialog, "-8")
    qtbot.keyClicks(dialog.focusWidget(), "broken tablets")
    with qtbot.waitSignal(dock.loaded), qtbot.waitSignal(dock.detail_loaded):
        press_enter(qtbot, dialog)
    assert on_hand(services, pharmacy.lis) == 400
    assert movements(services, pharmacy.lis)[-1] == ("adjusted", Decimal(-8), "broken tablets")
    assert "Adjusted -8; 400 on hand." in dock.notice.text()
    assert dock.focusWidget() is dock.table  # the focus when the window is active again
    assert dock.selected_lot().lot_number == "LIS-1"
    newest = dock.movements_model
    rows = sorted(newest.rows, key=lambda row: row.movement_id, reverse=True)
    assert (rows[0].kind, rows[0].username, rows[0].reason) == (
        "adjusted",
        "tess",
        "broken tablets",
    )

    # Reverse it from the Movements tab.
    dock.tabs.setCurrentWidget(dock.movements_table)
    position = next(
        row
        for row in range(dock.movements_table.model().rowCount())
        if dock.movements_table.model().index(row, MovementModel.NUMBER).data()
        == str(rows[0].movement_id)
    )
    dock.movements_table.selectRow(position)
    dock.movements_table.setFocus()
    dialog = shortcut(qtbot, dock, REVERSE_SHORTCUT)
    qtbot.keyClicks(dialog.focusWidget(), "counted again: they were whole")
    with qtbot.waitSignal(dock.loaded):
        press_enter(qtbot, dialog)
    assert on_hand(services, pharmacy.lis) == 408
    assert movements(services, pharmacy.lis)[-1] == (
        "reversal",
        Decimal(8),
        "counted again: they were whole",
    )


def test_controlled_adjustment_and_every_destruction_ask_a_witness(
    qtbot, services: Services, dock: InventoryDock, pharmacy: Pharmacy, witnesses: Witnesses
):
    choose(qtbot, dock, pharmacy.oxy)
    dialog = shortcut(qtbot, dock, ADJUST_SHORTCUT)
    type_and_tab(qtbot, dialog, "+2")
    qtbot.keyClicks(dialog.focusWidget(), "found behind the safe")
    with qtbot.waitSignal(dock.loaded):
        press_enter(qtbot, dialog)
    assert on_hand(services, pharmacy.oxy) == 82
    assert "adjustment of lot OXY-1" in witnesses.purposes[-1]

    choose(qtbot, dock, pharmacy.lis)
    dialog = shortcut(qtbot, dock, DESTROY_SHORTCUT)
    type_and_tab(qtbot, dialog, "5")
    qtbot.keyClicks(dialog.focusWidget(), "dropped on the floor")
    with qtbot.waitSignal(dock.loaded):
        press_enter(qtbot, dialog)
    assert on_hand(services, pharmacy.lis) == 403
    assert movements(services, pharmacy.lis)[-1] == (
        "destroyed",
        Decimal(-5),
        "dropped on the floor",
    )
    assert "destruction" in witnesses.purposes[-1]


def test_nobody_witnessing_or_a_refusal_changes_nothing_and_says_why(
    qtbot, services: Services, dock: InventoryDock, pharmacy: Pharmacy, witnesses: Witnesses
):
    before = movements(services, pharmacy.lis)
    choose(qtbot, dock, pharmacy.lis)
    witnesses.signer = None
    dialog = shortcut(qtbot, dock, DESTROY_SHORTCUT)
    type_and_tab(qtbot, dialog, "5")
    qtbot.keyClicks(dialog.focusWidget(), "dropped")
    press_enter(qtbot, dialog)
    assert dialog.isVisible()
    assert dialog.message.text() == NO_WITNESS_TEXT.format(what="destroy")
    dialog.reject()

    # More than the lot holds: the service refuses, the dialog says so and stays open.
    dialog = shortcut(qtbot, dock, RETURN_SHORTCUT)
    type_and_tab(qtbot, dialog, "9000")
    qtbot.keyClicks(dialog.focusWidget(), "short-dated")
    press_enter(qtbot, dialog)
    assert dialog.isVisible()
    assert "has 408 on hand: taking 9000 would leave -8592" in dialog.message.text()
    # A blank reason is asked for before anything is sent.
    dialog.reason.clear()
    press_enter(qtbot, dialog)
    assert dialog.message.text().startswith("Say why")
    dialog.reject()

    # Only a pharmacist releases a lot: a technician's release asks one to co-sign.
    dialog = shortcut(qtbot, dock, RELEASE_SHORTCUT)
    qtbot.keyClicks(dialog.focusWidget(), "seal checked")
    press_enter(qtbot, dialog)
    assert dialog.message.text() == NO_PHARMACIST_TEXT.format(what="release")
    dialog.reject()
    assert movements(services, pharmacy.lis) == before
    assert on_hand(services, pharmacy.lis) == 408


def test_return_transfer_move_and_quarantine_by_keyboard(
    qtbot, services: Services, dock: InventoryDock, pharmacy: Pharmacy
):
    choose(qtbot, dock, pharmacy.lis_late)
    dialog = shortcut(qtbot, dock, RETURN_SHORTCUT)
    type_and_tab(qtbot, dialog, "10")
    qtbot.keyClicks(dialog.focusWidget(), "ordered in error")
    with qtbot.waitSignal(dock.loaded):
        press_enter(qtbot, dialog)

    dialog = shortcut(qtbot, dock, TRANSFER_SHORTCUT)
    type_and_tab(qtbot, dialog, "20")
    type_and_tab(qtbot, dialog, "Oak Street Pharmacy")
    qtbot.keyClicks(dialog.focusWidget(), "their shortage")
    with qtbot.waitSignal(dock.loaded):
        press_enter(qtbot, dialog)
    assert movements(services, pharmacy.lis_late)[-2:] == [
        ("returned_to_vendor", Decimal(-10), "ordered in error"),
        ("transferred", Decimal(-20), "To Oak Street Pharmacy: their shortage"),
    ]

    dialog = shortcut(qtbot, dock, MOVE_SHORTCUT)
    place = dialog.focusWidget()
    assert isinstance(place, QComboBox) and place.accessibleName() == "Location"
    qtbot.keyClicks(place, "refrigerator")
    with qtbot.waitSignal(dock.loaded):
        press_enter(qtbot, dialog)

    dialog = shortcut(qtbot, dock, QUARANTINE_SHORTCUT)
    qtbot.keyClicks(dialog.focusWidget(), "label smudged")
    with qtbot.waitSignal(dock.loaded):
        press_enter(qtbot, dialog)
    with services.database.reading() as session:
        lot = session.get(StockLot, pharmacy.lis_late)
        assert lot is not None
        assert (lot.location, lot.status, lot.on_hand) == ("refrigerator", "quarantined", 70)
    row = next(row for row in dock.model.rows if row.lot_id == pharmacy.lis_late)
    assert (row.status, row.location) == ("quarantined", "refrigerator")


def test_an_action_without_a_chosen_lot_says_to_choose_one(qtbot, dock: InventoryDock):
    dock.table.setFocus()
    dock.table.clearSelection()
    dock.table.setCurrentIndex(dock.table.model().index(-1, -1))
    qtbot.keyClick(
        dock.table,
        Qt.Key.Key_J,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert dock.notice.text() == CHOOSE_LOT_TEXT
    assert not [d for d in dock.findChildren(LotActionDialog) if d.isVisible()]


def test_every_action_shows_its_shortcut_and_the_layout_is_remembered(
    qtbot, services: Services, pharmacy: Pharmacy, technician: Actor, tmp_path
):
    settings_path = str(tmp_path / "remember.ini")

    def make() -> InventoryDock:
        built = InventoryDock(
            stock=services.stock,
            tasks=TaskRunner(),
            actor=lambda: technician,
            inventory=services.inventory,
            settings=lambda: QSettings(settings_path, QSettings.Format.IniFormat),
        )
        qtbot.addWidget(built)
        return built

    first = make()
    texts = {action.text(): action.shortcut().toString() for action in first.menu_actions}
    assert texts["&Adjust stock…"] == ADJUST_SHORTCUT
    assert texts["&Find stock"] == SEARCH_SHORTCUT
    for action in (first.adjust_action, first.destroy_action, first.reverse_action):
        assert action.isEnabled()
    assert len(set(texts.values())) == len(texts)
    buttons = [b for b in first.findChildren(type(first.receive_button)) if b.toolTip()]
    assert any(ADJUST_SHORTCUT in button.toolTip() for button in buttons)
    first.tabs.setCurrentIndex(2)
    second = make()
    assert second.tabs.currentIndex() == 2


def test_a_pharmacist_releases_a_quarantined_lot_by_keyboard(
    qtbot, services: Services, pharmacy: Pharmacy, technician: Actor, pharmacist: Actor
):
    services.inventory.quarantine(technician, pharmacy.lis_late, reason="seal looked torn")
    tasks = TaskRunner()
    dock = InventoryDock(
        stock=services.stock, tasks=tasks, actor=lambda: pharmacist, inventory=services.inventory
    )
    qtbot.addWidget(dock)
    dock.show()
    with qtbot.waitSignal(dock.loaded):
        dock.reload()
    choose(qtbot, dock, pharmacy.lis_late)
    dialog = shortcut(qtbot, dock, RELEASE_SHORTCUT)
    qtbot.keyClicks(dialog.focusWidget(), "seal intact under the light")
    with qtbot.waitSignal(dock.loaded):
        press_enter(qtbot, dialog)
    with services.database.reading() as session:
        lot = session.get(StockLot, pharmacy.lis_late)
        assert lot is not None and lot.status == "available"
    assert "now available" in dock.notice.text()
    tasks.shutdown()


def test_a_technicians_release_is_co_signed_and_recorded_as_the_pharmacists(
    qtbot, services: Services, pharmacy: Pharmacy, technician: Actor, pharmacist: Actor
):
    services.inventory.quarantine(technician, pharmacy.lis_late, reason="seal looked torn")
    purposes: list[str] = []

    def cosign(purpose: str) -> Actor:
        purposes.append(purpose)
        return pharmacist

    tasks = TaskRunner()
    dock = InventoryDock(
        stock=services.stock,
        tasks=tasks,
        actor=lambda: technician,
        inventory=services.inventory,
        cosign=cosign,
    )
    qtbot.addWidget(dock)
    dock.show()
    with qtbot.waitSignal(dock.loaded):
        dock.reload()
    choose(qtbot, dock, pharmacy.lis_late)
    dialog = shortcut(qtbot, dock, RELEASE_SHORTCUT)
    assert "the pharmacist co-signs" in dialog.findChild(QLabel).text()
    qtbot.keyClicks(dialog.focusWidget(), "seal intact under the light")
    with qtbot.waitSignal(dock.loaded):
        press_enter(qtbot, dialog)
    assert len(purposes) == 1 and purposes[0].startswith("release of lot")
    with services.database.reading() as session:
        lot = session.get(StockLot, pharmacy.lis_late)
        assert lot is not None and lot.status == "available"
        released_by = session.scalars(
            select(AuditEvent.username)
            .where(AuditEvent.action == "stock.lot_released")
            .order_by(AuditEvent.id.desc())
        ).first()
    assert released_by == pharmacist.username
    tasks.shutdown()

"""The main window against a real (seeded) database: six docks, menus, shortcuts, status."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QLabel,
    QPlainTextEdit,
    QTableView,
    QWidget,
)

from app.bootstrap import Services
from app.db.engine import create_database_engine, describe_database
from app.domain.fill_states import FillState
from app.domain.labels import BUILT_IN_STOCKS
from app.services.fills import FillQueryService
from app.services.stock import StockQueryService
from app.services.unit_of_work import Actor, Database
from app.services.worklist import WorkItemRow
from tests.conftest import TEST_PASSWORD
from tests.ui.pharmacy_data import SeededPharmacy
from ui.context import UiContext
from ui.dialogs.claims import ClaimsDialog
from ui.docks.label import NO_FILL_TEXT
from ui.main_window import CONNECTED_TEXT, UNREACHABLE_TEXT, MainWindow
from ui.models.fills import FillQueueModel
from ui.session import SessionController

LOAD_TIMEOUT_MS = 10_000


class CosigningSession(SessionController):
    """The real controller, with the pharmacist's co-signature answered by the test."""

    def __init__(self, services: Services, cosigner: Actor | None) -> None:
        super().__init__(services, idle_minutes=5)
        self.cosigner = cosigner
        self.cosign_purposes: list[str] = []

    def cosign(self, *, purpose: str, parent: QWidget | None = None) -> Actor | None:
        self.cosign_purposes.append(purpose)
        return self.cosigner


def open_window(qtbot, context: UiContext, session: SessionController, actor: Actor) -> MainWindow:
    window = MainWindow(context, session)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.all_docks_loaded, timeout=LOAD_TIMEOUT_MS):
        session.sign_in_as(actor)
    return window


@pytest.fixture
def session(services: Services, pharmacist: Actor) -> CosigningSession:
    return CosigningSession(services, pharmacist)


@pytest.fixture
def window(
    qtbot, ui_context: UiContext, session, technician: Actor, seeded_pharmacy: SeededPharmacy
) -> Iterator[MainWindow]:
    yield open_window(qtbot, ui_context, session, technician)


def test_six_docks_show_the_pharmacy_data(window: MainWindow, seeded_pharmacy: SeededPharmacy):
    assert [dock.windowTitle() for dock in window.docks] == [
        "Fill queue",
        "Verify",
        "Label",
        "Inventory",
        "Pickup",
        "Pharmacist",
    ]
    assert all(dock.isVisible() for dock in window.docks)
    queue_ids = {row.fill_id for row in window.fill_queue.model.rows}
    assert queue_ids == set(seeded_pharmacy.active_fill_ids)
    assert seeded_pharmacy.sold_fill_id not in queue_ids
    shown_states = {
        window.fill_queue.model.index(r, FillQueueModel.STATUS).data()
        for r in range(window.fill_queue.model.rowCount())
    }
    assert "Ready for pickup" in shown_states
    assert "Claim rejected" in shown_states
    assert {row.lot_number for row in window.inventory.model.rows} == set(
        seeded_pharmacy.lot_numbers
    )
    assert {row.fill_id for row in window.payment.model.rows} == set(seeded_pharmacy.ready_fill_ids)
    assert window.payment.summary.text() == "2 prescriptions ready for pickup"
    assert window.label.profile is not None and window.label.profile.name == "Test Pharmacy"
    assert window.label.title.text() == NO_FILL_TEXT
    assert window.label.stock_choice.count() == len(BUILT_IN_STOCKS)
    assert window.verify.placeholder.isVisible()


def _select_in_queue(qtbot, window: MainWindow, fill_id: int) -> None:
    table = window.fill_queue.table
    proxy = window.fill_queue.proxy
    row = next(
        r
        for r in range(proxy.rowCount())
        if proxy.index(r, 0).data(Qt.ItemDataRole.UserRole + 1).fill_id == fill_id
    )
    table.setFocus()
    table.setCurrentIndex(proxy.index(row, 0))
    qtbot.keyClick(table, Qt.Key.Key_Return)


def test_enter_on_a_fill_fans_it_out_to_verify_and_label(
    qtbot, window: MainWindow, seeded_pharmacy: SeededPharmacy
):
    with qtbot.waitSignal(window.label.loaded, timeout=LOAD_TIMEOUT_MS):
        _select_in_queue(qtbot, window, seeded_pharmacy.controlled_fill_id)

    fill = window.verify.fill
    assert fill is not None and fill.fill_id == seeded_pharmacy.controlled_fill_id
    assert window.verify.schedule.isVisible()
    assert window.verify.schedule.text() == "Controlled substance — Schedule II"
    assert window.verify.fields["NDC"].text() == "0000-2222-01"
    assert window.verify.fields["Directions"].text() == "Take 1 tablet by mouth once daily"
    label = window.label.label
    assert label is not None and label.fill_id == fill.fill_id
    assert window.label.title.text().startswith(f"Rx {fill.rx_number}-{fill.fill_number} · ")
    assert not window.label.preview_image.isNull()
    described = window.label.picture.accessibleDescription()
    assert described.startswith(f"Rx {fill.rx_number}-{fill.fill_number}. ")
    assert label.contents[0].quantity == "30 tablets"
    assert label.contents[0].transfer_caution.startswith("Caution: Federal law prohibits")


def test_stage_filter_shows_only_that_stage(window: MainWindow):
    window.fill_queue.set_stage(FillState.READY)
    proxy = window.fill_queue.proxy
    assert proxy.rowCount() == 2
    assert {proxy.index(r, FillQueueModel.STATUS).data() for r in range(2)} == {"Ready for pickup"}
    assert window.fill_queue.count.text() == "2 of 6 fills"
    window.fill_queue.set_stage(None)
    assert proxy.rowCount() == 6


def test_view_menu_toggles_each_dock_with_ctrl_number(qtbot, window: MainWindow):
    view_menu = next(m for m in window.menuBar().actions() if m.text() == "&View").menu()
    toggles = [action for action in view_menu.actions() if action.isCheckable()]
    assert [a.shortcut().toString() for a in toggles] == [f"Ctrl+{n}" for n in range(1, 7)]
    assert [a.text() for a in toggles] == [dock.windowTitle() for dock in window.docks]

    toggles[3].trigger()
    assert not window.inventory.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.inventory.isVisible()
    qtbot.waitUntil(lambda: window.inventory.table.hasFocus())

    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert not window.fill_queue.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.fill_queue.isVisible()
    qtbot.waitUntil(lambda: window.fill_queue.table.hasFocus())


def test_f5_reloads_every_dock(
    qtbot, window: MainWindow, services: Services, seeded_pharmacy: SeededPharmacy
):
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from app.db.models import Fill

    with Session(services.database.engine) as session, session.begin():
        session.execute(
            update(Fill)
            .where(Fill.id == seeded_pharmacy.ready_fill_ids[0])
            .values(state=FillState.SOLD.value)
        )
    with qtbot.waitSignal(window.all_docks_loaded, timeout=LOAD_TIMEOUT_MS):
        qtbot.keyClick(window, Qt.Key.Key_F5)
    assert len(window.payment.model.rows) == 1
    assert len(window.fill_queue.model.rows) == len(seeded_pharmacy.active_fill_ids) - 1


def test_status_bar_names_user_workstation_and_database(qtbot, window: MainWindow):
    assert window.user_status.text() == "Signed in: Tess (Technician)"
    assert window.workstation_status.text() == "Workstation: test-workstation"
    description = window._context.services.database.description
    assert window.database_status.text() == str(description)
    qtbot.waitUntil(lambda: window.health_status.text() == CONNECTED_TEXT)


def test_signing_in_someone_else_updates_the_status_bar(
    qtbot, window: MainWindow, session, pharmacist: Actor
):
    with qtbot.waitSignal(window.all_docks_loaded, timeout=LOAD_TIMEOUT_MS):
        session.sign_in_as(pharmacist)
    assert window.user_status.text() == "Signed in: Phil (Pharmacist)"


def test_every_control_has_an_accessible_name(window: MainWindow):
    controls = [
        widget
        for dock in window.docks
        for widget in dock.widget().findChildren(QWidget)
        if isinstance(widget, QAbstractButton | QComboBox | QTableView | QPlainTextEdit | QLabel)
        and not widget.objectName().startswith("qt_")  # Qt's own parts, e.g. the corner button
        and not (isinstance(widget, QLabel) and widget.buddy())  # a label names its buddy
    ]
    assert len(controls) >= 10
    unnamed = [
        f"{type(w).__name__} {getattr(w, 'text', lambda: '')()}"
        for w in controls
        if not w.accessibleName()
    ]
    assert unnamed == []
    assert all(dock.accessibleName() for dock in window.docks)
    status = (window.user_status, window.workstation_status, window.database_status)
    assert all(label.accessibleName() for label in (*status, window.health_status))


def _lock_out(services: Services, username: str) -> None:
    from app.errors import AuthenticationFailed

    for _ in range(services.settings.max_failed_logins):
        with pytest.raises(AuthenticationFailed):
            services.auth.login(username, "wrong password")


def test_technician_unlocks_an_account_with_a_pharmacist_cosignature(
    qtbot, window: MainWindow, session, services: Services, admin: Actor
):
    _lock_out(services, "admin")
    window.unlock_account("admin")
    qtbot.waitUntil(lambda: "is unlocked" in window.statusBar().currentMessage())
    assert session.cosign_purposes == ["unlock account admin"]
    assert services.auth.login("admin", TEST_PASSWORD).username == "admin"


def test_unlock_cancelled_at_the_cosignature_changes_nothing(
    qtbot, window: MainWindow, session, services: Services, admin: Actor
):
    from app.errors import AccountLocked

    _lock_out(services, "admin")
    session.cosigner = None
    window.unlock_account("admin")
    assert not window.tasks.busy
    with pytest.raises(AccountLocked):
        services.auth.login("admin", TEST_PASSWORD)


def test_pharmacist_unlocks_without_a_cosignature(
    qtbot,
    ui_context: UiContext,
    session,
    services: Services,
    pharmacist: Actor,
    technician: Actor,
):
    window = open_window(qtbot, ui_context, session, pharmacist)
    _lock_out(services, "tess")
    window.unlock_account("tess")
    qtbot.waitUntil(lambda: "is unlocked" in window.statusBar().currentMessage())
    assert session.cosign_purposes == []
    assert services.auth.login("tess", TEST_PASSWORD).username == "tess"


def test_unreachable_database_shows_explained_errors_with_retry(
    qtbot, services: Services, ui_context: UiContext, technician: Actor
):
    engine = create_database_engine("postgresql://postgres@127.0.0.1:1/rxbench")
    unreachable = Database(engine, describe_database(engine.url))
    broken = replace(
        services,
        database=unreachable,
        fills=FillQueryService(unreachable),
        stock=StockQueryService(unreachable),
    )
    context = replace(ui_context, services=broken)
    session = SessionController(broken, idle_minutes=5)
    window = MainWindow(context, session)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignals([window.load_failed] * 3, timeout=LOAD_TIMEOUT_MS):
        session.sign_in_as(technician)
    for dock in (window.fill_queue, window.inventory, window.payment):
        assert dock.has_failed
        assert "Database unreachable" in dock.error_text
        assert "Traceback" not in dock.error_text
        assert dock.retry_button.isVisible()
    qtbot.waitUntil(lambda: window.health_status.text() == UNREACHABLE_TEXT)
    with qtbot.waitSignal(window.inventory.load_failed, timeout=LOAD_TIMEOUT_MS):
        window.inventory.retry_button.click()
    engine.dispose()


def test_scanning_an_rx_label_with_no_panel_waiting_opens_its_fill(window: MainWindow):
    fill = window.fill_queue.model.rows[-1]
    window.fill_queue.set_stage(FillState.READY if fill.state != FillState.READY else None)
    window.scan_router.unclaimed_scan.emit(f"RX{fill.rx_number}-{fill.fill_number}")
    current = window.fill_queue.table.currentIndex()
    assert current.isValid()
    assert (
        window.fill_queue.model.row_at(window.fill_queue.proxy.mapToSource(current).row()).fill_id
        == fill.fill_id
    )
    assert any(fill.rx_number in label.text() for label in window.verify.findChildren(QLabel))


def test_a_stock_bottle_scanned_with_no_panel_waiting_is_explained(window: MainWindow):
    window.scan_router.unclaimed_scan.emit("329500907771")
    assert "no panel is waiting" in window.statusBar().currentMessage()


def test_scanner_tools_are_in_the_menu(window: MainWindow):
    assert window.scanner_settings_action.text() == "&Scanner settings…"
    assert window.scanner_test_action.text() == "Scanner &test…"


def test_will_call_aging_lists_ready_fills_not_picked_up_in_time(
    qtbot, window: MainWindow, services: Services, seeded_pharmacy: SeededPharmacy
):
    from datetime import timedelta

    from sqlalchemy import update

    from app.db.base import utc_now
    from app.db.models import Fill

    aged_id = seeded_pharmacy.ready_fill_ids[0]
    with services.database.engine.begin() as connection:
        connection.execute(
            update(Fill)
            .where(Fill.id == aged_id)
            .values(state_changed_at=utc_now() - timedelta(days=11))
        )
    with qtbot.waitSignal(window.payment.loaded, timeout=LOAD_TIMEOUT_MS):
        qtbot.keyClick(window.payment.aging, Qt.Key.Key_Space)
    assert [row.fill_id for row in window.payment.model.rows] == [aged_id]
    assert "not picked up in time" in window.payment.summary.text()
    with qtbot.waitSignal(window.payment.loaded, timeout=LOAD_TIMEOUT_MS):
        qtbot.keyClick(window.payment.aging, Qt.Key.Key_Space)
    assert len(window.payment.model.rows) == len(seeded_pharmacy.ready_fill_ids)


def _mnemonic(text: str) -> str | None:
    """The access letter of a menu text ("Re&calls…" → "c"), ignoring a literal "&&"."""
    plain = text.replace("&&", "")
    at = plain.find("&")
    return plain[at + 1].lower() if 0 <= at < len(plain) - 1 else None


def test_no_two_window_shortcuts_or_menu_letters_clash(window: MainWindow):
    """Every dock adds window-wide actions: two on one key would make Qt fire neither."""
    window_wide = (Qt.ShortcutContext.WindowShortcut, Qt.ShortcutContext.ApplicationShortcut)
    by_key: dict[str, set[str]] = {}
    for action in window.findChildren(QAction):
        if action.shortcutContext() not in window_wide:
            continue
        for key in action.shortcuts():
            by_key.setdefault(key.toString(), set()).add(action.text())
    clashes = {key: texts for key, texts in by_key.items() if key and len(texts) > 1}
    assert clashes == {}
    # A dock's own shortcut on a window-wide key would make that key ambiguous in the dock.
    shadowed = {
        (key.toString(), action.text() or action.objectName())
        for action in window.findChildren(QAction)
        if action.shortcutContext() not in window_wide
        for key in action.shortcuts()
        if key.toString() in by_key
    } | {
        (shortcut.key().toString(), shortcut.objectName())
        for shortcut in window.findChildren(QShortcut)
        if shortcut.key().toString() in by_key
    }
    assert shadowed == set()
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        letters = [_mnemonic(action.text()) for action in menu.actions() if action.text()]
        taken = [letter for letter in letters if letter is not None]
        assert len(taken) == len(set(taken)), (menu_action.text(), letters)


def test_the_claims_menu_opens_the_resolution_queue_and_a_fills_claims(
    qtbot, window: MainWindow, seeded_pharmacy: SeededPharmacy
) -> None:
    claims_menu = next(
        action.menu() for action in window.menuBar().actions() if action.text() == "&Claims"
    )
    assert [(action.text(), action.shortcut().toString()) for action in claims_menu.actions()] == [
        ("Claims to &resolve…", "Ctrl+Alt+C"),
        ("&Bill the selected fill now", "Ctrl+Alt+B"),
        ("Claim &details of the selected fill…", "Ctrl+Alt+D"),
    ]
    queue = window.open_claims_queue()
    qtbot.waitUntil(lambda: not window.tasks.busy)
    assert queue.windowTitle() == "Claims to resolve — RxBench" and queue.model.rowCount() == 0
    assert "Nothing to resolve" in queue.details.text()
    queue.close()
    window.select_fill(None)
    assert window.open_claim_details() is None
    assert "Select a fill" in window.statusBar().currentMessage()


def test_a_claim_to_resolve_on_the_work_list_opens_the_claims_queue(
    qtbot, window: MainWindow, seeded_pharmacy: SeededPharmacy
) -> None:
    item = WorkItemRow(
        item_id=1,
        kind="claim_rejection",
        kind_label="Claim to resolve",
        entity_type="claims",
        entity_id="1",
        summary="Rx 1-0 · 75 Prior authorization required",
        opened_at=datetime(2026, 11, 26, tzinfo=UTC),
    )
    window._open_work_item(item)
    qtbot.waitUntil(lambda: not window.tasks.busy)
    [queue] = [child for child in window.findChildren(ClaimsDialog) if child.isVisible()]
    assert queue.windowTitle() == "Claims to resolve — RxBench"
    queue.close()

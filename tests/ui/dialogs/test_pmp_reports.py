"""The PMP reports dialog: pending days highlighted, Generate pending (Ctrl+G), Save file…
(Ctrl+S) writing the exact bytes, Mark sent… (Ctrl+M) for a pharmacist only; the Inventory dock
opens it with Ctrl+Shift+M."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.bootstrap import Services
from app.db.models import PmpReport
from app.services.pmp import PMP_REPORT, PmpReportRow, PmpService
from app.services.unit_of_work import Actor
from tests.app.services.pmp_data import controlled_fill, dispense
from tests.app.services.verification_data import OXYCODONE
from tests.ui.dialogs.keyboard import show_active
from ui.dialogs.pmp_reports import PENDING_TEXT, PmpReportsDialog
from ui.docks.inventory import PMP_SHORTCUT, InventoryDock
from ui.main_window import MainWindow
from ui.session import SessionController
from ui.tasks import TaskRunner

TODAY = date(2026, 11, 26)
DAY = TODAY - timedelta(days=2)


@pytest.fixture
def pmp(services: Services, admin: Actor) -> PmpService:
    """A pharmacy that dispensed a C-II two days ago: two days pending."""
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)
    dispense(services, admin, fill_id, lot_id, 20, datetime(2026, 11, 24, 10, tzinfo=UTC))
    return PmpService(
        services.database,
        today=lambda: TODAY,
        now=lambda: datetime(2026, 11, 26, 7, tzinfo=UTC),
        zone=UTC,
    )


def cells(dialog: PmpReportsDialog, column: int) -> list[str]:
    return [dialog.table.item(row, column).text() for row in range(dialog.table.rowCount())]


def ctrl(qtbot, dialog: PmpReportsDialog, key: Qt.Key) -> None:
    qtbot.keyClick(dialog.table, key, Qt.KeyboardModifier.ControlModifier)


def open_dialog(qtbot, pmp: PmpService, actor: Actor, **hooks) -> PmpReportsDialog:
    dialog = PmpReportsDialog(pmp, actor, **hooks)
    show_active(qtbot, dialog)
    return dialog


def test_pending_days_are_highlighted_and_ctrl_g_makes_their_files(
    qtbot, pmp: PmpService, technician: Actor
) -> None:
    dialog = open_dialog(qtbot, pmp, technician)

    assert cells(dialog, 0) == ["2026-11-25", "2026-11-24"]
    assert cells(dialog, 3) == [PENDING_TEXT, PENDING_TEXT]
    assert dialog.table.item(0, 0).font().bold()
    assert "2 day(s) without a file" in dialog.summary.text()
    assert QApplication.focusWidget() is dialog.table
    assert not dialog.save_button.isEnabled()  # a pending day has no file to save

    ctrl(qtbot, dialog, Qt.Key.Key_G)

    assert cells(dialog, 0) == ["2026-11-25", "2026-11-24"]
    assert cells(dialog, 2) == ["zero report", "1"]
    assert cells(dialog, 3) == ["Made, not sent", "Made, not sent"]
    assert dialog.summary.text() == "Every day that is over has its file."
    assert "Made 2 file(s), 1 of them zero reports" in dialog.status.text()
    assert not dialog.generate_button.isEnabled()
    assert not dialog.sent_button.isEnabled()  # a technician does not mark files sent


def test_ctrl_s_saves_the_selected_files_exact_bytes(
    qtbot, services: Services, pmp: PmpService, technician: Actor, tmp_path: Path
) -> None:
    dialog = open_dialog(qtbot, pmp, technician, choose_folder=lambda _parent: tmp_path)
    ctrl(qtbot, dialog, Qt.Key.Key_G)
    dialog.table.selectRow(1)

    ctrl(qtbot, dialog, Qt.Key.Key_S)

    selected = dialog.selected()
    assert isinstance(selected, PmpReportRow) and selected.report_date == DAY
    saved = tmp_path / selected.file_name
    with services.database.reading() as session:
        stored = session.get(PmpReport, selected.report_id)
        assert stored is not None
        assert saved.read_bytes() == stored.content.encode("ascii")
    assert str(saved) in dialog.status.text()


def test_a_pharmacist_marks_a_file_sent_with_where_it_went(
    qtbot, pmp: PmpService, pharmacist: Actor
) -> None:
    asked: list[str] = []

    def destination(_parent, row: PmpReportRow) -> str:
        asked.append(row.file_name)
        return "https://pmp.example.gov/upload"

    dialog = open_dialog(qtbot, pmp, pharmacist, ask_destination=destination)
    ctrl(qtbot, dialog, Qt.Key.Key_G)
    assert dialog.sent_button.isEnabled()

    ctrl(qtbot, dialog, Qt.Key.Key_M)

    assert len(asked) == 1
    assert cells(dialog, 3)[0] == "Sent"
    assert "to https://pmp.example.gov/upload by phil" in cells(dialog, 4)[0]
    assert "recorded as sent" in dialog.status.text()
    assert not dialog.sent_button.isEnabled()  # sent once


def test_a_blank_destination_is_refused_in_the_message_line(
    qtbot, pmp: PmpService, pharmacist: Actor
) -> None:
    dialog = open_dialog(qtbot, pmp, pharmacist, ask_destination=lambda _parent, _row: " ")
    ctrl(qtbot, dialog, Qt.Key.Key_G)

    ctrl(qtbot, dialog, Qt.Key.Key_M)

    assert "Say where the file was sent" in dialog.message.text()
    assert cells(dialog, 3)[0] == "Made, not sent"


def test_the_inventory_dock_opens_it_with_its_shortcut(
    qtbot, services: Services, admin: Actor, technician: Actor
) -> None:
    dock = InventoryDock(
        stock=services.stock, tasks=TaskRunner(), actor=lambda: technician, pmp=services.pmp
    )
    qtbot.addWidget(dock)
    dock.show()
    assert dock.pmp_button.text() == f"PMP reports… ({PMP_SHORTCUT})"
    assert dock.pmp_button.accessibleName() == "PMP reports"

    dock.table.setFocus()
    qtbot.waitUntil(lambda: dock.table.hasFocus())
    qtbot.keyClick(
        dock.table,
        Qt.Key.Key_M,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )

    qtbot.waitUntil(
        lambda: any(
            isinstance(widget, PmpReportsDialog) and widget.isVisible()
            for widget in QApplication.topLevelWidgets()
        )
    )
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, PmpReportsDialog))
    assert dialog.summary.text() == "Every day that is over has its file."
    dialog.reject()
    without = InventoryDock(stock=services.stock, tasks=TaskRunner(), actor=lambda: technician)
    qtbot.addWidget(without)
    assert not without.pmp_action.isEnabled() and without.pmp_reports() is None


def test_the_pharmacist_opens_a_file_to_send_from_its_work_list_item(
    qtbot, services: Services, ui_context, seeded_pharmacy, technician: Actor, pharmacist: Actor
) -> None:
    made = services.pmp.generate(technician, date.today() - timedelta(days=1))
    [item] = [row for row in services.worklist.items(pharmacist) if row.kind == PMP_REPORT]
    assert item.kind_label == "PMP file to send" and item.entity_id == str(made.report_id)

    session = SessionController(services, idle_minutes=5)
    window = MainWindow(ui_context, session)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.all_docks_loaded, timeout=10_000):
        session.sign_in_as(pharmacist)
    assert window.inventory.pmp_action in window.inventory.menu_actions
    window.worklist.item_opened.emit(item)

    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, PmpReportsDialog))
    qtbot.waitUntil(dialog.isVisible)
    selected = dialog.selected()
    assert isinstance(selected, PmpReportRow) and selected.report_id == made.report_id
    assert dialog.sent_button.isEnabled()
    dialog.reject()

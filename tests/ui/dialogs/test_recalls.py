"""The recalls dialogs: an FDA enforcement report previewed, checked and imported, the recall's
work list (pull the stock, record each patient's contact), a recall typed by hand, and the
Inventory dock's entry to them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QLineEdit, QPlainTextEdit, QWidget
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent
from app.demo import DEMO_RECALLS_FILE
from app.domain.fill_states import FillState
from app.services.unit_of_work import Actor
from tests.app.services.pharmacy_data import load_demo_catalogue, package_of
from tests.app.services.verification_data import SHELF_LOT, catalogue_fill, verify_fill
from tests.ui.dialogs.helpers import control
from tests.ui.dialogs.keyboard import show_active, visible_mnemonics
from ui.dialogs.recalls import (
    ImportRecallsDialog,
    NewRecallDialog,
    RecallsDialog,
    RecallWorkDialog,
)
from ui.docks.inventory import RECALLS_SHORTCUT, InventoryDock
from ui.main_window import MainWindow
from ui.session import SessionController
from ui.tasks import TaskRunner

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def dispensed(services: Services, admin: Actor, technician: Actor) -> int:
    """Two omeprazole fills verified from the shelf lot; returns the package."""
    load_demo_catalogue(services, admin)
    for _ in range(2):
        verify_fill(
            services,
            technician,
            catalogue_fill(services, admin, FillState.FILL, product_ndc="59651-002"),
        )
    return package_of(services, "59651-002")


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    """The sample enforcement report, its first recall naming the shelf lot."""
    report = json.loads(DEMO_RECALLS_FILE.read_text())
    report["results"][0]["code_info"] = f"Lot #: {SHELF_LOT}, Exp 05/2027"
    path = tmp_path / "drug-enforcement.json"
    path.write_text(json.dumps(report))
    return path


def no_mnemonic_twice(dialog: QWidget) -> None:
    letters = visible_mnemonics(dialog)
    assert len(letters) == len(set(letters)), letters


def visible(kind: type[QWidget]) -> QWidget:
    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]
    assert len(found) == 1, f"{len(found)} visible {kind.__name__}"
    return found[0]


def test_a_report_is_previewed_checked_imported_and_its_recall_worked(
    qtbot, services: Services, technician: Actor, dispensed: int, report_file: Path
) -> None:
    recalls = show_active(qtbot, RecallsDialog(services.recalls, technician, tasks=TaskRunner()))
    assert isinstance(recalls, RecallsDialog) and recalls.table.rowCount() == 0
    qtbot.keyClick(recalls.table, Qt.Key.Key_I, CTRL)
    qtbot.waitUntil(lambda: any(isinstance(w, ImportRecallsDialog) for w in recalls.children()))
    importer = recalls.findChild(ImportRecallsDialog)
    assert isinstance(importer, ImportRecallsDialog)
    qtbot.waitUntil(importer.isVisible)
    importer.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is importer)

    path = control(importer, "Enforcement report file")
    assert isinstance(path, QLineEdit)
    qtbot.keyClicks(path, str(report_file))
    qtbot.keyClick(path, Qt.Key.Key_Return)
    tree = importer.tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 3)
    assert tree.topLevelItemCount() == 3 and importer.focusWidget() is tree
    no_mnemonic_twice(importer)
    no_mnemonic_twice(recalls)
    first, second, third = (tree.topLevelItem(index) for index in range(3))
    assert first.checkState(0) == Qt.CheckState.Checked
    assert [first.child(n).text(0) for n in range(first.childCount())] == [
        f"NDC 59651-002-01 · lot {SHELF_LOT}",
        "NDC 59651-002-01 · every lot",
        f"NDC 59651-002-30 · lot {SHELF_LOT}",
        "NDC 59651-002-30 · every lot",
    ]
    assert first.child(0).text(1).startswith("ours: ") and "available" in first.child(0).text(1)
    assert "not in our catalogue: 0409-4888-10" in third.text(2)
    level = control(importer, "Level of the selected recall")
    assert isinstance(level, QComboBox) and level.currentData() == "consumer"

    # The amoxicillin recall is left out: Space on it unchecks it.
    tree.setCurrentItem(second)
    assert level.currentData() == "retail"  # proposed from Class II
    qtbot.keyClick(tree, Qt.Key.Key_Space)
    assert second.checkState(0) == Qt.CheckState.Unchecked
    assert [choice.index for choice in importer.choices()] == [0]

    with qtbot.waitSignal(importer.accepted):
        qtbot.keyClick(tree, Qt.Key.Key_S, CTRL)
    [recorded] = importer.recorded
    assert (recorded.recall_number, recorded.level, recorded.lots, recorded.contacts) == (
        "D-0412-2026",
        "consumer",
        1,
        2,
    )
    assert recalls.table.rowCount() == 1
    assert recalls.table.item(0, 5).text() == "2 of 2"

    recalls.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is recalls)
    recalls.table.setFocus()
    qtbot.keyClick(recalls.table, Qt.Key.Key_Return)
    work = visible(RecallWorkDialog)
    assert isinstance(work, RecallWorkDialog)
    work.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is work)
    assert work.pull_table.rowCount() == 1 and work.pull_table.item(0, 6).text() == "not yet"
    assert work.contact_table.rowCount() == 2
    no_mnemonic_twice(work)
    assert work.contact_table.item(0, 0).text() == "Quibble, Wendell"

    # The first patient was reached: status and note, Ctrl+S saves.
    work.contact_table.setFocus()
    work.contact_table.selectRow(0)
    status = control(work, "Contact status")
    assert isinstance(status, QComboBox)
    status.setCurrentIndex(status.findData("contacted"))
    note = control(work, "Note")
    assert isinstance(note, QLineEdit)
    qtbot.keyClicks(note, "Bring the bottle back")
    qtbot.keyClick(note, Qt.Key.Key_S, CTRL)
    assert work.contact_table.item(0, 6).text() == "Contacted"
    assert work.contact_table.item(0, 7).text() == "Bring the bottle back"

    # The lot is pulled with Ctrl+P; the recall still has a patient to call.
    work.pull_table.setFocus()
    qtbot.keyClick(work.pull_table, Qt.Key.Key_P, CTRL)
    assert work.pull_table.item(0, 6).text().endswith("by tess")
    assert work.pull_table.item(0, 4).text() == "quarantine shelf"
    assert not work.pull_button.isEnabled() and not work.close_recall_button.isEnabled()

    # An unreachable patient needs a note: refused in the message line, nothing saved.
    work.contact_table.selectRow(1)
    status.setCurrentIndex(status.findData("unreachable"))
    note.clear()
    qtbot.keyClick(note, Qt.Key.Key_Return)
    assert "Say why the patient is unreachable" in control(work, "Message").text()
    assert work.contact_table.item(1, 6).text() == "To contact"
    with services.database.reading() as session:
        actions = list(session.scalars(select(AuditEvent.action)))
    assert actions.count("recall.contact_updated") == 1
    assert actions.count("recall.contacts_viewed") == 1
    assert "recall.lot_pulled" in actions


def test_a_pharmacist_closes_the_recall_once_its_work_is_done(
    qtbot, services: Services, technician: Actor, pharmacist: Actor, dispensed: int
) -> None:
    row = services.recalls.enter(
        technician,
        classification="Class II",
        level="retail",
        reason="Failed dissolution",
        firm="Aurobindo",
        recall_number="D-7-2026",
        items=[("59651-002-01", SHELF_LOT)],
    )
    work = show_active(
        qtbot,
        RecallWorkDialog(
            services.recalls, pharmacist, services.recalls.worklist(pharmacist, row.recall_id)
        ),
    )
    assert isinstance(work, RecallWorkDialog)
    assert not work.contact_table.isVisible()  # retail: no patient is contacted
    assert not work.close_recall_button.isEnabled()
    qtbot.keyClick(work.pull_table, Qt.Key.Key_P, CTRL)
    assert work.close_recall_button.isEnabled()
    with qtbot.waitSignal(work.accepted):
        qtbot.keyClick(work.pull_table, Qt.Key.Key_E, Qt.KeyboardModifier.AltModifier)
    assert services.recalls.recalls(pharmacist, "closed")[0].recall_id == row.recall_id


def test_a_recall_typed_by_hand_names_each_bad_line_then_saves(
    qtbot, services: Services, technician: Actor, dispensed: int
) -> None:
    dialog = show_active(qtbot, NewRecallDialog(services.recalls, technician))
    assert isinstance(dialog, NewRecallDialog)
    assert QApplication.focusWidget() is control(dialog, "Recall number")
    no_mnemonic_twice(dialog)
    qtbot.keyClicks(control(dialog, "Recall number"), "D-0900-2026")
    qtbot.keyClicks(control(dialog, "Recalling firm"), "Aurobindo Pharma Limited")
    qtbot.keyClicks(control(dialog, "Reason"), "Mislabeled strength")
    items = control(dialog, "Packages and lots")
    assert isinstance(items, QPlainTextEdit)
    items.setPlainText(f"59651-002-01, {SHELF_LOT}\n12345-6789-01\n")
    qtbot.keyClick(items, Qt.Key.Key_S, CTRL)
    assert dialog.isVisible() and dialog.recall is None
    assert (
        "Item 2: NDC 12345-6789-01 is not in the drug catalogue"
        in control(dialog, "Message").text()
    )

    items.setPlainText(f"59651-002-01, {SHELF_LOT}\n59651-002-30\n")
    level = control(dialog, "Level")
    assert isinstance(level, QComboBox)
    level.setCurrentIndex(level.findData("retail"))
    with qtbot.waitSignal(dialog.accepted):
        qtbot.keyClick(items, Qt.Key.Key_S, CTRL)
    assert dialog.recall is not None
    assert (dialog.recall.level, dialog.recall.lots, dialog.recall.contacts) == ("retail", 1, 0)
    assert [(item.ndc, item.lot_number) for item in dialog.recall.items] == [
        ("59651-002-01", SHELF_LOT),
        ("59651-002-30", ""),
    ]


def test_the_inventory_dock_opens_recalls_with_its_shortcut(
    qtbot, services: Services, technician: Actor
) -> None:
    dock = InventoryDock(
        stock=services.stock, tasks=TaskRunner(), actor=lambda: technician, recalls=services.recalls
    )
    qtbot.addWidget(dock)
    dock.show()
    assert RECALLS_SHORTCUT == "Ctrl+Shift+A" and RECALLS_SHORTCUT in dock.recalls_button.text()
    assert dock.recalls_action in dock.menu_actions
    dock.table.setFocus()
    qtbot.waitUntil(lambda: dock.table.hasFocus())
    qtbot.keyClick(dock.table, Qt.Key.Key_A, CTRL | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(
        lambda: any(
            isinstance(widget, RecallsDialog) and widget.isVisible()
            for widget in QApplication.topLevelWidgets()
        )
    )
    without = InventoryDock(stock=services.stock, tasks=TaskRunner(), actor=lambda: technician)
    qtbot.addWidget(without)
    assert not without.recalls_button.isEnabled() and without.open_recalls() is None


def test_the_dock_opens_a_recall_at_its_work_list_for_the_pharmacists_item(
    qtbot, services: Services, admin: Actor, pharmacist: Actor
) -> None:
    load_demo_catalogue(services, admin)
    row = services.recalls.enter(
        pharmacist,
        classification="Class III",
        level="wholesale",
        reason="Carton misprint",
        firm="Aurobindo",
        recall_number="",
        items=[("59651-002-01", "")],
    )
    dock = InventoryDock(
        stock=services.stock, tasks=TaskRunner(), actor=lambda: pharmacist, recalls=services.recalls
    )
    qtbot.addWidget(dock)
    listing = dock.open_recalls(recall_id=row.recall_id)
    assert listing is not None
    work = listing.findChild(RecallWorkDialog)
    assert isinstance(work, RecallWorkDialog) and work.isVisible()
    assert work.windowTitle() == f"Recall #{row.recall_id} — RxBench"
    assert work.pull_table.rowCount() == 0 and work.close_recall_button.isEnabled()


def test_the_pharmacist_opens_a_recall_from_its_work_list_item(
    qtbot, services: Services, ui_context, seeded_pharmacy, pharmacist: Actor
) -> None:
    row = services.recalls.enter(
        pharmacist,
        classification="Class II",
        level="retail",
        reason="Failed impurity specification",
        firm="Seeded Labs",
        recall_number="D-0777-2026",
        items=[("0000-1111-01", "")],
    )
    [item] = [found for found in services.worklist.items(pharmacist) if found.kind == "recall"]
    assert item.kind_label == "Recall" and item.entity_id == str(row.recall_id)

    session = SessionController(services, idle_minutes=5)
    window = MainWindow(ui_context, session)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.all_docks_loaded, timeout=10_000):
        session.sign_in_as(pharmacist)
    assert window.inventory.recalls_action in window.inventory.menu_actions
    window.worklist.item_opened.emit(item)
    work = visible(RecallWorkDialog)
    assert isinstance(work, RecallWorkDialog)
    assert work.windowTitle() == "Recall D-0777-2026 — RxBench"
    work.reject()


def test_a_malformed_report_is_refused_in_the_message_line(
    qtbot, services: Services, technician: Actor, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"results": [{"recall_number": "D-1-2026"}]}')
    dialog = show_active(
        qtbot, ImportRecallsDialog(services.recalls, technician, tasks=TaskRunner())
    )
    assert isinstance(dialog, ImportRecallsDialog)
    qtbot.keyClicks(dialog.path, str(broken))
    qtbot.keyClick(dialog.path, Qt.Key.Key_Return)
    message = control(dialog, "Message")
    qtbot.waitUntil(message.isVisible)
    assert "Result 1 has no “classification”." in message.text()
    assert dialog.tree.topLevelItemCount() == 0 and not dialog.import_button.isEnabled()
    assert dialog.preview_button.isEnabled()

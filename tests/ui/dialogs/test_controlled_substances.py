"""The Controlled substances dialog: the log's running balance, a witnessed count-back opening a
discrepancy, notes and a pharmacist's sign-off (co-signed on a technician's session), and a
DEA inventory taken from the draft and exported; a refusal is said and changes nothing."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pypdf
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QTableWidget
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import AuditEvent, ControlledDiscrepancy, ControlledInventory
from app.domain.roles import Role
from app.services.controlled import CSV_COLUMNS, DISCREPANCY_KIND
from app.services.unit_of_work import Actor
from tests.app.services.controlled_data import package_of_ndc, receive, stock_controlled
from tests.app.services.inventory_data import add_package, add_user
from tests.app.services.pharmacy_data import load_demo_catalogue
from tests.ui.dialogs.helpers import control
from tests.ui.dialogs.keyboard import show_active, visible_mnemonics
from tests.ui.verification_data import LISINOPRIL_100, datamatrix, upc
from ui.dialogs.controlled_substances import (
    COUNT_TAB,
    DISCREPANCY_TAB,
    INVENTORY_TAB,
    NO_COSIGN_TEXT,
    NO_WITNESS_TEXT,
    ControlledSubstancesDialog,
)
from ui.docks.inventory import CONTROLLED_SHORTCUT, InventoryDock
from ui.main_window import MainWindow
from ui.scanner import ScanRouter
from ui.session import SessionController
from ui.tasks import TaskRunner

OXYCODONE_100 = "65162-047-10"  # C-II in the demo catalogue


class Signatures:
    """Stands in for the co-signature and witness prompts: who signs, and what was asked."""

    def __init__(self, signer: Actor | None) -> None:
        self.signer = signer
        self.asked: list[str] = []

    def __call__(self, purpose: str) -> Actor | None:
        self.asked.append(purpose)
        return self.signer


@pytest.fixture
def witness_actor(services: Services, admin: Actor) -> Actor:
    return add_user(services, admin, "wanda", Role.TECHNICIAN)


@pytest.fixture
def cii(services: Services, admin: Actor, technician: Actor) -> int:
    package_id = add_package(services, admin, schedule="CII")
    receive(services, technician, package_id, 100)
    return package_id


def open_dialog(
    qtbot,
    services: Services,
    actor: Actor,
    *,
    witness: Signatures,
    cosign: Signatures | None = None,
    paths: dict[str, Path] | None = None,
) -> ControlledSubstancesDialog:
    def choose(_caption: str, suggested: str, _filter: str) -> str | None:
        return None if paths is None else str(paths[suggested.rsplit(".", 1)[1]])

    dialog = ControlledSubstancesDialog(
        services.controlled,
        actor,
        witness=witness,
        cosign=cosign or Signatures(None),
        choose_path=choose,
    )
    return show_active(qtbot, dialog)  # type: ignore[return-value]


def table_texts(table: QTableWidget) -> list[list[str]]:
    return [
        [table.item(row, column).text() for column in range(table.columnCount())]
        for row in range(table.rowCount())
    ]


def count(services: Services, model: type) -> int:
    with services.database.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_log_tab_shows_the_running_balance_of_the_chosen_package(
    qtbot, services: Services, technician: Actor, witness_actor: Actor, cii: int
) -> None:
    lot_id = services.inventory.lots(technician, cii)[0].lot_id
    services.inventory.adjust(
        technician, lot_id, quantity_change=-4, reason="spilled", witness=witness_actor
    )

    dialog = open_dialog(qtbot, services, technician, witness=Signatures(witness_actor))

    package = control(dialog, "Package")
    assert isinstance(package, QComboBox) and "NDC 88888-000-01" in package.currentText()
    assert QApplication.focusWidget() is package
    rows = table_texts(control(dialog, "Controlled-substance log"))  # type: ignore[arg-type]
    assert [row[1:4] for row in rows] == [["received", "+100", "100"], ["adjusted", "-4", "96"]]
    assert rows[1][4:6] == ["tess", "wanda"] and rows[1][8] == "spilled"
    balance = control(dialog, "Balance")
    assert isinstance(balance, QLabel)
    assert balance.text().startswith("Log balance 96; on hand in the ledger 96.")
    assert len(set(visible_mnemonics(dialog))) == len(visible_mnemonics(dialog))

    qtbot.keyClicks(control(dialog, "From"), "2001-02-30")
    qtbot.keyClick(control(dialog, "From"), Qt.Key.Key_Return)
    assert "“2001-02-30” is not a date" in control(dialog, "Message").text()


def test_witnessed_count_back_mismatch_opens_a_discrepancy(
    qtbot, services: Services, technician: Actor, witness_actor: Actor, cii: int
) -> None:
    witness = Signatures(witness_actor)
    dialog = open_dialog(qtbot, services, technician, witness=witness)
    qtbot.keyClick(dialog, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert dialog.tabs.currentIndex() == COUNT_TAB
    assert len(set(visible_mnemonics(dialog))) == len(visible_mnemonics(dialog))

    counted = control(dialog, "Counted units")
    counted.setFocus()
    qtbot.keyClicks(counted, "97")
    qtbot.keyClick(counted, Qt.Key.Key_Return)

    assert witness.asked == ["witness the count-back of Stockol 0 5 mg tablet (NDC 88888-000-01)"]
    result = control(dialog, "Result")
    assert isinstance(result, QLabel)
    assert "Counted 97 before wanda, the log says 100: discrepancy" in result.text()
    assert count(services, ControlledDiscrepancy) == 1
    assert dialog.isVisible()  # Enter in the count field records, it does not close

    qtbot.keyClick(dialog, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert dialog.tabs.currentIndex() == DISCREPANCY_TAB
    rows = table_texts(control(dialog, "Discrepancies"))  # type: ignore[arg-type]
    assert [row[5:9] for row in rows] == [["100", "97", "-3", "open"]]


def test_count_back_without_a_witness_records_nothing(
    qtbot, services: Services, technician: Actor, cii: int
) -> None:
    dialog = open_dialog(qtbot, services, technician, witness=Signatures(None))
    dialog.tabs.setCurrentIndex(COUNT_TAB)

    qtbot.keyClicks(control(dialog, "Counted units"), "90")
    qtbot.mouseClick(control(dialog, "Record count-back"), Qt.MouseButton.LeftButton)

    assert control(dialog, "Message").text() == NO_WITNESS_TEXT
    assert count(services, ControlledDiscrepancy) == 0


def open_discrepancy(services: Services, technician: Actor, witness: Actor, package_id: int) -> int:
    found = services.controlled.witnessed_count(technician, package_id, counted=98, witness=witness)
    assert found.discrepancy_id is not None
    return found.discrepancy_id


def test_technician_notes_then_the_pharmacist_cosigns_the_sign_off(
    qtbot,
    services: Services,
    technician: Actor,
    pharmacist: Actor,
    witness_actor: Actor,
    cii: int,
) -> None:
    discrepancy_id = open_discrepancy(services, technician, witness_actor, cii)
    cosign = Signatures(None)
    dialog = open_dialog(
        qtbot, services, technician, witness=Signatures(witness_actor), cosign=cosign
    )
    dialog.tabs.setCurrentIndex(DISCREPANCY_TAB)
    assert len(set(visible_mnemonics(dialog))) == len(visible_mnemonics(dialog))

    note = control(dialog, "New note")
    qtbot.keyClicks(note, "Checked the returns bin")
    qtbot.keyClick(note, Qt.Key.Key_Return)
    investigation = control(dialog, "Investigation")
    assert "Tess (tess): Checked the returns bin" in investigation.toPlainText()  # type: ignore[attr-defined]

    qtbot.keyClicks(control(dialog, "Resolution"), "Two tablets were in the returns bin")
    qtbot.mouseClick(control(dialog, "Sign off"), Qt.MouseButton.LeftButton)
    assert control(dialog, "Message").text() == NO_COSIGN_TEXT
    assert services.controlled.discrepancies(technician)[0].status == "open"

    cosign.signer = pharmacist
    qtbot.mouseClick(control(dialog, "Sign off"), Qt.MouseButton.LeftButton)

    assert cosign.asked[-1] == f"sign off controlled-substance discrepancy {discrepancy_id}"
    [row] = services.controlled.discrepancies(technician, "signed_off")
    assert row.signed_off_by == "phil"
    assert "signed off by phil" in control(dialog, "Result").text()  # type: ignore[attr-defined]
    assert table_texts(control(dialog, "Discrepancies")) == []  # type: ignore[arg-type]


def test_a_discrepancy_is_brought_up_by_its_number_even_once_signed_off(
    qtbot,
    services: Services,
    technician: Actor,
    pharmacist: Actor,
    witness_actor: Actor,
    cii: int,
) -> None:
    first = open_discrepancy(services, technician, witness_actor, cii)
    second = open_discrepancy(services, technician, witness_actor, cii)
    services.controlled.add_investigation_note(technician, first, "Found in the tray")
    services.controlled.sign_off(pharmacist, first, "Miscount")
    dialog = open_dialog(qtbot, services, pharmacist, witness=Signatures(None))

    dialog.show_discrepancy(second)
    table = control(dialog, "Discrepancies")
    assert isinstance(table, QTableWidget)
    assert table.item(table.currentRow(), 0).text() == str(second)
    assert QApplication.focusWidget() is control(dialog, "New note")

    dialog.show_discrepancy(first)
    assert table.item(table.currentRow(), 0).text() == str(first)
    assert "Signed off by phil" in control(dialog, "Investigation").toPlainText()  # type: ignore[attr-defined]


def test_pharmacist_signs_off_without_a_cosignature_but_not_before_a_note(
    qtbot,
    services: Services,
    technician: Actor,
    pharmacist: Actor,
    witness_actor: Actor,
    cii: int,
) -> None:
    open_discrepancy(services, technician, witness_actor, cii)
    cosign = Signatures(None)
    dialog = open_dialog(qtbot, services, pharmacist, witness=Signatures(None), cosign=cosign)
    dialog.tabs.setCurrentIndex(DISCREPANCY_TAB)

    qtbot.keyClicks(control(dialog, "Resolution"), "Miscount")
    qtbot.mouseClick(control(dialog, "Sign off"), Qt.MouseButton.LeftButton)

    assert "no investigation note yet" in control(dialog, "Message").text()  # type: ignore[attr-defined]
    assert cosign.asked == []
    assert services.controlled.discrepancies(pharmacist)[0].status == "open"


def test_inventory_taken_from_the_edited_draft_and_exported(
    qtbot,
    services: Services,
    admin: Actor,
    technician: Actor,
    witness_actor: Actor,
    tmp_path: Path,
) -> None:
    stock_controlled(services, admin, technician)
    paths = {"pdf": tmp_path / "inventory.pdf", "csv": tmp_path / "inventory.csv"}
    dialog = open_dialog(
        qtbot, services, technician, witness=Signatures(witness_actor), paths=paths
    )
    qtbot.keyClick(dialog, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert dialog.tabs.currentIndex() == INVENTORY_TAB
    assert len(set(visible_mnemonics(dialog))) == len(visible_mnemonics(dialog))

    qtbot.mouseClick(control(dialog, "Load draft"), Qt.MouseButton.LeftButton)
    lines = control(dialog, "Inventory lines")
    assert isinstance(lines, QTableWidget) and lines.rowCount() == 4
    assert QApplication.focusWidget() is lines
    assert [lines.item(row, 0).text() for row in range(4)] == ["C-II", "C-IV", "C-III", "C-V"]
    assert lines.item(0, dialog.EXACT).text() == "required"
    # Keyboard: the current cell is the first line's Sealed; → to Opened, type, Enter.
    qtbot.keyClick(lines, Qt.Key.Key_Right)
    qtbot.keyClick(lines, Qt.Key.Key_4)  # typing opens the cell's editor, replacing its text
    editor = QApplication.focusWidget()
    qtbot.keyClicks(editor, "8")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits on its next turn
    qtbot.waitUntil(lambda: lines.item(0, dialog.OPENED).text() == "48")
    assert lines.item(0, dialog.TOTAL).text() == "248"

    qtbot.keyClick(lines, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)

    result = control(dialog, "Result").text()  # type: ignore[attr-defined]
    assert "Biennial inventory" in result and "close of business" in result
    assert "1 line differ from the ledger" in result
    with services.database.reading() as session:
        inventory = session.scalars(select(ControlledInventory)).one()
        assert inventory.witness_user_id == witness_actor.user_id
    saved = control(dialog, "Inventories taken")
    assert isinstance(saved, QTableWidget) and saved.rowCount() == 1

    qtbot.mouseClick(control(dialog, "Export PDF"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(control(dialog, "Export CSV"), Qt.MouseButton.LeftButton)

    text = " ".join(pypdf.PdfReader(paths["pdf"]).pages[0].extract_text().split())
    assert "SCHEDULE II" in text and f"close of business on {date.today().isoformat()}" in text
    with paths["csv"].open(newline="", encoding="utf-8") as opened:
        rows = list(csv.reader(opened))
    assert tuple(rows[0]) == CSV_COLUMNS and rows[1][12:14] == ["250", "-2"]
    with services.database.reading() as session:
        exported = session.scalars(
            select(AuditEvent.summary).where(AuditEvent.action == "controlled_inventory.exported")
        ).all()
    assert sorted(summary["file_format"] for summary in exported) == ["csv", "pdf"]


def test_bad_inventory_figures_are_refused_before_anyone_is_asked_to_witness(
    qtbot, services: Services, admin: Actor, technician: Actor, witness_actor: Actor
) -> None:
    stock_controlled(services, admin, technician)
    witness = Signatures(witness_actor)
    dialog = open_dialog(qtbot, services, technician, witness=witness)
    dialog.tabs.setCurrentIndex(INVENTORY_TAB)
    qtbot.mouseClick(control(dialog, "Load draft"), Qt.MouseButton.LeftButton)
    lines = control(dialog, "Inventory lines")
    assert isinstance(lines, QTableWidget)
    lines.item(1, dialog.SEALED).setText("two")

    qtbot.mouseClick(control(dialog, "Save inventory"), Qt.MouseButton.LeftButton)

    assert (
        "NDC 88888-001-01: sealed containers is a whole number" in control(dialog, "Message").text()
    )  # type: ignore[attr-defined]
    assert lines.item(1, dialog.TOTAL).text() == ""
    assert witness.asked == []
    assert count(services, ControlledInventory) == 0

    lines.item(1, dialog.SEALED).setText("2")
    lines.item(1, dialog.OPENED).setText("-5")
    qtbot.mouseClick(control(dialog, "Save inventory"), Qt.MouseButton.LeftButton)
    assert "cannot be less than 0" in control(dialog, "Message").text()  # type: ignore[attr-defined]
    assert count(services, ControlledInventory) == 0


def test_export_needs_a_chosen_inventory(
    qtbot, services: Services, technician: Actor, cii: int
) -> None:
    dialog = open_dialog(qtbot, services, technician, witness=Signatures(None))
    dialog.tabs.setCurrentIndex(INVENTORY_TAB)

    qtbot.mouseClick(control(dialog, "Export PDF"), Qt.MouseButton.LeftButton)

    assert "Choose an inventory" in control(dialog, "Message").text()  # type: ignore[attr-defined]


def test_the_inventory_dock_opens_the_record_with_its_shortcut(
    qtbot, services: Services, technician: Actor, cii: int
) -> None:
    dock = InventoryDock(
        stock=services.stock,
        tasks=TaskRunner(),
        actor=lambda: technician,
        controlled=services.controlled,
    )
    qtbot.addWidget(dock)
    dock.show()
    assert (
        CONTROLLED_SHORTCUT == "Ctrl+Shift+D"
        and CONTROLLED_SHORTCUT in dock.controlled_button.text()
    )
    assert dock.controlled_button.accessibleName() == "Controlled substances"
    dock.table.setFocus()
    qtbot.waitUntil(lambda: dock.table.hasFocus())

    qtbot.keyClick(
        dock.table,
        Qt.Key.Key_D,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )

    qtbot.waitUntil(
        lambda: any(
            isinstance(widget, ControlledSubstancesDialog) and widget.isVisible()
            for widget in QApplication.topLevelWidgets()
        )
    )
    without = InventoryDock(stock=services.stock, tasks=TaskRunner(), actor=lambda: technician)
    qtbot.addWidget(without)
    assert not without.controlled_button.isEnabled() and without.controlled_substances() is None


def test_the_dock_opens_a_discrepancy_from_its_work_item(
    qtbot, services: Services, technician: Actor, witness_actor: Actor, cii: int
) -> None:
    discrepancy_id = open_discrepancy(services, technician, witness_actor, cii)
    dock = InventoryDock(
        stock=services.stock,
        tasks=TaskRunner(),
        actor=lambda: technician,
        controlled=services.controlled,
    )
    qtbot.addWidget(dock)

    dialog = dock.controlled_substances(discrepancy_id=discrepancy_id)

    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    assert dialog.tabs.currentIndex() == DISCREPANCY_TAB
    table = control(dialog, "Discrepancies")
    assert table.item(table.currentRow(), 0).text() == str(discrepancy_id)  # type: ignore[attr-defined]
    # Without the session's prompts nobody can witness: the count-back says so, records nothing.
    dialog.tabs.setCurrentIndex(COUNT_TAB)
    qtbot.keyClicks(control(dialog, "Counted units"), "5")
    qtbot.mouseClick(control(dialog, "Record count-back"), Qt.MouseButton.LeftButton)
    assert control(dialog, "Message").text() == NO_WITNESS_TEXT  # type: ignore[attr-defined]
    dialog.reject()


def test_the_pharmacist_opens_a_discrepancy_from_its_work_list_item(
    qtbot,
    services: Services,
    ui_context,
    seeded_pharmacy,
    technician: Actor,
    pharmacist: Actor,
    witness_actor: Actor,
    cii: int,
) -> None:
    discrepancy_id = open_discrepancy(services, technician, witness_actor, cii)
    [item] = [
        found for found in services.worklist.items(pharmacist) if found.kind == DISCREPANCY_KIND
    ]
    assert item.kind_label == "Controlled-substance discrepancy"
    session = SessionController(services, idle_minutes=5)
    window = MainWindow(ui_context, session)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.all_docks_loaded, timeout=10_000):
        session.sign_in_as(pharmacist)
    assert window.inventory.controlled_action in window.inventory.menu_actions
    assert window.inventory.controlled_action.isEnabled()

    window.worklist.item_opened.emit(item)

    [dialog] = [
        widget
        for widget in QApplication.topLevelWidgets()
        if isinstance(widget, ControlledSubstancesDialog) and widget.isVisible()
    ]
    assert isinstance(dialog, ControlledSubstancesDialog)
    assert dialog.tabs.currentIndex() == DISCREPANCY_TAB
    table = control(dialog, "Discrepancies")
    assert table.item(table.currentRow(), 0).text() == str(discrepancy_id)  # type: ignore[attr-defined]
    dialog.reject()


def test_scanning_a_package_chooses_it_for_the_count_back(
    qtbot, services: Services, admin: Actor, technician: Actor, cii: int
) -> None:
    load_demo_catalogue(services, admin)
    oxycodone = package_of_ndc(services, OXYCODONE_100)
    receive(services, technician, oxycodone, 200, lot="OX1")
    router = ScanRouter()
    unclaimed: list[str] = []
    router.unclaimed_scan.connect(unclaimed.append)
    dialog = ControlledSubstancesDialog(
        services.controlled,
        technician,
        witness=Signatures(None),
        cosign=Signatures(None),
        scan_router=router,
    )
    show_active(qtbot, dialog)
    router.route(datamatrix(OXYCODONE_100))  # the Log tab takes no scan
    assert unclaimed == [datamatrix(OXYCODONE_100)]
    dialog.tabs.setCurrentIndex(COUNT_TAB)

    router.route(datamatrix(OXYCODONE_100))

    package = control(dialog, "Package to count")
    assert isinstance(package, QComboBox) and package.currentData() == oxycodone
    assert QApplication.focusWidget() is control(dialog, "Counted units")
    router.route(upc(LISINOPRIL_100))
    assert "is not a controlled substance" in control(dialog, "Message").text()  # type: ignore[attr-defined]
    assert package.currentData() == oxycodone
    dialog.reject()
    router.route(upc(OXYCODONE_100))
    assert len(unclaimed) == 2  # the closed dialog no longer takes scans

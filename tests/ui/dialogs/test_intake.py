"""The Intake menu in the main window: its actions, their shortcuts, what they open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication

from app.domain.fill_states import FillState
from app.services.prescriptions import PrescriptionEntered
from app.services.unit_of_work import Actor
from tests.ui.dialogs.helpers import shown
from tests.ui.test_main_window import CosigningSession, open_window
from ui.context import UiContext
from ui.dialogs.patient import PatientDialog
from ui.dialogs.patient_search import PatientSearchDialog
from ui.dialogs.prescriber import PrescriberDialog
from ui.dialogs.prescription import PrescriptionEntryDialog
from ui.main_window import MainWindow


@pytest.fixture
def window(
    qtbot, ui_context: UiContext, services, pharmacist, technician: Actor
) -> Iterator[MainWindow]:
    opened = open_window(qtbot, ui_context, CosigningSession(services, pharmacist), technician)
    opened.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is opened)
    yield opened
    for dialog in QApplication.topLevelWidgets():
        if dialog is not opened and dialog.isVisible():
            dialog.close()


def test_the_intake_menu_shows_each_action_with_its_shortcut(window: MainWindow) -> None:
    [menu] = [action.menu() for action in window.menuBar().actions() if action.text() == "&Intake"]
    listed = [
        (action.text(), action.shortcut().toString())
        for action in menu.actions()
        if not action.isSeparator()
    ]
    assert listed == [
        ("New &prescription…", "Ctrl+N"),
        ("New p&atient…", "Ctrl+Shift+N"),
        ("&Find patient…", "Ctrl+F"),
        ("New presc&riber…", "Ctrl+Shift+P"),
        ("Find pre&scriber…", ""),
    ]


def test_no_two_actions_share_a_shortcut(window: MainWindow) -> None:
    shortcuts = [
        action.shortcut().toString(QKeySequence.SequenceFormat.PortableText)
        for action in window.findChildren(QAction)
        if not action.shortcut().isEmpty()
    ]
    assert len(shortcuts) == len(set(shortcuts)), sorted(shortcuts)


@pytest.mark.parametrize(
    ("key", "modifiers", "kind"),
    [
        (Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier, PrescriptionEntryDialog),
        (
            Qt.Key.Key_N,
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
            PatientDialog,
        ),
        (Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier, PatientSearchDialog),
        (
            Qt.Key.Key_P,
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
            PrescriberDialog,
        ),
    ],
)
def test_each_shortcut_opens_its_dialog(qtbot, window: MainWindow, key, modifiers, kind) -> None:
    qtbot.keyClick(window, key, modifiers)
    qtbot.waitUntil(
        lambda: any(isinstance(w, kind) and w.isVisible() for w in QApplication.topLevelWidgets())
    )
    dialog = shown(kind)
    assert dialog.parent() is window
    assert dialog.isModal() or dialog.windowModality() != Qt.WindowModality.NonModal


def test_an_entered_prescription_is_announced_in_the_status_bar(qtbot, window: MainWindow) -> None:
    dialog = window.intake.new_prescription()
    assert dialog is not None
    dialog.prescription_entered.emit(
        PrescriptionEntered(
            prescription_id=1,
            rx_number="6100100",
            fill_id=1,
            fill_state=FillState.DATA_REVIEW,
            directions="Take 1 tablet by mouth twice daily",
            sig_needs_review=False,
            days_supply=30,
            days_supply_overridden=False,
            quantity_unit="EA",
            written_follow_up_due=None,
            warnings=(),
        )
    )
    message = window.statusBar().currentMessage()
    assert message == "Rx 6100100 entered: waiting for the pharmacist's data review."


def _page_mnemonics(qtbot, dialog) -> list[list[str]]:
    from tests.ui.dialogs.keyboard import show_active, visible_mnemonics

    show_active(qtbot, dialog)
    tabs = getattr(dialog, "tabs", None)
    if tabs is None:
        return [visible_mnemonics(dialog)]
    pages = []
    for index in range(tabs.count()):
        tabs.setCurrentIndex(index)
        pages.append(visible_mnemonics(dialog))
    return pages


@pytest.mark.parametrize("kind", [PatientDialog, PrescriberDialog, PrescriptionEntryDialog])
def test_no_alt_letter_is_used_twice_on_one_page(qtbot, services, technician: Actor, kind) -> None:
    for page in _page_mnemonics(qtbot, kind(services, technician)):
        doubled = sorted({letter for letter in page if page.count(letter) > 1})
        # The primary and secondary cards share their letters on purpose: Alt+B twice
        # reaches the second BIN, as Qt cycles through a letter used more than once.
        allowed = {"n", "b", "c", "g", "h", "o", "p"} if page.count("b") == 2 else set()
        assert set(doubled) <= allowed, doubled

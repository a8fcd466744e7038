"""The pharmacist's work list dock: what waits, the badge, who may see it, what Enter opens."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.bootstrap import Services
from app.domain.fill_states import FillState
from app.services.unit_of_work import Actor
from app.services.worklist import CLINICAL_FINDING, DATA_REVIEW
from tests.app.services.verification_data import verify_fill
from tests.ui.docks.test_fill_queue_workflow import opened_dialog
from tests.ui.test_main_window import CosigningSession, open_window
from tests.ui.workflow_data import AMOXICILLIN_50, Intake, set_up_intake
from ui.context import UiContext
from ui.dialogs.pharmacist_review import PharmacistFinalVerificationDialog, PharmacistReviewDialog
from ui.docks.worklist import FOR_PHARMACISTS_TEXT, WorklistDock
from ui.main_window import MainWindow
from ui.models.table import ROW_ROLE
from ui.models.worklist import WorklistModel


@pytest.fixture
def intake(services: Services, admin: Actor, technician: Actor) -> Intake:
    return set_up_intake(services, admin, technician)


@pytest.fixture
def session(services: Services, pharmacist: Actor) -> CosigningSession:
    return CosigningSession(services, pharmacist)


def press_key_on_item(
    qtbot,
    window: MainWindow,
    kind: str,
    key: Qt.Key,
    modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
) -> None:
    dock = window.worklist
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # shortcuts reach only the active window
    row = next(r for r in range(dock.model.rowCount()) if dock.model.row_at(r).kind == kind)
    dock.table.setFocus()
    dock.table.setCurrentIndex(dock.table.model().index(row, 0))
    qtbot.keyClick(dock.table, key, modifier)


def press_enter_on_item(qtbot, window: MainWindow, kind: str) -> None:
    press_key_on_item(qtbot, window, kind, Qt.Key.Key_Return)


def test_the_badge_counts_what_waits_in_the_title_and_status_bar(
    qtbot, ui_context: UiContext, session, intake: Intake, pharmacist: Actor
):
    intake.enter()
    intake.enter(AMOXICILLIN_50, sig_code="1 CAP PO TID X10D", indication="otitis")
    window = open_window(qtbot, ui_context, session, pharmacist)
    dock = window.worklist
    # Two data reviews, the amoxicillin allergy finding, and a shortage notice for each drug:
    # nothing is on the shelf for either fill.
    assert sorted(row.kind for row in dock.model.rows).count("shortage") == 2
    assert dock.waiting == 5
    assert dock.windowTitle() == "Pharmacist (5)"
    assert dock.toggleViewAction().text() == "Pharmacist (5)"
    assert window.worklist.badge.text() == "Pharmacist: 5 waiting"
    assert window.worklist.badge.isVisible()
    assert dock.summary.text() == "5 items waiting, oldest first"
    kinds = [dock.model.index(r, WorklistModel.KIND).data() for r in range(5)]
    assert sorted(kinds) == [
        "Clinical finding",
        "Data review",
        "Data review",
        "Shortage",
        "Shortage",
    ]
    opened = [row.opened_at for row in dock.model.rows]
    assert opened == sorted(opened)


def test_ctrl_6_shows_and_focuses_the_work_list(
    qtbot, ui_context: UiContext, session, intake: Intake, pharmacist: Actor
):
    intake.enter()
    window = open_window(qtbot, ui_context, session, pharmacist)
    window.worklist.toggleViewAction().trigger()
    assert not window.worklist.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
    assert window.worklist.isVisible()
    qtbot.waitUntil(lambda: window.worklist.table.hasFocus())


def test_technicians_are_told_the_list_is_for_pharmacists(
    qtbot, ui_context: UiContext, session, intake: Intake, technician: Actor
):
    intake.enter()
    window = open_window(qtbot, ui_context, session, technician)
    dock = window.worklist
    assert dock.pages.currentIndex() == WorklistDock.SENTENCE_PAGE
    assert dock.sentence.text() == FOR_PHARMACISTS_TEXT
    assert dock.sentence.isVisible()
    assert dock.waiting is None
    assert dock.windowTitle() == "Pharmacist"
    assert not dock.badge.isVisible()
    assert dock.model.rowCount() == 0
    assert not dock.has_failed


def test_enter_on_a_data_review_item_opens_the_review_and_approval_clears_it(
    qtbot, ui_context: UiContext, session, intake: Intake, pharmacist: Actor
):
    entered = intake.enter()
    window = open_window(qtbot, ui_context, session, pharmacist)
    assert sorted(row.kind for row in window.worklist.model.rows) == [DATA_REVIEW, "shortage"]
    press_enter_on_item(qtbot, window, DATA_REVIEW)
    dialog = opened_dialog(qtbot, window, PharmacistReviewDialog)
    assert dialog.fill.fill_id == entered.fill_id
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.worklist.waiting == 1)
    # The shortage notice stays until the pharmacist acknowledges it.
    press_key_on_item(qtbot, window, "shortage", Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.worklist.waiting == 0)
    assert window.worklist.summary.text() == "Nothing is waiting on a pharmacist."
    assert window.worklist.badge.text() == "Pharmacist: 0 waiting"


def test_enter_on_a_finding_opens_its_fills_review(
    qtbot, ui_context: UiContext, session, intake: Intake, pharmacist: Actor
):
    entered = intake.enter(AMOXICILLIN_50, sig_code="1 CAP PO TID X10D", indication="otitis")
    window = open_window(qtbot, ui_context, session, pharmacist)
    press_enter_on_item(qtbot, window, CLINICAL_FINDING)
    dialog = opened_dialog(qtbot, window, PharmacistReviewDialog)
    assert dialog.fill.fill_id == entered.fill_id
    assert [f.kind_label for f in dialog.unacknowledged] == ["Allergy (drug class)"]


def test_enter_on_a_final_verification_item_opens_the_verification(
    qtbot,
    ui_context: UiContext,
    session,
    services: Services,
    intake: Intake,
    technician: Actor,
    pharmacist: Actor,
):
    entered = intake.enter()
    row = next(r for r in services.fills.queue(pharmacist) if r.fill_id == entered.fill_id)
    row = services.workflow.advance(
        pharmacist, row.fill_id, to_state=FillState.FILL, expected_version=row.version
    )
    verify_fill(services, technician, row.fill_id)
    window = open_window(qtbot, ui_context, session, pharmacist)
    item = next(row for row in window.worklist.model.rows if row.kind == "final_verification")
    press_enter_on_item(qtbot, window, "final_verification")
    dialog = opened_dialog(qtbot, window, PharmacistFinalVerificationDialog)
    assert dialog.fill.fill_id == entered.fill_id
    assert window.worklist.table.currentIndex().data(ROW_ROLE) == item

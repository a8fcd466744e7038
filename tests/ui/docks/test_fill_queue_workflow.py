"""The fill queue drives the workflow: a fill walked to pickup, moves, refusals, stage counts."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import FillTransition
from app.domain.fill_states import FillState
from app.services.fills import FillRow
from app.services.screening import SCREENING_DISCLAIMER
from app.services.unit_of_work import Actor
from tests.app.services.verification_data import verify_fill
from tests.ui.test_main_window import LOAD_TIMEOUT_MS, CosigningSession, open_window
from tests.ui.workflow_data import Intake, answer_message_box, answer_reason, set_up_intake
from ui.context import UiContext
from ui.dialogs.pharmacist_review import PharmacistFinalVerificationDialog, PharmacistReviewDialog
from ui.main_window import MainWindow
from ui.models.fills import STAGES, FillQueueModel
from ui.models.table import ROW_ROLE
from ui.workflow_actions import CANCEL, HOLD, RELEASE, SEND_BACK, TAKE, fill_actions


@pytest.fixture
def intake(services: Services, admin: Actor, technician: Actor) -> Intake:
    return set_up_intake(services, admin, technician)


@pytest.fixture
def session(services: Services, pharmacist: Actor) -> CosigningSession:
    return CosigningSession(services, pharmacist)


def queue_row(window: MainWindow, fill_id: int) -> FillRow | None:
    return window.fill_queue.row_for(fill_id)


def held_by_in_queue(window: MainWindow, fill_id: int) -> str | None:
    row = queue_row(window, fill_id)
    return row.held_by if row else None


def state_in_queue(window: MainWindow, fill_id: int) -> FillState | None:
    row = queue_row(window, fill_id)
    return row.state if row else None


def select_in_queue(qtbot, window: MainWindow, fill_id: int) -> None:
    # The offscreen platform has no window manager to give the window back its activation
    # when a dialog closes; shortcuts need an active window.
    window.activateWindow()
    queue = window.fill_queue
    queue.set_stage(None)
    proxy = queue.proxy
    row = next(
        r for r in range(proxy.rowCount()) if proxy.index(r, 0).data(ROW_ROLE).fill_id == fill_id
    )
    queue.table.setFocus()
    queue.table.setCurrentIndex(proxy.index(row, 0))
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window and queue.table.hasFocus())


def press_enter_on(qtbot, window: MainWindow, fill_id: int) -> None:
    select_in_queue(qtbot, window, fill_id)
    qtbot.keyClick(window.fill_queue.table, Qt.Key.Key_Return)


def sign_in(qtbot, window: MainWindow, session: CosigningSession, actor: Actor) -> None:
    with qtbot.waitSignal(window.all_docks_loaded, timeout=LOAD_TIMEOUT_MS):
        session.sign_in_as(actor)


def opened_dialog(qtbot, window: MainWindow, kind: type) -> PharmacistReviewDialog:
    qtbot.waitUntil(lambda: isinstance(window.workflow.dialog, kind), timeout=LOAD_TIMEOUT_MS)
    dialog = window.workflow.dialog
    qtbot.waitExposed(dialog)
    return dialog  # type: ignore[return-value]


def test_walk_a_fill_to_ready_for_pickup(
    qtbot,
    ui_context: UiContext,
    session: CosigningSession,
    services: Services,
    intake: Intake,
    technician: Actor,
    pharmacist: Actor,
):
    entered = intake.enter()
    fill_id = entered.fill_id
    window = open_window(qtbot, ui_context, session, pharmacist)
    assert state_in_queue(window, fill_id) is FillState.DATA_REVIEW

    # The pharmacist: Enter opens data review; Enter in the dialog approves.
    press_enter_on(qtbot, window, fill_id)
    review = opened_dialog(qtbot, window, PharmacistReviewDialog)
    assert review.disclaimer.text() == SCREENING_DISCLAIMER
    assert review.findings == []
    assert not review.cosign_button.isVisible()
    qtbot.keyClick(review, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: state_in_queue(window, fill_id) is FillState.FILL)
    assert window.workflow.dialog is None

    # The technician takes the fill with Ctrl+T and sees it held by them.
    sign_in(qtbot, window, session, technician)
    select_in_queue(qtbot, window, fill_id)
    qtbot.keyClick(window.fill_queue.table, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: held_by_in_queue(window, fill_id) == "tess")
    row = queue_row(window, fill_id)
    assert row is not None
    held_by = window.fill_queue.model.index(
        window.fill_queue.model.rows.index(row), FillQueueModel.HELD_BY
    ).data()
    assert held_by == "tess"
    # Enter on a fill at the fill station shows it in the Verify dock.
    press_enter_on(qtbot, window, fill_id)
    assert window.verify.fill is not None and window.verify.fill.fill_id == fill_id
    qtbot.waitUntil(
        lambda: window.verify.hasFocus() or window.verify.isAncestorOf(window.focusWidget())
    )

    # The bottles scanned, accepted and completed through the Verify panel's service (the
    # dock's own keys are tested in tests/ui/docks/test_verify.py).
    verify_fill(services, technician, fill_id)
    qtbot.waitUntil(
        lambda: state_in_queue(window, fill_id) is FillState.FINAL_VERIFICATION, timeout=3000
    )

    # The pharmacist approves final verification by keyboard.
    sign_in(qtbot, window, session, pharmacist)
    press_enter_on(qtbot, window, fill_id)
    verification = opened_dialog(qtbot, window, PharmacistFinalVerificationDialog)
    assert "Rx " + entered.rx_number in verification.label_preview.toPlainText()
    qtbot.keyClick(verification, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: state_in_queue(window, fill_id) is FillState.READY)
    qtbot.waitUntil(lambda: any(r.fill_id == fill_id for r in window.payment.model.rows))
    status = window.fill_queue.model.index(
        window.fill_queue.model.rows.index(queue_row(window, fill_id)), FillQueueModel.STATUS
    ).data()
    assert status == "Ready for pickup"

    # Enter on a ready fill takes its patient to the register, the fill in the cart, the
    # register's find field ready for the next key (and the fill current in the ready list).
    press_enter_on(qtbot, window, fill_id)
    register = window.payment.register
    qtbot.waitUntil(
        lambda: (
            register.sale is not None and fill_id in {line.fill_id for line in register.sale.lines}
        )
    )
    qtbot.waitUntil(lambda: register.find_field.hasFocus())
    assert window.payment.table.currentIndex().data(ROW_ROLE).fill_id == fill_id
    with services.database.reading() as db:
        moves = db.execute(
            select(FillTransition.to_state, FillTransition.username)
            .where(FillTransition.fill_id == fill_id)
            .order_by(FillTransition.id)
        ).all()
    assert [tuple(move) for move in moves][-3:] == [
        ("fill", "phil"),
        ("final_verification", "tess"),
        ("ready", "phil"),
    ]


def test_a_technician_pressing_enter_on_data_review_is_told_and_offered_a_cosignature(
    qtbot,
    ui_context: UiContext,
    session: CosigningSession,
    services: Services,
    intake: Intake,
    technician: Actor,
):
    fill_id = intake.enter().fill_id
    window = open_window(qtbot, ui_context, session, technician)
    press_enter_on(qtbot, window, fill_id)
    review = opened_dialog(qtbot, window, PharmacistReviewDialog)
    assert "Only a pharmacist may move a fill" in review.authority.text()
    assert review.cosign_button.isVisible()

    # The service refuses the technician too, in its own words.
    qtbot.keyClick(review, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: review.message.isVisible())
    assert "Only a pharmacist" in review.message.text()
    assert state_in_queue(window, fill_id) is FillState.DATA_REVIEW

    # A pharmacist co-signs at this workstation: the approval is on their authority.
    qtbot.mouseClick(review.cosign_button, Qt.MouseButton.LeftButton)
    assert session.cosign_purposes == [f"data review of Rx {review.fill.rx_number}-0"]
    assert "Co-signed by Phil" in review.authority.text()
    qtbot.keyClick(review, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: state_in_queue(window, fill_id) is FillState.FILL)
    with services.database.reading() as db:
        approver = db.scalars(
            select(FillTransition.username).where(
                FillTransition.fill_id == fill_id, FillTransition.to_state == "fill"
            )
        ).one()
    assert approver == "phil"


def test_put_on_hold_asks_why_and_resume_brings_it_back(
    qtbot, ui_context: UiContext, session, services: Services, intake: Intake, technician: Actor
):
    fill_id = intake.enter().fill_id
    window = open_window(qtbot, ui_context, session, technician)
    select_in_queue(qtbot, window, fill_id)

    refused = answer_reason(qtbot, "", then_cancel=True)
    qtbot.keyClick(window.fill_queue.table, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    assert refused == ["Say why: the reason is kept with the fill's history."]
    assert state_in_queue(window, fill_id) is FillState.DATA_REVIEW

    select_in_queue(qtbot, window, fill_id)
    answer_reason(qtbot, "Waiting for the prescriber to call back")
    qtbot.keyClick(window.fill_queue.table, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: state_in_queue(window, fill_id) is FillState.ON_HOLD)
    held = queue_row(window, fill_id)
    assert held is not None and held.hold_reason == "Waiting for the prescriber to call back"
    window.fill_queue.set_stage(STAGES[-1])
    assert window.fill_queue.proxy.rowCount() == 1
    assert window.fill_queue.stage.currentText() == "On hold (1)"

    select_in_queue(qtbot, window, fill_id)
    qtbot.keyClick(
        window.fill_queue.table,
        Qt.Key.Key_H,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    qtbot.waitUntil(lambda: state_in_queue(window, fill_id) is FillState.DATA_REVIEW)


def test_a_stale_row_shows_the_services_sentence_and_reloads(
    qtbot,
    ui_context: UiContext,
    session,
    services: Services,
    intake: Intake,
    technician: Actor,
    pharmacist: Actor,
):
    fill_id = intake.enter().fill_id
    window = open_window(qtbot, ui_context, session, technician)
    window.live.stop()  # the window must not learn of the change before the person acts
    seen = queue_row(window, fill_id)
    assert seen is not None
    services.workflow.advance(
        pharmacist,
        fill_id,
        to_state=FillState.DATA_ENTRY,
        expected_version=seen.version,
        reason="Wrong strength entered",
    )
    select_in_queue(qtbot, window, fill_id)
    answer_reason(qtbot, "Patient asked to wait")
    said = answer_message_box(qtbot)
    qtbot.keyClick(window.fill_queue.table, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bool(said))
    assert "Someone else changed this fill" in said[0]
    qtbot.waitUntil(lambda: state_in_queue(window, fill_id) is FillState.DATA_ENTRY)


def test_taking_a_fill_someone_else_holds_says_who(
    qtbot,
    ui_context: UiContext,
    session,
    services: Services,
    intake: Intake,
    technician: Actor,
    pharmacist: Actor,
):
    fill_id = intake.enter().fill_id
    window = open_window(qtbot, ui_context, session, technician)
    window.live.stop()
    services.workflow.take_fill(pharmacist, fill_id)
    select_in_queue(qtbot, window, fill_id)
    said = answer_message_box(qtbot)
    qtbot.keyClick(window.fill_queue.table, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bool(said))
    assert said[0].startswith("phil is working on this fill")
    qtbot.waitUntil(lambda: held_by_in_queue(window, fill_id) == "phil")


def test_the_context_menu_offers_only_what_the_role_may_do(
    qtbot, ui_context: UiContext, session, intake: Intake, technician: Actor, pharmacist: Actor
):
    fill_id = intake.enter().fill_id
    window = open_window(qtbot, ui_context, session, technician)
    select_in_queue(qtbot, window, fill_id)
    menu = window.fill_queue.actions_menu()
    texts = [action.text() for action in menu.actions() if not action.isSeparator()]
    assert texts[0] == "&Open — Pharmacist data review"
    assert "Send &back…" not in texts  # a pharmacist's move
    assert {"&Take", "Put on &hold…", "&Cancel fill…"} <= set(texts)
    shortcuts = {a.text(): a.shortcut().toString() for a in menu.actions()}
    assert shortcuts["&Take"] == "Ctrl+T"
    assert shortcuts["Put on &hold…"] == "Ctrl+H"
    menu.deleteLater()

    row = queue_row(window, fill_id)
    assert row is not None
    assert {a.key for a in fill_actions(row, pharmacist)} >= {TAKE, HOLD, CANCEL, SEND_BACK}
    held_by_tess = replace(row, held_by="tess")
    assert {a.key for a in fill_actions(held_by_tess, technician)} & {TAKE, RELEASE} == {RELEASE}
    # A pharmacist may release anyone's fill; another technician may only ask to take it.
    assert {a.key for a in fill_actions(held_by_tess, pharmacist)} & {TAKE, RELEASE} == {RELEASE}
    held_by_tom = replace(row, held_by="tom")
    assert {a.key for a in fill_actions(held_by_tom, technician)} & {TAKE, RELEASE} == {TAKE}


def test_stage_filter_counts_each_stage(
    qtbot, ui_context: UiContext, session, intake: Intake, technician: Actor
):
    intake.enter()
    intake.enter(sig_code="1 T PO BID")
    window = open_window(qtbot, ui_context, session, technician)
    texts = [window.fill_queue.stage.itemText(n) for n in range(len(STAGES))]
    assert texts[0] == "All active (2)"
    assert "Pharmacist review (2)" in texts
    assert "Fill (0)" in texts
    window.fill_queue.set_stage(FillState.DATA_REVIEW)
    assert window.fill_queue.proxy.rowCount() == 2
    window.fill_queue.set_stage(FillState.READY)
    assert window.fill_queue.proxy.rowCount() == 0
    assert window.fill_queue.count.text() == "0 of 2 fills"

"""The pharmacist's data review and final verification dialogs against the real services."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt

from app.bootstrap import Services
from app.domain.fill_states import FillState
from app.services.fills import FillRow
from app.services.prescriptions import ScannedImage
from app.services.screening import SCREENING_DISCLAIMER
from app.services.unit_of_work import Actor
from tests.app.services.verification_data import verify_fill
from tests.ui.workflow_data import AMOXICILLIN_50, Intake, answer_reason, set_up_intake, tiny_png
from ui.dialogs.pharmacist_review import (
    NO_IMAGE_TEXT,
    PharmacistFinalVerificationDialog,
    PharmacistReviewDialog,
    load_review,
    prescription_flags,
    write_temporary_copy,
)
from ui.tasks import TaskRunner


@pytest.fixture
def intake(services: Services, admin: Actor, technician: Actor) -> Intake:
    return set_up_intake(services, admin, technician)


@pytest.fixture
def tasks(qtbot) -> Iterator[TaskRunner]:
    runner = TaskRunner()
    yield runner
    runner.shutdown()


def the_fill(services: Services, actor: Actor, fill_id: int) -> FillRow:
    return next(row for row in services.fills.queue(actor) if row.fill_id == fill_id)


def review_dialog(
    qtbot, services: Services, tasks: TaskRunner, actor: Actor, fill_id: int, cosign=None
) -> PharmacistReviewDialog:
    review = load_review(services, actor, the_fill(services, actor, fill_id))
    dialog = PharmacistReviewDialog(
        review, services=services, tasks=tasks, actor=actor, cosign=cosign or (lambda _: None)
    )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_a_finding_blocks_approval_until_acknowledged_with_a_reason(
    qtbot, services: Services, tasks: TaskRunner, intake: Intake, pharmacist: Actor
):
    entered = intake.enter(AMOXICILLIN_50, sig_code="1 CAP PO TID X10D", indication="otitis")
    dialog = review_dialog(qtbot, services, tasks, pharmacist, entered.fill_id)
    assert len(dialog.unacknowledged) == 1
    assert "to acknowledge before approval" in dialog.findings_box.title()
    assert dialog.disclaimer.text() == SCREENING_DISCLAIMER
    assert dialog.disclaimer.isVisible()
    assert not dialog.approve_button.isEnabled()
    assert not dialog.approve_and_bill_button.isEnabled()
    acknowledge = next(
        b
        for b in dialog.findChildren(type(dialog.approve_button))
        if b.accessibleName() == "Acknowledge finding 1"
    )

    # A blank reason is refused in the reason dialog; nothing is acknowledged.
    refused = answer_reason(qtbot, "   ", then_cancel=True)
    qtbot.mouseClick(acknowledge, Qt.MouseButton.LeftButton)
    assert refused == ["Say why: the reason is kept with the fill's history."]
    assert len(dialog.unacknowledged) == 1
    assert not services.screening.findings(pharmacist, entered.fill_id)[0].acknowledged

    answer_reason(qtbot, "Rash 30 years ago; patient tolerated cephalexin since")
    with qtbot.waitSignal(dialog.findings_changed):
        qtbot.mouseClick(acknowledge, Qt.MouseButton.LeftButton)
    assert dialog.unacknowledged == []
    assert dialog.approve_button.isEnabled()
    stored = services.screening.findings(pharmacist, entered.fill_id)[0]
    assert stored.acknowledged_by == "phil"
    assert stored.acknowledgement_reason.startswith("Rash 30 years ago")

    with qtbot.waitSignal(dialog.fill_changed) as moved:
        qtbot.keyClick(dialog, Qt.Key.Key_Return)
    assert moved.args[0].state is FillState.FILL


def test_a_technician_cannot_acknowledge_a_finding(
    qtbot, services: Services, tasks: TaskRunner, intake: Intake, technician: Actor
):
    entered = intake.enter(AMOXICILLIN_50, sig_code="1 CAP PO TID X10D", indication="otitis")
    dialog = review_dialog(qtbot, services, tasks, technician, entered.fill_id)
    answer_reason(qtbot, "Looks fine to me")
    dialog.acknowledge(dialog.findings[0])
    qtbot.waitUntil(lambda: dialog.message.isVisible())
    assert "Only a pharmacist may override a clinical finding." in dialog.message.text()
    assert dialog.cosign_button.isVisible()
    assert not services.screening.findings(technician, entered.fill_id)[0].acknowledged


def test_the_prescription_is_shown_as_entered_with_its_image(
    qtbot, services: Services, tasks: TaskRunner, intake: Intake, pharmacist: Actor
):
    scan = ScannedImage("rx-front.png", "image/png", tiny_png())
    entered = intake.enter(image=scan, sig_code="1 T PO QD")
    dialog = review_dialog(qtbot, services, tasks, pharmacist, entered.fill_id)
    assert not dialog.image_label.pixmap().isNull()
    assert dialog.image_label.pixmap().width() == 40
    facts = {
        label.accessibleName(): label.text()
        for label in dialog.findChildren(type(dialog.flags))
        if label.accessibleName()
    }
    assert facts["Patient"] == "Quillfeather, Maren"
    assert facts["Prescriber"] == "Tobin Ashgrove, MD"
    assert facts["Sig as written"] == "1 T PO QD"
    assert facts["Directions"] == entered.directions
    assert facts["Indication"] == "hypertension"
    assert facts["Refills"] == "None"
    assert facts["Source"] == "Electronic"


def test_a_pdf_is_offered_to_open_and_written_to_a_private_file(
    qtbot, services: Services, tasks: TaskRunner, intake: Intake, pharmacist: Actor, tmp_path
):
    content = b"%PDF-1.4\n% a fictional prescription\n%%EOF\n"
    entered = intake.enter(image=ScannedImage("rx.pdf", "application/pdf", content))
    dialog = review_dialog(qtbot, services, tasks, pharmacist, entered.fill_id)
    assert dialog.open_pdf_button is not None and dialog.open_pdf_button.isVisible()
    assert "PDF attached" in dialog.image_label.text()
    image = load_review(services, pharmacist, the_fill(services, pharmacist, entered.fill_id)).image
    assert image is not None
    copy = write_temporary_copy(image)
    try:
        assert copy.suffix == ".pdf" and copy.read_bytes() == content
    finally:
        copy.unlink()


def test_no_image_says_so(
    qtbot, services: Services, tasks: TaskRunner, intake: Intake, pharmacist: Actor
):
    entered = intake.enter()
    dialog = review_dialog(qtbot, services, tasks, pharmacist, entered.fill_id)
    assert dialog.image_label.text() == NO_IMAGE_TEXT
    assert dialog.open_pdf_button is None


def test_an_unreadable_sig_is_flagged(
    qtbot, services: Services, tasks: TaskRunner, intake: Intake, pharmacist: Actor
):
    entered = intake.enter(sig_code="use as directed by the clinic", days_supply=30)
    assert entered.sig_needs_review
    review = load_review(services, pharmacist, the_fill(services, pharmacist, entered.fill_id))
    assert any(
        "Directions need your review" in flag for flag in prescription_flags(review.prescription)
    )


def test_send_back_needs_a_reason_and_returns_the_fill_to_data_entry(
    qtbot, services: Services, tasks: TaskRunner, intake: Intake, pharmacist: Actor
):
    entered = intake.enter()
    dialog = review_dialog(qtbot, services, tasks, pharmacist, entered.fill_id)
    answer_reason(qtbot, "Quantity does not match the written prescription")
    with qtbot.waitSignal(dialog.fill_changed) as moved:
        qtbot.mouseClick(dialog.send_back_button, Qt.MouseButton.LeftButton)
    assert moved.args[0].state is FillState.DATA_ENTRY


def test_final_verification_refuses_a_technician_and_approves_for_a_pharmacist(
    qtbot,
    services: Services,
    tasks: TaskRunner,
    intake: Intake,
    technician: Actor,
    pharmacist: Actor,
):
    entered = intake.enter()
    row = the_fill(services, pharmacist, entered.fill_id)
    row = services.workflow.advance(
        pharmacist, row.fill_id, to_state=FillState.FILL, expected_version=row.version
    )
    row = verify_fill(services, technician, row.fill_id)
    cosigners: list[str] = []

    def cosign(purpose: str) -> Actor | None:
        cosigners.append(purpose)
        return pharmacist

    dialog = PharmacistFinalVerificationDialog(
        row,
        label_text="Rx label preview",
        services=services,
        tasks=tasks,
        actor=technician,
        cosign=cosign,
    )
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.label_preview.toPlainText() == "Rx label preview"
    assert "Only a pharmacist may move a fill" in dialog.authority.text()
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.message.isVisible())
    assert "Only a pharmacist" in dialog.message.text()

    qtbot.mouseClick(dialog.cosign_button, Qt.MouseButton.LeftButton)
    assert cosigners == [f"final verification of Rx {row.rx_number}-0"]
    with qtbot.waitSignal(dialog.fill_changed) as moved:
        qtbot.keyClick(dialog, Qt.Key.Key_Return)
    assert moved.args[0].state is FillState.READY

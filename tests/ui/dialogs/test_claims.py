"""The claims resolution queue, driven by keyboard: a prior authorization number, a DUR override
co-signed by a pharmacist, a cash sale, an unanswered claim settled, and the Claims menu."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent, InsuranceCoverage
from app.domain.fill_states import FillState
from app.services.claim_records import ClaimStatus
from app.services.unit_of_work import Actor
from tests.app.services.pharmacy_data import SEEDED, add_fill
from tests.app.services.test_claims import PA_NUMBER, Bench, _bench, _state
from tests.ui.dialogs.helpers import control
from tests.ui.dialogs.keyboard import show_active, visible_mnemonics
from ui.dialogs.claims import NO_REVERSAL_REASON_TEXT, ClaimsDialog
from ui.models.claims import ClaimsModel, money_text
from ui.tasks import TaskRunner

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def tasks() -> Iterator[TaskRunner]:
    runner = TaskRunner()
    yield runner
    runner.shutdown()


def _dialog(
    qtbot, bench: Bench, tasks: TaskRunner, actor: Actor, cosigner: Actor | None = None
) -> ClaimsDialog:
    asked: list[str] = []

    def cosign(purpose: str) -> Actor | None:
        asked.append(purpose)
        return cosigner

    dialog = ClaimsDialog(claims=bench.claims, tasks=tasks, actor=lambda: actor, cosign=cosign)
    dialog.cosign_requests = asked  # type: ignore[attr-defined]
    show_active(qtbot, dialog)
    qtbot.waitUntil(lambda: not tasks.busy)
    return dialog


def test_a_prior_authorization_is_entered_and_the_claim_paid(
    qtbot, services: Services, admin: Actor, technician: Actor, tasks: TaskRunner
) -> None:
    bench = _bench(services, admin, prior_auth=True)
    bench.claims.bill(technician, bench.fill_id)
    dialog = _dialog(qtbot, bench, tasks, technician)
    assert dialog.model.rowCount() == 1
    details = control(dialog, "Claim details")
    assert "75 Prior authorization required" in details.text()  # type: ignore[attr-defined]
    assert "enter the number when approved" in details.text()  # type: ignore[attr-defined]
    letters = visible_mnemonics(dialog)
    assert len(letters) == len(set(letters)), letters

    qtbot.keyClick(dialog.table, Qt.Key.Key_P, CTRL)  # nothing typed yet: refused, said
    assert "prior authorization number" in dialog.message.text()
    qtbot.keyClicks(dialog.prior_authorization, PA_NUMBER)
    qtbot.keyClick(dialog.prior_authorization, Qt.Key.Key_P, CTRL)
    qtbot.waitUntil(lambda: not tasks.busy and dialog.model.rowCount() == 0)
    assert "Paid" in dialog.status.text()
    assert _state(services, bench.fill_id) is FillState.FILL


def test_a_dur_override_needs_a_pharmacists_cosign(
    qtbot,
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    tasks: TaskRunner,
) -> None:
    bench = _bench(services, admin)
    bench.claims.bill(technician, bench.fill_id)
    refill = add_fill(
        services,
        admin,
        prescription_id=bench.prescription_id,
        fill_number=1,
        state=FillState.BILLING_PENDING,
    )
    bench.claims.bill(technician, refill)
    refused = _dialog(qtbot, bench, tasks, technician, cosigner=None)
    assert refused.selected is not None and refused.selected.rejects[0].code == "79"
    qtbot.keyClick(refused.table, Qt.Key.Key_O, CTRL)
    assert refused.cosign_requests and "DUR override" in refused.cosign_requests[0]  # type: ignore[attr-defined]
    assert "No pharmacist approved" in refused.message.text()
    assert _state(services, refill) is FillState.CLAIM_REJECTED
    refused.close()

    approved = _dialog(qtbot, bench, tasks, technician, cosigner=pharmacist)
    qtbot.keyClick(approved.table, Qt.Key.Key_O, CTRL)
    qtbot.waitUntil(lambda: not tasks.busy and approved.model.rowCount() == 0)
    assert _state(services, refill) is FillState.FILL


def test_a_fill_the_plan_does_not_cover_is_sold_as_cash(
    qtbot, services: Services, admin: Actor, technician: Actor, tasks: TaskRunner
) -> None:
    bench = _bench(services, admin, not_covered=True)
    bench.claims.bill(technician, bench.fill_id)
    dialog = _dialog(qtbot, bench, tasks, technician)
    assert dialog.selected is not None
    assert "70 Product/service not covered" in dialog.selected.plain_reason
    assert not dialog.settle_button.isEnabled() and dialog.cash_button.isEnabled()
    qtbot.keyClick(dialog.table, Qt.Key.Key_K, CTRL)
    qtbot.waitUntil(lambda: not tasks.busy and dialog.model.rowCount() == 0)
    # 30 × 1.00 acquisition = 30.00; +25 % = 37.50; + 4.50 fee = 42.00.
    assert "$42.00" in dialog.status.text()
    assert _state(services, bench.fill_id) is FillState.FILL


def test_an_unanswered_claim_is_settled_from_the_queue(
    qtbot, services: Services, admin: Actor, technician: Actor, tasks: TaskRunner
) -> None:
    bench = _bench(services, admin, drop=2)
    bench.claims.bill(technician, bench.fill_id)
    dialog = _dialog(qtbot, bench, tasks, technician)
    assert dialog.selected is not None
    assert dialog.selected.status is ClaimStatus.UNKNOWN_OUTCOME
    assert dialog.settle_button.isEnabled() and not dialog.bill_again_button.isEnabled()
    qtbot.keyClick(dialog.table, Qt.Key.Key_T, CTRL)
    qtbot.waitUntil(
        lambda: (
            not tasks.busy
            and dialog.selected is not None
            and dialog.selected.status is ClaimStatus.REVERSED
        )
    )
    assert dialog.bill_again_button.isEnabled()
    qtbot.keyClick(dialog.table, Qt.Key.Key_B, CTRL)
    qtbot.waitUntil(lambda: not tasks.busy and dialog.model.rowCount() == 0)
    assert _state(services, bench.fill_id) is FillState.FILL


def test_the_claims_model_passes_the_model_tester(
    qtmodeltester, services: Services, admin: Actor, technician: Actor
) -> None:
    bench = _bench(services, admin, not_covered=True)
    bench.claims.bill(technician, bench.fill_id)
    model = ClaimsModel()
    model.set_rows(bench.claims.needing_attention(technician))
    qtmodeltester.check(model)
    assert model.display(model.row_at(0), ClaimsModel.KIND) == "Bill"
    assert [money_text(cents) for cents in (0, 5, 123456, -250, None)] == [
        "$0.00",
        "$0.05",
        "$1,234.56",
        "-$2.50",
        "",
    ]


def _details(qtbot, bench: Bench, tasks: TaskRunner, actor: Actor) -> ClaimsDialog:
    dialog = ClaimsDialog(
        claims=bench.claims,
        tasks=tasks,
        actor=lambda: actor,
        cosign=lambda _purpose: None,
        fill_id=bench.fill_id,
    )
    show_active(qtbot, dialog)
    qtbot.waitUntil(lambda: not tasks.busy and dialog.model.rowCount() > 0)
    return dialog


def _reactivate(qtbot, dialog: ClaimsDialog) -> None:
    """Back to the dialog after the reason box closed: its shortcuts work in the active window."""
    dialog.activateWindow()
    dialog.table.setFocus()
    qtbot.waitUntil(dialog.isActiveWindow)


def _answer_reason(reason: str | None, asked: list[str]) -> None:
    """Answer the reversal reason dialog once it is up (None: cancel it)."""

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(20, answer)
            return
        asked.append(dialog.labelText())
        if reason is None:
            dialog.reject()
        else:
            dialog.setTextValue(reason)
            dialog.accept()

    QTimer.singleShot(0, answer)


def test_a_paid_claim_is_reversed_from_its_details_with_a_reason(
    qtbot, services: Services, admin: Actor, technician: Actor, tasks: TaskRunner
) -> None:
    bench = _bench(services, admin)
    paid = bench.claims.bill(technician, bench.fill_id)
    assert paid.status is ClaimStatus.PAID
    dialog = _details(qtbot, bench, tasks, technician)
    assert dialog.selected is not None and dialog.selected.status is ClaimStatus.PAID
    assert dialog.reverse_button.isEnabled() and not dialog.settle_button.isEnabled()
    assert dialog.reverse_button.accessibleName() == "Reverse the paid claim"
    letters = visible_mnemonics(dialog)
    assert len(letters) == len(set(letters)), letters

    # Cancelled, or no reason typed: nothing is sent.
    asked: list[str] = []
    for answer in (None, "   "):
        dialog.message.retract()
        _reactivate(qtbot, dialog)
        _answer_reason(answer, asked)
        qtbot.keyClick(dialog.table, Qt.Key.Key_R, CTRL)
        assert dialog.message.text() == NO_REVERSAL_REASON_TEXT
        assert bench.claims.claim(technician, paid.claim_id).status is ClaimStatus.PAID
    assert f"Rx {paid.rx_number}-{paid.fill_number}" in asked[0] and "Test Primary" in asked[0]

    assert len(asked) == 2
    _reactivate(qtbot, dialog)
    _answer_reason("Patient declined the prescription", asked)
    qtbot.keyClick(dialog.table, Qt.Key.Key_R, CTRL)
    qtbot.waitUntil(lambda: not tasks.busy)
    qtbot.waitUntil(
        lambda: dialog.selected is not None and dialog.selected.status is ClaimStatus.REVERSED
    )
    assert "Reversed" in dialog.status.text()
    assert bench.claims.claim(technician, paid.claim_id).status is ClaimStatus.REVERSED
    assert not dialog.reverse_button.isEnabled()
    reversal = next(row for row in dialog.model.rows if row.transaction_code == "B2")
    assert reversal.claim_id != paid.claim_id


def test_eligibility_is_asked_for_the_fills_patient_in_plain_words(
    qtbot, services: Services, admin: Actor, technician: Actor, tasks: TaskRunner
) -> None:
    bench = _bench(services, admin)
    bench.claims.bill(technician, bench.fill_id)
    dialog = _details(qtbot, bench, tasks, technician)
    patient = dialog.selected.patient_name  # type: ignore[union-attr]

    qtbot.keyClick(dialog.table, Qt.Key.Key_E, CTRL)
    qtbot.waitUntil(lambda: not tasks.busy and "Eligible" in dialog.status.text())
    assert dialog.status.text().startswith(f"Eligible: Test Primary covers {patient} today.")

    with services.database.unit_of_work(admin) as uow:
        coverage = uow.session.scalars(
            select(InsuranceCoverage).where(InsuranceCoverage.rank == 1)
        ).one()
        coverage.bin = "600000"
        uow.audit(SEEDED, coverage)
    qtbot.keyClick(dialog.table, Qt.Key.Key_E, CTRL)
    qtbot.waitUntil(lambda: not tasks.busy and "Not eligible" in dialog.message.text())
    assert dialog.message.text().startswith(
        f"Not eligible: Test Primary does not cover {patient} today. Why: 01 M/I BIN number: "
        "Check the BIN on the patient's insurance card."
    )
    with services.database.reading() as session:
        checks = session.scalars(
            select(AuditEvent.summary).where(AuditEvent.action == "coverage.eligibility_checked")
        ).all()
    assert [check["eligible"] for check in checks] == [True, False]

    with services.database.unit_of_work(admin) as uow:
        coverage = uow.session.scalars(
            select(InsuranceCoverage).where(InsuranceCoverage.rank == 1)
        ).one()
        coverage.active = False
        uow.audit(SEEDED, coverage)
    qtbot.keyClick(dialog.table, Qt.Key.Key_E, CTRL)
    qtbot.waitUntil(lambda: not tasks.busy and "no active primary" in dialog.message.text())

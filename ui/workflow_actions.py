"""Moving fills from the window: which moves a user may make, and making them off the GUI thread.

Enter opens a fill where its next step is done: the prescription for correction at data entry,
the pharmacist's data review or final verification.

The state machine (app.domain.workflow) decides what is offered; WorkflowService decides what
is allowed, so a refusal (a stale version, a fill someone else holds, a pharmacist-only move)
comes back as the service's own sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QWidget

from app.bootstrap import Services
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.domain.workflow import allowed_transitions
from app.errors import NotFound, StaleRecord
from app.services.fills import FillRow
from app.services.unit_of_work import Actor
from app.services.worklist import WorkItemRow
from ui.dialogs.pharmacist_review import (
    PharmacistFinalVerificationDialog,
    PharmacistReviewDialog,
    load_review,
)
from ui.dialogs.prescription import Correction, PrescriptionEntryDialog, load_correction
from ui.dialogs.reason import ask_reason
from ui.errors import show_error
from ui.tasks import TaskRunner

TAKE, RELEASE, HOLD, RESUME, CANCEL, SEND_BACK = (
    "take",
    "release",
    "put_on_hold",
    "resume",
    "cancel",
    "send_back",
)
# The moves every stage knows, each with one shortcut: (menu text, shortcut).
STANDING_ACTIONS = {
    TAKE: ("&Take", "Ctrl+T"),
    RELEASE: ("&Release", "Ctrl+Shift+T"),
    HOLD: ("Put on &hold…", "Ctrl+H"),
    RESUME: ("Res&ume", "Ctrl+Shift+H"),
    CANCEL: ("&Cancel fill…", "Ctrl+Shift+X"),
    SEND_BACK: ("Send &back…", "Ctrl+Shift+B"),
}
# Approvals are made in the pharmacist's dialogs, where the prescription and findings are seen.
# Moves made in their own place rather than from the queue's menu: the pharmacist's approvals
# in the review dialogs, and Fill → final verification in the Verify dock, which the service
# allows only once every bottle is scanned.
_MADE_ELSEWHERE = frozenset(
    {
        "approve_and_bill",
        "approve_without_billing",
        "approve_final_verification",
        "submit_for_verification",
    }
)
_TEXTS = {
    "start_data_entry": "Start data entry",
    "submit_for_review": "Submit for pharmacist review",
    "submit_claim": "Submit claim",
    "proceed_without_claim": "Proceed without claim (cash)",
    "claim_paid": "Claim paid",
    "claim_rejected": "Claim rejected",
    "rebill": "Rebill",
    "correct_data_entry": "Correct data entry",
    "sell": "Sell",
    "return_to_stock": "Return to stock…",
}


# The states in which Enter opens the prescription for correction before review.
DATA_ENTRY_STATES = frozenset({FillState.INTAKE, FillState.DATA_ENTRY})


def corrects_at_data_entry(fill: FillRow) -> bool:
    """Whether Enter on the fill opens its prescription for correction: a first fill before
    review. A refill's prescription was dispensed before and is fixed; its moves are offered."""
    return fill.state in DATA_ENTRY_STATES and fill.fill_number == 0


@dataclass(frozen=True)
class FillAction:
    """One move offered for a fill: `key` is a standing action or the edge's action name."""

    key: str
    text: str
    target: FillState | None = None
    reason_required: bool = False


def fill_actions(fill: FillRow, actor: Actor) -> list[FillAction]:
    """What `actor` may do with `fill` now, standing moves first."""
    actions = []
    mine = fill.held_by == actor.username
    if fill.held_by is None or (not mine and not actor.has_any(Role.PHARMACIST)):
        # Taking a fill someone else holds is refused with their name: the person learns who.
        actions.append(FillAction(TAKE, STANDING_ACTIONS[TAKE][0]))
    if fill.held_by is not None and (mine or actor.has_any(Role.PHARMACIST)):
        actions.append(FillAction(RELEASE, STANDING_ACTIONS[RELEASE][0]))
    if fill.state is FillState.ON_HOLD:
        # A held fill resumes where it was held; WorkflowService.resume knows where that is.
        actions.append(FillAction(RESUME, STANDING_ACTIONS[RESUME][0]))
    forward = []
    for edge in allowed_transitions(fill.state, actor.roles):
        if edge.action in _MADE_ELSEWHERE or edge.action == "resume":
            continue
        if edge.action in (HOLD, CANCEL):
            key = edge.action
        elif edge.action.startswith("send_back"):
            key = SEND_BACK
        else:
            text = _TEXTS.get(edge.action) or edge.action.replace("_", " ").capitalize()
            forward.append(FillAction(edge.action, text, edge.target, edge.reason_required))
            continue
        actions.append(FillAction(key, STANDING_ACTIONS[key][0], edge.target, True))
    return actions + forward


def _plain(text: str) -> str:
    return text.replace("&", "").rstrip("…")


class WorkflowActions(QObject):
    """Makes the moves the queue and the work list ask for, and opens the pharmacist's dialogs.

    Signals: fill_changed(object)  # the FillRow after a move, take or release
    fills_stale()  # a refusal showed the queue was out of date: reload it
    findings_changed()  # a clinical finding was acknowledged
    """

    fill_changed = Signal(object)
    fills_stale = Signal()
    findings_changed = Signal()

    def __init__(
        self,
        *,
        services: Services,
        tasks: TaskRunner,
        actor: Callable[[], Actor | None],
        cosign: Callable[[str], Actor | None],
        label_text: Callable[[FillRow], str],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._services = services
        self._tasks = tasks
        self._actor = actor
        self._cosign = cosign
        self._label_text = label_text
        self._parent = parent
        self.dialog: PharmacistReviewDialog | PharmacistFinalVerificationDialog | None = None
        self.data_entry: PrescriptionEntryDialog | None = None

    # --- moves from the queue -----------------------------------------------------------------

    def perform(self, action: FillAction, fill: FillRow) -> None:
        """Make the move, asking for a reason first when it needs one."""
        actor = self._actor()
        if actor is None:
            return
        reason = ""
        if action.reason_required:
            answer = ask_reason(
                self._parent,
                title=_plain(action.text),
                question=(
                    f"Rx {fill.rx_number}-{fill.fill_number} · {fill.patient_name}: "
                    f"why “{_plain(action.text).lower()}”?"
                ),
                action_text=_plain(action.text),
            )
            if answer is None:
                return
            reason = answer
        workflow = self._services.workflow
        work: Callable[[], FillRow]
        if action.key == TAKE:
            work = lambda: workflow.take_fill(actor, fill.fill_id)  # noqa: E731
        elif action.key == RELEASE:
            work = lambda: workflow.release_fill(actor, fill.fill_id)  # noqa: E731
        elif action.key == RESUME:
            work = lambda: workflow.resume(  # noqa: E731
                actor, fill.fill_id, expected_version=fill.version
            )
        else:
            assert action.target is not None
            target = action.target
            work = lambda: workflow.advance(  # noqa: E731
                actor,
                fill.fill_id,
                to_state=target,
                expected_version=fill.version,
                reason=reason,
            )
        self._tasks.run(work, on_success=self.fill_changed.emit, on_failure=self._refused)

    def _refused(self, exc: BaseException) -> None:
        if isinstance(exc, StaleRecord):
            self.fills_stale.emit()
        show_error(self._parent, exc)
        if not isinstance(exc, StaleRecord):
            # A refusal may still mean the queue is behind (held by someone since it loaded).
            self.fills_stale.emit()

    # --- correcting at data entry -------------------------------------------------------------

    def open_data_entry(self, fill: FillRow) -> None:
        """The prescription of a fill at intake or data entry, read, then opened for correction
        with the pharmacist's send-back reason; saving sends the fill to data review."""
        actor = self._actor()
        if actor is None:
            return
        services = self._services
        self._tasks.run(
            lambda: load_correction(services, actor, fill),
            on_success=lambda correction: self._show_data_entry(correction, actor),
            on_failure=lambda exc: show_error(self._parent, exc),
        )

    def _show_data_entry(self, correction: Correction, actor: Actor) -> None:
        if self.data_entry is not None:
            self.data_entry.close()
        dialog = PrescriptionEntryDialog(
            self._services, actor, correction=correction, parent=self._parent
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.sent_for_review.connect(self.fill_changed)
        dialog.finished.connect(lambda _: self._data_entry_closed(dialog))
        self.data_entry = dialog
        dialog.open()

    def _data_entry_closed(self, dialog: PrescriptionEntryDialog) -> None:
        if self.data_entry is dialog:
            self.data_entry = None

    # --- the pharmacist's dialogs -------------------------------------------------------------

    def open_review(self, fill: FillRow) -> None:
        """Data review: the prescription, its image and findings are read, then shown."""
        actor = self._actor()
        if actor is None:
            return
        services = self._services
        self._tasks.run(
            lambda: load_review(services, actor, fill),
            on_success=lambda review: self._show_dialog(
                PharmacistReviewDialog(
                    review,
                    services=services,
                    tasks=self._tasks,
                    actor=actor,
                    cosign=self._cosign,
                    parent=self._parent,
                )
            ),
            on_failure=lambda exc: show_error(self._parent, exc),
        )

    def open_final_verification(self, fill: FillRow) -> None:
        actor = self._actor()
        if actor is None:
            return
        self._show_dialog(
            PharmacistFinalVerificationDialog(
                fill,
                label_text=self._label_text(fill),
                services=self._services,
                tasks=self._tasks,
                actor=actor,
                cosign=self._cosign,
                parent=self._parent,
            )
        )

    def _show_dialog(
        self, dialog: PharmacistReviewDialog | PharmacistFinalVerificationDialog
    ) -> None:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dialog
        dialog.fill_changed.connect(self.fill_changed)
        dialog.stale.connect(self.fills_stale)
        if isinstance(dialog, PharmacistReviewDialog):
            dialog.findings_changed.connect(self.findings_changed)
        dialog.finished.connect(lambda _: self._closed(dialog))
        dialog.open()

    def _closed(self, dialog: QWidget) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()

    # --- the work list ------------------------------------------------------------------------

    def open_work_item(self, item: WorkItemRow, find_fill: Callable[[int], FillRow | None]) -> None:
        """Open what a work-list item is about: its fill's review or verification dialog."""
        actor = self._actor()
        if actor is None:
            return
        worklist = self._services.worklist
        self._tasks.run(
            lambda: worklist.fill_for_item(actor, item.item_id),
            on_success=lambda fill_id: self._open_item_fill(item, fill_id, find_fill),
            on_failure=lambda exc: show_error(self._parent, exc),
        )

    def _open_item_fill(
        self,
        item: WorkItemRow,
        fill_id: int | None,
        find_fill: Callable[[int], FillRow | None],
    ) -> None:
        fill = find_fill(fill_id) if fill_id is not None else None
        if fill is None:
            show_error(
                self._parent,
                NotFound(
                    f"“{item.summary}” is no longer waiting in the fill queue; the list is "
                    "being refreshed."
                ),
            )
            self.fills_stale.emit()
            return
        if fill.state is FillState.FINAL_VERIFICATION:
            self.open_final_verification(fill)
        else:
            self.open_review(fill)

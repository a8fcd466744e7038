"""Table models for the fill queue and the pickup (payment) list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor

from app.domain.fill_states import FillState
from app.domain.workflow import next_step
from app.services.fills import FillRow
from ui.models.formatting import age_text, quantity_text, time_text
from ui.models.table import RowTableModel

Clock = Callable[[], datetime]

# Light backgrounds under black text: readable on light and dark desktop themes alike.
STATE_COLOURS = {
    FillState.INTAKE: "#e3ecf7",
    FillState.DATA_ENTRY: "#dbe7fb",
    FillState.DATA_REVIEW: "#eadcf7",
    FillState.BILLING_PENDING: "#fdf1c7",
    FillState.WAITING_ON_SWITCH: "#fde8c7",
    FillState.CLAIM_REJECTED: "#f9d0cc",
    FillState.FILL: "#d9f0f2",
    FillState.FINAL_VERIFICATION: "#eadcf7",
    FillState.READY: "#d6f0d2",
    FillState.ON_HOLD: "#e2e2e2",
}
LATE_COLOUR = "#b3261e"
TEXT_ON_COLOUR = "#000000"

PRIORITY_LABELS = {
    "waiting": "Waiting",
    "waiter": "Waiting",
    "today": "Today",
    "delivery": "Delivery",
    "mail": "Mail",
}
# The patient standing at the counter first, the mail order last.
PRIORITY_ORDER = {"waiting": 0, "waiter": 0, "today": 1, "delivery": 2, "mail": 3}


@dataclass(frozen=True)
class Stage:
    """A tab of the fill queue: the workflow states a person at one bench station works on."""

    label: str
    states: frozenset[FillState]

    def holds(self, state: FillState) -> bool:
        return state in self.states


STAGES = (
    Stage("All active", frozenset(state for state in FillState if state.is_active)),
    Stage("Intake / data entry", frozenset({FillState.INTAKE, FillState.DATA_ENTRY})),
    Stage("Pharmacist review", frozenset({FillState.DATA_REVIEW})),
    Stage(
        "Billing",
        frozenset(
            {FillState.BILLING_PENDING, FillState.WAITING_ON_SWITCH, FillState.CLAIM_REJECTED}
        ),
    ),
    Stage("Fill", frozenset({FillState.FILL})),
    Stage("Final verification", frozenset({FillState.FINAL_VERIFICATION})),
    Stage("Ready", frozenset({FillState.READY})),
    Stage("On hold", frozenset({FillState.ON_HOLD})),
)


def priority_text(priority: str) -> str:
    return PRIORITY_LABELS.get(priority) or priority.replace("_", " ").capitalize()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _promised_text(row: FillRow, now: datetime) -> str:
    if row.promised_at is None:
        return ""
    text = time_text(row.promised_at, now=now)
    return f"{text} — late" if row.promised_at < now else text


class FillQueueModel(RowTableModel[FillRow]):
    STATUS, PRIORITY, PROMISED, RX, PATIENT, DRUG, QUANTITY, HELD_BY, AGE = range(9)
    HEADERS = (
        "Status",
        "Priority",
        "Promised",
        "Rx #",
        "Patient",
        "Drug",
        "Qty",
        "Held by",
        "Age",
    )

    def __init__(self, parent: QObject | None = None, *, clock: Clock = _utc_now) -> None:
        super().__init__(parent)
        self._clock = clock

    def display(self, row: FillRow, column: int) -> str:
        if column == self.STATUS:
            return row.state.label
        if column == self.PRIORITY:
            return priority_text(row.priority)
        if column == self.PROMISED:
            return _promised_text(row, self._clock())
        if column == self.RX:
            return f"{row.rx_number}-{row.fill_number}"
        if column == self.PATIENT:
            return row.patient_name
        if column == self.DRUG:
            return row.drug
        if column == self.QUANTITY:
            return quantity_text(row.quantity)
        if column == self.HELD_BY:
            return row.held_by or ""
        if column == self.AGE:
            return age_text(self._clock() - row.created_at)
        return ""

    def sort_key(self, row: FillRow, column: int) -> Any:
        if column == self.PRIORITY:
            return PRIORITY_ORDER.get(row.priority, len(PRIORITY_ORDER))
        if column == self.PROMISED:
            # No promise sorts after every promise.
            return row.promised_at.timestamp() if row.promised_at else float("inf")
        if column == self.QUANTITY:
            return float(row.quantity)
        if column == self.AGE:
            return row.created_at.timestamp()
        return self.display(row, column)

    def decorate(self, row: FillRow, column: int, role: int) -> Any:
        if column == self.STATUS:
            if role == Qt.ItemDataRole.BackgroundRole:
                return QColor(STATE_COLOURS.get(row.state, "#ffffff"))
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor(TEXT_ON_COLOUR)
        if column == self.PROMISED and role == Qt.ItemDataRole.ForegroundRole:
            late = row.promised_at is not None and row.promised_at < self._clock()
            return QColor(LATE_COLOUR) if late else None
        if column == self.QUANTITY and role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and column == self.DRUG:
            return f"{row.drug}\nNDC {row.ndc}"  # the column is often elided
        if role == Qt.ItemDataRole.ToolTipRole and column == self.STATUS:
            return _status_tip(row)
        return None


def _status_tip(row: FillRow) -> str:
    tip = f"Next: {next_step(row.state)}"
    if row.state is FillState.ON_HOLD and row.hold_reason:
        tip += f"\nHeld because: {row.hold_reason}"
    return tip


class PickupModel(RowTableModel[FillRow]):
    RX, PATIENT, DRUG, QUANTITY, READY_SINCE = range(5)
    HEADERS = ("Rx #", "Patient", "Drug", "Qty", "Ready since")

    def __init__(self, parent: QObject | None = None, *, clock: Clock = _utc_now) -> None:
        super().__init__(parent)
        self._clock = clock

    def display(self, row: FillRow, column: int) -> str:
        if column == self.RX:
            return f"{row.rx_number}-{row.fill_number}"
        if column == self.PATIENT:
            return row.patient_name
        if column == self.DRUG:
            return row.drug
        if column == self.QUANTITY:
            return quantity_text(row.quantity)
        if column == self.READY_SINCE:
            return time_text(row.state_changed_at, now=self._clock())
        return ""

    def sort_key(self, row: FillRow, column: int) -> Any:
        if column == self.QUANTITY:
            return float(row.quantity)
        if column == self.READY_SINCE:
            return row.state_changed_at.timestamp()
        return self.display(row, column)

    def decorate(self, row: FillRow, column: int, role: int) -> Any:
        if column == self.QUANTITY and role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

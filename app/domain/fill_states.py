"""The vocabulary of a fill's workflow states, shared by storage, services and the window.

The transition rules live with the workflow service; this module only names the states so the
schema, the demo pharmacy and the queue can speak the same language.
"""

from __future__ import annotations

from enum import StrEnum


class FillState(StrEnum):
    INTAKE = "intake"
    DATA_ENTRY = "data_entry"
    DATA_REVIEW = "data_review"
    BILLING_PENDING = "billing_pending"
    WAITING_ON_SWITCH = "waiting_on_switch"
    CLAIM_REJECTED = "claim_rejected"
    FILL = "fill"
    FINAL_VERIFICATION = "final_verification"
    READY = "ready"
    SOLD = "sold"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    RETURNED_TO_STOCK = "returned_to_stock"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def is_active(self) -> bool:
        """Active fills are still being worked and belong in the fill queue."""
        return self not in (FillState.SOLD, FillState.CANCELLED, FillState.RETURNED_TO_STOCK)


_LABELS = {
    FillState.INTAKE: "Intake",
    FillState.DATA_ENTRY: "Data entry",
    FillState.DATA_REVIEW: "Pharmacist data review",
    FillState.BILLING_PENDING: "Billing pending",
    FillState.WAITING_ON_SWITCH: "Waiting on switch",
    FillState.CLAIM_REJECTED: "Claim rejected",
    FillState.FILL: "Fill",
    FillState.FINAL_VERIFICATION: "Pharmacist final verification",
    FillState.READY: "Ready for pickup",
    FillState.SOLD: "Sold",
    FillState.ON_HOLD: "On hold",
    FillState.CANCELLED: "Cancelled",
    FillState.RETURNED_TO_STOCK: "Returned to stock",
}

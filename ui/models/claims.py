"""The claims table: the resolution queue's rows, or one fill's claims."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from app.services.claims import ClaimRow
from ui.models.table import RowTableModel


def money_text(cents: int | None) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


class ClaimsModel(RowTableModel[ClaimRow]):
    RX, PATIENT, DRUG, PLAN, KIND, STATUS, REASON, PAID = range(8)
    HEADERS = ("Rx", "Patient", "Drug", "Plan", "Claim", "Status", "Reason", "Plan paid")

    def display(self, row: ClaimRow, column: int) -> str:
        if column == self.RX:
            return f"{row.rx_number}-{row.fill_number}"
        if column == self.PATIENT:
            return row.patient_name
        if column == self.DRUG:
            return row.drug
        if column == self.PLAN:
            rank = "primary" if row.payer_rank == 1 else "secondary"
            return f"{row.plan_name} ({rank})"
        if column == self.KIND:
            return "Bill" if row.transaction_code == "B1" else "Reversal"
        if column == self.STATUS:
            return row.status.label
        if column == self.REASON:
            return row.plain_reason
        return money_text(row.total_paid_cents)

    def sort_key(self, row: ClaimRow, column: int) -> Any:
        if column == self.PAID:
            return row.total_paid_cents or 0
        return self.display(row, column)

    def decorate(self, row: ClaimRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ToolTipRole and column == self.REASON:
            return row.next_step
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.PAID:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

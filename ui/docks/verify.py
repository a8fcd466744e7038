"""Verification: the selected fill's facts, with a controlled-substance schedule up front."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from app.services.fills import FillRow
from ui.docks.base import Dock
from ui.models.formatting import quantity_text

NO_FILL_TEXT = "Select a fill in the queue (Enter or double-click) to verify it."


class VerifyDock(Dock):
    """Shows the fill the queue selected; it has nothing of its own to load."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Verify", "verify_dock", parent)
        self.fill: FillRow | None = None
        content = QWidget()
        layout = QVBoxLayout(content)
        self.schedule = QLabel()
        self.schedule.setAccessibleName("Controlled substance schedule")
        self.schedule.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.schedule.setStyleSheet(
            "QLabel { background: #b3261e; color: white; font-weight: bold; padding: 6px; }"
        )
        self.placeholder = QLabel(NO_FILL_TEXT)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAccessibleName("Verify instructions")
        layout.addWidget(self.schedule)
        layout.addWidget(self.placeholder)

        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        for name in ("Rx #", "Patient", "Drug", "NDC", "Quantity", "Days supply", "Directions"):
            value = QLabel()
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setAccessibleName(name)
            form.addRow(f"{name}:", value)
            self.fields[name] = value
        layout.addLayout(form)
        layout.addStretch()
        self.setWidget(content)
        self.show_fill(None)

    def reload(self) -> None:
        self.show_fill(self.fill)
        self.loaded.emit()

    def show_fill(self, fill: FillRow | None) -> None:
        self.fill = fill
        self.placeholder.setVisible(fill is None)
        self.schedule.setVisible(bool(fill and fill.dea_schedule))
        if fill and fill.dea_schedule:
            self.schedule.setText(
                f"Controlled substance — Schedule {fill.dea_schedule.removeprefix('C')}"
            )
        values = {
            "Rx #": f"{fill.rx_number}-{fill.fill_number}" if fill else "",
            "Patient": fill.patient_name if fill else "",
            "Drug": fill.drug if fill else "",
            "NDC": fill.ndc if fill else "",
            "Quantity": quantity_text(fill.quantity) if fill else "",
            "Days supply": str(fill.days_supply) if fill else "",
            "Directions": fill.directions if fill else "",
        }
        for name, text in values.items():
            self.fields[name].setText(text)

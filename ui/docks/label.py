"""A plain-text preview of what the selected fill's label will say (not the printed layout)."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from app.services.fills import FillRow
from app.services.pharmacy import PharmacyProfile, PharmacyService
from app.services.unit_of_work import Actor
from ui.docks.base import ActorSource, DataDock
from ui.models.formatting import quantity_text
from ui.tasks import TaskRunner

NO_PROFILE_TEXT = "The pharmacy profile is not set up yet; an administrator enters it."
NO_FILL_TEXT = "Select a fill in the queue to preview its label."


def label_text(profile: PharmacyProfile | None, fill: FillRow | None) -> str:
    """The label's facts as lines of text; the USP <17> layout is a separate renderer."""
    lines: list[str] = []
    if profile is None:
        lines.append(NO_PROFILE_TEXT)
    else:
        lines.append(profile.name)
        lines.append(
            ", ".join(part for part in (profile.address_line1, profile.address_line2) if part)
        )
        lines.append(f"{profile.city}, {profile.state} {profile.postal_code}")
        lines.append(f"Phone {profile.phone}")
    lines.append("")
    if fill is None:
        lines.append(NO_FILL_TEXT)
        return "\n".join(lines)
    lines.append(f"Rx {fill.rx_number}    Fill {fill.fill_number}")
    lines.append(fill.patient_name)
    lines.append("")
    lines.append(fill.directions)
    lines.append("")
    lines.append(fill.drug)
    lines.append(f"Qty {quantity_text(fill.quantity)}    Days supply {fill.days_supply}")
    if fill.dea_schedule:
        lines.append(
            "Caution: Federal law prohibits the transfer of this drug to any person other than "
            "the patient for whom it was prescribed."
        )
    return "\n".join(lines)


class LabelDock(DataDock):
    def __init__(
        self,
        *,
        pharmacy: PharmacyService,
        tasks: TaskRunner,
        actor: ActorSource,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Label", "label_dock", tasks=tasks, actor=actor, parent=parent)
        self._pharmacy = pharmacy
        self.profile: PharmacyProfile | None = None
        self.fill: FillRow | None = None
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setAccessibleName("Label preview")
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.set_content(self.preview)
        self._render()

    def fetch(self, actor: Actor) -> PharmacyProfile | None:
        return self._pharmacy.profile()

    def show_data(self, data: PharmacyProfile | None) -> None:
        self.profile = data
        self._render()

    def show_fill(self, fill: FillRow | None) -> None:
        self.fill = fill
        self._render()

    def _render(self) -> None:
        self.preview.setPlainText(label_text(self.profile, self.fill))

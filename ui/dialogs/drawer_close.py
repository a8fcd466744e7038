"""End of day at this register: expected by tender, what was counted, the difference, a note."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.domain.money import InvalidAmount, dollars, parse_dollars
from app.errors import RxBenchError
from app.services.drawer import DrawerCount, DrawerService
from app.services.payment import TenderKind
from app.services.unit_of_work import Actor
from ui.errors import explain


class DrawerCloseDialog(QDialog):
    """Type what the drawer holds of each tender; Close records it (differences need a note)."""

    def __init__(self, drawer: DrawerService, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Close the drawer — {actor.workstation}")
        self._drawer = drawer
        self._actor = actor
        self.expected = drawer.expected(actor)
        self.closed: DrawerCount | None = None
        self.float_field = QLineEdit("0.00")
        self.float_field.setAccessibleName("Opening cash float")
        self.counted: dict[TenderKind, QLineEdit] = {}
        grid = QGridLayout()
        grid.addWidget(QLabel("<b>Tender</b>"), 0, 0)
        grid.addWidget(QLabel("<b>Expected</b>"), 0, 1)
        grid.addWidget(QLabel("<b>Counted</b>"), 0, 2)
        grid.addWidget(QLabel("Opening cash &float"), 1, 0)
        grid.itemAtPosition(1, 0).widget().setBuddy(self.float_field)  # type: ignore[union-attr]
        grid.addWidget(self.float_field, 1, 2)
        for row, line in enumerate(self.expected.lines, start=2):
            label = QLabel(f"&{line.kind.label}" if row < 11 else line.kind.label)
            field = QLineEdit()
            field.setAccessibleName(f"Counted {line.kind.label.lower()}")
            field.setPlaceholderText(dollars(line.expected_cents))
            label.setBuddy(field)
            grid.addWidget(label, row, 0)
            grid.addWidget(QLabel(dollars(line.expected_cents)), row, 1)
            grid.addWidget(field, row, 2)
            self.counted[line.kind] = field
        self.note = QPlainTextEdit()
        self.note.setAccessibleName("Note on differences")
        self.note.setPlaceholderText("What is known of any difference")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Drawer close message")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Close drawer")
        buttons.accepted.connect(self.close_drawer)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        since = self.expected.since
        layout.addWidget(
            QLabel(
                f"Since {since:%Y-%m-%d %H:%M}" if since else "Since this register was first used"
            )
        )
        layout.addLayout(grid)
        layout.addWidget(self.note)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def close_drawer(self) -> None:
        try:
            opening = parse_dollars(self.float_field.text() or "0")
            counted = {
                kind: parse_dollars(field.text()) if field.text().strip() else 0
                for kind, field in self.counted.items()
            }
            self.closed = self._drawer.close(
                self._actor,
                counted=counted,
                opening_float_cents=opening,
                note=self.note.toPlainText(),
            )
        except (RxBenchError, InvalidAmount) as exc:
            self.message.setText(explain(exc)[1])
            return
        self.accept()

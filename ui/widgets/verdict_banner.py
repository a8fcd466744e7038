"""The verdict on the last scan, large: red for a stop, amber for a warning, green when used."""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget


class Tone(StrEnum):
    INFO = "info"
    ACCEPTED = "accepted"
    WARNING = "warning"
    STOP = "stop"


# Fixed colours, not the palette: a stop must read as a stop in light and dark themes alike.
_STYLES = {
    Tone.INFO: "background: #eef1f5; color: #1d2733; border: 1px solid #b8c2cf;",
    Tone.ACCEPTED: "background: #e3f3e6; color: #0f4d1c; border: 2px solid #3d9a52;",
    Tone.WARNING: "background: #fff1cc; color: #5c3b00; border: 2px solid #d99a00;",
    Tone.STOP: "background: #b3261e; color: white; border: 3px solid #6e0f0a;",
}
_TITLE_SCALE = {Tone.INFO: 1.0, Tone.ACCEPTED: 1.3, Tone.WARNING: 1.3, Tone.STOP: 1.8}
_MESSAGE_SCALE = {Tone.INFO: 1.0, Tone.ACCEPTED: 1.0, Tone.WARNING: 1.1, Tone.STOP: 1.25}


class VerdictBanner(QFrame):
    """A title, a sentence and room for the buttons that answer it (override, retry).

    The sentence is the service's own: it names what was expected and what was scanned.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("verdict_banner")
        self.setAccessibleName("Scan verdict")
        self.tone = Tone.INFO
        self.title = QLabel()
        self.title.setAccessibleName("Verdict")
        self.title.setWordWrap(True)
        self.message = QLabel()
        self.message.setAccessibleName("Verdict message")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QHBoxLayout()
        self.buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.title)
        layout.addWidget(self.message)
        layout.addLayout(self.buttons)
        self._base_point_size = self.font().pointSizeF()
        self.show_verdict(Tone.INFO, "", "")

    def show_verdict(self, tone: Tone, title: str, message: str) -> None:
        self.tone = tone
        self.setStyleSheet(
            f"QFrame#verdict_banner {{ {_STYLES[tone]} }} QLabel {{ border: none; }}"
        )
        for label, scale, bold in (
            (self.title, _TITLE_SCALE[tone], True),
            (self.message, _MESSAGE_SCALE[tone], tone is Tone.STOP),
        ):
            font = label.font()
            font.setPointSizeF(self._base_point_size * scale)
            font.setBold(bold)
            label.setFont(font)
            # Colour from the frame's style sheet: a label keeps its palette otherwise.
            label.setStyleSheet(f"QLabel {{ color: {_colour(tone)}; }}")
        self.title.setText(title)
        self.title.setVisible(bool(title))
        self.message.setText(message)
        self.message.setVisible(bool(message))
        self.setAccessibleDescription(f"{title} {message}".strip())
        self.setVisible(bool(title or message))

    @property
    def text(self) -> str:
        """What the banner says, title and message."""
        return f"{self.title.text()}\n{self.message.text()}".strip()


def _colour(tone: Tone) -> str:
    return _STYLES[tone].split("color: ")[1].split(";")[0]

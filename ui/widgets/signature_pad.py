"""A signature pad: the patient signs with the mouse, a pen or a touch screen; kept as a PNG."""

from __future__ import annotations

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QTabletEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

PAD_SIZE = QSize(420, 140)
INK = QColor(10, 20, 90)


class SignaturePad(QWidget):
    """Draw with the left button or a pen; `clear()` starts again; `png()` is what was drawn.

    Signals: signed()  # the first stroke of a new signature
    """

    signed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Signature pad")
        self.setAccessibleDescription(
            "The patient signs here with the mouse, a pen or a finger. Clear starts again."
        )
        self.setMinimumSize(PAD_SIZE)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._image = self._blank(PAD_SIZE)
        self._last: QPointF | None = None
        self._strokes = 0

    @property
    def is_empty(self) -> bool:
        return self._strokes == 0

    def clear(self) -> None:
        self._image = self._blank(self.size().expandedTo(PAD_SIZE))
        self._strokes = 0
        self._last = None
        self.update()

    def png(self) -> bytes:
        """The signature as PNG bytes (white background, dark ink)."""
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        self._image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs want bytes; PySide6 wants str
        buffer.close()
        return bytes(data.data())

    def draw_stroke(self, points: list[QPointF]) -> None:
        """One stroke through `points` (what the mouse or pen does, and what tests use)."""
        if not points:
            return
        self._begin(points[0])
        for point in points[1:]:
            self._extend(point)
        self._last = None

    @staticmethod
    def _blank(size: QSize) -> QImage:
        image = QImage(size, QImage.Format.Format_RGB32)
        image.fill(Qt.GlobalColor.white)
        return image

    def _begin(self, point: QPointF) -> None:
        if self._strokes == 0:
            self.signed.emit()
        self._strokes += 1
        self._last = point
        self._extend(point)

    def _extend(self, point: QPointF) -> None:
        if self._last is None:
            return
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(
            QPen(
                INK, 2.5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin
            )
        )
        painter.drawLine(self._last, point)
        painter.end()
        self._last = point
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._extend(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._last = None

    def tabletEvent(self, event: QTabletEvent) -> None:
        kind = event.type()
        if kind == QTabletEvent.Type.TabletPress:
            self._begin(event.position())
        elif kind == QTabletEvent.Type.TabletMove and self._last is not None:
            self._extend(event.position())
        elif kind == QTabletEvent.Type.TabletRelease:
            self._last = None
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:
        size = event.size().expandedTo(PAD_SIZE)
        if size.width() > self._image.width() or size.height() > self._image.height():
            grown = self._blank(size.expandedTo(self._image.size()))
            painter = QPainter(grown)
            painter.drawImage(0, 0, self._image)
            painter.end()
            self._image = grown
        super().resizeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.drawImage(event.rect(), self._image, event.rect())
        painter.setPen(QPen(Qt.GlobalColor.gray, 1, Qt.PenStyle.DashLine))
        baseline = self.height() - 24
        painter.drawLine(12, baseline, self.width() - 12, baseline)
        painter.end()

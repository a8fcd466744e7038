"""The verification sounds through Qt: the system bell, twice for a stop, once for a warning.

Why the bell and not a bundled WAV through QtMultimedia: the installer leaves QtMultimedia out
(it adds a media back end and tens of megabytes), and on Linux it needs PulseAudio's library,
which a bench PC may lack. The bell reaches every workstation's speaker or beeper. It has one
tone, so a stop is told from a warning by rhythm; an accepted bottle makes no sound, because a
tone on every good scan teaches people to stop listening.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

STOP_BEEPS = 2
BEEP_SPACING_MS = 180


class QtSounds(QObject):
    """The Sounds protocol (app.adapters.sound) on the system bell.

    `beep` rings once; tests pass a recorder, the application QApplication.beep.
    """

    def __init__(
        self, *, beep: Callable[[], None] = QApplication.beep, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._beep = beep
        self._pending = 0
        # One timer rings the repeats, so a second stop does not stack extra beeps.
        self._repeat = QTimer(self)
        self._repeat.setInterval(BEEP_SPACING_MS)
        self._repeat.timeout.connect(self._ring_pending)

    def stop(self) -> None:
        """A stop must be heard from across the bench: the bell, then again."""
        self._beep()
        self._pending = STOP_BEEPS - 1
        self._repeat.start()

    def warning(self) -> None:
        self._beep()

    def accepted(self) -> None:
        """Silent on purpose (see the module docstring); the dock paints the verdict."""

    def _ring_pending(self) -> None:
        if self._pending <= 0:
            self._repeat.stop()
            return
        self._pending -= 1
        self._beep()
        if self._pending <= 0:
            self._repeat.stop()

"""Who is signed in at this workstation: sign-in, automatic lock, switch user, co-signature,
witness."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QToolTip, QVBoxLayout, QWidget
from shiboken6 import isValid

from app.bootstrap import Services
from app.services.unit_of_work import Actor
from ui.dialogs.cosign import CosignDialog
from ui.dialogs.first_run import FirstRunDialog
from ui.dialogs.lock import LockDialog
from ui.dialogs.login import LoginDialog

IDLE_CHECK_INTERVAL_MS = 1000

_USER_INPUT = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
    }
)


class _Curtain(QWidget):
    """An opaque cover over one window while nobody may see it: no patient data shows through."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, Qt.GlobalColor.darkGray)
        palette.setColor(QPalette.ColorRole.WindowText, Qt.GlobalColor.white)
        self.setPalette(palette)
        label = QLabel("RxBench is locked")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = label.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        label.setFont(font)
        QVBoxLayout(self).addWidget(label)
        self.setGeometry(window.rect())
        window.installEventFilter(self)
        self.raise_()
        self.show()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.setGeometry(self._window.rect())
        elif event.type() == QEvent.Type.ChildAdded:
            # A widget added to the window later would otherwise be stacked above the cover.
            self.raise_()
        return False

    def lift(self) -> None:
        self._window.removeEventFilter(self)
        self.hide()
        self.deleteLater()


class SessionController(QObject):
    """Holds the signed-in Actor and guards the windows while nobody is at the keyboard.

    Signals: actor_changed(object)  # the new Actor;  locked();  unlocked()
    """

    actor_changed = Signal(object)
    locked = Signal()
    unlocked = Signal()

    def __init__(
        self,
        services: Services,
        *,
        idle_minutes: int,
        parent: QObject | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(parent)
        self._services = services
        self._idle_seconds = idle_minutes * 60
        self._clock = clock
        self._actor: Actor | None = None
        self._window: QWidget | None = None
        self._last_input = clock()
        self._is_locked = False
        self._curtains: list[_Curtain] = []
        self._idle_timer = QTimer(self)
        self._idle_timer.setInterval(IDLE_CHECK_INTERVAL_MS)
        self._idle_timer.timeout.connect(self.check_idle)

    @property
    def actor(self) -> Actor | None:
        return self._actor

    @property
    def is_locked(self) -> bool:
        return self._is_locked

    def start(self, parent: QWidget | None = None) -> bool:
        """Set up an empty installation or sign someone in; False if the person cancelled."""
        if self._services.pharmacy.needs_first_run():
            dialog: FirstRunDialog | LoginDialog = FirstRunDialog(self._services, parent)
        else:
            dialog = LoginDialog(self._services, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.actor is None:
            return False
        self._set_actor(dialog.actor)
        return True

    def sign_in_as(self, actor: Actor) -> None:
        self._set_actor(actor)

    def attach(self, window: QWidget) -> None:
        """Watch the whole application's input and lock after `idle_minutes` without any."""
        self._window = window
        self._last_input = self._clock()
        app = QApplication.instance()
        assert app is not None, "attach() needs the QApplication"
        app.installEventFilter(self)
        self._idle_timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _USER_INPUT:
            self._last_input = self._clock()
        return False

    def check_idle(self) -> None:
        """Lock when the signed-in user has been away for the configured time."""
        if self._actor is None or self._is_locked:
            return
        if self._clock() - self._last_input >= self._idle_seconds:
            self.lock()

    def lock(self) -> None:
        """Cover every window and ask for the same user's password or PIN (HIPAA log-off)."""
        if self._actor is None or self._is_locked:
            return
        self._is_locked = True
        self._cover_windows()
        dialog = LockDialog(self._services, self._actor, self._window)
        dialog.accepted.connect(lambda: self._unlock(dialog.actor))
        dialog.switch_user_requested.connect(self.switch_user)
        dialog.finished.connect(dialog.deleteLater)
        dialog.show()
        self.locked.emit()

    def switch_user(self) -> None:
        """End this user's session (audited) and sign the next person in.

        Nobody is signed in until the next person is: the windows stay covered, and giving up
        closes the main window rather than uncovering it.
        """
        assert self._actor is not None, "switch_user() needs a signed-in user"
        self._services.auth.logout(self._actor, reason="switch user")
        self._actor = None
        self._cover_windows()
        dialog = LoginDialog(self._services, self._window, cancel_text="&Quit RxBench")
        dialog.setWindowModality(Qt.WindowModality.ApplicationModal)
        dialog.accepted.connect(lambda: self._switched_to(dialog.actor))
        dialog.rejected.connect(self._nobody_signed_in)
        dialog.finished.connect(dialog.deleteLater)
        dialog.show()

    def cosign(self, *, purpose: str, parent: QWidget | None = None) -> Actor | None:
        """A pharmacist's approval of one action; None if nobody approved it."""
        assert self._actor is not None, "cosign() needs a signed-in user"
        dialog = CosignDialog(
            self._services, self._actor, purpose=purpose, parent=parent or self._window
        )
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        dialog.deleteLater()
        return dialog.pharmacist if accepted else None

    def witness(self, *, purpose: str, parent: QWidget | None = None) -> Actor | None:
        """A second person's signature (pharmacist or technician, not the signed-in user) on
        one action — a controlled-stock change or a count; None if nobody signed."""
        assert self._actor is not None, "witness() needs a signed-in user"
        dialog = CosignDialog(
            self._services,
            self._actor,
            purpose=purpose,
            witness=True,
            parent=parent or self._window,
        )
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        dialog.deleteLater()
        return dialog.pharmacist if accepted else None

    def _set_actor(self, actor: Actor) -> None:
        self._actor = actor
        self._last_input = self._clock()
        self.actor_changed.emit(actor)

    def _cover_windows(self) -> None:
        if self._curtains:
            return
        QToolTip.hideText()
        while (popup := QApplication.activePopupWidget()) is not None:
            popup.close()
        self._curtains = [
            _Curtain(window) for window in QApplication.topLevelWidgets() if window.isVisible()
        ]

    def _uncover_windows(self) -> None:
        for curtain in self._curtains:
            if isValid(curtain):  # its window may have been deleted meanwhile
                curtain.lift()
        self._curtains = []

    def _unlock(self, actor: Actor) -> None:
        self._uncover_windows()
        self._is_locked = False
        self._last_input = self._clock()
        if actor != self._actor:
            self._set_actor(actor)
        self.unlocked.emit()

    def _switched_to(self, actor: Actor | None) -> None:
        assert actor is not None
        self._uncover_windows()
        self._set_actor(actor)
        if self._is_locked:
            self._is_locked = False
            self.unlocked.emit()

    def _nobody_signed_in(self) -> None:
        if self._window is not None:
            self._window.close()

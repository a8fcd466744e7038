"""Following what other workstations change: polling on SQLite, LISTEN on PostgreSQL."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, QTimer, Signal

from app.services.changes import RESYNC_TOPIC, Change, ChangeFeed
from ui.tasks import TaskRunner

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 1000
LISTENER_STOP_TIMEOUT_S = 3.0
ON_TEXT = "Live updates: on"
LOST_TEXT = "Live updates paused: database unreachable — retrying"
STARTING_TEXT = "Live updates: starting…"


class LiveUpdates(QObject):
    """Tells the window which topics changed anywhere, on the GUI thread.

    SQLite: `changes_since` is polled every second off the GUI thread. PostgreSQL: a worker
    thread runs `ChangeFeed.listen` and hops each notice to the GUI thread through `_heard`.
    After a lost connection the topic is RESYNC_TOPIC ("*"): notices may have been missed.

    Signals: changed(object)  # the set of topics changed;  status_changed(str)
    """

    changed = Signal(object)
    status_changed = Signal(str)
    _heard = Signal(object)  # emitted on the listener thread, delivered on the GUI thread

    def __init__(
        self,
        feed: ChangeFeed,
        *,
        poll_interval_ms: int = POLL_INTERVAL_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._feed = feed
        self._tasks = TaskRunner(self)
        self._last_id: int | None = None
        self._polling = False
        self._lost = False
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(poll_interval_ms)
        self._timer.timeout.connect(self.poll)
        self._heard.connect(self._on_heard)
        self.status = STARTING_TEXT

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        if self._feed.can_listen:
            self._stop.clear()
            self._listener = threading.Thread(
                target=self._listen, name="rxbench-change-feed", daemon=True
            )
            self._listener.start()
            self._set_status(ON_TEXT)
        else:
            self._timer.start()
            self.poll()

    def stop(self) -> None:
        """Stop following; no signal is sent afterwards."""
        self._timer.stop()
        self._tasks.shutdown()
        self._stop.set()
        if self._listener is not None:
            self._listener.join(LISTENER_STOP_TIMEOUT_S)
            self._listener = None

    # --- PostgreSQL ---------------------------------------------------------------------------

    def _listen(self) -> None:
        """Runs on the listener thread until stop()."""

        def heard(change: Change) -> None:
            if not self._stop.is_set():
                self._heard.emit(change)

        try:
            self._feed.listen(heard, self._stop)
        except Exception:  # a bug, not a lost connection (listen recovers from those itself)
            log.exception("the change feed listener stopped")

    def _on_heard(self, change: Change) -> None:
        if change.topic == RESYNC_TOPIC:
            self._recovered()
            return
        self.changed.emit({change.topic})

    # --- SQLite -------------------------------------------------------------------------------

    def poll(self) -> None:
        """Ask for what changed since the last poll (at the start: where the feed stands)."""
        if self._polling:
            return
        self._polling = True
        feed, last_id = self._feed, self._last_id
        if last_id is None:
            self._tasks.run(feed.latest_id, on_success=self._started, on_failure=self._failed)
        else:
            self._tasks.run(
                lambda: feed.changes_since(last_id),
                on_success=self._polled,
                on_failure=self._failed,
            )

    def _started(self, last_id: int) -> None:
        self._polling = False
        self._last_id = last_id
        if self._lost:
            self._recovered()
        else:
            self._set_status(ON_TEXT)

    def _polled(self, result: tuple[int, set[str]]) -> None:
        self._polling = False
        self._last_id, topics = result
        if self._lost:
            self._recovered()
        elif topics:
            self.changed.emit(topics)

    def _failed(self, exc: BaseException) -> None:
        self._polling = False
        if not self._lost:
            log.warning("live updates lost the database (%s)", type(exc).__name__)
        self.set_database_reachable(False)

    # --- both ---------------------------------------------------------------------------------

    def set_database_reachable(self, reachable: bool) -> None:
        """The window's health check also reports a lost database; LISTEN does not say so."""
        if not reachable:
            self._lost = True
            self._set_status(LOST_TEXT)
        elif self._lost:
            self._recovered()

    def _recovered(self) -> None:
        self._lost = False
        self._set_status(ON_TEXT)
        self.changed.emit({RESYNC_TOPIC})

    def _set_status(self, text: str) -> None:
        if text != self.status:
            self.status = text
            self.status_changed.emit(text)

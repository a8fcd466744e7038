"""Running service calls off the GUI thread, with results delivered back on the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

MAX_WORKER_THREADS = 4


class _Relay(QObject):
    """Lives on the GUI thread; its signals are emitted by the worker and queued to it.

    Signals: succeeded(object); failed(object)
    """

    succeeded = Signal(object)
    failed = Signal(object)

    def __init__(
        self,
        on_success: Callable[[Any], None],
        on_failure: Callable[[BaseException], None],
        done: Callable[[_Relay], None],
    ) -> None:
        super().__init__()
        self._on_success = on_success
        self._on_failure = on_failure
        self._done = done
        self.cancelled = False
        self.succeeded.connect(self._deliver_success)
        self.failed.connect(self._deliver_failure)

    @Slot(object)
    def _deliver_success(self, result: Any) -> None:
        if self.cancelled:
            return
        self._done(self)
        self._on_success(result)

    @Slot(object)
    def _deliver_failure(self, exc: BaseException) -> None:
        if self.cancelled:
            return
        self._done(self)
        self._on_failure(exc)


class _Job(QRunnable):
    def __init__(self, work: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._work = work
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._work()
        except Exception as exc:
            self._relay.failed.emit(exc)
        else:
            self._relay.succeeded.emit(result)


class TaskRunner(QObject):
    """Runs callables on a private thread pool; callbacks arrive on the GUI thread.

    After `shutdown()` no callback is delivered, so a closed window is never called back.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(MAX_WORKER_THREADS)
        self._pending: set[_Relay] = set()

    def run(
        self,
        work: Callable[[], Any],
        *,
        on_success: Callable[[Any], None],
        on_failure: Callable[[BaseException], None],
    ) -> None:
        relay = _Relay(on_success, on_failure, self._pending.discard)
        self._pending.add(relay)
        self._pool.start(_Job(work, relay))

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def shutdown(self) -> None:
        """Drop every undelivered callback, then wait for running work to finish."""
        for relay in self._pending:
            relay.cancelled = True
        self._pending.clear()
        self._pool.waitForDone()

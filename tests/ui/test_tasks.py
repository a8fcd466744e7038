"""Work runs off the GUI thread; its outcome comes back on the GUI thread."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from ui.tasks import TaskRunner


def test_success_arrives_on_the_gui_thread(qtbot):
    runner = TaskRunner()
    gui_thread = QThread.currentThread()
    seen: dict[str, object] = {}

    def work() -> int:
        seen["worker"] = threading.current_thread() is not threading.main_thread()
        return 42

    def success(result: int) -> None:
        seen["result"] = result
        seen["delivered_on_gui"] = QThread.currentThread() is gui_thread

    runner.run(work, on_success=success, on_failure=lambda exc: seen.setdefault("exc", exc))
    qtbot.waitUntil(lambda: "result" in seen)
    assert seen == {"worker": True, "result": 42, "delivered_on_gui": True}
    assert not runner.busy
    runner.shutdown()


def test_failure_is_delivered_with_the_exception(qtbot):
    runner = TaskRunner()
    failures: list[BaseException] = []

    def work() -> None:
        raise ValueError("no such lot")

    runner.run(work, on_success=lambda _: None, on_failure=failures.append)
    qtbot.waitUntil(lambda: bool(failures))
    assert isinstance(failures[0], ValueError)
    runner.shutdown()


def test_no_callback_after_shutdown(qtbot):
    runner = TaskRunner()
    release = threading.Event()
    delivered: list[object] = []
    runner.run(release.wait, on_success=delivered.append, on_failure=delivered.append)
    assert runner.busy
    release.set()
    runner.shutdown()
    qtbot.wait(50)
    assert delivered == []

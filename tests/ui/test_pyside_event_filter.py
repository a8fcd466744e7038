"""The Qt binding must survive an application-wide Python event filter for a whole workday.

PySide6 6.12.0 on Python 3.11 drops a reference to None (or True/False) for every event a
Python eventFilter sees, and the interpreter aborts once None's count reaches zero. The wedge
scanner filter sees every event of the application, so such a binding would crash RxBench in
minutes. This runs the shape of that filter over many events in a fresh process.
"""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

app = QApplication([])


class Filter(QObject):
    def eventFilter(self, watched, event):
        return False


keep = Filter()
app.installEventFilter(keep)
widget = QWidget()
widget.show()
before = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
ticks = 0


def tick():
    global ticks
    ticks += 1
    widget.update()
    if ticks >= 20000:
        app.quit()


timer = QTimer()
timer.timeout.connect(tick)
timer.start(0)
app.exec()
after = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
print(*(a - b for a, b in zip(after, before)))
"""


def test_an_application_event_filter_does_not_leak_away_none() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    deltas = [int(value) for value in result.stdout.split()]
    # A few references may be held by Qt's own bookkeeping; thousands lost means the bug.
    assert all(delta > -100 for delta in deltas), deltas

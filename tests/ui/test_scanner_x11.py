"""ui/scanner.py under a real X server: xdotool key events, which reach the application filter
once per receiver (window, focused widget, parents), unlike most synthetic events."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from ui.scanner import ScannerSettings, save_scanner_settings

GS = "\x1d"
WINDOW_PROGRAM = Path(__file__).with_name("scanner_x11_window.py")
REPLY_TIMEOUT_S = 15
GS1_LOT, GS1_SERIAL = "01003037861800111726043010LOT42", "21SER9"

pytestmark = pytest.mark.slow


def _tools_or_skip() -> None:
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        message = f"{' and '.join(missing)} not installed: the real-X11 scanner test cannot run"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def display() -> Iterator[str]:
    _tools_or_skip()
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as announced:
        number = announced.readline().strip()
    assert number, "Xvfb did not start"
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


@dataclass
class Bench:
    """The window program, its JSON lines, and xdotool aimed at its display."""

    process: subprocess.Popen[str]
    lines: queue.Queue[dict]
    display: str

    def expect(self, event: str) -> dict:
        while True:
            try:
                line = self.lines.get(timeout=REPLY_TIMEOUT_S)
            except queue.Empty:
                raise AssertionError(f"no {event!r} from the window") from None
            if line["event"] == event:
                return line
            raise AssertionError(f"expected {event!r}, the window said {line}")

    def quiet(self) -> None:
        """Nothing more was reported (a second scan, a stray default button)."""
        assert self.lines.empty(), f"unexpected: {self.lines.get()}"

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def focus(self, name: str) -> None:
        self.send(f"focus {name}")
        assert self.expect("focused")["widget"] == name

    def state(self) -> dict:
        self.send("state")
        return self.expect("state")

    def xdotool(self, *commands: str) -> None:
        """One xdotool run of a script, a command a line: no process start between commands
        to stretch a burst (and `type` would swallow any chained command as text)."""
        subprocess.run(
            ["xdotool", "-"],
            input="\n".join(commands) + "\n",
            text=True,
            env={**os.environ, "DISPLAY": self.display},
            check=True,
            timeout=60,
        )


@pytest.fixture
def bench(display: str, tmp_path: Path) -> Iterator[Bench]:
    settings_path = tmp_path / "scanner.ini"
    save_scanner_settings(
        QSettings(str(settings_path), QSettings.Format.IniFormat), ScannerSettings()
    )
    environment = {
        **os.environ,
        "DISPLAY": display,
        "QT_QPA_PLATFORM": "xcb",
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, str(WINDOW_PROGRAM), str(settings_path)],
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[dict] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    running = Bench(process, lines, display)
    running.expect("window")
    assert running.expect("focused")["widget"] == "notes"
    yield running
    process.stdin.close()
    try:
        process.wait(timeout=10)
    finally:
        process.kill()
    errors = process.stderr.read()
    assert "Traceback" not in errors, errors


def test_real_key_bursts_are_one_scan_each_and_leave_the_notes_field_alone(bench: Bench):
    bench.xdotool("type --delay 4 0378-6180-01", "key --delay 4 Return")
    assert bench.expect("entry") == {"event": "entry", "text": "0378-6180-01", "manual": False}

    bench.xdotool(
        f"type --delay 4 {GS1_LOT}",
        "key --delay 4 ctrl+bracketright",
        f"type --delay 4 {GS1_SERIAL}",
        "key --delay 4 Return",
    )
    assert bench.expect("entry")["text"] == GS1_LOT + GS + GS1_SERIAL

    bench.xdotool(
        f"type --delay 4 {GS1_LOT}",
        "keydown alt",
        "key --delay 4 KP_0 KP_0 KP_2 KP_9",
        "keyup alt",
        f"type --delay 4 {GS1_SERIAL}",
        "key --delay 4 Return",
    )
    assert bench.expect("entry")["text"] == GS1_LOT + GS + GS1_SERIAL

    bench.xdotool("type --delay 4 RX1234567-2", "key --delay 4 Tab")
    assert bench.expect("entry")["text"] == "RX1234567-2"

    assert bench.state() == {"event": "state", "notes": "", "scan": "RX1234567-2", "focus": "notes"}
    bench.quiet()  # in particular, no Enter reached the default button


def test_a_person_typing_real_keys_types_and_enter_works(bench: Bench):
    bench.xdotool("type --delay 150 hello", "sleep 0.15", "key Return")
    assert bench.expect("notes-return")["text"] == "hello"
    bench.expect("default-button")
    assert bench.state()["notes"] == "hello"
    bench.quiet()

    bench.focus("scan")
    bench.xdotool("type --delay 150 0378-6180-01", "sleep 0.15", "key Return")
    assert bench.expect("entry") == {"event": "entry", "text": "0378-6180-01", "manual": True}

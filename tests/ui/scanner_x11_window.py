"""A bench window for the real-X11 scanner test: reports what it receives as JSON lines.

Run under an X server with QT_QPA_PLATFORM=xcb; argument: a scanner settings INI file. Each
line on stdin is a command: "focus notes", "focus scan" or "state"; each stdout line is a JSON
object with an "event" key.
"""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QSettings, QSocketNotifier, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QLineEdit, QPushButton, QVBoxLayout

from ui.scanner import ScanLineEdit, install_scanner


def report(event: str, **facts: object) -> None:
    print(json.dumps({"event": event, **facts}), flush=True)


def main(settings_path: str) -> int:
    app = QApplication(sys.argv[:1])
    scanner_filter, router = install_scanner(
        app, QSettings(settings_path, QSettings.Format.IniFormat)
    )
    dialog = QDialog()
    dialog.setWindowTitle("Scanner check")
    notes = QLineEdit()
    notes.setObjectName("notes")
    scan_field = ScanLineEdit()
    scan_field.setObjectName("scan")
    ok = QPushButton("OK")
    ok.setDefault(True)
    layout = QVBoxLayout(dialog)
    for widget in (notes, scan_field, ok):
        layout.addWidget(widget)
    fields = {"notes": notes, "scan": scan_field}

    router.push_receiver(scan_field)
    scan_field.entry.connect(lambda text, manual: report("entry", text=text, manual=manual))
    scanner_filter.scan_rejected.connect(lambda reason: report("rejected", reason=reason))
    router.unclaimed_scan.connect(lambda text: report("unclaimed", text=text))
    ok.clicked.connect(lambda: report("default-button"))
    notes.returnPressed.connect(lambda: report("notes-return", text=notes.text()))

    def state() -> None:
        focus = QApplication.focusWidget()
        report(
            "state",
            notes=notes.text(),
            scan=scan_field.text(),
            focus=focus.objectName() if focus is not None else None,
        )

    def focus_on(name: str) -> None:
        fields[name].setFocus()
        wait_for_focus(name)

    def wait_for_focus(name: str) -> None:
        if QApplication.focusWidget() is fields[name]:
            report("focused", widget=name)
        else:
            dialog.activateWindow()
            fields[name].setFocus()
            QTimer.singleShot(20, lambda: wait_for_focus(name))

    def command() -> None:
        line = sys.stdin.readline()
        if not line:
            app.quit()
            return
        words = line.split()
        if words == ["state"]:
            state()
        elif words[:1] == ["focus"]:
            focus_on(words[1])

    stdin = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
    stdin.activated.connect(command)

    dialog.show()
    dialog.activateWindow()
    report("window", id=int(dialog.winId()))
    focus_on("notes")
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

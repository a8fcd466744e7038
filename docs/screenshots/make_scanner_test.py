"""Open Tools ▸ Scanner test…, scan a GS1 DataMatrix with real X11 keys, save the dialog as a PNG.

    xvfb-run -s "-screen 0 1280x800x24" .venv/bin/python docs/screenshots/make_scanner_test.py

xdotool types the scan as a keyboard-wedge scanner would: 4 ms a key, Ctrl+] for GS, Enter.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QProcess, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from ui.dialogs.scanner_settings import ScannerTestDialog
from ui.scanner import install_scanner

OUTPUT = Path(__file__).with_name("scanner-test.png")
SCAN = (
    "type --delay 4 01003037861800111726043010LOT42\n"
    "key --delay 4 ctrl+bracketright\n"
    "type --delay 4 21SER9\n"
    "key --delay 4 Return\n"
)


def main() -> int:
    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as folder:
        store = QSettings(str(Path(folder) / "scanner.ini"), QSettings.Format.IniFormat)
        scanner_filter, _router = install_scanner(app, store)
    dialog = ScannerTestDialog(scanner_filter)
    dialog.show()
    dialog.activateWindow()
    xdotool = QProcess()

    def type_scan() -> None:
        xdotool.start("xdotool", ["-"])
        xdotool.write(SCAN.encode())
        xdotool.closeWriteChannel()

    def capture() -> None:
        dialog.grab().save(str(OUTPUT))
        print(f"saved {OUTPUT}")
        app.quit()

    scanner_filter.captured.connect(lambda _capture: QTimer.singleShot(300, capture))
    QTimer.singleShot(500, type_scan)
    QTimer.singleShot(15_000, app.quit)
    app.exec()
    xdotool.waitForFinished()
    return 0 if OUTPUT.exists() else 1


if __name__ == "__main__":
    sys.exit(main())

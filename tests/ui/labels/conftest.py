"""Label fixtures: the Qt application fonts need, and the real CUPS PDF printer.

scripts/test.sh runs scripts/cups-pdf-printer.sh and exports RXBENCH_TEST_CUPS_PRINTER,
RXBENCH_TEST_CUPS_STOPPED_PRINTER and RXBENCH_TEST_CUPS_OUTPUT. Without them the CUPS tests
skip on a workstation and fail in CI, where the print path must be proven.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtPrintSupport import QPrinterInfo


@pytest.fixture(autouse=True)
def _application(qapp) -> None:
    """Fonts, paint devices and printers need a QGuiApplication."""


@dataclass(frozen=True)
class CupsPdfPrinter:
    name: str
    stopped_name: str  # a queue of the same printer that is stopped (cupsdisable)
    output_dir: Path

    def job_ids(self) -> set[str]:
        """Every job CUPS knows, finished or not: a job that was never submitted is not here."""
        listing = subprocess.run(
            ["lpstat", "-W", "all", "-o"], capture_output=True, text=True, check=True
        ).stdout
        return {line.split()[0] for line in listing.splitlines() if line.strip()}


@pytest.fixture(scope="session")
def cups_pdf_printer(qapp) -> CupsPdfPrinter:
    names = (
        os.environ.get("RXBENCH_TEST_CUPS_PRINTER", ""),
        os.environ.get("RXBENCH_TEST_CUPS_STOPPED_PRINTER", ""),
        os.environ.get("RXBENCH_TEST_CUPS_OUTPUT", ""),
    )
    if not all(names):
        message = (
            "RXBENCH_TEST_CUPS_PRINTER, RXBENCH_TEST_CUPS_STOPPED_PRINTER and "
            "RXBENCH_TEST_CUPS_OUTPUT are not set: scripts/test.sh sets them up with "
            "scripts/cups-pdf-printer.sh"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    printer = CupsPdfPrinter(names[0], names[1], Path(names[2]))
    known = QPrinterInfo.availablePrinterNames()
    for name in (printer.name, printer.stopped_name):
        if name not in known:
            pytest.fail(f"The CUPS printer {name} is not installed; printers: {known}")
    if not printer.output_dir.is_dir():
        pytest.fail(f"The cups-pdf output folder {printer.output_dir} does not exist")
    return printer

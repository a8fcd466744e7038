"""Labels through the real print path: QPrinter → CUPS → cups-pdf → a PDF file on disk."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pypdf
import pytest

from app.domain.labels import THERMAL_VIAL_4X2_25
from app.errors import PrinterNotFound, PrinterOffline
from tests.ui.labels.conftest import CupsPdfPrinter
from tests.ui.labels.label_data import atorvastatin, large_print_lisinopril
from ui.labels.output import available_printers, print_calibration_page, print_labels

# cups-pdf converts through PostScript and Ghostscript; a busy machine takes seconds.
PDF_TIMEOUT_S = 120


def wait_for_pdf(printer: CupsPdfPrinter, job_name: str) -> Path:
    """The PDF cups-pdf wrote for `job_name`, once CUPS reports its job completed.

    cups-pdf names the file after the job's title and id (`Label 1`), and Ghostscript writes
    it in place: the file is whole only when the job is done.
    """
    deadline = time.monotonic() + PDF_TIMEOUT_S
    while time.monotonic() < deadline:
        for path in printer.output_dir.glob(f"{job_name}*.pdf"):
            job = re.search(r"-job_(\d+)\.pdf$", path.name)
            assert job, path.name
            completed = subprocess.run(
                ["lpstat", "-W", "completed", "-o", printer.name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            if f"{printer.name}-{job.group(1)}" in completed:
                return path
        time.sleep(0.2)
    pytest.fail(f"cups-pdf wrote no PDF for {job_name} in {printer.output_dir}")


def displayed_sizes(path: Path) -> list[tuple[float, float]]:
    """Page sizes as a viewer shows them: CUPS may store a wide page turned by /Rotate."""
    sizes = []
    for page in pypdf.PdfReader(path).pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        sizes.append((height, width) if page.rotation % 180 else (width, height))
    return sizes


def test_the_cups_printers_are_offered(cups_pdf_printer: CupsPdfPrinter) -> None:
    assert {cups_pdf_printer.name, cups_pdf_printer.stopped_name} <= set(available_printers())


def test_two_labels_print_through_cups_with_their_page_size_and_text(
    cups_pdf_printer: CupsPdfPrinter,
) -> None:
    job_name = f"rxbench-labels-{uuid.uuid4().hex[:8]}"
    contents = [atorvastatin(), replace(large_print_lisinopril(), patient_name="Dorothy Hale")]

    outcome = print_labels(contents, THERMAL_VIAL_4X2_25, cups_pdf_printer.name, job_name=job_name)

    assert (outcome.destination, outcome.labels) == (cups_pdf_printer.name, 2)
    path = wait_for_pdf(cups_pdf_printer, job_name)
    sizes = displayed_sizes(path)
    assert len(sizes) == outcome.pages == outcome.faces
    for width, height in sizes:
        assert abs(width - 288) <= 1 and abs(height - 162) <= 1
    text = " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(path).pages).split())
    for content in contents:
        assert content.patient_name in text
        assert f"Rx {content.rx_number}" in text
        assert content.directions in text
    path.unlink()


def test_calibration_page_prints_through_cups(cups_pdf_printer: CupsPdfPrinter) -> None:
    job_name = f"rxbench-calibration-{uuid.uuid4().hex[:8]}"
    outcome = print_calibration_page(
        THERMAL_VIAL_4X2_25, cups_pdf_printer.name, offset=(0.5, 1.0), job_name=job_name
    )
    assert outcome.pages == 1
    path = wait_for_pdf(cups_pdf_printer, job_name)
    assert len(displayed_sizes(path)) == 1
    text = " ".join(pypdf.PdfReader(path).pages[0].extract_text().split())
    assert "Offset in effect: +0.5 mm right, +1.0 mm down" in text
    path.unlink()


def test_a_stopped_printer_is_reported_and_nothing_is_printed(
    cups_pdf_printer: CupsPdfPrinter,
) -> None:
    jobs = cups_pdf_printer.job_ids()
    with pytest.raises(PrinterOffline, match=cups_pdf_printer.stopped_name):
        print_labels([atorvastatin()], THERMAL_VIAL_4X2_25, cups_pdf_printer.stopped_name)
    assert cups_pdf_printer.job_ids() == jobs


def test_a_vanished_printer_never_falls_back_to_another(
    cups_pdf_printer: CupsPdfPrinter,
) -> None:
    jobs = cups_pdf_printer.job_ids()
    with pytest.raises(PrinterNotFound, match="RxBench-PDF-Gone"):
        print_labels([atorvastatin()], THERMAL_VIAL_4X2_25, "RxBench-PDF-Gone")
    assert cups_pdf_printer.job_ids() == jobs

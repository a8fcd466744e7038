"""The Label dock on the demo pharmacy: the preview is the printed label, prints and reprints are
recorded only once they reached the printer, and a vanished printer is asked for again."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import pypdf
import pytest
import zxingcpp
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QPdfWriter
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog, QPushButton
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import Fill, LabelPrint, Prescription, StockLot
from app.demo import REPRINT_REASON, load_demo
from app.domain.fill_states import FillState
from app.domain.labels import BUILT_IN_STOCKS, LabelContent, LabelLanguage, LabelStock
from app.domain.roles import Role
from app.errors import PrinterNotFound, PrinterOffline
from app.services.fills import FillRow
from app.services.labels import PrintKind
from app.services.passwords import SecretHasher
from app.services.unit_of_work import Actor
from tests.app.services.pharmacy_data import SEEDED
from tests.app.services.verification_data import package_upc, receive_lot
from tests.ui.dialogs.helpers import audit_trail

# The real CUPS PDF queue's fixture, shared with the label printing tests.
from tests.ui.labels.conftest import CupsPdfPrinter, cups_pdf_printer  # noqa: F401
from ui.context import UiContext
from ui.dialogs.label_printer import LabelPrinterDialog
from ui.dialogs.reason import BLANK_REASON_TEXT, ReasonDialog
from ui.docks.label import CHOOSE_PRINTER_TEXT, LabelDock
from ui.docks.label_printing import (
    OFFSETS_KEY,
    PRINTER_KEY,
    STOCK_KEY,
    BatchOutcome,
    LabelPrinting,
)
from ui.errors import PRINTER_HINT
from ui.labels.output import PrintOutcome, calibration_page, page_size, render_pdf
from ui.main_window import MainWindow
from ui.session import SessionController
from ui.tasks import TaskRunner

LOAD_TIMEOUT_MS = 15_000
THERMAL, SHEET = BUILT_IN_STOCKS
PRINTER = "Label-Thermal-1"
THERMAL_PAGE = (288.0, 162.0)  # 4 × 2.25 in, in PDF points
CUPS_PDF_TIMEOUT_S = 120


@dataclass
class Job:
    printer: str
    path: Path
    offset: tuple[float, float]
    name: str


@dataclass
class PdfPrinters:
    """Desktop printers that print each job to a PDF file through the real renderer; a fault
    queued in `faults` fails the next job the way a stopped or empty printer does."""

    folder: Path
    names: list[str] = field(default_factory=lambda: [PRINTER])
    jobs: list[Job] = field(default_factory=list)
    faults: list[Exception] = field(default_factory=list)
    while_printing: Callable[[], None] | None = None  # what the person does during a job
    calibrations: list[tuple[str, str, tuple[float, float]]] = field(default_factory=list)

    def printers(self) -> list[str]:
        return list(self.names)

    def print_labels(
        self,
        contents: list[LabelContent],
        stock: LabelStock,
        printer: str,
        *,
        offset: tuple[float, float] = (0.0, 0.0),
        job_name: str = "",
    ) -> PrintOutcome:
        if printer not in self.names:
            raise PrinterNotFound(f"The printer “{printer}” is not installed.", printer=printer)
        if self.faults:
            raise self.faults.pop(0)
        path = self.folder / f"job-{len(self.jobs) + 1}.pdf"
        outcome = render_pdf(contents, stock, path)
        if self.while_printing is not None:
            self.while_printing()
        self.jobs.append(Job(printer, path, offset, job_name))
        return replace(outcome, destination=printer)

    def print_calibration_page(
        self, stock: LabelStock, printer: str, *, offset: tuple[float, float] = (0.0, 0.0)
    ) -> PrintOutcome:
        path = self.folder / f"calibration-{len(self.calibrations) + 1}.pdf"
        writer = QPdfWriter(str(path))
        writer.setResolution(300)
        writer.setPageSize(page_size(stock))
        calibration_page(stock, writer, offset=offset)
        self.calibrations.append((printer, stock.name, offset))
        return PrintOutcome(printer, 0, 0, 1, 300, "")

    def printing(self) -> LabelPrinting:
        return LabelPrinting(self.printers, self.print_labels, self.print_calibration_page)


def pdf_text(path: Path) -> str:
    pages = pypdf.PdfReader(path).pages
    return " ".join(" ".join((page.extract_text() or "").split()) for page in pages)


def page_sizes(path: Path) -> list[tuple[float, float]]:
    return [
        (round(float(page.mediabox.width), 1), round(float(page.mediabox.height), 1))
        for page in pypdf.PdfReader(path).pages
    ]


def label_prints(services: Services) -> list[LabelPrint]:
    with services.database.reading() as session:
        return list(session.scalars(select(LabelPrint).order_by(LabelPrint.id)))


# --- the demo pharmacy ------------------------------------------------------------------------


@pytest.fixture
def demo(services: Services) -> Actor:
    """The demo pharmacy; returns its technician, signed in."""
    loader = Actor(None, "demo-test", "Demo test", frozenset({Role.ADMINISTRATOR}), "test-ws")
    load_demo(services.database, loader, hasher=SecretHasher("fast-insecure-for-tests"))
    return services.auth.login("tech", "tech-demo-1")


@dataclass(frozen=True)
class DemoFills:
    """Demo fills the tests need, found by what they are rather than by number."""

    never_printed: FillRow  # at the Fill step, English, not printed yet
    printed: FillRow  # ready for pickup, printed once
    reprinted: FillRow  # printed, then reprinted
    three_containers: FillRow
    spanish: FillRow
    before_review: FillRow  # waiting for the pharmacist's data review


@pytest.fixture
def fills(services: Services, demo: Actor) -> DemoFills:
    labels = services.labels
    queue = services.fills.queue(demo)
    prints = {row.fill_id: len(labels.prints(demo, row.fill_id)) for row in queue}

    def first(test: Callable[[FillRow], bool]) -> FillRow:
        return next(row for row in queue if test(row))

    def language(row: FillRow) -> LabelLanguage:
        return labels.contents(demo, row.fill_id)[0].language

    return DemoFills(
        never_printed=first(
            lambda row: (
                row.state is FillState.FILL
                and not prints[row.fill_id]
                and language(row) is LabelLanguage.ENGLISH
                and row.held_by in (None, "tech")
            )
        ),
        printed=first(lambda row: row.state is FillState.READY and prints[row.fill_id] == 1),
        reprinted=first(lambda row: prints[row.fill_id] == 2),
        three_containers=first(lambda row: len(labels.contents(demo, row.fill_id)) == 3),
        spanish=first(
            lambda row: language(row) is LabelLanguage.SPANISH and prints[row.fill_id] > 0
        ),
        before_review=first(lambda row: row.state is FillState.DATA_REVIEW),
    )


@pytest.fixture
def store(tmp_path: Path) -> Callable[[], QSettings]:
    path = tmp_path / "workstation.ini"
    return lambda: QSettings(str(path), QSettings.Format.IniFormat)


@pytest.fixture
def pdf_printers(tmp_path: Path) -> PdfPrinters:
    folder = tmp_path / "printed"
    folder.mkdir()
    return PdfPrinters(folder)


@pytest.fixture
def make_dock(
    qtbot, services: Services, demo: Actor, store: Callable[[], QSettings]
) -> Iterator[Callable[..., LabelDock]]:
    runners: list[TaskRunner] = []

    def make(printing: PdfPrinters | None, *, printer: str | None = PRINTER) -> LabelDock:
        """A dock printing on `printing` (the desktop's printers when None, with no printer
        remembered unless `printer` names one) and remembering `printer` (None: as stored)."""
        if printing is None and printer == PRINTER:
            printer = None
        if printer is not None:
            store().setValue(PRINTER_KEY, printer)
        runner = TaskRunner()
        runners.append(runner)
        dock = LabelDock(
            labels=services.labels,
            verification=services.verification,
            pharmacy=services.pharmacy,
            tasks=runner,
            actor=lambda: demo,
            settings=store,
            printing=printing.printing() if printing else None,
        )
        qtbot.addWidget(dock)
        dock.resize(760, 640)
        dock.show()
        return dock

    yield make
    for runner in runners:
        runner.shutdown()


def show(qtbot, dock: LabelDock, fill: FillRow) -> None:
    with qtbot.waitSignal(dock.loaded, timeout=LOAD_TIMEOUT_MS):
        dock.show_fill(fill)


def print_and_wait(qtbot, dock: LabelDock):
    with qtbot.waitSignal(dock.printed, timeout=LOAD_TIMEOUT_MS) as printed:
        dock.print_action.trigger()
    return printed.args[0]


class ModalAnswers:
    """Answers each modal dialog as it opens, as a person would, and notes what it said: a
    reason given (a blank one is refused, then the dialog cancelled), a label printer chosen
    (or cancelled), message boxes closed (Retry clicked `retries` times first)."""

    def __init__(self, qtbot) -> None:
        self.qtbot = qtbot
        self.reason = ""
        self.printer: str | None = None
        self.retries = 0
        self.reasons_asked = 0
        self.reason_refusals: list[str] = []
        self.printer_questions: list[str] = []
        self.boxes: list[str] = []
        self.progress: list[str] = []
        self._timer = QTimer()
        self._timer.setInterval(20)
        self._timer.timeout.connect(self._answer)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _answer(self) -> None:
        for widget in QApplication.topLevelWidgets():
            shown = isinstance(widget, QProgressDialog) and widget.isVisible()
            if shown and widget.labelText() not in self.progress:
                self.progress.append(widget.labelText())
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, ReasonDialog):
            self.reasons_asked += 1
            # Set, not typed: keys typed at machine speed in the window read as a barcode scan.
            dialog.reason_edit.setText(self.reason)
            self.qtbot.keyClick(dialog.reason_edit, Qt.Key.Key_Return)
            if dialog.isVisible():
                self.reason_refusals.append(dialog.message.text())
                dialog.reject()
        elif isinstance(dialog, LabelPrinterDialog):
            self.printer_questions.append(dialog.question.text())
            if self.printer is None:
                dialog.reject()
            else:
                dialog.printers.setCurrentText(self.printer)
                self.qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
        elif isinstance(dialog, QMessageBox):
            self.boxes.append(dialog.text())
            retry = dialog.button(QMessageBox.StandardButton.Retry)
            if retry is not None and self.retries:
                self.retries -= 1
                retry.click()
            else:
                dialog.done(QMessageBox.StandardButton.Close)


@pytest.fixture
def modal(qtbot) -> Iterator[ModalAnswers]:
    answers = ModalAnswers(qtbot)
    yield answers
    answers.stop()


def rx(fill: FillRow) -> str:
    return f"{fill.rx_number}-{fill.fill_number}"


def prints_of(services: Services, fill: FillRow) -> list[LabelPrint]:
    return [row for row in label_prints(services) if row.fill_id == fill.fill_id]


# --- the preview --------------------------------------------------------------------------------


def test_the_preview_is_the_label_and_its_barcode_scans_back_to_the_fill(
    qtbot, make_dock, fills: DemoFills
) -> None:
    dock = make_dock(None)
    fill = fills.three_containers

    show(qtbot, dock, fill)

    image = dock.preview_image
    assert not image.isNull() and image.width() > 300
    (decoded,) = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
    assert decoded.text == f"RX{rx(fill)}"
    assert dock.title.text().startswith(f"Rx {rx(fill)} · {fill.patient_name} · ")
    assert dock.position.text() == "Label 1 of 3"
    assert dock.picture.accessibleDescription().endswith("container 1 of 3")
    assert dock.notices.text().startswith("• Printed once, last on ")
    assert dock.history.rowCount() == 1 and dock.history.item(0, 1).text() == "Original"
    assert not dock.reprint_needed.isVisible()

    dock.next_action.trigger()
    assert dock.position.text() == "Label 2 of 3"
    assert dock.picture.accessibleDescription().endswith("container 2 of 3")
    dock.next_action.trigger()
    assert dock.position.text() == "Label 3 of 3" and not dock.next_action.isEnabled()
    dock.previous_action.trigger()
    assert dock.position.text() == "Label 2 of 3"


def test_a_spanish_label_has_its_english_copy_and_an_english_one_has_none(
    qtbot, make_dock, fills: DemoFills
) -> None:
    dock = make_dock(None)
    show(qtbot, dock, fills.spanish)

    assert dock.shown_contents()[0].directions.startswith("Tome ")
    assert dock.english_button.isVisible() and dock.english_action.isEnabled()
    assert ". Tome " in dock.picture.accessibleDescription()
    dock.english_action.trigger()
    assert dock.shown_contents()[0].language is LabelLanguage.ENGLISH
    assert ". Take " in dock.picture.accessibleDescription()

    show(qtbot, dock, fills.never_printed)
    assert not dock.english_button.isVisible() and not dock.english_action.isChecked()
    assert dock.shown_contents()[0].language is LabelLanguage.ENGLISH


def test_a_fill_before_data_review_previews_and_is_refused_printing(
    qtbot, make_dock, fills: DemoFills, services: Services, demo: Actor, pdf_printers
) -> None:
    dock = make_dock(pdf_printers)
    show(qtbot, dock, fills.before_review)
    refusal = services.labels.printing_refusal(demo, fills.before_review.fill_id)
    assert refusal and "only after the pharmacist's data review" in refusal

    dock.print_action.trigger()

    assert dock.message.text() == refusal and dock.message.isVisible()
    assert dock.notices.text().startswith(f"• {refusal}")
    assert not dock.preview_image.isNull()  # the preview stays
    assert pdf_printers.jobs == [] and prints_of(services, fills.before_review) == []


# --- printing -----------------------------------------------------------------------------------


def wait_for_new_pdf(printer: CupsPdfPrinter, job_name: str, before: set[Path]) -> Path:
    """The PDF cups-pdf wrote for this job (not one left by an earlier run), once CUPS
    reports the job completed: Ghostscript writes the file in place."""
    deadline = time.monotonic() + CUPS_PDF_TIMEOUT_S
    while time.monotonic() < deadline:
        for path in set(printer.output_dir.glob(f"{job_name}*.pdf")) - before:
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


def test_print_from_the_dock_through_cups_records_the_original(
    qtbot, make_dock, fills: DemoFills, services: Services, request: pytest.FixtureRequest
) -> None:
    cups: CupsPdfPrinter = request.getfixturevalue("cups_pdf_printer")
    fill = fills.never_printed
    job_name = f"RxBench-label-{rx(fill)}"
    before = set(cups.output_dir.glob(f"{job_name}*.pdf"))
    dock = make_dock(None, printer=cups.name)
    show(qtbot, dock, fill)

    row = print_and_wait(qtbot, dock)

    assert (row.kind, row.destination, row.reason) == (
        PrintKind.ORIGINAL,
        cups.name,
        "",
    )
    path = wait_for_new_pdf(cups, job_name, before)
    width, height = page_sizes(path)[0]
    assert {round(width), round(height)} == {288, 162}  # CUPS may turn the page
    text = pdf_text(path)
    assert fill.patient_name.split(", ")[1] in text and f"RX{rx(fill)}" in text
    assert "REPRINT" not in text
    [recorded] = prints_of(services, fill)
    assert (recorded.kind, recorded.destination) == ("original", cups.name)
    assert dock.message.text() == f"Rx {rx(fill)}: 1 label(s) sent to {cups.name} (original)."
    path.unlink()


def test_a_reprint_asks_why_is_marked_reprint_and_recorded_with_its_reason(
    qtbot, make_dock, fills: DemoFills, services: Services, demo: Actor, pdf_printers, modal
) -> None:
    fill = fills.printed
    dock = make_dock(pdf_printers)
    show(qtbot, dock, fill)
    modal.reason = "Label torn at the counter"

    row = print_and_wait(qtbot, dock)

    assert modal.reasons_asked == 1
    assert (row.kind, row.reason, row.destination) == (
        PrintKind.REPRINT,
        "Label torn at the counter",
        PRINTER,
    )
    [job] = pdf_printers.jobs
    assert job.printer == PRINTER and job.name == f"RxBench-label-{rx(fill)}"
    assert "REPRINT" in pdf_text(job.path)
    assert [(p.kind, p.reason) for p in prints_of(services, fill)] == [
        ("original", ""),
        ("reprint", "Label torn at the counter"),
    ]
    [event] = [
        e
        for e in audit_trail(services)
        if (e.entity_type, e.entity_id) == ("label_prints", str(row.id))
    ]
    assert (event.action, event.username) == ("label.reprinted", demo.username)
    assert event.summary["reason"] == "Label torn at the counter"
    qtbot.waitUntil(lambda: dock.history.rowCount() == 2)
    assert [dock.history.item(0, column).text() for column in (1, 2, 4, 6)] == [
        "Reprint",
        "tech",
        PRINTER,
        "Label torn at the counter",
    ]


def test_a_reprint_without_a_reason_is_refused_and_nothing_printed_or_recorded(
    qtbot, make_dock, fills: DemoFills, services: Services, pdf_printers, modal
) -> None:
    fill = fills.reprinted
    recorded = prints_of(services, fill)
    dock = make_dock(pdf_printers)
    show(qtbot, dock, fill)

    dock.print_action.trigger()

    qtbot.waitUntil(lambda: dock.message.text().startswith("Reprint cancelled"))
    assert modal.reason_refusals == [BLANK_REASON_TEXT]
    assert pdf_printers.jobs == []
    assert [p.id for p in prints_of(services, fill)] == [p.id for p in recorded]
    assert [p.reason for p in recorded] == ["", REPRINT_REASON]
    assert dock.print_action.isEnabled()


def test_a_printer_that_vanished_is_asked_for_again_and_nothing_prints_meanwhile(
    qtbot, make_dock, fills: DemoFills, services: Services, pdf_printers, modal, store
) -> None:
    fill = fills.never_printed
    dock = make_dock(pdf_printers, printer="Zebra-Gone")
    show(qtbot, dock, fill)

    # At start: the remembered printer is gone, so the dock asks at once (cancelled here).
    qtbot.waitUntil(lambda: len(modal.printer_questions) == 1)
    assert "“Zebra-Gone” is no longer installed" in modal.printer_questions[0]
    assert not dock.printer_warning.isHidden()
    assert dock.printer_choice.currentText() == CHOOSE_PRINTER_TEXT

    dock.print_action.trigger()  # asks again before printing; cancelled: nothing prints

    assert len(modal.printer_questions) == 2
    assert dock.message.text() == "No label printer is chosen: nothing was printed."
    assert pdf_printers.jobs == [] and prints_of(services, fill) == []

    modal.printer = PRINTER
    row = print_and_wait(qtbot, dock)

    assert len(modal.printer_questions) == 3
    assert (row.destination, row.kind) == (PRINTER, PrintKind.ORIGINAL)
    assert [job.printer for job in pdf_printers.jobs] == [PRINTER]
    assert store().value(PRINTER_KEY) == PRINTER and dock.printer_warning.isHidden()


def test_a_print_that_failed_is_reported_retried_and_recorded_only_once_it_printed(
    qtbot, make_dock, fills: DemoFills, services: Services, pdf_printers, modal
) -> None:
    fill = fills.never_printed
    out_of_labels = f"The printer “{PRINTER}” is stopped or reports an error (out of labels)."
    pdf_printers.faults = [PrinterOffline(out_of_labels), PrinterOffline(out_of_labels)]
    modal.retries = 1  # Retry once, then Close
    dock = make_dock(pdf_printers)
    show(qtbot, dock, fill)

    dock.print_action.trigger()

    qtbot.waitUntil(lambda: dock.message.text().startswith(f"Rx {rx(fill)}: {out_of_labels}"))
    assert modal.boxes == [f"{out_of_labels}\n\n{PRINTER_HINT}"] * 2
    assert pdf_printers.jobs == [] and prints_of(services, fill) == []

    row = print_and_wait(qtbot, dock)  # the labels are loaded again: it prints

    assert row.kind is PrintKind.ORIGINAL
    assert len(pdf_printers.jobs) == 1 and len(prints_of(services, fill)) == 1


def test_verify_asks_for_a_reprint_when_a_lot_expires_before_the_printed_date(
    qtbot, make_dock, fills: DemoFills, services: Services, demo: Actor, pdf_printers
) -> None:
    """The label printed before any bottle promises a year; a bottle from a lot expiring in two
    months makes Verify demand a reprint, which the dock shows until it is reprinted."""
    fill = fills.never_printed
    dock = make_dock(pdf_printers)
    show(qtbot, dock, fill)
    print_and_wait(qtbot, dock)
    with services.database.reading() as session:
        package_id = session.scalars(
            select(Prescription.package_id)
            .join(Fill, Fill.prescription_id == Prescription.id)
            .where(Fill.id == fill.fill_id)
        ).one()
    receive_lot(services, demo, package_id, lot_number="SOON-1")
    with services.database.unit_of_work(demo) as uow:
        lot = uow.session.scalars(select(StockLot).where(StockLot.lot_number == "SOON-1")).one()
        lot.expiry = date.today() + timedelta(days=60)
        uow.audit(SEEDED, lot)
    verification = services.verification
    view = verification.open_fill(demo, fill.fill_id)
    upc = package_upc(services, package_id)
    judged = verification.judge(demo, fill.fill_id, text=upc, lot_number="SOON-1")
    assert judged.suggested_quantity is not None
    verification.accept_bottle(
        demo,
        fill.fill_id,
        text=upc,
        manual=False,
        quantity=judged.suggested_quantity,
        expected_version=view.version,
        lot_number="SOON-1",
    )

    with qtbot.waitSignal(dock.loaded, timeout=LOAD_TIMEOUT_MS):
        dock.reload()

    needed = verification.view(demo, fill.fill_id).label_reprint_needed
    assert needed and "lot SOON-1 expires" in needed
    assert dock.reprint_needed.text() == needed and not dock.reprint_needed.isHidden()


# --- PDF, test page, workstation choices -------------------------------------------------------


def test_export_pdf_writes_the_label_as_previewed_audited_and_not_a_print(
    qtbot, make_dock, fills: DemoFills, services: Services, tmp_path: Path
) -> None:
    fill = fills.spanish
    recorded = prints_of(services, fill)
    dock = make_dock(None)
    show(qtbot, dock, fill)

    spanish = dock.export_pdf(tmp_path / "spanish.pdf")
    qtbot.waitUntil(lambda: dock.message.text().startswith("Saved"))
    dock.english_action.trigger()
    english = dock.export_pdf(tmp_path / "english.pdf")
    qtbot.waitUntil(lambda: str(english) in dock.message.text())

    assert spanish is not None and english is not None
    assert set(page_sizes(spanish)) == set(page_sizes(english)) == {THERMAL_PAGE}
    assert "Tome 5 mL" in pdf_text(spanish) and "Take 5 mL" in pdf_text(english)
    assert "REPRINT" not in pdf_text(spanish)  # an export is not a print
    assert [p.id for p in prints_of(services, fill)] == [p.id for p in recorded]
    exported = [e for e in audit_trail(services) if e.action == "label.exported"]
    assert [e.summary["path"] for e in exported] == [str(spanish), str(english)]
    assert {e.entity_id for e in exported} == {str(fill.fill_id)}


def test_the_test_page_has_the_printer_offset_and_choices_are_remembered_per_printer(
    qtbot, make_dock, fills: DemoFills, pdf_printers, store
) -> None:
    pdf_printers.names.append("Label-Sheet-2")
    dock = make_dock(pdf_printers)
    show(qtbot, dock, fills.never_printed)

    dock.offset_x.setValue(1.5)
    dock.offset_y.setValue(-0.5)
    dock.stock_choice.setCurrentIndex(BUILT_IN_STOCKS.index(SHEET))
    dock.test_page_action.trigger()

    assert pdf_printers.calibrations == [(PRINTER, SHEET.name, (1.5, -0.5))]
    text = pdf_text(pdf_printers.folder / "calibration-1.pdf")
    assert "Offset in effect: +1.5 mm right, -0.5 mm down" in text
    assert dock.message.text().startswith(f"Test page sent to {PRINTER}")
    assert store().value(STOCK_KEY) == SHEET.name

    again = make_dock(pdf_printers, printer=None)
    show(qtbot, again, fills.never_printed)
    assert again.stock() == SHEET and again.printer_choice.currentText() == PRINTER
    assert (again.offset_x.value(), again.offset_y.value()) == (1.5, -0.5)
    again.set_printer("Label-Sheet-2")  # each printer keeps its own nudge
    assert (again.offset_x.value(), again.offset_y.value()) == (0.0, 0.0)
    assert again.offset(PRINTER) == (1.5, -0.5)
    assert PRINTER in str(store().value(OFFSETS_KEY))


# --- the window: batches from the queue, live updates -------------------------------------------


@pytest.fixture
def window(
    qtbot, ui_context: UiContext, services: Services, demo: Actor, pdf_printers
) -> Iterator[MainWindow]:
    ui_context.qsettings().setValue(PRINTER_KEY, PRINTER)
    session = SessionController(services, idle_minutes=5)
    window = MainWindow(ui_context, session, label_printing=pdf_printers.printing())
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.all_docks_loaded, timeout=LOAD_TIMEOUT_MS):
        session.sign_in_as(demo)
    yield window
    window.shutdown()


def select_in_queue(window: MainWindow, chosen: list[FillRow]) -> None:
    queue = window.fill_queue
    queue.set_stage(None)
    selection = queue.table.selectionModel()
    selection.clearSelection()
    for fill in chosen:
        row = next(n for n, each in enumerate(queue.model.rows) if each.fill_id == fill.fill_id)
        index = queue.proxy.mapFromSource(queue.model.index(row, 0))
        selection.select(
            index,
            selection.SelectionFlag.Select | selection.SelectionFlag.Rows,
        )


def test_a_batch_from_the_queue_prints_in_turn_skips_the_refused_and_asks_one_reason(
    qtbot, window: MainWindow, fills: DemoFills, services: Services, pdf_printers, modal
) -> None:
    chosen = [fills.never_printed, fills.before_review, fills.printed, fills.three_containers]
    select_in_queue(window, chosen)
    shown_order = [each.fill_id for each in window.fill_queue.selected_fills()]
    assert sorted(shown_order) == sorted(fill.fill_id for fill in chosen)
    modal.reason = "Labels smudged by a spill"

    window.fill_queue.table.setFocus()
    with qtbot.waitSignal(window.label.batch_finished, timeout=LOAD_TIMEOUT_MS) as finished:
        qtbot.keyClick(window.fill_queue.table, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)

    outcome: BatchOutcome = finished.args[0]
    printable = [i for i in shown_order if i != fills.before_review.fill_id]
    refusal = services.labels.printing_refusal(window.label._actor(), fills.before_review.fill_id)
    assert outcome.printed == printable and outcome.not_printed == []
    assert outcome.refused == [(fills.before_review.fill_id, refusal)]
    assert modal.reasons_asked == 1  # one reason for both reprints
    assert [job.name for job in pdf_printers.jobs] == [
        f"RxBench-label-{rx(window.fill_queue.row_for(i))}" for i in printable
    ]
    assert modal.progress and all(
        re.fullmatch(r"Printing Rx \d+-\d+ \(\d of 3\)…", text) for text in modal.progress
    )
    qtbot.waitUntil(lambda: len(modal.boxes) == 1)
    assert "Printed the labels of 3 fills." in modal.boxes[0]
    assert f"• {refusal}" in modal.boxes[0]
    last = {
        fill.fill_id: prints_of(services, fill)[-1]
        for fill in chosen
        if fill is not fills.before_review
    }
    assert (last[fills.never_printed.fill_id].kind, last[fills.never_printed.fill_id].reason) == (
        "original",
        "",
    )
    for reprinted in (fills.printed, fills.three_containers):
        assert (last[reprinted.fill_id].kind, last[reprinted.fill_id].reason) == (
            "reprint",
            "Labels smudged by a spill",
        )
    assert last[fills.three_containers.fill_id].label_count == 3
    assert prints_of(services, fills.before_review) == []


def test_cancelling_a_batch_stops_after_the_label_being_printed(
    qtbot, window: MainWindow, fills: DemoFills, services: Services, pdf_printers, modal
) -> None:
    chosen = [fills.never_printed, fills.printed, fills.three_containers]
    select_in_queue(window, chosen)
    order = [each.fill_id for each in window.fill_queue.selected_fills()]
    modal.reason = "Labels smudged by a spill"
    before = {p.id for p in label_prints(services)}

    def press_cancel() -> None:
        [progress] = [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, QProgressDialog) and w.isVisible()
        ]
        qtbot.mouseClick(progress.findChild(QPushButton), Qt.MouseButton.LeftButton)

    pdf_printers.while_printing = press_cancel
    with qtbot.waitSignal(window.label.batch_finished, timeout=LOAD_TIMEOUT_MS) as finished:
        window.fill_queue.request_labels()

    outcome: BatchOutcome = finished.args[0]
    assert (outcome.printed, outcome.not_printed) == (order[:1], order[1:])
    assert len(pdf_printers.jobs) == 1
    assert [p.fill_id for p in label_prints(services) if p.id not in before] == order[:1]
    qtbot.waitUntil(lambda: len(modal.boxes) == 1)
    assert "Not printed: 2 fills." in modal.boxes[0]


def test_a_change_made_elsewhere_rerenders_the_preview(
    qtbot, window: MainWindow, fills: DemoFills, services: Services, demo: Actor
) -> None:
    fill = fills.never_printed
    with qtbot.waitSignal(window.label.loaded, timeout=LOAD_TIMEOUT_MS):
        window.select_fill(fill)
    assert len(window.label.shown_contents()) == 1

    elsewhere = replace(demo, workstation="counter-2")
    services.labels.set_containers(elsewhere, fill.fill_id, 2, expected_version=fill.version)

    qtbot.waitUntil(lambda: len(window.label.shown_contents()) == 2, timeout=LOAD_TIMEOUT_MS)
    assert window.label.picture.accessibleDescription().endswith("container 1 of 2")
    assert window.label.position.text().startswith("Label 1 of ")

"""Sending labels to the workstation's label printer: the printer and its offsets as remembered,
a job offered Retry while the printer is offline, the print recorded only once it was sent, and
batches of fills printed in turn with progress."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from app.domain.labels import LabelContent, LabelStock
from app.errors import NotFound, PrinterNotFound, RxBenchError
from app.services.labels import LabelPrintRow, LabelRefused, LabelService
from app.services.unit_of_work import Actor
from ui.dialogs.label_printer import ask_label_printer
from ui.dialogs.reason import ask_reason
from ui.errors import explain, is_environment_fault, show_error
from ui.labels import output
from ui.labels.output import PrintOutcome
from ui.tasks import TaskRunner

# Workstation choices, kept in the window-state QSettings file.
STOCK_KEY = "labels/stock"
PRINTER_KEY = "labels/printer"
OFFSETS_KEY = "labels/offsets"  # JSON {printer: [mm right, mm down]}: printer names hold "/"
EXPORT_FOLDER_KEY = "labels/export_folder"
NO_PRINTER_TEXT = "No label printer is chosen: nothing was printed."
REPRINT_CANCELLED_TEXT = "Reprint cancelled: no reason was given, nothing was printed."


@dataclass(frozen=True)
class LabelPrinting:
    """The printing system labels go through: the desktop's, or a test's own."""

    printers: Callable[[], list[str]] = output.available_printers
    print_labels: Callable[..., PrintOutcome] = output.print_labels
    print_calibration_page: Callable[..., PrintOutcome] = output.print_calibration_page


class PrinterSettings:
    """The workstation's label choices: printer, each printer's offset, stock, export folder."""

    def __init__(self, store: Callable[[], QSettings]) -> None:
        self._store = store

    @property
    def printer(self) -> str:
        """As remembered, installed or not."""
        return str(self._store().value(PRINTER_KEY, "") or "")

    @printer.setter
    def printer(self, name: str) -> None:
        self._store().setValue(PRINTER_KEY, name)

    @property
    def stock_name(self) -> str:
        return str(self._store().value(STOCK_KEY, "") or "")

    @stock_name.setter
    def stock_name(self, name: str) -> None:
        self._store().setValue(STOCK_KEY, name)

    @property
    def export_folder(self) -> str:
        return str(self._store().value(EXPORT_FOLDER_KEY, "") or "")

    @export_folder.setter
    def export_folder(self, folder: str) -> None:
        self._store().setValue(EXPORT_FOLDER_KEY, folder)

    def offset(self, printer: str) -> tuple[float, float]:
        """The nudge (mm right, mm down) labels print with on `printer`."""
        x, y = self._offsets().get(printer, (0.0, 0.0))
        return float(x), float(y)

    def set_offset(self, printer: str, x: float, y: float) -> None:
        offsets = self._offsets()
        offsets[printer] = [x, y]
        self._store().setValue(OFFSETS_KEY, json.dumps(offsets))

    def _offsets(self) -> dict[str, list[float]]:
        try:
            stored = json.loads(str(self._store().value(OFFSETS_KEY, "{}")))
        except ValueError:
            return {}
        return stored if isinstance(stored, dict) else {}


@dataclass(frozen=True)
class Sent:
    """A job sent (`outcome`), or why not (`problem`, already said to the person)."""

    outcome: PrintOutcome | None
    problem: str = ""


def rx_of(contents: Sequence[LabelContent]) -> str:
    return f"{contents[0].rx_number}-{contents[0].fill_number}"


class LabelSender(QObject):
    """What one fill's print and a batch share: the printer checked installed before each job
    (never the system's default), Retry while it is offline or out of labels, and the print
    recorded through the label service only once the job was sent.

    Signals: printer_changed()  # a printer was chosen again
    """

    printer_changed = Signal()

    def __init__(
        self,
        *,
        printing: LabelPrinting,
        settings: PrinterSettings,
        labels: LabelService,
        tasks: TaskRunner,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.printing = printing
        self.settings = settings
        self._labels = labels
        self._tasks = tasks

    def ensure_printer(self, parent: QWidget) -> str | None:
        """The label printer, installed now; else the person chooses one (None: none, and
        nothing may print)."""
        chosen, installed = self.settings.printer, self.printing.printers()
        if chosen and chosen in installed:
            return chosen
        answer = ask_label_printer(parent, installed, missing=chosen or None)
        if answer is not None:
            self.settings.printer = answer
        self.printer_changed.emit()
        return answer

    def send(
        self, parent: QWidget, contents: Sequence[LabelContent], stock: LabelStock, printer: str
    ) -> Sent:
        """Print the labels; a vanished printer is chosen again, a stopped one offered Retry."""
        rx = rx_of(contents)
        while True:
            try:
                return Sent(
                    self.printing.print_labels(
                        contents,
                        stock,
                        printer,
                        offset=self.settings.offset(printer),
                        job_name=f"RxBench-label-{rx}",
                    )
                )
            except PrinterNotFound:
                chosen = self.ensure_printer(parent)
                if chosen is None:
                    return Sent(None, f"Rx {rx}: {NO_PRINTER_TEXT}")
                printer = chosen
            except RxBenchError as exc:
                if not show_error(parent, exc):
                    return Sent(None, f"Rx {rx}: {explain(exc)[1]}")

    def record(
        self,
        parent: QWidget,
        actor: Actor,
        fill_id: int,
        contents: Sequence[LabelContent],
        stock: LabelStock,
        outcome: PrintOutcome,
        reason: str,
        done: Callable[[LabelPrintRow | None, str], None],
    ) -> None:
        """Record the sent job on a worker thread (Retry while the database is unreachable);
        `done` gets the print recorded, or None and why it could not be."""
        first = contents[0]

        def record() -> LabelPrintRow:
            return self._labels.record_print(
                actor,
                fill_id,
                destination=outcome.destination,
                stock_name=stock.name,
                label_count=len(contents),
                language=first.language,
                discard_after=first.discard_after,
                reason=reason,
            )

        def failed(exc: BaseException) -> None:
            if is_environment_fault(exc) and show_error(parent, exc):
                self.record(parent, actor, fill_id, contents, stock, outcome, reason, done)
                return
            done(
                None,
                f"Rx {rx_of(contents)}'s label was sent to {outcome.destination}, but the print "
                f"could not be recorded: {explain(exc)[1]} Tell the pharmacist.",
            )

        self._tasks.run(record, on_success=lambda row: done(row, ""), on_failure=failed)


@dataclass(frozen=True)
class _Item:
    fill_id: int
    contents: tuple[LabelContent, ...]
    refusal: str  # "" when the label may print


@dataclass
class BatchOutcome:
    """What a batch did: fills printed and recorded, refused (with why), and not printed."""

    printed: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    not_printed: list[int] = field(default_factory=list)
    problem: str = ""  # why the batch stopped early, if it did

    def summary(self) -> str:
        lines = [f"Printed the labels of {_fills(len(self.printed))}."]
        if self.refused:
            lines.append(f"Skipped {_fills(len(self.refused))} whose label may not print:")
            lines.extend(f"• {reason}" for _, reason in self.refused)
        if self.not_printed:
            lines.append(f"Not printed: {_fills(len(self.not_printed))}.")
        if self.problem:
            lines.append(self.problem)
        return "\n".join(lines)


def _fills(count: int) -> str:
    return "1 fill" if count == 1 else f"{count} fills"


class LabelBatch(QObject):
    """Several fills' labels printed in turn on one printer, with a cancellable progress
    dialog: refused fills are skipped and listed, reprints share one reason asked once.

    Signals: finished(object)  # the BatchOutcome
    """

    finished = Signal(object)

    def __init__(
        self,
        *,
        sender: LabelSender,
        labels: LabelService,
        tasks: TaskRunner,
        actor: Actor,
        stock: LabelStock,
        printer: str,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._parent = parent
        self._sender = sender
        self._labels = labels
        self._tasks = tasks
        self._actor = actor
        self._stock = stock
        self._printer = printer
        self._reason = ""
        self._items: list[_Item] = []
        self.outcome = BatchOutcome()
        self.progress: QProgressDialog | None = None

    def start(self, fill_ids: Sequence[int]) -> None:
        """Read every fill's labels (a worker thread), ask the reason, then print in turn."""
        ids, actor = list(fill_ids), self._actor
        self._tasks.run(
            lambda: self._prepare(actor, ids),
            on_success=self._prepared,
            on_failure=lambda exc: self._done(not_printed=ids, problem=explain(exc)[1]),
        )

    def _prepare(self, actor: Actor, fill_ids: list[int]) -> list[_Item]:
        """Runs on a worker thread: every fill's labels as they would print, or its refusal."""
        items = []
        for fill_id in fill_ids:
            try:
                contents = tuple(self._labels.contents(actor, fill_id, for_print=True))
            except (LabelRefused, NotFound) as refused:
                items.append(_Item(fill_id, (), refused.message))
            else:
                items.append(_Item(fill_id, contents, ""))
        return items

    def _prepared(self, items: list[_Item]) -> None:
        self.outcome.refused = [(item.fill_id, item.refusal) for item in items if item.refusal]
        self._items = [item for item in items if not item.refusal]
        reprints = [rx_of(item.contents) for item in self._items if item.contents[0].reprint]
        if reprints:
            # Asked before the progress shows: a window-modal dialog blocks its window's others.
            answer = ask_reason(
                self._parent,
                title="Reprint labels",
                question=(
                    f"{len(reprints)} of these labels were printed before "
                    f"({', '.join(f'Rx {rx}' for rx in reprints)}). Why print them again? They "
                    "are marked REPRINT, and the reason is kept with each fill's history."
                ),
                action_text="Reprint",
            )
            if not answer:
                self._done(
                    not_printed=[item.fill_id for item in self._items],
                    problem=REPRINT_CANCELLED_TEXT,
                )
                return
            self._reason = answer
        progress = QProgressDialog("", "Cancel", 0, max(1, len(self._items)), self._parent)
        progress.setWindowTitle("Printing labels — RxBench")
        progress.setAccessibleName("Label batch progress")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        progress.setAutoClose(False)
        progress.setAutoReset(False)
        self.progress = progress
        self._next(progress, 0)

    def _next(self, progress: QProgressDialog, index: int) -> None:
        progress.setValue(index)
        rest = [item.fill_id for item in self._items[index:]]
        if index == len(self._items) or progress.wasCanceled():
            self._done(not_printed=rest)
            return
        item = self._items[index]
        rx = rx_of(item.contents)
        progress.setLabelText(f"Printing Rx {rx} ({index + 1} of {len(self._items)})…")
        progress.show()
        # Printer questions and faults go over the progress dialog, which blocks the window.
        sent = self._sender.send(progress, item.contents, self._stock, self._printer)
        if sent.outcome is None:
            self._done(not_printed=rest, problem=sent.problem)
            return
        self._printer = sent.outcome.destination

        def recorded(row: LabelPrintRow | None, problem: str) -> None:
            if row is None:
                self._done(not_printed=rest[1:], problem=problem)
                return
            self.outcome.printed.append(item.fill_id)
            self._next(progress, index + 1)

        reason = self._reason if item.contents[0].reprint else ""
        self._sender.record(
            progress,
            self._actor,
            item.fill_id,
            item.contents,
            self._stock,
            sent.outcome,
            reason,
            recorded,
        )

    def _done(self, *, not_printed: list[int], problem: str = "") -> None:
        self.outcome.not_printed = not_printed
        self.outcome.problem = problem
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
        self.finished.emit(self.outcome)

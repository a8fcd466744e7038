"""Verification at the fill station: each stock bottle scanned, judged at once, counted, taken.

The dock waits for scans through the ScanRouter whatever widget has the focus. A scan is judged
by VerificationService off the GUI thread (a lost network must not freeze the window; the hop
costs well under a millisecond, see bench/scan_to_verdict_ui.py); a bottle that needs nothing
more is accepted straight away, one that needs an answer (lot and expiry, a counted quantity,
the package size, a C-II count) asks in a small prompt first. Stops are loud: a red banner in
the service's words and the stop sound. A bottle the catalogue lacks is never accepted here: a
pharmacist may add its product from the scan, and the bottle is then scanned again. The scan
field takes the focus back after everything.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.adapters.sound import Sounds
from app.domain.barcodes import ScanKind, interpret_scan
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.errors import EnvironmentFault, RxBenchError, StaleRecord
from app.services.fills import FillRow
from app.services.unit_of_work import Actor
from app.services.verification import (
    BottleAccepted,
    BottleVoided,
    NextStep,
    ScanJudgement,
    VerificationService,
    VerificationView,
)
from ui.dialogs.add_product import ask_to_add_product
from ui.dialogs.bottle_prompts import ask_lot_and_expiry, ask_quantity
from ui.dialogs.reason import ask_reason
from ui.docks.base import ActorSource, Dock
from ui.errors import explain, show_error
from ui.models.bottles import BottlesModel, verdict_text
from ui.models.formatting import date_text, quantity_text
from ui.scanner import ScanLineEdit, ScanRouter
from ui.tasks import TaskRunner
from ui.widgets.verdict_banner import Tone, VerdictBanner

NO_FILL_TEXT = (
    "No fill is open for verification. Press Enter on a fill at “Fill and scan” in the queue, "
    "or scan its Rx label; then scan each stock bottle."
)
SCANNED_WITHOUT_FILL_TEXT = (
    "That bottle was not recorded: no fill is open. Scan the fill's Rx label (or press Enter "
    "on it in the queue) first, then scan the bottle again."
)
NOT_AT_FILL_STEP_TEXT = "Rx {rx} is at “{state}”: there are no bottles to scan."
DATABASE_LOST_TITLE = "Database unreachable — nothing was recorded"
COMPLETE_TEXT = "Complete — to &pharmacist"
COMPLETE_SHORTCUT = "Ctrl+Return"
VOID_SHORTCUT = "Ctrl+Del"
CANCELLED_TEXT = "Not used: the bottle was not recorded. Scan it again when ready."
ADD_PRODUCT_TEXT = "&Add product from this scan… (pharmacist)"
RESCAN_AFTER_ADDING_TEXT = (
    "Now scan the bottle again: it is judged against the prescription like any other bottle."
)
_REPRINT_STYLE = (
    "QLabel { background: #fff1cc; color: #5c3b00; border: 2px solid #d99a00; padding: 4px; }"
)

Cosign = Callable[[str], Actor | None]
_FACT_LABELS = {"NDC": "Package NDC:", "Package": "Package size:"}


@dataclass
class _Scan:
    """One scan on its way through judge → prompts → accept; kept for Retry."""

    text: str
    manual: bool
    judgement: ScanJudgement | None = None
    accept: dict[str, Any] | None = field(default=None)


def _fact_label(name: str) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setAccessibleName(name)
    return label


class VerifyDock(Dock):
    """Signals: fill_changed(object)  # the FillRow after Complete sent it to the pharmacist
    fills_stale()  # another workstation changed the fill: the queue should reload
    rx_label_scanned(str)  # an Rx label scanned while no fill is open: open its fill
    verdict_shown(str)  # the banner's tone after each scan's outcome is painted
    """

    fill_changed = Signal(object)
    fills_stale = Signal()
    rx_label_scanned = Signal(str)
    verdict_shown = Signal(str)

    FACTS = (
        "Rx #",
        "Patient",
        "Drug",
        "Strength",
        "Dosage form",
        "Manufacturer",
        "NDC",
        "Package",
        "Quantity",
        "Directions",
    )

    def __init__(
        self,
        *,
        verification: VerificationService,
        tasks: TaskRunner,
        actor: ActorSource,
        sounds: Sounds,
        cosign: Cosign,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Verify", "verify_dock", parent)
        self._verification = verification
        self._tasks = tasks
        self._actor = actor
        self.sounds = sounds
        self._cosign = cosign
        self.fill: FillRow | None = None
        self.view: VerificationView | None = None
        self._version = 0
        self._current: _Scan | None = None  # the scan being judged or accepted
        self._override_for: _Scan | None = None  # a judged scan waiting on a pharmacist
        self._unknown: _Scan | None = None  # a bottle the catalogue lacks, judged last
        self._retry_scan: _Scan | None = None
        self._waiting: deque[tuple[str, bool]] = deque()
        self._opening: int | None = None

        content = QWidget()
        layout = QVBoxLayout(content)
        self.schedule = QLabel()
        self.schedule.setAccessibleName("Controlled substance schedule")
        self.schedule.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.schedule.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.schedule.setFont(font)
        self.schedule.setStyleSheet("QLabel { background: #b3261e; color: white; padding: 6px; }")
        self.placeholder = QLabel(NO_FILL_TEXT)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAccessibleName("Verify instructions")
        layout.addWidget(self.schedule)
        layout.addWidget(self.placeholder)

        self.fields: dict[str, QLabel] = {}
        facts = QFormLayout()
        facts.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        facts.setVerticalSpacing(2)
        for name in self.FACTS:
            self.fields[name] = _fact_label(name)
            if name in ("Drug", "Strength", "NDC"):
                bold = self.fields[name].font()
                bold.setBold(True)
                self.fields[name].setFont(bold)
            facts.addRow(_FACT_LABELS.get(name, f"{name}:"), self.fields[name])
        layout.addLayout(facts)

        self.banner = VerdictBanner()
        self.override_button = QPushButton("Pharmacist &override…")
        self.override_button.setAccessibleName("Pharmacist override")
        self.override_button.clicked.connect(self.override)
        self.retry_button = QPushButton("&Retry")
        self.retry_button.setAccessibleName("Retry the scan")
        self.retry_button.clicked.connect(self.retry)
        self.add_product_button = QPushButton(ADD_PRODUCT_TEXT)
        self.add_product_button.setAccessibleName("Add product from this scan (pharmacist)")
        self.add_product_button.clicked.connect(self.add_product)
        self._banner_buttons = (self.override_button, self.retry_button, self.add_product_button)
        for button in self._banner_buttons:
            button.setStyleSheet("QPushButton { color: black; background: white; padding: 4px; }")
            button.hide()
            self.banner.buttons.addWidget(button)
        layout.addWidget(self.banner)

        scan_row = QHBoxLayout()
        scan_label = QLabel("&Scan bottle:")
        self.scan_field = ScanLineEdit(require_scanning=True)
        self.scan_field.setAccessibleName("Scan bottle")
        scan_label.setBuddy(self.scan_field)
        self.scan_field.entry.connect(self._entry)
        scan_row.addWidget(scan_label)
        scan_row.addWidget(self.scan_field, 1)
        layout.addLayout(scan_row)

        self.bottles = BottlesModel(self)
        self.table = QTableView()
        self.table.setAccessibleName("Scanned bottles")
        self.table.setModel(self.bottles)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)  # the warnings
        # A handful of rows: measured again whenever they change.
        self.bottles.modelReset.connect(self._fit_columns)
        self.bottles.rowsInserted.connect(self._fit_columns)
        self.bottles.dataChanged.connect(self._fit_columns)
        self.table.setMinimumHeight(90)
        layout.addWidget(self.table, 1)

        self.label_reprint = QLabel()
        self.label_reprint.setWordWrap(True)
        self.label_reprint.setTextFormat(Qt.TextFormat.PlainText)
        self.label_reprint.setStyleSheet(_REPRINT_STYLE)
        self.label_reprint.setAccessibleName("Label reprint needed")
        self.label_reprint.hide()
        layout.addWidget(self.label_reprint)

        self.total = QLabel()
        self.total.setAccessibleName("Quantity scanned")
        total_font = self.total.font()
        total_font.setBold(True)
        self.total.setFont(total_font)
        buttons = QHBoxLayout()
        self.void_button = QPushButton(f"&Void bottle… ({_shown(VOID_SHORTCUT)})")
        self.void_button.setAccessibleName("Void the selected bottle")
        self.void_button.clicked.connect(self.void_selected)
        self.complete_button = QPushButton(f"{COMPLETE_TEXT} ({_shown(COMPLETE_SHORTCUT)})")
        self.complete_button.setAccessibleName("Complete — to pharmacist")
        self.complete_button.clicked.connect(self.complete)
        buttons.addWidget(self.total, 1)
        buttons.addWidget(self.void_button)
        buttons.addWidget(self.complete_button)
        layout.addLayout(buttons)

        for sequence, slot in (
            (COMPLETE_SHORTCUT, self.complete),
            (VOID_SHORTCUT, self.void_selected),
        ):
            shortcut = QShortcut(QKeySequence(sequence), content)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(content)
        self.setWidget(scroll)
        self._show_facts()

    def _fit_columns(self) -> None:
        for column in range(BottlesModel.WARNINGS):  # the warnings take what is left
            self.table.resizeColumnToContents(column)

    # --- the main window's side -----------------------------------------------------------------

    def attach_scanner(self, router: ScanRouter) -> None:
        """Wait for scans: while this dock shows, bottle and Rx label scans come here."""
        router.push_receiver(self)

    def accept_scan(self, text: str, *, manual: bool) -> None:
        """A scan routed to the dock shows in the scan field, which passes it on as an entry."""
        self.scan_field.accept_scan(text, manual=manual)

    def focus_target(self) -> QWidget:
        return self.scan_field

    def reload(self) -> None:
        actor = self._actor()
        if self.view is not None and actor is not None and self._current is None:
            self._refresh(actor)
        self.loaded.emit()

    def show_fill(self, fill: FillRow | None) -> None:
        """The fill the queue selected: its facts; an open verification of another fill closes.

        Opening for verification (which takes the fill) is `open_fill`'s, on purpose: a queue
        reload reselects the fill and must not take it again.
        """
        if self.view is not None and (fill is None or fill.fill_id != self.view.fill_id):
            self._close()
        elif self.view is not None and fill is not None and fill.state is not FillState.FILL:
            self._close()
            self._say(Tone.INFO, f"Rx {fill.rx_number}-{fill.fill_number}: {fill.state.label}.", "")
        self.fill = fill
        self._show_facts()

    def open_fill(self, fill: FillRow) -> None:
        """Take the fill for verification and show what it needs; refusals are said."""
        actor = self._actor()
        if actor is None:
            return
        self.show_fill(fill)
        if self.view is not None and self.view.fill_id == fill.fill_id:
            self._refocus()
            return
        if fill.state is not FillState.FILL:
            self._say(
                Tone.INFO,
                NOT_AT_FILL_STEP_TEXT.format(
                    rx=f"{fill.rx_number}-{fill.fill_number}", state=fill.state.label
                ),
                "",
            )
            return
        self._opening = fill.fill_id
        verification = self._verification
        self._tasks.run(
            lambda: verification.open_fill(actor, fill.fill_id),
            on_success=self._opened,
            on_failure=self._open_failed,
        )

    # --- opening and closing ----------------------------------------------------------------------

    def _opened(self, view: VerificationView) -> None:
        if self._opening != view.fill_id:
            return  # another fill was chosen meanwhile
        self._opening = None
        self._show_view(view)
        self._say(Tone.INFO, "Scan the first stock bottle.", "")
        self._refocus()
        self.fills_stale.emit()  # the queue shows who holds the fill now

    def _open_failed(self, exc: BaseException) -> None:
        self._opening = None
        if not isinstance(exc, RxBenchError):
            show_error(self, exc)
            return
        title, sentence = explain(exc)
        self._stop(title, sentence)

    def _show_view(self, view: VerificationView) -> None:
        self.view = view
        self._version = view.version
        self.bottles.set_rows(view.bottles)
        self.scan_field.set_require_scanning(view.policy.require_scanning)
        self._show_facts()
        self._show_totals()
        self._show_label_reprint(view.label_reprint_needed)

    def _refresh(self, actor: Actor) -> None:
        view, verification = self.view, self._verification
        assert view is not None
        self._tasks.run(
            lambda: verification.view(actor, view.fill_id),
            on_success=self._refreshed,
            on_failure=lambda exc: self._stop(*explain(exc)),
        )

    def _refreshed(self, view: VerificationView) -> None:
        if self.view is not None and self.view.fill_id == view.fill_id:
            self._show_view(view)

    def _close(self) -> None:
        self.view = None
        self._current = self._override_for = self._retry_scan = self._unknown = None
        self._waiting.clear()
        self.bottles.set_rows([])
        self._hide_banner_buttons()
        self.scan_field.clear()
        self._say(Tone.INFO, "", "")
        self._show_totals()
        self._show_label_reprint(None)

    def _hide_banner_buttons(self) -> None:
        for button in self._banner_buttons:
            button.hide()

    def _show_label_reprint(self, needed: str | None) -> None:
        """Why the fill's printed label must be reprinted before Complete, while it must."""
        self.label_reprint.setText(needed or "")
        self.label_reprint.setAccessibleDescription(needed or "")
        self.label_reprint.setVisible(needed is not None)

    def _show_facts(self) -> None:
        view, fill = self.view, self.fill
        schedule = view.dea_schedule if view else fill.dea_schedule if fill else None
        self.schedule.setVisible(bool(schedule))
        if schedule:
            self.schedule.setText(f"Controlled substance — Schedule {schedule.removeprefix('C')}")
        self.placeholder.setVisible(view is None)
        if view is not None:
            values = {
                "Rx #": f"{view.rx_number}-{view.fill_number}",
                "Patient": f"{view.patient_name} (DOB {date_text(view.patient_date_of_birth)})",
                "Drug": view.drug,
                "Strength": view.strength,
                "Dosage form": view.dosage_form,
                "Manufacturer": view.manufacturer,
                "NDC": view.ndc,
                "Package": " ".join(view.package_description.split()),
                "Quantity": f"{quantity_text(view.quantity)} {view.unit} · {view.days_supply} days",
                "Directions": view.directions,
            }
        elif fill is not None:
            values = dict.fromkeys(self.FACTS, "")
            values.update(
                {
                    "Rx #": f"{fill.rx_number}-{fill.fill_number} · {fill.state.label}",
                    "Patient": fill.patient_name,
                    "Drug": fill.drug,
                    "NDC": fill.ndc,
                    "Quantity": f"{quantity_text(fill.quantity)} · {fill.days_supply} days",
                    "Directions": fill.directions,
                }
            )
        else:
            values = dict.fromkeys(self.FACTS, "")
        for name, text in values.items():
            self.fields[name].setText(text)
        open_ = view is not None
        self.scan_field.setEnabled(open_)
        self.table.setVisible(open_)

    def _show_totals(self) -> None:
        view = self.view
        if view is None:
            self.total.clear()
            self.complete_button.setEnabled(False)
            self.void_button.setEnabled(False)
            return
        active = [row for row in self.bottles.rows if not row.voided]
        total = sum((row.quantity for row in active), Decimal(0))
        remaining = view.quantity - total
        unit = view.unit
        self.total.setText(
            f"Scanned {quantity_text(total)} of {quantity_text(view.quantity)} {unit}"
            + (f" — {quantity_text(remaining)} {unit} to go" if remaining > 0 else " — complete")
        )
        self.complete_button.setEnabled(remaining == 0 and bool(active))
        self.void_button.setEnabled(bool(active))

    # --- scans ------------------------------------------------------------------------------------

    def _entry(self, text: str, manual: bool) -> None:
        if self.view is None:
            self._scanned_without_fill(text)
            return
        if self._current is not None:
            self._waiting.append((text, manual))  # a second bottle scanned in quick succession
            return
        self._judge(_Scan(text, manual))

    def _scanned_without_fill(self, text: str) -> None:
        try:
            scan = interpret_scan(text)
        except RxBenchError:
            scan = None
        if scan is not None and scan.kind is ScanKind.RX_LABEL:
            self.scan_field.clear()
            self.rx_label_scanned.emit(text)
            return
        self._stop("No fill is open", SCANNED_WITHOUT_FILL_TEXT)

    def _judge(self, scan: _Scan) -> None:
        actor, view = self._actor(), self.view
        if actor is None or view is None:
            return
        self._current = scan
        self._override_for = self._unknown = None
        self._hide_banner_buttons()
        verification = self._verification
        self._tasks.run(
            lambda: verification.judge(actor, view.fill_id, text=scan.text, manual=scan.manual),
            on_success=lambda judgement: self._judged(scan, judgement),
            on_failure=lambda exc: self._failed(scan, exc),
        )

    def _judged(self, scan: _Scan, judgement: ScanJudgement) -> None:
        if self._current is not scan:
            return
        scan.judgement = judgement
        if judgement.verdict is None:  # this fill's own Rx label
            self._done(Tone.INFO, "Rx label", judgement.message)
            return
        if judgement.stop:
            if NextStep.PHARMACIST_ADDS_PRODUCT in judgement.next_steps:
                self._unknown = scan
                self.add_product_button.show()
            self._done_stop(f"Stop — {verdict_text(judgement.verdict).lower()}", judgement.message)
            return
        if NextStep.PHARMACIST_OVERRIDE in judgement.next_steps:
            self._override_for = scan
            self._current = None
            self._say(Tone.STOP, "Stop — a pharmacist must approve", judgement.message)
            self.override_button.show()
            self.sounds.warning()
            self._finish_scan()
            return
        if self._needs_prompt(judgement):
            self._say(Tone.WARNING, verdict_text(judgement.verdict), judgement.message)
            # After this paint: the prompts open in their own event loop.
            QTimer.singleShot(0, lambda: self._prompt_and_accept(scan, None, ""))
            return
        self._accept(scan, {"quantity": judgement.suggested_quantity})

    def _needs_prompt(self, judgement: ScanJudgement) -> bool:
        steps = set(judgement.next_steps) - {NextStep.QUANTITY}
        if steps:
            return True
        whole = judgement.package_quantity
        return whole is None or judgement.suggested_quantity != whole

    def _prompt_and_accept(self, scan: _Scan, override: Actor | None, reason: str) -> None:
        """Ask what the judgement needs, in order; a cancelled prompt records nothing."""
        judgement, view = scan.judgement, self.view
        if judgement is None or view is None or self._current is not scan:
            return
        answers: dict[str, Any] = {}
        if override is not None:
            answers.update(override=override, override_reason=reason)
        steps = judgement.next_steps
        if NextStep.CONFIRM_PACKAGE_SIZE in steps:
            if not self._confirm_package_size(judgement):
                self._cancelled()
                return
            answers["confirm_package_size"] = True
        if NextStep.LOT_AND_EXPIRY in steps:
            typed = ask_lot_and_expiry(
                self,
                question=f"{judgement.drug}: only the product barcode was read. Type the lot and "
                "expiry printed on the bottle.",
            )
            if typed is None:
                self._cancelled()
                return
            answers["lot_number"], answers["expiry"] = typed
        quantity = self._ask_quantity(judgement, view)
        if quantity is None:
            self._cancelled()
            return
        answers["quantity"] = quantity[0]
        if NextStep.CII_COUNT_TWICE in steps:
            answers["cii_count"] = quantity
        if NextStep.CII_SECOND_PERSON in steps:
            second = self._cosign(
                f"second count of {quantity_text(quantity[0])} {judgement.unit} (C-II) for Rx "
                f"{view.rx_number}-{view.fill_number}"
            )
            self._refocus()
            if second is None:
                self._cancelled()
                return
            answers["second_person"] = second
        self._accept(scan, answers)

    def _confirm_package_size(self, judgement: ScanJudgement) -> bool:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Confirm package size — RxBench")
        box.setText(judgement.message)
        box.setAccessibleName("Confirm package size")
        use = box.addButton("&Use this package", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(use)
        box.exec()
        confirmed = box.clickedButton() is use
        box.deleteLater()
        self._refocus()
        return confirmed

    def _ask_quantity(
        self, judgement: ScanJudgement, view: VerificationView
    ) -> tuple[Decimal, Decimal] | None:
        count_twice = NextStep.CII_COUNT_TWICE in judgement.next_steps
        whole = judgement.package_quantity
        suggested = judgement.suggested_quantity
        if not count_twice and whole is not None and suggested == whole:
            return whole, whole  # the whole package, the default
        remaining = f"{quantity_text(judgement.remaining)} {judgement.unit}"
        if count_twice:
            question = (
                f"Schedule II: count the units taken from this bottle (the fill needs "
                f"{remaining} more) and type the exact count twice."
            )
        else:
            holds = f"holds {quantity_text(whole)}" if whole is not None else "has no set size"
            question = (
                f"This package {holds}; the fill needs {remaining} more. Count out the units "
                "and type how many you took."
            )
        counts = ask_quantity(
            self,
            title="Schedule II count" if count_twice else "Quantity taken",
            question=question,
            unit=judgement.unit,
            suggested=suggested,
            count_twice=count_twice,
        )
        self._refocus()
        return counts

    def _accept(self, scan: _Scan, answers: dict[str, Any]) -> None:
        actor, view = self._actor(), self.view
        if actor is None or view is None:
            return
        self._current = scan
        scan.accept = answers
        verification, version = self._verification, self._version
        self._tasks.run(
            lambda: verification.accept_bottle(
                actor,
                view.fill_id,
                text=scan.text,
                manual=scan.manual,
                expected_version=version,
                **answers,
            ),
            on_success=lambda accepted: self._accepted(scan, accepted),
            on_failure=lambda exc: self._failed(scan, exc),
        )

    def _accepted(self, scan: _Scan, accepted: BottleAccepted) -> None:
        if self._current is not scan:
            return
        self._version = accepted.fill_version
        self.bottles.add_row(accepted.bottle)
        self.table.scrollToBottom()
        self._show_totals()
        self._show_label_reprint(accepted.label_reprint_needed)
        bottle = accepted.bottle
        title = f"Accepted — {quantity_text(bottle.quantity)} {self.view.unit if self.view else ''}"
        title += f" from {bottle.ndc}" + (" (typed by hand)" if bottle.manual else "")
        if bottle.warnings:
            self._done(Tone.WARNING, title, "\n".join(bottle.warnings))
            self.sounds.warning()
        else:
            self._done(Tone.ACCEPTED, title, bottle.verdict_message)
            self.sounds.accepted()

    def _failed(self, scan: _Scan, exc: BaseException) -> None:
        if self._current is not scan:
            return
        if not isinstance(exc, RxBenchError):
            self._current = None
            self._waiting.clear()
            show_error(self, exc)
            self._refocus()
            return
        title, sentence = explain(exc)
        if isinstance(exc, EnvironmentFault):
            # Nothing was recorded: the scan stays in the field, to be tried again as it is.
            self._retry_scan = scan
            self._current = None
            self._waiting.clear()
            self._say(Tone.STOP, DATABASE_LOST_TITLE, exc.message)
            self.retry_button.show()
            self.sounds.stop()
            self._refocus()
            self.verdict_shown.emit(Tone.STOP.value)
            return
        if isinstance(exc, StaleRecord):
            self.fills_stale.emit()
            actor = self._actor()
            if actor is not None:
                self._refresh(actor)
        self._done_stop(title, sentence)

    def _done_stop(self, title: str, sentence: str) -> None:
        self._waiting.clear()  # the bottles after a stop are scanned again, deliberately
        self._done(Tone.STOP, title, sentence)
        self.sounds.stop()

    def _done(self, tone: Tone, title: str, sentence: str) -> None:
        self._current = None
        self._say(tone, title, sentence)
        self._finish_scan()

    def _finish_scan(self) -> None:
        self.scan_field.clear()
        self._refocus()
        self.verdict_shown.emit(self.banner.tone.value)
        if self._waiting and self._current is None:
            text, manual = self._waiting.popleft()
            self._judge(_Scan(text, manual))

    def _cancelled(self) -> None:
        self._done(Tone.INFO, "Not used", CANCELLED_TEXT)

    def _stop(self, title: str, sentence: str) -> None:
        self._say(Tone.STOP, title, sentence)
        self.sounds.stop()
        self.scan_field.clear()
        self._refocus()
        self.verdict_shown.emit(Tone.STOP.value)

    def _refocus(self) -> None:
        """The scan field takes the keyboard back; after a prompt closes, with its window,
        which not every window manager (nor the offscreen platform) reactivates."""
        if self.isVisible():
            self.activateWindow()
        self.scan_field.setFocus(Qt.FocusReason.OtherFocusReason)

    def _say(self, tone: Tone, title: str, sentence: str) -> None:
        self.banner.show_verdict(tone, title, sentence)
        if tone is not Tone.STOP:
            self._hide_banner_buttons()

    # --- the banner's buttons ---------------------------------------------------------------------

    def override(self) -> None:
        """A pharmacist co-signs and says why; the bottle is then accepted on their authority."""
        scan, view, actor = self._override_for, self.view, self._actor()
        if scan is None or scan.judgement is None or view is None or actor is None:
            return
        judgement = scan.judgement
        verdict = verdict_text(judgement.verdict).lower() if judgement.verdict else "stop"
        rx = f"{view.rx_number}-{view.fill_number}"
        pharmacist = self._cosign(f"override ({verdict}) of NDC {judgement.ndc} for Rx {rx}")
        self._refocus()
        if pharmacist is None:
            return
        reason = ask_reason(
            self,
            title="Pharmacist override",
            question=f"{judgement.message}\n\nWhy may this product be used?",
            action_text="Override",
        )
        self._refocus()
        if reason is None:
            return
        self._override_for = None
        self.override_button.hide()
        self._current = scan
        self._prompt_and_accept(scan, pharmacist, reason)

    def add_product(self) -> None:
        """A pharmacist (the one signed in, or one co-signing) adds the unknown bottle's product
        from the scan; the bottle is not accepted: it is scanned again and judged as any other."""
        scan, view, actor = self._unknown, self.view, self._actor()
        if scan is None or scan.judgement is None or view is None or actor is None:
            return
        readings = scan.judgement.candidates
        pharmacist: Actor | None = actor
        if not actor.has_any(Role.PHARMACIST):
            pharmacist = self._cosign(
                f"adding NDC {' / '.join(readings)} to the drug catalogue from a bottle scanned "
                f"for Rx {view.rx_number}-{view.fill_number}"
            )
            self._refocus()
        if pharmacist is None:
            return
        added = ask_to_add_product(
            self,
            self._verification,
            pharmacist,
            fill_id=view.fill_id,
            scanned_text=scan.text,
            readings=readings,
        )
        self._refocus()
        if added is None:
            return
        self._unknown = None
        self._say(
            Tone.INFO,
            f"Added to the catalogue — NDC {added.ndc}",
            f"{added.label}. {RESCAN_AFTER_ADDING_TEXT}",
        )
        self.verdict_shown.emit(Tone.INFO.value)

    def retry(self) -> None:
        scan = self._retry_scan
        if scan is None or self.view is None:
            return
        self._retry_scan = None
        self.retry_button.hide()
        self._say(Tone.INFO, "Trying again…", "")
        if scan.accept is not None:
            self._accept(scan, scan.accept)
        else:
            self._judge(scan)
        self._refocus()

    # --- void and complete --------------------------------------------------------------------

    def void_selected(self) -> None:
        """Put back the selected bottle (the last one if none is selected), with a reason."""
        actor, view = self._actor(), self.view
        if actor is None or view is None or self._current is not None:
            return
        selected = self.table.selectionModel().selectedRows()
        active = [row for row in self.bottles.rows if not row.voided]
        if selected:
            bottle = self.bottles.row_at(selected[0].row())
        elif active:
            bottle = active[-1]
        else:
            return
        if bottle.voided:
            return
        reason = ask_reason(
            self,
            title="Void bottle",
            question=f"Put back {quantity_text(bottle.quantity)} {view.unit} of NDC {bottle.ndc} "
            f"lot {bottle.lot_number}: why?",
            action_text="Void",
        )
        self._refocus()
        if reason is None:
            return
        verification, version = self._verification, self._version
        self._tasks.run(
            lambda: verification.void_bottle(
                actor, view.fill_id, bottle.bottle_id, reason=reason, expected_version=version
            ),
            on_success=self._voided,
            on_failure=lambda exc: self._failed_outside_scan(exc),
        )

    def _voided(self, voided: BottleVoided) -> None:
        self._version = voided.fill_version
        self.bottles.replace_row(voided.bottle)
        self._show_totals()
        self._show_label_reprint(voided.label_reprint_needed)
        self._say(
            Tone.INFO, f"Voided — NDC {voided.bottle.ndc} put back", voided.bottle.voided_reason
        )
        self._refocus()

    def complete(self) -> None:
        """Every unit scanned: the fill goes to the pharmacist's final verification."""
        actor, view = self._actor(), self.view
        if actor is None or view is None or not self.complete_button.isEnabled():
            return
        verification, version = self._verification, self._version
        self.complete_button.setEnabled(False)
        self._tasks.run(
            lambda: verification.complete(actor, view.fill_id, expected_version=version),
            on_success=self._completed,
            on_failure=self._failed_outside_scan,
        )

    def _completed(self, fill: FillRow) -> None:
        self._close()
        self.fill = fill
        self._show_facts()
        self._say(
            Tone.ACCEPTED,
            f"Rx {fill.rx_number}-{fill.fill_number} sent to the pharmacist",
            "It waits for final verification. Scan the next fill's Rx label.",
        )
        self._refocus()
        self.fill_changed.emit(fill)

    def _failed_outside_scan(self, exc: BaseException) -> None:
        if not isinstance(exc, RxBenchError):
            show_error(self, exc)
            return
        if isinstance(exc, StaleRecord):
            self.fills_stale.emit()
            actor = self._actor()
            if actor is not None and self.view is not None:
                self._refresh(actor)
        self._show_totals()
        self._stop(*explain(exc))


def _shown(sequence: str) -> str:
    return QKeySequence(sequence).toString(QKeySequence.SequenceFormat.NativeText)

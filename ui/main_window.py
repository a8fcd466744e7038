"""The main window: six docks, their menus and shortcuts, live updates and the status bar."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any, Protocol

from PySide6.QtCore import Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import QApplication, QInputDialog, QLabel, QMainWindow, QWidget

from app.adapters.sound import Sounds
from app.db.engine import ping
from app.domain.barcodes import ScanKind, interpret_scan
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.errors import DatabaseUnavailable, RxBenchError
from app.services.catalogue import SnapshotInfo
from app.services.changes import RESYNC_TOPIC
from app.services.claims import CLAIM_REJECTION, ClaimRow
from app.services.controlled import DISCREPANCY_KIND
from app.services.counts import COUNT_APPROVAL, DEA_106
from app.services.fills import FillRow
from app.services.inventory import TOPIC as TOPIC_STOCK
from app.services.labels import TOPIC as TOPIC_LABELS
from app.services.payment import TOPIC as TOPIC_SALES
from app.services.pmp import PMP_REPORT
from app.services.prescriptions import PrescriptionEntered
from app.services.recalls import RECALL
from app.services.unit_of_work import Actor
from app.services.workflow import TOPIC as TOPIC_FILLS
from app.services.worklist import TOPIC as TOPIC_WORKLIST
from app.services.worklist import WorkItemRow
from ui.context import UiContext
from ui.dialogs.catalogue_import import (
    STALE_AFTER_DAYS,
    CatalogueImportDialog,
    describe_snapshot,
)
from ui.dialogs.claims import ClaimsDialog
from ui.dialogs.house_policies import open_house_policies
from ui.dialogs.intake import IntakeMenu
from ui.dialogs.reorder import ReorderTools
from ui.dialogs.scanner_settings import open_scanner_settings, open_scanner_test
from ui.docks.base import DataDock, Dock
from ui.docks.fill_queue import FillQueueDock
from ui.docks.inventory import InventoryDock
from ui.docks.label import LabelDock, label_text
from ui.docks.label_printing import LabelPrinting
from ui.docks.payment import PaymentDock
from ui.docks.verify import VerifyDock
from ui.docks.worklist import WorklistDock
from ui.errors import explain, show_error
from ui.live_updates import LiveUpdates
from ui.scanner import install_scanner
from ui.sound import QtSounds
from ui.tasks import TaskRunner
from ui.window_state import restore_window_state, save_window_state
from ui.workflow_actions import WorkflowActions, corrects_at_data_entry

log = logging.getLogger(__name__)

HEALTH_INTERVAL_MS = 30_000
CONNECTED_TEXT = "Database: connected"
UNREACHABLE_TEXT = "Database unreachable — retrying"
CHECKING_TEXT = "Database: checking…"


class Session(Protocol):
    """What the window needs from ui.session.SessionController."""

    actor_changed: SignalInstance

    @property
    def actor(self) -> Actor | None: ...

    def lock(self) -> None: ...

    def switch_user(self) -> None: ...

    def cosign(self, *, purpose: str, parent: QWidget | None = None) -> Actor | None: ...

    def witness(self, *, purpose: str, parent: QWidget | None = None) -> Actor | None: ...


class MainWindow(QMainWindow):
    """Signals: all_docks_loaded()  # every dock has its data, after each full reload
    load_failed(object)  # a dock could not load; the exception
    """

    all_docks_loaded = Signal()
    load_failed = Signal(object)

    def __init__(
        self,
        context: UiContext,
        session: Session,
        *,
        health_interval_ms: int = HEALTH_INTERVAL_MS,
        sounds: Sounds | None = None,
        label_printing: LabelPrinting | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._context = context
        self._session = session
        self._waiting_for: set[Dock] = set()
        self._selected_fill_id: int | None = None
        self._ping_in_flight = False
        self.database_reachable: bool | None = None
        self.tasks = TaskRunner(self)
        self.setWindowTitle("RxBench")
        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
            | QMainWindow.DockOption.AllowNestedDocks
        )

        services = context.services
        actor = self._current_actor
        self.fill_queue = FillQueueDock(fills=services.fills, tasks=self.tasks, actor=actor)
        self.verify = VerifyDock(
            verification=services.verification,
            tasks=self.tasks,
            actor=actor,
            sounds=sounds or QtSounds(parent=self),
            cosign=lambda purpose: self._session.cosign(purpose=purpose, parent=self),
        )
        self.label = LabelDock(
            labels=services.labels,
            verification=services.verification,
            pharmacy=services.pharmacy,
            tasks=self.tasks,
            actor=actor,
            settings=context.qsettings,
            printing=label_printing,
        )
        self.inventory = InventoryDock(
            stock=services.stock,
            receiving=services.receiving,
            controlled=services.controlled,
            recalls=services.recalls,
            pmp=services.pmp,
            counts=services.counts,
            reorder=ReorderTools(
                services.reorder, services.catalogue, services.inventory, services.house_settings
            ),
            catalogue=services.catalogue,
            cosign=lambda purpose: self._session.cosign(purpose=purpose, parent=self),
            witness=lambda purpose: self._session.witness(purpose=purpose, parent=self),
            inventory=services.inventory,
            settings=context.qsettings,
            tasks=self.tasks,
            actor=actor,
        )
        self.payment = PaymentDock(
            fills=services.fills,
            will_call_aging=services.workflow.will_call_aging,
            payment=services.payment,
            receipts=services.receipts,
            drawer=services.drawer,
            cosign=lambda purpose: self._session.cosign(purpose=purpose, parent=self),
            tasks=self.tasks,
            actor=actor,
            settings=context.qsettings,
        )
        self.worklist = WorklistDock(
            worklist=services.worklist,
            tasks=self.tasks,
            actor=actor,
            mark_counseled=services.payment.mark_counseled,
        )
        self.docks: tuple[Dock, ...] = (
            self.fill_queue,
            self.verify,
            self.label,
            self.inventory,
            self.payment,
            self.worklist,
        )
        self._lay_out_docks()
        for dock in self.docks:
            dock.loaded.connect(lambda dock=dock: self._dock_loaded(dock))
            dock.load_failed.connect(self._dock_failed)
        self.fill_queue.fill_selected.connect(self.select_fill)
        self.payment.fill_selected.connect(self.select_fill)
        # Counseling accepted at the register reaches the pharmacist's list; their mark lets the
        # sale complete.
        self.payment.register.sale_changed.connect(lambda _sale: self.worklist.reload())
        self.worklist.loaded.connect(self.payment.register.refresh)
        self.fill_queue.loaded.connect(self._reselect_after_reload)
        self.fill_queue.labels_requested.connect(self.label.print_batch)
        self._connect_workflow(services)

        app = QApplication.instance()
        assert isinstance(app, QApplication)
        self.scanner, self.scan_router = install_scanner(app, context.qsettings())
        self.scan_router.unclaimed_scan.connect(self.open_scanned_label)
        self.verify.attach_scanner(self.scan_router)
        self.inventory.attach_scanner(self.scan_router)
        self.inventory.shortages_checked.connect(self.worklist.reload)
        self.verify.rx_label_scanned.connect(self.open_scanned_label)
        self._build_menus()
        self._build_status_bar()
        self.scanner.scan_rejected.connect(
            lambda reason: self.statusBar().showMessage(reason, 10_000)
        )
        session.actor_changed.connect(self._actor_changed)

        self._health_timer = QTimer(self)
        self._health_timer.setInterval(health_interval_ms)
        self._health_timer.timeout.connect(self.check_database)
        self._health_timer.start()
        # A restored layout already has its sizes.
        self._layout_sized = restore_window_state(self, context.qsettings())
        if session.actor is not None:
            self._actor_changed(session.actor)

    # --- layout and menus ---------------------------------------------------------------------

    def _lay_out_docks(self) -> None:
        """Queue top left, the selected fill top right, pickup and stock across the bottom."""
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.setCorner(Qt.Corner.BottomLeftCorner, bottom)
        self.setCorner(Qt.Corner.BottomRightCorner, bottom)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.fill_queue)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.verify)
        self.splitDockWidget(self.verify, self.label, Qt.Orientation.Vertical)
        self.addDockWidget(bottom, self.payment)
        self.splitDockWidget(self.payment, self.inventory, Qt.Orientation.Horizontal)
        self.splitDockWidget(self.payment, self.worklist, Qt.Orientation.Horizontal)

    def _size_default_layout(self) -> None:
        # Dock sizes only take once the window has its own size, hence at first show.
        width, height = self.width(), self.height()
        horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
        self.resizeDocks(
            [self.fill_queue, self.verify], [width * 3 // 5, width * 2 // 5], horizontal
        )
        self.resizeDocks(
            [self.payment, self.worklist, self.inventory],
            [width * 3 // 10, width * 3 // 10, width * 2 // 5],
            horizontal,
        )
        self.resizeDocks(
            [self.fill_queue, self.payment], [height * 3 // 5, height * 2 // 5], vertical
        )
        self.resizeDocks([self.verify, self.label], [height * 3 // 10, height * 3 // 10], vertical)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._layout_sized:
            self._layout_sized = True
            self._size_default_layout()

    def _action(self, text: str, shortcut: QKeySequence | str, slot: Any) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.lock_action = self._action("&Lock", "Ctrl+L", self._session.lock)
        self.switch_user_action = self._action(
            "S&witch user…", "Ctrl+Shift+U", self._session.switch_user
        )
        self.quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit, self.close)
        self.set_pin_action = QAction("Set my &PIN…", self)
        self.set_pin_action.triggered.connect(self._set_pin)
        file_menu.addActions([self.lock_action, self.switch_user_action, self.set_pin_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        view_menu = self.menuBar().addMenu("&View")
        for number, dock in enumerate(self.docks, start=1):
            toggle = dock.toggleViewAction()
            toggle.setShortcut(QKeySequence(f"Ctrl+{number}"))
            toggle.triggered.connect(lambda shown, dock=dock: self._dock_toggled(dock, shown))
            view_menu.addAction(toggle)
        view_menu.addSeparator()
        self.reload_action = self._action("&Reload", QKeySequence.StandardKey.Refresh, self.reload)
        view_menu.addAction(self.reload_action)

        self.intake = IntakeMenu(
            self, self._context.services, self._current_actor, self.scan_router, self._entered
        )
        labels_menu = self.menuBar().addMenu("&Labels")
        label = self.label
        label_actions = (label.print_action, label.export_action, label.english_action)
        labels_menu.addActions(list(label_actions))
        labels_menu.addAction(self.fill_queue.print_labels_action)
        labels_menu.addSeparator()
        labels_menu.addAction(label.test_page_action)
        # On the window too, so the shortcuts work wherever the focus is.
        self.addActions([*label_actions, label.test_page_action])
        claims_menu = self.menuBar().addMenu("&Claims")
        self.claims_queue_action = self._action(
            "Claims to &resolve…", "Ctrl+Alt+C", self.open_claims_queue
        )
        self.bill_fill_action = self._action(
            "&Bill the selected fill now", "Ctrl+Alt+B", self.bill_selected_fill
        )
        self.claim_details_action = self._action(
            "Claim &details of the selected fill…", "Ctrl+Alt+D", self.open_claim_details
        )
        claims_menu.addActions(
            [self.claims_queue_action, self.bill_fill_action, self.claim_details_action]
        )
        inventory_menu = self.menuBar().addMenu("&Inventory")
        inventory_menu.addActions(self.inventory.menu_actions)
        tools_menu = self.menuBar().addMenu("&Tools")
        self.unlock_account_action = QAction("&Unlock a locked account…", self)
        self.unlock_account_action.triggered.connect(self._ask_account_to_unlock)
        tools_menu.addAction(self.unlock_account_action)
        self.import_catalogue_action = tools_menu.addAction(
            "&Import drug catalogue…", self.import_catalogue
        )
        self.house_policies_action = tools_menu.addAction(
            "House &policies…",
            lambda: open_house_policies(
                self,
                self._context.services.house_settings,
                self._context.services.payment,
                self._session.actor,
                self.tasks,
            ),
        )
        tools_menu.addSeparator()
        self.scanner_settings_action = tools_menu.addAction(
            "&Scanner settings…",
            lambda: open_scanner_settings(self, self._context.qsettings(), self.scanner),
        )
        self.scanner_test_action = tools_menu.addAction(
            "Scanner &test…", lambda: open_scanner_test(self, self.scanner)
        )

    def _set_pin(self) -> None:
        from ui.dialogs.set_pin import open_set_pin_dialog

        actor = self._session.actor
        if actor is not None:
            open_set_pin_dialog(self, self._context.services, actor)

    def _build_status_bar(self) -> None:
        self.user_status = QLabel()
        self.user_status.setAccessibleName("Signed-in user")
        self.workstation_status = QLabel(f"Workstation: {self._context.settings.workstation}")
        self.workstation_status.setAccessibleName("Workstation")
        description = self._context.services.database.description
        self.database_status = QLabel(str(description))
        self.database_status.setAccessibleName("Database")
        self.health_status = QLabel(CHECKING_TEXT)
        self.health_status.setAccessibleName("Database health")
        self.drug_data_status = QLabel()
        self.drug_data_status.setAccessibleName("Drug data")
        self.live_status = QLabel()
        self.live_status.setAccessibleName("Live updates")
        self.live.status_changed.connect(self.live_status.setText)
        bar = self.statusBar()
        bar.addWidget(self.user_status)
        bar.addWidget(self.worklist.badge)
        bar.addPermanentWidget(self.drug_data_status)
        bar.addPermanentWidget(self.live_status)
        for label in (self.workstation_status, self.database_status, self.health_status):
            bar.addPermanentWidget(label)
        self._show_actor(self._session.actor)

    def _dock_toggled(self, dock: Dock, shown: bool) -> None:
        if shown:
            self.focus_dock(dock)

    def focus_dock(self, dock: Dock) -> None:
        dock.show()
        dock.raise_()
        dock.focus_target().setFocus(Qt.FocusReason.ShortcutFocusReason)

    # --- loading ------------------------------------------------------------------------------

    def _current_actor(self) -> Actor | None:
        return self._session.actor

    def reload(self) -> None:
        """Reload every dock; `all_docks_loaded` fires once all of them have their data."""
        if self._session.actor is None:
            return
        self._waiting_for = set(self.docks)
        for dock in self.docks:
            dock.reload()

    def _dock_loaded(self, dock: Dock) -> None:
        if dock in self._waiting_for:
            self._waiting_for.discard(dock)
            if not self._waiting_for:
                self.all_docks_loaded.emit()

    def _dock_failed(self, exc: BaseException) -> None:
        if isinstance(exc, DatabaseUnavailable):
            self._set_reachable(False)
        self.load_failed.emit(exc)

    def _actor_changed(self, actor: Actor | None) -> None:
        self._show_actor(actor)
        if actor is not None:
            self.quarantine_expired_stock(actor)  # then every dock is read again
        self.check_database()
        self.show_drug_data_age()
        if actor is not None and not self._live_started:
            self._live_started = True
            self.live.start()

    def quarantine_expired_stock(self, actor: Actor) -> None:
        """At each sign-in, lots past their expiry are quarantined (audited as the person
        signing in), off the GUI thread, so none can be dispensed; the status bar says so. The
        docks are read once it is done, so none shows an expired lot as available."""
        inventory = self._context.services.inventory
        self.tasks.run(
            lambda: inventory.quarantine_expired(actor),
            on_success=self._expired_quarantined,
            on_failure=self._expired_not_quarantined,
        )

    def _expired_quarantined(self, count: int) -> None:
        if count:
            self.statusBar().showMessage(
                f"{count} expired lot{'s' if count != 1 else ''} put in quarantine: "
                f"{'they' if count != 1 else 'it'} cannot be dispensed.",
                15_000,
            )
        self.reload()

    def _expired_not_quarantined(self, exc: BaseException) -> None:
        log.warning("expired stock not quarantined (%s)", type(exc).__name__)
        self.statusBar().showMessage(
            f"Expired stock could not be put in quarantine: {explain(exc)[1]}", 15_000
        )
        self.reload()

    def _show_actor(self, actor: Actor | None) -> None:
        if actor is None:
            self.user_status.setText("Not signed in")
            return
        roles = f" ({actor.roles_text})" if actor.roles_text else ""
        self.user_status.setText(f"Signed in: {actor.full_name or actor.username}{roles}")

    def show_drug_data_age(self) -> None:
        """Stale drug data is a risk the pharmacist must see: its age stays in the status bar."""
        catalogue = self._context.services.catalogue
        self.tasks.run(
            catalogue.snapshot,
            on_success=self._show_snapshot,
            on_failure=lambda exc: log.warning("catalogue age unknown (%s)", type(exc).__name__),
        )

    def _show_snapshot(self, snapshot: SnapshotInfo | None) -> None:
        text, stale = describe_snapshot(snapshot, today=date.today())
        self.drug_data_status.setText(text)
        self.drug_data_status.setStyleSheet("QLabel { color: #8a4b00; }" if stale else "")
        self.drug_data_status.setToolTip(
            "The drug catalogue is older than "
            f"{STALE_AFTER_DAYS} days: import a current FDA NDC Directory (Tools menu)."
            if stale
            else "The FDA NDC Directory snapshot the drug catalogue holds."
        )

    def import_catalogue(self) -> None:
        actor = self._session.actor
        if actor is None:
            return
        dialog = CatalogueImportDialog(
            catalogue=self._context.services.catalogue, actor=actor, tasks=self.tasks, parent=self
        )
        dialog.imported.connect(lambda _report: self.show_drug_data_age())
        dialog.open()

    # --- selection fan-out --------------------------------------------------------------------

    def select_fill(self, fill: FillRow | None) -> None:
        self._selected_fill_id = fill.fill_id if fill else None
        self.verify.show_fill(fill)
        self.label.show_fill(fill)

    def open_scanned_label(self, text: str) -> None:
        """A scan no panel waited for: an RxBench label opens its fill; anything else is said."""
        try:
            scan = interpret_scan(text, gs_substitute=self.scanner.settings.gs_substitute)
        except RxBenchError as exc:
            self.statusBar().showMessage(exc.message, 10_000)
            return
        if scan.kind != ScanKind.RX_LABEL:
            self.statusBar().showMessage(
                "Scanned a stock bottle, but no panel is waiting for one: open a fill to verify.",
                10_000,
            )
            return
        fill = self.fill_queue.row_for_label(scan.rx_number or "", scan.fill_number or 0)
        if fill is None:
            self.statusBar().showMessage(
                f"Rx {scan.rx_number} fill {scan.fill_number} is not in the active queue.", 10_000
            )
            return
        self.fill_queue.show_fill_row(fill.fill_id)
        self.select_fill(fill)
        if fill.state is FillState.FILL:
            self.open_fill(fill)

    # --- the workflow ---------------------------------------------------------------------------

    def _open_work_item(self, item: WorkItemRow) -> None:
        """A count waiting for approval opens in the Count stock dialog, a recall at its work
        list, a claim to resolve in the claims queue; the rest (fills and their findings) in the
        workflow's dialogs."""
        if item.kind == COUNT_APPROVAL:
            self.inventory.count_stock(session_id=int(item.entity_id))
            return
        if item.kind == DEA_106:
            self.inventory.record_form_106(int(item.entity_id))
            return
        if item.kind == DISCREPANCY_KIND:
            self.inventory.controlled_substances(discrepancy_id=int(item.entity_id))
            return
        if item.kind == RECALL:
            self.inventory.open_recalls(recall_id=int(item.entity_id))
            return
        if item.kind == PMP_REPORT:
            self.inventory.pmp_reports(report_id=int(item.entity_id))
            return
        if item.kind == CLAIM_REJECTION:
            self.open_claims_queue()
            return
        self.workflow.open_work_item(item, self.fill_queue.row_for)

    def _connect_workflow(self, services: Any) -> None:
        self.workflow = WorkflowActions(
            services=services,
            tasks=self.tasks,
            actor=self._current_actor,
            cosign=lambda purpose: self._session.cosign(purpose=purpose, parent=self),
            label_text=lambda fill: label_text(self.label.profile, fill),
            parent=self,
        )
        self.fill_queue.fill_opened.connect(self.open_fill)
        self.fill_queue.action_requested.connect(self.workflow.perform)
        self.worklist.item_opened.connect(self._open_work_item)
        self.workflow.fill_changed.connect(self._fill_changed)
        self.verify.fill_changed.connect(self._fill_changed)
        self.verify.fills_stale.connect(self.reload_fills)
        self.workflow.fills_stale.connect(self.reload_fills)
        self.workflow.findings_changed.connect(self.worklist.reload)
        self.live = LiveUpdates(services.changes, parent=self)
        self.live.changed.connect(self._changes_arrived)
        self._live_started = False

    def open_fill(self, fill: FillRow) -> None:
        """Enter on a fill opens it where its next step is done."""
        if corrects_at_data_entry(fill):
            self.workflow.open_data_entry(fill)
        elif fill.state is FillState.DATA_REVIEW:
            self.workflow.open_review(fill)
        elif fill.state is FillState.FILL:
            self.verify.open_fill(fill)
            self.focus_dock(self.verify)
        elif fill.state is FillState.FINAL_VERIFICATION:
            self.workflow.open_final_verification(fill)
        elif fill.state is FillState.READY:
            self.payment.show_fill_row(fill.fill_id)
            self.payment.register.take_up(fill.rx_number)
            self.focus_dock(self.payment)
        else:
            # No dialog of its own (yet): the moves it allows, its facts in the Verify dock.
            self.fill_queue.show_actions_menu()

    # --- claims -------------------------------------------------------------------------------

    def open_claims_queue(self, *, fill_id: int | None = None) -> ClaimsDialog:
        """The resolution queue (or, with `fill_id`, that fill's claims), modeless."""
        dialog = ClaimsDialog(
            claims=self._context.services.claims,
            tasks=self.tasks,
            actor=self._current_actor,
            cosign=lambda purpose: self._session.cosign(purpose=purpose, parent=self),
            fill_id=fill_id,
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fills_changed.connect(self.reload_fills)
        dialog.show()
        return dialog

    def open_claim_details(self) -> ClaimsDialog | None:
        if self._selected_fill_id is None:
            self.statusBar().showMessage("Select a fill in the queue to see its claims.", 10_000)
            return None
        return self.open_claims_queue(fill_id=self._selected_fill_id)

    def bill_selected_fill(self) -> None:
        actor, fill_id = self._current_actor(), self._selected_fill_id
        if actor is None or fill_id is None:
            self.statusBar().showMessage("Select a fill in the queue to bill it.", 10_000)
            return
        claims = self._context.services.claims
        self.statusBar().showMessage("Sending the claim…", 10_000)
        self.tasks.run(
            lambda: claims.bill(actor, fill_id),
            on_success=self._claim_answered,
            on_failure=self._claim_refused,
        )

    def _bill_if_due(self, fill: FillRow) -> None:
        """The house billing point: a fill reaching data review (billing at data entry) or
        billing pending is billed in the background."""
        actor = self._current_actor()
        if actor is None or fill.state not in (FillState.DATA_REVIEW, FillState.BILLING_PENDING):
            return
        claims, fill_id = self._context.services.claims, fill.fill_id
        self.tasks.run(
            lambda: claims.bill_if_due(actor, fill_id),
            on_success=self._claim_answered,
            on_failure=self._claim_failed,
        )

    def _claim_answered(self, row: ClaimRow | None) -> None:
        if row is None:
            self.reload_fills()
            return
        text = f"Rx {row.rx_number}-{row.fill_number}: claim {row.status.label.lower()}"
        if row.rejects:
            text += f" — {row.plain_reason}. {row.next_step} (Claims ▸ Claims to resolve)"
        self.statusBar().showMessage(text, 30_000)
        self.reload_fills()

    def _claim_refused(self, exc: BaseException) -> None:
        self.statusBar().clearMessage()
        show_error(self, exc)

    def _claim_failed(self, exc: BaseException) -> None:
        title, sentence = explain(exc)
        self.statusBar().showMessage(f"Claim not sent — {title}: {sentence}", 30_000)

    def _fill_changed(self, fill: FillRow) -> None:
        self._bill_if_due(fill)
        self.fill_queue.update_fill(fill)
        if self._selected_fill_id == fill.fill_id:
            self.select_fill(fill)
        self.statusBar().showMessage(
            f"Rx {fill.rx_number}-{fill.fill_number}: {fill.state.label}", 10_000
        )
        self.reload_fills()

    def _entered(self, entered: PrescriptionEntered) -> None:
        flags = f" — {len(entered.warnings)} flag(s) for the pharmacist" if entered.warnings else ""
        self.statusBar().showMessage(
            f"Rx {entered.rx_number} entered: waiting for the pharmacist's data review{flags}.",
            15_000,
        )
        self.reload_fills()

    def reload_fills(self) -> None:
        """Only the docks that show fills: the queue, pickup and the pharmacist's list."""
        for dock in (self.fill_queue, self.payment, self.worklist):
            dock.reload()

    def _changes_arrived(self, topics: set[str]) -> None:
        if RESYNC_TOPIC in topics:
            self.reload()
        elif TOPIC_FILLS in topics:
            self.reload_fills()
        elif TOPIC_WORKLIST in topics:
            self.worklist.reload()
        if TOPIC_SALES in topics and RESYNC_TOPIC not in topics:
            self.payment.register.refresh()
        if TOPIC_LABELS in topics and RESYNC_TOPIC not in topics:
            self.label.reload()  # a print, containers or a description changed elsewhere
        if TOPIC_STOCK in topics and RESYNC_TOPIC not in topics:
            self.inventory.reload()  # stock received, dispensed or corrected elsewhere

    def _reselect_after_reload(self) -> None:
        if self._selected_fill_id is not None:
            self.select_fill(self.fill_queue.row_for(self._selected_fill_id))

    # --- database health ----------------------------------------------------------------------

    def check_database(self) -> None:
        """Ping off the GUI thread; the status bar says whether the database answers."""
        if self._ping_in_flight:
            return
        self._ping_in_flight = True
        engine = self._context.services.database.engine
        self.tasks.run(
            lambda: ping(engine),
            on_success=lambda _: self._ping_done(True),
            on_failure=lambda exc: self._ping_done(False, exc),
        )

    def _ping_done(self, reachable: bool, exc: BaseException | None = None) -> None:
        self._ping_in_flight = False
        if not reachable and self.database_reachable is not False:
            log.warning("database ping failed (%s)", type(exc).__name__)
        recovered = reachable and self.database_reachable is False
        self._set_reachable(reachable)
        if recovered:
            log.info("database reachable again")
            for dock in self.docks:
                if isinstance(dock, DataDock) and dock.has_failed:
                    dock.reload()

    def _set_reachable(self, reachable: bool) -> None:
        self.database_reachable = reachable
        self.health_status.setText(CONNECTED_TEXT if reachable else UNREACHABLE_TEXT)
        self.health_status.setStyleSheet("" if reachable else "QLabel { color: #b3261e; }")
        self.live.set_database_reachable(reachable)

    # --- tools --------------------------------------------------------------------------------

    def _ask_account_to_unlock(self) -> None:
        username, accepted = QInputDialog.getText(
            self, "Unlock a locked account", "User name of the locked account:"
        )
        if accepted and username.strip():
            self.unlock_account(username.strip())

    def unlock_account(self, username: str) -> None:
        """Clear a lockout; a technician needs a pharmacist's co-signature to do it."""
        actor = self._session.actor
        if actor is None:
            return
        if not actor.has_any(Role.PHARMACIST, Role.ADMINISTRATOR):
            cosigner = self._session.cosign(purpose=f"unlock account {username}", parent=self)
            if cosigner is None:
                return
            actor = cosigner
        users = self._context.services.users
        approver = actor
        self.tasks.run(
            lambda: users.clear_lockout(approver, username=username),
            on_success=lambda _: self.statusBar().showMessage(
                f"The account “{username}” is unlocked.", 10_000
            ),
            on_failure=lambda exc: show_error(self, exc),
        )

    # --- closing ------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop background work; no callback reaches the window afterwards."""
        self._health_timer.stop()
        self.live.stop()
        self.tasks.shutdown()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self.scanner)

    def closeEvent(self, event: QCloseEvent) -> None:
        save_window_state(self, self._context.qsettings())
        self.shutdown()
        super().closeEvent(event)

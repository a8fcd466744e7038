"""The Reorder dialog: reorder levels beside the stock on hand, the suggested order over the last
30 or 90 days and its CSV export, the short-dated report, and a shortage check on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.roles import Role
from app.errors import RxBenchError
from app.services.catalogue import CatalogueHit, CatalogueService
from app.services.house_settings import (
    MAX_SHORT_DATED_DAYS,
    HouseSettingsService,
    InventoryPolicy,
)
from app.services.inventory import InventoryService, LotRow
from app.services.reorder import LevelRow, Notice, OrderLine, ReorderService
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field
from ui.docks.base import row_table
from ui.errors import explain, show_error
from ui.models.formatting import date_text, quantity_text
from ui.models.table import ROW_ROLE, RowTableModel
from ui.scanner import ScanRouter
from ui.tasks import TaskRunner
from ui.widgets.catalogue_search import CatalogueSearchField, hit_text

BELOW_MINIMUM_TEXT = "BELOW MINIMUM"
BELOW_COLOUR = "#b3261e"
WINDOWS = (30, 90)
SAVE_SHORTCUT = "Ctrl+S"
EXPORT_SHORTCUT = "Ctrl+E"
NOTHING_CHOSEN = (
    "Choose a package first: select a level in the table, or find the package in the Package field."
)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


@dataclass(frozen=True)
class ReorderTools:
    """The services the Reorder dialog works with, handed to the Inventory dock as one."""

    reorder: ReorderService
    catalogue: CatalogueService
    inventory: InventoryService
    house_settings: HouseSettingsService


class LevelsModel(RowTableModel[LevelRow]):
    NDC, DRUG, MINIMUM, MAXIMUM, ON_HAND, FLAG = range(6)
    HEADERS = ("NDC", "Drug", "Minimum", "Maximum", "On hand", "Below minimum")
    _NUMBERS = (MINIMUM, MAXIMUM, ON_HAND)

    def display(self, row: LevelRow, column: int) -> str:
        if column == self.NDC:
            return row.ndc
        if column == self.DRUG:
            return row.drug
        if column == self.FLAG:
            return BELOW_MINIMUM_TEXT if row.below_minimum else ""
        return quantity_text((row.minimum, row.maximum, row.on_hand)[column - self.MINIMUM])

    def sort_key(self, row: LevelRow, column: int) -> Any:
        if column in self._NUMBERS:
            return (row.minimum, row.maximum, row.on_hand)[column - self.MINIMUM]
        return self.display(row, column)

    def decorate(self, row: LevelRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.TextAlignmentRole and column in self._NUMBERS:
            return _RIGHT
        if (
            role == Qt.ItemDataRole.ForegroundRole
            and row.below_minimum
            and column in (self.ON_HAND, self.FLAG)
        ):
            return QColor(BELOW_COLOUR)
        return None


class OrderModel(RowTableModel[OrderLine]):
    NDC, DRUG, ON_HAND, MINIMUM, MAXIMUM, USAGE, PACKAGES, QUANTITY, NOW = range(9)
    HEADERS = (
        "NDC",
        "Drug",
        "On hand",
        "Minimum",
        "Maximum",
        "Usage per day",
        "Order packages",
        "Order quantity",
        "Why",
    )

    def display(self, row: OrderLine, column: int) -> str:
        if column == self.NDC:
            return row.ndc
        if column == self.DRUG:
            return row.drug
        if column == self.PACKAGES:
            return "" if row.order_packages is None else str(row.order_packages)
        if column == self.NOW:
            return BELOW_MINIMUM_TEXT if row.below_minimum else "projected below minimum"
        return quantity_text(self._number(row, column))

    @classmethod
    def _number(cls, row: OrderLine, column: int) -> Decimal:
        return {
            cls.ON_HAND: row.on_hand,
            cls.MINIMUM: row.minimum,
            cls.MAXIMUM: row.maximum,
            cls.USAGE: row.usage_per_day,
            cls.QUANTITY: row.order_quantity,
        }[column]

    def sort_key(self, row: OrderLine, column: int) -> Any:
        if column == self.PACKAGES:
            return row.order_packages or 0
        if column in (self.NDC, self.DRUG, self.NOW):
            return self.display(row, column)
        return self._number(row, column)

    def decorate(self, row: OrderLine, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.TextAlignmentRole and column not in (
            self.NDC,
            self.DRUG,
            self.NOW,
        ):
            return _RIGHT
        if role == Qt.ItemDataRole.ForegroundRole and row.below_minimum and column == self.NOW:
            return QColor(BELOW_COLOUR)
        return None


class ShortDatedModel(RowTableModel[LotRow]):
    NDC, DRUG, LOT, EXPIRY, DAYS_LEFT, ON_HAND, LOCATION = range(7)
    HEADERS = ("NDC", "Drug", "Lot", "Expiry", "Days left", "On hand", "Location")

    def __init__(self, parent: QObject | None = None, *, today: date) -> None:
        super().__init__(parent)
        self._today = today

    def display(self, row: LotRow, column: int) -> str:
        days_left = (row.expiry - self._today).days
        return (
            row.ndc,
            row.drug,
            row.lot_number,
            date_text(row.expiry),
            "EXPIRED" if days_left < 0 else str(days_left),
            quantity_text(row.on_hand),
            row.location,
        )[column]

    def sort_key(self, row: LotRow, column: int) -> Any:
        if column in (self.EXPIRY, self.DAYS_LEFT):
            return row.expiry
        if column == self.ON_HAND:
            return row.on_hand
        return self.display(row, column)

    def decorate(self, row: LotRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (self.DAYS_LEFT, self.ON_HAND):
            return _RIGHT
        if (
            role == Qt.ItemDataRole.ForegroundRole
            and column == self.DAYS_LEFT
            and row.expiry < self._today
        ):
            return QColor(BELOW_COLOUR)
        return None


def _plain(text: str) -> str:
    return text.replace("&", "")


class ReorderDialog(QDialog):
    """Work runs off the GUI thread; a refusal is said in the message line and saves nothing.

    Signals: shortages_checked(object)  # the notices the check found (list of Notice)
    """

    shortages_checked = Signal(object)

    def __init__(
        self,
        tools: ReorderTools,
        actor: Actor,
        tasks: TaskRunner,
        *,
        today: date | None = None,
        scan_router: ScanRouter | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._tools = tools
        self._actor = actor
        self._tasks = tasks
        self._policy: InventoryPolicy | None = None
        # The package the form saves a level for, and the level's version as read (None: new).
        self._editing: tuple[int, int | None] | None = None
        self.setWindowTitle("Reorder — RxBench")
        self.setMinimumSize(900, 560)
        sets_levels = actor.has_any(Role.PHARMACIST, Role.TECHNICIAN)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Reorder views")
        self.tabs.setToolTip("F5 reads the levels, the order and the short-dated stock again.")
        self.tabs.addTab(self._levels_tab(scan_router, sets_levels), "&Levels")
        self.tabs.addTab(self._order_tab(), "Suggested &order")
        self.tabs.addTab(self._short_dated_tab(today or date.today()), "Short-&dated")

        self.message = MessageLine()
        self.status = QLabel()
        self.status.setAccessibleName("Status")
        self.status.setWordWrap(True)
        self.check_button = QPushButton("Check shortages &now")
        self.check_button.setAccessibleName("Check shortages now")
        self.check_button.setToolTip(
            "Open a shortage notice on the pharmacist's work list for every package below its "
            "minimum, short for the waiting fills, or short-dated (Alt+N)."
        )
        self.check_button.setEnabled(sets_levels)
        close = QPushButton("Close")
        close.setAccessibleName("Close")
        for button in (self.check_button, close):
            button.setAutoDefault(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.check_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

        self.check_button.clicked.connect(self.check_shortages)
        close.clicked.connect(self.reject)
        QShortcut(QKeySequence(SAVE_SHORTCUT), self).activated.connect(self.save_level)
        QShortcut(QKeySequence(EXPORT_SHORTCUT), self).activated.connect(self.export_csv)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Refresh), self).activated.connect(
            self.reload
        )
        self.reload()
        self.levels_table.setFocus()

    # --- building -------------------------------------------------------------------------------

    def _levels_tab(self, scan_router: ScanRouter | None, sets_levels: bool) -> QWidget:
        self.levels = LevelsModel(self)
        self.levels_table, _ = row_table(
            self.levels,
            accessible_name="Reorder levels",
            sort_column=LevelsModel.NDC,
            stretch_column=LevelsModel.DRUG,
        )
        self.levels_table.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self._level_selected(current.data(ROW_ROLE))
        )
        self.levels_table.activated.connect(lambda _index: self.minimum.setFocus())
        form = QFormLayout()
        self.package = add_field(
            form,
            "&Package:",
            CatalogueSearchField(
                self._tools.catalogue, self._actor, self._tasks, scan_router=scan_router
            ),
        )
        self.package.setPlaceholderText("Find a package to add its level: name, strength or NDC")
        self.minimum = add_field(form, "M&inimum:", QLineEdit())
        self.maximum = add_field(form, "Ma&ximum:", QLineEdit())
        for edit in (self.minimum, self.maximum):
            edit.setPlaceholderText("units, e.g. 100")
            edit.returnPressed.connect(self.save_level)
        self.save_button = QPushButton(f"&Save level ({SAVE_SHORTCUT})")
        self.save_button.setAccessibleName("Save level")
        self.save_button.setAutoDefault(False)
        self.save_button.setEnabled(sets_levels)
        self.save_button.clicked.connect(self.save_level)
        self.package.package_chosen.connect(self._package_chosen)
        # Typing over the package shown (a level's, or a choice) leaves no package to save for.
        self.package.textEdited.connect(lambda _text: self._package_cleared())
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(self.levels_table, 1)
        layout.addLayout(form)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.save_button)
        layout.addLayout(row)
        return tab

    def _order_tab(self) -> QWidget:
        self.window_buttons = QButtonGroup(self)
        choice = QHBoxLayout()
        heading = QLabel("Usage over the last:")
        choice.addWidget(heading)
        for days, text in zip(WINDOWS, ("&30 days", "&90 days"), strict=True):
            button = QRadioButton(text)
            button.setAccessibleName(_plain(text))
            self.window_buttons.addButton(button, days)
            choice.addWidget(button)
        choice.addStretch(1)
        self.window_buttons.button(WINDOWS[0]).setChecked(True)
        self.window_buttons.idToggled.connect(
            lambda _days, checked: self.load_order() if checked else None
        )
        self.order = OrderModel(self)
        self.order_table, _ = row_table(
            self.order,
            accessible_name="Suggested order",
            sort_column=OrderModel.NDC,
            stretch_column=OrderModel.DRUG,
        )
        self.export_button = QPushButton(f"&Export CSV… ({EXPORT_SHORTCUT})")
        self.export_button.setAccessibleName("Export CSV")
        self.export_button.setAutoDefault(False)
        self.export_button.clicked.connect(lambda: self.export_csv())
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(choice)
        layout.addWidget(self.order_table, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.export_button)
        layout.addLayout(row)
        return tab

    def _short_dated_tab(self, today: date) -> QWidget:
        form = QFormLayout()
        self.days = add_field(form, "Expiring &within:", QSpinBox())
        self.days.setRange(1, MAX_SHORT_DATED_DAYS)
        self.days.setSuffix(" days")
        self.days.setKeyboardTracking(False)  # one report per value typed, not per digit
        self.days.valueChanged.connect(lambda _days: self.load_short_dated())
        self.save_days_button = QPushButton("Save as the &house's window")
        self.save_days_button.setAccessibleName("Save as the house's window")
        self.save_days_button.setToolTip(
            "The short-dated window every workstation uses for shortage notices "
            "(pharmacist or administrator)."
        )
        self.save_days_button.setAutoDefault(False)
        self.save_days_button.setEnabled(self._actor.has_any(Role.PHARMACIST, Role.ADMINISTRATOR))
        self.save_days_button.clicked.connect(self.save_short_dated_days)
        self.short_dated = ShortDatedModel(self, today=today)
        self.short_dated_table, _ = row_table(
            self.short_dated,
            accessible_name="Short-dated stock",
            sort_column=ShortDatedModel.EXPIRY,
            stretch_column=ShortDatedModel.DRUG,
        )
        tab = QWidget()
        layout = QVBoxLayout(tab)
        row = QHBoxLayout()
        row.addLayout(form)
        row.addWidget(self.save_days_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.short_dated_table, 1)
        return tab

    # --- loading --------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the levels, the suggested order and the short-dated report again (F5)."""
        self.load_levels()
        self.load_order()
        house = self._tools.house_settings
        self._run(house.inventory_policy, self._policy_read)

    def load_levels(self) -> None:
        reorder, actor = self._tools.reorder, self._actor
        self._run(lambda: reorder.levels(actor), self._levels_read)

    def load_order(self) -> None:
        reorder, actor, days = self._tools.reorder, self._actor, self.window_days
        self._run(lambda: reorder.suggested_order(actor, window_days=days), self.order.set_rows)

    def load_short_dated(self) -> None:
        inventory, actor, days = self._tools.inventory, self._actor, self.days.value()
        self._run(lambda: inventory.short_dated(actor, within_days=days), self.short_dated.set_rows)

    @property
    def window_days(self) -> int:
        return self.window_buttons.checkedId()

    def _levels_read(self, rows: list[LevelRow]) -> None:
        self.levels.set_rows(rows)
        self.levels_table.resizeColumnsToContents()
        below = sum(row.below_minimum for row in rows)
        self.levels_table.setAccessibleDescription(
            f"{len(rows)} levels, {below} below minimum" if rows else "No reorder levels yet"
        )

    def _policy_read(self, policy: InventoryPolicy) -> None:
        self._policy = policy
        if self.days.value() == policy.short_dated_days:
            self.load_short_dated()
        else:
            self.days.setValue(policy.short_dated_days)  # reloads the report

    def _run(self, work: Callable[[], Any], on_success: Callable[[Any], None]) -> None:
        self._tasks.run(work, on_success=on_success, on_failure=self._failed)

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, RxBenchError):
            self.status.clear()
            self.message.show_problem(explain(exc)[1])
        else:
            show_error(self, exc)

    # --- levels ---------------------------------------------------------------------------------

    def _level_selected(self, row: LevelRow | None) -> None:
        if row is None:
            return
        self._editing = (row.package_id, row.version)
        self.package.close_popup()
        self.package.setText(f"{row.drug} · NDC {row.ndc}")
        self.package.setCursorPosition(0)
        self._show_level(row)

    def _package_chosen(self, hit: CatalogueHit) -> None:
        existing = next((row for row in self.levels.rows if row.package_id == hit.package_id), None)
        self._editing = (hit.package_id, existing.version if existing else None)
        if existing is not None:
            self._show_level(existing)
        else:
            self.minimum.clear()
            self.maximum.clear()
        self.status.setText(
            f"{hit_text(hit)}: "
            + ("change its level." if existing else "no level yet: type its minimum and maximum.")
        )
        self.minimum.setFocus()

    def _package_cleared(self) -> None:
        self._editing = None

    def _show_level(self, row: LevelRow) -> None:
        self.minimum.setText(quantity_text(row.minimum))
        self.maximum.setText(quantity_text(row.maximum))

    def save_level(self) -> None:
        """Save the form's minimum and maximum for its package (Ctrl+S, or Enter in a field)."""
        if not self.save_button.isEnabled():
            return
        self.message.retract()
        if self._editing is None:
            self.message.show_problem(NOTHING_CHOSEN)
            self.package.setFocus()
            return
        package_id, version = self._editing
        reorder, actor = self._tools.reorder, self._actor
        minimum, maximum = self.minimum.text(), self.maximum.text()
        self._tasks.run(
            lambda: reorder.set_level(
                actor, package_id, minimum=minimum, maximum=maximum, expected_version=version
            ),
            on_success=self._level_saved,
            on_failure=self._level_refused,
        )

    def _level_saved(self, row: LevelRow) -> None:
        self._editing = (row.package_id, row.version)
        self.status.setText(
            f"Saved: NDC {row.ndc}, minimum {quantity_text(row.minimum)}, maximum "
            f"{quantity_text(row.maximum)}."
        )
        self.load_levels()
        self.load_order()

    def _level_refused(self, exc: BaseException) -> None:
        self._failed(exc)
        field = exc.facts.get("field") if isinstance(exc, RxBenchError) else None
        {"minimum": self.minimum, "maximum": self.maximum}.get(str(field), self.minimum).setFocus()

    # --- the suggested order --------------------------------------------------------------------

    def export_csv(self, path: str | None = None) -> None:
        """Write the suggested order shown (its window) to a CSV file the person chooses."""
        self.message.retract()
        if path is None:
            path, _filter = QFileDialog.getSaveFileName(
                self,
                "Export the suggested order",
                f"suggested-order-{date.today().isoformat()}.csv",
                "CSV files (*.csv)",
            )
            if not path:
                return
        reorder, actor, days, target = self._tools.reorder, self._actor, self.window_days, path
        self._tasks.run(
            lambda: reorder.export_order_csv(actor, target, window_days=days),
            on_success=lambda lines: self.status.setText(
                f"Exported {len(lines)} order line{'s' if len(lines) != 1 else ''} "
                f"({days} days of usage) to {Path(target).name}."
            ),
            on_failure=self._failed,
        )

    # --- shortages and the short-dated window ----------------------------------------------------

    def check_shortages(self) -> None:
        """Check every package now; notices go to the pharmacist's work list."""
        if not self.check_button.isEnabled():
            return
        self.message.retract()
        reorder, actor = self._tools.reorder, self._actor
        self._tasks.run(
            lambda: reorder.check_shortages(actor),
            on_success=self._shortages_found,
            on_failure=self._failed,
        )

    def _shortages_found(self, notices: list[Notice]) -> None:
        opened = sum(notice.opened for notice in notices)
        if not notices:
            self.status.setText("No shortages: nothing below its minimum, short or short-dated.")
        else:
            self.status.setText(
                f"{len(notices)} shortage{'s' if len(notices) != 1 else ''} on the pharmacist's "
                f"work list ({opened} new)."
            )
        self.shortages_checked.emit(notices)

    def save_short_dated_days(self) -> None:
        """Make the days shown the house's short-dated window, for every workstation."""
        if self._policy is None or not self.save_days_button.isEnabled():
            return
        self.message.retract()
        house, actor = self._tools.house_settings, self._actor
        policy = replace(self._policy, short_dated_days=self.days.value())
        self._tasks.run(
            lambda: house.set_inventory_policy(actor, policy),
            on_success=self._days_saved,
            on_failure=self._failed,
        )

    def _days_saved(self, policy: InventoryPolicy) -> None:
        self._policy = policy
        self.status.setText(
            f"Short-dated now means expiring within {policy.short_dated_days} days, on every "
            "workstation."
        )

"""Receive a delivery: the invoice's supplier, number and date, then each package scanned one
after another into a list, saved as one receipt (all lines or none) by the receiving service."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.domain.barcodes import Scan, ScanError, interpret_scan
from app.errors import RxBenchError
from app.services.receiving import ReceiptRow, ReceivedScan, ReceivingService
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field
from ui.scanner import ScanLineEdit, ScanRouter, visible_controls

_DOLLARS = re.compile(r"\$?\s*(\d+(?:\.\d{1,2})?)")
TYPE_LOT_TEXT = "This code carries no lot or expiry: type them from the package, then press Enter."
NOTHING_SCANNED = "Scan at least one package before saving."


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"Type the {what} as YYYY-MM-DD, not “{text.strip()}”.") from None


class ReceiveStockDialog(QDialog):
    """After acceptance `receipt` is the receipt saved."""

    def __init__(
        self,
        receiving: ReceivingService,
        actor: Actor,
        *,
        today: date | None = None,
        scan_router: ScanRouter | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._scan_router = scan_router
        self._receiving = receiving
        self._actor = actor
        self._pending: str | None = None
        self.lines: list[ReceivedScan] = []
        self.receipt: ReceiptRow | None = None
        self.setWindowTitle("Receive stock — RxBench")
        self.setMinimumWidth(620)

        invoice = QFormLayout()
        self.supplier = add_field(invoice, "S&upplier:", QLineEdit())
        self.invoice_number = add_field(invoice, "&Invoice number:", QLineEdit())
        self.invoice_date = add_field(invoice, "Invoice &date:", QLineEdit())
        self.invoice_date.setText((today or date.today()).isoformat())
        self.invoice_date.setPlaceholderText("YYYY-MM-DD")
        self.dea_order_number = add_field(invoice, "DEA &order number:", QLineEdit())
        self.dea_order_number.setPlaceholderText("DEA Form 222 / CSOS, for schedule II")
        self.dea_order_date = add_field(invoice, "DEA order da&te:", QLineEdit())
        self.dea_order_date.setPlaceholderText("YYYY-MM-DD, for schedule II")

        package = QFormLayout()
        self.packages = add_field(package, "&Packages per scan:", QSpinBox())
        self.packages.setRange(1, 9999)
        self.unit_cost = add_field(package, "Unit &cost ($ per package):", QLineEdit())
        self.unit_cost.setPlaceholderText("optional, 12.34")
        self.suspect = add_field(package, "Suspe&ct product:", QCheckBox("quarantine it"))
        self.suspect_reason = add_field(package, "Suspect &reason:", QLineEdit())
        self.scan = add_field(package, "Sc&an:", ScanLineEdit())
        self.lot = add_field(package, "&Lot:", QLineEdit())
        self.expiry = add_field(package, "E&xpiry:", QLineEdit())
        self.expiry.setPlaceholderText("YYYY-MM-DD")

        self.list = QListWidget()
        self.list.setAccessibleName("Received packages")
        self.remove_button = QPushButton("Re&move line")
        self.remove_button.setAccessibleName("Remove line")
        self.save_button = QPushButton("&Save receipt")
        self.save_button.setAccessibleName("Save receipt")
        cancel = QPushButton("Cancel")
        for button in (self.remove_button, self.save_button, cancel):
            button.setAutoDefault(False)
            button.setDefault(False)
        self.message = MessageLine()

        buttons = QHBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(invoice)
        layout.addLayout(package)
        listed = QLabel("Received packages:")
        layout.addWidget(listed)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

        self.scan.entry.connect(self._scanned)
        self.lot.returnPressed.connect(self._typed_lot)
        self.expiry.returnPressed.connect(self._typed_lot)
        self.remove_button.clicked.connect(self.remove_line)
        self.save_button.clicked.connect(self.accept)
        cancel.clicked.connect(self.reject)
        QShortcut(QKeySequence("Ctrl+S"), self).activated.connect(self.accept)
        remove = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.list)
        remove.activated.connect(self.remove_line)
        self.supplier.setFocus()

    # --- scanning -----------------------------------------------------------------------------

    def _scanned(self, text: str, _manual: bool) -> None:
        self.message.retract()
        try:
            scan = interpret_scan(text)
        except ScanError as error:
            self.message.show_error(error)
            return
        if scan.lot and scan.expiry:
            self._add(text, scan, lot="", expiry=None)
            return
        self._pending = text
        self.message.show_problem(TYPE_LOT_TEXT)
        self.lot.setFocus()

    def _typed_lot(self) -> None:
        if self._pending is None:
            self.focusNextChild()
            return
        lot = self.lot.text().strip()
        if not lot:
            self.message.show_problem(TYPE_LOT_TEXT)
            self.lot.setFocus()
            return
        if not self.expiry.text().strip():
            self.expiry.setFocus()
            return
        try:
            expiry = _date(self.expiry.text(), "expiry")
        except ValueError as error:
            self.message.show_problem(str(error))
            self.expiry.setFocus()
            return
        text, self._pending = self._pending, None
        self._add(text, interpret_scan(text), lot=lot, expiry=expiry)

    def _add(self, text: str, scan: Scan, *, lot: str, expiry: date | None) -> None:
        cost_text = self.unit_cost.text().strip()
        cost: int | None = None
        if cost_text:
            found = _DOLLARS.fullmatch(cost_text)
            if found is None:
                self.message.show_problem(
                    f"“{cost_text}” is not a cost in dollars and cents (like 12.34)."
                )
                self.unit_cost.setFocus()
                self._pending = text
                return
            cost = int(Decimal(found.group(1)) * 100)
        line = ReceivedScan(
            text,
            lot_number=lot,
            expiry=expiry,
            packages=self.packages.value(),
            unit_cost_cents=cost,
            suspect=self.suspect.isChecked(),
            suspect_reason=self.suspect_reason.text().strip(),
        )
        self.lines.append(line)
        self.list.addItem(self._describe(scan, line))
        self.list.setCurrentRow(self.list.count() - 1)
        self.message.retract()
        for field in (self.lot, self.expiry, self.scan):
            field.clear()
        self.scan.setFocus()

    @staticmethod
    def _describe(scan: Scan, line: ReceivedScan) -> str:
        ndc = (
            scan.candidates[0].hyphenated
            if len(scan.candidates) == 1
            else visible_controls(scan.text)
        )
        parts = [
            f"NDC {ndc}",
            f"lot {scan.lot or line.lot_number}",
            f"exp {(scan.expiry or line.expiry or date.min).isoformat()}",
        ]
        if scan.serial:
            parts.append(f"serial {scan.serial}")
        parts.append(f"{line.packages} package{'s' if line.packages != 1 else ''}")
        if line.unit_cost_cents is not None:
            parts.append(f"${line.unit_cost_cents // 100}.{line.unit_cost_cents % 100:02d} each")
        if line.suspect:
            parts.append(f"SUSPECT: {line.suspect_reason or 'no reason given'}")
        return " · ".join(parts)

    def remove_line(self) -> None:
        row = self.list.currentRow()
        if row < 0:
            return
        self.list.takeItem(row)
        del self.lines[row]

    # --- saving -------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        """While the dialog is open, the wedge scanner's scans land in its scan field."""
        super().showEvent(event)
        if self._scan_router is not None:
            self._scan_router.push_receiver(self.scan)

    def done(self, result: int) -> None:
        if self._scan_router is not None:
            self._scan_router.remove_receiver(self.scan)
        super().done(result)

    def accept(self) -> None:
        self.message.retract()
        if not self.lines:
            self.message.show_problem(NOTHING_SCANNED)
            self.scan.setFocus()
            return
        try:
            invoice_date = _date(self.invoice_date.text(), "invoice date")
            order_text = self.dea_order_date.text().strip()
            order_date = _date(order_text, "DEA order date") if order_text else None
        except ValueError as error:
            self.message.show_problem(str(error))
            return
        try:
            self.receipt = self._receiving.receive_scans(
                self._actor,
                supplier=self.supplier.text(),
                invoice_number=self.invoice_number.text(),
                invoice_date=invoice_date,
                lines=list(self.lines),
                dea_order_number=self.dea_order_number.text(),
                dea_order_date=order_date,
            )
        except RxBenchError as error:
            self.message.show_error(error)
            return
        super().accept()

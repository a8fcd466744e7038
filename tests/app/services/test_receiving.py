"""Receiving by scan and by invoice CSV: the receipt, its lines, the ledger, the lot's cost, the
DSCSA rules (serials, suspect product, schedule II orders) and refusals that write nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import (
    AuditEvent,
    ControlledSubstanceEntry,
    DrugPackage,
    Receipt,
    ReceiptLine,
    StockLot,
    StockMovement,
    WorkItem,
)
from app.domain.barcodes import gs1_element_string, gtin14_for, upc_a_for
from app.domain.ndc import parse_ndc
from app.domain.roles import Role
from app.errors import PermissionDenied, RxBenchError
from app.services.inventory import ledger_balance_mismatches
from app.services.receiving import (
    ReceivedScan,
    ReceivingRefused,
    ReceivingService,
    UnknownProduct,
)
from app.services.reorder import SHORT_DATED
from app.services.unit_of_work import Actor
from tests.app.services.inventory_data import add_user, written
from tests.app.services.pharmacy_data import SEEDED

TODAY = date(2026, 11, 25)
INVOICE_DATE = date(2026, 11, 24)
LATER = date(2028, 6, 30)
LISINOPRIL_100 = "65862-039-01"  # 100 TABLET in 1 BOTTLE
LISINOPRIL_30 = "65862-039-30"  # 30 TABLET in 1 BOTTLE
OXYCODONE_100 = "65162-047-10"  # C-II, 100 TABLET in 1 BOTTLE


@pytest.fixture
def receiving(catalogue: Services) -> ReceivingService:
    return ReceivingService(catalogue.database, today=lambda: TODAY)


def _package(services: Services, ndc: str) -> int:
    with services.database.reading() as session:
        return session.scalars(select(DrugPackage.id).where(DrugPackage.ndc == ndc)).one()


def _datamatrix(ndc: str, *, lot: str, serial: str, expiry: date = LATER) -> str:
    return gs1_element_string(gtin14_for(parse_ndc(ndc)), expiry=expiry, lot=lot, serial=serial)


def _upc(ndc: str) -> str:
    return upc_a_for(parse_ndc(ndc))


def _receive(receiving: ReceivingService, actor: Actor, *lines: ReceivedScan, **header: Any) -> Any:
    fields: dict[str, Any] = {
        "supplier": "Cardinal Health",
        "invoice_number": "INV-1001",
        "invoice_date": INVOICE_DATE,
    }
    fields.update(header)
    return receiving.receive_scans(actor, lines=list(lines), **fields)


def _counts(services: Services) -> tuple[Any, int, int]:
    with services.database.reading() as session:
        receipts = session.scalar(select(func.count(Receipt.id))) or 0
        lines = session.scalar(select(func.count(ReceiptLine.id))) or 0
    return written(services), receipts, lines


def _refused(
    services: Services, error: type[RxBenchError], action: Callable[[], Any], *words: str
) -> RxBenchError:
    before = _counts(services)
    with pytest.raises(error) as raised:
        action()
    assert _counts(services) == before
    for word in words:
        assert word in raised.value.message
    return raised.value


def test_datamatrix_scan_receives_with_serial_cost_and_audit(
    catalogue: Services, receiving: ReceivingService, technician: Actor
) -> None:
    text = _datamatrix(LISINOPRIL_100, lot="A1B2", serial="SN0001")
    receipt = _receive(
        receiving,
        technician,
        ReceivedScan(text, unit_cost_cents=1234),
        ReceivedScan(
            _datamatrix(LISINOPRIL_100, lot="A1B2", serial="SN0002"), unit_cost_cents=1250
        ),
    )
    assert receipt.source == "scan" and receipt.supplier == "Cardinal Health"
    assert receipt.username == technician.username
    assert [line.serial for line in receipt.lines] == ["SN0001", "SN0002"]
    first = receipt.lines[0]
    assert first.ndc == LISINOPRIL_100 and first.lot_number == "A1B2" and first.expiry == LATER
    assert first.quantity == Decimal(100) and first.lot_status == "available"
    assert receipt.lines[0].lot_id == receipt.lines[1].lot_id
    with catalogue.database.reading() as session:
        lot = session.get(StockLot, first.lot_id)
        assert lot is not None
        assert lot.on_hand == Decimal(200) and lot.unit_cost_cents == 1250
        movements = session.scalars(
            select(StockMovement).where(StockMovement.lot_id == lot.id).order_by(StockMovement.id)
        ).all()
        assert [(m.kind, m.quantity) for m in movements] == [("received", 100), ("received", 100)]
        assert [m.id for m in movements] == [line.movement_id for line in receipt.lines]
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("receipt.%"))
        ).all()
        assert sorted(actions) == [
            "receipt.line_received",
            "receipt.line_received",
            "receipt.received",
        ]
        assert ledger_balance_mismatches(session) == []
    assert receiving.receipt(technician, receipt.receipt_id) == receipt
    assert [row.receipt_id for row in receiving.receipts(technician)] == [receipt.receipt_id]
    assert receiving.receipts(technician)[0].lines == ()


def test_upc_with_typed_lot_and_expiry_and_packages(
    catalogue: Services, receiving: ReceivingService, pharmacist: Actor
) -> None:
    receipt = _receive(
        receiving,
        pharmacist,
        ReceivedScan(_upc(LISINOPRIL_30), lot_number="UPC-7", expiry=LATER, packages=3),
        ReceivedScan(_upc(LISINOPRIL_100), lot_number="UPC-8", expiry=LATER, quantity="45"),
    )
    assert [(line.ndc, line.lot_number, line.quantity) for line in receipt.lines] == [
        (LISINOPRIL_30, "UPC-7", Decimal(90)),
        (LISINOPRIL_100, "UPC-8", Decimal(45)),
    ]
    assert all(line.serial is None and line.unit_cost_cents is None for line in receipt.lines)


def test_upc_without_lot_or_expiry_is_refused_and_nothing_written(
    catalogue: Services, receiving: ReceivingService, technician: Actor
) -> None:
    good = ReceivedScan(_datamatrix(LISINOPRIL_100, lot="OK1", serial="S1"))
    refusal = _refused(
        catalogue,
        ReceivingRefused,
        lambda: _receive(
            receiving,
            technician,
            good,
            ReceivedScan(_upc(LISINOPRIL_30)),
            ReceivedScan(_upc(LISINOPRIL_30), lot_number="X9"),
        ),
        "Line 2",
        "Line 3",
        "type the lot number and expiry",
        "nothing was written",
    )
    assert len(refusal.problems) == 2  # type: ignore[attr-defined]
    assert "no expiry" in refusal.problems[1]  # type: ignore[attr-defined]


def test_lot_typed_against_the_barcode_and_expired_stock_are_refused(
    catalogue: Services, receiving: ReceivingService, technician: Actor
) -> None:
    text = _datamatrix(LISINOPRIL_100, lot="A1", serial="S1")
    _refused(
        catalogue,
        ReceivingRefused,
        lambda: _receive(receiving, technician, ReceivedScan(text, lot_number="B2")),
        "says lot A1, not B2",
    )
    old = _datamatrix(LISINOPRIL_100, lot="OLD", serial="S2", expiry=TODAY - timedelta(days=1))
    _refused(
        catalogue,
        ReceivingRefused,
        lambda: _receive(receiving, technician, ReceivedScan(old)),
        "expired",
    )


def test_duplicate_serial_is_refused(
    catalogue: Services, receiving: ReceivingService, technician: Actor
) -> None:
    text = _datamatrix(LISINOPRIL_100, lot="D1", serial="DUP42")
    first = _receive(receiving, technician, ReceivedScan(text))
    _refused(
        catalogue,
        ReceivingRefused,
        lambda: _receive(receiving, technician, ReceivedScan(text), invoice_number="INV-2"),
        "serial DUP42",
        f"already received (receipt {first.receipt_id})",
    )
    other = _datamatrix(LISINOPRIL_100, lot="D1", serial="TWICE")
    _refused(
        catalogue,
        ReceivingRefused,
        lambda: _receive(receiving, technician, ReceivedScan(other), ReceivedScan(other)),
        "Line 2: serial TWICE",
        "on line 1 already",
    )


def test_schedule_ii_needs_the_dea_order(
    catalogue: Services, receiving: ReceivingService, pharmacist: Actor
) -> None:
    scan = ReceivedScan(_datamatrix(OXYCODONE_100, lot="CII-1", serial="C1"))
    _refused(
        catalogue,
        ReceivingRefused,
        lambda: _receive(receiving, pharmacist, scan),
        "Line 1",
        "schedule II",
        "DEA Form 222 / CSOS order number",
    )
    _refused(
        catalogue,
        ReceivingRefused,
        lambda: _receive(receiving, pharmacist, scan, dea_order_number="ABC123"),
        "number and its date",
    )
    receipt = _receive(
        receiving,
        pharmacist,
        scan,
        dea_order_number="ABC123",
        dea_order_date=date(2026, 11, 20),
    )
    assert receipt.dea_order_number == "ABC123" and receipt.dea_order_date == date(2026, 11, 20)
    with catalogue.database.reading() as session:
        lot = session.get(StockLot, receipt.lines[0].lot_id)
        assert lot is not None and lot.location == "controlled-substance cabinet"
        entry = session.scalars(select(ControlledSubstanceEntry)).one()
        assert entry.movement_id == receipt.lines[0].movement_id
        assert entry.balance_after == Decimal(100)


def test_suspect_product_is_received_into_quarantine(
    catalogue: Services, receiving: ReceivingService, technician: Actor
) -> None:
    _refused(
        catalogue,
        ReceivingRefused,
        lambda: _receive(
            receiving,
            technician,
            ReceivedScan(_upc(LISINOPRIL_30), lot_number="S-1", expiry=LATER, suspect=True),
        ),
        "Say why",
    )
    receipt = _receive(
        receiving,
        technician,
        ReceivedScan(
            _upc(LISINOPRIL_30),
            lot_number="S-1",
            expiry=LATER,
            suspect=True,
            suspect_reason="seal broken, label altered",
        ),
    )
    line = receipt.lines[0]
    assert line.suspect and line.suspect_reason == "seal broken, label altered"
    assert line.lot_status == "quarantined"
    assert "received into quarantine" in receipt.notices[0]
    with catalogue.database.reading() as session:
        lot = session.get(StockLot, line.lot_id)
        assert lot is not None and lot.location == "quarantine shelf"
        assert session.scalar(
            select(AuditEvent.id).where(AuditEvent.action == "stock.lot_quarantined")
        )


def test_stock_of_a_recalled_lot_goes_to_quarantine(
    catalogue: Services, receiving: ReceivingService, technician: Actor, admin: Actor
) -> None:
    package_id = _package(catalogue, LISINOPRIL_100)
    with catalogue.database.unit_of_work(admin) as uow:
        lot = StockLot(
            package_id=package_id,
            lot_number="RC-1",
            expiry=LATER,
            status="recalled",
            location="quarantine shelf",
            on_hand=Decimal(0),
        )
        uow.session.add(lot)
        uow.audit(SEEDED, lot)
    receipt = _receive(
        receiving, technician, ReceivedScan(_datamatrix(LISINOPRIL_100, lot="RC-1", serial="R1"))
    )
    assert receipt.lines[0].lot_status == "recalled"
    assert "recalled" in receipt.notices[0] and "quarantine" in receipt.notices[0]


def test_unknown_ndc_is_refused_with_the_add_product_way(
    catalogue: Services, receiving: ReceivingService, technician: Actor
) -> None:
    unknown = _datamatrix("11111-222-33", lot="U1", serial="U1")
    _refused(
        catalogue,
        UnknownProduct,
        lambda: _receive(receiving, technician, ReceivedScan(unknown)),
        "11111-222-33",
        "not in the drug catalogue",
        "Add product",
    )


def test_only_technicians_and_pharmacists_receive(
    catalogue: Services, receiving: ReceivingService, admin: Actor, technician: Actor
) -> None:
    office = add_user(catalogue, admin, "olive", Role.ADMINISTRATOR)
    scan = ReceivedScan(_datamatrix(LISINOPRIL_100, lot="P1", serial="P1"))
    with pytest.raises(PermissionDenied, match="technician or pharmacist"):
        _receive(receiving, office, scan)
    with pytest.raises(PermissionDenied):
        receiving.import_invoice_csv(office, "supplier\n")
    assert _counts(catalogue)[1:] == (0, 0)
    assert receiving.receipts(office) == []
    _receive(receiving, technician, scan)
    assert len(receiving.receipts(office)) == 1


CSV_HEADER = (
    "supplier,invoice_number,invoice_date,ndc,lot,expiry,quantity,unit_cost,serial,"
    "dea_order_number,dea_order_date\n"
)


def test_invoice_csv_is_imported_with_ledger_and_cost(
    catalogue: Services, receiving: ReceivingService, technician: Actor, tmp_path: Path
) -> None:
    path = tmp_path / "invoice.csv"
    path.write_text(
        CSV_HEADER
        + "McKesson,MCK-77,2026-11-23,65862003901,L-100,2028-01-31,2,12.34,,,\n"
        + "McKesson,MCK-77,2026-11-23,65862-039-30,L-30,2028-02-29,1,3.50,SER9,,\n"
        + "McKesson,MCK-77,2026-11-23,65162-0047-10,OX-1,2028-03-31,1,40.00,,Z12345,2026-11-20\n",
        encoding="utf-8",
    )
    receipt = receiving.import_invoice_csv(technician, path)
    assert (receipt.source, receipt.supplier, receipt.invoice_number) == (
        "invoice_csv",
        "McKesson",
        "MCK-77",
    )
    assert receipt.invoice_date == date(2026, 11, 23)
    assert receipt.dea_order_number == "Z12345"
    assert [
        (line.ndc, line.lot_number, line.quantity, line.unit_cost_cents, line.serial)
        for line in receipt.lines
    ] == [
        (LISINOPRIL_100, "L-100", Decimal(200), 1234, None),
        (LISINOPRIL_30, "L-30", Decimal(30), 350, "SER9"),
        (OXYCODONE_100, "OX-1", Decimal(100), 4000, None),
    ]
    with catalogue.database.reading() as session:
        lot = session.get(StockLot, receipt.lines[0].lot_id)
        assert lot is not None
        assert (lot.on_hand, lot.unit_cost_cents, lot.expiry) == (
            Decimal(200),
            1234,
            date(2028, 1, 31),
        )
        assert ledger_balance_mismatches(session) == []


def test_bad_invoice_csv_is_rejected_whole_with_line_numbers(
    catalogue: Services, receiving: ReceivingService, technician: Actor
) -> None:
    text = (
        CSV_HEADER
        + "McKesson,MCK-78,2026-11-23,65862-039-01,L1,2028-01-31,1,12.34,,,\n"
        + "McKesson,MCK-78,2026-11-23,11111-222-33,L2,2028-01-31,1,1.00,,,\n"
        + "McKesson,MCK-78,2026-11-23,65862-039-01,L3,31/01/2028,1,1.00,,,\n"
        + "McKesson,MCK-78,2026-11-23,65862-039-01,L4,2020-01-31,1,1.00,,,\n"
        + "McKesson,MCK-78,2026-11-23,65862-039-01,L5,2028-01-31,1,1.005,,,\n"
        + "McKesson,MCK-99,2026-11-23,65862-039-01,L6,2028-01-31,1,1.00,,,\n"
        + "McKesson,MCK-78,2026-11-23,65162-047-10,L7,2028-01-31,1,1.00,,,\n"
        + "McKesson,MCK-78,2026-11-23,65862-039-01,L8,2028-01-31\n"
    )
    refusal = _refused(
        catalogue,
        ReceivingRefused,
        lambda: receiving.import_invoice_csv(technician, text),
        "nothing was written",
    )
    problems = refusal.problems  # type: ignore[attr-defined]
    joined = "\n".join(problems)
    assert not any(problem.startswith("Line 2:") for problem in problems)
    for expected in (
        "Line 3: NDC 11111-222-33 is not in the drug catalogue",
        "Line 4: the expiry “31/01/2028” is not a date written YYYY-MM-DD",
        "Line 5: Lot L4 expired on 2020-01-31",
        "Line 6: the unit cost “1.005” is not dollars and cents",
        "Line 7: invoice_number “MCK-99” differs from “MCK-78” on line 2",
        "Line 8: NDC 65162-047-10 is schedule II",
        "Line 9: 6 fields where the header names 11",
    ):
        assert expected in joined, joined


def test_invoice_csv_with_a_missing_column_is_rejected(
    catalogue: Services, receiving: ReceivingService, technician: Actor
) -> None:
    _refused(
        catalogue,
        ReceivingRefused,
        lambda: receiving.import_invoice_csv(
            technician,
            "supplier,invoice_number,invoice_date,ndc,lot,expiry,quantity\n"
            "McKesson,M1,2026-11-23,65862-039-01,L1,2028-01-31,1\n",
        ),
        "Line 1: the column unit_cost is missing",
    )
    _refused(
        catalogue,
        ReceivingRefused,
        lambda: receiving.import_invoice_csv(technician, CSV_HEADER),
        "no invoice lines",
    )


def test_a_short_dated_lot_received_reaches_the_pharmacists_inbox(
    catalogue: Services, receiving: ReceivingService, technician: Actor
) -> None:
    soon = TODAY + timedelta(days=10)
    _receive(
        receiving,
        technician,
        ReceivedScan(_datamatrix(LISINOPRIL_100, lot="LONG", serial="L1")),
        ReceivedScan(_datamatrix(LISINOPRIL_30, lot="SOON", serial="S1", expiry=soon)),
    )
    with catalogue.database.reading() as session:
        open_items = session.scalars(
            select(WorkItem.entity_id).where(
                WorkItem.kind == "shortage", WorkItem.closed_at.is_(None)
            )
        ).all()
    assert open_items == [f"{_package(catalogue, LISINOPRIL_30)}:{SHORT_DATED}"]

"""Reorder levels, the suggested order (usage window, rounding to packages, what counts as on
hand), its CSV export, and shortage notices on the pharmacist's work list."""

from __future__ import annotations

import csv
import threading
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.bootstrap import Services
from app.db.models import (
    AuditEvent,
    DrugPackage,
    Fill,
    FillBottle,
    Prescription,
    StockLevel,
    StockLot,
    StockMovement,
    WorkItem,
)
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.errors import NotFound, PermissionDenied, StaleRecord, ValidationFailed
from app.services import dispensing
from app.services.inventory import InventoryService
from app.services.reorder import (
    BELOW_MINIMUM,
    CSV_COLUMNS,
    FILLS_SHORT,
    SHORT_DATED,
    Notice,
    ReorderService,
    open_shortage_notices,
)
from app.services.unit_of_work import Actor
from tests.app.services.inventory_data import add_package, add_user
from tests.app.services.pharmacy_data import (
    SEEDED,
    add_fill,
    add_patient,
    add_prescription,
    simple_fill,
)
from tests.app.services.verification_data import (
    catalogue_fill,
    package_upc,
    receive_lot,
    scan_and_complete,
)
from tests.conftest import BACKEND

TODAY = date(2025, 6, 1)
LATER = TODAY + timedelta(days=400)


@pytest.fixture
def reorder(services: Services) -> ReorderService:
    return ReorderService(services.database, today=lambda: TODAY)


@pytest.fixture
def inventory(services: Services) -> InventoryService:
    return InventoryService(services.database, today=lambda: TODAY)


@pytest.fixture
def package(services: Services, admin: Actor) -> int:
    package_id = add_package(services, admin)
    with services.database.unit_of_work(admin) as uow:
        record = uow.session.get(DrugPackage, package_id)
        assert record is not None
        record.billing_quantity = Decimal(100)
        uow.audit(SEEDED, record)
    return package_id


def _lot(
    services: Services,
    actor: Actor,
    package_id: int,
    on_hand: int,
    *,
    lot_number: str = "L1",
    expiry: date = LATER,
    status: str = "available",
) -> int:
    """A lot with its stock, written as the ledger would (one received movement)."""
    with services.database.unit_of_work(actor) as uow:
        lot = StockLot(
            package_id=package_id,
            lot_number=lot_number,
            expiry=expiry,
            status=status,
            on_hand=Decimal(on_hand),
        )
        uow.session.add(lot)
        uow.session.flush()
        movement = StockMovement(
            lot_id=lot.id, kind="received", quantity=Decimal(on_hand), workstation="test"
        )
        uow.session.add(movement)
        uow.audit(SEEDED, movement)
    return lot.id


def _dispensed(
    services: Services, actor: Actor, lot_id: int, quantity: int, *, days_ago: int
) -> None:
    """A dispensing movement `days_ago` days before TODAY (the lot's balance left as is: the
    tests set what is on hand directly)."""
    with services.database.unit_of_work(actor) as uow:
        movement = StockMovement(
            lot_id=lot_id,
            kind="dispensed",
            quantity=Decimal(-quantity),
            workstation="test",
            occurred_at=datetime.combine(TODAY - timedelta(days=days_ago), time(12), tzinfo=UTC),
        )
        uow.session.add(movement)
        uow.audit(SEEDED, movement)


def _waiting_fill(
    services: Services, actor: Actor, package_id: int, state: FillState = FillState.DATA_ENTRY
) -> int:
    patient_id = add_patient(services, actor)
    prescription_id = add_prescription(
        services, actor, patient_id=patient_id, package_id=package_id
    )
    return add_fill(services, actor, prescription_id=prescription_id, state=state)


def _open_shortages(services: Services) -> list[tuple[str, str]]:
    with services.database.reading() as session:
        return sorted(
            (item.entity_id, item.kind)
            for item in session.scalars(
                select(WorkItem).where(WorkItem.kind == "shortage", WorkItem.closed_at.is_(None))
            )
        )


def _audit_count(services: Services, action: str) -> int:
    with services.database.reading() as session:
        return (
            session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == action))
            or 0
        )


# --- levels -----------------------------------------------------------------------------------


def test_a_level_is_set_changed_and_listed_with_audit(
    services: Services, reorder: ReorderService, technician: Actor, pharmacist: Actor, package: int
) -> None:
    level = reorder.set_level(technician, package, minimum=50, maximum="200")
    assert (level.minimum, level.maximum, level.version) == (Decimal(50), Decimal(200), 1)
    changed = reorder.set_level(
        pharmacist, package, minimum=60, maximum=300, expected_version=level.version
    )
    assert (changed.minimum, changed.maximum, changed.version) == (Decimal(60), Decimal(300), 2)
    assert [(row.package_id, row.minimum) for row in reorder.levels(pharmacist)] == [
        (package, Decimal(60))
    ]
    assert _audit_count(services, "reorder.level_set") == 1
    assert _audit_count(services, "reorder.level_changed") == 1


@pytest.mark.parametrize(
    ("minimum", "maximum", "words"),
    [
        (-1, 10, "cannot be negative"),
        (20, 10, "cannot be below the minimum"),
        ("ten", 10, "quantity such as"),
        (1.5, 10, "quantity such as"),
        (0, 0, "more than zero"),
        ("0.0001", 10, "three decimals"),
    ],
)
def test_bad_levels_are_refused_saving_nothing(
    services: Services,
    reorder: ReorderService,
    technician: Actor,
    package: int,
    minimum: object,
    maximum: object,
    words: str,
) -> None:
    with pytest.raises(ValidationFailed, match=words):
        reorder.set_level(technician, package, minimum=minimum, maximum=maximum)  # type: ignore[arg-type]
    with services.database.reading() as session:
        assert session.scalar(select(func.count(StockLevel.id))) == 0


def test_a_stale_level_an_unknown_package_and_the_wrong_role_are_refused(
    services: Services, reorder: ReorderService, technician: Actor, admin: Actor, package: int
) -> None:
    reorder.set_level(technician, package, minimum=10, maximum=20)
    reorder.set_level(technician, package, minimum=11, maximum=20, expected_version=1)
    with pytest.raises(StaleRecord, match="Someone else changed"):
        reorder.set_level(technician, package, minimum=99, maximum=100, expected_version=1)
    with pytest.raises(NotFound):
        reorder.set_level(technician, package + 999, minimum=1, maximum=2)
    only_admin = add_user(services, admin, "ollie", Role.ADMINISTRATOR)
    with pytest.raises(PermissionDenied):
        reorder.set_level(only_admin, package, minimum=1, maximum=2)
    assert [row.minimum for row in reorder.levels(technician)] == [Decimal(11)]


# --- the suggested order ----------------------------------------------------------------------


def test_below_minimum_orders_up_to_maximum_in_whole_packages(
    services: Services, reorder: ReorderService, technician: Actor, admin: Actor, package: int
) -> None:
    reorder.set_level(technician, package, minimum=100, maximum=450)
    _lot(services, admin, package, 80)

    [line] = reorder.suggested_order(technician)

    assert line.package_id == package
    assert line.on_hand == Decimal(80)
    assert line.below_minimum
    assert line.order_packages == 4  # 370 needed, packages of 100
    assert line.order_quantity == Decimal(400)
    assert line.usage_per_day == Decimal(0)


def test_expired_and_quarantined_lots_are_not_on_hand(
    services: Services, reorder: ReorderService, technician: Actor, admin: Actor, package: int
) -> None:
    reorder.set_level(technician, package, minimum=100, maximum=200)
    _lot(services, admin, package, 60, lot_number="GOOD")
    _lot(services, admin, package, 500, lot_number="OLD", expiry=TODAY - timedelta(days=1))
    _lot(services, admin, package, 500, lot_number="HELD", status="quarantined")
    _lot(services, admin, package, 500, lot_number="RECALLED", status="recalled")

    [line] = reorder.suggested_order(technician)

    assert line.on_hand == Decimal(60)
    assert (line.order_packages, line.order_quantity) == (2, Decimal(200))


def test_recent_usage_projects_below_minimum_within_the_cycle(
    services: Services, reorder: ReorderService, technician: Actor, admin: Actor, package: int
) -> None:
    reorder.set_level(technician, package, minimum=100, maximum=500)
    lot = _lot(services, admin, package, 150)
    # 300 dispensed within the last 30 days (10 a day); 600 more 31–90 days ago.
    _dispensed(services, admin, lot, 200, days_ago=3)
    _dispensed(services, admin, lot, 100, days_ago=29)
    _dispensed(services, admin, lot, 600, days_ago=60)
    _dispensed(services, admin, lot, 999, days_ago=91)  # outside both windows

    # 30 days: 10 a day → 150 − 70 over a week is below 100.
    [line] = reorder.suggested_order(technician, window_days=30)
    assert line.usage_per_day == Decimal(10)
    assert not line.below_minimum
    assert (line.order_packages, line.order_quantity) == (4, Decimal(400))  # 350 → 4 × 100

    # 90 days: 900 / 90 = 10 a day as well; a shorter cycle keeps it above the minimum.
    assert reorder.suggested_order(technician, window_days=90)[0].usage_per_day == Decimal(10)
    assert reorder.suggested_order(technician, window_days=30, cycle_days=4) == []


def test_a_reversed_dispense_is_not_usage(
    services: Services, reorder: ReorderService, technician: Actor, admin: Actor, package: int
) -> None:
    reorder.set_level(technician, package, minimum=100, maximum=500)
    lot = _lot(services, admin, package, 150)
    fill = _waiting_fill(services, admin, package, FillState.SOLD)
    _dispensed(services, admin, lot, 300, days_ago=2)
    with services.database.unit_of_work(admin) as uow:
        movement = StockMovement(
            lot_id=lot,
            kind="reversal",
            quantity=Decimal(300),
            fill_id=fill,
            workstation="test",
            occurred_at=datetime.combine(TODAY - timedelta(days=1), time(9), tzinfo=UTC),
        )
        uow.session.add(movement)
        uow.audit(SEEDED, movement)

    assert reorder.suggested_order(technician) == []


def test_a_package_above_its_projection_or_without_a_level_is_not_ordered(
    services: Services, reorder: ReorderService, technician: Actor, admin: Actor, package: int
) -> None:
    reorder.set_level(technician, package, minimum=100, maximum=200)
    _lot(services, admin, package, 100)
    other = add_package(services, admin)
    _lot(services, admin, other, 0, lot_number="EMPTY")
    assert reorder.suggested_order(technician) == []


def test_bad_windows_are_refused(reorder: ReorderService, technician: Actor) -> None:
    for window in (0, -30, 400, "30", True):
        with pytest.raises(ValidationFailed, match="usage window"):
            reorder.suggested_order(technician, window_days=window)  # type: ignore[arg-type]


def test_the_order_exports_as_csv_with_its_columns_and_an_audit_event(
    services: Services,
    reorder: ReorderService,
    technician: Actor,
    admin: Actor,
    package: int,
    tmp_path: Path,
) -> None:
    reorder.set_level(technician, package, minimum=100, maximum="450.5")
    lot = _lot(services, admin, package, 80)
    _dispensed(services, admin, lot, 45, days_ago=1)
    target = tmp_path / "order.csv"

    reorder.export_order_csv(technician, target)

    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    with services.database.reading() as session:
        ndc = session.get(DrugPackage, package).ndc  # type: ignore[union-attr]
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[1:] == [[ndc, "Stockol 0 5 mg tablet", "80", "100", "450.5", "1.5", "4", "400"]]
    assert _audit_count(services, "reorder.exported") == 1


def test_an_unwritable_export_is_reported_and_not_audited(
    services: Services, reorder: ReorderService, technician: Actor, tmp_path: Path
) -> None:
    with pytest.raises(Exception, match="could not be written"):
        reorder.export_order_csv(technician, tmp_path / "no-such-folder" / "order.csv")
    assert _audit_count(services, "reorder.exported") == 0


# --- shortage notices -------------------------------------------------------------------------


def test_stock_below_minimum_opens_one_notice_however_often_checked(
    services: Services, reorder: ReorderService, technician: Actor, admin: Actor, package: int
) -> None:
    reorder.set_level(technician, package, minimum=100, maximum=200)
    _lot(services, admin, package, 40)

    [first] = reorder.check_shortages(technician, [package])
    [again] = reorder.check_shortages(technician)

    assert (first.reason, first.opened) == (BELOW_MINIMUM, True)
    assert (again.work_item_id, again.opened) == (first.work_item_id, False)
    assert "40 on hand, below the minimum of 100" in first.summary
    assert _open_shortages(services) == [(f"{package}:{BELOW_MINIMUM}", "shortage")]


def test_waiting_fills_needing_more_than_on_hand_open_one_notice(
    services: Services, reorder: ReorderService, technician: Actor, admin: Actor, package: int
) -> None:
    _lot(services, admin, package, 50)
    _waiting_fill(services, admin, package, FillState.DATA_ENTRY)  # 30
    assert reorder.check_shortages(technician, [package]) == []  # 30 of 50: enough
    _waiting_fill(services, admin, package, FillState.FILL)  # 60 of 50
    _waiting_fill(services, admin, package, FillState.SOLD)  # gone: not waiting

    [notice] = reorder.check_shortages(technician, [package])
    assert reorder.check_shortages(technician, [package])[0].opened is False

    assert notice.reason == FILLS_SHORT
    assert "2 waiting fills need 60, 50 on hand" in notice.summary
    assert _open_shortages(services) == [(f"{package}:{FILLS_SHORT}", "shortage")]


def test_short_dated_stock_opens_one_notice(
    services: Services, reorder: ReorderService, technician: Actor, admin: Actor, package: int
) -> None:
    _lot(services, admin, package, 20, lot_number="SOON", expiry=TODAY + timedelta(days=30))
    _lot(services, admin, package, 0, lot_number="EMPTY", expiry=TODAY + timedelta(days=5))

    [notice] = reorder.check_shortages(technician)
    reorder.check_shortages(technician)

    assert notice.reason == SHORT_DATED
    assert f"20 expiring by {(TODAY + timedelta(days=30)).isoformat()}" in notice.summary
    assert _open_shortages(services) == [(f"{package}:{SHORT_DATED}", "shortage")]


def test_stock_changes_through_the_inventory_check_for_shortages(
    services: Services,
    reorder: ReorderService,
    inventory: InventoryService,
    technician: Actor,
    package: int,
) -> None:
    reorder.set_level(technician, package, minimum=100, maximum=200)
    change = inventory.receive(technician, package, lot_number="L1", expiry=LATER, quantity=150)
    assert _open_shortages(services) == []
    inventory.adjust(technician, change.lot.lot_id, quantity_change=-60, reason="broken bottle")
    assert _open_shortages(services) == [(f"{package}:{BELOW_MINIMUM}", "shortage")]


def test_notices_reach_the_pharmacist_work_list_and_only_a_pharmacist_acknowledges(
    services: Services,
    reorder: ReorderService,
    technician: Actor,
    pharmacist: Actor,
    admin: Actor,
    package: int,
) -> None:
    reorder.set_level(technician, package, minimum=100, maximum=200)
    _lot(services, admin, package, 10)
    [notice] = reorder.check_shortages(technician)

    [item] = services.worklist.items(pharmacist)
    assert (item.item_id, item.kind, item.kind_label) == (
        notice.work_item_id,
        "shortage",
        "Shortage",
    )
    assert item.summary == notice.summary
    assert services.worklist.count(pharmacist) == 1

    with pytest.raises(PermissionDenied):
        reorder.acknowledge(technician, notice.work_item_id)
    assert services.worklist.count(pharmacist) == 1

    reorder.acknowledge(pharmacist, notice.work_item_id, note="ordered from the wholesaler")
    assert services.worklist.count(pharmacist) == 0
    with pytest.raises(ValidationFailed, match="already acknowledged"):
        reorder.acknowledge(pharmacist, notice.work_item_id)
    with pytest.raises(NotFound):
        reorder.acknowledge(pharmacist, notice.work_item_id + 100)
    with services.database.reading() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "shortage.acknowledged")
        ).one()
        assert event.username == pharmacist.username
        assert event.summary["note"] == "ordered from the wholesaler"

    # Still short: the next check opens a fresh notice.
    [fresh] = reorder.check_shortages(technician)
    assert fresh.opened and fresh.work_item_id != notice.work_item_id


def test_acknowledge_refuses_items_that_are_not_shortage_notices(
    services: Services, reorder: ReorderService, pharmacist: Actor, admin: Actor
) -> None:
    simple_fill(services, admin, FillState.DATA_ENTRY)
    fill = simple_fill(services, admin, FillState.DATA_ENTRY)
    services.workflow.advance(admin, fill, to_state=FillState.DATA_REVIEW, expected_version=1)
    [item] = services.worklist.items(pharmacist)
    with pytest.raises(NotFound, match="no notice"):
        reorder.acknowledge(pharmacist, item.item_id)
    assert services.worklist.count(pharmacist) == 1


def _wait_until_someone_waits_on_a_lock(services: Services) -> None:
    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    with services.database.engine.connect() as connection:
        for _ in range(3000):
            if connection.execute(query).scalar():
                return
            clock.sleep(0.01)
    pytest.fail("the second check never waited for the first one's lock")


@pytest.mark.skipif(BACKEND != "postgresql", reason="several workstations share only PostgreSQL")
def test_two_workstations_checking_together_open_one_notice(
    services: Services, reorder: ReorderService, technician: Actor, admin: Actor, package: int
) -> None:
    reorder.set_level(technician, package, minimum=100, maximum=200)
    _lot(services, admin, package, 10)
    second: list[list[Notice]] = []
    with services.database.unit_of_work(technician) as uow:
        [first] = open_shortage_notices(uow, [package], TODAY)
        worker = threading.Thread(
            target=lambda: second.append(list(reorder.check_shortages(technician, [package])))
        )
        worker.start()
        _wait_until_someone_waits_on_a_lock(services)
    worker.join()

    assert first.opened
    [notice] = second[0]
    assert notice.opened is False
    assert notice.work_item_id == first.work_item_id
    assert _open_shortages(services) == [(f"{package}:{BELOW_MINIMUM}", "shortage")]


# --- shortage notices from dispensing at verification ----------------------------------------


def _fill_package(services: Services, fill_id: int) -> int:
    with services.database.reading() as session:
        return session.scalars(
            select(Prescription.package_id)
            .join(Fill, Fill.prescription_id == Prescription.id)
            .where(Fill.id == fill_id)
        ).one()


def test_a_bottle_accepted_at_verification_opens_the_notice_of_the_stock_it_took(
    services: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = catalogue_fill(services, admin, FillState.FILL)  # 30 units
    package_id = _fill_package(services, fill_id)
    receive_lot(services, admin, package_id, on_hand=Decimal(70))
    services.reorder.set_level(technician, package_id, minimum=50, maximum=100)
    catalogue_fill(services, admin, FillState.DATA_ENTRY)  # 30 more, waiting: 60 of 70
    assert services.reorder.check_shortages(technician, [package_id]) == []

    upc = package_upc(services, package_id)
    scan_and_complete(services.verification, technician, fill_id, upc=upc)

    # 40 left: below the minimum, and enough for the waiting fill (the filled one's bottles
    # are off the shelf, so its need is not counted again).
    assert _open_shortages(services) == [(f"{package_id}:{BELOW_MINIMUM}", "shortage")]
    with services.database.reading() as session:
        [summary] = session.scalars(select(WorkItem.summary).where(WorkItem.kind == "shortage"))
        opened_by = [
            event.username
            for event in session.scalars(
                select(AuditEvent).where(AuditEvent.action == "worklist.opened")
            )
            if event.summary["kind"] == "shortage"
        ]
    assert summary.endswith("40 on hand, below the minimum of 50")
    assert opened_by == [technician.username]


def test_a_dispense_leaving_a_fill_in_entry_short_opens_its_notice(
    services: Services, admin: Actor, technician: Actor
) -> None:
    """Prescription entry itself opens no notice: a fill in data entry is counted by the next
    check, which every change of stock makes (here the bottles of another fill)."""
    fill_id = catalogue_fill(services, admin, FillState.FILL)  # 30 units
    package_id = _fill_package(services, fill_id)
    receive_lot(services, admin, package_id, on_hand=Decimal(50))
    catalogue_fill(services, admin, FillState.DATA_ENTRY)  # 30 more, in entry
    assert _open_shortages(services) == []

    upc = package_upc(services, package_id)
    scan_and_complete(services.verification, technician, fill_id, upc=upc)

    assert _open_shortages(services) == [(f"{package_id}:{FILLS_SHORT}", "shortage")]
    with services.database.reading() as session:
        [summary] = session.scalars(select(WorkItem.summary).where(WorkItem.kind == "shortage"))
    assert summary.endswith("1 waiting fill needs 30, 20 on hand")


def test_the_notice_is_written_in_the_bottles_transaction(
    services: Services, admin: Actor, technician: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shortage check that fails takes the bottle with it: one transaction, all or nothing."""
    fill_id = catalogue_fill(services, admin, FillState.FILL)
    package_id = _fill_package(services, fill_id)
    receive_lot(services, admin, package_id, on_hand=Decimal(40))
    services.reorder.set_level(technician, package_id, minimum=20, maximum=100)

    def failing_check(*_args: object) -> None:
        raise RuntimeError("the shortage check failed")

    monkeypatch.setattr(dispensing, "open_shortage_notices", failing_check)
    upc = package_upc(services, package_id)
    with pytest.raises(RuntimeError):
        scan_and_complete(services.verification, technician, fill_id, upc=upc)
    monkeypatch.undo()

    with services.database.reading() as session:
        bottles = session.scalar(select(func.count(FillBottle.id)))
        dispensed = session.scalar(
            select(func.count(StockMovement.id)).where(StockMovement.kind == "dispensed")
        )
    assert (bottles, dispensed) == (0, 0)
    assert _open_shortages(services) == []


def test_levels_show_the_dispensable_stock_and_whether_it_is_below_minimum(
    services: Services, reorder: ReorderService, technician: Actor, admin: Actor, package: int
) -> None:
    saved = reorder.set_level(technician, package, minimum=100, maximum=200)
    assert (saved.on_hand, saved.below_minimum) == (0, True)
    _lot(services, admin, package, 80)
    _lot(services, admin, package, 500, lot_number="OLD", expiry=TODAY - timedelta(days=1))
    _lot(services, admin, package, 500, lot_number="HELD", status="quarantined")

    [row] = reorder.levels(technician)
    assert (row.on_hand, row.below_minimum) == (80, True)
    _lot(services, admin, package, 20, lot_number="L2")
    [row] = reorder.levels(technician)
    assert (row.on_hand, row.below_minimum) == (100, False)

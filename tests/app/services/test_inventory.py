"""The stock ledger: every operation, every refusal writing nothing, controlled-substance
witnesses, reversal once, the negative on-hand policy, FEFO, expiry and the ledger's history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent, ControlledSubstanceEntry, StockLot, StockMovement
from app.domain.roles import Role
from app.errors import NotFound, PermissionDenied, RxBenchError, ValidationFailed
from app.services.dispensing import dispense_from_lot
from app.services.house_settings import InventoryPolicy
from app.services.inventory import (
    ExpiredStockRefused,
    InventoryService,
    LotExpiryMismatch,
    LotStatusRefused,
    NegativeOnHandRefused,
    ReversalRefused,
    StockChange,
    WitnessRequired,
    controlled_log_mismatches,
    ledger_balance_mismatches,
)
from app.services.unit_of_work import Actor
from tests.app.services.inventory_data import add_package, add_user, written
from tests.app.services.pharmacy_data import SEEDED, simple_fill

TODAY = date(2025, 6, 1)
LATER = TODAY + timedelta(days=400)


@pytest.fixture
def inventory(services: Services) -> InventoryService:
    return InventoryService(services.database, today=lambda: TODAY)


@pytest.fixture
def package(services: Services, admin: Actor) -> int:
    return add_package(services, admin)


@pytest.fixture
def cii_package(services: Services, admin: Actor) -> int:
    return add_package(services, admin, schedule="CII")


@pytest.fixture
def second_technician(services: Services, admin: Actor) -> Actor:
    return add_user(services, admin, "terry", Role.TECHNICIAN)


def _receive(
    inventory: InventoryService,
    actor: Actor,
    package_id: int,
    quantity: int = 100,
    *,
    lot_number: str = "L1",
    expiry: date = LATER,
) -> StockChange:
    return inventory.receive(
        actor, package_id, lot_number=lot_number, expiry=expiry, quantity=quantity
    )


def _refused_writing_nothing(
    services: Services, error: type[RxBenchError], action: Callable[[], Any], *words: str
) -> RxBenchError:
    before = written(services)
    with pytest.raises(error) as raised:
        action()
    assert written(services) == before
    for word in words:
        assert word in raised.value.message
    return raised.value


def _events(services: Services, action: str) -> list[AuditEvent]:
    with services.database.reading() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def _log(services: Services, package_id: int) -> list[ControlledSubstanceEntry]:
    with services.database.reading() as session:
        return list(
            session.scalars(
                select(ControlledSubstanceEntry)
                .where(ControlledSubstanceEntry.package_id == package_id)
                .order_by(ControlledSubstanceEntry.id)
            )
        )


def _consistent(services: Services) -> None:
    with services.database.reading() as session:
        assert ledger_balance_mismatches(session) == []
        assert controlled_log_mismatches(session) == []


# --- receiving --------------------------------------------------------------------------------


def test_receiving_creates_the_lot_then_adds_to_it(
    services: Services, technician: Actor, package: int
) -> None:
    first = services.inventory.receive(
        technician,
        package,
        lot_number=" AB123 ",
        expiry=date(2099, 1, 31),
        quantity=100,
        location="refrigerator",
        reason="invoice 5521",
    )
    again = services.inventory.receive(
        technician, package, lot_number="AB123", expiry=date(2099, 1, 31), quantity="50.5"
    )

    assert first.lot.lot_id == again.lot.lot_id
    assert (again.lot.lot_number, again.lot.location, again.lot.status) == (
        "AB123",
        "refrigerator",
        "available",
    )
    assert again.lot.on_hand == Decimal("150.5")
    assert again.notice == "" and again.controlled_entry_id is None
    assert services.inventory.on_hand(technician, package) == Decimal("150.5")
    assert first.movement is not None and first.movement.kind == "received"
    assert first.movement.reason == "invoice 5521"
    events = _events(services, "stock.received")
    assert [event.summary["lot_created"] for event in events] == [True, False]
    assert events[0].entity_id == str(first.movement.movement_id)
    assert events[0].username == "tess" and events[0].workstation == "test-workstation"
    assert _log(services, package) == []
    _consistent(services)


def test_receiving_a_controlled_package_writes_its_log(
    services: Services, inventory: InventoryService, technician: Actor, cii_package: int
) -> None:
    _receive(inventory, technician, cii_package, 60)
    second = _receive(inventory, technician, cii_package, 40, lot_number="L2")

    log = _log(services, cii_package)
    assert [(line.kind, line.quantity, line.balance_after) for line in log] == [
        ("received", Decimal(60), Decimal(60)),
        ("received", Decimal(40), Decimal(100)),
    ]
    assert log[-1].schedule == "CII" and second.controlled_entry_id == log[-1].id
    assert second.movement is not None and log[-1].movement_id == second.movement.movement_id
    _consistent(services)


def test_received_stock_of_a_quarantined_or_recalled_lot_stays_out_of_stock(
    services: Services,
    inventory: InventoryService,
    technician: Actor,
    package: int,
) -> None:
    lot_id = _receive(inventory, technician, package, 10).lot.lot_id
    inventory.quarantine(technician, lot_id, reason="damaged carton")
    quarantined = _receive(inventory, technician, package, 5)
    recalled_id = _receive(inventory, technician, package, 5, lot_number="R1").lot.lot_id
    with services.database.unit_of_work(technician) as uow:
        lot = uow.session.get(StockLot, recalled_id)
        assert lot is not None
        lot.status = "recalled"
        uow.audit(SEEDED, lot)
    recalled = _receive(inventory, technician, package, 5, lot_number="R1")

    assert quarantined.lot.status == "quarantined" and quarantined.lot.on_hand == 15
    assert "received into quarantine" in quarantined.notice
    assert recalled.lot.status == "recalled" and recalled.lot.on_hand == 10
    assert "is recalled" in recalled.notice and "do not dispense" in recalled.notice
    assert inventory.fefo_lots(technician, package) == []


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"expiry": TODAY - timedelta(days=1)}, ExpiredStockRefused, ("expired on 2025-05-31",)),
        ({"quantity": 0}, ValidationFailed, ("cannot be 0",)),
        ({"quantity": -5}, ValidationFailed, ("more than 0",)),
        ({"quantity": "ten"}, ValidationFailed, ("not a number",)),
        ({"quantity": "NaN"}, ValidationFailed, ("not a number",)),
        ({"quantity": 2.5}, ValidationFailed, ("type it as a number",)),
        ({"quantity": "1.0005"}, ValidationFailed, ("three decimals",)),
        ({"quantity": "10000000000"}, ValidationFailed, ("more than the ledger holds",)),
        ({"lot_number": "   "}, ValidationFailed, ("lot number",)),
        ({"lot_number": "X" * 41}, ValidationFailed, ("at most 40",)),
        ({"expiry": datetime(2030, 1, 1)}, ValidationFailed, ("not an expiry date",)),
        ({"location": "basement"}, ValidationFailed, ("not a stock location", "refrigerator")),
    ],
)
def test_bad_receipts_are_refused_and_write_nothing(
    services: Services,
    inventory: InventoryService,
    technician: Actor,
    package: int,
    changes: dict[str, Any],
    error: type[RxBenchError],
    words: tuple[str, ...],
) -> None:
    arguments: dict[str, Any] = {
        "lot_number": "L1",
        "expiry": LATER,
        "quantity": 10,
        "location": "shelf",
    }
    arguments.update(changes)
    _refused_writing_nothing(
        services, error, lambda: inventory.receive(technician, package, **arguments), *words
    )


def test_one_lot_has_one_expiry_and_the_package_must_exist(
    services: Services, inventory: InventoryService, technician: Actor, package: int
) -> None:
    _receive(inventory, technician, package, 10)
    mismatch = _refused_writing_nothing(
        services,
        LotExpiryMismatch,
        lambda: _receive(inventory, technician, package, 10, expiry=LATER + timedelta(days=1)),
        "Lot L1 of NDC 88888-000-01",
        LATER.isoformat(),
    )
    assert mismatch.facts["recorded"] == LATER.isoformat()
    _refused_writing_nothing(
        services, NotFound, lambda: _receive(inventory, technician, 999_999, 10), "no package"
    )


def test_an_administrator_alone_may_not_move_stock(
    services: Services, inventory: InventoryService, admin: Actor, package: int
) -> None:
    office = add_user(services, admin, "olive", Role.ADMINISTRATOR)
    _refused_writing_nothing(
        services,
        PermissionDenied,
        lambda: _receive(inventory, office, package, 10),
        "Only a technician or pharmacist may receive stock",
    )


# --- adjusting, destroying, returning, transferring -------------------------------------------


def test_adjustments_need_a_reason(
    services: Services, inventory: InventoryService, technician: Actor, package: int
) -> None:
    lot_id = _receive(inventory, technician, package, 10).lot.lot_id

    down = inventory.adjust(technician, lot_id, quantity_change=-3, reason="broken tablets")
    up = inventory.adjust(technician, lot_id, quantity_change="1.5", reason="found behind bin")

    assert down.movement is not None and down.movement.quantity == -3
    assert up.lot.on_hand == Decimal("8.5")
    assert [event.summary["reason"] for event in _events(services, "stock.adjusted")] == [
        "broken tablets",
        "found behind bin",
    ]
    _refused_writing_nothing(
        services,
        ValidationFailed,
        lambda: inventory.adjust(technician, lot_id, quantity_change=-1, reason="  "),
        "needs a reason",
    )
    _refused_writing_nothing(
        services,
        NotFound,
        lambda: inventory.adjust(technician, 999_999, quantity_change=1, reason="x"),
        "no stock lot 999999",
    )
    _consistent(services)


def test_controlled_adjustments_need_another_person_as_witness(
    services: Services,
    inventory: InventoryService,
    technician: Actor,
    second_technician: Actor,
    pharmacist: Actor,
    admin: Actor,
    cii_package: int,
) -> None:
    lot_id = _receive(inventory, technician, cii_package, 30).lot.lot_id
    office = add_user(services, admin, "olive", Role.ADMINISTRATOR)

    def adjust(witness: Actor | None) -> StockChange:
        return inventory.adjust(
            technician, lot_id, quantity_change=-2, reason="count was short", witness=witness
        )

    refused = _refused_writing_nothing(
        services, WitnessRequired, lambda: adjust(None), "schedule II", "witnessed"
    )
    assert refused.facts["reason"] == "witness-missing"
    _refused_writing_nothing(
        services, WitnessRequired, lambda: adjust(technician), "someone other than tess"
    )
    _refused_writing_nothing(
        services, WitnessRequired, lambda: adjust(office), "olive is not a pharmacist"
    )
    services.users.set_active(admin, username="terry", active=False)
    _refused_writing_nothing(
        services, WitnessRequired, lambda: adjust(second_technician), "not active"
    )

    by_pharmacist = adjust(pharmacist)

    line = _log(services, cii_package)[-1]
    assert (line.kind, line.quantity, line.balance_after) == ("adjusted", -2, 28)
    assert line.witness_user_id == pharmacist.user_id
    assert by_pharmacist.controlled_entry_id == line.id
    assert _events(services, "stock.adjusted")[-1].summary["witness"] == "phil"
    _consistent(services)


def test_destruction_is_always_witnessed(
    services: Services,
    inventory: InventoryService,
    technician: Actor,
    second_technician: Actor,
    package: int,
    cii_package: int,
) -> None:
    plain = _receive(inventory, technician, package, 10).lot.lot_id
    controlled = _receive(inventory, technician, cii_package, 10).lot.lot_id
    _refused_writing_nothing(
        services,
        WitnessRequired,
        lambda: inventory.destroy(
            technician, plain, quantity=2, reason="dropped on floor", witness=None
        ),
        "Destroying stock must be witnessed",
    )

    inventory.destroy(
        technician, plain, quantity=2, reason="dropped on floor", witness=second_technician
    )
    wasted = inventory.destroy(
        technician, controlled, quantity=3, reason="expired", witness=second_technician
    )

    assert wasted.movement is not None and wasted.movement.kind == "destroyed"
    assert wasted.lot.on_hand == 7
    line = _log(services, cii_package)[-1]
    assert (line.kind, line.quantity, line.balance_after) == ("destroyed", -3, 7)
    assert line.witness_user_id == second_technician.user_id
    assert [event.summary["witness"] for event in _events(services, "stock.destroyed")] == [
        "terry",
        "terry",
    ]
    _consistent(services)


def test_returns_and_transfers_leave_the_ledger(
    services: Services, inventory: InventoryService, technician: Actor, cii_package: int
) -> None:
    lot_id = _receive(inventory, technician, cii_package, 50).lot.lot_id

    returned = inventory.return_to_vendor(technician, lot_id, quantity=10, reason="overstock")
    sent = inventory.transfer_out(
        technician, lot_id, quantity=5, to_pharmacy=" Elm Street  Pharmacy", reason="they ran out"
    )

    assert returned.movement is not None and returned.movement.kind == "returned_to_vendor"
    assert sent.movement is not None and sent.movement.kind == "transferred"
    assert sent.movement.reason == "To Elm Street Pharmacy: they ran out"
    assert sent.lot.on_hand == 35
    assert _events(services, "stock.transferred")[-1].summary["to_pharmacy"] == (
        "Elm Street Pharmacy"
    )
    assert [line.balance_after for line in _log(services, cii_package)] == [50, 40, 35]
    _refused_writing_nothing(
        services,
        ValidationFailed,
        lambda: inventory.transfer_out(technician, lot_id, quantity=1, to_pharmacy=" ", reason="x"),
        "Name the pharmacy",
    )
    inventory.quarantine(technician, lot_id, reason="suspect")
    _refused_writing_nothing(
        services,
        LotStatusRefused,
        lambda: inventory.transfer_out(
            technician, lot_id, quantity=1, to_pharmacy="Elm", reason="x"
        ),
        "is quarantined",
        "cannot be transferred",
    )
    _consistent(services)


# --- negative on-hand -------------------------------------------------------------------------


def test_negative_on_hand_is_refused_in_words(
    services: Services, inventory: InventoryService, technician: Actor, package: int
) -> None:
    lot_id = _receive(inventory, technician, package, 5).lot.lot_id

    refused = _refused_writing_nothing(
        services,
        NegativeOnHandRefused,
        lambda: inventory.return_to_vendor(technician, lot_id, quantity=8, reason="damaged"),
        "Lot L1 of NDC 88888-000-01",
        "has 5 on hand",
        "taking 8 would leave -3",
    )
    assert refused.facts == {"lot_id": lot_id, "on_hand": "5.000", "quantity": "8"}
    assert inventory.lots(technician, package)[0].on_hand == 5


def test_negative_on_hand_when_allowed_is_flagged(
    services: Services,
    inventory: InventoryService,
    technician: Actor,
    pharmacist: Actor,
    package: int,
) -> None:
    lot_id = _receive(inventory, technician, package, 5).lot.lot_id
    _refused_writing_nothing(
        services,
        PermissionDenied,
        lambda: services.house_settings.set_inventory_policy(
            technician, InventoryPolicy(allow_negative_on_hand=True)
        ),
        "change the inventory rules",
    )
    services.house_settings.set_inventory_policy(
        pharmacist, InventoryPolicy(allow_negative_on_hand=True)
    )

    below = inventory.adjust(technician, lot_id, quantity_change=-8, reason="miscount")

    assert below.lot.on_hand == -3 and below.lot.negative
    assert "is now negative (-3 on hand)" in below.notice
    assert _events(services, "stock.adjusted")[-1].summary["negative"] is True
    assert inventory.lots(technician, package)[0].negative
    assert inventory.fefo_lots(technician, package) == []
    [setting] = [
        event
        for event in _events(services, "settings.changed")
        if "allow_negative_on_hand" in event.summary["after"]
    ]
    assert setting.username == "phil"
    assert setting.summary["before"] == {"allow_negative_on_hand": None}
    assert setting.summary["after"] == {"allow_negative_on_hand": True}
    _consistent(services)


def test_a_negative_lot_may_always_be_brought_back_up(
    services: Services,
    inventory: InventoryService,
    technician: Actor,
    pharmacist: Actor,
    package: int,
) -> None:
    lot_id = _receive(inventory, technician, package, 2).lot.lot_id
    services.house_settings.set_inventory_policy(
        pharmacist, InventoryPolicy(allow_negative_on_hand=True)
    )
    inventory.adjust(technician, lot_id, quantity_change=-5, reason="miscount")
    services.house_settings.set_inventory_policy(pharmacist, InventoryPolicy())

    up = inventory.adjust(technician, lot_id, quantity_change=1, reason="found one")

    assert up.lot.on_hand == -2 and up.lot.negative
    assert "is now negative (-2 on hand)" in up.notice
    _refused_writing_nothing(
        services,
        NegativeOnHandRefused,
        lambda: inventory.adjust(technician, lot_id, quantity_change=-1, reason="another"),
        "has -2 on hand",
    )
    assert _receive(inventory, technician, package, 10).lot.on_hand == 8
    _consistent(services)


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        (InventoryPolicy(short_dated_days=0), "1 to 730"),
        (InventoryPolicy(short_dated_days=731), "1 to 730"),
        (InventoryPolicy(allow_negative_on_hand="yes"), "not yes or no"),  # type: ignore[arg-type]
    ],
)
def test_bad_inventory_policies_are_refused(
    services: Services, pharmacist: Actor, policy: InventoryPolicy, words: str
) -> None:
    _refused_writing_nothing(
        services,
        ValidationFailed,
        lambda: services.house_settings.set_inventory_policy(pharmacist, policy),
        words,
    )
    assert services.house_settings.inventory_policy() == InventoryPolicy()


# --- reversal ---------------------------------------------------------------------------------


def test_a_movement_is_reversed_once(
    services: Services, inventory: InventoryService, technician: Actor, package: int
) -> None:
    received = _receive(inventory, technician, package, 10).movement
    assert received is not None
    wrong = inventory.adjust(technician, received.lot_id, quantity_change=-4, reason="typo")
    assert wrong.movement is not None

    undone = inventory.reverse(technician, wrong.movement.movement_id, reason="typed 4, meant 0")

    assert undone.movement is not None and undone.movement.kind == "reversal"
    assert undone.movement.reverses_id == wrong.movement.movement_id
    assert undone.movement.quantity == 4 and undone.lot.on_hand == 10
    history = inventory.ledger(technician, lot_id=received.lot_id)
    assert history[1].reversed_by_id == undone.movement.movement_id
    assert _events(services, "stock.reversed")[-1].summary["reverses_movement_id"] == (
        wrong.movement.movement_id
    )
    _refused_writing_nothing(
        services,
        ReversalRefused,
        lambda: inventory.reverse(technician, wrong.movement.movement_id, reason="again"),
        "already reversed",
        f"movement {undone.movement.movement_id}",
    )
    _refused_writing_nothing(
        services,
        ReversalRefused,
        lambda: inventory.reverse(technician, undone.movement.movement_id, reason="undo undo"),
        "not itself reversed",
    )
    _refused_writing_nothing(
        services,
        NotFound,
        lambda: inventory.reverse(technician, 999_999, reason="x"),
        "no stock movement",
    )
    _consistent(services)


def test_reversing_a_receipt_already_used_would_go_negative(
    services: Services, inventory: InventoryService, technician: Actor, package: int
) -> None:
    received = _receive(inventory, technician, package, 10).movement
    assert received is not None
    inventory.return_to_vendor(technician, received.lot_id, quantity=6, reason="overstock")

    _refused_writing_nothing(
        services,
        NegativeOnHandRefused,
        lambda: inventory.reverse(technician, received.movement_id, reason="wrong invoice"),
        "has 4 on hand",
        "taking 10 would leave -6",
    )


def test_dispensing_is_reversed_only_through_its_fill(
    services: Services, inventory: InventoryService, technician: Actor, admin: Actor, package: int
) -> None:
    lot_id = _receive(inventory, technician, package, 100).lot.lot_id
    fill_id = simple_fill(services, admin)
    with services.database.unit_of_work(technician) as uow:
        lot = uow.session.get(StockLot, lot_id)
        assert lot is not None
        taken = dispense_from_lot(
            uow, lot, quantity=Decimal(30), fill_id=fill_id, note="Rx test", schedule=None
        )
        uow.audit(SEEDED, taken.movement)

    _refused_writing_nothing(
        services,
        ReversalRefused,
        lambda: inventory.reverse(technician, taken.movement.id, reason="wrong patient"),
        "only through its fill",
        "void the bottle",
    )
    assert inventory.ledger(technician, lot_id=lot_id)[0].fill_id == fill_id


def test_reversing_controlled_stock_needs_a_witness(
    services: Services,
    inventory: InventoryService,
    technician: Actor,
    pharmacist: Actor,
    cii_package: int,
) -> None:
    received = _receive(inventory, technician, cii_package, 20).movement
    assert received is not None
    _refused_writing_nothing(
        services,
        WitnessRequired,
        lambda: inventory.reverse(technician, received.movement_id, reason="wrong lot"),
        "Reversing schedule II stock must be witnessed",
    )

    inventory.reverse(technician, received.movement_id, reason="wrong lot", witness=pharmacist)

    line = _log(services, cii_package)[-1]
    assert (line.kind, line.quantity, line.balance_after) == ("reversal", -20, 0)
    assert line.witness_user_id == pharmacist.user_id
    _consistent(services)


# --- status and location ----------------------------------------------------------------------


def test_moving_a_lot_is_audited_without_a_movement(
    services: Services, inventory: InventoryService, technician: Actor, package: int
) -> None:
    lot_id = _receive(inventory, technician, package, 10).lot.lot_id
    before = written(services)

    moved = inventory.move_location(technician, lot_id, " Controlled-Substance  Cabinet ")

    assert moved.lot.location == "controlled-substance cabinet" and moved.movement is None
    after = written(services)
    assert (after.movements, after.audit_events) == (before.movements, before.audit_events + 1)
    event = _events(services, "stock.lot_moved")[-1]
    assert (event.entity_type, event.entity_id) == ("stock_lots", str(lot_id))
    assert event.summary["before"] == {"location": "shelf"}
    _refused_writing_nothing(
        services,
        ValidationFailed,
        lambda: inventory.move_location(technician, lot_id, "garage"),
        "not a stock location",
    )
    _refused_writing_nothing(
        services,
        ValidationFailed,
        lambda: inventory.move_location(technician, lot_id, "controlled-substance cabinet"),
        "already in the controlled-substance cabinet",
    )


def test_quarantine_by_anyone_at_the_bench_release_by_a_pharmacist(
    services: Services,
    inventory: InventoryService,
    technician: Actor,
    pharmacist: Actor,
    package: int,
) -> None:
    lot_id = _receive(inventory, technician, package, 10).lot.lot_id

    held = inventory.quarantine(technician, lot_id, reason="suspect packaging")

    assert held.lot.status == "quarantined" and held.movement is None
    _refused_writing_nothing(
        services,
        LotStatusRefused,
        lambda: inventory.quarantine(technician, lot_id, reason="again"),
        "already quarantined",
    )
    _refused_writing_nothing(
        services,
        PermissionDenied,
        lambda: inventory.release(technician, lot_id, reason="looks fine"),
        "Only a pharmacist may release",
    )
    released = inventory.release(pharmacist, lot_id, reason="wholesaler confirmed authentic")
    assert released.lot.status == "available"
    assert [event.summary["reason"] for event in _events(services, "stock.lot_released")] == [
        "wholesaler confirmed authentic"
    ]
    _refused_writing_nothing(
        services,
        LotStatusRefused,
        lambda: inventory.release(pharmacist, lot_id, reason="again"),
        "not in quarantine",
    )


def test_recalled_and_expired_lots_are_not_released(
    services: Services,
    inventory: InventoryService,
    technician: Actor,
    pharmacist: Actor,
    package: int,
) -> None:
    recalled = _receive(inventory, technician, package, 10).lot.lot_id
    with services.database.unit_of_work(technician) as uow:
        lot = uow.session.get(StockLot, recalled)
        assert lot is not None
        lot.status = "recalled"
        uow.audit(SEEDED, lot)
    _refused_writing_nothing(
        services,
        LotStatusRefused,
        lambda: inventory.release(pharmacist, recalled, reason="x"),
        "is never released",
    )
    expiring = _receive(inventory, technician, package, 10, lot_number="E1", expiry=TODAY).lot
    later = InventoryService(services.database, today=lambda: TODAY + timedelta(days=1))
    assert later.quarantine_expired(technician) == 1
    _refused_writing_nothing(
        services,
        ExpiredStockRefused,
        lambda: later.release(pharmacist, expiring.lot_id, reason="x"),
        f"expired on {TODAY.isoformat()}",
    )


# --- FEFO, expiry, reading --------------------------------------------------------------------


def test_fefo_suggests_available_unexpired_lots_with_stock_soonest_first(
    services: Services, inventory: InventoryService, technician: Actor, package: int
) -> None:
    late = _receive(inventory, technician, package, 10, lot_number="LATE", expiry=LATER)
    soon = _receive(inventory, technician, package, 10, lot_number="SOON", expiry=TODAY)
    middle = _receive(
        inventory, technician, package, 10, lot_number="MID", expiry=TODAY + timedelta(days=30)
    )
    empty = _receive(
        inventory, technician, package, 10, lot_number="EMPTY", expiry=TODAY + timedelta(days=1)
    )
    inventory.return_to_vendor(technician, empty.lot.lot_id, quantity=10, reason="damaged")
    held = _receive(
        inventory, technician, package, 10, lot_number="HELD", expiry=TODAY + timedelta(days=2)
    )
    inventory.quarantine(technician, held.lot.lot_id, reason="suspect")

    suggested = inventory.fefo_lots(technician, package)

    assert [row.lot_number for row in suggested] == ["SOON", "MID", "LATE"]
    assert [row.lot_id for row in suggested] == [
        soon.lot.lot_id,
        middle.lot.lot_id,
        late.lot.lot_id,
    ]
    tomorrow = InventoryService(services.database, today=lambda: TODAY + timedelta(days=1))
    assert [row.lot_number for row in tomorrow.fefo_lots(technician, package)] == ["MID", "LATE"]
    assert inventory.on_hand(technician, package) == 40
    assert [row.lot_number for row in inventory.lots(technician, package)] == [
        "SOON",
        "EMPTY",
        "HELD",
        "MID",
        "LATE",
    ]


def test_expired_lots_are_quarantined_one_event_each(
    services: Services, inventory: InventoryService, technician: Actor, package: int
) -> None:
    for number, expiry in (("A", TODAY), ("B", TODAY + timedelta(days=3)), ("C", LATER)):
        _receive(inventory, technician, package, 10, lot_number=number, expiry=expiry)
    later = InventoryService(services.database, today=lambda: TODAY + timedelta(days=10))
    before = written(services)

    assert later.quarantine_expired(technician) == 2

    assert written(services).audit_events == before.audit_events + 2
    events = _events(services, "stock.lot_quarantined")
    assert {event.summary["reason"] for event in events} == {"expired"}
    statuses = {row.lot_number: row.status for row in later.lots(technician, package)}
    assert statuses == {"A": "quarantined", "B": "quarantined", "C": "available"}
    assert later.quarantine_expired(technician) == 0
    assert [row.lot_number for row in later.fefo_lots(technician, package)] == ["C"]


def test_short_dated_report_uses_the_house_window(
    services: Services,
    inventory: InventoryService,
    technician: Actor,
    pharmacist: Actor,
    package: int,
) -> None:
    for number, days in (("D10", 10), ("D60", 60), ("D120", 120)):
        _receive(
            inventory, technician, package, 5, lot_number=number, expiry=TODAY + timedelta(days)
        )
    empty = _receive(
        inventory, technician, package, 5, lot_number="GONE", expiry=TODAY + timedelta(days=5)
    )
    inventory.return_to_vendor(technician, empty.lot.lot_id, quantity=5, reason="short-dated")

    assert [row.lot_number for row in inventory.short_dated(technician)] == ["D10", "D60"]
    assert [row.lot_number for row in inventory.short_dated(technician, within_days=30)] == ["D10"]
    services.house_settings.set_inventory_policy(pharmacist, InventoryPolicy(short_dated_days=180))
    assert [row.lot_number for row in inventory.short_dated(technician)] == [
        "D10",
        "D60",
        "D120",
    ]
    with pytest.raises(ValidationFailed, match="whole number of days"):
        inventory.short_dated(technician, within_days=-1)


def test_the_ledger_says_who_when_where_and_why_newest_first(
    services: Services,
    inventory: InventoryService,
    technician: Actor,
    pharmacist: Actor,
    package: int,
) -> None:
    lot_id = _receive(inventory, technician, package, 10).lot.lot_id
    other = _receive(inventory, technician, package, 10, lot_number="L2").lot.lot_id
    inventory.adjust(pharmacist, lot_id, quantity_change=-1, reason="broken")
    inventory.return_to_vendor(technician, other, quantity=2, reason="damaged")

    by_lot = inventory.ledger(technician, lot_id=lot_id)
    by_package = inventory.ledger(technician, package_id=package)

    assert [(row.kind, row.quantity, row.username) for row in by_lot] == [
        ("adjusted", -1, "phil"),
        ("received", 10, "tess"),
    ]
    assert by_lot[0].reason == "broken" and by_lot[0].workstation == "test-workstation"
    assert by_lot[0].ndc == "88888-000-01" and by_lot[0].lot_number == "L1"
    assert [row.kind for row in by_package] == [
        "returned_to_vendor",
        "adjusted",
        "received",
        "received",
    ]
    assert len(inventory.ledger(technician, package_id=package, limit=2)) == 2
    assert inventory.ledger(technician, package_id=package + 1) == []
    with pytest.raises(ValidationFailed, match="1 to 10000"):
        inventory.ledger(technician, limit=0)


def test_the_balance_check_finds_a_lot_out_of_step_with_its_ledger(
    services: Services, inventory: InventoryService, technician: Actor, package: int
) -> None:
    lot_id = _receive(inventory, technician, package, 10).lot.lot_id
    _consistent(services)
    with services.database.unit_of_work(technician) as uow:
        movement = StockMovement(
            lot_id=lot_id, kind="adjusted", quantity=Decimal(-3), workstation="elsewhere"
        )
        uow.session.add(movement)
        uow.audit(SEEDED, movement)

    with services.database.reading() as session:
        mismatches = ledger_balance_mismatches(session)
    assert [(each.lot_id, each.on_hand, each.ledger_sum) for each in mismatches] == [
        (lot_id, 10, 7)
    ]

"""Reading stock for the Inventory dock: search and views, one package's lots in FEFO turn, its
movements with who and why, and its dispensing per local day net of reversals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app.bootstrap import Services
from app.db.models import StockLot, StockMovement
from app.errors import NotFound, PermissionDenied, ValidationFailed
from app.services.house_settings import InventoryPolicy
from app.services.stock import StockQueryService, StockView
from app.services.unit_of_work import Actor
from tests.app.services.inventory_data import add_user
from tests.app.services.pharmacy_data import (
    SEEDED,
    add_fill,
    add_patient,
    add_prescription,
    package_of,
)
from tests.app.services.verification_data import LISINOPRIL, OXYCODONE

TODAY = date.today()
# A fixed "now" late in a UTC day: 02:30 UTC on the 20th is still the 19th five hours west.
NOW = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)


def lot_with(
    services: Services,
    actor: Actor,
    package_id: int,
    lot_number: str,
    *,
    expiry: date,
    on_hand: int = 100,
    status: str = "available",
) -> int:
    """A lot as the ledger would hold it, of any expiry (receiving refuses expired stock)."""
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
            lot_id=lot.id,
            kind="received",
            quantity=Decimal(on_hand),
            workstation=actor.workstation,
            occurred_at=NOW - timedelta(days=400),
        )
        uow.session.add(movement)
        uow.audit(SEEDED, movement)
        return lot.id


def moved(
    services: Services,
    actor: Actor,
    lot_id: int,
    kind: str,
    quantity: int,
    at: datetime,
    *,
    fill_id: int | None = None,
    reverses: int | None = None,
) -> int:
    with services.database.unit_of_work(actor) as uow:
        lot = uow.session.get(StockLot, lot_id)
        assert lot is not None
        lot.on_hand += quantity
        movement = StockMovement(
            lot_id=lot_id,
            kind=kind,
            quantity=Decimal(quantity),
            fill_id=fill_id,
            reverses_id=reverses,
            workstation=actor.workstation,
            user_id=actor.user_id,
            occurred_at=at,
        )
        uow.session.add(movement)
        uow.audit(SEEDED, movement)
        return movement.id


def a_fill(services: Services, actor: Actor, package_id: int) -> int:
    patient = add_patient(services, actor)
    prescription = add_prescription(services, actor, patient_id=patient, package_id=package_id)
    return add_fill(services, actor, prescription_id=prescription)


@pytest.fixture
def stock(services: Services) -> StockQueryService:
    return StockQueryService(services.database, now=lambda: NOW)


def test_search_narrows_by_drug_words_or_an_ndc_fragment(
    catalogue: Services, technician: Actor
) -> None:
    lisinopril, oxycodone = package_of(catalogue, LISINOPRIL), package_of(catalogue, OXYCODONE)
    lot_with(catalogue, technician, lisinopril, "LIS-1", expiry=TODAY + timedelta(days=400))
    lot_with(catalogue, technician, oxycodone, "OXY-1", expiry=TODAY + timedelta(days=400))
    stock = catalogue.stock

    assert {row.lot_number for row in stock.on_hand(technician)} == {"LIS-1", "OXY-1"}
    assert [row.lot_number for row in stock.on_hand(technician, search="lisin")] == ["LIS-1"]
    assert [row.lot_number for row in stock.on_hand(technician, search="Oxycod tab")] == ["OXY-1"]
    # An NDC fragment in any form: hyphenated, or digits of the 10- or 11-digit NDC.
    assert [row.lot_number for row in stock.on_hand(technician, search="65162-047")] == ["OXY-1"]
    assert [row.lot_number for row in stock.on_hand(technician, search="6516204")] == ["OXY-1"]
    assert stock.on_hand(technician, search="warfarin") == []
    row = stock.on_hand(technician, search="oxycodone")[0]
    assert row.package_id == oxycodone and row.dea_schedule == "CII"


def test_views_list_the_lots_that_need_attention(
    catalogue: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    lisinopril, oxycodone = package_of(catalogue, LISINOPRIL), package_of(catalogue, OXYCODONE)
    lot_with(catalogue, technician, lisinopril, "FRESH", expiry=TODAY + timedelta(days=400))
    lot_with(catalogue, technician, lisinopril, "SOON", expiry=TODAY + timedelta(days=30))
    lot_with(catalogue, technician, lisinopril, "GONE", expiry=TODAY - timedelta(days=1))
    held = lot_with(catalogue, technician, oxycodone, "HELD", expiry=TODAY + timedelta(days=400))
    catalogue.inventory.quarantine(technician, held, reason="damaged seal")
    # Oxycodone's only lot is quarantined: nothing dispensable, under its minimum of 10.
    catalogue.reorder.set_level(pharmacist, oxycodone, minimum=10, maximum=50)
    catalogue.reorder.set_level(pharmacist, lisinopril, minimum=10, maximum=500)

    def listed(view: StockView) -> list[str]:
        return [row.lot_number for row in catalogue.stock.on_hand(technician, view=view)]

    assert listed(StockView.ALL) == ["GONE", "SOON", "HELD", "FRESH"]  # then by NDC
    assert listed(StockView.SHORT_DATED) == ["SOON"]
    assert listed(StockView.EXPIRED) == ["GONE"]
    assert listed(StockView.QUARANTINED) == ["HELD"]
    assert listed(StockView.CONTROLLED) == ["HELD"]
    assert listed(StockView.BELOW_MINIMUM) == ["HELD"]
    assert [row.short_dated for row in catalogue.stock.on_hand(technician)] == [
        False,
        True,
        False,
        False,
    ]
    # The house's window decides what is short-dated.
    catalogue.house_settings.set_inventory_policy(admin, InventoryPolicy(short_dated_days=20))
    assert listed(StockView.SHORT_DATED) == []
    # A view and a search together.
    assert catalogue.stock.on_hand(technician, search="oxycodone", view=StockView.EXPIRED) == []
    assert [
        row.lot_number
        for row in catalogue.stock.on_hand(technician, search="lisinopril", view="expired")
    ] == ["GONE"]


def test_package_stock_numbers_the_lots_to_fill_from_first_expiry_first(
    catalogue: Services, technician: Actor, pharmacist: Actor
) -> None:
    package = package_of(catalogue, LISINOPRIL)
    late = lot_with(catalogue, technician, package, "LATE", expiry=TODAY + timedelta(days=600))
    lot_with(catalogue, technician, package, "EARLY", expiry=TODAY + timedelta(days=200))
    lot_with(catalogue, technician, package, "EMPTY", expiry=TODAY + timedelta(days=100), on_hand=0)
    lot_with(catalogue, technician, package, "OLD", expiry=TODAY - timedelta(days=3), on_hand=7)
    held = lot_with(catalogue, technician, package, "HELD", expiry=TODAY + timedelta(days=300))
    catalogue.inventory.quarantine(technician, held, reason="suspect")
    catalogue.reorder.set_level(pharmacist, package, minimum=250, maximum=900)

    found = catalogue.stock.package_stock(technician, package)

    assert [(lot.lot_number, lot.fefo_position) for lot in found.lots] == [
        ("OLD", None),
        ("EMPTY", None),
        ("EARLY", 1),
        ("HELD", None),
        ("LATE", 2),
    ]
    assert found.ndc.startswith("65862-039-") and "Lisinopril" in found.drug
    assert found.on_hand == 307 and found.dispensable == 200
    assert found.minimum == 250 and found.below_minimum
    assert next(lot for lot in found.lots if lot.lot_id == late).on_hand == 100
    with pytest.raises(NotFound):
        catalogue.stock.package_stock(technician, 999_999)


def test_movements_newest_first_with_who_why_rx_witness_and_reversals(
    catalogue: Services, admin: Actor, technician: Actor
) -> None:
    package = package_of(catalogue, OXYCODONE)
    witness = add_user(catalogue, admin, "wes", *technician.roles)
    lot = lot_with(catalogue, technician, package, "OXY-9", expiry=TODAY + timedelta(days=400))
    fill = a_fill(catalogue, admin, package)
    moved(catalogue, technician, lot, "dispensed", -30, datetime.now(UTC), fill_id=fill)
    adjusted = catalogue.inventory.adjust(
        technician, lot, quantity_change=-2, reason="broken tablets", witness=witness
    ).movement
    assert adjusted is not None
    catalogue.inventory.reverse(
        technician, adjusted.movement_id, reason="they were whole", witness=witness
    )

    lines = catalogue.stock.movements(technician, package)

    assert [line.kind for line in lines] == ["reversal", "adjusted", "dispensed", "received"]
    reversal, adjustment, dispensing, _receipt = lines
    assert reversal.reverses_id == adjustment.movement_id
    assert adjustment.reversed_by_id == reversal.movement_id
    assert adjustment.reason == "broken tablets" and adjustment.quantity == -2
    assert adjustment.username == "tess" and adjustment.witness == "wes"
    assert adjustment.lot_number == "OXY-9" and adjustment.workstation == "test-workstation"
    assert dispensing.rx_number is not None and dispensing.fill_number == 0
    assert dispensing.witness is None
    assert [line.kind for line in catalogue.stock.movements(technician, package, limit=1)] == [
        "reversal"
    ]
    with pytest.raises(ValidationFailed, match="Show 1 to"):
        catalogue.stock.movements(technician, package, limit=0)


def test_usage_by_day_is_net_dispensing_per_local_day_with_the_on_hand_left(
    catalogue: Services, admin: Actor, technician: Actor, stock: StockQueryService
) -> None:
    package = package_of(catalogue, LISINOPRIL)
    other = package_of(catalogue, OXYCODONE)
    lot = lot_with(catalogue, technician, package, "USE-1", expiry=TODAY + timedelta(days=900))
    second = lot_with(catalogue, technician, package, "USE-2", expiry=TODAY + timedelta(days=900))
    elsewhere = lot_with(catalogue, technician, other, "ELSE", expiry=TODAY + timedelta(days=900))
    fill = a_fill(catalogue, admin, package)
    day = timedelta(days=1)
    # NOW is 02:30 UTC on the 20th: 21:30 on the 19th at UTC-5.
    moved(catalogue, technician, lot, "dispensed", -30, NOW - timedelta(hours=1))  # 01:30 UTC
    moved(catalogue, technician, second, "dispensed", -10, NOW - 2 * day)
    undone = moved(catalogue, technician, lot, "dispensed", -5, NOW - 3 * day, fill_id=fill)
    # Voided a day later: it counts on the day of the dispensing it undoes.
    moved(catalogue, technician, lot, "reversal", 5, NOW - 2 * day, fill_id=fill, reverses=undone)
    moved(catalogue, technician, lot, "adjusted", -1, NOW - day)  # not dispensing
    moved(catalogue, technician, lot, "dispensed", -7, NOW - 40 * day)  # before the window
    moved(catalogue, technician, elsewhere, "dispensed", -99, NOW - day)  # another package

    in_utc = stock.usage_by_day(technician, package, days=30, utc_offset=timedelta(0))

    assert len(in_utc.days) == 30
    assert in_utc.days[-1].day == date(2026, 11, 20)
    assert in_utc.days[0].day == date(2026, 10, 22)
    dispensed = {usage.day: usage.dispensed for usage in in_utc.days if usage.dispensed}
    assert dispensed == {date(2026, 11, 18): 10, date(2026, 11, 20): 30}
    assert in_utc.total_dispensed == 40
    # On-hand at each day's end, walked back from today's balance over every movement kind.
    on_hand = {usage.day: usage.on_hand for usage in in_utc.days}
    assert on_hand[date(2026, 11, 20)] == 200 - 30 - 10 - 5 + 5 - 1 - 7
    assert on_hand[date(2026, 11, 19)] == on_hand[date(2026, 11, 20)] + 30
    assert on_hand[date(2026, 11, 18)] == on_hand[date(2026, 11, 19)] + 1
    assert on_hand[date(2026, 11, 17)] == on_hand[date(2026, 11, 18)] + 10 - 5
    assert on_hand[date(2026, 11, 16)] == on_hand[date(2026, 11, 17)] + 5
    assert on_hand[date(2026, 10, 22)] == 200 - 7

    # Five hours west the last dispensing was yesterday evening, and today is the 19th.
    west = stock.usage_by_day(technician, package, days=7, utc_offset=timedelta(hours=-5))
    assert west.days[-1].day == date(2026, 11, 19)
    assert {usage.day: usage.dispensed for usage in west.days if usage.dispensed} == {
        date(2026, 11, 17): 10,
        date(2026, 11, 19): 30,
    }


def test_usage_refuses_bad_periods_and_unknown_packages(
    catalogue: Services, technician: Actor, stock: StockQueryService
) -> None:
    package = package_of(catalogue, LISINOPRIL)
    for days in (0, 367, True, "30"):
        with pytest.raises(ValidationFailed, match="1 to 366 days"):
            stock.usage_by_day(technician, package, days=days)  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed, match="offset from UTC"):
        stock.usage_by_day(technician, package, days=30, utc_offset=timedelta(hours=15))
    with pytest.raises(NotFound):
        stock.usage_by_day(technician, 999_999, days=30)
    empty = stock.usage_by_day(technician, package, days=90, utc_offset=timedelta(0))
    assert len(empty.days) == 90 and empty.total_dispensed == 0


def test_reading_needs_a_role(services: Services, stock: StockQueryService) -> None:
    nobody = Actor(None, "guest", "Guest", frozenset(), "test-workstation")
    with pytest.raises(PermissionDenied):
        stock.on_hand(nobody)
    with pytest.raises(PermissionDenied):
        stock.usage_by_day(nobody, 1, days=30)

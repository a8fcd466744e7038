"""Hypothesis stateful test of the stock ledger: through any sequence of receipts, adjustments,
destructions, returns, transfers, reversals, quarantines, releases, dispensings and their
reversals (a voided bottle, a fill returned to stock), every lot's balance equals the sum of its
movements and a model's prediction, no lot goes below zero unless the house allows it (and then
says so), a refused action writes nothing, and the controlled-substance log's last balance
equals the package's stock on hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import StockLot, StockMovement
from app.domain.roles import Role
from app.errors import RxBenchError
from app.services.dispensing import dispense_from_lot, reverse_dispensing, stock_changed
from app.services.house_settings import InventoryPolicy
from app.services.inventory import (
    InventoryService,
    LotStatusRefused,
    NegativeOnHandRefused,
    ReversalRefused,
    StockChange,
    controlled_log_mismatches,
    ledger_balance_mismatches,
)
from app.services.unit_of_work import Actor
from tests.app.services.inventory_data import add_package, add_user, written
from tests.app.services.pharmacy_data import SEEDED, simple_fill

TODAY = date(2025, 6, 1)
LOT_NUMBERS = ("A", "B", "C")
# About ten seconds on either backend: every step is a committed transaction.
EXAMPLES = 20
STEPS = 25

T = TypeVar("T")
quantities = st.integers(min_value=1, max_value=80).map(lambda halves: Decimal(halves) / 2)


@dataclass
class ModelLot:
    lot_id: int
    package_id: int
    controlled: bool
    on_hand: Decimal
    status: str = "available"


@dataclass(frozen=True)
class ModelMovement:
    movement_id: int
    lot: ModelLot
    quantity: Decimal


def test_any_sequence_of_stock_actions_keeps_the_ledger(services: Services, admin: Actor) -> None:
    technician = add_user(services, admin, "tess", Role.TECHNICIAN)
    pharmacist = add_user(services, admin, "phil", Role.PHARMACIST)
    witness = add_user(services, admin, "terry", Role.TECHNICIAN)
    fill_id = simple_fill(services, admin)
    inventory = InventoryService(services.database, today=lambda: TODAY)

    class StockLedger(RuleBasedStateMachine):
        lots = Bundle("lots")
        movements = Bundle("movements")
        dispensings = Bundle("dispensings")

        def __init__(self) -> None:
            super().__init__()
            self.packages: list[tuple[int, bool]] = []
            self.model: dict[tuple[int, str], ModelLot] = {}
            self.reversed: set[int] = set()
            self.allow_negative = False

        @initialize(allow_negative=st.booleans())
        def open_the_pharmacy(self, allow_negative: bool) -> None:
            """New packages for each run (one plain, one schedule II) and the house policy."""
            self.packages = [
                (add_package(services, admin), False),
                (add_package(services, admin, schedule="CII"), True),
            ]
            self.allow_negative = allow_negative
            services.house_settings.set_inventory_policy(
                pharmacist, InventoryPolicy(allow_negative_on_hand=allow_negative)
            )

        def _attempt(self, refusal: type[RxBenchError] | None, action: Callable[[], T]) -> T | None:
            """Run the action; when the model predicts a refusal, it must be exactly that one
            and must write nothing."""
            if refusal is None:
                return action()
            before = written(services)
            try:
                action()
            except refusal:
                assert written(services) == before
                return None
            raise AssertionError(f"expected {refusal.__name__}")

        def _taking(self, lot: ModelLot, quantity: Decimal) -> type[RxBenchError] | None:
            if lot.on_hand - quantity < 0 and not self.allow_negative:
                return NegativeOnHandRefused
            return None

        def _moved(
            self, change: StockChange | None, lot: ModelLot, quantity: Decimal
        ) -> MultipleResults[ModelMovement]:
            """The movement made, for a later reversal; none when the action was refused."""
            if change is None:
                return multiple()
            assert change.movement is not None
            lot.on_hand += quantity
            return multiple(ModelMovement(change.movement.movement_id, lot, quantity))

        @rule(
            target=lots,
            which=st.sampled_from((0, 1)),
            lot_number=st.sampled_from(LOT_NUMBERS),
            quantity=quantities,
        )
        def receive(self, which: int, lot_number: str, quantity: Decimal) -> ModelLot:
            package_id, controlled = self.packages[which]
            expiry = TODAY + timedelta(days=100 * (1 + LOT_NUMBERS.index(lot_number)))
            change = inventory.receive(
                technician, package_id, lot_number=lot_number, expiry=expiry, quantity=quantity
            )
            lot = self.model.setdefault(
                (package_id, lot_number),
                ModelLot(change.lot.lot_id, package_id, controlled, Decimal(0)),
            )
            lot.on_hand += quantity
            assert change.lot.status == lot.status
            return lot

        @rule(target=movements, lot=lots, quantity=quantities, down=st.booleans())
        def adjust(
            self, lot: ModelLot, quantity: Decimal, down: bool
        ) -> MultipleResults[ModelMovement]:
            change = -quantity if down else quantity
            outcome = self._attempt(
                self._taking(lot, -change),
                lambda: inventory.adjust(
                    technician,
                    lot.lot_id,
                    quantity_change=change,
                    reason="counted",
                    witness=witness if lot.controlled else None,
                ),
            )
            return self._moved(outcome, lot, change)

        @rule(target=movements, lot=lots, quantity=quantities)
        def destroy(self, lot: ModelLot, quantity: Decimal) -> MultipleResults[ModelMovement]:
            outcome = self._attempt(
                self._taking(lot, quantity),
                lambda: inventory.destroy(
                    technician, lot.lot_id, quantity=quantity, reason="broken", witness=witness
                ),
            )
            return self._moved(outcome, lot, -quantity)

        @rule(target=movements, lot=lots, quantity=quantities)
        def return_to_vendor(
            self, lot: ModelLot, quantity: Decimal
        ) -> MultipleResults[ModelMovement]:
            outcome = self._attempt(
                self._taking(lot, quantity),
                lambda: inventory.return_to_vendor(
                    technician, lot.lot_id, quantity=quantity, reason="overstock"
                ),
            )
            return self._moved(outcome, lot, -quantity)

        @rule(target=movements, lot=lots, quantity=quantities)
        def transfer_out(self, lot: ModelLot, quantity: Decimal) -> MultipleResults[ModelMovement]:
            refusal = LotStatusRefused if lot.status != "available" else self._taking(lot, quantity)
            outcome = self._attempt(
                refusal,
                lambda: inventory.transfer_out(
                    technician, lot.lot_id, quantity=quantity, to_pharmacy="Elm", reason="loan"
                ),
            )
            return self._moved(outcome, lot, -quantity)

        @rule(movement=movements)
        def reverse(self, movement: ModelMovement) -> None:
            lot = movement.lot
            refusal = (
                ReversalRefused
                if movement.movement_id in self.reversed
                else self._taking(lot, movement.quantity)
            )
            outcome = self._attempt(
                refusal,
                lambda: inventory.reverse(
                    technician,
                    movement.movement_id,
                    reason="mistake",
                    witness=witness if lot.controlled else None,
                ),
            )
            if outcome is not None:
                self.reversed.add(movement.movement_id)
                lot.on_hand -= movement.quantity

        @rule(lot=lots)
        def quarantine(self, lot: ModelLot) -> None:
            refusal = LotStatusRefused if lot.status != "available" else None
            if self._attempt(
                refusal, lambda: inventory.quarantine(technician, lot.lot_id, reason="suspect")
            ):
                lot.status = "quarantined"

        @rule(lot=lots)
        def release(self, lot: ModelLot) -> None:
            refusal = LotStatusRefused if lot.status != "quarantined" else None
            if self._attempt(
                refusal, lambda: inventory.release(pharmacist, lot.lot_id, reason="checked")
            ):
                lot.status = "available"

        @rule(target=dispensings, lot=lots, quantity=quantities)
        def dispense(self, lot: ModelLot, quantity: Decimal) -> MultipleResults[ModelMovement]:
            """Verification's own path (dispense_from_lot, then stock_changed) under the same
            rule on negative stock; taken only from available lots, as its verdicts allow."""
            if lot.status != "available":
                return multiple()

            def take() -> tuple[int, str]:
                with services.database.unit_of_work(technician) as uow:
                    row = uow.session.get(StockLot, lot.lot_id, with_for_update=True)
                    assert row is not None
                    taken = dispense_from_lot(
                        uow,
                        row,
                        quantity=quantity,
                        fill_id=fill_id,
                        note="Rx property",
                        schedule="CII" if lot.controlled else None,
                        witness_user_id=witness.user_id if lot.controlled else None,
                    )
                    uow.audit(SEEDED, taken.movement)
                    stock_changed(uow, [row.package_id], TODAY)
                    return taken.movement.id, taken.notice

            outcome = self._attempt(self._taking(lot, quantity), take)
            if outcome is None:
                return multiple()
            movement_id, notice = outcome
            lot.on_hand -= quantity
            assert ("is now negative" in notice) is (lot.on_hand < 0)
            return multiple(ModelMovement(movement_id, lot, -quantity))

        @rule(dispensing=dispensings)
        def reverse_a_dispensing(self, dispensing: ModelMovement) -> None:
            """A voided bottle or a fill returned to stock puts the stock back, once; never
            refused, whatever the lot's balance."""
            if dispensing.movement_id in self.reversed:
                return
            with services.database.unit_of_work(technician) as uow:
                original = uow.session.get(StockMovement, dispensing.movement_id)
                assert original is not None
                put_back = reverse_dispensing(
                    uow, original, reason="voided", log_note="voided bottle"
                )
                uow.audit(SEEDED, put_back.movement)
                stock_changed(uow, [dispensing.lot.package_id], TODAY)
            self.reversed.add(dispensing.movement_id)
            dispensing.lot.on_hand -= dispensing.quantity

        @rule(dispensing=dispensings)
        def reverse_a_dispensing_in_the_ledger(self, dispensing: ModelMovement) -> None:
            """A dispensing is undone only through its fill, never as a ledger correction."""
            self._attempt(
                ReversalRefused,
                lambda: inventory.reverse(
                    technician,
                    dispensing.movement_id,
                    reason="mistake",
                    witness=witness if dispensing.lot.controlled else None,
                ),
            )

        @invariant()
        def balances_follow_the_ledger(self) -> None:
            with services.database.reading() as session:
                # This run's packages only: a mismatch a failing run left must not fail the next.
                packages = [package_id for package_id, _ in self.packages]
                assert ledger_balance_mismatches(session, package_ids=packages) == []
                assert controlled_log_mismatches(session, package_ids=packages) == []
                ids = [lot.lot_id for lot in self.model.values()]
                on_hand = {
                    lot_id: balance
                    for lot_id, balance in session.execute(
                        select(StockLot.id, StockLot.on_hand).where(StockLot.id.in_(ids))
                    )
                }
            for lot in self.model.values():
                assert on_hand[lot.lot_id] == lot.on_hand
                assert self.allow_negative or lot.on_hand >= 0

    run_state_machine_as_test(
        StockLedger,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

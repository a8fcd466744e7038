"""HouseSettingsService.policies: every simple policy read together, defaults until saved."""

from __future__ import annotations

from decimal import Decimal

from app.bootstrap import Services
from app.services.house_settings import (
    BillingPoint,
    CiiCountMode,
    CountPolicy,
    HousePolicies,
    InventoryPolicy,
    SecondSignature,
    VerificationPolicy,
)
from app.services.unit_of_work import Actor


def test_the_defaults_when_nothing_was_saved(services: Services) -> None:
    assert services.house_settings.policies() == HousePolicies(
        billing_point=BillingPoint.AT_DATA_ENTRY,
        refill_too_soon_threshold=Decimal("0.75"),
        will_call_aging_days=10,
        verification=VerificationPolicy(),
        inventory=InventoryPolicy(allow_negative_on_hand=False, short_dated_days=90),
        count=CountPolicy(second_signature=SecondSignature.SCHEDULE_II, loss_threshold_units=10),
        label_discard_after_months=12,
    )


def test_each_saved_policy_is_read_back(services: Services, pharmacist: Actor) -> None:
    house = services.house_settings
    house.set_billing_point(pharmacist, BillingPoint.BEFORE_FILL)
    house.set_refill_too_soon_threshold(pharmacist, Decimal("0.8"))
    house.set_will_call_aging_days(pharmacist, 14)
    house.set_verification_policy(
        pharmacist,
        VerificationPolicy(
            require_scanning=False,
            require_lot_for_upc=False,
            cii_count_mode=CiiCountMode.SECOND_PERSON,
        ),
    )
    house.set_inventory_policy(
        pharmacist, InventoryPolicy(allow_negative_on_hand=True, short_dated_days=60)
    )
    house.set_count_policy(
        pharmacist, CountPolicy(second_signature=SecondSignature.EVERY, loss_threshold_units=3)
    )
    house.set_label_discard_after_months(pharmacist, 6)

    policies = house.policies()

    assert policies.billing_point is BillingPoint.BEFORE_FILL
    assert policies.refill_too_soon_threshold == Decimal("0.8")
    assert policies.will_call_aging_days == 14
    assert policies.verification == VerificationPolicy(False, False, CiiCountMode.SECOND_PERSON)
    assert policies.inventory == house.inventory_policy() == InventoryPolicy(True, 60)
    assert policies.count == house.count_policy() == CountPolicy(SecondSignature.EVERY, 3)
    assert policies.label_discard_after_months == house.label_policy().discard_after_months == 6

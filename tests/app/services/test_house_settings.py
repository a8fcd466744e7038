"""House settings: defaults, who may change them, validation, audit, one row per policy."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent, PharmacySetting
from app.domain.rx_rules import StateLawConfig
from app.domain.sig import SigTableInvalid, expand_sig, frequency, modifier
from app.errors import PermissionDenied, ValidationFailed
from app.services.house_settings import BillingPoint
from app.services.unit_of_work import Actor


def _events(services: Services) -> list[AuditEvent]:
    with services.database.reading() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "settings.changed")
                .order_by(AuditEvent.id)
            )
        )


def test_defaults_when_nothing_was_saved(services: Services) -> None:
    current = services.house_settings.current()
    assert current.state_law == StateLawConfig()
    assert current.refill_too_soon_threshold == Decimal("0.75")
    assert current.will_call_aging_days == 10
    assert current.billing_point is BillingPoint.AT_DATA_ENTRY
    assert current.sig_overrides == ()
    assert not expand_sig("1 T PO QAMN", current.sig_table).parsed


def test_pharmacist_changes_each_policy_audited(services: Services, pharmacist: Actor) -> None:
    stricter = StateLawConfig(schedule_ii_validity_days=90, cii_partial_on_request_days=20)
    services.house_settings.set_state_law(pharmacist, stricter)
    services.house_settings.set_refill_too_soon_threshold(pharmacist, Decimal("0.80"))
    services.house_settings.set_will_call_aging_days(pharmacist, 14)
    services.house_settings.set_billing_point(pharmacist, "before_fill")
    current = services.house_settings.set_sig_overrides(
        pharmacist, [frequency("QAMN", "every morning and noon", 2), modifier("WF", "with food")]
    )

    assert current.state_law == replace(stricter, refill_too_soon_fraction=Decimal("0.8"))
    assert current.refill_too_soon_threshold == Decimal("0.8")
    assert current.will_call_aging_days == 14
    assert current.billing_point is BillingPoint.BEFORE_FILL
    assert [entry.key for entry in current.sig_overrides] == ["QAMN", "WF"]
    expanded = expand_sig("1 T PO QAMN WF", current.sig_table)
    assert expanded.directions == "Take 1 tablet by mouth every morning and noon with food"
    assert expanded.max_daily_units == 2
    assert services.house_settings.current() == current
    events = _events(services)
    assert [(e.entity_id, e.username) for e in events] == [
        ("state_law", "phil"),
        ("refill_too_soon_threshold", "phil"),
        ("will_call_aging_days", "phil"),
        ("billing_point", "phil"),
        ("sig_overrides", "phil"),
    ]
    assert events[2].summary == {
        "before": {"will_call_aging_days": None},
        "after": {"will_call_aging_days": 14},
    }
    # Refill screening and will-call aging read these rows by key, as JSON numbers.
    with services.database.reading() as session:
        assert session.get(PharmacySetting, "refill_too_soon_threshold").value == 0.8  # type: ignore[union-attr]
        assert session.get(PharmacySetting, "will_call_aging_days").value == 14  # type: ignore[union-attr]


def test_saving_the_same_value_again_changes_nothing(services: Services, pharmacist: Actor) -> None:
    services.house_settings.set_will_call_aging_days(pharmacist, 12)
    services.house_settings.set_will_call_aging_days(pharmacist, 12)
    assert len(_events(services)) == 1


def test_technician_may_not_change_house_settings(services: Services, technician: Actor) -> None:
    with pytest.raises(PermissionDenied):
        services.house_settings.set_will_call_aging_days(technician, 12)
    assert services.house_settings.current().will_call_aging_days == 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cii_partial_on_request_days": 31}, "federal 30"),
        ({"cii_partial_pharmacy_short_hours": 73}, "federal 72"),
        ({"cii_partial_long_term_care_days": 61}, "federal 60"),
        ({"non_controlled_validity_days": 0}, "at least one day"),
        ({"schedule_v_max_refills": -1}, "0 or more"),
    ],
)
def test_state_law_may_only_be_stricter(
    services: Services, admin: Actor, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        services.house_settings.set_state_law(admin, replace(StateLawConfig(), **change))
    assert _events(services) == []


def test_bad_values_are_refused(services: Services, admin: Actor) -> None:
    settings = services.house_settings
    for bad in (Decimal("0.49"), Decimal("1.01")):
        with pytest.raises(ValidationFailed, match=r"0\.50 to 1\.00"):
            settings.set_refill_too_soon_threshold(admin, bad)
    for days in (0, 61):
        with pytest.raises(ValidationFailed, match="1 to 60"):
            settings.set_will_call_aging_days(admin, days)
    with pytest.raises(ValidationFailed, match="not a billing point"):
        settings.set_billing_point(admin, "at pickup")
    with pytest.raises(SigTableInvalid, match="mistaken for QID"):
        settings.set_sig_overrides(admin, [frequency("QZ", "QD", 1)])
    assert _events(services) == []

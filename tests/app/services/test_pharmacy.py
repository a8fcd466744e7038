"""The pharmacy profile and first-run set-up: validated, audited, only once."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import AuditEvent, Pharmacy, User
from app.errors import PermissionDenied, ValidationFailed
from app.services.unit_of_work import Actor
from tests.conftest import DEMO_PROFILE, TEST_PASSWORD


def test_first_run_creates_pharmacy_and_administrator(services: Services) -> None:
    assert services.pharmacy.needs_first_run()
    actor = services.pharmacy.first_run(
        replace(DEMO_PROFILE, phone="2175550100", state="il"),
        admin_username="Owner",
        admin_full_name="Olive Owner",
        admin_password=TEST_PASSWORD,
    )
    assert actor.username == "owner"
    assert not services.pharmacy.needs_first_run()
    profile = services.pharmacy.profile()
    assert profile is not None
    assert (profile.phone, profile.state) == ("(217) 555-0100", "IL")
    with services.database.reading() as session:
        actions = set(session.scalars(select(AuditEvent.action)))
    assert {"user.created", "pharmacy.profile_saved"} <= actions


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"npi": "1234567890"}, "NPI 1234567890 has a wrong check digit"),
        ({"dea_number": "BT1234564"}, "wrong check digit"),
        ({"ncpdp_id": "12"}, "7 digits"),
        ({"postal_code": "ABCDE"}, "ZIP"),
        ({"state": "XX"}, "not a US state"),
        ({"phone": "555-0100"}, "10-digit"),
        ({"name": "  "}, "pharmacy name"),
    ],
)
def test_first_run_with_bad_profile_saves_nothing(
    services: Services, change: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        services.pharmacy.first_run(
            replace(DEMO_PROFILE, **change),
            admin_username="owner",
            admin_full_name="Olive Owner",
            admin_password=TEST_PASSWORD,
        )
    with services.database.reading() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
        assert session.scalar(select(func.count()).select_from(Pharmacy)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_first_run_happens_once(services: Services, admin: Actor) -> None:
    with pytest.raises(ValidationFailed, match="already set up"):
        services.pharmacy.first_run(
            DEMO_PROFILE,
            admin_username="second",
            admin_full_name="Second",
            admin_password=TEST_PASSWORD,
        )


def test_profile_changes_are_audited_with_before_and_after(
    services: Services, admin: Actor
) -> None:
    services.pharmacy.save_profile(admin, replace(DEMO_PROFILE, name="Renamed Pharmacy"))
    with services.database.reading() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event is not None
    assert event.summary["before"]["name"] == "Test Pharmacy"
    assert event.summary["after"]["name"] == "Renamed Pharmacy"


def test_technician_cannot_change_the_profile(services: Services, technician: Actor) -> None:
    with pytest.raises(PermissionDenied):
        services.pharmacy.save_profile(technician, replace(DEMO_PROFILE, name="Mine now"))

"""Prescribers: NPI and DEA checks, DEA warnings, duplicate NPI, stale edits, search, audit."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import AuditEvent, Prescriber
from app.errors import StaleRecord, ValidationFailed
from app.services.prescribers import PrescriberDraft
from app.services.unit_of_work import Actor

NEXT_YEAR = date.today() + timedelta(days=365)
HOLLOWAY = PrescriberDraft(
    last_name="Holloway",
    first_name="Imogen",
    credentials="MD",
    npi="1555030000",
    dea_number="ah5550303",
    dea_schedules=frozenset({"2", "2n", "3", "3N", "4", "5"}),
    dea_expires_on=NEXT_YEAR,
    phone="217-555-0161",
    state="il",
    postal_code="62702",
)

NO_DEA = replace(HOLLOWAY, dea_number="", dea_schedules=frozenset(), dea_expires_on=None)


def _count(services: Services) -> int:
    with services.database.reading() as session:
        return session.scalar(select(func.count()).select_from(Prescriber)) or 0


def test_technician_adds_a_prescriber_without_warnings(
    services: Services, technician: Actor
) -> None:
    saved = services.prescribers.create_prescriber(technician, draft=HOLLOWAY)

    assert saved.warnings == ()
    found = saved.prescriber
    assert (found.dea_number, found.state, found.phone) == ("AH5550303", "IL", "(217) 555-0161")
    assert found.dea_schedules == {"2", "2N", "3", "3N", "4", "5"}
    assert found.display_name == "Imogen Holloway, MD"
    with services.database.reading() as session:
        stored = session.scalars(select(Prescriber)).one()
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "prescriber.created")
        ).one()
    assert stored.dea_schedules == "2,2N,3,3N,4,5"
    assert event.entity_id == str(stored.id)
    assert event.summary["after"]["dea_expires_on"] == NEXT_YEAR.isoformat()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # Mid-level practitioner (M) whose registration letter still differs: a warning.
        ({"dea_number": "MZ5550303", "credentials": "NP"}, "second letter Z"),
        # Married since registering: the old initial stays on the DEA number.
        ({"last_name": "Quince"}, "second letter H is not the initial of the last name (Q)"),
        # Institutional registration with a suffix, in the hospital's name.
        ({"dea_number": "AB5550303-012A"}, "institutional"),
        ({"dea_expires_on": date.today() - timedelta(days=1)}, "expired on"),
        ({"dea_expires_on": None}, "No DEA expiry date"),
        ({"dea_schedules": frozenset()}, "No DEA schedules"),
    ],
)
def test_odd_but_lawful_dea_registrations_save_with_a_warning(
    services: Services, technician: Actor, change: dict[str, Any], expected: str
) -> None:
    saved = services.prescribers.create_prescriber(technician, draft=replace(HOLLOWAY, **change))
    assert len(saved.warnings) == 1
    assert expected in saved.warnings[0]
    assert _count(services) == 1


def test_matching_institutional_suffix_has_no_warning(
    services: Services, technician: Actor
) -> None:
    saved = services.prescribers.create_prescriber(
        technician, draft=replace(HOLLOWAY, dea_number="AH5550303-12B")
    )
    assert saved.warnings == ()
    assert saved.prescriber.dea_number == "AH5550303-12B"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"npi": "1555030001"}, "npi", "wrong check digit"),
        ({"npi": "155503000"}, "npi", "10 digits"),
        ({"dea_number": "AH5550304"}, "dea_number", "wrong check digit"),
        ({"dea_number": "AH555030"}, "dea_number", "two letters and seven digits"),
        ({"dea_schedules": frozenset({"2", "1"})}, "dea_schedules", "1 is not"),
        ({"dea_schedules": frozenset({"6"})}, "dea_schedules", "6 is not"),
        ({"dea_number": "", "dea_schedules": frozenset({"4"})}, "dea_number", "DEA number"),
        ({"last_name": ""}, "last_name", "last name"),
        ({"fax": "555-01"}, "fax", "fax"),
    ],
)
def test_bad_prescribers_are_refused(
    services: Services, technician: Actor, change: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message) as refused:
        services.prescribers.create_prescriber(technician, draft=replace(HOLLOWAY, **change))
    assert refused.value.facts["field"] == field
    assert _count(services) == 0


def test_no_dea_number_at_all_is_fine(services: Services, technician: Actor) -> None:
    saved = services.prescribers.create_prescriber(technician, draft=NO_DEA)
    assert (saved.prescriber.dea_number, saved.warnings) == ("", ())


def test_duplicate_npi_is_refused(services: Services, technician: Actor) -> None:
    first = services.prescribers.create_prescriber(technician, draft=HOLLOWAY).prescriber
    with pytest.raises(ValidationFailed, match="already belongs to Imogen Holloway") as refused:
        services.prescribers.create_prescriber(technician, draft=replace(NO_DEA, last_name="Other"))
    assert refused.value.facts["prescriber_id"] == first.id
    other = services.prescribers.create_prescriber(
        technician, draft=replace(NO_DEA, npi="1555030018")
    ).prescriber
    with pytest.raises(ValidationFailed, match="already belongs"):
        services.prescribers.update_prescriber(
            technician, other.id, expected_version=other.version, draft=HOLLOWAY
        )
    assert _count(services) == 2


def test_update_is_audited_and_a_stale_update_changes_nothing(
    services: Services, technician: Actor, pharmacist: Actor
) -> None:
    opened = services.prescribers.create_prescriber(technician, draft=HOLLOWAY).prescriber
    saved = services.prescribers.update_prescriber(
        pharmacist,
        opened.id,
        expected_version=opened.version,
        draft=replace(HOLLOWAY, dea_schedules=frozenset({"4", "5"})),
    )
    assert saved.prescriber.version == opened.version + 1
    with pytest.raises(StaleRecord, match="changed by another workstation"):
        services.prescribers.update_prescriber(
            technician, opened.id, expected_version=opened.version, draft=HOLLOWAY
        )
    current = services.prescribers.get(technician, opened.id)
    assert current.dea_schedules == {"4", "5"}
    with services.database.reading() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "prescriber.updated")
        ).one()
    assert event.summary == {
        "before": {"dea_schedules": "2,2N,3,3N,4,5"},
        "after": {"dea_schedules": "4,5"},
    }


def test_search_by_name_npi_and_dea(services: Services, technician: Actor) -> None:
    holloway = services.prescribers.create_prescriber(technician, draft=HOLLOWAY).prescriber
    hart = services.prescribers.create_prescriber(
        technician,
        draft=replace(NO_DEA, last_name="Hart", first_name="Jonas", npi="1555030026"),
    ).prescriber

    def ids(text: str) -> list[int]:
        return [found.id for found in services.prescribers.search(technician, text)]

    assert ids("h") == [hart.id, holloway.id]
    assert ids("holloway, im") == [holloway.id]
    assert ids("jonas hart") == [hart.id]
    assert ids("1555030026") == [hart.id]
    assert ids("ah5550303") == [holloway.id]
    assert ids("AH5550304") == []
    assert ids("  ") == []

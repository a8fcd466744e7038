"""Patient intake: validation, duplicates, stale edits, allergies, coverages, search, audit."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import (
    AuditEvent,
    DrugPackage,
    InsuranceCoverage,
    Patient,
    PatientAllergy,
    Prescriber,
    Prescription,
)
from app.errors import NotFound, StaleRecord, ValidationFailed
from app.services.patients import (
    AllergyDraft,
    CoverageDraft,
    PatientDraft,
    PatientPreferences,
    PossibleDuplicate,
    classify_search,
    transposed_dates,
)
from app.services.unit_of_work import Actor

ROSE = PatientDraft(
    last_name="Thistlewood",
    first_name="Rosalind",
    date_of_birth=date(1961, 3, 14),
    sex="f",
    address_line1="12 Bramble Way",
    city="Springfield",
    state="il",
    postal_code="62704",
    phone="217.555.0142",
    email="rose.thistlewood@example.com",
)
PENICILLIN = AllergyDraft(
    substance="Amoxicillin",
    drug_class="Penicillin-class Antibacterial [EPC]",
    reaction="hives",
    severity="moderate",
)
PRIMARY = CoverageDraft(
    rank=1, bin="610999", pcn="DEMO1", group_number="GRP100", cardholder_id="ZX123456789"
)


def _events(services: Services, action: str) -> list[AuditEvent]:
    with services.database.reading() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def _count(services: Services, model: Any) -> int:
    with services.database.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _create(services: Services, actor: Actor, draft: PatientDraft = ROSE) -> int:
    return services.patients.create_patient(actor, draft=draft).patient.id


def test_technician_creates_a_patient_normalised_and_audited(
    services: Services, technician: Actor
) -> None:
    created = services.patients.create_patient(technician, draft=ROSE)

    assert created.possible_duplicates == ()
    assert created.patient.display_name == "Thistlewood, Rosalind"
    record = services.patients.open_record(technician, created.patient.id, purpose="intake")
    assert (record.sex, record.state, record.phone) == ("F", "IL", "(217) 555-0142")
    assert record.allergy_status == "not asked"
    assert record.version == created.patient.version
    (event,) = _events(services, "patient.created")
    assert (event.username, event.entity_id) == ("tess", str(created.patient.id))
    assert event.summary["after"]["date_of_birth"] == "1961-03-14"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"last_name": "  "}, "last_name"),
        ({"first_name": ""}, "first_name"),
        ({"date_of_birth": None}, "date_of_birth"),
        ({"date_of_birth": date.today() + timedelta(days=1)}, "date_of_birth"),
        ({"date_of_birth": date(1899, 12, 31)}, "date_of_birth"),
        ({"sex": "Q"}, "sex"),
        ({"state": "ZZ"}, "state"),
        ({"postal_code": "6270"}, "postal_code"),
        ({"phone": "555-0142"}, "phone"),
        ({"phone": "(017) 555-0142"}, "phone"),
        ({"email": "rose@"}, "email"),
        ({"preferred_language": "english"}, "preferred_language"),
    ],
)
def test_bad_patient_fields_are_refused_and_nothing_is_saved(
    services: Services, technician: Actor, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        services.patients.create_patient(technician, draft=replace(ROSE, **change))
    assert refused.value.facts["field"] == field
    assert _count(services, Patient) == 0


def test_boundary_birth_dates_are_accepted(services: Services, technician: Actor) -> None:
    for born, first in ((date(1900, 1, 1), "Olde"), (date.today(), "Newborn")):
        _create(services, technician, replace(ROSE, first_name=first, date_of_birth=born))
    assert _count(services, Patient) == 2


@pytest.mark.parametrize(
    "twin",
    [
        replace(ROSE, first_name="Mabel", phone=""),  # same last name and birth date
        replace(ROSE, last_name="Quill", first_name="Mabel"),  # same phone and birth date
        replace(ROSE, phone="", date_of_birth=date(1916, 3, 14)),  # same name, 61 typed 16
        replace(ROSE, phone="", address_line1=""),  # the same person again
    ],
)
def test_possible_duplicates_are_warned_and_refused_until_confirmed(
    services: Services, technician: Actor, twin: PatientDraft
) -> None:
    first = _create(services, technician)

    found = services.patients.find_possible_duplicates(technician, twin)
    assert [hit.id for hit in found] == [first]
    with pytest.raises(PossibleDuplicate) as refused:
        services.patients.create_patient(technician, draft=twin)
    assert [hit.id for hit in refused.value.candidates] == [first]
    assert _count(services, Patient) == 1

    created = services.patients.create_patient(technician, draft=twin, confirm_not_duplicate=True)
    assert [hit.id for hit in created.possible_duplicates] == [first]
    event = _events(services, "patient.created")[-1]
    assert event.summary["confirmed_not_duplicate_of"] == [first]
    checks = _events(services, "patient.duplicate_check")
    assert [check.summary for check in checks] == [{"count": 1}]


def test_a_different_person_is_not_a_duplicate(services: Services, technician: Actor) -> None:
    _create(services, technician)
    other = replace(ROSE, last_name="Quill", phone="", date_of_birth=date(1961, 3, 15))
    assert services.patients.find_possible_duplicates(technician, other) == []
    same_name_far_date = replace(ROSE, phone="", date_of_birth=date(1971, 8, 2))
    assert services.patients.find_possible_duplicates(technician, same_name_far_date) == []


def test_transposed_dates() -> None:
    found = transposed_dates(date(1961, 3, 14))
    assert {date(1961, 3, 14), date(1916, 3, 14)} <= found
    assert date(1961, 3, 11) not in found
    assert transposed_dates(date(1970, 5, 7)) >= {date(1970, 7, 5), date(1907, 5, 7)}
    assert date(1980, 10, 21) in transposed_dates(date(1980, 12, 1))


def test_stale_edit_is_refused_and_changes_nothing(
    services: Services, technician: Actor, pharmacist: Actor
) -> None:
    patient_id = _create(services, technician)
    opened_by_tech = services.patients.open_record(technician, patient_id, purpose="edit")
    opened_by_pharm = services.patients.open_record(pharmacist, patient_id, purpose="edit")

    saved = services.patients.update_patient(
        pharmacist,
        patient_id,
        expected_version=opened_by_pharm.version,
        draft=replace(ROSE, city="Chatham"),
    )
    assert saved.version == opened_by_pharm.version + 1
    with pytest.raises(StaleRecord, match="changed by another workstation since you opened it"):
        services.patients.update_patient(
            technician,
            patient_id,
            expected_version=opened_by_tech.version,
            draft=replace(ROSE, phone="217-555-0199"),
        )

    after = services.patients.open_record(pharmacist, patient_id, purpose="check")
    assert (after.city, after.phone, after.version) == ("Chatham", "(217) 555-0142", saved.version)
    (updated,) = _events(services, "patient.updated")
    assert updated.summary == {"before": {"city": "Springfield"}, "after": {"city": "Chatham"}}


def test_allergies_and_the_no_known_allergies_answer(
    services: Services, technician: Actor, pharmacist: Actor
) -> None:
    patient_id = _create(services, technician)
    services.patients.set_no_known_allergies(technician, patient_id)
    assert services.patients.open_record(technician, patient_id, purpose="t").no_known_allergies

    allergy = services.patients.add_allergy(technician, patient_id, allergy=PENICILLIN)
    record = services.patients.open_record(technician, patient_id, purpose="t")
    assert record.allergy_status == "allergies on file"
    assert record.no_known_allergies is False
    assert record.allergies[0].drug_class == "Penicillin-class Antibacterial [EPC]"
    with pytest.raises(ValidationFailed, match="1 allergies on file"):
        services.patients.set_no_known_allergies(technician, patient_id)
    with pytest.raises(ValidationFailed, match="already on file"):
        services.patients.add_allergy(technician, patient_id, allergy=PENICILLIN)
    with pytest.raises(ValidationFailed, match="Severity"):
        services.patients.add_allergy(
            technician, patient_id, allergy=AllergyDraft(substance="Sulfa", severity="awful")
        )
    with pytest.raises(ValidationFailed, match="Name the substance"):
        services.patients.add_allergy(technician, patient_id, allergy=AllergyDraft())

    with pytest.raises(ValidationFailed, match="why"):
        services.patients.remove_allergy(pharmacist, allergy.id, reason=" ")
    services.patients.remove_allergy(pharmacist, allergy.id, reason="entered on the wrong patient")

    assert _count(services, PatientAllergy) == 0
    record = services.patients.open_record(technician, patient_id, purpose="t")
    assert record.allergy_status == "not asked"
    (removed,) = _events(services, "patient.allergy_removed")
    assert removed.entity_id == str(allergy.id)
    assert removed.summary["before"]["drug_class"] == "Penicillin-class Antibacterial [EPC]"
    assert removed.summary["reason"] == "entered on the wrong patient"
    statuses = [e.summary["after"] for e in _events(services, "patient.allergy_status_changed")]
    assert statuses == [
        {"no_known_allergies": True},
        {"no_known_allergies": False},
        {"no_known_allergies": None},
    ]


def test_conditions_preferences_and_privacy_notice(services: Services, technician: Actor) -> None:
    patient_id = _create(services, technician)
    condition = services.patients.add_condition(technician, patient_id, description="Asthma")
    services.patients.add_condition(technician, patient_id, description="Hypertension")
    services.patients.remove_condition(technician, condition.id, reason="resolved in childhood")
    version = services.patients.open_record(technician, patient_id, purpose="t").version
    saved = services.patients.set_preferences(
        technician,
        patient_id,
        expected_version=version,
        preferences=PatientPreferences(easy_open_caps=True, large_print_labels=True),
    )
    services.patients.acknowledge_privacy_notice(
        technician, patient_id, acknowledged_on=date.today()
    )
    with pytest.raises(ValidationFailed, match="future"):
        services.patients.acknowledge_privacy_notice(
            technician, patient_id, acknowledged_on=date.today() + timedelta(days=1)
        )
    with pytest.raises(StaleRecord):
        services.patients.set_preferences(
            technician, patient_id, expected_version=version, preferences=PatientPreferences()
        )

    record = services.patients.open_record(technician, patient_id, purpose="t")
    assert [c.description for c in record.conditions] == ["Hypertension"]
    assert record.preferences == PatientPreferences(easy_open_caps=True, large_print_labels=True)
    assert record.privacy_notice_acknowledged_on == date.today()
    assert record.version == saved.version + 1
    (prefs,) = _events(services, "patient.preferences_changed")
    assert prefs.summary["after"] == {"easy_open_caps": True, "large_print_labels": True}


def test_coverages_rank_rules_and_deactivation(services: Services, technician: Actor) -> None:
    patient_id = _create(services, technician)
    primary = services.patients.add_coverage(technician, patient_id, coverage=PRIMARY)
    with pytest.raises(ValidationFailed, match="already has an active primary"):
        services.patients.add_coverage(technician, patient_id, coverage=PRIMARY)
    secondary = services.patients.add_coverage(
        technician,
        patient_id,
        coverage=replace(PRIMARY, rank=2, bin="004336", relationship_code="2", person_code="02"),
    )
    with pytest.raises(ValidationFailed, match="already has an active primary"):
        services.patients.update_coverage(
            technician,
            secondary.id,
            expected_version=secondary.version,
            coverage=replace(PRIMARY, bin="004336"),
        )

    services.patients.deactivate_coverage(technician, primary.id, expected_version=primary.version)
    promoted = services.patients.update_coverage(
        technician,
        secondary.id,
        expected_version=secondary.version,
        coverage=replace(PRIMARY, bin="004336", relationship_code="2"),
    )
    assert (promoted.rank, promoted.version) == (1, secondary.version + 1)
    with pytest.raises(StaleRecord):
        services.patients.deactivate_coverage(
            technician, secondary.id, expected_version=secondary.version
        )

    record = services.patients.open_record(technician, patient_id, purpose="t")
    assert [(c.bin, c.rank, c.active) for c in record.coverages] == [
        ("610999", 1, False),
        ("004336", 1, True),
    ]
    actions = [e.action for e in _events(services, "patient.coverage_updated")]
    assert actions == ["patient.coverage_updated"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bin": "61099"}, "bin"),
        ({"bin": "61099A"}, "bin"),
        ({"rank": 3}, "rank"),
        ({"relationship_code": "5"}, "relationship_code"),
        ({"cardholder_id": " "}, "cardholder_id"),
        ({"person_code": "0001"}, "person_code"),
        ({"effective_on": date(2025, 2, 1), "terminated_on": date(2025, 1, 1)}, "terminated_on"),
    ],
)
def test_bad_coverages_are_refused(
    services: Services, technician: Actor, change: dict[str, Any], field: str
) -> None:
    patient_id = _create(services, technician)
    with pytest.raises(ValidationFailed) as refused:
        services.patients.add_coverage(technician, patient_id, coverage=replace(PRIMARY, **change))
    assert refused.value.facts["field"] == field
    assert _count(services, InsuranceCoverage) == 0


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("smith", "name"),
        ("smith, jo", "name"),
        ("jo smith", "name"),
        ("03/14/1961", "dob"),
        ("1961-03-14", "dob"),
        ("(217) 555-0142", "phone"),
        ("2175550142", "phone"),
        ("1-217-555-0142", "phone"),
        ("6100100", "rx"),
    ],
)
def test_search_text_kinds(text: str, kind: str) -> None:
    assert classify_search(text)[0] == kind


def test_search_by_each_key_is_audited_without_the_text(
    catalogue: Services, technician: Actor, admin: Actor
) -> None:
    services = catalogue
    rose = _create(services, technician)
    mabel = _create(
        services,
        technician,
        PatientDraft("Thistlewood", "Mabel", date(1990, 7, 1), "F", phone="217 555 0177"),
    )
    jo = _create(services, technician, PatientDraft("Smith", "Jo", date(1985, 1, 2), "M"))
    with services.database.unit_of_work(admin) as uow:
        prescriber = Prescriber(last_name="Quillfeather", first_name="Amara", npi="1555020001")
        uow.session.add(prescriber)
        uow.audit("prescriber.created", prescriber)
        prescription = Prescription(
            rx_number="6100777",
            patient_id=jo,
            prescriber=prescriber,
            package_id=uow.session.scalars(select(DrugPackage.id).limit(1)).one(),
            written_date=date.today(),
            quantity=30,
            days_supply=30,
        )
        uow.session.add(prescription)
        uow.audit("prescription.entered", prescription)

    def ids(text: str) -> list[int]:
        return [hit.id for hit in services.patients.search(technician, text)]

    assert ids("thistle") == [mabel, rose]
    assert ids("THISTLEWOOD, ro") == [rose]
    assert ids("mab thistle") == [mabel]
    assert ids("smith jo") == [jo]
    assert ids("03/14/1961") == [rose]
    assert ids("1961-03-14") == [rose]
    assert ids("217-555-0177") == [mabel]
    assert ids("(217) 555 0142") == [rose]
    assert ids("6100777") == [jo]
    assert ids("6100778") == []
    assert ids("%") == []
    history = services.patients.open_record(technician, jo, purpose="t").prescriptions
    assert [(h.rx_number, h.last_fill_state, h.refills_remaining) for h in history] == [
        ("6100777", None, 0)
    ]
    hit = services.patients.search(technician, "rosalind thistlewood")[0]
    assert hit.address_line == "12 Bramble Way, Springfield IL 62704"

    events = _events(services, "patient.search")
    assert [e.summary["kind"] for e in events] == [
        "name",
        "name",
        "name",
        "name",
        "dob",
        "dob",
        "phone",
        "phone",
        "rx",
        "rx",
        "name",
        "name",
    ]
    assert events[0].summary == {"kind": "name", "count": 2}
    assert all(e.entity_type == "none" and "thistle" not in str(e.summary) for e in events)


def test_open_record_of_a_missing_patient(services: Services, technician: Actor) -> None:
    with pytest.raises(NotFound):
        services.patients.open_record(technician, 999, purpose="t")

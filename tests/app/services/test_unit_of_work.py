"""One action, one transaction: the change and its audit events commit together or not at all."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import AuditEvent, Patient, User
from app.domain.roles import Role
from app.errors import PermissionDenied, ValidationFailed
from app.services.unit_of_work import Actor, require_role
from tests.conftest import TEST_PASSWORD


def _count(services: Services, model: type) -> int:
    with services.database.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _patient(last_name: str) -> Patient:
    return Patient(last_name=last_name, first_name="Test", date_of_birth=date(1970, 1, 1), sex="F")


def test_each_changed_record_gets_one_event_with_who_what_where(
    services: Services, admin: Actor
) -> None:
    with services.database.unit_of_work(admin) as uow:
        first, second = _patient("Alpha"), _patient("Beta")
        uow.session.add_all([first, second])
        uow.audit("patient.created", first, after={"last_name": "Alpha"})
        uow.audit("patient.created", second, after={"last_name": "Beta"})
    with services.database.reading() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "patient.created").order_by(AuditEvent.id)
        ).all()
    assert [(e.entity_type, e.entity_id) for e in events] == [
        ("patients", str(first.id)),
        ("patients", str(second.id)),
    ]
    assert all(e.username == "admin" and e.workstation == "test-workstation" for e in events)
    assert all(e.occurred_at.tzinfo is not None for e in events)
    assert events[0].summary == {"after": {"last_name": "Alpha"}}


def test_a_failed_action_leaves_neither_change_nor_audit(services: Services, admin: Actor) -> None:
    patients, events = _count(services, Patient), _count(services, AuditEvent)
    with pytest.raises(ValidationFailed), services.database.unit_of_work(admin) as uow:
        patient = _patient("Gamma")
        uow.session.add(patient)
        uow.audit("patient.created", patient)
        raise ValidationFailed("something later in the action was wrong")
    assert (_count(services, Patient), _count(services, AuditEvent)) == (patients, events)


def test_a_change_without_an_audit_event_is_refused(services: Services, admin: Actor) -> None:
    patients = _count(services, Patient)
    with pytest.raises(RuntimeError, match="changed without an audit event"):
        with services.database.unit_of_work(admin) as uow:
            uow.session.add(_patient("Delta"))
    assert _count(services, Patient) == patients


def test_an_update_needs_its_own_event_too(services: Services, admin: Actor) -> None:
    with services.database.unit_of_work(admin) as uow:
        patient = _patient("Epsilon")
        uow.session.add(patient)
        uow.audit("patient.created", patient)
    with pytest.raises(RuntimeError, match="patients"):
        with services.database.unit_of_work(admin) as uow:
            uow.session.get_one(Patient, patient.id).first_name = "Changed"
    with services.database.reading() as session:
        assert session.get_one(Patient, patient.id).first_name == "Test"


def test_refusal_is_recorded_but_nothing_else_is(services: Services, technician: Actor) -> None:
    users = _count(services, User)
    with pytest.raises(PermissionDenied, match="Only an administrator may create user accounts"):
        services.users.add_user(
            technician,
            username="intruder",
            full_name="Intruder",
            password=TEST_PASSWORD,
            roles=frozenset({Role.ADMINISTRATOR}),
        )
    assert _count(services, User) == users


def test_require_role_inside_a_unit_of_work_writes_access_denied(
    services: Services, technician: Actor
) -> None:
    with pytest.raises(PermissionDenied), services.database.unit_of_work(technician) as uow:
        patient = _patient("Zeta")
        uow.session.add(patient)
        uow.audit("patient.created", patient)
        require_role(technician, Role.PHARMACIST, action="approve final verification")
    with services.database.reading() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        created = session.scalar(
            select(func.count()).select_from(Patient).where(Patient.last_name == "Zeta")
        )
    assert last is not None
    assert (last.action, last.entity_id, last.username) == (
        "access.denied",
        "approve final verification",
        "tess",
    )
    assert last.summary == {"required": ["pharmacist"]}
    assert created == 0


def test_viewing_a_patient_record_is_audited(
    services: Services, technician: Actor, admin: Actor
) -> None:
    with services.database.unit_of_work(admin) as uow:
        patient = _patient("Eta")
        uow.session.add(patient)
        uow.audit("patient.created", patient)
    record = services.patients.open_record(technician, patient.id, purpose="phone inquiry")
    assert record.display_name == "Eta, Test"
    with services.database.reading() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "patient.viewed")
        ).one()
    assert (event.username, event.entity_type, event.entity_id) == (
        "tess",
        "patients",
        str(patient.id),
    )
    assert event.summary == {"purpose": "phone inquiry"}

"""Screening at data review on real FDA catalogue rows: allergies by ingredient and by class,
duplicate therapy, early refill; acknowledgement by a pharmacist only, with a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.bootstrap import Services
from app.db.base import utc_now
from app.db.models import AuditEvent, DrugProduct, WorkItem
from app.domain.fill_states import FillState
from app.errors import PermissionDenied, StaleRecord, ValidationFailed
from app.services.screening import (
    SCREENING_DISCLAIMER,
    UnacknowledgedFindings,
    active_moieties,
    class_matches,
)
from app.services.unit_of_work import Actor
from tests.app.services.pharmacy_data import (
    add_fill,
    add_patient,
    add_prescription,
    load_demo_catalogue,
    package_of,
)

AMOXICILLIN = "0093-3109"
CEPHALEXIN = "0093-3147"
LISINOPRIL = "65862-039"
LISINOPRIL_OTHER_LABELER = "0591-0407"
PENICILLIN_CLASS = "Penicillin-class Antibacterial [EPC]"


@pytest.fixture
def catalogue(services: Services, admin: Actor) -> None:
    load_demo_catalogue(services, admin)


def _fill_in_entry(
    services: Services,
    admin: Actor,
    product_ndc: str,
    *,
    patient_id: int,
    fill_number: int = 0,
    prescription_id: int | None = None,
) -> int:
    if prescription_id is None:
        prescription_id = add_prescription(
            services, admin, patient_id=patient_id, package_id=package_of(services, product_ndc)
        )
    return add_fill(
        services,
        admin,
        prescription_id=prescription_id,
        state=FillState.DATA_ENTRY,
        fill_number=fill_number,
    )


def _submit(services: Services, technician: Actor, fill_id: int) -> None:
    services.workflow.advance(
        technician, fill_id, to_state=FillState.DATA_REVIEW, expected_version=1
    )


def test_the_demo_catalogue_rows_are_what_the_class_check_relies_on(
    services: Services, catalogue: None
) -> None:
    with services.database.reading() as session:
        product = session.scalars(
            select(DrugProduct).where(DrugProduct.product_ndc == AMOXICILLIN)
        ).one()
    assert product.substance_name == "AMOXICILLIN"
    assert PENICILLIN_CLASS in product.pharm_classes


def test_a_penicillin_class_allergy_flags_amoxicillin_at_data_review(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, catalogue: None
) -> None:
    patient_id = add_patient(services, admin, allergies=(("", PENICILLIN_CLASS),))
    fill_id = _fill_in_entry(services, admin, AMOXICILLIN, patient_id=patient_id)

    _submit(services, technician, fill_id)

    [finding] = services.screening.findings(pharmacist, fill_id)
    assert (finding.kind, finding.severity, finding.acknowledged) == (
        "allergy_class",
        "critical",
        False,
    )
    assert PENICILLIN_CLASS in finding.message
    assert finding.disclaimer == SCREENING_DISCLAIMER
    assert "NOT a complete drug-interaction screen" in SCREENING_DISCLAIMER
    kinds = [item.kind for item in services.worklist.items(pharmacist)]
    assert sorted(kinds) == ["clinical_finding", "data_review"]


def test_an_ingredient_allergy_matches_across_salt_forms(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, catalogue: None
) -> None:
    patient_id = add_patient(services, admin, allergies=(("Amoxicillin Trihydrate", ""),))
    fill_id = _fill_in_entry(services, admin, AMOXICILLIN, patient_id=patient_id)
    _submit(services, technician, fill_id)
    [finding] = services.screening.findings(pharmacist, fill_id)
    assert finding.kind == "allergy_ingredient"
    assert "amoxicillin" in finding.message


def test_a_penicillin_allergy_does_not_flag_a_cephalosporin(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, catalogue: None
) -> None:
    patient_id = add_patient(
        services, admin, allergies=(("AMOXICILLIN", PENICILLIN_CLASS), ("", "Penicillins [CS]"))
    )
    fill_id = _fill_in_entry(services, admin, CEPHALEXIN, patient_id=patient_id)
    _submit(services, technician, fill_id)
    assert services.screening.findings(pharmacist, fill_id) == []
    services.workflow.advance(pharmacist, fill_id, to_state=FillState.FILL, expected_version=2)


def test_duplicate_therapy_with_a_fill_still_within_its_days_supply(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, catalogue: None
) -> None:
    patient_id = add_patient(services, admin)
    earlier_rx = add_prescription(
        services, admin, patient_id=patient_id, package_id=package_of(services, LISINOPRIL)
    )
    add_fill(
        services,
        admin,
        prescription_id=earlier_rx,
        state=FillState.SOLD,
        changed_at=utc_now() - timedelta(days=10),
    )
    fill_id = _fill_in_entry(services, admin, LISINOPRIL_OTHER_LABELER, patient_id=patient_id)

    _submit(services, technician, fill_id)

    [finding] = services.screening.findings(pharmacist, fill_id)
    assert finding.kind == "duplicate_therapy"
    assert "lisinopril" in finding.message and "within its days' supply" in finding.message


def test_no_duplicate_once_the_other_supply_has_run_out(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, catalogue: None
) -> None:
    patient_id = add_patient(services, admin)
    earlier_rx = add_prescription(
        services, admin, patient_id=patient_id, package_id=package_of(services, LISINOPRIL)
    )
    add_fill(
        services,
        admin,
        prescription_id=earlier_rx,
        state=FillState.SOLD,
        changed_at=utc_now() - timedelta(days=31),
    )
    add_fill(
        services,
        admin,
        prescription_id=earlier_rx,
        fill_number=1,
        state=FillState.CANCELLED,
    )
    fill_id = _fill_in_entry(services, admin, LISINOPRIL_OTHER_LABELER, patient_id=patient_id)
    _submit(services, technician, fill_id)
    assert services.screening.findings(pharmacist, fill_id) == []


def test_an_early_refill_is_found_at_review_once_even_when_screened_again(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, catalogue: None
) -> None:
    patient_id = add_patient(services, admin)
    rx = add_prescription(
        services, admin, patient_id=patient_id, package_id=package_of(services, LISINOPRIL)
    )
    add_fill(
        services,
        admin,
        prescription_id=rx,
        state=FillState.SOLD,
        changed_at=utc_now() - timedelta(days=5),
    )
    fill_id = _fill_in_entry(
        services, admin, LISINOPRIL, patient_id=patient_id, prescription_id=rx, fill_number=1
    )
    _submit(services, technician, fill_id)

    again = services.screening.screen(technician, fill_id)

    [finding] = again
    assert finding.kind == "early_refill"
    assert finding.message.startswith("Too soon to refill")


def test_a_fill_cannot_leave_review_until_every_finding_is_acknowledged(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, catalogue: None
) -> None:
    patient_id = add_patient(services, admin, allergies=(("", PENICILLIN_CLASS),))
    fill_id = _fill_in_entry(services, admin, AMOXICILLIN, patient_id=patient_id)
    _submit(services, technician, fill_id)
    for target in (FillState.FILL, FillState.BILLING_PENDING):
        with pytest.raises(UnacknowledgedFindings) as refused:
            services.workflow.advance(pharmacist, fill_id, to_state=target, expected_version=2)
        assert refused.value.facts["unacknowledged"] == 1
    [finding] = services.screening.findings(pharmacist, fill_id)

    acknowledged = services.screening.acknowledge(
        pharmacist,
        finding.finding_id,
        expected_version=finding.version,
        reason="Rash in childhood; tolerated amoxicillin in 2019 per prescriber",
    )

    assert (acknowledged.acknowledged_by, acknowledged.version) == ("phil", 2)
    assert acknowledged.acknowledgement_reason.startswith("Rash in childhood")
    [item] = services.worklist.items(pharmacist)
    assert item.kind == "data_review"
    row = services.workflow.advance(
        pharmacist, fill_id, to_state=FillState.FILL, expected_version=2
    )
    assert row.state is FillState.FILL
    with services.database.reading() as session:
        [event] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "finding.acknowledged")
        ).all()
    assert event.username == "phil" and event.summary["reason"].startswith("Rash")


def test_a_send_back_is_open_with_findings_unacknowledged(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, catalogue: None
) -> None:
    patient_id = add_patient(services, admin, allergies=(("", PENICILLIN_CLASS),))
    fill_id = _fill_in_entry(services, admin, AMOXICILLIN, patient_id=patient_id)
    _submit(services, technician, fill_id)
    row = services.workflow.advance(
        pharmacist,
        fill_id,
        to_state=FillState.DATA_ENTRY,
        expected_version=2,
        reason="call the prescriber for an alternative",
    )
    assert row.state is FillState.DATA_ENTRY


def test_acknowledging_is_a_pharmacists_act_with_a_reason_on_the_current_version(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, catalogue: None
) -> None:
    patient_id = add_patient(services, admin, allergies=(("", PENICILLIN_CLASS),))
    fill_id = _fill_in_entry(services, admin, AMOXICILLIN, patient_id=patient_id)
    _submit(services, technician, fill_id)
    [finding] = services.screening.findings(pharmacist, fill_id)

    with pytest.raises(PermissionDenied):
        services.screening.acknowledge(
            technician, finding.finding_id, expected_version=1, reason="looks fine"
        )
    with pytest.raises(ValidationFailed, match="Say why"):
        services.screening.acknowledge(
            pharmacist, finding.finding_id, expected_version=1, reason=" "
        )
    with pytest.raises(StaleRecord):
        services.screening.acknowledge(
            pharmacist, finding.finding_id, expected_version=7, reason="reviewed"
        )
    assert services.screening.findings(pharmacist, fill_id)[0].acknowledged is False
    with services.database.reading() as session:
        denied = session.scalars(
            select(AuditEvent.username).where(AuditEvent.action == "access.denied")
        ).all()
        open_findings = session.scalars(
            select(WorkItem).where(
                WorkItem.kind == "clinical_finding", WorkItem.closed_at.is_(None)
            )
        ).all()
    assert denied == ["tess"] and len(open_findings) == 1


@pytest.mark.parametrize(
    ("substances", "moieties"),
    [
        ("AMOXICILLIN", {"AMOXICILLIN"}),
        ("Amoxicillin trihydrate", {"AMOXICILLIN"}),
        ("HYDROCODONE BITARTRATE; ACETAMINOPHEN", {"HYDROCODONE", "ACETAMINOPHEN"}),
        ("LEVOTHYROXINE SODIUM", {"LEVOTHYROXINE"}),
        ("INSULIN LISPRO", {"INSULIN LISPRO"}),
        ("POTASSIUM CHLORIDE", {"POTASSIUM CHLORIDE"}),
        ("", set()),
    ],
)
def test_active_moieties_drop_salt_words_only(substances: str, moieties: set[str]) -> None:
    assert active_moieties(substances) == moieties


def test_class_matching_with_or_without_the_class_type() -> None:
    classes = "Penicillin-class Antibacterial [EPC],Penicillins [CS]"
    assert class_matches("penicillin-class antibacterial [EPC]", classes)
    assert class_matches("Penicillins", classes)
    assert not class_matches("Cephalosporin Antibacterial [EPC]", classes)
    assert not class_matches("  ", classes)

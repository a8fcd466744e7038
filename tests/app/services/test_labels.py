"""LabelService: what each container's label says from the fill's real records, when it may be
printed, originals and reprints (audited once each), and the house label policies."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.base import Base
from app.db.models import (
    AuditEvent,
    DrugPackage,
    DrugProduct,
    Fill,
    LabelPrint,
    Patient,
    PharmacySetting,
    Prescription,
    StockLot,
    StockMovement,
)
from app.demo import load_demo
from app.domain.auxiliary_warnings import AuxiliaryRuleInvalid, rule
from app.domain.barcodes import rx_label_payload
from app.domain.fill_states import FillState
from app.domain.label_text import label_problems
from app.domain.labels import BUILT_IN_STOCKS, LabelLanguage, LabelStock
from app.domain.roles import Role
from app.domain.rx_rules import add_months
from app.domain.sig import SpanishEntry, SpanishTableInvalid, TokenKind, frequency
from app.domain.workflow import ReasonRequired
from app.errors import NotFound, PermissionDenied, StaleRecord, ValidationFailed
from app.services.labels import (
    TRANSFER_CAUTION,
    LabelRefused,
    LabelService,
    PhysicalDescriptionRequired,
    PrintKind,
)
from app.services.passwords import SecretHasher
from app.services.unit_of_work import Actor
from tests.app.services.pharmacy_data import SEEDED, add_fill, package_of
from tests.app.services.verification_data import (
    LISINOPRIL,
    OXYCODONE,
    catalogue_fill,
    package_upc,
    scan_and_complete,
    verify_fill,
)
from tests.conftest import DEMO_PROFILE

TODAY = date(2026, 3, 10)
ALBUTEROL = "0093-3174"  # NDA, sold under the generic name: ProAir is the brand
LYRICA = "0071-1014"  # the brand itself
ALPRAZOLAM = "0378-4003"  # C-IV
PROMETHAZINE_CODEINE = "27808-065"  # C-V
AMOXICILLIN = "0093-3109"
THERMAL = BUILT_IN_STOCKS[0].name
ES, EN = LabelLanguage.SPANISH, LabelLanguage.ENGLISH


@pytest.fixture
def labels(services: Services) -> LabelService:
    """The label service on a fixed day, so dates can be asserted."""
    return LabelService(services.database, today=lambda: TODAY)


def seed(services: Services, actor: Actor, model: type[Base], row_id: int, **values: Any) -> None:
    """Set columns of a test record, audited as seeding."""
    with services.database.unit_of_work(actor) as uow:
        record = uow.session.get(model, row_id)
        assert record is not None
        for name, value in values.items():
            setattr(record, name, value)
        uow.audit(SEEDED, record)


def prescription_of(services: Services, fill_id: int) -> Prescription:
    with services.database.reading() as session:
        fill = session.get(Fill, fill_id)
        assert fill is not None
        return fill.prescription


def fill_version(services: Services, fill_id: int) -> int:
    with services.database.reading() as session:
        return session.scalars(select(Fill.version).where(Fill.id == fill_id)).one()


def label_events(services: Services) -> list[AuditEvent]:
    with services.database.reading() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.in_(["label.printed", "label.reprinted"]))
                .order_by(AuditEvent.id)
            )
        )


def count(services: Services, model: type[Base]) -> int:
    with services.database.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def ready_fill(services: Services, admin: Actor, product_ndc: str = LISINOPRIL) -> int:
    return catalogue_fill(services, admin, FillState.READY, product_ndc=product_ndc)


def print_label(labels: LabelService, actor: Actor, fill_id: int, *, reason: str = "") -> Any:
    content = labels.contents(actor, fill_id, for_print=True)
    return labels.record_print(
        actor,
        fill_id,
        destination="Zebra ZD421 (counter 1)",
        stock_name=THERMAL,
        label_count=len(content),
        language=content[0].language,
        discard_after=content[0].discard_after,
        reason=reason,
    )


# --- when a label may be printed --------------------------------------------------------------

NOT_PRINTABLE = [
    (FillState.INTAKE, None),
    (FillState.DATA_ENTRY, None),
    (FillState.DATA_REVIEW, None),
    (FillState.ON_HOLD, FillState.DATA_ENTRY),
    (FillState.ON_HOLD, FillState.DATA_REVIEW),
    (FillState.CANCELLED, None),
    (FillState.RETURNED_TO_STOCK, None),
]
PRINTABLE = [
    (FillState.BILLING_PENDING, None),
    (FillState.FILL, None),
    (FillState.FINAL_VERIFICATION, None),
    (FillState.READY, None),
    (FillState.SOLD, None),
    (FillState.ON_HOLD, FillState.FILL),
]


def _fill_in(services: Services, admin: Actor, state: FillState, resume: FillState | None) -> int:
    fill_id = catalogue_fill(services, admin, FillState.INTAKE)
    seed(services, admin, Fill, fill_id, state=state.value, resume_state=resume)
    return fill_id


@pytest.mark.parametrize(("state", "resume"), NOT_PRINTABLE)
def test_a_fill_not_past_data_review_is_previewed_but_not_printed(
    services: Services,
    admin: Actor,
    technician: Actor,
    labels: LabelService,
    state: FillState,
    resume: FillState | None,
) -> None:
    fill_id = _fill_in(services, admin, state, resume)
    refusal = labels.printing_refusal(technician, fill_id)
    assert refusal is not None
    assert refusal.startswith("Rx ")

    preview = labels.contents(technician, fill_id)
    assert len(preview) == 1 and refusal in preview[0].notices
    with pytest.raises(LabelRefused) as refused:
        labels.contents(technician, fill_id, for_print=True)
    assert refused.value.message == refusal
    with pytest.raises(LabelRefused):
        labels.record_print(
            technician,
            fill_id,
            destination="Zebra",
            stock_name=THERMAL,
            label_count=1,
            language=EN,
            discard_after=TODAY,
        )
    assert count(services, LabelPrint) == 0 and label_events(services) == []
    assert labels.labelled_fills(technician) == []


@pytest.mark.parametrize(("state", "resume"), PRINTABLE)
def test_a_fill_past_data_review_prints(
    services: Services,
    admin: Actor,
    technician: Actor,
    labels: LabelService,
    state: FillState,
    resume: FillState | None,
) -> None:
    fill_id = _fill_in(services, admin, state, resume)
    assert labels.printing_refusal(technician, fill_id) is None
    assert labels.contents(technician, fill_id, for_print=True)[0].reprint is False
    rx = prescription_of(services, fill_id).rx_number
    assert [
        (each.fill_id, each.rx_number, each.fill_number)
        for each in labels.labelled_fills(technician)
    ] == [(fill_id, rx, 0)]


# --- originals and reprints -------------------------------------------------------------------


def test_original_then_reprint_with_reason_each_audited_once(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin)
    events_before = count(services, AuditEvent)

    original = print_label(labels, technician, fill_id)

    assert original.kind is PrintKind.ORIGINAL and original.reason == ""
    assert original.username == "tess" and original.stock_name == THERMAL
    assert count(services, AuditEvent) == events_before + 1
    (printed,) = label_events(services)
    assert printed.action == "label.printed"
    assert (printed.entity_type, printed.entity_id) == ("label_prints", str(original.id))
    assert printed.summary["destination"] == "Zebra ZD421 (counter 1)"

    assert labels.contents(technician, fill_id, for_print=True)[0].reprint is True
    assert labels.contents(technician, fill_id)[0].reprint is False  # a preview is no reprint

    reprint = print_label(labels, pharmacist, fill_id, reason="  Label smudged  ")

    assert reprint.kind is PrintKind.REPRINT and reprint.reason == "Label smudged"
    assert count(services, AuditEvent) == events_before + 2
    assert [event.action for event in label_events(services)] == [
        "label.printed",
        "label.reprinted",
    ]
    assert label_events(services)[1].summary["reason"] == "Label smudged"
    assert "labels" in services.changes.changes_since(0)[1]  # other workstations refresh
    history = labels.prints(technician, fill_id)
    assert [(row.kind, row.username, row.reason) for row in history] == [
        (PrintKind.ORIGINAL, "tess", ""),
        (PrintKind.REPRINT, "phil", "Label smudged"),
    ]


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reprint_without_a_reason_is_refused_and_nothing_written(
    services: Services, admin: Actor, technician: Actor, labels: LabelService, reason: str
) -> None:
    fill_id = ready_fill(services, admin)
    print_label(labels, technician, fill_id)
    events_before = count(services, AuditEvent)

    with pytest.raises(ReasonRequired) as refused:
        print_label(labels, technician, fill_id, reason=reason)

    assert "reason" in refused.value.message
    assert count(services, LabelPrint) == 1
    assert count(services, AuditEvent) == events_before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"destination": "  "}, "destination"),
        ({"destination": "x" * 256}, "destination"),
        ({"stock_name": "Avery 5160"}, "stock_name"),
        ({"label_count": 0}, "label_count"),
        ({"label_count": True}, "label_count"),
        ({"language": "fr"}, "language"),
    ],
)
def test_bad_print_details_are_refused_and_nothing_written(
    services: Services,
    admin: Actor,
    technician: Actor,
    labels: LabelService,
    changes: dict[str, Any],
    field: str,
) -> None:
    fill_id = ready_fill(services, admin)
    details: dict[str, Any] = {
        "destination": "Zebra",
        "stock_name": THERMAL,
        "label_count": 1,
        "language": EN,
        "discard_after": TODAY,
        **changes,
    }
    with pytest.raises(ValidationFailed) as refused:
        labels.record_print(technician, fill_id, **details)
    assert refused.value.facts["field"] == field
    assert count(services, LabelPrint) == 0 and label_events(services) == []


def test_only_the_bench_prints(services: Services, admin: Actor, labels: LabelService) -> None:
    fill_id = ready_fill(services, admin)
    administrator = replace(admin, roles=frozenset({Role.ADMINISTRATOR}))
    assert labels.contents(administrator, fill_id)  # the command line previews and exports
    with pytest.raises(PermissionDenied):
        labels.record_print(
            administrator,
            fill_id,
            destination="Zebra",
            stock_name=THERMAL,
            label_count=1,
            language=EN,
            discard_after=TODAY,
        )
    assert count(services, LabelPrint) == 0


def test_unknown_fill(technician: Actor, labels: LabelService) -> None:
    with pytest.raises(NotFound):
        labels.contents(technician, 999)
    with pytest.raises(NotFound):
        labels.printing_refusal(technician, 999)
    with pytest.raises(NotFound):
        labels.prints(technician, 999)


# --- what the label says ----------------------------------------------------------------------


def test_a_plain_label_from_the_fill_records(
    services: Services, admin: Actor, technician: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin)
    prescription = prescription_of(services, fill_id)
    seed(services, admin, Prescription, prescription.id, indication="Hypertension")
    seed(services, admin, Patient, prescription.patient_id, large_print_labels=True)

    (label,) = labels.contents(technician, fill_id)

    assert label.pharmacy.name == DEMO_PROFILE.name
    assert label.pharmacy.address == "100 Main Street, Springfield, IL 62701"
    assert label.pharmacy.phone == "(217) 555-0100"
    assert (label.rx_number, label.fill_number) == (prescription.rx_number, 0)
    assert label.fill_date == TODAY
    assert label.patient_name == "Wendell Quibble"
    assert label.drug_line == "Lisinopril 10 mg tablet"
    assert label.generic_for == ""
    assert label.directions == "Take 1 tablet by mouth once daily."
    assert label.english_directions == label.directions
    assert label.indication == "for hypertension"
    assert label.quantity == "30 tablets"
    assert label.refills == "3 refills left"
    assert label.prescriber == "Iona Hemlock"
    assert label.discard_after == date(2027, 3, 10)
    assert label.manufacturer == "Aurobindo Pharma Limited"
    with services.database.reading() as session:
        package = session.get(DrugPackage, package_of(services, LISINOPRIL))
        assert package is not None
        assert label.ndc == package.ndc
    assert label.physical_description == "" and label.transfer_caution == ""
    assert label.dea_schedule == "" and label.auxiliary_warnings == ()
    assert label.barcode_payload == rx_label_payload(prescription.rx_number, 0)
    assert label.large_print is True and label.language is EN
    assert label.container_text == "" and label.reprint is False
    assert label_problems(label) == {}


def test_refills_left_count_down_with_the_fill_number(
    services: Services, admin: Actor, technician: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin)
    prescription = prescription_of(services, fill_id)
    third = add_fill(
        services, admin, prescription_id=prescription.id, state=FillState.READY, fill_number=3
    )
    assert labels.contents(technician, third)[0].refills == "No refills"
    assert labels.find_fill(technician, prescription.rx_number) == third
    assert labels.find_fill(technician, f" {prescription.rx_number} ", 0) == fill_id


def test_find_fill_says_what_is_missing(
    services: Services, admin: Actor, technician: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin)
    rx = prescription_of(services, fill_id).rx_number
    with pytest.raises(NotFound, match="There is no Rx 123"):
        labels.find_fill(technician, "123")
    with pytest.raises(NotFound, match=f"Rx {rx} has no fill 4"):
        labels.find_fill(technician, rx, 4)


def test_a_multi_container_fill_prints_one_of_n(
    services: Services, admin: Actor, technician: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin)
    version = fill_version(services, fill_id)

    row = labels.set_containers(technician, fill_id, 3, expected_version=version)

    assert row.version == version + 1
    contents = labels.contents(technician, fill_id, for_print=True)
    assert [label.container_text for label in contents] == ["1 of 3", "2 of 3", "3 of 3"]
    assert {label.barcode_payload for label in contents} == {contents[0].barcode_payload}
    with services.database.reading() as session:
        (event,) = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "fill.containers_changed")
        )
    assert event.summary == {"before": {"containers": 1}, "after": {"containers": 3}}
    printed = print_label(labels, technician, fill_id)
    assert printed.label_count == 3


@pytest.mark.parametrize("containers", [0, 100, True, -1])
def test_containers_out_of_range_are_refused(
    services: Services, admin: Actor, technician: Actor, labels: LabelService, containers: Any
) -> None:
    fill_id = ready_fill(services, admin)
    version = fill_version(services, fill_id)
    with pytest.raises(ValidationFailed):
        labels.set_containers(technician, fill_id, containers, expected_version=version)
    assert fill_version(services, fill_id) == version
    assert len(labels.contents(technician, fill_id)) == 1


def test_containers_of_a_stale_or_finished_fill_are_refused(
    services: Services, admin: Actor, technician: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin)
    version = fill_version(services, fill_id)
    with pytest.raises(StaleRecord):
        labels.set_containers(technician, fill_id, 2, expected_version=version - 1)
    seed(services, admin, Fill, fill_id, state=FillState.SOLD.value)
    with pytest.raises(ValidationFailed, match="finished"):
        labels.set_containers(
            technician, fill_id, 2, expected_version=fill_version(services, fill_id)
        )
    assert len(labels.contents(technician, fill_id)) == 1


def test_a_spanish_speaking_patient_gets_spanish_directions_and_warnings(
    services: Services, admin: Actor, technician: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin, AMOXICILLIN)
    prescription = prescription_of(services, fill_id)
    seed(services, admin, Patient, prescription.patient_id, preferred_language="es")
    seed(
        services,
        admin,
        Prescription,
        prescription.id,
        sig_code="1 C PO TID",
        directions="Take 1 capsule by mouth three times daily",
    )

    (label,) = labels.contents(technician, fill_id)

    assert label.language is ES
    assert label.directions == "Tome 1 cápsula por vía oral tres veces al día."
    assert label.english_directions == "Take 1 capsule by mouth three times daily."
    assert label.auxiliary_warnings == (
        "Termine todo este medicamento, a menos que su médico le indique lo contrario.",
    )
    assert not any("Spanish" in notice for notice in label.notices)
    (english,) = labels.contents(technician, fill_id, language=EN)
    assert english.language is EN
    assert english.directions == "Take 1 capsule by mouth three times daily."
    assert english.auxiliary_warnings == (
        "Finish all of this medicine unless your prescriber tells you otherwise.",
    )


@pytest.mark.parametrize(
    ("sig_code", "directions", "why"),
    [
        ("1 PO TID", "1 PO TID", "not read completely"),
        ("1 C PO TID", "Take 1 capsule by mouth 3 times a day", "not the sig's own wording"),
    ],
)
def test_spanish_unavailable_prints_english_with_a_notice(
    services: Services,
    admin: Actor,
    technician: Actor,
    labels: LabelService,
    sig_code: str,
    directions: str,
    why: str,
) -> None:
    fill_id = ready_fill(services, admin, AMOXICILLIN)
    prescription = prescription_of(services, fill_id)
    seed(services, admin, Patient, prescription.patient_id, preferred_language="es")
    seed(services, admin, Prescription, prescription.id, sig_code=sig_code, directions=directions)

    for language in (None, ES):
        (label,) = labels.contents(technician, fill_id, language=language)
        assert label.language is EN
        assert label.directions == f"{directions}."
        assert label.auxiliary_warnings[0].startswith("Finish all")
        (notice,) = [notice for notice in label.notices if "Spanish" in notice]
        assert notice.startswith("No Spanish directions") and why in notice
    assert labels.contents(technician, fill_id, for_print=True)[0].language is EN


def test_the_house_spanish_table_reaches_the_label(
    services: Services, admin: Actor, pharmacist: Actor, technician: Actor, labels: LabelService
) -> None:
    services.house_settings.set_sig_overrides(
        pharmacist, [frequency("QAMN", "every morning and noon", 2)]
    )
    fill_id = ready_fill(services, admin)
    prescription = prescription_of(services, fill_id)
    seed(services, admin, Patient, prescription.patient_id, preferred_language="es")
    seed(
        services,
        admin,
        Prescription,
        prescription.id,
        sig_code="1 T PO QAMN",
        directions="Take 1 tablet by mouth every morning and noon",
    )
    assert labels.contents(technician, fill_id)[0].language is EN

    services.house_settings.set_spanish_sig_overrides(
        pharmacist,
        [SpanishEntry(TokenKind.FREQUENCY, "every morning and noon", "cada mañana y mediodía")],
    )

    (label,) = labels.contents(technician, fill_id)
    assert label.directions == "Tome 1 tableta por vía oral cada mañana y mediodía."


def test_another_preferred_language_is_noted(
    services: Services, admin: Actor, technician: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin)
    seed(
        services,
        admin,
        Patient,
        prescription_of(services, fill_id).patient_id,
        preferred_language="vi",
    )
    (label,) = labels.contents(technician, fill_id)
    assert label.language is EN
    assert any("“vi”" in notice for notice in label.notices)


@pytest.mark.parametrize(
    ("first", "last"),
    [("小龍", "李"), ("Zoë", "Ñúñez-Ibáñez"), ("Алексей", "Смирнов"), ("محمد", "الحسيني")],
)
def test_non_latin_patient_names_are_kept_as_written(
    services: Services, admin: Actor, technician: Actor, labels: LabelService, first: str, last: str
) -> None:
    fill_id = ready_fill(services, admin)
    seed(
        services,
        admin,
        Patient,
        prescription_of(services, fill_id).patient_id,
        first_name=first,
        last_name=last,
    )
    assert labels.contents(technician, fill_id, for_print=True)[0].patient_name == f"{first} {last}"
    assert print_label(labels, technician, fill_id).kind is PrintKind.ORIGINAL


def test_generic_for_the_brand_with_the_same_substance_strength_and_form(
    services: Services, admin: Actor, technician: Actor, labels: LabelService
) -> None:
    inhaler = ready_fill(services, admin, ALBUTEROL)
    seed(services, admin, Fill, inhaler, quantity=Decimal(1))
    (albuterol,) = labels.contents(technician, inhaler)
    assert albuterol.drug_line == "Albuterol Sulfate HFA 90 mcg metered-dose aerosol"
    assert albuterol.generic_for == "generic for Proair"
    assert albuterol.quantity == "1 inhaler (200 puffs)"
    (brand,) = labels.contents(technician, ready_fill(services, admin, LYRICA))
    assert brand.drug_line == "Lyrica 75 mg capsule" and brand.generic_for == ""
    (no_brand,) = labels.contents(technician, ready_fill(services, admin, LISINOPRIL))
    assert no_brand.generic_for == ""


def test_a_brand_added_to_the_catalogue_is_named_on_the_next_label(
    services: Services, admin: Actor, technician: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin)
    assert labels.contents(technician, fill_id)[0].generic_for == ""
    with services.database.unit_of_work(admin) as uow:
        brand = DrugProduct(
            fda_product_id="TEST-ZESTRIL",
            product_ndc="99999-100",
            proprietary_name="ZESTRIL",
            nonproprietary_name="lisinopril",
            dosage_form="TABLET",
            marketing_category="NDA",
            substance_name="LISINOPRIL",
            strength="10.0",
            strength_unit="mg/1",
        )
        uow.session.add(brand)
        uow.audit(SEEDED, brand)

    assert labels.contents(technician, fill_id)[0].generic_for == "generic for Zestril"


def test_the_dispensed_package_is_the_one_labelled(
    services: Services, admin: Actor, technician: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin)
    other = package_of(services, "68180-980")  # another lisinopril 10 mg labeler
    seed(services, admin, Fill, fill_id, dispensed_package_id=other)
    (label,) = labels.contents(technician, fill_id)
    with services.database.reading() as session:
        package = session.get(DrugPackage, other)
        assert package is not None
        assert (label.ndc, label.manufacturer) == (package.ndc, package.product.labeler)


@pytest.mark.parametrize(
    ("product_ndc", "schedule", "caution"),
    [
        (OXYCODONE, "CII", TRANSFER_CAUTION),
        (ALPRAZOLAM, "CIV", TRANSFER_CAUTION),
        (PROMETHAZINE_CODEINE, "CV", ""),
        (LISINOPRIL, "", ""),
    ],
)
def test_transfer_caution_on_schedule_ii_to_iv_only(
    services: Services,
    admin: Actor,
    technician: Actor,
    labels: LabelService,
    product_ndc: str,
    schedule: str,
    caution: str,
) -> None:
    (label,) = labels.contents(technician, ready_fill(services, admin, product_ndc))
    assert label.transfer_caution == caution
    assert label.dea_schedule == schedule
    assert TRANSFER_CAUTION == (
        "Caution: Federal law prohibits the transfer of this drug to any person other than the "
        "patient for whom it was prescribed."
    )
    controlled = "Controlled substance: keep it in a safe place and never share it."
    assert (controlled in label.auxiliary_warnings) is bool(schedule)


def test_auxiliary_warnings_follow_the_house_rules(
    services: Services, admin: Actor, pharmacist: Actor, technician: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin, OXYCODONE)
    assert len(labels.contents(technician, fill_id)[0].auxiliary_warnings) == 3

    policy = labels.set_auxiliary_rules(
        pharmacist,
        [
            rule(20, "Take with food.", "Tómelo con alimentos.", route="ORAL"),
            rule(10, "Schedule II.", "Lista II.", dea_schedule="CII"),
            rule(30, "Eye only.", "Solo ojos.", route="OPHTHALMIC"),
        ],
    )

    assert len(policy.auxiliary_rules) == 3
    assert labels.contents(technician, fill_id)[0].auxiliary_warnings == (
        "Schedule II.",
        "Take with food.",
    )
    with services.database.reading() as session:
        saved = session.get(PharmacySetting, "label_auxiliary_rules")
        assert saved is not None and len(saved.value) == 3


def test_bad_auxiliary_rules_change_nothing(
    services: Services, pharmacist: Actor, technician: Actor, labels: LabelService
) -> None:
    before = labels.policies()
    with pytest.raises(AuxiliaryRuleInvalid, match="empty"):
        labels.set_auxiliary_rules(pharmacist, [rule(1, "", "Algo.", route="ORAL")])
    with pytest.raises(AuxiliaryRuleInvalid, match="“U”"):
        labels.set_auxiliary_rules(pharmacist, [rule(1, "Inject 10 U.", "Algo.", route="ORAL")])
    with pytest.raises(PermissionDenied):
        labels.set_auxiliary_rules(technician, [rule(1, "Fine.", "Bien.", route="ORAL")])
    assert labels.policies() == before
    assert count(services, PharmacySetting) == 0


def test_bad_spanish_phrases_change_nothing(
    services: Services, pharmacist: Actor, technician: Actor, labels: LabelService
) -> None:
    with pytest.raises(SpanishTableInvalid, match="“QD”"):
        services.house_settings.set_spanish_sig_overrides(
            pharmacist, [SpanishEntry(TokenKind.FREQUENCY, "once daily", "QD")]
        )
    with pytest.raises(PermissionDenied):
        services.house_settings.set_spanish_sig_overrides(
            technician, [SpanishEntry(TokenKind.FREQUENCY, "once daily", "cada día")]
        )
    assert labels.policies().spanish_sig_overrides == ()
    assert count(services, PharmacySetting) == 0


# --- physical description ---------------------------------------------------------------------


def test_california_requires_the_physical_description(
    services: Services, admin: Actor, pharmacist: Actor, technician: Actor, labels: LabelService
) -> None:
    services.pharmacy.save_profile(admin, replace(DEMO_PROFILE, state="CA", postal_code="94105"))
    fill_id = ready_fill(services, admin)
    package_id = package_of(services, LISINOPRIL)
    with services.database.reading() as session:
        ndc = session.scalars(select(DrugPackage.ndc).where(DrugPackage.id == package_id)).one()

    (preview,) = labels.contents(technician, fill_id)
    assert preview.physical_description == ""
    assert any(ndc in notice and "CA" in notice for notice in preview.notices)
    with pytest.raises(PhysicalDescriptionRequired) as refused:
        labels.contents(technician, fill_id, for_print=True)
    assert ndc in refused.value.message and refused.value.facts["ndc"] == ndc

    with pytest.raises(PermissionDenied):
        labels.set_physical_description(technician, package_id, "pink round tablet")
    saved = labels.set_physical_description(
        pharmacist, package_id, "  pink,  round, scored tablet,  A 10 "
    )

    assert saved == "pink, round, scored tablet, A 10"
    (label,) = labels.contents(technician, fill_id, for_print=True)
    assert label.physical_description == saved
    with services.database.reading() as session:
        (event,) = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "package.physical_description_changed")
        )
    assert event.summary["after"] == {"physical_description": saved}
    assert event.summary["ndc"] == ndc


def test_other_states_print_no_description_unless_the_house_lists_them(
    services: Services, admin: Actor, pharmacist: Actor, technician: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin)
    labels.set_physical_description(pharmacist, package_of(services, LISINOPRIL), "pink tablet")
    assert labels.contents(technician, fill_id)[0].physical_description == ""

    policy = labels.set_physical_description_states(pharmacist, ["ca", " il ", "CA"])

    assert policy.physical_description_states == ("CA", "IL")
    assert labels.contents(technician, fill_id)[0].physical_description == "pink tablet"
    with pytest.raises(ValidationFailed, match="“XX”"):
        labels.set_physical_description_states(pharmacist, ["XX"])
    assert labels.policies().physical_description_states == ("CA", "IL")


@pytest.mark.parametrize("text", ["white tablet 5.0", "imprint U", "x" * 201])
def test_a_bad_physical_description_is_refused(
    services: Services, admin: Actor, pharmacist: Actor, text: str, labels: LabelService
) -> None:
    ready_fill(services, admin)
    package_id = package_of(services, LISINOPRIL)
    with pytest.raises(ValidationFailed):
        labels.set_physical_description(pharmacist, package_id, text)
    with services.database.reading() as session:
        package = session.get(DrugPackage, package_id)
        assert package is not None and package.physical_description == ""


# --- discard-after ----------------------------------------------------------------------------


def receive_lot(
    services: Services, actor: Actor, package_id: int, *, lot: str, expiry: date
) -> None:
    with services.database.unit_of_work(actor) as uow:
        stock = StockLot(package_id=package_id, lot_number=lot, expiry=expiry, on_hand=Decimal(500))
        uow.session.add(stock)
        uow.session.flush()
        receipt = StockMovement(
            lot_id=stock.id, kind="received", quantity=Decimal(500), workstation=actor.workstation
        )
        uow.session.add(receipt)
        uow.audit(SEEDED, receipt)


def test_discard_after_without_a_lot_is_a_year_from_the_fill(
    services: Services, admin: Actor, pharmacist: Actor, technician: Actor, labels: LabelService
) -> None:
    fill_id = ready_fill(services, admin)
    (label,) = labels.contents(technician, fill_id)
    assert label.discard_after == date(2027, 3, 10)
    assert any("No lot is scanned yet" in notice for notice in label.notices)

    labels.set_discard_after_months(pharmacist, 6)

    assert labels.contents(technician, fill_id)[0].discard_after == date(2026, 9, 10)
    for months in (0, 13, True):
        with pytest.raises(ValidationFailed):
            labels.set_discard_after_months(pharmacist, months)
    assert labels.policies().discard_after_months == 6


def test_discard_after_is_the_scanned_lot_expiry_when_sooner(
    services: Services, admin: Actor, technician: Actor
) -> None:
    today = date.today()
    labels = LabelService(services.database)  # verification scans on the real day
    fill_id = catalogue_fill(services, admin, FillState.FILL)
    package_id = package_of(services, LISINOPRIL)
    soon = today + timedelta(days=100)
    receive_lot(services, admin, package_id, lot="LOT-SOON", expiry=soon)

    scan_and_complete(
        services.verification,
        technician,
        fill_id,
        upc=package_upc(services, package_id),
        lot_number="LOT-SOON",
    )

    (label,) = labels.contents(technician, fill_id, for_print=True)
    assert label.discard_after == soon
    assert not any("No lot" in notice for notice in label.notices)


def test_discard_after_keeps_a_year_when_the_lot_lasts_longer(
    services: Services, admin: Actor, technician: Actor
) -> None:
    labels = LabelService(services.database)
    fill_id = catalogue_fill(services, admin, FillState.FILL)
    verify_fill(services, technician, fill_id)  # its lot expires in two years
    assert labels.contents(technician, fill_id)[0].discard_after == add_months(date.today(), 12)


def test_a_reprint_keeps_the_fill_date_of_the_original(
    services: Services, admin: Actor, technician: Actor
) -> None:
    printed_on = date.today()
    fill_id = ready_fill(services, admin)
    print_label(LabelService(services.database), technician, fill_id)
    later = LabelService(services.database, today=lambda: printed_on + timedelta(days=40))

    (reprint,) = later.contents(technician, fill_id, for_print=True)

    assert reprint.reprint and reprint.fill_date == printed_on
    assert reprint.discard_after == add_months(printed_on, 12)
    assert later.contents(technician, ready_fill(services, admin))[0].fill_date == (
        printed_on + timedelta(days=40)
    )


# --- label stocks -----------------------------------------------------------------------------

AVERY = LabelStock(
    name="Avery 5164, 6 labels 4 × 3.33 in",
    label_width=Decimal("4"),
    label_height=Decimal("3.33"),
    page_width=Decimal("8.5"),
    page_height=Decimal("11"),
    columns=2,
    rows=3,
    left_margin=Decimal("0.156"),
    top_margin=Decimal("0.5"),
    column_gap=Decimal("0.188"),
)


def test_custom_stocks_follow_the_built_in_ones(
    services: Services, admin: Actor, technician: Actor, labels: LabelService
) -> None:
    assert labels.stocks() == BUILT_IN_STOCKS
    labels.set_custom_stocks(admin, [AVERY])
    assert labels.stocks() == (*BUILT_IN_STOCKS, AVERY)

    fill_id = ready_fill(services, admin)
    printed = labels.record_print(
        technician,
        fill_id,
        destination="Laser, tray 2",
        stock_name=AVERY.name,
        label_count=1,
        language=EN,
        discard_after=TODAY,
    )
    assert printed.stock_name == AVERY.name


@pytest.mark.parametrize(
    ("stock", "fragment"),
    [
        (replace(AVERY, rows=4), "more than the 8.5 × 11 in page"),
        (replace(AVERY, label_width=Decimal(0)), "label width must be more than 0"),
        (replace(AVERY, top_margin=Decimal(-1)), "cannot be negative"),
        (replace(AVERY, columns=0), "columns is a whole number"),
        (replace(AVERY, name=BUILT_IN_STOCKS[0].name), "another stock has this name"),
        (replace(AVERY, name=" "), "needs a name"),
        (replace(AVERY, name="x" * 65), "at most 64"),
    ],
)
def test_a_stock_that_cannot_work_is_refused(
    services: Services, admin: Actor, labels: LabelService, stock: LabelStock, fragment: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        labels.set_custom_stocks(admin, [stock])
    assert fragment in refused.value.message
    assert labels.stocks() == BUILT_IN_STOCKS


def test_two_stocks_of_one_name_and_non_administrators_are_refused(
    services: Services, admin: Actor, pharmacist: Actor, labels: LabelService
) -> None:
    with pytest.raises(ValidationFailed, match="another stock has this name"):
        labels.set_custom_stocks(admin, [AVERY, replace(AVERY, rows=2)])
    with pytest.raises(PermissionDenied):
        labels.set_custom_stocks(pharmacist, [AVERY])
    assert labels.stocks() == BUILT_IN_STOCKS


# --- the demo pharmacy ------------------------------------------------------------------------


def test_every_demo_label_is_complete_and_ismp_clean(services: Services) -> None:
    loader = Actor(None, "demo-test", "Demo test", frozenset({Role.ADMINISTRATOR}), "test-ws")
    load_demo(services.database, loader, hasher=SecretHasher("fast-insecure-for-tests"))
    labels = services.labels
    with services.database.reading() as session:
        fill_ids = session.scalars(select(Fill.id).order_by(Fill.id)).all()
    printable = {each.fill_id for each in labels.labelled_fills(loader)}
    assert printable

    for fill_id in fill_ids:
        contents = labels.contents(loader, fill_id)
        assert contents, fill_id
        for label in contents:
            assert label_problems(label) == {}, (label.rx_number, label_problems(label))
            assert label.pharmacy.name and label.patient_name and label.drug_line
            assert label.directions.endswith(".") and label.quantity and label.refills
            assert label.barcode_payload == rx_label_payload(label.rx_number, label.fill_number)
        if fill_id in printable:
            assert labels.printing_refusal(loader, fill_id) is None
            assert labels.contents(loader, fill_id, for_print=True)
        else:
            assert labels.printing_refusal(loader, fill_id) is not None

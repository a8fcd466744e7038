"""Prescription entry and correction: end to end to data review, every refusal at its boundary,
all or nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app.adapters.training_payer import Adjudicator, InProcessTransport, training_plans
from app.bootstrap import Services
from app.db.models import (
    AuditEvent,
    ChangeEvent,
    ClinicalFinding,
    Counter,
    DrugPackage,
    Fill,
    FillTransition,
    Prescription,
    PrescriptionImage,
    WorkItem,
)
from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.domain.rx_rules import PrescriptionRefused
from app.domain.sig import ismp_problems
from app.domain.workflow import TransitionNotAllowed
from app.errors import NotFound, PermissionDenied, StaleRecord, ValidationFailed
from app.services.claim_records import ClaimStatus
from app.services.claims import ClaimService
from app.services.fills import FillRow
from app.services.patients import AllergyDraft, CoverageDraft, PatientDraft
from app.services.prescribers import PrescriberDraft
from app.services.prescriptions import (
    MAX_IMAGE_BYTES,
    SIG_REVIEW_NOTICE,
    PrescriptionDraft,
    PrescriptionFixed,
    PrescriptionService,
    ScannedImage,
    TransferIn,
    checked_image,
)
from app.services.unit_of_work import Actor
from app.services.workflow import FillHeldByAnother
from tests.app.services.verification_data import verify_fill
from tests.conftest import BACKEND

TODAY = date(2026, 3, 2)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LISINOPRIL_30 = "65862-039-30"
OXYCODONE_30 = "65162-047-03"  # C-II
APAP_CODEINE_100 = "0093-0150-01"  # C-III
ALPRAZOLAM_500 = "0378-4003-05"  # C-IV
AMOXICILLIN_50 = "0093-3109-53"
ALBUTEROL_INHALER = "0093-3174-31"
AMOXICILLIN_SUSPENSION_100ML = "0093-4161-73"


@dataclass(frozen=True)
class Bench:
    services: Services
    entry: PrescriptionService
    technician: Actor
    pharmacist: Actor
    patient_id: int
    prescriber_id: int

    def package(self, ndc: str) -> int:
        with self.services.database.reading() as session:
            return session.scalars(select(DrugPackage.id).where(DrugPackage.ndc == ndc)).one()

    def draft(self, ndc: str = LISINOPRIL_30, **change: Any) -> PrescriptionDraft:
        base = PrescriptionDraft(
            patient_id=self.patient_id,
            prescriber_id=self.prescriber_id,
            package_id=self.package(ndc),
            source="electronic",
            written_date=TODAY,
            quantity=Decimal(30),
            sig_code="1 T PO QD",
            refills=0,
            indication="hypertension",
        )
        return replace(base, **change)

    def enter(self, ndc: str = LISINOPRIL_30, **change: Any) -> Any:
        return self.entry.enter_prescription(self.technician, draft=self.draft(ndc, **change))


@pytest.fixture
def bench(catalogue: Services, technician: Actor, pharmacist: Actor) -> Bench:
    services = catalogue
    patient = services.patients.create_patient(
        technician,
        draft=PatientDraft("Marchmont", "Odile", date(1958, 6, 9), "F", phone="217-555-0133"),
    ).patient
    prescriber = services.prescribers.create_prescriber(
        technician,
        draft=PrescriberDraft(
            last_name="Holloway",
            first_name="Imogen",
            credentials="MD",
            npi="1555030000",
            dea_number="AH5550303",
            dea_schedules=frozenset({"2", "2N", "3", "3N", "4", "5"}),
            dea_expires_on=date(2027, 6, 30),
        ),
    ).prescriber
    return Bench(
        services=services,
        entry=PrescriptionService(services.database, today=lambda: TODAY),
        technician=technician,
        pharmacist=pharmacist,
        patient_id=patient.id,
        prescriber_id=prescriber.id,
    )


def _counts(services: Services) -> dict[str, int]:
    with services.database.reading() as session:
        counts = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Prescription, Fill, FillTransition, WorkItem, ChangeEvent, Counter)
        }
        counts["audit"] = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    return counts


def _refused(bench: Bench, ndc: str = LISINOPRIL_30, **change: Any) -> set[str]:
    """Enter a draft that must be refused; return the problem codes; check nothing was written."""
    before = _counts(bench.services)
    with pytest.raises(PrescriptionRefused) as refused:
        bench.enter(ndc, **change)
    assert _counts(bench.services) == before
    return {problem.code for problem in refused.value.facts["problems"]}


def test_technician_enters_a_prescription_that_reaches_data_review(bench: Bench) -> None:
    entered = bench.enter(quantity=Decimal(30), refills=5)

    assert entered.rx_number == "6100100"
    assert entered.fill_state is FillState.DATA_REVIEW
    assert entered.directions == "Take 1 tablet by mouth once daily"
    assert ismp_problems(entered.directions) == []
    assert (entered.days_supply, entered.days_supply_overridden) == (30, False)
    assert (entered.quantity_unit, entered.sig_needs_review, entered.warnings) == ("EA", False, ())
    with bench.services.database.reading() as session:
        rx = session.get(Prescription, entered.prescription_id)
        assert rx is not None
        assert (rx.sig_code, rx.indication, rx.refills_authorized) == (
            "1 T PO QD",
            "hypertension",
            5,
        )
        fill = session.get(Fill, entered.fill_id)
        assert fill is not None and (fill.fill_number, fill.quantity) == (0, Decimal(30))
        steps = session.execute(
            select(FillTransition.from_state, FillTransition.to_state, FillTransition.username)
            .where(FillTransition.fill_id == fill.id)
            .order_by(FillTransition.id)
        ).all()
        item = session.scalars(select(WorkItem).where(WorkItem.kind != "shortage")).one()
        shortage = session.scalars(select(WorkItem).where(WorkItem.kind == "shortage")).one()
        notes = session.scalars(select(ChangeEvent.topic)).all()
        actions = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.username == "tess", AuditEvent.id > 0)
            .order_by(AuditEvent.id)
        ).all()
    assert steps == [
        (None, "intake", "tess"),
        ("intake", "data_entry", "tess"),
        ("data_entry", "data_review", "tess"),
    ]
    assert (item.kind, item.entity_type, item.entity_id) == ("data_review", "fills", str(fill.id))
    assert item.closed_at is None and "Marchmont, Odile" in item.summary
    assert set(notes) == {"fills", "worklist"}
    entry_actions = actions[actions.index("prescription.entered") :]
    assert entry_actions == [
        "prescription.entered",
        "fill.created",
        "fill.advanced",
        "fill.advanced",
        "worklist.opened",
        "worklist.opened",  # nothing on the shelf: the pharmacist is told the fill is short
    ]
    assert shortage.summary.endswith("1 waiting fill needs 30, 0 on hand")
    queue = bench.services.fills.queue(bench.pharmacist, states=[FillState.DATA_REVIEW])
    assert [row.rx_number for row in queue] == ["6100100"]

    assert bench.enter().rx_number == "6100101"


def test_rx_numbers_continue_after_the_highest_on_file(bench: Bench) -> None:
    first = bench.enter()
    with bench.services.database.unit_of_work(bench.technician) as uow:
        uow.session.query(Counter).delete()
        rx = uow.session.get(Prescription, first.prescription_id)
        assert rx is not None
        rx.rx_number = "6200000"
        uow.audit("test.renumbered", rx)
    assert bench.enter().rx_number == "6200001"


def test_an_unreadable_sig_keeps_the_text_and_flags_the_pharmacist(bench: Bench) -> None:
    entered = bench.enter(sig_code="1 T PO UTD TAPER PER CHART", days_supply=10)

    assert entered.sig_needs_review
    assert entered.directions == "1 T PO UTD TAPER PER CHART"
    assert any("pharmacist" in warning for warning in entered.warnings)
    detail = bench.entry.get_prescription(bench.technician, entered.rx_number)
    assert detail.sig_needs_review and detail.days_supply_overridden


def test_days_supply_is_computed_overridden_or_asked_for(bench: Bench) -> None:
    computed = bench.enter(quantity=Decimal(60), sig_code="1 T PO BID")
    assert (computed.days_supply, computed.days_supply_overridden) == (30, False)
    overridden = bench.enter(quantity=Decimal(60), sig_code="1 T PO BID", days_supply=25)
    assert (overridden.days_supply, overridden.days_supply_overridden) == (25, True)
    same = bench.enter(quantity=Decimal(60), sig_code="1 T PO BID", days_supply=30)
    assert same.days_supply_overridden is False
    liquid = bench.enter(
        AMOXICILLIN_SUSPENSION_100ML, quantity=Decimal(100), sig_code="5 ML PO BID"
    )
    assert (liquid.quantity_unit, liquid.days_supply) == ("ML", 10)
    with pytest.raises(ValidationFailed, match="Enter the days supply") as asked:
        bench.enter(ALBUTEROL_INHALER, quantity=Decimal(1), sig_code="2 PUFFS INH Q4-6H PRN")
    assert asked.value.facts["field"] == "days_supply"
    inhaler = bench.enter(
        ALBUTEROL_INHALER, quantity=Decimal(1), sig_code="2 PUFFS INH Q4-6H PRN", days_supply=16
    )
    assert inhaler.days_supply == 16


@pytest.mark.parametrize(
    ("ndc", "change", "code"),
    [
        (LISINOPRIL_30, {"written_date": TODAY + timedelta(days=1)}, "written-in-future"),
        (LISINOPRIL_30, {"written_date": TODAY - timedelta(days=366)}, "expired"),
        (APAP_CODEINE_100, {"written_date": date(2025, 9, 1)}, "expired"),
        (ALPRAZOLAM_500, {"written_date": date(2025, 9, 1)}, "expired"),
        (ALPRAZOLAM_500, {"refills": 6}, "too-many-refills"),
        (APAP_CODEINE_100, {"refills": 6}, "too-many-refills"),
        (OXYCODONE_30, {"refills": 1}, "too-many-refills"),
        (OXYCODONE_30, {"source": "phoned"}, "cii-phoned"),
        (OXYCODONE_30, {"source": "faxed"}, "cii-faxed"),
        (LISINOPRIL_30, {"quantity": Decimal(0), "days_supply": 30}, "quantity-not-positive"),
        (LISINOPRIL_30, {"quantity": Decimal(-30), "days_supply": 30}, "quantity-not-positive"),
        (LISINOPRIL_30, {"quantity": Decimal(3001)}, "quantity-unreasonable"),
        (LISINOPRIL_30, {"days_supply": 0}, "days-supply-not-positive"),
        (LISINOPRIL_30, {"quantity": Decimal(400), "days_supply": 366}, "days-supply-over-limit"),
        (LISINOPRIL_30, {"source": "transferred"}, "transfer-pharmacy-missing"),
        (LISINOPRIL_30, {"emergency_oral": True}, "emergency-oral-not-phoned"),
        (LISINOPRIL_30, {"daw_code": 10}, "daw-code"),
        (
            ALPRAZOLAM_500,
            {"source": "transferred", "transfer": TransferIn("Elm St Pharmacy", 1)},
            "transferred-before",
        ),
        (
            LISINOPRIL_30,
            {"do_not_fill_before": TODAY - timedelta(days=1)},
            "do-not-fill-before-written",
        ),
    ],
)
def test_refusals_write_nothing(bench: Bench, ndc: str, change: dict[str, Any], code: str) -> None:
    assert code in _refused(bench, ndc, **change)


@pytest.mark.parametrize(
    ("ndc", "change"),
    [
        (LISINOPRIL_30, {"written_date": TODAY - timedelta(days=365)}),  # one year exactly
        (APAP_CODEINE_100, {"written_date": date(2025, 9, 2)}),  # six months exactly
        (ALPRAZOLAM_500, {"written_date": date(2025, 9, 2), "refills": 5}),
        (APAP_CODEINE_100, {"refills": 5}),
        (OXYCODONE_30, {"refills": 0, "source": "written"}),
        (LISINOPRIL_30, {"quantity": Decimal(3000), "days_supply": 365}),  # 100 packages
        (LISINOPRIL_30, {"refills": 11, "daw_code": 1}),
    ],
)
def test_the_boundaries_are_accepted(bench: Bench, ndc: str, change: dict[str, Any]) -> None:
    assert bench.enter(ndc, **change).fill_state is FillState.DATA_REVIEW


def test_all_problems_are_reported_at_once(bench: Bench) -> None:
    codes = _refused(
        bench, OXYCODONE_30, refills=2, source="phoned", written_date=TODAY + timedelta(days=3)
    )
    assert codes == {"too-many-refills", "cii-phoned", "written-in-future"}


def test_emergency_oral_c2_has_its_written_follow_up_due(bench: Bench) -> None:
    entered = bench.enter(
        OXYCODONE_30,
        source="phoned",
        emergency_oral=True,
        quantity=Decimal(12),
        sig_code="1 T PO Q6H PRN PAIN",
    )
    assert entered.written_follow_up_due == TODAY + timedelta(days=7)
    assert entered.days_supply == 3
    assert any("follow-up is due by 03/09/2026" in warning for warning in entered.warnings)
    detail = bench.entry.get_prescription(bench.pharmacist, entered.rx_number)
    assert (detail.emergency_oral, detail.dea_schedule) == (True, "CII")


def test_transfer_in_records_the_other_pharmacy_and_count(bench: Bench) -> None:
    entered = bench.enter(
        ALPRAZOLAM_500,
        source="transferred",
        refills=3,
        transfer=TransferIn("Elm Street Pharmacy, (217) 555-0190"),
    )
    detail = bench.entry.get_prescription(bench.technician, entered.rx_number)
    assert (detail.source, detail.transfer_count) == ("transferred", 1)
    assert detail.transferred_from == "Elm Street Pharmacy, (217) 555-0190"
    codes = _refused(bench, source="electronic", transfer=TransferIn("Elm Street Pharmacy"))
    assert codes == {"transfer-source"}


def _prescriber(bench: Bench, **change: Any) -> int:
    base = PrescriberDraft(
        last_name="Ashdown",
        first_name="Perpetua",
        npi="1555030018",
        dea_number="AA5550315",
        dea_schedules=frozenset({"2", "3", "4", "5"}),
        dea_expires_on=date(2027, 1, 1),
    )
    return bench.services.prescribers.create_prescriber(
        bench.technician, draft=replace(base, **change)
    ).prescriber.id


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"dea_number": "", "dea_schedules": frozenset(), "dea_expires_on": None}, "no-dea"),
        ({"dea_expires_on": TODAY - timedelta(days=1)}, "dea-expired"),
        ({"dea_expires_on": None}, "dea-expired"),
        ({"dea_schedules": frozenset({"3", "4", "5"})}, "schedule-not-registered"),
        ({"dea_schedules": frozenset({"2N", "3N", "4", "5"})}, "schedule-not-registered"),
    ],
)
def test_a_controlled_drug_needs_a_current_dea_registration_covering_it(
    bench: Bench, change: dict[str, Any], code: str
) -> None:
    prescriber_id = _prescriber(bench, **change)
    assert f"prescriber-{code}" in _refused(
        bench, OXYCODONE_30, prescriber_id=prescriber_id, quantity=Decimal(20)
    )
    # The same prescriber may still prescribe a non-controlled drug.
    assert bench.enter(prescriber_id=prescriber_id).fill_state is FillState.DATA_REVIEW


def test_dea_expiring_today_is_still_current(bench: Bench) -> None:
    prescriber_id = _prescriber(bench, dea_expires_on=TODAY)
    entered = bench.enter(OXYCODONE_30, prescriber_id=prescriber_id, quantity=Decimal(20))
    assert entered.fill_state is FillState.DATA_REVIEW


def test_scanned_image_is_stored_and_viewing_it_is_audited(bench: Bench) -> None:
    entered = bench.enter(
        source="faxed",
        image=ScannedImage("C:\\scans\\rx 0412.png", "image/png", PNG),
    )
    detail = bench.entry.get_prescription(bench.pharmacist, entered.rx_number)
    assert detail.has_image
    image = bench.entry.prescription_image(bench.pharmacist, entered.prescription_id)
    assert (image.file_name, image.media_type, image.content) == ("rx 0412.png", "image/png", PNG)
    with bench.services.database.reading() as session:
        viewed = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "prescription.image_viewed")
        ).one()
    assert (viewed.username, viewed.entity_type) == ("phil", "prescription_images")
    plain = bench.enter()
    assert not bench.entry.get_prescription(bench.technician, plain.rx_number).has_image
    with pytest.raises(NotFound):
        bench.entry.prescription_image(bench.technician, plain.prescription_id)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (ScannedImage("rx.gif", "image/gif", b"GIF89a" + b"\x00" * 10), "PNG, JPEG or PDF"),
        (ScannedImage("rx.png", "image/png", b""), "empty"),
        (ScannedImage("rx.png", "image/png", b"%PDF-1.7 not a png"), "not really"),
        (ScannedImage("rx.pdf", "application/pdf", b"%PDF-" + b"0" * MAX_IMAGE_BYTES), "10 MB"),
        (ScannedImage("", "image/png", PNG), "file name"),
    ],
)
def test_bad_images_are_refused_and_nothing_is_written(
    bench: Bench, image: ScannedImage, message: str
) -> None:
    before = _counts(bench.services)
    with pytest.raises(ValidationFailed, match=message):
        bench.enter(image=image)
    assert _counts(bench.services) == before
    with bench.services.database.reading() as session:
        assert not session.scalar(select(func.count()).select_from(PrescriptionImage))


def test_an_image_of_exactly_10_mb_is_accepted() -> None:
    content = b"\xff\xd8\xff" + b"\x00" * (MAX_IMAGE_BYTES - 3)
    assert checked_image(ScannedImage("scan.jpg", "IMAGE/JPEG", content)).media_type == "image/jpeg"


def test_entering_for_an_allergic_patient_is_screened_for_data_review(bench: Bench) -> None:
    bench.services.patients.add_allergy(
        bench.technician,
        bench.patient_id,
        allergy=AllergyDraft(drug_class="Penicillin-class Antibacterial [EPC]", reaction="rash"),
    )
    entered = bench.enter(
        AMOXICILLIN_50, quantity=Decimal(30), sig_code="1 CAP PO TID X10D", indication="otitis"
    )
    assert entered.days_supply == 10
    with bench.services.database.reading() as session:
        kinds = session.scalars(
            select(ClinicalFinding.kind).where(ClinicalFinding.fill_id == entered.fill_id)
        ).all()
    assert "allergy_class" in kinds


def test_only_the_bench_enters_prescriptions(bench: Bench) -> None:
    office = Actor(None, "office", "Office", frozenset({Role.ADMINISTRATOR}), "ws")
    with pytest.raises(PermissionDenied):
        bench.entry.enter_prescription(office, draft=bench.draft())
    with pytest.raises(NotFound):
        bench.entry.get_prescription(bench.technician, "9999999")


def test_unknown_patient_prescriber_or_package_is_refused(bench: Bench) -> None:
    for change in ({"patient_id": 999}, {"prescriber_id": 999}):
        with pytest.raises(NotFound):
            bench.enter(**change)
    with pytest.raises(ValidationFailed, match="not a prescription source"):
        bench.enter(source="carrier pigeon")


@pytest.mark.skipif(BACKEND != "postgresql", reason="several workstations share only PostgreSQL")
def test_workstations_entering_at_once_never_share_an_rx_number(bench: Bench) -> None:
    draft = bench.draft()

    def enter_three(_: int) -> list[str]:
        return [
            bench.entry.enter_prescription(bench.technician, draft=draft).rx_number
            for _ in range(3)
        ]

    with ThreadPoolExecutor(max_workers=4) as pool:
        numbers = [rx for batch in pool.map(enter_three, range(4)) for rx in batch]

    assert sorted(numbers) == [str(6100100 + offset) for offset in range(12)]


# --- correcting at data entry ---------------------------------------------------------------


def _row(bench: Bench, fill_id: int) -> FillRow:
    return next(
        row for row in bench.services.fills.queue(bench.pharmacist) if row.fill_id == fill_id
    )


def _send_back(
    bench: Bench, fill_id: int, reason: str = "Quantity is 60 on the written Rx"
) -> None:
    bench.services.workflow.advance(
        bench.pharmacist,
        fill_id,
        to_state=FillState.DATA_ENTRY,
        expected_version=_row(bench, fill_id).version,
        reason=reason,
    )


def _correct(bench: Bench, entered: Any, ndc: str = LISINOPRIL_30, **change: Any) -> Any:
    version = _stored(bench, entered.prescription_id)[0]  # unaudited: counts stay comparable
    return bench.entry.correct_prescription(
        bench.technician,
        entered.prescription_id,
        expected_version=version,
        draft=bench.draft(ndc, **change),
    )


def _stored(bench: Bench, prescription_id: int) -> tuple[Any, ...]:
    with bench.services.database.reading() as session:
        rx = session.get(Prescription, prescription_id)
        fill = session.scalars(
            select(Fill).where(Fill.prescription_id == prescription_id, Fill.fill_number == 0)
        ).one()
        assert rx is not None
        return (
            rx.version,
            rx.package_id,
            rx.quantity,
            rx.refills_authorized,
            rx.sig_code,
            fill.quantity,
            fill.version,
        )


def test_a_sent_back_prescription_is_corrected_and_resubmitted(bench: Bench) -> None:
    entered = bench.enter(quantity=Decimal(30), sig_code="1 T PO QD")
    _send_back(bench, entered.fill_id, "Quantity is 60 and the sig is BID on the written Rx")
    detail = bench.entry.get_prescription(bench.technician, entered.rx_number)
    assert detail.send_back is not None
    assert detail.send_back.reason == "Quantity is 60 and the sig is BID on the written Rx"
    assert detail.send_back.by == "phil"

    corrected = bench.entry.correct_prescription(
        bench.technician,
        entered.prescription_id,
        expected_version=detail.version,
        draft=bench.draft(quantity=Decimal(60), sig_code="1 T  PO BID"),
    )

    assert corrected.rx_number == entered.rx_number
    assert corrected.fill_state is FillState.DATA_ENTRY
    assert corrected.directions == "Take 1 tablet by mouth twice daily"
    assert corrected.days_supply == 30
    assert set(corrected.changed) == {"quantity", "sig_code", "directions"}
    assert corrected.prescription_version == detail.version + 1
    after = bench.entry.get_prescription(bench.technician, entered.rx_number)
    assert (after.quantity, after.sig_code) == (Decimal(60), "1 T PO BID")
    assert after.send_back is not None  # still waiting at data entry for the pharmacist
    row = _row(bench, entered.fill_id)
    assert (row.quantity, row.version) == (Decimal(60), corrected.fill_version)
    with bench.services.database.reading() as session:
        events = {
            event.action: event.summary
            for event in session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action.in_(["prescription.corrected", "fill.corrected"])
                )
            )
        }
    assert events["prescription.corrected"]["before"] == {
        "quantity": "30",
        "sig_code": "1 T PO QD",
        "directions": "Take 1 tablet by mouth once daily",
    }
    assert events["prescription.corrected"]["after"] == {
        "quantity": "60",
        "sig_code": "1 T PO BID",
        "directions": "Take 1 tablet by mouth twice daily",
    }
    assert events["fill.corrected"]["before"] == {"quantity": "30"}
    assert events["fill.corrected"]["after"] == {"quantity": "60"}

    submitted = bench.entry.submit_for_review(
        bench.technician, entered.fill_id, expected_version=corrected.fill_version
    )

    assert submitted.state is FillState.DATA_REVIEW
    assert submitted.quantity == Decimal(60)
    with bench.services.database.reading() as session:
        steps = session.execute(
            select(FillTransition.from_state, FillTransition.to_state, FillTransition.username)
            .where(FillTransition.fill_id == entered.fill_id)
            .order_by(FillTransition.id)
        ).all()
        items = session.execute(
            select(WorkItem.kind, WorkItem.closed_at.is_(None)).where(
                WorkItem.entity_id == str(entered.fill_id)
            )
        ).all()
    assert [tuple(step) for step in steps[-2:]] == [
        ("data_review", "data_entry", "phil"),
        ("data_entry", "data_review", "tess"),
    ]
    assert sorted(tuple(item) for item in items) == [("data_review", False), ("data_review", True)]
    assert bench.entry.get_prescription(bench.technician, entered.rx_number).send_back is None


def test_a_correction_without_changes_writes_nothing_but_may_be_submitted(bench: Bench) -> None:
    entered = bench.enter()
    _send_back(bench, entered.fill_id)
    before = _counts(bench.services)
    corrected = _correct(bench, entered)
    assert corrected.changed == ()
    assert _counts(bench.services) == before
    row = bench.entry.submit_for_review(
        bench.technician, entered.fill_id, expected_version=corrected.fill_version
    )
    assert row.state is FillState.DATA_REVIEW


def test_a_reviewed_prescription_is_fixed(bench: Bench) -> None:
    entered = bench.enter()
    before = _counts(bench.services)
    with pytest.raises(PrescriptionFixed, match="only the pharmacist can send it back"):
        _correct(bench, entered, quantity=Decimal(60))
    row = bench.services.workflow.advance(
        bench.pharmacist,
        entered.fill_id,
        to_state=FillState.FILL,
        expected_version=_row(bench, entered.fill_id).version,
    )
    before = _counts(bench.services)
    with pytest.raises(PrescriptionFixed, match="the prescription is fixed") as fixed:
        _correct(bench, entered, quantity=Decimal(60))
    assert fixed.value.facts["state"] == "fill"
    assert _counts(bench.services) == before
    assert _stored(bench, entered.prescription_id)[2] == Decimal(30)
    with pytest.raises(TransitionNotAllowed, match="nothing to send"):
        bench.entry.submit_for_review(
            bench.technician, entered.fill_id, expected_version=row.version
        )


@pytest.mark.parametrize(
    ("ndc", "change", "code"),
    [
        (OXYCODONE_30, {"refills": 1, "quantity": Decimal(20)}, "too-many-refills"),
        (OXYCODONE_30, {"source": "phoned", "quantity": Decimal(20)}, "cii-phoned"),
        (LISINOPRIL_30, {"quantity": Decimal(0), "days_supply": 30}, "quantity-not-positive"),
        (LISINOPRIL_30, {"quantity": Decimal(3001)}, "quantity-unreasonable"),
        (LISINOPRIL_30, {"quantity": Decimal(400), "days_supply": 366}, "days-supply-over-limit"),
        (LISINOPRIL_30, {"written_date": TODAY + timedelta(days=1)}, "written-in-future"),
        (LISINOPRIL_30, {"daw_code": 10}, "daw-code"),
        (LISINOPRIL_30, {"source": "transferred"}, "transfer-pharmacy-missing"),
    ],
)
def test_a_correction_passes_every_entry_rule_again(
    bench: Bench, ndc: str, change: dict[str, Any], code: str
) -> None:
    entered = bench.enter(refills=2)
    _send_back(bench, entered.fill_id)
    stored = _stored(bench, entered.prescription_id)
    before = _counts(bench.services)
    with pytest.raises(PrescriptionRefused) as refused:
        _correct(bench, entered, ndc, **change)
    assert code in {problem.code for problem in refused.value.facts["problems"]}
    assert _counts(bench.services) == before
    assert _stored(bench, entered.prescription_id) == stored


def test_a_correction_to_a_c_ii_needs_a_dea_registration_covering_it(bench: Bench) -> None:
    prescriber_id = _prescriber(bench, dea_schedules=frozenset({"3", "4", "5"}))
    entered = bench.enter(prescriber_id=prescriber_id)
    _send_back(bench, entered.fill_id, "The written Rx is for oxycodone")
    with pytest.raises(PrescriptionRefused) as refused:
        _correct(bench, entered, OXYCODONE_30, prescriber_id=prescriber_id, quantity=Decimal(20))
    codes = {problem.code for problem in refused.value.facts["problems"]}
    assert codes == {"prescriber-schedule-not-registered"}
    corrected = _correct(bench, entered, OXYCODONE_30, quantity=Decimal(20))
    assert set(corrected.changed) >= {"package_id", "prescriber_id", "quantity"}


def test_a_corrected_c_ii_is_not_counted_twice_in_its_own_series(bench: Bench) -> None:
    series = {"quantity": Decimal(240), "sig_code": "1 T PO Q6H PRN PAIN"}
    entered = bench.enter(OXYCODONE_30, do_not_fill_before=TODAY, **series)
    assert entered.days_supply == 60
    _send_back(bench, entered.fill_id)
    corrected = _correct(
        bench, entered, OXYCODONE_30, do_not_fill_before=TODAY, days_supply=80, **series
    )
    assert (corrected.days_supply, corrected.days_supply_overridden) == (80, True)
    with pytest.raises(PrescriptionRefused) as refused:
        _correct(bench, entered, OXYCODONE_30, do_not_fill_before=TODAY, days_supply=91, **series)
    assert {problem.code for problem in refused.value.facts["problems"]} == {
        "cii-series-over-90-days"
    }


def test_a_corrected_sig_is_expanded_and_flagged_again(bench: Bench) -> None:
    entered = bench.enter()
    _send_back(bench, entered.fill_id)
    corrected = _correct(bench, entered, sig_code="1 T PO UTD TAPER PER CHART", days_supply=30)
    assert corrected.sig_needs_review
    assert corrected.directions == "1 T PO UTD TAPER PER CHART"
    assert SIG_REVIEW_NOTICE in corrected.warnings
    assert "sig_needs_review" in corrected.changed
    assert bench.entry.get_prescription(bench.pharmacist, entered.rx_number).sig_needs_review


def test_a_stale_version_is_refused_and_nothing_is_written(bench: Bench) -> None:
    entered = bench.enter()
    _send_back(bench, entered.fill_id)
    opened = bench.entry.get_prescription(bench.technician, entered.rx_number)
    first = bench.entry.correct_prescription(
        bench.technician,
        entered.prescription_id,
        expected_version=opened.version,
        draft=bench.draft(quantity=Decimal(60)),
    )
    stored = _stored(bench, entered.prescription_id)
    before = _counts(bench.services)
    with pytest.raises(StaleRecord, match="Someone else changed Rx"):
        bench.entry.correct_prescription(
            bench.pharmacist,
            entered.prescription_id,
            expected_version=opened.version,
            draft=bench.draft(quantity=Decimal(90)),
        )
    with pytest.raises(StaleRecord):
        bench.entry.submit_for_review(
            bench.technician, entered.fill_id, expected_version=first.fill_version - 1
        )
    assert _counts(bench.services) == before
    assert _stored(bench, entered.prescription_id) == stored


def test_a_fill_held_by_someone_else_is_not_corrected_or_submitted(bench: Bench) -> None:
    entered = bench.enter()
    _send_back(bench, entered.fill_id)
    held = bench.services.workflow.take_fill(bench.pharmacist, entered.fill_id)
    with pytest.raises(FillHeldByAnother, match="phil is working on this fill"):
        _correct(bench, entered, quantity=Decimal(60))
    with pytest.raises(FillHeldByAnother):
        bench.entry.submit_for_review(
            bench.technician, entered.fill_id, expected_version=held.version
        )
    # The holder may do both; the move hands the fill on.
    corrected = bench.entry.correct_prescription(
        bench.pharmacist,
        entered.prescription_id,
        expected_version=bench.entry.get_prescription(bench.pharmacist, entered.rx_number).version,
        draft=bench.draft(quantity=Decimal(60)),
    )
    row = bench.entry.submit_for_review(
        bench.pharmacist, entered.fill_id, expected_version=corrected.fill_version
    )
    assert (row.state, row.held_by) == (FillState.DATA_REVIEW, None)


def test_a_rescan_is_added_beside_the_first_image(bench: Bench) -> None:
    entered = bench.enter(image=ScannedImage("first.png", "image/png", PNG))
    _send_back(bench, entered.fill_id, "The scan is of another patient's Rx")
    rescan = b"%PDF-1.4 fictional rescan"
    _correct(bench, entered, image=ScannedImage("rescan.pdf", "application/pdf", rescan))
    image = bench.entry.prescription_image(bench.pharmacist, entered.prescription_id)
    assert (image.file_name, image.content) == ("rescan.pdf", rescan)
    with bench.services.database.reading() as session:
        assert session.scalar(select(func.count()).select_from(PrescriptionImage)) == 2


def test_a_refill_is_submitted_from_intake_but_its_prescription_is_fixed(bench: Bench) -> None:
    entered = bench.enter(refills=2)
    workflow, fill_id = bench.services.workflow, entered.fill_id
    for actor, state in (
        (bench.pharmacist, FillState.FILL),
        (bench.technician, FillState.FINAL_VERIFICATION),
        (bench.pharmacist, FillState.READY),
        (bench.technician, FillState.SOLD),
    ):
        if state is FillState.FINAL_VERIFICATION:
            verify_fill(bench.services, actor, fill_id)
            continue
        version = next(
            row.version for row in bench.services.fills.queue(actor) if row.fill_id == fill_id
        )
        workflow.advance(actor, fill_id, to_state=state, expected_version=version)
    refill = workflow.refill(bench.technician, entered.prescription_id).fill
    assert refill.state is FillState.INTAKE
    with pytest.raises(PrescriptionFixed, match="filled before"):
        _correct(bench, entered, quantity=Decimal(60))

    row = bench.entry.submit_for_review(
        bench.technician, refill.fill_id, expected_version=refill.version
    )

    assert row.state is FillState.DATA_REVIEW
    with bench.services.database.reading() as session:
        steps = session.execute(
            select(FillTransition.from_state, FillTransition.to_state)
            .where(FillTransition.fill_id == refill.fill_id)
            .order_by(FillTransition.id)
        ).all()
    assert [tuple(step) for step in steps] == [
        (None, "intake"),
        ("intake", "data_entry"),
        ("data_entry", "data_review"),
    ]


def test_only_the_bench_corrects_and_submits(bench: Bench) -> None:
    entered = bench.enter()
    _send_back(bench, entered.fill_id)
    office = Actor(None, "office", "Office", frozenset({Role.ADMINISTRATOR}), "ws")
    with pytest.raises(PermissionDenied):
        bench.entry.correct_prescription(
            office, entered.prescription_id, expected_version=1, draft=bench.draft()
        )
    with pytest.raises(PermissionDenied):
        bench.entry.submit_for_review(office, entered.fill_id, expected_version=1)
    with pytest.raises(NotFound):
        bench.entry.correct_prescription(
            bench.technician, 999_999, expected_version=1, draft=bench.draft()
        )


def test_correcting_the_quantity_of_a_billed_fill_reverses_the_claim_and_bills_again(
    bench: Bench,
) -> None:
    """Billing at data entry paid a claim for 30; the pharmacist sent it back for 60."""
    services = bench.services
    plan = training_plans()[0]
    services.patients.add_coverage(
        bench.technician,
        bench.patient_id,
        coverage=CoverageDraft(rank=1, bin=plan.bin, pcn=plan.pcn, cardholder_id="ZZ1234567"),
    )
    claims = ClaimService(
        services.database, InProcessTransport(Adjudicator(training_plans())), today=lambda: TODAY
    )
    entry = PrescriptionService(services.database, today=lambda: TODAY, claims=claims)
    entered = entry.enter_prescription(
        bench.technician, draft=bench.draft(quantity=Decimal(30), sig_code="1 T PO QD")
    )
    first = claims.bill(bench.technician, entered.fill_id)
    assert first.status is ClaimStatus.PAID and first.quantity == Decimal(30)
    _send_back(bench, entered.fill_id)

    entry.correct_prescription(
        bench.technician,
        entered.prescription_id,
        expected_version=_stored(bench, entered.prescription_id)[0],
        draft=bench.draft(quantity=Decimal(60), sig_code="1 T PO BID"),
    )

    rows = claims.claims_for_fill(bench.technician, entered.fill_id)
    statuses = sorted((row.transaction_code, row.status.value, row.quantity) for row in rows)
    assert statuses == [
        ("B1", "paid", Decimal(60)),
        ("B1", "reversed", Decimal(30)),
        ("B2", "approved", Decimal(30)),
    ]
    # A correction that changes nothing billed sends nothing.
    entry.correct_prescription(
        bench.technician,
        entered.prescription_id,
        expected_version=_stored(bench, entered.prescription_id)[0],
        draft=bench.draft(quantity=Decimal(60), sig_code="1 T PO BID", notes="Checked"),
    )
    assert len(claims.claims_for_fill(bench.technician, entered.fill_id)) == 3

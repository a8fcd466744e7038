"""The demo pharmacy: complete, consistent, honestly audited, and loaded only once."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.adapters.training_payer import training_plans
from app.bootstrap import Services
from app.db.base import Base
from app.db.models import (
    AuditEvent,
    CatalogueSnapshot,
    Claim,
    ControlledDiscrepancy,
    ControlledSubstanceEntry,
    CountSession,
    DrugPackage,
    DrugProduct,
    Fill,
    FillBottle,
    InsuranceCoverage,
    LabelPrint,
    Patient,
    PatientAllergy,
    PatientCondition,
    Pharmacy,
    PmpReport,
    Prescriber,
    Prescription,
    Sale,
    SaleLine,
    SaleSignature,
    StockLot,
    StockMovement,
    Tender,
    User,
    WorkItem,
)
from app.demo import (
    DEMO_ADJUSTMENT_REASON,
    DEMO_CATALOGUE_DIR,
    DEMO_CLAIM_REVERSAL_REASON,
    DEMO_COUNT_LOSS,
    DEMO_FORM_106_REFERENCE,
    DEMO_LEVELS,
    DEMO_LOGINS,
    DEMO_OPEN_NOTE,
    DEMO_PMP_DESTINATION,
    DEMO_RECALL_CONTACT_NOTE,
    DEMO_RECALL_NUMBER,
    DEMO_RETURN_REASON,
    DEMO_REVERSAL_REASON,
    DEMO_SIGNED_RESOLUTION,
    INHALER_CONTAINERS,
    REPRINT_REASON,
    RETURN_REASON,
    DemoOutcome,
    load_demo,
)
from app.domain import asap
from app.domain.barcodes import upc_a_for
from app.domain.fill_states import FillState
from app.domain.identifiers import validate_dea, validate_npi
from app.domain.labels import THERMAL_VIAL_4X2_25, LabelLanguage
from app.domain.ndc import parse_ndc
from app.domain.roles import Role
from app.domain.rx_rules import dea_schedule_allowed
from app.errors import PermissionDenied, ValidationFailed
from app.services.claim_records import ClaimStatus
from app.services.controlled import inventory_csv
from app.services.passwords import SecretHasher
from app.services.reorder import BELOW_MINIMUM, ReorderService
from app.services.unit_of_work import Actor

NOW = datetime.fromisoformat("2026-03-02T15:30:00+00:00")
BULK_IMPORTED = (DrugProduct, DrugPackage)
DEMO_TABLES: tuple[type[Base], ...] = (
    Pharmacy,
    User,
    CatalogueSnapshot,
    DrugProduct,
    DrugPackage,
    Prescriber,
    Patient,
    PatientAllergy,
    PatientCondition,
    InsuranceCoverage,
    StockLot,
    StockMovement,
    Prescription,
    Fill,
    FillBottle,
    LabelPrint,
)
FDA_DIRECTORY_ZIP = (
    Path(__file__).resolve().parents[2].parent
    / "shared/data/fda-ndc-directory-2019-04-29/ndctext.zip"
)


class CountingHasher(SecretHasher):
    """A real hasher that also counts hashes, to keep the demo's password cost bounded."""

    def __init__(self) -> None:
        super().__init__("fast-insecure-for-tests")
        self.hashed = 0

    def hash(self, secret: str) -> str:
        self.hashed += 1
        return super().hash(secret)


@pytest.fixture
def loader(services: Services) -> Actor:
    return Actor(None, "demo-test", "Demo test", frozenset({Role.ADMINISTRATOR}), "test-ws")


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def demo(services: Services, loader: Actor, hasher: CountingHasher) -> DemoOutcome:
    return load_demo(services.database, loader, hasher=hasher, now=NOW)


def test_demo_logins_work_and_cover_every_role(services: Services, demo: DemoOutcome) -> None:
    assert demo.loaded
    roles: set[Role] = set()
    for login in demo.logins:
        assert len(login.password) >= 8
        actor = services.auth.login(login.username, login.password)
        assert actor.roles == login.roles
        roles |= actor.roles
    assert roles == set(Role)


def test_each_demo_password_is_hashed_once(demo: DemoOutcome, hasher: CountingHasher) -> None:
    assert hasher.hashed == len(DEMO_LOGINS)


def test_pharmacy_and_prescriber_identifiers_are_valid(
    services: Services, demo: DemoOutcome
) -> None:
    profile = services.pharmacy.profile()
    assert profile is not None
    assert profile.validated() == profile
    with services.database.reading() as session:
        prescribers = session.scalars(select(Prescriber)).all()
    assert len(prescribers) >= 8
    assert len({prescriber.npi for prescriber in prescribers}) == len(prescribers)
    for prescriber in prescribers:
        assert validate_npi(prescriber.npi) == prescriber.npi
        assert prescriber.dea_number is not None
        assert validate_dea(prescriber.dea_number) == prescriber.dea_number
        assert prescriber.dea_number[1] == prescriber.last_name[0]


def test_patients_are_fictional_with_reserved_phone_numbers(
    services: Services, demo: DemoOutcome
) -> None:
    with services.database.reading() as session:
        patients = session.scalars(select(Patient)).all()
    assert 35 <= len(patients) <= 50
    for patient in patients:
        assert re.fullmatch(r"\(\d{3}\) 555-01\d\d", patient.phone), patient.phone
        assert patient.email == "" or patient.email.endswith("@example.com")
        assert patient.date_of_birth < NOW.date()
    assert len({(p.last_name, p.first_name) for p in patients}) == len(patients)


def test_patients_have_allergy_answers_conditions_coverages_and_preferences(
    services: Services, demo: DemoOutcome
) -> None:
    with services.database.reading() as session:
        patients = session.scalars(select(Patient)).all()
        allergies = session.scalars(select(PatientAllergy)).all()
        conditions = session.scalars(select(PatientCondition)).all()
        coverages = session.scalars(select(InsuranceCoverage)).all()
    with_allergies = {allergy.patient_id for allergy in allergies}
    assert any(a.drug_class == "Penicillin-class Antibacterial [EPC]" for a in allergies)
    for patient in patients:
        if patient.id in with_allergies:
            assert patient.no_known_allergies is False
        else:
            assert patient.no_known_allergies in (True, None)
    answers = [patient.no_known_allergies for patient in patients]
    assert answers.count(True) >= 3 and answers.count(None) >= 3
    assert conditions and {c.patient_id for c in conditions} < {p.id for p in patients}
    ranks: dict[int, list[int]] = defaultdict(list)
    for coverage in coverages:
        # The training payer's plans: in training mode the demo's cards really bill.
        assert coverage.bin in {plan.bin for plan in training_plans()} and coverage.cardholder_id
        assert coverage.active and coverage.relationship_code in "01234"
        ranks[coverage.patient_id].append(coverage.rank)
    assert sorted(rank for found in ranks.values() for rank in found).count(2) == 1
    assert all(sorted(found) in ([1], [1, 2]) for found in ranks.values())
    assert len(ranks) < len(patients)  # some pay cash
    assert any(p.easy_open_caps for p in patients) and any(p.large_print_labels for p in patients)
    assert any(p.delivery for p in patients)
    assert any(p.privacy_notice_acknowledged_on for p in patients)


def test_prescriptions_carry_indication_every_source_a_transfer_and_an_emergency_c2(
    services: Services, demo: DemoOutcome
) -> None:
    with services.database.reading() as session:
        rows = session.execute(
            select(Prescription, DrugProduct.dea_schedule, Prescriber)
            .join(DrugPackage, Prescription.package_id == DrugPackage.id)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
            .join(Prescriber, Prescription.prescriber_id == Prescriber.id)
        ).all()
    assert {rx.source for rx, _, _ in rows} == {
        "electronic",
        "written",
        "phoned",
        "faxed",
        "transferred",
    }
    for rx, schedule, prescriber in rows:
        assert rx.indication
        assert rx.quantity_unit in ("EA", "ML", "GM")
        assert (rx.transfer_count == 1) == (rx.source == "transferred") == bool(rx.transferred_from)
        if schedule:
            assert dea_schedule_allowed(prescriber.dea_schedules.split(","), schedule)
            assert prescriber.dea_expires_on is not None and prescriber.dea_expires_on > NOW.date()
        if schedule == "CII":
            assert rx.refills_authorized == 0
            assert rx.source in ("electronic", "written") or (
                rx.emergency_oral and rx.source == "phoned"
            )
    (emergency,) = [rx for rx, _, _ in rows if rx.emergency_oral]
    assert emergency.written_follow_up_due == emergency.written_date + timedelta(days=7)


def test_fills_exist_in_every_state_and_the_queue_has_every_priority(
    services: Services, demo: DemoOutcome
) -> None:
    with services.database.reading() as session:
        fills = session.scalars(select(Fill)).all()
        rx_numbers = session.scalars(select(Prescription.rx_number)).all()
        # The register's demo sale sells through the workflow as the demo loads: those fills
        # keep the promise they were sold against, and were sold just now.
        at_register = set(
            session.scalars(select(SaleLine.fill_id).where(SaleLine.fill_id.is_not(None)))
        )
    assert {FillState(fill.state) for fill in fills} == set(FillState)
    active = [fill for fill in fills if FillState(fill.state).is_active]
    assert {fill.priority for fill in active} == {"waiting", "today", "delivery", "mail"}
    assert all(fill.promised_at is not None and fill.promised_at > NOW for fill in active)
    finished = [fill for fill in fills if fill not in active and fill.id not in at_register]
    assert all(fill.promised_at is None for fill in finished)
    sold = [fill for fill in finished if fill.state == FillState.SOLD]
    assert all(fill.state_changed_at < NOW for fill in sold)
    assert all(rx.isdigit() for rx in rx_numbers)


def test_demo_covers_controlled_substances_and_several_labelers(
    services: Services, demo: DemoOutcome
) -> None:
    with services.database.reading() as session:
        schedules = set(session.scalars(select(DrugProduct.dea_schedule)))
        controlled_rx = session.scalar(
            select(func.count())
            .select_from(Prescription)
            .join(DrugPackage)
            .join(DrugProduct)
            .where(DrugProduct.dea_schedule.is_not(None))
        )
        labelers = session.scalars(
            select(DrugProduct.labeler).where(DrugProduct.substance_name == "LISINOPRIL")
        ).all()
    assert {"CII", "CIII", "CIV", "CV"} <= schedules
    assert controlled_rx
    assert len(set(labelers)) >= 2


def test_every_lot_balance_is_the_sum_of_its_movements(
    services: Services, demo: DemoOutcome
) -> None:
    with services.database.reading() as session:
        lots = session.scalars(select(StockLot)).all()
        movements = session.scalars(select(StockMovement)).all()
        sold_fill_ids = set(
            session.scalars(select(Fill.id).where(Fill.state == FillState.SOLD.value))
        )
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for movement in movements:
        totals[movement.lot_id] += movement.quantity
    for lot in lots:
        assert lot.on_hand == totals[lot.id], lot.lot_number
        assert lot.on_hand >= 0
    dispensed_fill_ids = {m.fill_id for m in movements if m.kind == "dispensed"}
    assert sold_fill_ids <= dispensed_fill_ids
    # A reversal of a dispensing carries its fill (the demo's reversed stock correction has none).
    reversed_ids = {m.reverses_id for m in movements if m.kind == "reversal" and m.fill_id}
    assert reversed_ids and reversed_ids <= {m.id for m in movements if m.kind == "dispensed"}


PAST_THE_FILL_STEP = (
    FillState.FINAL_VERIFICATION,
    FillState.READY,
    FillState.SOLD,
    FillState.RETURNED_TO_STOCK,
)


def test_every_fill_past_the_fill_step_has_its_scanned_bottles(
    services: Services, demo: DemoOutcome
) -> None:
    """What the service would have left: bottles giving the whole quantity, each a match with
    its dispensing movement; a fill returned to stock has them voided and reversed."""
    with services.database.reading() as session:
        fills = session.scalars(
            select(Fill).where(Fill.state.in_([state.value for state in PAST_THE_FILL_STEP]))
        ).all()
        bottles = session.scalars(select(FillBottle)).all()
        movements = {movement.id: movement for movement in session.scalars(select(StockMovement))}
        lots = {lot.id: lot for lot in session.scalars(select(StockLot))}
        ndcs = {
            package_id: ndc
            for package_id, ndc in session.execute(select(DrugPackage.id, DrugPackage.ndc))
        }
        prescribed = {
            fill_id: package_id
            for fill_id, package_id in session.execute(
                select(Fill.id, Prescription.package_id).join(Prescription)
            )
        }
    assert {FillState(fill.state) for fill in fills} == set(PAST_THE_FILL_STEP)
    by_fill: dict[int, list[FillBottle]] = defaultdict(list)
    for bottle in bottles:
        by_fill[bottle.fill_id].append(bottle)
    assert set(by_fill) == {fill.id for fill in fills}
    reversed_ids = {m.reverses_id for m in movements.values() if m.kind == "reversal"}
    for fill in fills:
        found = by_fill[fill.id]
        assert sum(bottle.quantity for bottle in found) == fill.quantity
        returned = fill.state == FillState.RETURNED_TO_STOCK.value
        for bottle in found:
            assert bottle.movement_id is not None and bottle.lot_id is not None
            movement = movements[bottle.movement_id]
            lot = lots[bottle.lot_id]
            assert (movement.kind, movement.fill_id, movement.lot_id) == (
                "dispensed",
                fill.id,
                lot.id,
            )
            assert movement.quantity == -bottle.quantity
            assert (bottle.verdict, bottle.lot_number, bottle.expiry) == (
                "match",
                lot.lot_number,
                lot.expiry,
            )
            assert bottle.package_id == lot.package_id == prescribed[fill.id]
            assert bottle.scanned_text == upc_a_for(parse_ndc(ndcs[bottle.package_id]))
            assert (bottle.voided_at is not None) == returned == (movement.id in reversed_ids)
            if returned:
                assert bottle.voided_reason == RETURN_REASON


CONTROLLED = ("CII", "CIII", "CIV", "CV")


def test_controlled_fills_with_scanned_bottles_are_in_the_controlled_substance_log(
    services: Services, demo: DemoOutcome
) -> None:
    """Each bottle of a CII–CV fill has its dispensing line, a fill returned to stock its
    reversal line too, and each package's log runs from its stock received to its stock now."""
    with services.database.reading() as session:
        bottles = session.execute(
            select(FillBottle, DrugProduct.dea_schedule)
            .join(DrugPackage, FillBottle.package_id == DrugPackage.id)
            .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
        ).all()
        log = session.scalars(
            select(ControlledSubstanceEntry).order_by(ControlledSubstanceEntry.id)
        ).all()
        movements = {movement.id: movement for movement in session.scalars(select(StockMovement))}
        lots = session.scalars(select(StockLot)).all()
        technician = session.scalars(select(User.id).where(User.username == "tech")).one()
    controlled = [(bottle, schedule) for bottle, schedule in bottles if schedule in CONTROLLED]
    assert {schedule for _, schedule in controlled} >= {"CII", "CIV"}
    assert any(bottle.voided_at is not None for bottle, _ in controlled)
    by_movement = {line.movement_id: line for line in log}
    assert len(by_movement) == len(log)
    expected_lines = 0
    for bottle, schedule in controlled:
        dispensed = by_movement[bottle.movement_id]
        assert (dispensed.kind, dispensed.schedule, dispensed.quantity) == (
            "dispensed",
            schedule,
            -bottle.quantity,
        )
        assert (dispensed.fill_id, dispensed.lot_id, dispensed.package_id) == (
            bottle.fill_id,
            bottle.lot_id,
            bottle.package_id,
        )
        assert dispensed.user_id == technician and dispensed.occurred_at == bottle.scanned_at
        expected_lines += 1
        if bottle.voided_at is not None:
            [reversal] = [m for m in movements.values() if m.reverses_id == bottle.movement_id]
            line = by_movement[reversal.id]
            assert (line.kind, line.quantity) == ("reversal", bottle.quantity)
            assert line.note.endswith(f"returned to stock: {RETURN_REASON}")
            expected_lines += 1
    # The demo's approved schedule II count corrected one lot: its line is in the log too.
    expected_lines += sum(1 for line in log if line.kind == "count_correction")
    assert len(log) == expected_lines  # and none for a fill without a controlled drug
    package_of_lot = {lot.id: lot.package_id for lot in lots}
    received: dict[int, Decimal] = defaultdict(Decimal)
    on_hand: dict[int, Decimal] = defaultdict(Decimal)
    for lot in lots:
        on_hand[lot.package_id] += lot.on_hand
    for movement in movements.values():
        if movement.kind == "received":
            received[package_of_lot[movement.lot_id]] += movement.quantity
    lines: dict[int, list[ControlledSubstanceEntry]] = defaultdict(list)
    for line in log:
        lines[line.package_id].append(line)
    for package_id, package_lines in lines.items():
        balance = received[package_id]
        for line in package_lines:
            balance += line.quantity
            assert line.balance_after == balance
        assert balance == on_hand[package_id]


def test_labels_are_printed_past_the_fill_step_one_reprinted_three_containers_and_spanish(
    services: Services, demo: DemoOutcome, loader: Actor
) -> None:
    """Through the label service: one original per fill past the Fill step (not returned to
    stock), one label per container, one reprint with its reason, Spanish for a patient who
    prefers it; each print audited once by the loader, and no lot asks for a reprint."""
    with services.database.reading() as session:
        fills = {fill.id: fill for fill in session.scalars(select(Fill))}
        prints = session.scalars(select(LabelPrint).order_by(LabelPrint.id)).all()
        events = session.execute(
            select(AuditEvent.action, AuditEvent.entity_id, AuditEvent.username).where(
                AuditEvent.action.in_(["label.printed", "label.reprinted"])
            )
        ).all()
    labelled = {
        fill_id
        for fill_id, fill in fills.items()
        if fill.state in (FillState.FINAL_VERIFICATION, FillState.READY, FillState.SOLD)
    }
    originals = [p for p in prints if p.kind == "original"]
    [reprint] = [p for p in prints if p.kind == "reprint"]
    assert sorted(p.fill_id for p in originals) == sorted(labelled)
    assert reprint.reason == REPRINT_REASON and reprint.fill_id in labelled
    assert fills[reprint.fill_id].state == FillState.READY
    for printed in prints:
        assert printed.label_count == fills[printed.fill_id].containers
        assert printed.stock_name == THERMAL_VIAL_4X2_25.name
    assert sorted(events) == sorted(
        [("label.printed", str(p.id), loader.username) for p in originals]
        + [("label.reprinted", str(reprint.id), loader.username)]
    )
    [three] = [fill_id for fill_id, fill in fills.items() if fill.containers > 1]
    assert fills[three].containers == INHALER_CONTAINERS and three in labelled
    assert [label.container_text for label in services.labels.contents(loader, three)] == [
        f"{n} of {INHALER_CONTAINERS}" for n in range(1, INHALER_CONTAINERS + 1)
    ]
    spanish = [p.fill_id for p in prints if p.language == LabelLanguage.SPANISH.value]
    assert spanish and FillState(fills[spanish[0]].state).is_active
    [label] = services.labels.contents(loader, spanish[0])
    assert label.directions.startswith("Tome ") and label.english_directions.startswith("Take ")
    assert label.notices == ()
    for fill_id in labelled:
        assert services.verification.view(loader, fill_id).label_reprint_needed is None


def test_stock_has_expired_short_dated_quarantined_and_recalled_lots(
    services: Services, demo: DemoOutcome
) -> None:
    today = NOW.date()
    with services.database.reading() as session:
        lots = session.scalars(select(StockLot)).all()
    assert any(lot.expiry < today for lot in lots)
    assert any(today <= lot.expiry <= today + timedelta(days=60) for lot in lots)
    assert [lot.status for lot in lots].count("quarantined") == 1
    # One recalled by hand, one by the demo's imported recall.
    assert [lot.status for lot in lots].count("recalled") == 2
    assert len({lot.lot_number for lot in lots}) == len(lots)


def test_every_demo_record_has_an_audit_event_by_the_loader(
    services: Services, demo: DemoOutcome, loader: Actor
) -> None:
    with services.database.reading() as session:
        audited = {
            (entity_type, entity_id)
            for entity_type, entity_id in session.execute(
                select(AuditEvent.entity_type, AuditEvent.entity_id).where(
                    AuditEvent.username == loader.username
                )
            )
        }
        for model in DEMO_TABLES:
            ids = session.scalars(select(model.id)).all()  # type: ignore[attr-defined]
            assert ids, model.__tablename__
            if model in BULK_IMPORTED:
                continue
            missing = [i for i in ids if (model.__tablename__, str(i)) not in audited]
            assert missing == [], model.__tablename__
        [snapshot_id] = session.scalars(select(CatalogueSnapshot.id)).all()
        # The catalogue goes in through the bulk importer: one event for the whole import.
        assert ("catalogue_snapshots", str(snapshot_id)) in audited


def test_loading_twice_changes_nothing(
    services: Services, demo: DemoOutcome, loader: Actor, hasher: CountingHasher
) -> None:
    with services.database.reading() as session:
        events_before = session.scalar(select(func.count()).select_from(AuditEvent))

    again = load_demo(services.database, loader, hasher=hasher, now=NOW)

    with services.database.reading() as session:
        events_after = session.scalar(select(func.count()).select_from(AuditEvent))
    assert not again.loaded
    assert again.counts == demo.counts
    assert events_after == events_before


def test_refuses_a_database_that_holds_other_data(
    services: Services, admin: Actor, loader: Actor
) -> None:
    with pytest.raises(ValidationFailed, match="already holds data") as refused:
        load_demo(services.database, loader, hasher=CountingHasher(), now=NOW)

    assert refused.value.facts["found"]["users"] == 1
    with services.database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0


def test_only_an_administrator_loads_the_demo(services: Services) -> None:
    technician = Actor(None, "t", "T", frozenset({Role.TECHNICIAN}), "ws")

    with pytest.raises(PermissionDenied):
        load_demo(services.database, technician, hasher=CountingHasher(), now=NOW)


def test_demo_catalogue_is_in_the_fda_layout() -> None:
    for name, first_column in (("product.txt", "PRODUCTID"), ("package.txt", "PRODUCTID")):
        raw = (DEMO_CATALOGUE_DIR / name).read_bytes()
        lines = raw.split(b"\r\n")
        assert lines[-1] == b"" and b"\n" not in raw.replace(b"\r\n", b"")
        assert lines[0].decode("cp1252").split("\t")[0] == first_column
        assert 60 <= len(lines) - 2 <= 400


@pytest.mark.slow
@pytest.mark.skipif(not FDA_DIRECTORY_ZIP.is_file(), reason="the FDA NDC Directory is not here")
def test_committed_demo_catalogue_is_what_the_script_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "make_demo_catalogue.py"
    spec = importlib.util.spec_from_file_location("make_demo_catalogue", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)

    module.make_subset(FDA_DIRECTORY_ZIP, tmp_path)

    for name in ("product.txt", "package.txt"):
        assert (tmp_path / name).read_bytes() == (DEMO_CATALOGUE_DIR / name).read_bytes()


def test_the_demo_has_an_imported_consumer_recall_with_stock_to_pull_and_patients_to_call(
    services: Services, demo: DemoOutcome
) -> None:
    pharmacist = services.auth.login("pharm", "pharm-demo-1")
    [recall] = services.recalls.recalls(pharmacist)
    assert (recall.recall_number, recall.source, recall.level) == (
        DEMO_RECALL_NUMBER,
        "openfda",
        "consumer",
    )
    work = services.recalls.worklist(pharmacist, recall.recall_id)
    [pull] = work.pulls
    assert (pull.lot_number, pull.pulled_at) == ("D000201A", None) and pull.on_hand > 0
    assert sorted((c.status, c.note) for c in work.contacts) == [
        ("contacted", DEMO_RECALL_CONTACT_NOTE),
        ("to_contact", ""),
    ]
    assert len({contact.patient_id for contact in work.contacts}) == 2
    with services.database.reading() as session:
        status = session.scalars(
            select(StockLot.status).where(StockLot.lot_number == "D000201A")
        ).one()
    assert status == "recalled"


def test_the_demo_has_an_approved_count_a_count_to_resume_and_a_form_106_filed(
    services: Services, demo: DemoOutcome
) -> None:
    pharmacist = services.auth.login("pharm", "pharm-demo-1")
    [resumable] = services.counts.active(pharmacist)
    assert (resumable.status, resumable.started_by, resumable.counted_lines) == (
        "counting",
        "tech",
        1,
    )
    [report] = services.counts.loss_reports(pharmacist, include_closed=True)
    assert (report.status, report.dea_reference, report.schedule, report.quantity) == (
        "filed",
        DEMO_FORM_106_REFERENCE,
        "CII",
        DEMO_COUNT_LOSS,
    )
    with services.database.reading() as session:
        approved = session.scalars(select(CountSession).where(CountSession.status == "approved"))
        [count] = approved.all()
        technician2 = session.scalars(select(User.id).where(User.username == "tech2")).one()
        assert count.second_signer_user_id == technician2
        assert count.id == report.count_session_id
        [correction] = session.scalars(
            select(StockMovement).where(StockMovement.kind == "count_correction")
        ).all()
        assert correction.quantity == -DEMO_COUNT_LOSS
        # The count's own discrepancy (count-backs of the controlled record open others).
        [discrepancy] = session.scalars(
            select(ControlledDiscrepancy).where(ControlledDiscrepancy.count_line_id.is_not(None))
        ).all()
        assert (discrepancy.status, discrepancy.loss_report_id) == ("open", report.report_id)


def test_the_demo_reports_to_the_pmp_every_day_with_a_zero_report_and_the_oldest_sent(
    services: Services, demo: DemoOutcome
) -> None:
    """One file per day through yesterday; together they report exactly the controlled fills
    whose stock stayed dispensed (a fill put back is voided or never reported)."""
    pharmacist = services.auth.login("pharm", "pharm-demo-1")
    reports = services.pmp.reports(pharmacist)
    days = [report.report_date for report in reversed(reports)]
    assert days[-1] == NOW.date() - timedelta(days=1)
    assert days == [days[0] + timedelta(days=n) for n in range(len(days))]
    assert any(report.zero_report for report in reports)
    assert (reports[-1].status, reports[-1].destination, reports[-1].sent_by) == (
        "sent",
        DEMO_PMP_DESTINATION,
        "pharm",
    )
    assert {report.status for report in reports[:-1]} == {"generated"}
    midnight = datetime.combine(NOW.date(), datetime.min.time(), tzinfo=NOW.tzinfo)
    with services.database.reading() as session:
        contents = session.scalars(select(PmpReport.content).order_by(PmpReport.id)).all()
        standing = set(
            session.execute(
                select(Prescription.rx_number, Fill.fill_number)
                .join(Fill, Fill.prescription_id == Prescription.id)
                .join(FillBottle, FillBottle.fill_id == Fill.id)
                .join(
                    ControlledSubstanceEntry,
                    ControlledSubstanceEntry.movement_id == FillBottle.movement_id,
                )
                .where(
                    FillBottle.voided_at.is_(None), ControlledSubstanceEntry.occurred_at < midnight
                )
            ).all()
        )
    reported: set[tuple[str, int]] = set()
    for content in contents:
        for record in asap.read_file(content).records:
            key = (record.rx_number, record.refill_number)
            if record.status is asap.ReportingStatus.VOID:
                reported.remove(key)
            else:
                reported.add(key)
    assert standing and reported == standing


def test_the_inventory_dock_shows_the_demo_stock_corrections_and_a_reversal(
    services: Services, demo: DemoOutcome
) -> None:
    technician = services.auth.login("tech", "tech-demo-1")
    with services.database.reading() as session:
        adjusted, returned = (
            session.scalars(select(StockMovement).where(StockMovement.reason == reason)).one()
            for reason in (DEMO_ADJUSTMENT_REASON, DEMO_RETURN_REASON)
        )
        lots = {lot.id: lot for lot in session.scalars(select(StockLot))}
    history = services.stock.movements(technician, lots[adjusted.lot_id].package_id)
    assert [line.kind for line in history][:3] == ["reversal", "adjusted", "adjusted"]
    reversal, mistake, correction = history[:3]
    assert (reversal.reason, reversal.reverses_id) == (DEMO_REVERSAL_REASON, mistake.movement_id)
    assert mistake.reversed_by_id == reversal.movement_id and mistake.quantity == 10
    assert (correction.reason, correction.quantity) == (DEMO_ADJUSTMENT_REASON, -3)
    short_dated = lots[returned.lot_id]
    assert returned.kind == "returned_to_vendor" and returned.quantity == -short_dated.on_hand
    assert NOW.date() <= short_dated.expiry <= NOW.date() + timedelta(days=60)


def test_controlled_record_has_a_biennial_inventory_and_investigated_discrepancies(
    services: Services, demo: DemoOutcome, loader: Actor
) -> None:
    controlled = services.controlled
    [taken] = controlled.inventories(loader)
    report = controlled.report(loader, taken.inventory_id)
    csv_rows = list(csv.DictReader(io.StringIO(inventory_csv(report))))
    discrepancies = controlled.discrepancies(loader, None)
    with services.database.reading() as session:
        items = session.scalars(
            select(WorkItem.entity_id).where(
                WorkItem.kind == "controlled_discrepancy", WorkItem.closed_at.is_(None)
            )
        ).all()

    assert (report.kind, report.timing, report.taken_on) == ("biennial", "close", NOW.date())
    assert report.registrant.dea_number and report.taken_by.endswith("(tech)")
    assert report.witness is not None and report.witness.endswith("(pharm)")
    assert report.schedule_ii and all(line.exact for line in report.schedule_ii)
    assert {line.schedule for line in report.schedules_iii_v} >= {"CIII", "CIV", "CV"}
    assert report.differences == 0  # taken from the ledger's own draft
    assert len(csv_rows) == len(report.schedule_ii) + len(report.schedules_iii_v)
    noted = [row for row in discrepancies if any(DEMO_OPEN_NOTE in note for note in row.notes)]
    assert [row.status for row in noted] == ["open"]
    # Every open discrepancy, the count's and the count-back's, waits on the pharmacist's list.
    assert sorted(items) == sorted(
        str(row.discrepancy_id) for row in discrepancies if row.status == "open"
    )
    assert str(noted[0].discrepancy_id) in items
    [signed] = [row for row in discrepancies if row.status == "signed_off"]
    assert signed.resolution == DEMO_SIGNED_RESOLUTION and signed.signed_off_by == "pharm"


def test_the_demo_has_reorder_levels_one_below_minimum_ordered_and_noticed(
    services: Services, demo: DemoOutcome
) -> None:
    technician = services.auth.login("tech", "tech-demo-1")
    reorder = ReorderService(services.database, today=lambda: NOW.date())
    levels = reorder.levels(technician)
    assert len(levels) == DEMO_LEVELS
    below = {level.package_id for level in levels if level.below_minimum}
    assert len(below) == 1
    for days in (30, 90):
        order = reorder.suggested_order(technician, window_days=days)
        assert below <= {line.package_id for line in order}
    with services.database.reading() as session:
        notices = set(
            session.scalars(
                select(WorkItem.entity_id).where(
                    WorkItem.kind == "shortage", WorkItem.closed_at.is_(None)
                )
            )
        )
    assert {f"{package_id}:{BELOW_MINIMUM}" for package_id in below} <= notices


def test_the_demo_bills_claims_through_the_training_payer(
    services: Services, demo: DemoOutcome
) -> None:
    with services.database.reading() as session:
        claims = session.scalars(select(Claim).order_by(Claim.id)).all()
        cash = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "fill.cash_price")
        ).one()
        open_items = session.scalars(
            select(WorkItem.entity_id).where(
                WorkItem.kind == "claim_rejection", WorkItem.closed_at.is_(None)
            )
        ).all()
        rejected = {
            claim.reject_codes[0]: claim
            for claim in claims
            if claim.status == ClaimStatus.REJECTED.value
        }
        states = {
            code: session.get(Fill, claim.fill_id).state  # type: ignore[union-attr]
            for code, claim in rejected.items()
        }
    paid = [claim for claim in claims if claim.status == ClaimStatus.PAID.value]
    assert len(paid) >= 3 and all(claim.authorization_number for claim in paid)
    assert sorted(rejected) == ["75", "79"]
    assert states == {"75": "claim_rejected", "79": "claim_rejected"}
    # Two fills billed while the switch was silent wait on it, their outcome to settle.
    unknown = [claim for claim in claims if claim.status == ClaimStatus.UNKNOWN_OUTCOME.value]
    assert len(unknown) == 2
    with services.database.reading() as session:
        waiting = {
            session.get(Fill, claim.fill_id).state  # type: ignore[union-attr]
            for claim in unknown
        }
    assert waiting == {"waiting_on_switch"}
    to_resolve = [*rejected.values(), *unknown]
    assert sorted(open_items) == sorted(str(claim.id) for claim in to_resolve)
    [reversal] = [claim for claim in claims if claim.transaction_code == "B2"]
    assert reversal.status == ClaimStatus.APPROVED.value
    assert reversal.reason == DEMO_CLAIM_REVERSAL_REASON
    original = next(claim for claim in claims if claim.id == reversal.reverses_id)
    assert original.status == ClaimStatus.REVERSED.value
    assert cash.summary["price_cents"] >= 999


def test_the_demo_register_has_a_split_tender_sale_an_open_cart_and_a_counseling_request(
    services: Services, demo: DemoOutcome
) -> None:
    with services.database.reading() as session:
        sales = {sale.status: sale for sale in session.scalars(select(Sale).order_by(Sale.id))}
        completed = sales["completed"]
        tenders = session.scalars(select(Tender).where(Tender.sale_id == completed.id)).all()
        assert {tender.kind for tender in tenders} == {"credit", "cash"}
        assert sum(tender.amount_cents for tender in tenders) == completed.total_cents
        assert completed.tax_cents > 0  # the ibuprofen; prescriptions are not taxed
        signatures = session.scalars(
            select(SaleSignature).where(SaleSignature.sale_id == completed.id)
        ).all()
        assert all(signature.png.startswith(b"\x89PNG") for signature in signatures)
        sold = session.scalars(
            select(Fill.state)
            .join(SaleLine, SaleLine.fill_id == Fill.id)
            .where(SaleLine.sale_id == completed.id)
        ).all()
        assert sold and set(sold) == {FillState.SOLD.value}
        open_sales = session.scalars(select(Sale).where(Sale.status == "open")).all()
        assert len(open_sales) == 2
        [counseling] = session.scalars(
            select(WorkItem).where(WorkItem.kind == "counseling", WorkItem.closed_at.is_(None))
        ).all()
        assert int(counseling.entity_id) in {sale.id for sale in open_sales}
    pharmacist = services.auth.login("pharm", "pharm-demo-1")
    waiting = services.payment.sale(pharmacist, int(counseling.entity_id))
    assert waiting.counseling == "waiting"
    assert "The pharmacist has not yet marked the patient counseled." in waiting.missing

"""Cycle counts: counted by scan and by hand, recounted, submitted, approved into corrections;
schedule II rules, the house's second signature, controlled discrepancies and DEA Form 106."""

from __future__ import annotations

import dataclasses
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.bootstrap import Services
from app.db.base import utc_now
from app.db.models import (
    AuditEvent,
    ControlledDiscrepancy,
    ControlledSubstanceEntry,
    CountSession,
    DeaLossReport,
    DrugPackage,
    StockLot,
    StockMovement,
    WorkItem,
)
from app.domain.barcodes import GS, gs1_element_string, gtin14_for, upc_a_for
from app.domain.ndc import parse_ndc
from app.domain.roles import Role
from app.errors import NotFound, PermissionDenied, ValidationFailed
from app.services.counts import (
    CountInProgress,
    CountLineRow,
    CountRefused,
    CountService,
    LotNeeded,
    next_business_day,
    second_signature_needed,
)
from app.services.house_settings import CountPolicy, SecondSignature
from app.services.inventory import (
    WitnessRequired,
    controlled_log_mismatches,
    ledger_balance_mismatches,
)
from app.services.unit_of_work import Actor
from tests.app.services.inventory_data import add_user, written
from tests.app.services.pharmacy_data import load_demo_catalogue

LISINOPRIL_100 = "65862-039-01"  # 100 tablets
ALPRAZOLAM = "0378-4003-05"  # C-IV, 500 tablets
OXYCODONE_100 = "65162-047-10"  # C-II, 100 tablets
EXPIRY = date(2030, 3, 31)
FRIDAY = date(2026, 11, 27)


def datamatrix(ndc: str, lot: str, *, serial: str = "SN1", expiry: date = EXPIRY) -> str:
    return gs1_element_string(
        gtin14_for(parse_ndc(ndc)), expiry=expiry, lot=lot, serial=serial, gs=GS
    )


def package_id(services: Services, ndc: str) -> int:
    with services.database.reading() as session:
        return session.scalars(select(DrugPackage.id).where(DrugPackage.ndc == ndc)).one()


def stock(
    services: Services,
    actor: Actor,
    ndc: str,
    lot: str,
    quantity: int,
    *,
    location: str = "shelf",
) -> int:
    change = services.inventory.receive(
        actor,
        package_id(services, ndc),
        lot_number=lot,
        expiry=EXPIRY,
        quantity=quantity,
        location=location,
    )
    return change.lot.lot_id


def on_hand(services: Services, lot_id: int) -> Decimal:
    with services.database.reading() as session:
        lot = session.get(StockLot, lot_id)
        assert lot is not None
        return lot.on_hand


def line_of(lines: tuple[CountLineRow, ...], lot_id: int) -> CountLineRow:
    return next(line for line in lines if line.lot_id == lot_id)


def open_items(services: Services, kind: str) -> list[WorkItem]:
    with services.database.reading() as session:
        return list(
            session.scalars(
                select(WorkItem).where(WorkItem.kind == kind, WorkItem.closed_at.is_(None))
            )
        )


def ledger_is_whole(services: Services) -> None:
    with services.database.reading() as session:
        assert ledger_balance_mismatches(session) == []
        assert controlled_log_mismatches(session) == []


@pytest.fixture
def catalogue(services: Services, admin: Actor) -> None:
    load_demo_catalogue(services, admin)


@pytest.fixture
def counts(services: Services, catalogue: None) -> CountService:
    return services.counts


@pytest.fixture
def colleague(services: Services, admin: Actor) -> Actor:
    """A second technician, to sign counts the first one made."""
    return add_user(services, admin, "toby", Role.TECHNICIAN)


def set_policy(services: Services, admin: Actor, signature: SecondSignature, units: int = 10):
    services.house_settings.set_count_policy(
        admin, CountPolicy(second_signature=signature, loss_threshold_units=units)
    )


# --- a whole count --------------------------------------------------------------------------


def test_a_shelf_count_with_a_recount_is_approved_into_corrections(
    services: Services, counts: CountService, technician: Actor, pharmacist: Actor
) -> None:
    lot_a = stock(services, technician, LISINOPRIL_100, "LA", 200)
    lot_b = stock(services, technician, LISINOPRIL_100, "LB", 100)
    lot_c = stock(services, technician, ALPRAZOLAM, "AC", 100)
    fridge = stock(services, technician, LISINOPRIL_100, "LF", 50, location="refrigerator")
    started = counts.start(technician, location="Shelf")
    assert started.scope_text == "the shelf"
    assert {line.lot_id for line in started.lines} == {lot_a, lot_b, lot_c}
    assert all(line.counted is None for line in started.lines)

    # Two sealed bottles scanned: one package's units each.
    counts.scan(technician, started.session_id, datamatrix(LISINOPRIL_100, "LA", serial="1"))
    line_a = counts.scan(
        technician, started.session_id, datamatrix(LISINOPRIL_100, "LA", serial="2")
    )
    assert line_a.counted == Decimal(200) and not line_a.discrepant
    # An opened bottle is typed; stock moves while the count is open.
    line_b = line_of(started.lines, lot_b)
    counted_b = counts.set_count(technician, started.session_id, line_b.line_id, "90")
    assert counted_b.expected == Decimal(100) and counted_b.difference == Decimal(-10)
    services.inventory.adjust(technician, lot_b, quantity_change=-5, reason="broken bottle")
    # A controlled difference must be recounted before submitting.
    line_c = line_of(started.lines, lot_c)
    counts.set_count(technician, started.session_id, line_c.line_id, 95)
    # A lot the ledger keeps in the refrigerator turns up on the shelf.
    found = counts.scan(technician, started.session_id, datamatrix(LISINOPRIL_100, "LF"))
    assert found.lot_id == fridge and found.location == "refrigerator"
    with pytest.raises(CountRefused, match=r"must be recounted.*lot AC of NDC 0378-4003-05"):
        counts.submit(technician, started.session_id)
    with pytest.raises(CountRefused, match="nothing to recount"):
        counts.recount(technician, started.session_id, line_a.line_id, 200)
    recounted = counts.recount(technician, started.session_id, line_c.line_id, "96")
    assert recounted.final == Decimal(96) and recounted.difference == Decimal(-4)
    assert not recounted.needs_recount

    submitted = counts.submit(technician, started.session_id)
    assert submitted.status == "submitted" and submitted.counted_lines == 4
    [item] = open_items(services, "count_approval")
    assert item.entity_id == str(started.session_id) and "3 differences" in item.summary
    with pytest.raises(CountRefused, match="submitted for approval"):
        counts.set_count(technician, started.session_id, line_b.line_id, 1)

    approved = counts.approve(pharmacist, started.session_id)
    assert approved.session.status == "approved" and approved.session.approved_by == "phil"
    assert len(approved.movement_ids) == 3 and not approved.form_106_due
    # (final count − expected) applied: the 5 broken while counting stay taken off.
    assert on_hand(services, lot_a) == Decimal(200)
    assert on_hand(services, lot_b) == Decimal(85)
    assert on_hand(services, lot_c) == Decimal(96)
    assert on_hand(services, fridge) == Decimal(100)
    with services.database.reading() as session:
        assert session.get_one(StockLot, fridge).location == "shelf"
        kinds = session.scalars(
            select(StockMovement.kind).where(StockMovement.id.in_(approved.movement_ids))
        ).all()
        assert set(kinds) == {"count_correction"}
        [discrepancy] = session.scalars(select(ControlledDiscrepancy)).all()
        assert discrepancy.lot_id == lot_c and discrepancy.status == "open"
        assert (discrepancy.expected, discrepancy.counted) == (Decimal(100), Decimal(96))
        assert discrepancy.loss_report_id is None  # 4 C-IV units: below the house threshold
        entry = session.scalars(
            select(ControlledSubstanceEntry).where(
                ControlledSubstanceEntry.kind == "count_correction"
            )
        ).one()
        assert entry.quantity == Decimal(-4) and entry.balance_after == Decimal(96)
    assert open_items(services, "count_approval") == []
    ledger_is_whole(services)
    # The location is free to count again.
    assert counts.start(technician, location="shelf").status == "counting"


def test_uncounted_lots_of_other_schedules_are_left_as_the_ledger_says(
    services: Services, counts: CountService, technician: Actor, pharmacist: Actor
) -> None:
    counted = stock(services, technician, LISINOPRIL_100, "L1", 100)
    skipped = stock(services, technician, LISINOPRIL_100, "L2", 100)
    started = counts.start(technician, package_id=package_id(services, LISINOPRIL_100))
    with pytest.raises(CountRefused, match="Count at least one lot"):
        counts.submit(technician, started.session_id)
    counts.set_count(technician, started.session_id, line_of(started.lines, counted).line_id, 98)
    counts.submit(technician, started.session_id)
    counts.approve(pharmacist, started.session_id)
    assert (on_hand(services, counted), on_hand(services, skipped)) == (98, 100)
    ledger_is_whole(services)


def test_an_unknown_lot_scanned_is_created_at_zero_and_brought_in(
    services: Services, counts: CountService, technician: Actor, pharmacist: Actor
) -> None:
    started = counts.start(technician, location="shelf")
    assert started.lines == ()
    before = written(services)
    line = counts.scan(technician, started.session_id, datamatrix(LISINOPRIL_100, "NEW1"))
    assert line.expected == 0 and line.counted == Decimal(100) and line.location == "shelf"
    assert written(services).lots == before.lots + 1
    counts.submit(technician, started.session_id)
    counts.approve(pharmacist, started.session_id)
    assert on_hand(services, line.lot_id) == Decimal(100)
    with services.database.reading() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "count.lot_created" in actions
    ledger_is_whole(services)


def test_a_upc_needs_the_lot_and_a_new_lot_its_expiry(
    services: Services, counts: CountService, technician: Actor
) -> None:
    lot = stock(services, technician, LISINOPRIL_100, "UP1", 100)
    started = counts.start(technician, location="shelf")
    code = upc_a_for(parse_ndc(LISINOPRIL_100))
    with pytest.raises(LotNeeded, match="carries no lot"):
        counts.scan(technician, started.session_id, code)
    line = counts.scan(technician, started.session_id, code, lot_number="UP1", quantity="37")
    assert line.lot_id == lot and line.counted == Decimal(37)
    with pytest.raises(LotNeeded, match="not on record: type its expiry"):
        counts.scan(technician, started.session_id, code, lot_number="UP2")
    with pytest.raises(CountRefused, match="on record with expiry"):
        counts.scan(technician, started.session_id, code, lot_number="UP1", expiry=FRIDAY)
    added = counts.scan(technician, started.session_id, code, lot_number="UP2", expiry=EXPIRY)
    assert added.counted == Decimal(100) and added.expected == 0


def test_a_package_count_refuses_another_ndc(
    services: Services, counts: CountService, technician: Actor
) -> None:
    started = counts.start(technician, package_id=package_id(services, LISINOPRIL_100))
    with pytest.raises(CountRefused, match="is not in this count of NDC 65862-039-01"):
        counts.scan(technician, started.session_id, datamatrix(ALPRAZOLAM, "X"))


@pytest.mark.parametrize(
    ("quantity", "message"),
    [("-1", "0 or more"), ("abc", "not a number"), ("1.0001", "three decimals"), (1.5, "count")],
)
def test_a_bad_count_is_refused_and_writes_nothing(
    services: Services, counts: CountService, technician: Actor, quantity, message: str
) -> None:
    lot = stock(services, technician, LISINOPRIL_100, "B1", 100)
    started = counts.start(technician, location="shelf")
    before = written(services)
    with pytest.raises(ValidationFailed, match=message):
        counts.set_count(
            technician, started.session_id, line_of(started.lines, lot).line_id, quantity
        )
    assert written(services) == before


# --- schedule II ------------------------------------------------------------------------------


def test_schedule_ii_is_counted_exactly_recounted_and_second_signed(
    services: Services,
    counts: CountService,
    technician: Actor,
    colleague: Actor,
    pharmacist: Actor,
) -> None:
    cabinet = "controlled-substance cabinet"
    first = stock(services, technician, OXYCODONE_100, "OX1", 100, location=cabinet)
    second = stock(services, technician, OXYCODONE_100, "OX2", 100, location=cabinet)
    started = counts.start(technician, location=cabinet)
    line_1 = line_of(started.lines, first)
    counts.set_count(technician, started.session_id, line_1.line_id, 100)
    with pytest.raises(CountRefused, match=r"Every schedule II lot must be counted.*lot OX2"):
        counts.submit(technician, started.session_id)
    line_2 = line_of(started.lines, second)
    with pytest.raises(CountRefused, match=r"counted in whole units, not 97\.5"):
        counts.set_count(technician, started.session_id, line_2.line_id, "97.5")
    counts.set_count(technician, started.session_id, line_2.line_id, 97)
    with pytest.raises(CountRefused, match="must be recounted"):
        counts.submit(technician, started.session_id)
    with pytest.raises(CountRefused, match="whole units"):
        counts.recount(technician, started.session_id, line_2.line_id, "97.5")
    counts.recount(technician, started.session_id, line_2.line_id, 97)

    # House policy (default: schedule II) wants a second person, not the one who counted.
    with pytest.raises(
        WitnessRequired,
        match=r"By house policy \(not a DEA rule\), counts of schedule II are signed",
    ):
        counts.submit(technician, started.session_id)
    with pytest.raises(WitnessRequired, match="someone other than tess"):
        counts.submit(technician, started.session_id, second_signer=technician)
    colleague_counted = counts.set_count(colleague, started.session_id, line_1.line_id, 100)
    assert colleague_counted.counted == 100
    with pytest.raises(CountRefused, match="toby counted lots of this count"):
        counts.submit(technician, started.session_id, second_signer=colleague)
    counts.set_count(technician, started.session_id, line_1.line_id, 100)
    submitted = counts.submit(technician, started.session_id, second_signer=colleague)
    assert submitted.second_signer == "toby"

    approved = counts.approve(pharmacist, started.session_id)
    [report] = approved.loss_reports
    assert report.schedule == "CII" and report.quantity == Decimal(3)
    assert report.status == "due" and report.lot_number == "OX2"
    assert report.due_on == next_business_day(date.today())
    with services.database.reading() as session:
        entry = session.scalars(
            select(ControlledSubstanceEntry).where(
                ControlledSubstanceEntry.kind == "count_correction"
            )
        ).one()
        assert entry.witness_user_id == colleague.user_id
        assert entry.user_id == pharmacist.user_id
        discrepancy = session.scalars(select(ControlledDiscrepancy)).one()
        assert discrepancy.loss_report_id == report.report_id
    [item] = open_items(services, "dea_106")
    assert item.entity_id == str(report.report_id) and "DEA Form 106 due" in item.summary
    # The discrepancy waits on the pharmacist's list until its investigation is signed off.
    [investigation] = open_items(services, "controlled_discrepancy")
    assert investigation.entity_id == str(discrepancy.id)
    assert "counted 97" in investigation.summary and "the log says 100" in investigation.summary
    services.controlled.add_investigation_note(pharmacist, discrepancy.id, "Video reviewed.")
    services.controlled.sign_off(pharmacist, discrepancy.id, "Loss reported on Form 106.")
    assert open_items(services, "controlled_discrepancy") == []
    ledger_is_whole(services)


def test_a_schedule_ii_overage_is_a_discrepancy_but_no_form_106(
    services: Services, counts: CountService, technician: Actor, colleague: Actor, pharmacist
) -> None:
    lot = stock(services, technician, OXYCODONE_100, "OV", 100)
    started = counts.start(technician, location="shelf")
    line = line_of(started.lines, lot)
    counts.set_count(technician, started.session_id, line.line_id, 101)
    counts.recount(technician, started.session_id, line.line_id, 101)
    counts.submit(technician, started.session_id, second_signer=colleague)
    approved = counts.approve(pharmacist, started.session_id)
    assert len(approved.discrepancy_ids) == 1 and not approved.form_106_due
    assert on_hand(services, lot) == Decimal(101)


# --- the house's second signature -----------------------------------------------------------


@pytest.mark.parametrize(
    ("signature", "schedules", "needed"),
    [
        (SecondSignature.NONE, {"CII"}, False),
        (SecondSignature.SCHEDULE_II, {"CII", None}, True),
        (SecondSignature.SCHEDULE_II, {"CIV", None}, False),
        (SecondSignature.CONTROLLED, {"CIV", None}, True),
        (SecondSignature.CONTROLLED, {None}, False),
        (SecondSignature.EVERY, {None}, True),
        (SecondSignature.EVERY, set(), True),
    ],
)
def test_which_counts_need_a_second_signature(
    signature: SecondSignature, schedules: set[str | None], needed: bool
) -> None:
    lines = [
        CountLineRow(
            line_id=1,
            lot_id=1,
            package_id=1,
            ndc="1",
            drug="x",
            dea_schedule=schedule,
            countable=True,
            lot_number="L",
            expiry=EXPIRY,
            location="shelf",
            expected=Decimal(1),
            counted=Decimal(1),
            recount=None,
            movement_id=None,
        )
        for schedule in schedules
    ]
    assert second_signature_needed(CountPolicy(second_signature=signature), lines) is needed


def test_every_count_policy_asks_a_signature_of_a_plain_count(
    services: Services, counts: CountService, admin: Actor, technician: Actor, colleague: Actor
) -> None:
    set_policy(services, admin, SecondSignature.EVERY)
    lot = stock(services, technician, LISINOPRIL_100, "E1", 100)
    started = counts.start(technician, location="shelf")
    counts.set_count(technician, started.session_id, line_of(started.lines, lot).line_id, 100)
    with pytest.raises(WitnessRequired, match="all counts are signed by a second person"):
        counts.submit(technician, started.session_id)
    assert counts.submit(technician, started.session_id, second_signer=colleague).second_signer


def test_no_signature_policy_lets_schedule_ii_go_without_one(
    services: Services, counts: CountService, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    set_policy(services, admin, SecondSignature.NONE)
    lot = stock(services, technician, OXYCODONE_100, "N1", 100)
    started = counts.start(technician, location="shelf")
    counts.set_count(technician, started.session_id, line_of(started.lines, lot).line_id, 100)
    submitted = counts.submit(technician, started.session_id)
    assert submitted.second_signer is None
    counts.approve(pharmacist, started.session_id)


def test_the_count_policy_is_validated_and_audited(
    services: Services, admin: Actor, technician: Actor
) -> None:
    assert services.house_settings.count_policy() == CountPolicy(
        second_signature=SecondSignature.SCHEDULE_II, loss_threshold_units=10
    )
    with pytest.raises(ValidationFailed, match="not a second-signature choice"):
        services.house_settings.set_count_policy(
            admin,
            CountPolicy(second_signature="sometimes", loss_threshold_units=1),  # type: ignore[arg-type]
        )
    with pytest.raises(ValidationFailed, match="whole number of units"):
        services.house_settings.set_count_policy(
            admin, CountPolicy(second_signature=SecondSignature.NONE, loss_threshold_units=-1)
        )
    with pytest.raises(PermissionDenied):
        services.house_settings.set_count_policy(technician, CountPolicy())
    saved = services.house_settings.set_count_policy(
        admin, CountPolicy(second_signature=SecondSignature.CONTROLLED, loss_threshold_units=3)
    )
    assert saved.second_signature is SecondSignature.CONTROLLED
    with services.database.reading() as session:
        changed = session.scalars(
            select(AuditEvent.entity_id).where(AuditEvent.action == "settings.changed")
        ).all()
    assert {"count_second_signature", "controlled_loss_threshold_units"} <= set(changed)


# --- significant losses and DEA Form 106 ----------------------------------------------------


def test_business_days_skip_the_weekend() -> None:
    assert next_business_day(date(2026, 11, 25)) == date(2026, 11, 26)  # Wednesday
    assert next_business_day(FRIDAY) == date(2026, 11, 30)  # Monday
    assert next_business_day(date(2026, 11, 28)) == date(2026, 11, 30)  # Saturday


def counted_loss(
    services: Services, counts: CountService, technician: Actor, ndc: str, lot: str, lost: int
) -> int:
    lot_id = stock(services, technician, ndc, lot, 100)
    started = counts.start(technician, package_id=package_id(services, ndc))
    line = line_of(started.lines, lot_id)
    counts.set_count(technician, started.session_id, line.line_id, 100 - lost)
    counts.recount(technician, started.session_id, line.line_id, 100 - lost)
    return started.session_id


def test_a_loss_found_on_a_friday_is_due_on_monday(
    services: Services, catalogue: None, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    set_policy(services, admin, SecondSignature.CONTROLLED, units=5)
    friday = CountService(services.database, today=lambda: FRIDAY)
    colleague = add_user(services, admin, "toby", Role.TECHNICIAN)
    session_id = counted_loss(services, friday, technician, ALPRAZOLAM, "F1", 6)
    friday.submit(technician, session_id, second_signer=colleague)
    [report] = friday.approve(pharmacist, session_id).loss_reports
    assert report.due_on == date(2026, 11, 30) and report.schedule == "CIV"
    assert report.loss_type == "significant_loss" and report.count_session_id == session_id
    assert [row.report_id for row in friday.loss_reports(technician)] == [report.report_id]
    assert not report.overdue(date(2026, 11, 30)) and report.overdue(date(2026, 12, 1))


def test_a_loss_at_the_threshold_is_not_significant(
    services: Services, counts: CountService, admin: Actor, technician: Actor, pharmacist
) -> None:
    set_policy(services, admin, SecondSignature.NONE, units=5)
    session_id = counted_loss(services, counts, technician, ALPRAZOLAM, "T1", 5)
    counts.submit(technician, session_id)
    approved = counts.approve(pharmacist, session_id)
    assert len(approved.discrepancy_ids) == 1 and approved.loss_reports == ()
    assert open_items(services, "dea_106") == []


def test_form_106_is_recorded_filed_or_withdrawn_by_a_pharmacist(
    services: Services, counts: CountService, admin: Actor, technician: Actor, pharmacist
) -> None:
    set_policy(services, admin, SecondSignature.NONE, units=0)
    first = counted_loss(services, counts, technician, ALPRAZOLAM, "W1", 2)
    counts.submit(technician, first)
    [filed] = counts.approve(pharmacist, first).loss_reports
    second = counted_loss(services, counts, technician, LISINOPRIL_100, "W2", 2)
    counts.submit(technician, second)
    assert counts.approve(pharmacist, second).loss_reports == ()  # not controlled
    third = counted_loss(services, counts, technician, ALPRAZOLAM, "W3", 1)
    counts.submit(technician, third)
    [withdrawn] = counts.approve(pharmacist, third).loss_reports
    assert len(open_items(services, "dea_106")) == 2

    before = written(services)
    with pytest.raises(PermissionDenied, match="Only a pharmacist may record a DEA Form 106"):
        counts.record_form_106_filed(technician, filed.report_id, dea_reference="DEA-1")
    assert written(services) == before
    with pytest.raises(ValidationFailed, match="Type the reference DEA gave"):
        counts.record_form_106_filed(pharmacist, filed.report_id, dea_reference="  ")
    with pytest.raises(ValidationFailed, match="in the future"):
        counts.record_form_106_filed(
            pharmacist,
            filed.report_id,
            dea_reference="DEA-1",
            filed_at=utc_now() + timedelta(hours=1),
        )
    done = counts.record_form_106_filed(pharmacist, filed.report_id, dea_reference=" DEA-1 ")
    assert (done.status, done.dea_reference, done.filed_by) == ("filed", "DEA-1", "phil")
    assert done.filed_at is not None
    with pytest.raises(CountRefused, match="already filed"):
        counts.withdraw_form_106(pharmacist, filed.report_id, reason="found")
    with pytest.raises(ValidationFailed, match="Say why"):
        counts.withdraw_form_106(pharmacist, withdrawn.report_id, reason="")
    gone = counts.withdraw_form_106(pharmacist, withdrawn.report_id, reason="found in the safe")
    assert gone.status == "withdrawn" and gone.note == "found in the safe"
    assert open_items(services, "dea_106") == []
    assert counts.loss_reports(pharmacist) == []
    assert len(counts.loss_reports(pharmacist, include_closed=True)) == 2
    with pytest.raises(NotFound):
        counts.withdraw_form_106(pharmacist, 9999, reason="x")


# --- who may do what, and workstations ------------------------------------------------------


def test_a_technician_cannot_approve_and_nothing_is_written(
    services: Services, counts: CountService, technician: Actor, pharmacist: Actor
) -> None:
    lot = stock(services, technician, LISINOPRIL_100, "P1", 100)
    started = counts.start(technician, location="shelf")
    counts.set_count(technician, started.session_id, line_of(started.lines, lot).line_id, 90)
    counts.submit(technician, started.session_id)
    before = written(services)
    with pytest.raises(PermissionDenied, match="Only a pharmacist may approve a count"):
        counts.approve(technician, started.session_id)
    assert written(services) == before and on_hand(services, lot) == Decimal(100)
    assert counts.get(technician, started.session_id).status == "submitted"
    assert len(open_items(services, "count_approval")) == 1
    with services.database.reading() as session:
        denied = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "access.denied")
        ).one()
    assert denied.username == "tess" and denied.entity_id == "approve a count"
    counts.approve(pharmacist, started.session_id)
    with pytest.raises(CountRefused, match="approved, not waiting for approval"):
        counts.approve(pharmacist, started.session_id)


def test_a_second_workstation_cannot_count_the_same_scope(
    services: Services, counts: CountService, admin: Actor, technician: Actor
) -> None:
    other_desk = dataclasses.replace(
        add_user(services, admin, "toby", Role.TECHNICIAN), workstation="counter-2"
    )
    first = counts.start(technician, location="refrigerator")
    before = written(services)
    with pytest.raises(CountInProgress) as refused:
        counts.start(other_desk, location="refrigerator")
    assert "The refrigerator is already being counted: Tess (tess)" in refused.value.message
    assert f"count {first.session_id} at workstation test-workstation" in refused.value.message
    assert written(services) == before
    # Another location, or the same one once the first count is over, can be counted.
    assert counts.start(other_desk, location="shelf").workstation == "counter-2"
    oxy = package_id(services, OXYCODONE_100)
    counts.start(technician, package_id=oxy)
    with pytest.raises(CountInProgress, match="NDC 65162-047-10 is already being counted"):
        counts.start(other_desk, package_id=oxy)
    counts.cancel(technician, first.session_id, reason="interrupted by a delivery")
    assert counts.start(other_desk, location="refrigerator").status == "counting"
    with services.database.reading() as session:
        active = session.scalars(
            select(CountSession.scope_key).where(CountSession.status == "counting")
        ).all()
    assert sorted(active) == [
        "location:refrigerator",
        "location:shelf",
        f"package:{oxy}",
    ]


def test_two_workstations_starting_together_get_one_count(
    services: Services, counts: CountService, admin: Actor, technician: Actor
) -> None:
    """Both reach the database at once: the unique index lets one count through, and the other
    is told who holds the scope (on PostgreSQL the second insert waits for the first's commit)."""
    other_desk = dataclasses.replace(
        add_user(services, admin, "toby", Role.TECHNICIAN), workstation="counter-2"
    )
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def start(actor: Actor) -> None:
        barrier.wait()
        try:
            outcomes.append(counts.start(actor, location="shelf"))
        except CountInProgress as refused:
            outcomes.append(refused)

    threads = [threading.Thread(target=start, args=(actor,)) for actor in (technician, other_desk)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    started = [outcome for outcome in outcomes if not isinstance(outcome, CountInProgress)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, CountInProgress)]
    assert len(started) == 1 and len(refused) == 1
    assert "The shelf is already being counted" in refused[0].message
    with services.database.reading() as session:
        assert len(session.scalars(select(CountSession)).all()) == 1


def test_an_interrupted_count_resumes_where_it_was_left(
    services: Services, catalogue: None, technician: Actor
) -> None:
    lot = stock(services, technician, LISINOPRIL_100, "R1", 300)
    window = CountService(services.database)
    started = window.start(technician, location="shelf")
    window.scan(technician, started.session_id, datamatrix(LISINOPRIL_100, "R1", serial="1"))
    window.scan(technician, started.session_id, datamatrix(LISINOPRIL_100, "R1", serial="2"))

    reopened = CountService(services.database)  # another window, or another workstation
    [active] = reopened.active(technician)
    assert active.session_id == started.session_id and active.started_by == "tess"
    line = line_of(reopened.get(technician, started.session_id).lines, lot)
    assert line.counted == Decimal(200) and line.expected == Decimal(300)
    resumed = reopened.scan(
        technician, started.session_id, datamatrix(LISINOPRIL_100, "R1", serial="3")
    )
    assert resumed.counted == Decimal(300) and not resumed.discrepant


def test_a_cancelled_count_changes_no_stock_and_leaves_the_work_list(
    services: Services, counts: CountService, technician: Actor
) -> None:
    lot = stock(services, technician, LISINOPRIL_100, "C1", 100)
    started = counts.start(technician, location="shelf")
    counts.set_count(technician, started.session_id, line_of(started.lines, lot).line_id, 1)
    counts.submit(technician, started.session_id)
    with pytest.raises(ValidationFailed, match="Say why"):
        counts.cancel(technician, started.session_id, reason=" ")
    cancelled = counts.cancel(technician, started.session_id, reason="wrong shelf")
    assert cancelled.status == "cancelled" and cancelled.closed_reason == "wrong shelf"
    assert open_items(services, "count_approval") == []
    assert on_hand(services, lot) == Decimal(100)
    with pytest.raises(CountRefused, match="already cancelled"):
        counts.cancel(technician, started.session_id, reason="again")
    assert counts.active(technician) == []


def test_start_is_refused_for_a_bad_scope(counts: CountService, technician: Actor) -> None:
    with pytest.raises(ValidationFailed, match="either a location or a package"):
        counts.start(technician)
    with pytest.raises(ValidationFailed, match="not a stock location"):
        counts.start(technician, location="basement")
    with pytest.raises(NotFound):
        counts.start(technician, package_id=999_999)


def test_loss_reports_list_overdue_ones_first(
    services: Services, catalogue: None, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    set_policy(services, admin, SecondSignature.NONE, units=0)
    days = iter([date(2026, 11, 23), date(2026, 11, 20)])
    counts = CountService(services.database, today=lambda: next(days))
    first = counted_loss(services, counts, technician, ALPRAZOLAM, "O1", 1)
    counts.submit(technician, first)
    counts.approve(pharmacist, first)
    second = counted_loss(services, counts, technician, OXYCODONE_100, "O2", 1)
    counts.submit(technician, second)
    counts.approve(pharmacist, second)
    reports = counts.loss_reports(pharmacist)
    assert [report.due_on for report in reports] == [date(2026, 11, 23), date(2026, 11, 24)]
    with services.database.reading() as session:
        assert len(session.scalars(select(DeaLossReport)).all()) == 2


def test_a_lot_from_elsewhere_counted_at_zero_stays_where_it_was(
    services: Services, counts: CountService, technician: Actor, pharmacist: Actor
) -> None:
    fridge = stock(services, technician, LISINOPRIL_100, "Z1", 50, location="refrigerator")
    started = counts.start(technician, location="shelf")
    line = counts.scan(
        technician, started.session_id, datamatrix(LISINOPRIL_100, "Z1"), quantity="0"
    )
    assert line.difference == Decimal(-50)
    counts.submit(technician, started.session_id)
    counts.approve(pharmacist, started.session_id)
    with services.database.reading() as session:
        lot = session.get_one(StockLot, fridge)
    assert (lot.location, lot.on_hand) == ("refrigerator", Decimal(0))
    ledger_is_whole(services)

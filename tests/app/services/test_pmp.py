"""PMP reporting: which dispensing goes into which day's ASAP file, zero reports, voids of fills
put back after they were reported, pending days, files made again, sending and saving."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import (
    AuditEvent,
    DrugPackage,
    Fill,
    PmpReport,
    Prescription,
)
from app.domain import asap
from app.domain.fill_states import FillState
from app.errors import NotFound, PermissionDenied, ValidationFailed
from app.services.pmp import PMP_REPORT, PmpRefused, PmpReportRow, PmpService
from app.services.unit_of_work import Actor
from tests.app.services.pmp_data import (
    ALPRAZOLAM,
    controlled_fill,
    dispense,
    put_back,
    records_of,
)
from tests.app.services.verification_data import (
    LISINOPRIL,
    OXYCODONE,
    catalogue_fill,
    receive_lot,
)

TODAY = date(2026, 11, 26)
DAY = TODAY - timedelta(days=3)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def pmp(services: Services) -> PmpService:
    return PmpService(services.database, today=lambda: TODAY, now=lambda: at(TODAY, 7), zone=UTC)


def ndc11_of(services: Services, fill_id: int) -> str:
    with services.database.reading() as session:
        return session.scalars(
            select(DrugPackage.ndc11)
            .join(Prescription, Prescription.package_id == DrugPackage.id)
            .join(Fill, Fill.prescription_id == Prescription.id)
            .where(Fill.id == fill_id)
        ).one()


def waiting_to_send(services: Services, pharmacist: Actor) -> list[str]:
    """The files on the pharmacist's work list, to be sent."""
    return [
        item.entity_id for item in services.worklist.items(pharmacist) if item.kind == PMP_REPORT
    ]


def test_schedule_ii_and_iv_dispensing_is_reported_and_a_plain_drug_is_not(
    services: Services, admin: Actor, technician: Actor, pmp: PmpService
) -> None:
    oxycodone, oxycodone_lot = controlled_fill(services, admin, OXYCODONE)
    alprazolam, alprazolam_lot = controlled_fill(services, admin, ALPRAZOLAM)
    plain, plain_lot = controlled_fill(services, admin, LISINOPRIL)
    for fill_id, lot_id in ((oxycodone, oxycodone_lot), (alprazolam, alprazolam_lot)):
        dispense(services, admin, fill_id, lot_id, 30, at(DAY))
    dispense(services, admin, plain, plain_lot, 30, at(DAY))

    row = pmp.generate(technician, DAY)

    parsed = records_of(services, row.report_id)
    assert row.record_count == 2 and not row.zero_report
    assert sorted(record.ndc11 for record in parsed.records) == sorted(
        [ndc11_of(services, oxycodone), ndc11_of(services, alprazolam)]
    )
    assert {record.status for record in parsed.records} == {asap.ReportingStatus.NEW}
    assert {record.filled_on for record in parsed.records} == {DAY}
    assert {record.quantity for record in parsed.records} == {Decimal(30)}
    assert row.file_name == f"1234567_IL_{DAY:%Y%m%d}.dat"
    assert (row.state, row.report_date, row.status) == ("IL", DAY, "generated")
    assert row.generated_by == technician.username


def test_days_without_dispensing_get_zero_reports_and_pending_days_are_listed(
    services: Services, admin: Actor, technician: Actor, pmp: PmpService
) -> None:
    assert pmp.pending_days(technician) == []  # nothing dispensed yet: no day to report
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)
    dispense(services, admin, fill_id, lot_id, 20, at(DAY))

    assert pmp.pending_days(technician) == [DAY, DAY + timedelta(days=1), TODAY - timedelta(1)]
    made = pmp.generate_pending(technician)

    assert [row.report_date for row in made] == [DAY, DAY + timedelta(days=1), DAY + timedelta(2)]
    assert [row.record_count for row in made] == [1, 0, 0]
    for row in made[1:]:
        parsed = records_of(services, row.report_id)
        assert parsed.zero_report and row.zero_report
        assert parsed.segments[4].element(5) == f"{row.report_date:%Y%m%d}"  # DSP05
    assert pmp.pending_days(technician) == []
    assert pmp.generate_pending(technician) == []


def test_a_fill_put_back_after_it_was_reported_is_voided_in_the_next_file(
    services: Services, admin: Actor, technician: Actor, pmp: PmpService
) -> None:
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)
    bottle = dispense(services, admin, fill_id, lot_id, 20, at(DAY))
    first = pmp.generate(technician, DAY)
    put_back(services, admin, bottle, at(DAY + timedelta(days=1), 15))

    second = pmp.generate(technician, DAY + timedelta(days=1))
    third = pmp.generate(technician, DAY + timedelta(days=2))

    (reported,) = records_of(services, first.report_id).records
    (voided,) = records_of(services, second.report_id).records
    assert voided.status is asap.ReportingStatus.VOID
    assert voided.dispensing.elements[1:] == reported.dispensing.elements[1:]
    assert third.zero_report  # voided once, not again


def test_a_fill_put_back_the_same_day_is_never_reported(
    services: Services, admin: Actor, technician: Actor, pmp: PmpService
) -> None:
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)
    bottle = dispense(services, admin, fill_id, lot_id, 20, at(DAY, 9))
    put_back(services, admin, bottle, at(DAY, 17))

    assert pmp.generate(technician, DAY).zero_report


def test_a_reported_fill_given_another_bottle_is_voided_and_reported_anew(
    services: Services, admin: Actor, technician: Actor, pmp: PmpService
) -> None:
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)
    dispense(services, admin, fill_id, lot_id, 10, at(DAY))
    pmp.generate(technician, DAY)
    dispense(services, admin, fill_id, lot_id, 20, at(DAY + timedelta(days=1)))

    row = pmp.generate(technician, DAY + timedelta(days=1))

    voided, renewed = records_of(services, row.report_id).records
    assert (voided.status, voided.quantity, voided.filled_on) == (
        asap.ReportingStatus.VOID,
        Decimal(10),
        DAY,
    )
    assert (renewed.status, renewed.quantity, renewed.filled_on) == (
        asap.ReportingStatus.NEW,
        Decimal(30),
        DAY + timedelta(days=1),
    )


def test_a_day_is_the_pharmacys_local_day(
    services: Services, admin: Actor, technician: Actor
) -> None:
    chicago = PmpService(
        services.database,
        today=lambda: TODAY,
        now=lambda: at(TODAY, 7),
        zone=ZoneInfo("America/Chicago"),
    )
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)
    dispense(services, admin, fill_id, lot_id, 20, at(DAY, 3))  # 21:00 the evening before

    assert chicago.pending_days(technician)[0] == DAY - timedelta(days=1)
    (record,) = records_of(
        services, chicago.generate(technician, DAY - timedelta(days=1)).report_id
    ).records
    assert record.filled_on == DAY - timedelta(days=1)


def test_files_are_made_in_date_order_and_only_for_days_that_are_over(
    services: Services, admin: Actor, technician: Actor, pmp: PmpService
) -> None:
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)
    dispense(services, admin, fill_id, lot_id, 20, at(DAY))

    with pytest.raises(PmpRefused, match="not over yet"):
        pmp.generate(technician, TODAY)
    with pytest.raises(PmpRefused, match=f"first: {DAY.isoformat()}"):
        pmp.generate(technician, DAY + timedelta(days=1))
    with pytest.raises(ValidationFailed, match="not over yet"):
        pmp.pending_days(technician, through=TODAY)
    pmp.generate_pending(technician)
    with pytest.raises(PmpRefused, match="date order"):
        pmp.generate(technician, DAY - timedelta(days=1))
    with pytest.raises(ValidationFailed, match="not a US state"):
        pmp.generate(technician, DAY, state="XX")


def test_a_file_made_again_replaces_the_old_one(
    services: Services, admin: Actor, technician: Actor, pmp: PmpService
) -> None:
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)
    dispense(services, admin, fill_id, lot_id, 20, at(DAY))
    old = pmp.generate(technician, DAY)

    new = pmp.generate(technician, DAY)

    assert new.replaces_id == old.report_id and new.status == "generated"
    assert waiting_to_send(services, admin) == [str(new.report_id)]  # the old one is off it
    assert new.file_name == f"1234567_IL_{DAY:%Y%m%d}_2.dat"
    rows = {row.report_id: row for row in pmp.reports(technician)}
    assert rows[old.report_id].status == "replaced"
    assert [r.dispensing.elements for r in records_of(services, new.report_id).records] == [
        r.dispensing.elements for r in records_of(services, old.report_id).records
    ]
    with services.database.reading() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "pmp_reports")
        ).all()
    assert actions.count("pmp.generated") == 2 and "pmp.replaced" in actions


def test_a_file_already_sent_is_replaced_only_by_a_pharmacist_with_a_reason(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, pmp: PmpService
) -> None:
    sent = pmp.generate(technician, DAY)
    pmp.mark_sent(pharmacist, sent.report_id, destination="sftp://pmp.example.gov")

    with pytest.raises(PermissionDenied):
        pmp.generate(technician, DAY, reason="the PMP asked for it again")
    with pytest.raises(PmpRefused, match="say why"):
        pmp.generate(pharmacist, DAY)
    again = pmp.generate(pharmacist, DAY, reason="The PMP rejected the file")

    assert again.replaces_id == sent.report_id
    old = next(row for row in pmp.reports(pharmacist) if row.report_id == sent.report_id)
    assert (old.status, old.destination) == ("replaced", "sftp://pmp.example.gov")


def test_a_pharmacist_marks_a_file_sent_once_with_where_it_went(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, pmp: PmpService
) -> None:
    row = pmp.generate(technician, DAY)
    assert waiting_to_send(services, pharmacist) == [str(row.report_id)]

    with pytest.raises(PermissionDenied):
        pmp.mark_sent(technician, row.report_id, destination="upload site")
    with pytest.raises(ValidationFailed, match="where the file was sent"):
        pmp.mark_sent(pharmacist, row.report_id, destination="   ")
    sent = pmp.mark_sent(pharmacist, row.report_id, destination="  PMP   upload site ")

    assert (sent.status, sent.destination, sent.sent_by) == (
        "sent",
        "PMP upload site",
        pharmacist.username,
    )
    assert sent.sent_at == at(TODAY, 7)
    assert waiting_to_send(services, pharmacist) == []
    with pytest.raises(PmpRefused, match="already marked sent"):
        pmp.mark_sent(pharmacist, row.report_id, destination="again")
    with pytest.raises(NotFound):
        pmp.mark_sent(pharmacist, 999, destination="somewhere")


def test_a_replaced_file_cannot_be_marked_sent(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, pmp: PmpService
) -> None:
    old = pmp.generate(technician, DAY)
    pmp.generate(technician, DAY)

    with pytest.raises(PmpRefused, match="replaced"):
        pmp.mark_sent(pharmacist, old.report_id, destination="upload site")


def test_save_file_writes_the_exact_bytes_under_the_files_name(
    services: Services, admin: Actor, technician: Actor, pmp: PmpService, tmp_path: Path
) -> None:
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)
    dispense(services, admin, fill_id, lot_id, 20, at(DAY))
    row = pmp.generate(technician, DAY)

    saved = pmp.save_file(technician, row.report_id, tmp_path)

    assert saved == tmp_path / row.file_name
    with services.database.reading() as session:
        stored = session.get(PmpReport, row.report_id)
        assert stored is not None
        assert saved.read_bytes() == stored.content.encode("ascii")
    assert pmp.save_file(technician, row.report_id, tmp_path) == saved  # same bytes: fine
    saved.write_bytes(b"something else")
    with pytest.raises(PmpRefused, match="different file"):
        pmp.save_file(technician, row.report_id, tmp_path)
    with pytest.raises(ValidationFailed, match="no folder"):
        pmp.save_file(technician, row.report_id, tmp_path / "missing")
    with services.database.reading() as session:
        saves = session.scalars(
            select(AuditEvent.summary).where(AuditEvent.action == "pmp.saved")
        ).all()
    assert len(saves) == 2 and saves[0]["path"] == str(saved)


def test_a_non_resident_states_file_holds_only_its_residents(
    services: Services, admin: Actor, technician: Actor, pmp: PmpService
) -> None:
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)  # the patient has no state
    dispense(services, admin, fill_id, lot_id, 20, at(DAY))

    assert pmp.generate(technician, DAY, state="wi").zero_report
    assert pmp.generate(technician, DAY).record_count == 1


def test_patient_data_goes_into_the_file_only_never_a_log_or_an_audit_event(
    services: Services,
    admin: Actor,
    technician: Actor,
    pmp: PmpService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)
    dispense(services, admin, fill_id, lot_id, 20, at(DAY))
    caplog.set_level(logging.DEBUG)

    row = pmp.generate(technician, DAY)

    (record,) = records_of(services, row.report_id).records
    assert record.segments[0].element(7) == "Quibble"  # PAT07: the law wants it in the file
    assert "Quibble" not in caplog.text
    with services.database.reading() as session:
        summaries = session.scalars(
            select(AuditEvent.summary).where(AuditEvent.entity_type == "pmp_reports")
        ).all()
    assert summaries and all("Quibble" not in str(summary) for summary in summaries)


def test_the_log_and_the_files_agree_on_a_demo_scale_day(
    services: Services, admin: Actor, technician: Actor, pmp: PmpService
) -> None:
    """Every controlled fill dispensed on the day is in its file exactly once."""
    fills = [controlled_fill(services, admin, ndc) for ndc in (OXYCODONE, ALPRAZOLAM) * 3]
    for index, (fill_id, lot_id) in enumerate(fills):
        dispense(services, admin, fill_id, lot_id, 5 + index, at(DAY, 8 + index))

    row = pmp.generate(technician, DAY)

    quantities = sorted(r.quantity for r in records_of(services, row.report_id).records)
    assert quantities == [Decimal(5 + index) for index in range(len(fills))]


def test_two_workstations_generating_pending_at_once_make_each_days_file_once(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor, pmp: PmpService
) -> None:
    fill_id, lot_id = controlled_fill(services, admin, OXYCODONE)
    dispense(services, admin, fill_id, lot_id, 20, at(DAY))
    start = threading.Barrier(2)
    made: dict[str, list[PmpReportRow]] = {}
    failed: list[BaseException] = []

    def generate(actor: Actor) -> None:
        start.wait()
        try:
            made[actor.username] = pmp.generate_pending(actor)
        except BaseException as error:  # reported below, not lost in the thread
            failed.append(error)

    threads = [threading.Thread(target=generate, args=(a,)) for a in (technician, pharmacist)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failed == []
    assert sorted(len(rows) for rows in made.values()) == [0, 3]  # one made all, one found none
    rows = pmp.reports(technician)
    assert sorted(row.report_date for row in rows) == [DAY + timedelta(days=n) for n in range(3)]
    assert {row.status for row in rows} == {"generated"}


def test_a_ready_fill_returned_to_stock_through_the_workflow_is_voided(
    services: Services, admin: Actor, technician: Actor
) -> None:
    """The whole path: a will-call fill returned to stock by the workflow (bottles voided, the
    log's reversal written now) is voided in the file of the day it went back."""
    now = datetime.now(UTC)
    day = now.date() - timedelta(days=2)
    pmp = PmpService(services.database, today=lambda: now.date() + timedelta(days=1), zone=UTC)
    fill_id = catalogue_fill(services, admin, FillState.READY, product_ndc=OXYCODONE)
    with services.database.reading() as session:
        package_id = session.scalar(
            select(Prescription.package_id).join(Fill).where(Fill.id == fill_id)
        )
        assert package_id is not None
    dispense(services, admin, fill_id, receive_lot(services, admin, package_id), 30, at(day))
    first = pmp.generate(technician, day)
    with services.database.reading() as session:
        version = session.scalar(select(Fill.version).where(Fill.id == fill_id))
        assert version is not None

    services.workflow.return_to_stock(
        technician, fill_id, expected_version=version, reason="Not picked up"
    )

    made = pmp.generate_pending(technician)
    assert [row.report_date for row in made] == [day + timedelta(days=1), now.date()]
    (reported,) = records_of(services, first.report_id).records
    (voided,) = records_of(services, made[-1].report_id).records
    assert voided.status is asap.ReportingStatus.VOID
    assert (voided.rx_number, voided.filled_on) == (reported.rx_number, day)
    assert made[0].zero_report

"""The controlled-substance record: the running balance kept with the ledger, witnessed
count-backs opening discrepancies, their investigation and sign-off, and the DEA inventory."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from app.bootstrap import Services
from app.db.models import (
    AuditEvent,
    ControlledDiscrepancy,
    ControlledInventory,
    Prescription,
    StockLot,
    StockMovement,
    WorkItem,
)
from app.domain.roles import Role
from app.errors import NotFound, PermissionDenied, ValidationFailed
from app.services.controlled import (
    CSV_COLUMNS,
    DISCREPANCY_KIND,
    ControlledSubstanceService,
    InventoryLineInput,
    inventory_csv,
)
from app.services.dispensing import dispense_from_lot
from app.services.inventory import WitnessRequired, _lock_lot
from app.services.unit_of_work import Actor
from tests.app.services.controlled_data import (
    counted_lines,
    package_of_ndc,
    receive,
    set_package_units,
    stock_controlled,
)
from tests.app.services.inventory_data import add_package, add_user
from tests.app.services.pharmacy_data import (
    add_fill,
    add_patient,
    add_prescription,
    load_demo_catalogue,
)
from tests.ui.verification_data import LISINOPRIL_100, datamatrix, upc

OXYCODONE_100 = "65162-047-10"  # C-II in the demo catalogue


@pytest.fixture
def controlled(services: Services) -> ControlledSubstanceService:
    return services.controlled


@pytest.fixture
def witness(services: Services, admin: Actor) -> Actor:
    return add_user(services, admin, "wanda", Role.TECHNICIAN)


def dispense(services: Services, actor: Actor, lot_id: int, package_id: int, quantity: int) -> str:
    """A fill of the package dispensed from the lot, as verification takes it; its Rx number."""
    patient_id = add_patient(services, actor)
    prescription_id = add_prescription(
        services, actor, patient_id=patient_id, package_id=package_id
    )
    fill_id = add_fill(services, actor, prescription_id=prescription_id)
    with services.database.unit_of_work(actor) as uow:
        lot = _lock_lot(uow.session, lot_id)
        lines = dispense_from_lot(
            uow, lot, quantity=Decimal(quantity), fill_id=fill_id, note="verified", schedule="CII"
        )
        uow.audit("test.dispensed", lines.movement)
    with services.database.reading() as session:
        rx_number = session.get_one(Prescription, prescription_id).rx_number
    return f"{rx_number}-0"


def audit_actions(services: Services) -> list[str]:
    with services.database.reading() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# --- the perpetual log ----------------------------------------------------------------------


def test_running_balance_equals_the_ledger_after_receive_dispense_and_adjust(
    services: Services, controlled, admin: Actor, technician: Actor, witness: Actor
) -> None:
    package_id = add_package(services, admin, schedule="CII")
    lot_id = receive(services, technician, package_id, 100)
    rx = dispense(services, technician, lot_id, package_id, 30)
    services.inventory.adjust(
        technician, lot_id, quantity_change=-2, reason="broken tablets", witness=witness
    )

    [row] = controlled.packages(technician)
    lines = controlled.log(technician, package_id)

    assert (row.perpetual_balance, row.on_hand, row.differs) == (Decimal(68), Decimal(68), False)
    assert [(line.kind, line.quantity, line.balance_after) for line in lines] == [
        ("received", Decimal(100), Decimal(100)),
        ("dispensed", Decimal(-30), Decimal(70)),
        ("adjusted", Decimal(-2), Decimal(68)),
    ]
    assert lines[1].rx_number == rx and lines[0].rx_number is None
    assert lines[2].witness == "wanda" and lines[2].username == "tess"
    assert lines[2].note == "broken tablets"
    assert audit_actions(services)[-1] == "controlled.log_viewed"


def test_a_ledger_change_outside_the_log_is_flagged(
    services: Services, controlled, admin: Actor, technician: Actor
) -> None:
    package_id = add_package(services, admin, schedule="CIV")
    lot_id = receive(services, technician, package_id, 50)
    with services.database.unit_of_work(admin) as uow:  # a movement that skipped the log
        uow.session.execute(
            update(StockMovement).where(StockMovement.lot_id == lot_id).values(quantity=48)
        )
        lot = uow.session.get_one(StockLot, lot_id)
        lot.on_hand = Decimal(48)
        uow.audit("test.tampered", lot)

    [row] = controlled.packages(technician)

    assert (row.perpetual_balance, row.on_hand, row.differs) == (Decimal(50), Decimal(48), True)


def test_log_between_days_and_a_backwards_range_is_refused(
    services: Services, controlled, admin: Actor, technician: Actor
) -> None:
    package_id = add_package(services, admin, schedule="CIII")
    receive(services, technician, package_id, 10)
    today = date.today()

    assert len(controlled.log(technician, package_id, since=today, until=today)) == 1
    assert controlled.log(technician, package_id, until=today - timedelta(days=1)) == []
    with pytest.raises(ValidationFailed, match="first day comes first"):
        controlled.log(technician, package_id, since=today, until=today - timedelta(days=1))


def test_log_of_a_plain_package_is_refused(
    services: Services, controlled, admin: Actor, technician: Actor
) -> None:
    plain = add_package(services, admin)
    with pytest.raises(ValidationFailed, match="not a controlled substance"):
        controlled.log(technician, plain)
    with pytest.raises(NotFound):
        controlled.log(technician, 999_999)


# --- count-backs and discrepancies ------------------------------------------------------------


def test_count_back_that_matches_is_recorded_and_opens_nothing(
    services: Services, controlled, admin: Actor, technician: Actor, witness: Actor
) -> None:
    package_id = add_package(services, admin, schedule="CII")
    receive(services, technician, package_id, 100)

    result = controlled.witnessed_count(technician, package_id, counted="100", witness=witness)

    assert result.matches and result.expected == Decimal(100)
    assert controlled.discrepancies(technician) == []
    assert audit_actions(services)[-1] == "controlled.counted_back"


def test_count_back_mismatch_opens_a_discrepancy_and_a_work_item_without_changing_stock(
    services: Services, controlled, admin: Actor, technician: Actor, witness: Actor
) -> None:
    package_id = add_package(services, admin, schedule="CII")
    receive(services, technician, package_id, 100)

    result = controlled.witnessed_count(technician, package_id, counted=97, witness=witness)

    [row] = controlled.discrepancies(technician)
    assert result.discrepancy_id == row.discrepancy_id and not result.matches
    assert (row.expected, row.counted, row.difference) == (Decimal(100), Decimal(97), Decimal(-3))
    assert row.status == "open" and row.found_by == "tess" and row.notes == ()
    [item] = services.worklist.items(admin)
    assert item.kind == DISCREPANCY_KIND and item.entity_id == str(row.discrepancy_id)
    assert "counted 97, the log says 100" in item.summary
    assert services.inventory.on_hand(technician, package_id) == Decimal(100)
    assert controlled.packages(technician)[0].perpetual_balance == Decimal(100)


@pytest.mark.parametrize(
    ("counted", "message"),
    [("-1", "less than 0"), ("ten", "not a number"), ("1.2345", "three decimals")],
)
def test_bad_count_is_refused_and_writes_nothing(
    services: Services,
    controlled,
    admin: Actor,
    technician: Actor,
    witness: Actor,
    counted,
    message,
) -> None:
    package_id = add_package(services, admin, schedule="CII")
    receive(services, technician, package_id, 100)
    before = audit_actions(services)

    with pytest.raises(ValidationFailed, match=message):
        controlled.witnessed_count(technician, package_id, counted=counted, witness=witness)

    assert audit_actions(services) == before


def test_count_back_needs_another_person_as_witness(
    services: Services, controlled, admin: Actor, technician: Actor
) -> None:
    package_id = add_package(services, admin, schedule="CIV")
    receive(services, technician, package_id, 10)

    with pytest.raises(WitnessRequired, match="must be witnessed"):
        controlled.witnessed_count(technician, package_id, counted=9, witness=None)
    with pytest.raises(WitnessRequired, match="someone other than tess"):
        controlled.witnessed_count(technician, package_id, counted=9, witness=technician)
    assert controlled.discrepancies(technician, None) == []


def test_investigation_notes_are_appended_signed_and_never_overwritten(
    services: Services, admin: Actor, technician: Actor, witness: Actor
) -> None:
    noted_at = datetime(2026, 11, 2, 15, 4, tzinfo=UTC)
    controlled = ControlledSubstanceService(services.database, now=lambda: noted_at)
    package_id = add_package(services, admin, schedule="CII")
    receive(services, technician, package_id, 100)
    found = controlled.witnessed_count(technician, package_id, counted=98, witness=witness)
    assert found.discrepancy_id is not None

    controlled.add_investigation_note(technician, found.discrepancy_id, "  Checked the  bin. ")
    row = controlled.add_investigation_note(witness, found.discrepancy_id, "Rx 7000001 reviewed")

    assert row.notes == (
        "2026-11-02 15:04 UTC Tess (tess): Checked the bin.",
        "2026-11-02 15:04 UTC Wanda (wanda): Rx 7000001 reviewed",
    )
    assert row.found_at == noted_at
    with pytest.raises(ValidationFailed, match="note is empty"):
        controlled.add_investigation_note(technician, found.discrepancy_id, "   ")


def test_sign_off_is_a_pharmacists_after_an_investigation_note_and_closes_the_work_item(
    services: Services,
    controlled,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    witness: Actor,
) -> None:
    package_id = add_package(services, admin, schedule="CII")
    receive(services, technician, package_id, 100)
    found = controlled.witnessed_count(technician, package_id, counted=98, witness=witness)
    discrepancy_id = found.discrepancy_id
    assert discrepancy_id is not None

    with pytest.raises(PermissionDenied):
        controlled.sign_off(technician, discrepancy_id, "miscount")
    with pytest.raises(ValidationFailed, match="no investigation note"):
        controlled.sign_off(pharmacist, discrepancy_id, "miscount")
    controlled.add_investigation_note(technician, discrepancy_id, "Recounted: two in the tray.")
    with pytest.raises(ValidationFailed, match="Write the resolution"):
        controlled.sign_off(pharmacist, discrepancy_id, " ")

    row = controlled.sign_off(pharmacist, discrepancy_id, "Miscount; stock found in the tray.")

    assert row.status == "signed_off" and row.signed_off_by == "phil"
    assert row.resolution == "Miscount; stock found in the tray."
    assert services.worklist.items(admin) == []
    assert controlled.discrepancies(technician) == []
    assert [r.discrepancy_id for r in controlled.discrepancies(technician, "signed_off")] == [
        discrepancy_id
    ]
    with pytest.raises(ValidationFailed, match="already signed off"):
        controlled.sign_off(pharmacist, discrepancy_id, "again")
    with pytest.raises(ValidationFailed, match="investigation is closed"):
        controlled.add_investigation_note(technician, discrepancy_id, "late")
    with services.database.reading() as session:
        item = session.scalars(select(WorkItem)).one()
        assert item.closed_by_user_id == pharmacist.user_id
        assert session.get_one(ControlledDiscrepancy, discrepancy_id).version == 3
    assert "controlled_discrepancy.signed_off" in audit_actions(services)


# --- the DEA inventory ------------------------------------------------------------------------


@pytest.fixture
def stocked(services: Services, admin: Actor, technician: Actor) -> dict[str, int]:
    return stock_controlled(services, admin, technician)


def test_draft_proposes_every_controlled_package_with_stock_from_the_ledger(
    services: Services, controlled, admin: Actor, technician: Actor, stocked
) -> None:
    empty = add_package(services, admin, schedule="CII")
    set_package_units(services, admin, empty, 100)

    draft = {line.package_id: line for line in controlled.draft(technician)}

    assert set(draft) == set(stocked.values())
    cii = draft[stocked["cii"]]
    assert (cii.sealed_containers, cii.opened_quantity, cii.exact_required) == (
        2,
        Decimal(50),
        True,
    )
    assert draft[stocked["civ"]].exact_required is False
    assert draft[stocked["cv"]].exact_required is True  # 5,000 units a package
    assert draft[stocked["ciii"]].exact_required is False  # exactly 1,000 is not more


def test_biennial_inventory_report_lists_schedule_ii_apart_exact_and_shows_differences(
    services: Services, controlled, technician: Actor, witness: Actor, stocked
) -> None:
    report = controlled.take_inventory(
        technician,
        kind="biennial",
        timing="close",
        taken_on=date.today(),
        lines=counted_lines(stocked),
        witness=witness,
        note="Year-end count",
    )

    assert report.title == "Biennial inventory"
    assert report.timing_text == f"Taken at the close of business on {date.today().isoformat()}"
    assert report.registrant.dea_number and report.registrant.name
    assert report.taken_by == "Tess (tess)" and report.witness == "Wanda (wanda)"
    [cii] = report.schedule_ii
    assert (cii.total, cii.exact, cii.ledger_balance, cii.difference) == (
        Decimal(248),
        True,
        Decimal(250),
        Decimal(-2),
    )
    by_schedule = {line.schedule: line for line in report.schedules_iii_v}
    assert [line.schedule for line in report.schedules_iii_v] == ["CIII", "CIV", "CV"]
    assert by_schedule["CIV"].count_text == "estimated" and by_schedule["CIV"].total == 75
    assert by_schedule["CIII"].count_text == "estimated"
    assert by_schedule["CV"].count_text == "exact" and by_schedule["CV"].total == 6000
    assert report.differences == 1  # only CII: 248 counted, 250 in the ledger
    assert [(t.schedule, t.packages, t.units) for t in report.totals] == [
        ("CII", 1, Decimal(248)),
        ("CIII", 1, Decimal(1400)),
        ("CIV", 1, Decimal(75)),
        ("CV", 1, Decimal(6000)),
    ]
    assert controlled.report(technician, report.inventory_id) == report
    # The ledger is shown, not corrected.
    assert services.inventory.on_hand(technician, stocked["cii"]) == Decimal(250)


def test_differences_count_only_lines_that_differ(
    services: Services, controlled, technician: Actor, stocked
) -> None:
    report = controlled.take_inventory(
        technician,
        kind="biennial",
        timing="opening",
        taken_on=date.today(),
        lines=counted_lines(stocked, cii=InventoryLineInput(stocked["cii"], 2, "50")),
    )

    assert report.differences == 0
    assert report.witness is None
    assert "opening of business" in report.timing_text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("cii", "schedule II is always counted exactly"),
        ("cv", "more than 1,000"),
    ],
)
def test_an_estimate_is_refused_where_an_exact_count_is_required(
    services: Services, controlled, technician: Actor, stocked, change, message
) -> None:
    estimated = InventoryLineInput(stocked[change], 1, "10", exact=False)
    with pytest.raises(ValidationFailed, match=message):
        controlled.take_inventory(
            technician,
            kind="biennial",
            timing="close",
            taken_on=date.today(),
            lines=counted_lines(stocked, **{change: estimated}),
        )
    assert controlled.inventories(technician) == []


def test_an_estimated_line_may_still_be_counted_exactly(
    services: Services, controlled, technician: Actor, stocked
) -> None:
    report = controlled.take_inventory(
        technician,
        kind="biennial",
        timing="close",
        taken_on=date.today(),
        lines=counted_lines(stocked, civ=InventoryLineInput(stocked["civ"], 2, "15", exact=True)),
    )
    assert {line.schedule: line.exact for line in report.schedules_iii_v}["CIV"] is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "annual"}, "not an inventory kind"),
        ({"timing": "noon"}, "opening or the close"),
        ({"taken_on": date.today() + timedelta(days=1)}, "in the future"),
        ({"lines": []}, "no lines"),
    ],
)
def test_bad_inventory_input_is_refused(
    services: Services, controlled, technician: Actor, stocked, kwargs, message
) -> None:
    arguments = {
        "kind": "biennial",
        "timing": "close",
        "taken_on": date.today(),
        "lines": counted_lines(stocked),
    } | kwargs
    with pytest.raises(ValidationFailed, match=message):
        controlled.take_inventory(technician, **arguments)
    assert controlled.inventories(technician) == []


def test_biennial_inventory_must_list_every_controlled_package_on_hand(
    services: Services, controlled, technician: Actor, stocked
) -> None:
    lines = [line for line in counted_lines(stocked) if line.package_id != stocked["civ"]]

    with pytest.raises(ValidationFailed, match="missing: NDC 88888-001-01"):
        controlled.take_inventory(
            technician, kind="biennial", timing="close", taken_on=date.today(), lines=lines
        )
    # A schedule-change inventory covers only the drug that changed schedule.
    report = controlled.take_inventory(
        technician,
        kind="schedule_change",
        timing="opening",
        taken_on=date.today(),
        lines=[InventoryLineInput(stocked["civ"], 2, "15")],
    )
    assert report.title == "Inventory on a schedule change" and report.schedule_ii == ()


def test_inventory_line_errors_name_the_package(
    services: Services, controlled, admin: Actor, technician: Actor, stocked
) -> None:
    plain = add_package(services, admin)
    unknown_size = add_package(services, admin, schedule="CIV")
    cases = [
        (InventoryLineInput(stocked["cii"], -1, "0"), "sealed containers is a whole number"),
        (InventoryLineInput(stocked["cii"], 0, "-3"), "cannot be less than 0"),
        (InventoryLineInput(plain, 0, "3"), "not a controlled substance"),
        (InventoryLineInput(unknown_size, 1, "3"), "does not say how many units"),
        (InventoryLineInput(stocked["cii"], 0, "3"), "listed twice"),
    ]
    for extra, message in cases:
        with pytest.raises(ValidationFailed, match=message):
            controlled.take_inventory(
                technician,
                kind="biennial",
                timing="close",
                taken_on=date.today(),
                lines=[*counted_lines(stocked), extra]
                if extra.package_id != stocked["cii"] or "twice" in message
                else counted_lines(stocked, cii=extra),
            )
    with services.database.reading() as session:
        assert session.scalars(select(ControlledInventory)).all() == []


def test_csv_has_the_documented_columns_schedule_ii_first_and_the_export_is_audited(
    services: Services, controlled, admin: Actor, technician: Actor, stocked
) -> None:
    report = controlled.take_inventory(
        technician,
        kind="biennial",
        timing="close",
        taken_on=date.today(),
        lines=counted_lines(stocked),
    )

    rows = list(csv.DictReader(io.StringIO(inventory_csv(report))))
    controlled.record_export(admin, report.inventory_id, file_format="csv", destination="x.csv")

    assert tuple(rows[0]) == CSV_COLUMNS
    assert [row["schedule"] for row in rows] == ["CII", "CIII", "CIV", "CV"]
    assert rows[0]["count"] == "exact" and rows[0]["total_units"] == "248"
    assert rows[0]["ledger_balance"] == "250" and rows[0]["difference"] == "-2"
    assert rows[0]["timing"] == "close" and rows[0]["registrant_dea_number"]
    assert rows[2]["count"] == "estimated" and rows[2]["package_units"] == "30"
    assert audit_actions(services)[-1] == "controlled_inventory.exported"
    [summary] = controlled.inventories(admin)
    assert (summary.kind, summary.timing, summary.lines) == ("biennial", "close", 4)


def test_only_pharmacy_staff_take_inventories_and_count(
    services: Services, controlled, admin: Actor, stocked
) -> None:
    clerk = add_user(services, admin, "clerk", Role.ADMINISTRATOR)
    with pytest.raises(PermissionDenied):
        controlled.draft(clerk)
    with pytest.raises(PermissionDenied):
        controlled.witnessed_count(clerk, stocked["cii"], counted=1, witness=admin)


def test_a_scanned_package_names_its_controlled_package(
    services: Services, controlled, admin: Actor, technician: Actor
) -> None:
    load_demo_catalogue(services, admin)
    oxycodone = package_of_ndc(services, OXYCODONE_100)

    assert controlled.package_for_scan(technician, datamatrix(OXYCODONE_100)) == oxycodone
    assert controlled.package_for_scan(technician, upc(OXYCODONE_100)) == oxycodone
    assert controlled.package_for_scan(technician, OXYCODONE_100) == oxycodone
    with pytest.raises(ValidationFailed, match="is not a controlled substance"):
        controlled.package_for_scan(technician, datamatrix(LISINOPRIL_100))
    with pytest.raises(NotFound, match="not in the catalogue"):
        controlled.package_for_scan(technician, upc("12345-678-90"))
    with pytest.raises(ValidationFailed, match="could not be read"):
        controlled.package_for_scan(technician, "hello")

"""Recalls: entered by hand or imported from an openFDA enforcement report, our lots recalled,
stock to pull and patients to contact, and the rules for closing one."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import (
    AuditEvent,
    Recall,
    RecallContact,
    RecallItem,
    RecallLot,
    StockLot,
    StockMovement,
    WorkItem,
)
from app.demo import DEMO_RECALLS_FILE
from app.domain.barcodes import gs1_element_string, gtin14_for
from app.domain.fill_states import FillState
from app.domain.ndc import parse_ndc
from app.domain.roles import Role
from app.domain.verdicts import Verdict
from app.errors import NotFound, PermissionDenied, StaleRecord, ValidationFailed
from app.services.inventory import LotStatusRefused
from app.services.recalls import (
    ImportChoice,
    RecallImportRefused,
    RecallService,
    RecallWorklist,
    _header,
)
from app.services.receiving import ReceivedScan
from app.services.unit_of_work import Actor
from app.services.verification import BottleRefused
from tests.app.services.inventory_data import add_user
from tests.app.services.pharmacy_data import package_of
from tests.app.services.verification_data import (
    SHELF_LOT,
    catalogue_fill,
    package_upc,
    receive_lot,
    verify_fill,
)
from tests.conftest import BACKEND

OMEPRAZOLE = "59651-002"  # product NDC in the demo catalogue; its first package is -01
OMEPRAZOLE_100 = "59651-002-01"
AMOXICILLIN_500 = "0093-3109-05"
LATER = date.today() + timedelta(days=400)


@pytest.fixture
def recalls(catalogue: Services) -> RecallService:
    return catalogue.recalls


def _count(services: Services, model: type) -> int:
    with services.database.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _actions(services: Services) -> list[str]:
    with services.database.reading() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _lot(services: Services, lot_id: int) -> StockLot:
    with services.database.reading() as session:
        lot = session.get(StockLot, lot_id)
        assert lot is not None
        return lot


def _dispensed_twice(services: Services, admin: Actor, technician: Actor) -> tuple[int, int]:
    """Two omeprazole fills verified from the shelf lot, for two patients; returns the lot and
    the package."""
    for _ in range(2):
        fill_id = catalogue_fill(services, admin, FillState.FILL, product_ndc=OMEPRAZOLE)
        verify_fill(services, technician, fill_id)
    package_id = package_of(services, OMEPRAZOLE)
    return receive_lot(services, technician, package_id), package_id


def _voided_fill(services: Services, admin: Actor, technician: Actor) -> int:
    """A third omeprazole fill whose bottle from the shelf lot was accepted, then voided."""
    fill_id = catalogue_fill(services, admin, FillState.FILL, product_ndc=OMEPRAZOLE)
    upc = package_upc(services, package_of(services, OMEPRAZOLE))
    view = services.verification.open_fill(technician, fill_id)
    accepted = services.verification.accept_bottle(
        technician,
        fill_id,
        text=upc,
        manual=False,
        quantity=Decimal(30),
        expected_version=view.version,
        lot_number=SHELF_LOT,
    )
    services.verification.void_bottle(
        technician,
        fill_id,
        accepted.bottle.bottle_id,
        reason="wrong bottle picked",
        expected_version=accepted.fill_version,
    )
    return fill_id


def _enter(recalls: RecallService, actor: Actor, *, level: str = "consumer", items=None):
    return recalls.enter(
        actor,
        classification="Class I",
        level=level,
        reason="Tablets of another drug found in bottles",
        firm="Aurobindo Pharma Limited",
        recall_number="D-0001-2026",
        items=items if items is not None else [("59651000201", "lot-shelf-1")],
    )


def test_a_consumer_recall_recalls_our_lot_and_lists_each_fill_that_took_it(
    recalls: RecallService, services: Services, admin: Actor, technician: Actor
) -> None:
    lot_id, package_id = _dispensed_twice(services, admin, technician)
    _voided_fill(services, admin, technician)
    other = receive_lot(services, technician, package_id, lot_number="OTHER-1")

    # The NDC in its 11-digit form and the lot in lower case still name the package and lot.
    row = _enter(recalls, technician)

    assert (row.lots, row.lots_pulled, row.contacts, row.contacts_open) == (1, 0, 2, 2)
    assert [(item.ndc, item.lot_number) for item in row.items] == [(OMEPRAZOLE_100, SHELF_LOT)]
    assert _lot(services, lot_id).status == "recalled"
    assert _lot(services, other).status == "available"
    work = recalls.worklist(technician, row.recall_id)
    [pull] = work.pulls
    assert (pull.lot_id, pull.on_hand_when_matched, pull.pulled_at) == (
        lot_id,
        _lot(services, lot_id).on_hand,
        None,
    )
    assert len(work.contacts) == 2 and len({c.patient_id for c in work.contacts}) == 2
    assert all(c.status == "to_contact" and c.lot_number == SHELF_LOT for c in work.contacts)
    assert all(c.patient_name == "Quibble, Wendell" and c.filled_at for c in work.contacts)
    assert not work.can_close
    with services.database.reading() as session:
        item = session.scalars(select(WorkItem).where(WorkItem.kind == "recall")).one()
        viewed = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "recall.contacts_viewed")
        ).one()
    assert item.entity_id == str(row.recall_id) and item.closed_at is None
    assert "1 lot of ours to pull, 2 patient contacts" in item.summary
    assert viewed.summary["patient_ids"] == sorted(c.patient_id for c in work.contacts)
    actions = _actions(services)
    assert {"recall.entered", "recall.item_added", "recall.lot_matched"} <= set(actions)
    assert actions.count("stock.lot_recalled") == 1
    assert actions.count("recall.contact_listed") == 2


def test_a_recalled_lot_is_refused_at_verification_and_for_a_transfer(
    recalls: RecallService, services: Services, admin: Actor, technician: Actor
) -> None:
    lot_id, package_id = _dispensed_twice(services, admin, technician)
    _enter(recalls, technician, level="retail")
    fill_id = catalogue_fill(services, admin, FillState.FILL, product_ndc=OMEPRAZOLE)
    view = services.verification.open_fill(technician, fill_id)
    upc = package_upc(services, package_id)
    judgement = services.verification.judge(technician, fill_id, text=upc, lot_number=SHELF_LOT)
    assert judgement.stop and judgement.verdict is Verdict.RECALLED
    on_hand = _lot(services, lot_id).on_hand
    with pytest.raises(BottleRefused) as refused:
        services.verification.accept_bottle(
            technician,
            fill_id,
            text=upc,
            manual=False,
            quantity=Decimal(30),
            expected_version=view.version,
            lot_number=SHELF_LOT,
        )
    assert refused.value.facts["verdict"] == "recalled"
    assert _lot(services, lot_id).on_hand == on_hand  # nothing was taken from the lot
    with pytest.raises(LotStatusRefused, match="is recalled: it cannot be transferred"):
        services.inventory.transfer_out(
            technician, lot_id, quantity=1, to_pharmacy="Elm Street", reason="short there"
        )


@pytest.mark.parametrize("level", ["retail", "wholesale"])
def test_retail_and_wholesale_recalls_pull_stock_but_contact_no_patient(
    recalls: RecallService, services: Services, admin: Actor, technician: Actor, level: str
) -> None:
    lot_id, _ = _dispensed_twice(services, admin, technician)
    row = _enter(recalls, technician, level=level)
    assert (row.level, row.lots, row.contacts) == (level, 1, 0)
    assert _lot(services, lot_id).status == "recalled"
    assert recalls.worklist(technician, row.recall_id).contacts == ()
    assert "recall.contacts_viewed" not in _actions(services)


def test_an_item_without_a_lot_recalls_every_lot_of_the_package(
    recalls: RecallService, services: Services, technician: Actor
) -> None:
    package_id = package_of(services, OMEPRAZOLE)
    lots = [receive_lot(services, technician, package_id, lot_number=n) for n in ("A1", "B2")]
    row = _enter(recalls, technician, items=[(OMEPRAZOLE_100, "")])
    assert row.lots == 2 and row.items[0].lot_number == ""
    assert {_lot(services, lot_id).status for lot_id in lots} == {"recalled"}


def test_bad_input_is_named_item_by_item_and_nothing_is_written(
    recalls: RecallService, services: Services, technician: Actor
) -> None:
    receive_lot(services, technician, package_of(services, OMEPRAZOLE))
    before = (_count(services, Recall), _count(services, AuditEvent))
    with pytest.raises(ValidationFailed) as refused:
        _enter(
            recalls,
            technician,
            items=[
                (OMEPRAZOLE_100, SHELF_LOT),
                ("12345-6789-01", ""),
                ("not an ndc", "A1"),
                (OMEPRAZOLE_100, "X" * 41),
            ],
        )
    problems = refused.value.facts["problems"]
    assert [problem.split(":")[0] for problem in problems] == ["Item 2", "Item 3", "Item 4"]
    assert "12345-6789-01 is not in the drug catalogue" in problems[0]
    for wrong, message in [
        ({"classification": "Class IV"}, "not an FDA recall classification"),
        ({"level": "pharmacy"}, "not a recall level"),
        ({"reason": "   "}, "Say why the product is recalled"),
        ({"items": []}, "at least one package NDC"),
    ]:
        arguments = {
            "classification": "Class II",
            "level": "retail",
            "reason": "Failed dissolution",
            "firm": "Teva",
            "recall_number": "",
            "items": [(OMEPRAZOLE_100, "")],
            **wrong,
        }
        with pytest.raises(ValidationFailed, match=message):
            recalls.enter(technician, **arguments)
    assert (_count(services, Recall), _count(services, AuditEvent)) == before
    assert _count(services, RecallItem) == 0


def test_the_same_recall_number_is_not_recorded_twice(
    recalls: RecallService, services: Services, technician: Actor
) -> None:
    _enter(recalls, technician, items=[(OMEPRAZOLE_100, "")])
    with pytest.raises(ValidationFailed, match="D-0001-2026 is already recorded"):
        _enter(recalls, technician, items=[(OMEPRAZOLE_100, "")])
    assert _count(services, Recall) == 1


@pytest.mark.skipif(BACKEND != "postgresql", reason="one writer at a time on SQLite")
def test_two_workstations_recording_one_recall_number_record_it_once(
    recalls: RecallService, services: Services, technician: Actor
) -> None:
    package_id = package_of(services, OMEPRAZOLE)
    header = _header(
        classification="Class II",
        level="retail",
        reason="Subpotent",
        firm="Aurobindo",
        recall_number="D-0001-2026",
    )
    outcome: list[BaseException | None] = []

    def second_workstation() -> None:
        try:
            _enter(recalls, technician, items=[(OMEPRAZOLE_100, "")])
            outcome.append(None)
        except BaseException as error:  # handed to the test thread
            outcome.append(error)

    with services.database.unit_of_work(technician) as uow:
        recalls._record(uow, header, [(package_id, "")], source="manual", record={})
        racer = threading.Thread(target=second_workstation)
        racer.start()
        racer.join(timeout=1.0)
        assert racer.is_alive()  # waiting for the first to commit
    racer.join(timeout=30)
    [error] = outcome
    assert isinstance(error, ValidationFailed) and "already recorded" in error.message
    assert _count(services, Recall) == 1


def _gs1(ndc: str, lot: str, serial: str) -> str:
    return gs1_element_string(gtin14_for(parse_ndc(ndc)), expiry=LATER, lot=lot, serial=serial)


def test_stock_received_later_for_a_recalled_lot_goes_straight_into_the_recall(
    recalls: RecallService, services: Services, technician: Actor
) -> None:
    package_id = package_of(services, OMEPRAZOLE)
    row = _enter(recalls, technician, items=[(OMEPRAZOLE_100, "NEW-1"), (OMEPRAZOLE_100, "NEW-2")])
    assert row.lots == 0

    # The inventory's own receive …
    change = services.inventory.receive(
        technician, package_id, lot_number="new-1", expiry=LATER, quantity=100
    )
    assert change.lot.status == "recalled" and "is recalled" in change.notice
    # … and a delivery scanned in through receiving both land in the recall.
    receipt = services.receiving.receive_scans(
        technician,
        supplier="Cardinal Health",
        invoice_number="INV-9",
        invoice_date=date.today(),
        lines=[ReceivedScan(_gs1(OMEPRAZOLE_100, "NEW-2", "S1"))],
    )
    assert receipt.lines[0].lot_status == "recalled" and "recalled" in receipt.notices[0]
    # A lot the recall does not name is received as usual.
    other = services.inventory.receive(
        technician, package_id, lot_number="NEW-3", expiry=LATER, quantity=100
    )
    assert other.lot.status == "available"

    work = recalls.worklist(technician, row.recall_id)
    assert sorted(pull.lot_number for pull in work.pulls) == ["NEW-2", "new-1"]
    assert [pull.on_hand_when_matched for pull in work.pulls] == [Decimal(100)] * 2

    # Stock arriving for a lot already pulled must be pulled again.
    pulled = next(pull for pull in work.pulls if pull.lot_number == "new-1")
    recalls.mark_pulled(technician, pulled.recall_lot_id)
    services.inventory.receive(
        technician, package_id, lot_number="new-1", expiry=LATER, quantity=50
    )
    again = recalls.worklist(technician, row.recall_id)
    assert all(pull.pulled_at is None for pull in again.pulls)
    assert "recall.lot_rematched" in _actions(services)


# --- the openFDA import ---------------------------------------------------------------------


def test_preview_reads_openfda_ndcs_text_ndcs_and_lot_candidates(
    recalls: RecallService, services: Services, technician: Actor
) -> None:
    omeprazole = package_of(services, OMEPRAZOLE)
    ours = receive_lot(services, technician, omeprazole, lot_number="D000201A")
    before = _count(services, AuditEvent)

    preview = recalls.preview(technician, DEMO_RECALLS_FILE)

    first, second, third = preview.reports
    assert (first.recall_number, first.classification, first.proposed_level) == (
        "D-0412-2026",
        "Class I",
        "consumer",
    )
    assert first.ndc_source == "openfda" and first.ndcs == ("59651-002-01", "59651-002-30")
    assert [package.ndc for package in first.packages] == ["59651-002-01", "59651-002-30"]
    assert first.lot_candidates == ("D000201A", "D000201B")
    assert [lot.lot_id for lot in first.matching_lots] == [ours]
    assert first.importable and first.initiated_on == date(2026, 11, 3)
    # An empty "openfda": the NDC is read from the product description.
    assert second.ndc_source == "text" and second.ndcs == (AMOXICILLIN_500,)
    assert [package.ndc for package in second.packages] == [AMOXICILLIN_500]
    assert second.lot_candidates == ("3109B22", "3109C07") and second.matching_lots == ()
    assert second.proposed_level == "retail"
    # A product the catalogue lacks cannot be imported.
    assert third.unknown_ndcs == ("0409-4888-10",) and not third.importable
    assert third.lot_candidates == ("11-204-DK", "11-205-DK")
    assert _count(services, AuditEvent) == before  # a preview writes nothing


def test_a_product_ndc_only_names_every_package_of_the_product(
    recalls: RecallService, technician: Actor
) -> None:
    report = {
        "recall_number": "D-0500-2026",
        "classification": "Class II",
        "reason_for_recall": "Subpotent",
        "recalling_firm": "Aurobindo Pharma Limited",
        "product_description": "Omeprazole capsules, all sizes",
        "code_info": "All lots within expiry",
        "openfda": {"product_ndc": [OMEPRAZOLE]},
    }
    [preview] = recalls.preview(technician, json.dumps({"results": [report]})).reports
    assert preview.ndc_source == "openfda product" and preview.lot_candidates == ()
    assert {package.ndc for package in preview.packages} >= {OMEPRAZOLE_100, "59651-002-30"}


def test_confirm_records_the_chosen_reports_once(
    recalls: RecallService, services: Services, admin: Actor, technician: Actor
) -> None:
    lot_id, package_id = _dispensed_twice(services, admin, technician)
    report = json.loads(DEMO_RECALLS_FILE.read_text())
    report["results"][0]["code_info"] = f"Lot #: {SHELF_LOT}, Exp 05/2027"
    text = json.dumps(report)
    preview = recalls.preview(technician, text)
    first = preview.reports[0]

    [row] = recalls.confirm(
        technician,
        preview,
        [ImportChoice(0, first.proposed_level, ((package_id, first.lot_candidates[0]),))],
    )
    assert (row.source, row.recall_number, row.level, row.lots, row.contacts) == (
        "openfda",
        "D-0412-2026",
        "consumer",
        1,
        2,
    )
    assert _lot(services, lot_id).status == "recalled"
    with services.database.reading() as session:
        recorded = session.get(Recall, row.recall_id)
        assert recorded is not None and recorded.source_record["event_id"] == "98801"
    assert "recall.imported" in _actions(services)

    again = recalls.preview(technician, text)
    assert again.reports[0].already_recorded_id == row.recall_id
    assert not again.reports[0].importable
    with pytest.raises(ValidationFailed, match="already recorded"):
        recalls.confirm(technician, preview, [ImportChoice(0, "consumer", ((package_id, ""),))])
    assert _count(services, Recall) == 1


def test_confirm_refuses_items_the_report_does_not_name(
    recalls: RecallService, services: Services, technician: Actor
) -> None:
    preview = recalls.preview(technician, DEMO_RECALLS_FILE)
    amoxicillin = preview.reports[1].packages[0].package_id
    for choices, message in [
        ([ImportChoice(0, "consumer", ((amoxicillin, "A1"),))], "does not name package"),
        ([ImportChoice(0, "consumer", ())], "confirm at least one package"),
        ([ImportChoice(1, "store", ((amoxicillin, ""),))], "not a recall level"),
        ([ImportChoice(7, "retail", ((amoxicillin, ""),))], "no result 8"),
        ([], "Choose at least one recall"),
    ]:
        with pytest.raises(ValidationFailed, match=message):
            recalls.confirm(technician, preview, choices)
    assert _count(services, Recall) == 0


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"results": [', "not JSON (line 1, column"),
        ("[1, 2]", "no “results” list"),
        ('{"meta": {}, "results": []}', "is empty"),
        ('{"results": ["recall"]}', "Result 1 is not an object"),
    ],
)
def test_a_malformed_file_is_refused_and_nothing_written(
    recalls: RecallService, services: Services, technician: Actor, text: str, says: str
) -> None:
    with pytest.raises(RecallImportRefused) as refused:
        recalls.preview(technician, text)
    assert says in refused.value.message
    assert _count(services, Recall) == 0


def test_missing_or_wrong_keys_are_named_with_their_result(
    recalls: RecallService, technician: Actor
) -> None:
    report = json.loads(DEMO_RECALLS_FILE.read_text())
    del report["results"][1]["code_info"]
    report["results"][2]["classification"] = "Class IV"
    report["results"][2]["recall_initiation_date"] = "2026-11-09"
    report["results"][0]["openfda"] = ["59651-002-01"]
    with pytest.raises(RecallImportRefused) as refused:
        recalls.preview(technician, json.dumps(report))
    assert refused.value.problems == (
        "Result 1: “openfda” is not an object.",
        "Result 2 has no “code_info”.",
        "Result 3: “classification” is “Class IV”, not Class I, II or III.",
        "Result 3: “recall_initiation_date” is not a date YYYYMMDD.",
    )


def test_an_unreadable_file_is_an_environment_fault(
    recalls: RecallService, technician: Actor, tmp_path: Path
) -> None:
    with pytest.raises(Exception, match="could not be read") as failed:
        recalls.preview(technician, tmp_path / "missing.json")
    assert failed.value.code == "read-failed"  # type: ignore[attr-defined]


# --- the recall's work ----------------------------------------------------------------------


def _consumer_recall(
    recalls: RecallService, services: Services, admin: Actor, technician: Actor
) -> RecallWorklist:
    _dispensed_twice(services, admin, technician)
    row = _enter(recalls, technician)
    return recalls.worklist(technician, row.recall_id)


def test_contact_status_changes_are_audited_and_checked(
    recalls: RecallService, services: Services, admin: Actor, technician: Actor
) -> None:
    work = _consumer_recall(recalls, services, admin, technician)
    first, second = work.contacts
    updated = recalls.set_contact_status(
        technician,
        first.contact_id,
        "contacted",
        "Told to bring the bottle back",
        expected_version=first.version,
    )
    assert (updated.status, updated.status_label, updated.updated_by) == (
        "contacted",
        "Contacted",
        "tess",
    )
    with pytest.raises(ValidationFailed, match="Say why the patient is unreachable"):
        recalls.set_contact_status(technician, second.contact_id, "unreachable", "  ")
    with pytest.raises(ValidationFailed, match="not a contact status"):
        recalls.set_contact_status(technician, second.contact_id, "called")
    with pytest.raises(StaleRecord):
        recalls.set_contact_status(
            technician, first.contact_id, "not_required", "returned", expected_version=first.version
        )
    with pytest.raises(NotFound):
        recalls.set_contact_status(technician, 9999, "contacted")
    with services.database.reading() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "recall.contact_updated")
        ).one()
        contact = session.get(RecallContact, first.contact_id)
    assert event.summary["before"] == {"status": "to_contact", "note": ""}
    assert event.summary["after"] == {
        "status": "contacted",
        "note": "Told to bring the bottle back",
    }
    assert contact is not None and contact.updated_by_user_id == technician.user_id


def test_a_pharmacist_closes_a_recall_only_when_its_work_is_done(
    recalls: RecallService,
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
) -> None:
    work = _consumer_recall(recalls, services, admin, technician)
    recall_id = work.recall.recall_id
    with pytest.raises(PermissionDenied):
        recalls.close(technician, recall_id)
    with pytest.raises(ValidationFailed, match="1 lot to pull and 2 patients to contact"):
        recalls.close(pharmacist, recall_id)

    [pull] = work.pulls
    pulled = recalls.mark_pulled(technician, pull.recall_lot_id, return_to_vendor=True)
    assert pulled.pulled_at is not None and pulled.pulled_by == "tess"
    assert (pulled.on_hand, pulled.location) == (Decimal(0), "quarantine shelf")
    with services.database.reading() as session:
        returned = session.scalars(
            select(StockMovement).where(StockMovement.kind == "returned_to_vendor")
        ).one()
    assert returned.quantity == -pull.on_hand and "D-0001-2026" in returned.reason
    with pytest.raises(ValidationFailed, match="already pulled"):
        recalls.mark_pulled(technician, pull.recall_lot_id)

    first, second = work.contacts
    recalls.set_contact_status(technician, first.contact_id, "contacted")
    with pytest.raises(ValidationFailed, match="1 patient to contact"):
        recalls.close(pharmacist, recall_id)
    recalls.set_contact_status(technician, second.contact_id, "unreachable", "Two calls, no answer")
    assert recalls.worklist(pharmacist, recall_id).can_close

    closed = recalls.close(pharmacist, recall_id, "All stock returned")
    assert closed.status == "closed" and closed.contacts_open == 0
    assert recalls.recalls(pharmacist) == [] and recalls.recalls(pharmacist, "closed") == [closed]
    assert _lot(services, pull.lot_id).status == "recalled"  # recalled stock stays recalled
    with services.database.reading() as session:
        item = session.scalars(select(WorkItem).where(WorkItem.kind == "recall")).one()
    assert item.closed_at is not None
    with pytest.raises(ValidationFailed, match="is already closed"):
        recalls.close(pharmacist, recall_id)
    with pytest.raises(ValidationFailed, match="is closed"):
        recalls.set_contact_status(technician, first.contact_id, "not_required", "moved away")
    assert _count(services, RecallLot) == 1


def test_seeing_recalls_needs_a_stock_role(
    recalls: RecallService, services: Services, admin: Actor
) -> None:
    clerk = add_user(services, admin, "clerk", Role.ADMINISTRATOR)
    assert recalls.recalls(clerk) == []
    with pytest.raises(PermissionDenied):
        _enter(recalls, clerk)
    with pytest.raises(PermissionDenied):
        recalls.worklist(clerk, 1)

"""The pharmacist work list: one list for everything waiting on a pharmacist, and its badge."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent, WorkItem
from app.domain.fill_states import FillState
from app.errors import PermissionDenied
from app.services.unit_of_work import Actor
from app.services.worklist import close_items, kind_label, open_item
from tests.app.services.pharmacy_data import simple_fill
from tests.app.services.verification_data import catalogue_fill, verify_fill


def test_fills_waiting_on_a_pharmacist_are_listed_oldest_first_with_a_summary(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    first = simple_fill(services, admin, FillState.DATA_ENTRY)
    second = catalogue_fill(services, admin, FillState.FILL)
    services.workflow.advance(technician, first, to_state=FillState.DATA_REVIEW, expected_version=1)
    verify_fill(services, technician, second)

    items = services.worklist.items(pharmacist)

    assert [(i.kind, i.entity_id) for i in items] == [
        ("data_review", str(first)),
        ("final_verification", str(second)),
    ]
    assert [i.kind_label for i in items] == ["Data review", "Final verification"]
    assert items[0].opened_at <= items[1].opened_at
    assert items[0].summary.startswith("Rx 7000001-0 · Quibble, Wendell · Lisinopril 10 mg tablet")
    assert services.worklist.count(pharmacist) == 2
    assert services.worklist.count(admin) == 2


def test_done_items_leave_the_list_and_the_badge(
    services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    fill_id = simple_fill(services, admin, FillState.DATA_ENTRY)
    services.workflow.advance(
        technician, fill_id, to_state=FillState.DATA_REVIEW, expected_version=1
    )
    services.workflow.advance(pharmacist, fill_id, to_state=FillState.FILL, expected_version=2)
    assert services.worklist.items(pharmacist) == []
    assert services.worklist.count(pharmacist) == 0


def test_technicians_do_not_see_the_pharmacist_work_list(
    services: Services, technician: Actor
) -> None:
    with pytest.raises(PermissionDenied):
        services.worklist.items(technician)
    with pytest.raises(PermissionDenied):
        services.worklist.count(technician)


def test_later_kinds_join_the_same_list_under_their_own_label(
    services: Services, admin: Actor, pharmacist: Actor
) -> None:
    with services.database.unit_of_work(admin) as uow:
        recall = open_item(
            uow, kind="recall", entity_type="stock_lots", entity_id="4", summary="Lot A1"
        )
        open_item(uow, kind="vaccine_due", entity_type="patients", entity_id="9", summary="")
    with services.database.unit_of_work(admin) as uow:
        closed = close_items(
            uow, entity_type="stock_lots", entity_id="4", kinds=frozenset({"recall"})
        )
    assert closed == [recall]
    with services.database.reading() as session:
        item = session.get(WorkItem, recall)
        assert item is not None
        assert (item.closed_by_user_id, item.version) == (admin.user_id, 2)
        events = session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.entity_type == "work_items", AuditEvent.entity_id == str(recall)
            )
        ).all()
    assert events == ["worklist.opened", "worklist.closed"]
    with services.database.unit_of_work(admin) as uow:
        assert (
            close_items(uow, entity_type="stock_lots", entity_id="4", kinds=frozenset({"recall"}))
            == []
        )
    [item] = services.worklist.items(pharmacist)
    assert (item.kind, item.kind_label) == ("vaccine_due", "Vaccine due")
    assert kind_label("count_approval") == "Count approval"

"""The one pharmacist work list: everything waiting on a pharmacist, oldest first, and its badge.

A work item's kind is an open string so later features (shortages, count approvals, recalls,
counseling, override approvals) add their own kinds without a schema change; `KIND_LABELS`
says how each is shown, and an unknown kind still reads sensibly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from app.db.base import utc_now
from app.db.models import ClinicalFinding, WorkItem
from app.domain.roles import Role
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role

DATA_REVIEW = "data_review"
FINAL_VERIFICATION = "final_verification"
CLINICAL_FINDING = "clinical_finding"

KIND_LABELS = {
    DATA_REVIEW: "Data review",
    FINAL_VERIFICATION: "Final verification",
    CLINICAL_FINDING: "Clinical finding",
    "shortage": "Shortage",
    "count_approval": "Count approval",
    "recall": "Recall",
    "counseling": "Counseling",
    "override_approval": "Override approval",
}
TOPIC = "worklist"


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind) or kind.replace("_", " ").capitalize()


@dataclass(frozen=True)
class WorkItemRow:
    item_id: int
    kind: str
    kind_label: str
    entity_type: str
    entity_id: str
    summary: str
    opened_at: datetime


def open_item(
    uow: UnitOfWork, *, kind: str, entity_type: str, entity_id: str, summary: str
) -> WorkItem:
    """Put something on the pharmacist's list, in the caller's unit of work."""
    item = WorkItem(kind=kind, entity_type=entity_type, entity_id=entity_id, summary=summary)
    uow.session.add(item)
    uow.audit("worklist.opened", item, kind=kind, about=f"{entity_type}-{entity_id}")
    return item


def close_items(
    uow: UnitOfWork, *, entity_type: str, entity_id: str, kinds: frozenset[str]
) -> list[WorkItem]:
    """Take the open items of `kinds` about one record off the list (its work is done)."""
    items = uow.session.scalars(
        select(WorkItem).where(
            WorkItem.entity_type == entity_type,
            WorkItem.entity_id == entity_id,
            WorkItem.kind.in_(kinds),
            WorkItem.closed_at.is_(None),
        )
    ).all()
    for item in items:
        item.closed_at = utc_now()
        item.closed_by_user_id = uow.actor.user_id
        uow.audit("worklist.closed", item, kind=item.kind)
    return list(items)


class WorklistService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def items(self, actor: Actor) -> list[WorkItemRow]:
        """The open items, oldest first."""
        require_role(actor, Role.PHARMACIST, Role.ADMINISTRATOR, action="see the work list")
        statement = (
            select(WorkItem)
            .where(WorkItem.closed_at.is_(None))
            .order_by(WorkItem.opened_at, WorkItem.id)
        )
        with self._db.reading() as session:
            return [
                WorkItemRow(
                    item_id=item.id,
                    kind=item.kind,
                    kind_label=kind_label(item.kind),
                    entity_type=item.entity_type,
                    entity_id=item.entity_id,
                    summary=item.summary,
                    opened_at=item.opened_at,
                )
                for item in session.scalars(statement)
            ]

    def count(self, actor: Actor) -> int:
        """How many items are open, for the badge."""
        require_role(actor, Role.PHARMACIST, Role.ADMINISTRATOR, action="see the work list")
        statement = select(func.count()).select_from(WorkItem).where(WorkItem.closed_at.is_(None))
        with self._db.reading() as session:
            return session.scalar(statement) or 0

    def fill_for_item(self, actor: Actor, item_id: int) -> int | None:
        """The fill an item is about (a fill's review or a finding on it), or None."""
        require_role(actor, Role.PHARMACIST, Role.ADMINISTRATOR, action="see the work list")
        with self._db.reading() as session:
            item = session.get(WorkItem, item_id)
            if item is None:
                return None
            if item.entity_type == "fills":
                return int(item.entity_id)
            if item.entity_type == "clinical_findings":
                return session.scalar(
                    select(ClinicalFinding.fill_id).where(ClinicalFinding.id == int(item.entity_id))
                )
            return None

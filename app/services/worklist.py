"""The one pharmacist work list: everything waiting on a pharmacist, oldest first, and its badge.

A work item's kind is an open string so later features (shortages, count approvals, recalls,
counseling, override approvals) add their own kinds without a schema change; `KIND_LABELS`
says how each is shown, and an unknown kind still reads sensibly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select, update

from app.db.base import utc_now
from app.db.models import ClinicalFinding, WorkItem
from app.domain.roles import Role
from app.errors import NotFound, ValidationFailed
from app.services.changes import publish
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
    "dea_106": "DEA Form 106 due",
    "controlled_discrepancy": "Controlled-substance discrepancy",
    "recall": "Recall",
    "pmp_report": "PMP file to send",
    "counseling": "Counseling",
    "override_approval": "Override approval",
    "claim_rejection": "Claim to resolve",
}
TOPIC = "worklist"
# Notices (not work on a record) that a pharmacist takes off the list by acknowledging them.
ACKNOWLEDGED_KINDS = frozenset({"shortage"})

# Core statements, built once: the workflow opens and closes items in most of its moves. The
# ORM does not see these writes, so each names its audit event (entity type "work_items").
_ITEMS = cast(Table, WorkItem.__table__)
_OPEN = insert(_ITEMS).returning(_ITEMS.c.id)
_CLOSE = (
    update(_ITEMS)
    .where(
        _ITEMS.c.entity_type == bindparam("about_type"),
        _ITEMS.c.entity_id == bindparam("about_id"),
        _ITEMS.c.kind.in_(bindparam("kinds", expanding=True)),
        _ITEMS.c.closed_at.is_(None),
    )
    .values(
        closed_at=bindparam("now"),
        closed_by_user_id=bindparam("closer_id"),
        version=_ITEMS.c.version + 1,
    )
    .returning(_ITEMS.c.id, _ITEMS.c.kind)
)


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


def open_item(uow: UnitOfWork, *, kind: str, entity_type: str, entity_id: str, summary: str) -> int:
    """Put something on the pharmacist's list, in the caller's unit of work; returns its id."""
    item_id: int = (
        uow.session.connection()
        .execute(
            _OPEN,
            {
                "kind": kind,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "summary": summary,
                "opened_at": utc_now(),
            },
        )
        .scalar_one()
    )
    uow.audit(
        "worklist.opened",
        entity_type=_ITEMS.name,
        entity_id=str(item_id),
        kind=kind,
        about=f"{entity_type}-{entity_id}",
    )
    return item_id


def close_items(
    uow: UnitOfWork, *, entity_type: str, entity_id: str, kinds: frozenset[str]
) -> list[int]:
    """Take the open items of `kinds` about one record off the list (its work is done).

    Returns the ids closed. The `closed_at IS NULL` condition makes closing race-free: of two
    workstations closing the same item, the second finds nothing left to close.
    """
    closed = uow.session.connection().execute(
        _CLOSE,
        {
            "about_type": entity_type,
            "about_id": entity_id,
            "kinds": sorted(kinds),
            "now": utc_now(),
            "closer_id": uow.actor.user_id,
        },
    )
    item_ids = []
    for item_id, kind in closed:
        uow.audit("worklist.closed", entity_type=_ITEMS.name, entity_id=str(item_id), kind=kind)
        item_ids.append(item_id)
    return item_ids


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

    def acknowledge(self, actor: Actor, item_id: int, note: str = "") -> None:
        """A pharmacist takes a notice (`ACKNOWLEDGED_KINDS`) off the list, with an optional note;
        work on a record (a review, a finding) leaves the list only when it is done."""
        require_role(actor, Role.PHARMACIST, action="acknowledge notices on the work list")
        text = " ".join(str(note).split())
        with self._db.unit_of_work(actor) as uow:
            item = uow.session.get(WorkItem, item_id, with_for_update=True)
            if item is None or item.kind not in ACKNOWLEDGED_KINDS:
                raise NotFound(f"There is no notice {item_id} to acknowledge on the work list.")
            if item.closed_at is not None:
                raise ValidationFailed(
                    f"{kind_label(item.kind)} notice {item_id} was already acknowledged.",
                    item_id=item_id,
                )
            item.closed_at = utc_now()
            item.closed_by_user_id = actor.user_id
            uow.audit(f"{item.kind}.acknowledged", item, about=item.entity_id, note=text)
            publish(uow.session, topic=TOPIC, entity_id=None, workstation=actor.workstation)

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

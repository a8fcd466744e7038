"""Who is acting, and the transaction their action runs in, with its audit trail.

A `UnitOfWork` is one user action: it commits the change and its audit events together, or
neither. At commit it checks that every record the action touched has an audit event, so a
service that forgets to audit fails loudly in tests rather than silently in a pharmacy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from app.db.base import Base
from app.db.engine import DatabaseDescription, environment_faults
from app.db.models import AuditEvent
from app.domain.roles import Role
from app.errors import PermissionDenied

log = logging.getLogger(__name__)

# Tables whose changes are covered by the audit event of another record: a user's role rows by
# the user's event, a lot's maintained balance by its movement. The stock ledger and the
# controlled-substance log are append-only records that carry who, when and where themselves and
# are only ever written with the audited record that caused them (a verified bottle, a receipt, a
# count), whose one event names them.
AUDITED_THROUGH_ANOTHER_RECORD = frozenset(
    {"audit_events", "user_roles", "stock_lots", "stock_movements", "controlled_substance_log"}
)


@dataclass(frozen=True)
class Actor:
    """The person on whose authority an action runs, at which workstation."""

    user_id: int | None
    username: str
    full_name: str
    roles: frozenset[Role]
    workstation: str

    def has_any(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def roles_text(self) -> str:
        return ", ".join(role.label for role in sorted(self.roles))


def require_role(actor: Actor, *allowed: Role, action: str) -> None:
    """Refuse the action at the service layer unless the actor holds one of `allowed`."""
    if not actor.has_any(*allowed):
        names = " or ".join(role.label.lower() for role in allowed)
        article = "an" if names[0] in "aeiou" else "a"
        raise PermissionDenied(
            f"Only {article} {names} may {action}. You are signed in as {actor.username} "
            f"({actor.roles_text or 'no role'}).",
            action=action,
            required=[role.value for role in allowed],
        )


def entity_key(record: Base) -> tuple[str, str]:
    identity = inspect(record).identity
    if identity is None:
        raise RuntimeError("flush the session before auditing a new record")
    return record.__tablename__, "-".join(str(part) for part in identity)


@dataclass
class UnitOfWork:
    session: Session
    actor: Actor
    _audited: set[tuple[str, str]] = field(default_factory=set)
    _touched: set[tuple[str, str]] = field(default_factory=set)

    def audit(
        self,
        action: str,
        record: Base | None = None,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        **details: Any,
    ) -> AuditEvent:
        """Record one event for one record; `record` may be an ORM object or type + id."""
        if record is not None:
            if inspect(record).identity is None:
                self.session.flush()
            entity_type, entity_id = entity_key(record)
        summary: dict[str, Any] = {}
        if before is not None:
            summary["before"] = before
        if after is not None:
            summary["after"] = after
        summary.update(details)
        event_row = AuditEvent(
            user_id=self.actor.user_id,
            username=self.actor.username,
            workstation=self.actor.workstation,
            action=action,
            entity_type=entity_type or "none",
            entity_id=entity_id,
            summary=summary,
        )
        self.session.add(event_row)
        if entity_type and entity_id:
            self._audited.add((entity_type, entity_id))
        return event_row

    def _note_touched(self, session: Session, _context: Any, _instances: Any) -> None:
        for record in (*session.new, *session.dirty, *session.deleted):
            if (
                isinstance(record, Base)
                and record.__tablename__ not in AUDITED_THROUGH_ANOTHER_RECORD
            ):
                if record in session.dirty and not session.is_modified(record):
                    continue
                self._touched.add((record.__tablename__, record))  # type: ignore[arg-type]

    def check_every_change_audited(self) -> None:
        self.session.flush()
        missing = []
        for table, record in self._touched:
            key = entity_key(record) if inspect(record).identity else (table, "?")  # type: ignore[arg-type]
            if key not in self._audited:
                missing.append(key)
        if missing:
            raise RuntimeError(f"changed without an audit event: {sorted(missing)}")


class Database:
    """The engine, a session factory, and fault translation; built once by the bootstrap."""

    def __init__(self, engine: Engine, description: DatabaseDescription) -> None:
        self.engine = engine
        self.description = description
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for queries only: it is closed, never committed."""
        with environment_faults(self.description), self._sessions() as session:
            yield session

    @contextmanager
    def unit_of_work(self, actor: Actor) -> Iterator[UnitOfWork]:
        """One action: commit its changes and audit events together, or neither."""
        with environment_faults(self.description), self._sessions() as session:
            uow = UnitOfWork(session=session, actor=actor)
            event.listen(session, "before_flush", uow._note_touched)
            try:
                with session.begin():
                    yield uow
                    uow.check_every_change_audited()
            except PermissionDenied as refusal:
                self._record_refusal(actor, refusal)
                raise

    def _record_refusal(self, actor: Actor, refusal: PermissionDenied) -> None:
        """A refused attempt is itself a security event, kept even though the action was not."""
        with self._sessions() as session, session.begin():
            session.add(
                AuditEvent(
                    user_id=actor.user_id,
                    username=actor.username,
                    workstation=actor.workstation,
                    action="access.denied",
                    entity_type="action",
                    entity_id=str(refusal.facts.get("action", ""))[:64],
                    summary={"required": refusal.facts.get("required", [])},
                )
            )

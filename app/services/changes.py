"""Telling other workstations what changed: change notes, polling (SQLite) and LISTEN (PostgreSQL).

A mutating service calls `publish` inside its unit of work, so the note commits with the change
or not at all. On PostgreSQL the same transaction sends `NOTIFY rxbench_changes, 'topic:id'`,
which the server delivers only at commit. Workstations on SQLite (one machine, but possibly
several windows) poll `changes_since` with a cheap primary-key range query instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.db.models import ChangeEvent
from app.services.unit_of_work import Database

log = logging.getLogger(__name__)

CHANNEL = "rxbench_changes"
# Sent to a LISTEN callback after a lost connection came back: notices may have been missed,
# so the workstation should refresh everything it shows.
RESYNC_TOPIC = "*"
LISTEN_WAIT_S = 0.5
RECONNECT_DELAY_S = 1.0


@dataclass(frozen=True)
class Change:
    topic: str
    entity_id: str | None


def publish(session: Session, *, topic: str, entity_id: str | None, workstation: str) -> None:
    """Note a change in the caller's transaction (and NOTIFY on PostgreSQL, sent at commit).

    A Core insert, not an ORM object: a change note is a signal, not a record of what happened,
    and the audit event of the changed record already says who did it.
    """
    note = insert(ChangeEvent).values(topic=topic, entity_id=entity_id, workstation=workstation)
    if session.get_bind().dialect.name != "postgresql":
        session.execute(note)
        return
    # One round trip for the note and its NOTIFY: this runs in every workflow transaction.
    noted = note.returning(ChangeEvent.id).cte("noted")
    session.execute(
        select(func.pg_notify(CHANNEL, f"{topic}:{entity_id or ''}")).select_from(noted)
    )


def parse_payload(payload: str) -> Change:
    topic, _, entity_id = payload.partition(":")
    return Change(topic=topic, entity_id=entity_id or None)


class ChangeFeed:
    """What other workstations changed since we last looked."""

    def __init__(self, database: Database) -> None:
        self._db = database

    @property
    def can_listen(self) -> bool:
        return self._db.description.kind == "postgresql"

    def latest_id(self) -> int:
        """Where a workstation starts following: changes before it opened are already shown."""
        with self._db.reading() as session:
            return session.scalar(select(func.max(ChangeEvent.id))) or 0

    def changes_since(self, last_id: int) -> tuple[int, set[str]]:
        """The topics changed after `last_id`, and the id to pass next time (polling)."""
        statement = (
            select(ChangeEvent.topic, func.max(ChangeEvent.id).label("last_id"))
            .where(ChangeEvent.id > last_id)
            .group_by(ChangeEvent.topic)
        )
        with self._db.reading() as session:
            rows = session.execute(statement).all()
        if not rows:
            return last_id, set()
        return max(row.last_id for row in rows), {row.topic for row in rows}

    def listen(self, callback: Callable[[Change], None], stop_event: threading.Event) -> None:
        """Call `callback` for each notice until `stop_event` is set (PostgreSQL only).

        Runs on the caller's thread with its own connection; waits at most LISTEN_WAIT_S at a
        time so setting `stop_event` ends it promptly. A lost connection is re-opened after
        RECONNECT_DELAY_S and followed by a RESYNC_TOPIC change.
        """
        if not self.can_listen:
            raise RuntimeError("LISTEN needs PostgreSQL; poll changes_since on SQLite")
        conninfo = self._db.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        reconnecting = False
        while not stop_event.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    if reconnecting:
                        log.info("change feed reconnected")
                        callback(Change(topic=RESYNC_TOPIC, entity_id=None))
                    reconnecting = False
                    while not stop_event.is_set():
                        for notice in connection.notifies(timeout=LISTEN_WAIT_S):
                            callback(parse_payload(notice.payload))
            except psycopg.OperationalError as exc:
                log.warning("change feed connection lost: %s", type(exc).__name__)
                reconnecting = True
                stop_event.wait(RECONNECT_DELAY_S)

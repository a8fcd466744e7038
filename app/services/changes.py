"""Telling other workstations what changed: change notes, polling (SQLite) and LISTEN (PostgreSQL).

A mutating service calls `publish` inside its unit of work, so the note commits with the change
or not at all. On PostgreSQL the same transaction sends `NOTIFY rxbench_changes, 'topic:id'`,
which the server delivers only at commit. Workstations on SQLite (one machine, but possibly
several windows) poll `changes_since` with a cheap primary-key range query instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import psycopg
from sqlalchemy import String, Table, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from app.db.base import UtcDateTime, utc_now
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
    publish_all(session, [Change(topic, entity_id)], workstation=workstation)


def publish_all(session: Session, changes: Sequence[Change], *, workstation: str) -> None:
    """Note several changes at once, in one round trip on PostgreSQL whatever their number."""
    connection = session.connection()
    noted_at = utc_now()
    if connection.dialect.name != "postgresql":
        notes = [
            {
                "topic": change.topic,
                "entity_id": change.entity_id,
                "workstation": workstation,
                "occurred_at": noted_at,
            }
            for change in changes
        ]
        connection.execute(_NOTE, notes)
        return
    connection.execute(
        _NOTE_AND_NOTIFY,
        {
            "topics": [change.topic for change in changes],
            "entity_ids": [change.entity_id for change in changes],
            "workstation": workstation,
            "noted_at": noted_at,
        },
    )


_CHANGES = cast(Table, ChangeEvent.__table__)
_NOTE = insert(_CHANGES)
# PostgreSQL: the notes go in from two arrays and the NOTIFYs ride on the insert (a
# data-modifying CTE), so any number of notes costs one prepared statement and one round trip.
_noting = (
    func.unnest(
        bindparam("topics", type_=ARRAY(String)), bindparam("entity_ids", type_=ARRAY(String))
    )
    .table_valued("topic", "entity_id")
    .render_derived("noting")
)
_noted = (
    insert(_CHANGES)
    .from_select(
        ["topic", "entity_id", "workstation", "occurred_at"],
        select(
            _noting.c.topic,
            _noting.c.entity_id,
            bindparam("workstation", type_=String),
            bindparam("noted_at", type_=UtcDateTime),
        ),
    )
    .returning(_CHANGES.c.topic, _CHANGES.c.entity_id)
    .cte("noted")
)
_NOTE_AND_NOTIFY = select(
    func.pg_notify(CHANNEL, _noted.c.topic + ":" + func.coalesce(_noted.c.entity_id, ""))
).select_from(_noted)


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

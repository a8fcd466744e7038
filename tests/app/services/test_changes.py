"""Change notes reach other workstations: polling on SQLite, LISTEN/NOTIFY on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import select, text

from app.bootstrap import Services, build_services
from app.config import Settings
from app.db.models import ChangeEvent
from app.domain.fill_states import FillState
from app.services.changes import RESYNC_TOPIC, Change, parse_payload, publish, publish_all
from app.services.unit_of_work import Actor
from tests.app.services.pharmacy_data import simple_fill
from tests.conftest import BACKEND

DEADLINE_S = 2.0
postgresql_only = pytest.mark.skipif(
    BACKEND != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's; SQLite workstations poll"
)


@pytest.fixture
def workstation_b(settings: Settings, services: Services) -> Iterator[Services]:
    """A second workstation on the same database, with its own engine."""
    other = build_services(replace(settings, workstation="workstation-b"), upgrade_schema=False)
    yield other
    other.close()


def test_changes_since_reports_new_topics_once(services: Services, admin: Actor) -> None:
    feed = services.changes
    start = feed.latest_id()
    assert feed.changes_since(start) == (start, set())
    with services.database.unit_of_work(admin) as uow:
        publish(uow.session, topic="fills", entity_id="1", workstation="a")
        publish(uow.session, topic="worklist", entity_id=None, workstation="a")
        publish(uow.session, topic="fills", entity_id="2", workstation="a")
    last, topics = feed.changes_since(start)
    assert topics == {"fills", "worklist"}
    assert last == feed.latest_id() > start
    assert feed.changes_since(last) == (last, set())


def test_several_notes_go_in_together_in_order(services: Services, admin: Actor) -> None:
    feed = services.changes
    start = feed.latest_id()
    with services.database.unit_of_work(admin) as uow:
        publish_all(uow.session, [Change("fills", "7"), Change("worklist", None)], workstation="a")
    with services.database.reading() as session:
        notes = session.execute(
            select(ChangeEvent.topic, ChangeEvent.entity_id, ChangeEvent.workstation)
            .where(ChangeEvent.id > start)
            .order_by(ChangeEvent.id)
        ).all()
    assert [tuple(note) for note in notes] == [("fills", "7", "a"), ("worklist", None, "a")]


def test_a_failed_action_sends_no_change_note(services: Services, admin: Actor) -> None:
    start = services.changes.latest_id()
    with pytest.raises(RuntimeError), services.database.unit_of_work(admin) as uow:
        publish(uow.session, topic="fills", entity_id="1", workstation="a")
        raise RuntimeError("the action failed after publishing")
    assert services.changes.changes_since(start) == (start, set())


def test_payloads_name_topic_and_record() -> None:
    assert parse_payload("fills:12") == Change("fills", "12")
    assert parse_payload("worklist:") == Change("worklist", None)


def test_a_move_on_workstation_a_is_polled_by_workstation_b_within_two_seconds(
    services: Services, workstation_b: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = simple_fill(services, admin)
    last = workstation_b.changes.latest_id()
    services.workflow.advance(
        technician, fill_id, to_state=FillState.DATA_ENTRY, expected_version=1
    )
    started = time.monotonic()
    topics: set[str] = set()
    while "fills" not in topics and time.monotonic() - started < DEADLINE_S:
        last, topics = workstation_b.changes.changes_since(last)
        time.sleep(0.05)
    assert "fills" in topics
    [row] = workstation_b.fills.queue(technician)
    assert row.state is FillState.DATA_ENTRY


@pytest.mark.skipif(BACKEND != "sqlite", reason="the refusal is SQLite's")
def test_listening_needs_postgresql(services: Services) -> None:
    assert not services.changes.can_listen
    with pytest.raises(RuntimeError, match="poll changes_since"):
        services.changes.listen(lambda change: None, threading.Event())


class _Listener:
    def __init__(self, feed_owner: Services) -> None:
        self.received: list[Change] = []
        self.arrived = threading.Condition()
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=feed_owner.changes.listen, args=(self._on_change, self.stop), daemon=True
        )

    def _on_change(self, change: Change) -> None:
        with self.arrived:
            self.received.append(change)
            self.arrived.notify_all()

    def wait_for(self, wanted: Change, timeout: float = DEADLINE_S) -> float:
        started = time.monotonic()
        with self.arrived:
            assert self.arrived.wait_for(lambda: wanted in self.received, timeout), self.received
        return time.monotonic() - started

    def __enter__(self) -> _Listener:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


def _wait_until_listening(services: Services) -> int:
    """The listener's server process id, once its LISTEN has run."""
    deadline = time.monotonic() + DEADLINE_S
    with services.database.engine.connect() as connection:
        while time.monotonic() < deadline:
            pid = connection.scalar(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN rxbench_changes' "
                    "AND datname = current_database()"
                )
            )
            if pid is not None:
                return int(pid)
            connection.rollback()  # pg_stat_activity is a snapshot per transaction
            time.sleep(0.05)
    raise AssertionError("the listener never ran LISTEN")


@postgresql_only
def test_a_move_on_workstation_a_is_heard_by_workstation_b_within_two_seconds(
    services: Services, workstation_b: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = simple_fill(services, admin)
    with _Listener(workstation_b) as listener:
        _wait_until_listening(workstation_b)
        services.workflow.advance(
            technician, fill_id, to_state=FillState.DATA_ENTRY, expected_version=1
        )
        waited = listener.wait_for(Change("fills", str(fill_id)))
    assert waited < DEADLINE_S


@postgresql_only
def test_the_listener_reconnects_after_losing_its_connection(
    services: Services, workstation_b: Services, admin: Actor, technician: Actor
) -> None:
    fill_id = simple_fill(services, admin)
    with _Listener(workstation_b) as listener:
        pid = _wait_until_listening(workstation_b)
        with services.database.engine.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        listener.wait_for(Change(RESYNC_TOPIC, None), timeout=5)
        services.workflow.take_fill(technician, fill_id)
        listener.wait_for(Change("fills", str(fill_id)))

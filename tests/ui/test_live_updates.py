"""Live updates: another workstation's change reaches the open window, and a lost feed recovers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from app.bootstrap import Services, build_services
from app.config import Settings
from app.domain.fill_states import FillState
from app.services.unit_of_work import Actor
from tests.ui.test_main_window import CosigningSession, open_window
from tests.ui.workflow_data import Intake, set_up_intake
from ui.context import UiContext
from ui.live_updates import LOST_TEXT, ON_TEXT, LiveUpdates

ARRIVES_WITHIN_MS = 2000


@pytest.fixture
def other_workstation(settings: Settings) -> Iterator[Services]:
    """A second, independent set of services on the same database: another workstation."""
    services = build_services(replace(settings, workstation="counter-2"))
    yield services
    services.close()


@pytest.fixture
def session(services: Services, pharmacist: Actor) -> CosigningSession:
    return CosigningSession(services, pharmacist)


def test_a_fill_entered_at_another_workstation_appears_within_two_seconds(
    qtbot,
    ui_context: UiContext,
    session,
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
    other_workstation: Services,
):
    intake = set_up_intake(services, admin, technician)
    first = intake.enter()
    window = open_window(qtbot, ui_context, session, pharmacist)
    qtbot.waitUntil(lambda: window.live_status.text() == ON_TEXT)
    assert {row.fill_id for row in window.fill_queue.model.rows} == {first.fill_id}
    waiting_before = window.worklist.waiting
    assert waiting_before == 2  # its data review, and a shortage: nothing is on the shelf
    window.fill_queue.show_fill_row(first.fill_id)

    elsewhere = Intake(other_workstation, technician, intake.patient_id, intake.prescriber_id)
    second = elsewhere.enter(sig_code="1 T PO BID")
    qtbot.waitUntil(
        lambda: window.fill_queue.row_for(second.fill_id) is not None, timeout=ARRIVES_WITHIN_MS
    )
    # The pharmacist's list and the selection follow.
    # (its data review, and a duplicate-therapy finding: the same patient, lisinopril twice;
    # the shortage notice for lisinopril is already open)
    qtbot.waitUntil(lambda: window.worklist.waiting == 4, timeout=ARRIVES_WITHIN_MS)
    current = window.fill_queue.current_fill()
    assert current is not None and current.fill_id == first.fill_id

    row = window.fill_queue.row_for(first.fill_id)
    assert row is not None
    other_workstation.workflow.advance(
        pharmacist, first.fill_id, to_state=FillState.FILL, expected_version=row.version
    )
    qtbot.waitUntil(
        lambda: window.fill_queue.row_for(first.fill_id).state is FillState.FILL,
        timeout=ARRIVES_WITHIN_MS,
    )


def test_a_lost_database_is_shown_and_recovered_from(qtbot, services: Services, admin: Actor):
    live = LiveUpdates(services.changes)
    statuses: list[str] = []
    topics: list[set[str]] = []
    live.status_changed.connect(statuses.append)
    live.changed.connect(topics.append)
    live.start()
    try:
        qtbot.waitUntil(lambda: live.status == ON_TEXT)
        live.set_database_reachable(False)
        assert live.status == LOST_TEXT
        with qtbot.waitSignal(live.changed) as resync:
            live.set_database_reachable(True)
        assert resync.args == [{"*"}]
        assert statuses[-2:] == [LOST_TEXT, ON_TEXT]
    finally:
        live.stop()


def test_a_failing_poll_pauses_live_updates_until_the_database_answers(
    qtbot, services: Services, admin: Actor
):
    if services.changes.can_listen:
        pytest.skip("PostgreSQL listens instead of polling")

    class FlakyFeed:
        """The real feed, failing while `down` is set."""

        can_listen = False
        down = False

        def latest_id(self) -> int:
            return services.changes.latest_id()

        def changes_since(self, last_id: int):
            if self.down:
                from app.errors import DatabaseUnavailable

                raise DatabaseUnavailable("The database server does not answer.")
            return services.changes.changes_since(last_id)

    feed = FlakyFeed()
    live = LiveUpdates(feed, poll_interval_ms=50)  # type: ignore[arg-type]
    live.start()
    try:
        qtbot.waitUntil(lambda: live.status == ON_TEXT)
        feed.down = True
        qtbot.waitUntil(lambda: live.status == LOST_TEXT)
        feed.down = False
        with qtbot.waitSignal(live.changed) as resync:
            pass
        assert resync.args == [{"*"}]
        assert live.status == ON_TEXT
    finally:
        live.stop()

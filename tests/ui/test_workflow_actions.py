"""What the queue's action menu offers: never a move that belongs to another panel."""

from __future__ import annotations

from app.domain.fill_states import FillState
from app.domain.roles import Role
from app.services.unit_of_work import Actor
from tests.ui.models.test_fills import fill_row
from ui.workflow_actions import fill_actions

TECHNICIAN = Actor(2, "tess", "Tess", frozenset({Role.TECHNICIAN}), "test-workstation")


def test_a_fill_at_the_fill_step_goes_on_only_through_the_verify_panel() -> None:
    offered = {action.target for action in fill_actions(fill_row(1, FillState.FILL), TECHNICIAN)}
    assert FillState.FINAL_VERIFICATION not in offered
    assert FillState.ON_HOLD in offered  # the standing moves are still there


def test_data_entry_offers_submission_for_review() -> None:
    offered = {
        action.target for action in fill_actions(fill_row(1, FillState.DATA_ENTRY), TECHNICIAN)
    }
    assert FillState.DATA_REVIEW in offered

"""A dock that cannot load says why and offers Retry; Retry loads it once the fault clears."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from app.domain.roles import Role
from app.errors import DatabaseUnavailable
from app.services.stock import StockRow
from app.services.unit_of_work import Actor
from ui.docks.inventory import InventoryDock
from ui.tasks import TaskRunner

ACTOR = Actor(7, "tess", "Tess", frozenset({Role.TECHNICIAN}), "bench-1")
LOT = StockRow(1, "0000-1111-01", "Lisinopril 10 mg/1 TABLET", None, "L1", date(2030, 1, 31),
               "available", "shelf", Decimal(100))  # fmt: skip


class FlakyStock:
    """Fails while `down` is set, the way the real service does when the server is gone."""

    def __init__(self) -> None:
        self.down = True
        self.asked_by: list[Actor] = []

    def on_hand(self, actor: Actor) -> list[StockRow]:
        self.asked_by.append(actor)
        if self.down:
            raise DatabaseUnavailable("RxBench cannot reach the database (PostgreSQL db:5432/rx).")
        return [LOT]


def test_failed_load_shows_the_explained_error_and_retry(qtbot):
    tasks = TaskRunner()
    stock = FlakyStock()
    dock = InventoryDock(stock=stock, tasks=tasks, actor=lambda: ACTOR)
    qtbot.addWidget(dock)
    dock.show()

    with qtbot.waitSignal(dock.load_failed) as failure:
        dock.reload()
    assert isinstance(failure.args[0], DatabaseUnavailable)
    assert dock.has_failed
    assert "Database unreachable" in dock.error_text
    assert "cannot reach the database" in dock.error_text
    assert "choose Retry" in dock.error_text
    assert dock.retry_button.isVisible()
    assert dock.focus_target() is dock.retry_button

    stock.down = False
    with qtbot.waitSignal(dock.loaded):
        dock.retry_button.click()
    assert not dock.has_failed
    assert not dock.retry_button.isVisible()
    assert dock.model.rows == (LOT,)
    assert stock.asked_by == [ACTOR, ACTOR]
    tasks.shutdown()


def test_nobody_signed_in_loads_nothing(qtbot):
    tasks = TaskRunner()
    stock = FlakyStock()
    dock = InventoryDock(stock=stock, tasks=tasks, actor=lambda: None)
    qtbot.addWidget(dock)
    dock.reload()
    assert not tasks.busy
    assert stock.asked_by == []

"""Reorder levels, the suggested order, and shortage notices to the pharmacist.

Each package NDC the pharmacy stocks may have a `StockLevel`: a minimum (below it, tell the
pharmacist) and a maximum (a suggested order brings it back up to it). Stock "on hand" here is
what can be dispensed: available, unexpired lots only (quarantined, recalled and expired stock
does not count).

The suggested order lists every package with a level whose on-hand is below its minimum, or
whose recent dispensing (net of reversals, over the last `window_days` days) projects it below
its minimum within the reorder cycle (`cycle_days`, a week by default). It orders
`maximum - on hand`, rounded up to whole packages of the package's billing quantity.

CSV columns of `export_order_csv`, in this order: ``NDC``, ``Drug``, ``On hand``, ``Minimum``,
``Maximum``, ``Usage per day``, ``Order packages`` (blank when the package's billing quantity is
unknown), ``Order quantity`` (in billing units).

Shortage notices are work items of kind ``shortage`` on the pharmacist's one work list, about
``drug_packages`` with entity id ``<package id>:<reason>``, one open notice per package and
reason (`check_shortages` is idempotent). Reasons:

- ``below_minimum``: available on-hand is below the package's minimum;
- ``fills_short``: the fills waiting in data entry, data review or fill need more of the package
  (their quantity less what their accepted bottles already took from stock) than is on hand;
- ``short_dated``: an available lot with stock expires within the house's short-dated window.

A notice stays on the list until a pharmacist acknowledges it, even once it no longer applies;
acknowledged, it is opened again by the next check if it still applies.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from app.db.models import (
    DrugPackage,
    DrugProduct,
    Fill,
    FillBottle,
    Prescription,
    StockLevel,
    StockLot,
    StockMovement,
    WorkItem,
)
from app.domain.fill_states import FillState
from app.domain.label_text import drug_line
from app.domain.roles import Role
from app.errors import EnvironmentFault, NotFound, StaleRecord, ValidationFailed
from app.services.changes import publish
from app.services.house_settings import read_inventory_policy
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role
from app.services.worklist import TOPIC as WORKLIST_TOPIC
from app.services.worklist import WorklistService, open_item

SHORTAGE = "shortage"
BELOW_MINIMUM = "below_minimum"
FILLS_SHORT = "fills_short"
SHORT_DATED = "short_dated"
REASONS = (BELOW_MINIMUM, FILLS_SHORT, SHORT_DATED)
REASON_LABELS = {
    BELOW_MINIMUM: "below minimum",
    FILLS_SHORT: "fills need more than is on hand",
    SHORT_DATED: "short-dated stock",
}
NOTICE_ENTITY = "drug_packages"
LEVEL_ROLES = (Role.PHARMACIST, Role.TECHNICIAN)
WAITING_FILL_STATES = (
    FillState.DATA_ENTRY.value,
    FillState.DATA_REVIEW.value,
    FillState.FILL.value,
)
DEFAULT_CYCLE_DAYS = 7
MAX_WINDOW_DAYS = 366
CSV_COLUMNS = (
    "NDC",
    "Drug",
    "On hand",
    "Minimum",
    "Maximum",
    "Usage per day",
    "Order packages",
    "Order quantity",
)
_MAX_QUANTITY = Decimal("999999999.999")  # Numeric(12, 3)


class ExportFailed(EnvironmentFault):
    code = "export-failed"


@dataclass(frozen=True)
class LevelRow:
    level_id: int
    package_id: int
    ndc: str
    drug: str
    minimum: Decimal
    maximum: Decimal
    version: int
    on_hand: Decimal  # dispensable: available, unexpired lots

    @property
    def below_minimum(self) -> bool:
        return self.on_hand < self.minimum


@dataclass(frozen=True)
class OrderLine:
    package_id: int
    ndc: str
    drug: str
    on_hand: Decimal
    minimum: Decimal
    maximum: Decimal
    usage_per_day: Decimal
    # Whole packages to order, or None when the package's billing quantity is unknown.
    order_packages: int | None
    order_quantity: Decimal
    below_minimum: bool  # now, as opposed to projected within the reorder cycle


@dataclass(frozen=True)
class Notice:
    work_item_id: int
    package_id: int
    reason: str
    summary: str
    opened: bool  # opened by this check (False: it was already open)


def _shown(quantity: Decimal) -> str:
    text = (
        format(quantity.normalize(), "f") if quantity == quantity.to_integral() else str(quantity)
    )
    return text.rstrip("0").rstrip(".") if "." in text else text


def _level_quantity(value: Decimal | int | str, *, field: str) -> Decimal:
    if isinstance(value, (bool, float)):
        raise ValidationFailed(
            f"The {field} is a quantity such as 100 or 2.5, not “{value}”.", field=field
        )
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed(
            f"The {field} is a quantity such as 100 or 2.5, not “{value}”.", field=field
        ) from None
    if not amount.is_finite() or amount < 0:
        raise ValidationFailed(f"The {field} cannot be negative (“{value}”).", field=field)
    if amount > _MAX_QUANTITY or amount != amount.quantize(Decimal("0.001")):
        raise ValidationFailed(
            f"The {field} “{value}” is out of range: at most {_MAX_QUANTITY}, three decimals.",
            field=field,
        )
    return amount


def _window(window_days: int) -> int:
    if isinstance(window_days, bool) or not isinstance(window_days, int):
        raise ValidationFailed(
            f"The usage window is a whole number of days (30 or 90), not “{window_days}”.",
            field="window_days",
        )
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise ValidationFailed(
            f"The usage window is between 1 and {MAX_WINDOW_DAYS} days (30 or 90 usually), "
            f"not {window_days}.",
            field="window_days",
        )
    return window_days


def _drug_name(product: DrugProduct) -> str:
    """The drug as its label names it ("Lisinopril 10 mg tablet")."""
    name = product.proprietary_name or product.nonproprietary_name
    return drug_line(name, product.strength, product.strength_unit, product.dosage_form)


def _dispensable(today: date) -> list[ColumnElement[bool]]:
    return [StockLot.status == "available", StockLot.expiry >= today]


def available_on_hand(
    session: Session, package_ids: Collection[int], today: date
) -> dict[int, Decimal]:
    """Dispensable stock (available, unexpired lots) per package; packages without any: 0."""
    totals = {package_id: Decimal(0) for package_id in package_ids}
    if not totals:
        return totals
    rows = session.execute(
        select(StockLot.package_id, func.sum(StockLot.on_hand))
        .where(StockLot.package_id.in_(sorted(totals)), *_dispensable(today))
        .group_by(StockLot.package_id)
    )
    for package_id, total in rows:
        totals[package_id] = Decimal(total or 0)
    return totals


def _usage(session: Session, since: datetime) -> dict[int, Decimal]:
    """Net dispensed quantity per package since `since`: dispensed movements less their
    reversals (a reversal of a dispense carries its fill).

    Summed per lot in one pass over the ledger, then per package: grouping by `lot_id + 0`
    keeps SQLite from walking the ledger in lot-index order (one random read per row, about
    ten times slower over a million rows than a plain scan)."""
    lot = (StockMovement.lot_id + 0).label("lot")
    per_lot = (
        select(lot, func.sum(StockMovement.quantity).label("used"))
        .where(
            StockMovement.occurred_at >= since,
            or_(
                StockMovement.kind == "dispensed",
                and_(StockMovement.kind == "reversal", StockMovement.fill_id.is_not(None)),
            ),
        )
        .group_by(lot)
        .subquery()
    )
    rows = session.execute(
        select(StockLot.package_id, func.sum(per_lot.c.used))
        .join(per_lot, per_lot.c.lot == StockLot.id)
        .group_by(StockLot.package_id)
    )
    return {package_id: -Decimal(total or 0) for package_id, total in rows}


def _open_notices(session: Session, package_ids: Collection[int] | None) -> dict[str, int]:
    statement = select(WorkItem.entity_id, WorkItem.id).where(
        WorkItem.kind == SHORTAGE,
        WorkItem.entity_type == NOTICE_ENTITY,
        WorkItem.closed_at.is_(None),
    )
    if package_ids is not None:
        keys = [f"{package_id}:{reason}" for package_id in package_ids for reason in REASONS]
        statement = statement.where(WorkItem.entity_id.in_(keys))
    return {entity_id: item_id for entity_id, item_id in session.execute(statement)}


def _shortages(
    session: Session, package_ids: Collection[int] | None, today: date
) -> list[tuple[int, str, str]]:
    """(package id, reason, summary) of every shortage that applies now."""
    policy = read_inventory_policy(session)
    found: list[tuple[int, str, str]] = []

    def limited(statement, column):  # type: ignore[no-untyped-def]
        return statement if package_ids is None else statement.where(column.in_(package_ids))

    levels = {
        package_id: minimum
        for package_id, minimum in session.execute(
            limited(select(StockLevel.package_id, StockLevel.minimum), StockLevel.package_id)
        )
    }
    package_of_fill = func.coalesce(Fill.dispensed_package_id, Prescription.package_id)
    # A fill's bottles accepted at verification are already off the shelf: only the rest is
    # still needed, or a fill's own dispensing would count against it twice.
    taken = (
        select(FillBottle.fill_id, func.sum(FillBottle.quantity).label("quantity"))
        .where(FillBottle.voided_at.is_(None))
        .group_by(FillBottle.fill_id)
        .subquery()
    )
    still_needed = Fill.quantity - func.coalesce(taken.c.quantity, 0)
    demand = {
        package_id: (Decimal(total), count)
        for package_id, total, count in session.execute(
            limited(
                select(package_of_fill, func.sum(still_needed), func.count(Fill.id))
                .join(Prescription, Prescription.id == Fill.prescription_id)
                .outerjoin(taken, taken.c.fill_id == Fill.id)
                .where(Fill.state.in_(WAITING_FILL_STATES), still_needed > 0)
                .group_by(package_of_fill),
                package_of_fill,
            )
        )
    }
    horizon = today + timedelta(days=policy.short_dated_days)
    short_dated: dict[int, tuple[Decimal, date]] = {}
    for package_id, quantity, soonest in session.execute(
        limited(
            select(StockLot.package_id, func.sum(StockLot.on_hand), func.min(StockLot.expiry))
            .where(
                StockLot.status == "available",
                StockLot.on_hand > 0,
                StockLot.expiry <= horizon,
            )
            .group_by(StockLot.package_id),
            StockLot.package_id,
        )
    ):
        short_dated[package_id] = (Decimal(quantity), soonest)
    on_hand = available_on_hand(session, set(levels) | set(demand), today)
    for package_id, minimum in sorted(levels.items()):
        if on_hand[package_id] < minimum:
            found.append(
                (
                    package_id,
                    BELOW_MINIMUM,
                    f"{_shown(on_hand[package_id])} on hand, below the minimum of "
                    f"{_shown(minimum)}",
                )
            )
    for package_id, (needed, count) in sorted(demand.items()):
        if needed > on_hand[package_id]:
            found.append(
                (
                    package_id,
                    FILLS_SHORT,
                    f"{count} waiting {'fills need' if count != 1 else 'fill needs'} "
                    f"{_shown(needed)}, "
                    f"{_shown(on_hand[package_id])} on hand",
                )
            )
    for package_id, (quantity, soonest) in sorted(short_dated.items()):
        found.append(
            (
                package_id,
                SHORT_DATED,
                f"{_shown(quantity)} expiring by {soonest.isoformat()} "
                f"(within {policy.short_dated_days} days)",
            )
        )
    return found


def open_shortage_notices(
    uow: UnitOfWork, package_ids: Collection[int] | None, today: date
) -> list[Notice]:
    """In the caller's unit of work: open a notice for each shortage that has none open;
    returns every shortage that applies (opened now or already open)."""
    session = uow.session
    ids = None if package_ids is None else sorted(set(package_ids))
    shortages = _shortages(session, ids, today)
    if not shortages:
        return []
    short = sorted({package_id for package_id, _, _ in shortages})
    # One checker per package at a time, the open notices read once its row is locked: of two
    # workstations checking together, the second sees the first one's notice (PostgreSQL;
    # SQLite serves one writer at a time).
    session.execute(
        select(DrugPackage.id)
        .where(DrugPackage.id.in_(short))
        .order_by(DrugPackage.id)
        .with_for_update()
    ).all()
    already = _open_notices(session, short)
    names = dict(
        session.execute(
            select(DrugPackage.id, DrugPackage.ndc).where(
                DrugPackage.id.in_({package_id for package_id, _, _ in shortages})
            )
        ).all()
    )
    notices: list[Notice] = []
    for package_id, reason, text in shortages:
        key = f"{package_id}:{reason}"
        summary = f"NDC {names.get(package_id, package_id)}: {text}"
        item_id = already.get(key)
        opened = item_id is None
        if item_id is None:
            item_id = open_item(
                uow, kind=SHORTAGE, entity_type=NOTICE_ENTITY, entity_id=key, summary=summary
            )
        notices.append(Notice(item_id, package_id, reason, summary, opened))
    if any(notice.opened for notice in notices):
        publish(session, topic=WORKLIST_TOPIC, entity_id=None, workstation=uow.actor.workstation)
    return notices


class ReorderService:
    def __init__(self, database: Database, *, today: Callable[[], date] = date.today) -> None:
        self._db = database
        self._today = today

    # --- levels -------------------------------------------------------------------------------

    def set_level(
        self,
        actor: Actor,
        package_id: int,
        *,
        minimum: Decimal | int | str,
        maximum: Decimal | int | str,
        expected_version: int | None = None,
    ) -> LevelRow:
        """Set (or change) a package's minimum and maximum. `expected_version` is the level's
        version as read: a level changed since is refused (StaleRecord), nothing saved."""
        require_role(actor, *LEVEL_ROLES, action="set reorder levels")
        low = _level_quantity(minimum, field="minimum")
        high = _level_quantity(maximum, field="maximum")
        if high < low:
            raise ValidationFailed(
                f"The maximum ({_shown(high)}) cannot be below the minimum ({_shown(low)}).",
                field="maximum",
            )
        if high == 0:
            raise ValidationFailed(
                "The maximum must be more than zero: a level of nothing is no level.",
                field="maximum",
            )
        with self._db.unit_of_work(actor) as uow:
            session = uow.session
            if session.get(DrugPackage, package_id) is None:
                raise NotFound(f"There is no package {package_id} in the catalogue.")
            level = session.scalars(
                select(StockLevel).where(StockLevel.package_id == package_id).with_for_update()
            ).first()
            if level is None:
                if expected_version is not None:
                    raise StaleRecord(
                        "This package's reorder level was removed or never saved since you "
                        "read it: reload and try again.",
                        package_id=package_id,
                    )
                level = StockLevel(package_id=package_id, minimum=low, maximum=high)
                session.add(level)
                uow.audit(
                    "reorder.level_set", level, after={"minimum": str(low), "maximum": str(high)}
                )
            else:
                if expected_version is not None and level.version != expected_version:
                    raise StaleRecord(
                        "Someone else changed this package's reorder level since you read it "
                        f"(now minimum {_shown(level.minimum)}, maximum {_shown(level.maximum)}): "
                        "nothing was saved. Reload and try again.",
                        package_id=package_id,
                    )
                before = {"minimum": str(level.minimum), "maximum": str(level.maximum)}
                level.minimum, level.maximum = low, high
                uow.audit(
                    "reorder.level_changed",
                    level,
                    before=before,
                    after={"minimum": str(low), "maximum": str(high)},
                )
            session.flush()
            return self._level_rows(session, [package_id], self._today())[0]

    def levels(self, actor: Actor) -> list[LevelRow]:
        """Every package's reorder level with its dispensable stock on hand, by NDC."""
        require_role(actor, *LEVEL_ROLES, Role.ADMINISTRATOR, action="see reorder levels")
        with self._db.reading() as session:
            return self._level_rows(session, None, self._today())

    @staticmethod
    def _level_rows(
        session: Session, package_ids: Iterable[int] | None, today: date
    ) -> list[LevelRow]:
        statement = (
            select(StockLevel, DrugPackage.ndc, DrugProduct)
            .join(DrugPackage, DrugPackage.id == StockLevel.package_id)
            .join(DrugProduct, DrugProduct.id == DrugPackage.product_id)
            .order_by(DrugPackage.ndc, StockLevel.id)
        )
        if package_ids is not None:
            statement = statement.where(StockLevel.package_id.in_(list(package_ids)))
        found = session.execute(statement).all()
        on_hand = available_on_hand(session, {level.package_id for level, _, _ in found}, today)
        return [
            LevelRow(
                level.id,
                level.package_id,
                ndc,
                _drug_name(product),
                level.minimum,
                level.maximum,
                level.version,
                on_hand[level.package_id],
            )
            for level, ndc, product in found
        ]

    # --- the suggested order ------------------------------------------------------------------

    def suggested_order(
        self, actor: Actor, *, window_days: int = 30, cycle_days: int = DEFAULT_CYCLE_DAYS
    ) -> list[OrderLine]:
        """What to order now, by NDC (see the module's description of the maths)."""
        require_role(actor, *LEVEL_ROLES, Role.ADMINISTRATOR, action="see the suggested order")
        window = _window(window_days)
        if (
            isinstance(cycle_days, bool)
            or not isinstance(cycle_days, int)
            or not 0 <= cycle_days <= MAX_WINDOW_DAYS
        ):
            raise ValidationFailed(
                f"The reorder cycle is a whole number of days up to {MAX_WINDOW_DAYS}, "
                f"not “{cycle_days}”.",
                field="cycle_days",
            )
        with self._db.reading() as session:
            return self._order(session, window, cycle_days)

    def _order(self, session: Session, window: int, cycle_days: int) -> list[OrderLine]:
        today = self._today()
        since = datetime.combine(today - timedelta(days=window), time(), tzinfo=UTC)
        usage = _usage(session, since)
        on_hand_by_package = {
            package_id: Decimal(total or 0)
            for package_id, total in session.execute(
                select(StockLot.package_id, func.sum(StockLot.on_hand))
                .join(StockLevel, StockLevel.package_id == StockLot.package_id)
                .where(*_dispensable(today))
                .group_by(StockLot.package_id)
            )
        }
        rows = session.execute(
            select(
                StockLevel.package_id,
                StockLevel.minimum,
                StockLevel.maximum,
                DrugPackage.ndc,
                DrugPackage.billing_quantity,
                DrugProduct.proprietary_name,
                DrugProduct.nonproprietary_name,
                DrugProduct.strength,
                DrugProduct.strength_unit,
                DrugProduct.dosage_form,
            )
            .join(DrugPackage, DrugPackage.id == StockLevel.package_id)
            .join(DrugProduct, DrugProduct.id == DrugPackage.product_id)
            .order_by(DrugPackage.ndc, StockLevel.package_id)
        )
        lines: list[OrderLine] = []
        for row in rows:
            package_id, minimum, maximum, ndc, per_package = row[:5]
            on_hand = on_hand_by_package.get(package_id, Decimal(0))
            per_day = (max(usage.get(package_id, Decimal(0)), Decimal(0)) / window).quantize(
                Decimal("0.001")
            )
            below = on_hand < minimum
            if not below and on_hand - per_day * cycle_days >= minimum:
                continue
            need = maximum - on_hand
            if need <= 0:
                continue
            packages: int | None = None
            quantity = need
            if per_package is not None and per_package > 0:
                packages = math.ceil(need / per_package)
                quantity = per_package * packages
            drug = drug_line(row[5] or row[6], row[7], row[8], row[9])
            lines.append(
                OrderLine(
                    package_id,
                    ndc,
                    drug,
                    on_hand,
                    minimum,
                    maximum,
                    per_day,
                    packages,
                    quantity,
                    below,
                )
            )
        return lines

    def export_order_csv(
        self,
        actor: Actor,
        path: str | Path,
        *,
        window_days: int = 30,
        cycle_days: int = DEFAULT_CYCLE_DAYS,
    ) -> list[OrderLine]:
        """Write the suggested order to `path` as CSV (columns: `CSV_COLUMNS`) and audit the
        export; a file that cannot be written is reported and nothing is audited."""
        require_role(actor, *LEVEL_ROLES, Role.ADMINISTRATOR, action="export the suggested order")
        lines = self.suggested_order(actor, window_days=window_days, cycle_days=cycle_days)
        target = Path(path)
        with self._db.unit_of_work(actor) as uow:
            uow.audit(
                "reorder.exported",
                entity_type="stock_levels",
                entity_id="suggested-order",
                lines=len(lines),
                window_days=window_days,
                cycle_days=cycle_days,
                file=target.name,
            )
            uow.session.flush()
            try:
                with target.open("w", newline="", encoding="utf-8") as out:
                    writer = csv.writer(out)
                    writer.writerow(CSV_COLUMNS)
                    for line in lines:
                        writer.writerow(
                            [
                                line.ndc,
                                line.drug,
                                _shown(line.on_hand),
                                _shown(line.minimum),
                                _shown(line.maximum),
                                _shown(line.usage_per_day),
                                "" if line.order_packages is None else line.order_packages,
                                _shown(line.order_quantity),
                            ]
                        )
            except OSError as failure:
                raise ExportFailed(
                    f"The suggested order could not be written to {target}: "
                    f"{failure.strerror or failure}.",
                    path=str(target),
                ) from None
        return lines

    # --- shortage notices ---------------------------------------------------------------------

    def check_shortages(
        self, actor: Actor, package_ids: Collection[int] | None = None
    ) -> list[Notice]:
        """Open a shortage notice for each shortage without one (of `package_ids`, or every
        package); returns every shortage that applies, each saying whether it was opened now."""
        require_role(actor, *LEVEL_ROLES, action="check for shortages")
        with self._db.unit_of_work(actor) as uow:
            return open_shortage_notices(uow, package_ids, self._today())

    def acknowledge(self, actor: Actor, work_item_id: int, note: str = "") -> None:
        """A pharmacist takes a shortage notice off the work list, with an optional note (the
        work list's acknowledgement: the Pharmacist dock calls it there)."""
        WorklistService(self._db).acknowledge(actor, work_item_id, note)

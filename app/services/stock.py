"""Reading stock for the Inventory dock: lots found by drug or NDC and filtered by what needs
attention, one package's lots (first-expiry-first-out marked) and movement history, and its
dispensing per day with the on-hand it left.

Searching works as the drug catalogue's does: every word typed starts a word of the product's
search text (names, ingredients, strength, form, labeler); digits and hyphens with four digits
or more are an NDC fragment found in the package's 10- or 11-digit NDC. Days are the
workstation's local days (its UTC offset now, applied to the whole period: a change of daylight
saving time moves at most an hour's dispensing across midnight).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    and_,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased

from app.db.models import (
    ControlledSubstanceEntry,
    DrugPackage,
    DrugProduct,
    Fill,
    Prescription,
    StockLevel,
    StockLot,
    StockMovement,
    User,
)
from app.domain.label_text import drug_line
from app.domain.roles import Role
from app.errors import NotFound, ValidationFailed
from app.services.catalogue import search_words
from app.services.dispensing import CONTROLLED_SCHEDULES
from app.services.house_settings import read_inventory_policy
from app.services.unit_of_work import Actor, Database, require_role

DEFAULT_MOVEMENT_LIMIT = 500
MAX_MOVEMENT_LIMIT = 10_000
MAX_USAGE_DAYS = 366
_NDC_FRAGMENT = re.compile(r"[\d-]+")
_MIN_NDC_DIGITS = 4
_MAX_UTC_OFFSET = timedelta(hours=14)


class StockView(StrEnum):
    """Which lots the Inventory dock lists."""

    ALL = "all"
    BELOW_MINIMUM = "below_minimum"
    SHORT_DATED = "short_dated"
    EXPIRED = "expired"
    QUARANTINED = "quarantined"
    CONTROLLED = "controlled"

    @property
    def label(self) -> str:
        return {
            StockView.ALL: "All lots",
            StockView.BELOW_MINIMUM: "Below minimum",
            StockView.SHORT_DATED: "Short-dated",
            StockView.EXPIRED: "Expired",
            StockView.QUARANTINED: "Quarantined or recalled",
            StockView.CONTROLLED: "Controlled (C-II to C-V)",
        }[self]


@dataclass(frozen=True)
class StockRow:
    """One lot; `short_dated`: it expires within the house's short-dated window (not yet)."""

    lot_id: int
    package_id: int
    ndc: str
    drug: str
    dea_schedule: str | None
    lot_number: str
    expiry: date
    status: str
    location: str
    on_hand: Decimal
    short_dated: bool = False

    @property
    def negative(self) -> bool:
        return self.on_hand < 0


@dataclass(frozen=True)
class LotLine:
    """A lot of one package; `fefo_position` is its turn to be filled from (1 first), None for
    a lot not fit to fill from (quarantined, recalled, expired or empty)."""

    lot_id: int
    lot_number: str
    expiry: date
    status: str
    location: str
    on_hand: Decimal
    fefo_position: int | None
    short_dated: bool

    @property
    def negative(self) -> bool:
        return self.on_hand < 0


@dataclass(frozen=True)
class PackageStock:
    """One package NDC's stock: every lot, its total, what can be dispensed, its level."""

    package_id: int
    ndc: str
    drug: str
    dea_schedule: str | None
    description: str
    on_hand: Decimal
    dispensable: Decimal
    minimum: Decimal | None
    maximum: Decimal | None
    lots: tuple[LotLine, ...]

    @property
    def below_minimum(self) -> bool:
        return self.minimum is not None and self.dispensable < self.minimum


@dataclass(frozen=True)
class MovementLine:
    """One ledger movement of a package, with who, where, when and why; for a dispensing (or
    its reversal) the prescription it was for; for CII–CV the witness, when there was one."""

    movement_id: int
    lot_id: int
    lot_number: str
    kind: str
    quantity: Decimal
    reason: str
    username: str | None
    workstation: str
    occurred_at: datetime
    rx_number: str | None
    fill_number: int | None
    reverses_id: int | None
    reversed_by_id: int | None
    witness: str | None


@dataclass(frozen=True)
class DayUsage:
    """One local day: the quantity dispensed (net of reversals), the on-hand at its end."""

    day: date
    dispensed: Decimal
    on_hand: Decimal


@dataclass(frozen=True)
class UsageHistory:
    package_id: int
    days: tuple[DayUsage, ...]

    @property
    def total_dispensed(self) -> Decimal:
        return sum((day.dispensed for day in self.days), Decimal(0))


def _search_condition(query: str) -> ColumnElement[bool] | None:
    """The catalogue's matching (see the module docstring) as one condition, None for none."""
    stripped = query.strip()
    if _NDC_FRAGMENT.fullmatch(stripped) and sum(c.isdigit() for c in stripped) >= _MIN_NDC_DIGITS:
        return DrugPackage.search_ndc.like(f"%{stripped.replace('-', '')}%")
    words = search_words(stripped).split()
    if not words:
        return None
    text_words = literal(" ") + DrugProduct.search_text
    conditions: list[ColumnElement[bool]] = []
    for word in words:
        by_word = text_words.like(f"% {word}%")
        if word.isdigit() and len(word) >= _MIN_NDC_DIGITS:
            conditions.append(or_(by_word, DrugPackage.search_ndc.like(f"%{word}%")))
        else:
            conditions.append(by_word)
    return and_(*conditions)


@lru_cache(maxsize=65_536)
def _drug_name(name: str, strength: str, unit: str, dosage_form: str) -> str:
    """The drug as its label names it, remembered: naming costs about 0.1 ms (the strength's
    numbers), a whole second for the 10,000 products a large pharmacy stocks."""
    return drug_line(name, strength, unit, dosage_form)


def _dispensable_by_package() -> Any:
    return (
        select(
            StockLot.package_id.label("package_id"),
            func.sum(StockLot.on_hand).label("on_hand"),
        )
        .where(StockLot.status == "available")
        .group_by(StockLot.package_id)
    )


def _local_day(moment: Any, offset_minutes: int, dialect: str) -> Any:
    """The local calendar day of a UTC time, computed by the database. The offset is rendered
    inline (an int, so safe): bound twice, once in SELECT and once in GROUP BY, PostgreSQL
    would not see the two expressions as the same."""
    if dialect == "sqlite":
        return func.date(moment, literal_column(f"'{offset_minutes:+d} minutes'"))
    shifted = func.timezone("UTC", moment) + literal_column(f"interval '{offset_minutes} minutes'")
    return cast(shifted, Date)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


class StockQueryService:
    def __init__(
        self,
        database: Database,
        *,
        today: Callable[[], date] = date.today,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = database
        self._today = today
        self._now = now

    def on_hand(
        self, actor: Actor, *, search: str = "", view: StockView = StockView.ALL
    ) -> list[StockRow]:
        """The lots matching `search` (drug words or an NDC fragment) in `view`, each with its
        maintained balance, soonest expiry first."""
        require_role(actor, *Role, action="see stock on hand")
        view = StockView(view)
        today = self._today()
        with self._db.reading() as session:
            horizon = today + timedelta(days=read_inventory_policy(session).short_dated_days)
            short_dated = and_(StockLot.expiry >= today, StockLot.expiry <= horizon)
            # Columns, not entities: loading 90,000 lots as ORM objects took 15 s.
            statement = (
                select(
                    StockLot.id,
                    StockLot.package_id,
                    DrugPackage.ndc,
                    DrugProduct.proprietary_name,
                    DrugProduct.nonproprietary_name,
                    DrugProduct.strength,
                    DrugProduct.strength_unit,
                    DrugProduct.dosage_form,
                    DrugProduct.dea_schedule,
                    StockLot.lot_number,
                    StockLot.expiry,
                    StockLot.status,
                    StockLot.location,
                    StockLot.on_hand,
                    short_dated,
                )
                .join(DrugPackage, StockLot.package_id == DrugPackage.id)
                .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
                .order_by(StockLot.expiry, DrugPackage.ndc, StockLot.id)
            )
            matching = _search_condition(search)
            if matching is not None:
                statement = statement.where(matching)
            statement = statement.where(*self._in_view(view, today, short_dated))
            rows = session.execute(statement).all()
        stock: list[StockRow] = []
        for (
            lot_id,
            package_id,
            ndc,
            proprietary,
            nonproprietary,
            strength,
            unit,
            dosage_form,
            schedule,
            number,
            expiry,
            status,
            location,
            on_hand,
            is_short,
        ) in rows:
            name = _drug_name(proprietary or nonproprietary, strength, unit, dosage_form)
            stock.append(
                StockRow(
                    lot_id=lot_id,
                    package_id=package_id,
                    ndc=ndc,
                    drug=name,
                    dea_schedule=schedule,
                    lot_number=number,
                    expiry=expiry,
                    status=status,
                    location=location,
                    on_hand=on_hand,
                    short_dated=bool(is_short),
                )
            )
        return stock

    @staticmethod
    def _in_view(
        view: StockView, today: date, short_dated: ColumnElement[bool]
    ) -> list[ColumnElement[bool]]:
        if view is StockView.SHORT_DATED:
            return [short_dated]
        if view is StockView.EXPIRED:
            return [StockLot.expiry < today]
        if view is StockView.QUARANTINED:
            return [StockLot.status.in_(("quarantined", "recalled"))]
        if view is StockView.CONTROLLED:
            return [DrugProduct.dea_schedule.in_(CONTROLLED_SCHEDULES)]
        if view is StockView.BELOW_MINIMUM:
            # Below minimum as the reorder notices judge it: dispensable (available,
            # unexpired) stock under the package's level.
            dispensable = _dispensable_by_package().where(StockLot.expiry >= today).subquery()
            short = (
                select(StockLevel.package_id)
                .outerjoin(dispensable, dispensable.c.package_id == StockLevel.package_id)
                .where(func.coalesce(dispensable.c.on_hand, 0) < StockLevel.minimum)
            )
            return [StockLot.package_id.in_(short)]
        return []

    def package_stock(self, actor: Actor, package_id: int) -> PackageStock:
        """One package's lots, soonest expiry first, the ones to fill from numbered in turn."""
        require_role(actor, *Role, action="see stock on hand")
        today = self._today()
        with self._db.reading() as session:
            found = session.execute(
                select(DrugPackage, DrugProduct, StockLevel.minimum, StockLevel.maximum)
                .join(DrugProduct, DrugPackage.product_id == DrugProduct.id)
                .outerjoin(StockLevel, StockLevel.package_id == DrugPackage.id)
                .where(DrugPackage.id == package_id)
            ).first()
            if found is None:
                raise NotFound(f"There is no package {package_id} in the catalogue.")
            package, product, minimum, maximum = found
            horizon = today + timedelta(days=read_inventory_policy(session).short_dated_days)
            lots = session.scalars(
                select(StockLot)
                .where(StockLot.package_id == package_id)
                .order_by(StockLot.expiry, StockLot.id)
            ).all()
        lines: list[LotLine] = []
        turn = 0
        for lot in lots:
            fit = lot.status == "available" and lot.expiry >= today and lot.on_hand > 0
            turn += fit
            lines.append(
                LotLine(
                    lot_id=lot.id,
                    lot_number=lot.lot_number,
                    expiry=lot.expiry,
                    status=lot.status,
                    location=lot.location,
                    on_hand=lot.on_hand,
                    fefo_position=turn if fit else None,
                    short_dated=today <= lot.expiry <= horizon,
                )
            )
        return PackageStock(
            package_id=package.id,
            ndc=package.ndc,
            drug=product.display_name,
            dea_schedule=product.dea_schedule,
            description=package.description,
            on_hand=sum((lot.on_hand for lot in lots), Decimal(0)),
            dispensable=sum(
                (lot.on_hand for lot in lots if lot.status == "available" and lot.expiry >= today),
                Decimal(0),
            ),
            minimum=minimum,
            maximum=maximum,
            lots=tuple(lines),
        )

    def movements(
        self, actor: Actor, package_id: int, *, limit: int = DEFAULT_MOVEMENT_LIMIT
    ) -> list[MovementLine]:
        """The package's ledger, newest first: who, where, when, why, what it reverses or was
        reversed by, the Rx of a dispensing and the witness of a controlled change."""
        require_role(actor, *Role, action="see the stock ledger")
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_MOVEMENT_LIMIT
        ):
            raise ValidationFailed(
                f"Show 1 to {MAX_MOVEMENT_LIMIT} movements, not “{limit}”.", field="limit"
            )
        witness = aliased(User)
        lot_ids = select(StockLot.id).where(StockLot.package_id == package_id)
        statement = (
            select(
                StockMovement,
                StockLot.lot_number,
                User.username,
                Prescription.rx_number,
                Fill.fill_number,
                witness.username,
            )
            .join(StockLot, StockMovement.lot_id == StockLot.id)
            .outerjoin(User, StockMovement.user_id == User.id)
            .outerjoin(Fill, StockMovement.fill_id == Fill.id)
            .outerjoin(Prescription, Fill.prescription_id == Prescription.id)
            # By package as well as movement: the log is indexed by package.
            .outerjoin(
                ControlledSubstanceEntry,
                and_(
                    ControlledSubstanceEntry.package_id == package_id,
                    ControlledSubstanceEntry.movement_id == StockMovement.id,
                ),
            )
            .outerjoin(witness, ControlledSubstanceEntry.witness_user_id == witness.id)
            .where(StockMovement.lot_id.in_(lot_ids))
            .order_by(StockMovement.occurred_at.desc(), StockMovement.id.desc())
            .limit(limit)
        )
        with self._db.reading() as session:
            rows = session.execute(statement).all()
            # Which of them were reversed, looked up among the package's reversals: the ledger
            # has no index on reverses_id (joining on it scanned the whole ledger per package).
            reversed_by = dict(
                session.execute(
                    select(StockMovement.reverses_id, StockMovement.id).where(
                        StockMovement.lot_id.in_(lot_ids),
                        StockMovement.kind == "reversal",
                        StockMovement.reverses_id.in_([row[0].id for row in rows]),
                    )
                ).all()
            )
        return [
            MovementLine(
                movement_id=movement.id,
                lot_id=movement.lot_id,
                lot_number=lot_number,
                kind=movement.kind,
                quantity=movement.quantity,
                reason=movement.reason,
                username=username,
                workstation=movement.workstation,
                occurred_at=movement.occurred_at,
                rx_number=rx_number,
                fill_number=fill_number,
                reverses_id=movement.reverses_id,
                reversed_by_id=reversed_by.get(movement.id),
                witness=witnessed_by,
            )
            for movement, lot_number, username, rx_number, fill_number, witnessed_by in rows
        ]

    def usage_by_day(
        self,
        actor: Actor,
        package_id: int,
        *,
        days: int,
        utc_offset: timedelta | None = None,
    ) -> UsageHistory:
        """The package's last `days` local days (today last): the quantity dispensed each day,
        net of reversals (a reversal counts on the day of the dispensing it undoes), and the
        on-hand of all its lots at the day's end, from the ledger. Summed by the database,
        day by day, over the package's movements only (the ledger's lot index)."""
        require_role(actor, *Role, action="see stock usage")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_USAGE_DAYS:
            raise ValidationFailed(
                f"Show usage over 1 to {MAX_USAGE_DAYS} days, not “{days}”.", field="days"
            )
        now = self._now()
        offset = now.astimezone().utcoffset() if utc_offset is None else utc_offset
        assert offset is not None  # astimezone() gives an aware time
        if abs(offset) > _MAX_UTC_OFFSET or offset % timedelta(minutes=1):
            raise ValidationFailed(
                f"{offset} is not a time zone's offset from UTC.", field="utc_offset"
            )
        minutes = int(offset / timedelta(minutes=1))
        last_day = (now + offset).date()
        first_day = last_day - timedelta(days=days - 1)
        since = datetime.combine(first_day, time.min, UTC) - offset
        with self._db.reading() as session:
            if session.get(DrugPackage, package_id) is None:
                raise NotFound(f"There is no package {package_id} in the catalogue.")
            dialect = session.connection().dialect.name
            dispensed = self._dispensed_by_day(session, package_id, since, minutes, dialect)
            moved = self._moved_by_day(session, package_id, since, minutes, dialect)
            on_hand = Decimal(
                session.scalar(
                    select(func.coalesce(func.sum(StockLot.on_hand), 0)).where(
                        StockLot.package_id == package_id
                    )
                )
                or 0
            )
        # Walk back from today's balance: a day ends with the next day's opening balance.
        history: list[DayUsage] = []
        for number in range(days):
            day = last_day - timedelta(days=number)
            history.append(DayUsage(day, dispensed.get(day, Decimal(0)), on_hand))
            on_hand -= moved.get(day, Decimal(0))
        return UsageHistory(package_id=package_id, days=tuple(reversed(history)))

    @staticmethod
    def _dispensed_by_day(
        session: Session, package_id: int, since: datetime, minutes: int, dialect: str
    ) -> dict[date, Decimal]:
        undone = aliased(StockMovement)
        moment = func.coalesce(undone.occurred_at, StockMovement.occurred_at)
        day = _local_day(moment, minutes, dialect)
        rows = session.execute(
            select(day, func.sum(StockMovement.quantity))
            .outerjoin(undone, undone.id == StockMovement.reverses_id)
            .where(
                StockMovement.lot_id.in_(
                    select(StockLot.id).where(StockLot.package_id == package_id)
                ),
                # A reversal comes after what it undoes: both are at or after `since`.
                StockMovement.occurred_at >= since,
                or_(
                    StockMovement.kind == "dispensed",
                    and_(StockMovement.kind == "reversal", StockMovement.fill_id.is_not(None)),
                ),
                moment >= since,
            )
            .group_by(day)
        )
        return {_as_date(value): -Decimal(total) for value, total in rows}

    @staticmethod
    def _moved_by_day(
        session: Session, package_id: int, since: datetime, minutes: int, dialect: str
    ) -> dict[date, Decimal]:
        day = _local_day(StockMovement.occurred_at, minutes, dialect)
        rows = session.execute(
            select(day, func.sum(StockMovement.quantity))
            .where(
                StockMovement.lot_id.in_(
                    select(StockLot.id).where(StockLot.package_id == package_id)
                ),
                StockMovement.occurred_at >= since,
            )
            .group_by(day)
        )
        return {_as_date(value): Decimal(total) for value, total in rows}

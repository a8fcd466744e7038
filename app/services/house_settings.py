"""House policies every workstation shares: state law, sig abbreviations, thresholds, billing point.

Each policy is one `PharmacySetting` row (JSON value); a policy never saved has its default.
Administrators and pharmacists change them, one audited action per policy. Other services read
them inside their own transaction with `read_house_settings(session)`; the label policies
(discard-after months, states requiring a physical description, auxiliary warning rules, custom
label stocks, the Spanish sig table) with `read_label_policy(session)`, in one statement; the
stock rules (negative on-hand, short-dated window) with `read_inventory_policy(session)`; the
cycle-count rules (second signature, significant-loss threshold) with `read_count_policy(session)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import PharmacySetting
from app.domain.auxiliary_warnings import (
    DEFAULT_AUXILIARY_RULES,
    AuxiliaryRule,
    rule_json,
    rules_from_json,
    validated_rules,
)
from app.domain.labels import BUILT_IN_STOCKS, LabelStock
from app.domain.roles import Role
from app.domain.rx_rules import StateLawConfig
from app.domain.sig import (
    DEFAULT_SIG_TABLE,
    DEFAULT_SPANISH_TABLE,
    SigEntry,
    SigTable,
    SpanishEntry,
    SpanishSigTable,
    TokenKind,
)
from app.errors import ValidationFailed
from app.services.pharmacy import US_STATES
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role

STATE_LAW = "state_law"
SIG_OVERRIDES = "sig_overrides"
REFILL_TOO_SOON_THRESHOLD = "refill_too_soon_threshold"
WILL_CALL_AGING_DAYS = "will_call_aging_days"
BILLING_POINT = "billing_point"
REQUIRE_SCANNING = "require_scanning"
REQUIRE_LOT_FOR_UPC = "require_lot_for_upc"
CII_COUNT_MODE = "cii_count_mode"
LABEL_DISCARD_AFTER_MONTHS = "label_discard_after_months"
LABEL_PHYSICAL_DESCRIPTION_STATES = "label_physical_description_states"
LABEL_AUXILIARY_RULES = "label_auxiliary_rules"
LABEL_CUSTOM_STOCKS = "label_custom_stocks"
SPANISH_SIG_OVERRIDES = "spanish_sig_overrides"
ALLOW_NEGATIVE_ON_HAND = "allow_negative_on_hand"
SHORT_DATED_DAYS = "short_dated_days"
COUNT_SECOND_SIGNATURE = "count_second_signature"
CONTROLLED_LOSS_THRESHOLD_UNITS = "controlled_loss_threshold_units"

DEFAULT_REFILL_TOO_SOON_THRESHOLD = Decimal("0.75")
DEFAULT_WILL_CALL_AGING_DAYS = 10
DEFAULT_SHORT_DATED_DAYS = 90
# A CIII–V count loss above this many units is "significant" (DEA Form 106); any CII loss is.
DEFAULT_CONTROLLED_LOSS_THRESHOLD_UNITS = 10
MAX_CONTROLLED_LOSS_THRESHOLD_UNITS = 100_000
MAX_SHORT_DATED_DAYS = 730
# USP <1191>: a dispensed solid's beyond-use date is at most a year, or the lot's expiry when
# sooner; a house may be stricter, never longer.
DEFAULT_DISCARD_AFTER_MONTHS = 12
MAX_DISCARD_AFTER_MONTHS = 12
# California (16 CCR 1707.5) requires the physical description of the dosage unit.
DEFAULT_PHYSICAL_DESCRIPTION_STATES = ("CA",)
_STOCK_NAME_LENGTH = 64  # label_prints.stock_name
# The federal windows for dispensing the rest of a partially filled C-II: a state may shorten
# them, never lengthen them (21 USC 829(f), 21 CFR 1306.13).
_FEDERAL_CEILINGS = {
    "cii_partial_on_request_days": 30,
    "cii_partial_pharmacy_short_hours": 72,
    "cii_partial_long_term_care_days": 60,
}
_OPTIONAL_FIELDS = frozenset(
    {"non_controlled_max_refills", "schedule_v_max_refills", "schedule_ii_validity_days"}
)


class BillingPoint(StrEnum):
    """When a fill's claim goes to the payer: right after data entry, or just before filling."""

    AT_DATA_ENTRY = "at_data_entry"
    BEFORE_FILL = "before_fill"

    @property
    def label(self) -> str:
        return "at data entry" if self is BillingPoint.AT_DATA_ENTRY else "before fill"


class CiiCountMode(StrEnum):
    """How the count of a Schedule II bottle is proven at verification."""

    DOUBLE_ENTRY = "double-entry"  # the technician types the exact count twice
    SECOND_PERSON = "second-person"  # a second person counts and confirms

    @property
    def label(self) -> str:
        return "count entered twice" if self is CiiCountMode.DOUBLE_ENTRY else "second person"


@dataclass(frozen=True)
class VerificationPolicy:
    """Fill verification rules: typed NDCs only when scanning is not required (and recorded
    as manual); lot and expiry typed when only a UPC was scanned; how a C-II count is proven."""

    require_scanning: bool = True
    require_lot_for_upc: bool = True
    cii_count_mode: CiiCountMode = CiiCountMode.DOUBLE_ENTRY


@dataclass(frozen=True)
class HouseSettings:
    state_law: StateLawConfig
    sig_overrides: tuple[SigEntry, ...]
    refill_too_soon_threshold: Decimal
    will_call_aging_days: int
    billing_point: BillingPoint
    verification: VerificationPolicy = VerificationPolicy()

    @property
    def sig_table(self) -> SigTable:
        """The standard abbreviations with the pharmacy's own merged over them."""
        return DEFAULT_SIG_TABLE.with_overrides(self.sig_overrides)


def _entry_json(entry: SigEntry) -> dict[str, Any]:
    values = asdict(entry)
    values["kind"] = entry.kind.value
    values["scale"] = str(entry.scale)
    values["per_day"] = None if entry.per_day is None else str(entry.per_day)
    return values


def _entry(values: dict[str, Any]) -> SigEntry:
    per_day = values.get("per_day")
    return SigEntry(
        **{
            **values,
            "kind": TokenKind(values["kind"]),
            "scale": Decimal(values.get("scale", "1")),
            "per_day": None if per_day is None else Fraction(per_day),
        }
    )


def _value(session: Session, key: str) -> Any:
    row = session.get(PharmacySetting, key)
    return None if row is None else row.value


def read_house_settings(session: Session) -> HouseSettings:
    """Every house policy, defaults for those never saved, read in the caller's transaction."""
    threshold_value = _value(session, REFILL_TOO_SOON_THRESHOLD)
    threshold = (
        DEFAULT_REFILL_TOO_SOON_THRESHOLD
        if threshold_value is None
        else Decimal(str(threshold_value))
    )
    state_law_value = _value(session, STATE_LAW) or {}
    known = {field.name for field in fields(StateLawConfig)}
    state_law = StateLawConfig(
        **{key: value for key, value in state_law_value.items() if key in known},
        refill_too_soon_fraction=threshold,
    )
    aging = _value(session, WILL_CALL_AGING_DAYS)
    point = _value(session, BILLING_POINT)
    return HouseSettings(
        state_law=state_law,
        sig_overrides=tuple(_entry(values) for values in _value(session, SIG_OVERRIDES) or []),
        refill_too_soon_threshold=threshold,
        will_call_aging_days=DEFAULT_WILL_CALL_AGING_DAYS if aging is None else int(aging),
        billing_point=BillingPoint.AT_DATA_ENTRY if point is None else BillingPoint(point),
        verification=read_verification_policy(session),
    )


_VERIFICATION_KEYS = (REQUIRE_SCANNING, REQUIRE_LOT_FOR_UPC, CII_COUNT_MODE)


def _saved_values(session: Session, keys: Sequence[str]) -> dict[str, Any]:
    """The saved values of `keys` in one statement; a key never saved is absent."""
    rows = session.execute(
        select(PharmacySetting.key, PharmacySetting.value).where(PharmacySetting.key.in_(keys))
    ).all()
    return {key: value for key, value in rows}


def read_verification_policy(session: Session) -> VerificationPolicy:
    """The verification rules alone, in one statement: they are read on every scan."""
    saved = _saved_values(session, _VERIFICATION_KEYS)
    defaults = VerificationPolicy()
    scanning = saved.get(REQUIRE_SCANNING)
    lot_for_upc = saved.get(REQUIRE_LOT_FOR_UPC)
    count_mode = saved.get(CII_COUNT_MODE)
    return VerificationPolicy(
        require_scanning=defaults.require_scanning if scanning is None else bool(scanning),
        require_lot_for_upc=defaults.require_lot_for_upc
        if lot_for_upc is None
        else bool(lot_for_upc),
        cii_count_mode=defaults.cii_count_mode if count_mode is None else CiiCountMode(count_mode),
    )


@dataclass(frozen=True)
class InventoryPolicy:
    """Stock rules: whether a lot may go below zero (then flagged on the lot, never silently),
    and how many days ahead of expiry a lot counts as short-dated."""

    allow_negative_on_hand: bool = False
    short_dated_days: int = DEFAULT_SHORT_DATED_DAYS


_INVENTORY_KEYS = (ALLOW_NEGATIVE_ON_HAND, SHORT_DATED_DAYS)


def read_inventory_policy(session: Session) -> InventoryPolicy:
    """The stock rules alone, in one statement: they are read on every stock movement."""
    saved = _saved_values(session, _INVENTORY_KEYS)
    defaults = InventoryPolicy()
    negative = saved.get(ALLOW_NEGATIVE_ON_HAND)
    days = saved.get(SHORT_DATED_DAYS)
    return InventoryPolicy(
        allow_negative_on_hand=defaults.allow_negative_on_hand
        if negative is None
        else bool(negative),
        short_dated_days=defaults.short_dated_days if days is None else int(days),
    )


class SecondSignature(StrEnum):
    """Which cycle counts need a second person's signature: a house policy, not a DEA rule."""

    NONE = "none"
    CONTROLLED = "controlled"
    SCHEDULE_II = "schedule_ii"
    EVERY = "every"

    @property
    def label(self) -> str:
        return {
            SecondSignature.NONE: "no counts",
            SecondSignature.CONTROLLED: "counts of controlled substances (CII–CV)",
            SecondSignature.SCHEDULE_II: "counts of schedule II",
            SecondSignature.EVERY: "all counts",
        }[self]


@dataclass(frozen=True)
class CountPolicy:
    """Cycle-count house rules: which counts a second person signs, and above how many units a
    CIII–V loss is significant enough for a DEA Form 106 (any CII loss is)."""

    second_signature: SecondSignature = SecondSignature.SCHEDULE_II
    loss_threshold_units: int = DEFAULT_CONTROLLED_LOSS_THRESHOLD_UNITS


_COUNT_KEYS = (COUNT_SECOND_SIGNATURE, CONTROLLED_LOSS_THRESHOLD_UNITS)


def read_count_policy(session: Session) -> CountPolicy:
    """The cycle-count rules alone, in one statement."""
    saved = _saved_values(session, _COUNT_KEYS)
    defaults = CountPolicy()
    signature = saved.get(COUNT_SECOND_SIGNATURE)
    threshold = saved.get(CONTROLLED_LOSS_THRESHOLD_UNITS)
    return CountPolicy(
        second_signature=defaults.second_signature
        if signature is None
        else SecondSignature(signature),
        loss_threshold_units=defaults.loss_threshold_units if threshold is None else int(threshold),
    )


@dataclass(frozen=True)
class LabelPolicy:
    """How the pharmacy's labels are made, beyond what the fill itself says."""

    discard_after_months: int = DEFAULT_DISCARD_AFTER_MONTHS
    physical_description_states: tuple[str, ...] = DEFAULT_PHYSICAL_DESCRIPTION_STATES
    auxiliary_rules: tuple[AuxiliaryRule, ...] = DEFAULT_AUXILIARY_RULES
    custom_stocks: tuple[LabelStock, ...] = ()
    spanish_sig_overrides: tuple[SpanishEntry, ...] = ()

    @property
    def spanish_sig_table(self) -> SpanishSigTable:
        """The standard Spanish phrases with the pharmacy's own merged over them."""
        return DEFAULT_SPANISH_TABLE.with_overrides(self.spanish_sig_overrides)

    @property
    def stocks(self) -> tuple[LabelStock, ...]:
        return (*BUILT_IN_STOCKS, *self.custom_stocks)


_LABEL_KEYS = (
    LABEL_DISCARD_AFTER_MONTHS,
    LABEL_PHYSICAL_DESCRIPTION_STATES,
    LABEL_AUXILIARY_RULES,
    LABEL_CUSTOM_STOCKS,
    SPANISH_SIG_OVERRIDES,
)
_STOCK_DECIMALS = (
    "label_width",
    "label_height",
    "page_width",
    "page_height",
    "left_margin",
    "top_margin",
    "column_gap",
    "row_gap",
)


def _spanish_json(entry: SpanishEntry) -> dict[str, Any]:
    return {**asdict(entry), "kind": entry.kind.value}


def _spanish_entry(values: dict[str, Any]) -> SpanishEntry:
    return SpanishEntry(**{**values, "kind": TokenKind(values["kind"])})


def _stock_json(stock: LabelStock) -> dict[str, Any]:
    values = asdict(stock)
    for name in _STOCK_DECIMALS:
        values[name] = str(values[name])
    return values


def _stock(values: dict[str, Any]) -> LabelStock:
    return LabelStock(
        **{
            **values,
            **{name: Decimal(values[name]) for name in _STOCK_DECIMALS if name in values},
        }
    )


def read_label_policy(session: Session) -> LabelPolicy:
    """The label policies, defaults for those never saved, in one statement."""
    saved = _saved_values(session, _LABEL_KEYS)
    defaults = LabelPolicy()
    months = saved.get(LABEL_DISCARD_AFTER_MONTHS)
    states = saved.get(LABEL_PHYSICAL_DESCRIPTION_STATES)
    rules = saved.get(LABEL_AUXILIARY_RULES)
    return LabelPolicy(
        discard_after_months=defaults.discard_after_months if months is None else int(months),
        physical_description_states=defaults.physical_description_states
        if states is None
        else tuple(states),
        auxiliary_rules=defaults.auxiliary_rules if rules is None else rules_from_json(rules),
        custom_stocks=tuple(_stock(values) for values in saved.get(LABEL_CUSTOM_STOCKS) or []),
        spanish_sig_overrides=tuple(
            _spanish_entry(values) for values in saved.get(SPANISH_SIG_OVERRIDES) or []
        ),
    )


def validated_discard_after_months(months: int) -> int:
    if isinstance(months, bool) or not isinstance(months, int):
        raise ValidationFailed(
            f"“{months}” is not a whole number of months.", field=LABEL_DISCARD_AFTER_MONTHS
        )
    if not 1 <= months <= MAX_DISCARD_AFTER_MONTHS:
        raise ValidationFailed(
            f"The discard-after date is 1 to {MAX_DISCARD_AFTER_MONTHS} months from the fill "
            f"(USP allows at most a year), not {months}.",
            field=LABEL_DISCARD_AFTER_MONTHS,
        )
    return months


def validated_physical_description_states(states: Sequence[str]) -> tuple[str, ...]:
    """Upper-case two-letter codes, each once, in order; an unknown code is refused."""
    clean: list[str] = []
    for state in states:
        code = str(state).strip().upper()
        if code not in US_STATES:
            raise ValidationFailed(
                f"“{state}” is not a US state or territory code.",
                field=LABEL_PHYSICAL_DESCRIPTION_STATES,
            )
        if code not in clean:
            clean.append(code)
    return tuple(sorted(clean))


def validated_custom_stocks(stocks: Sequence[LabelStock]) -> tuple[LabelStock, ...]:
    """Stocks with a unique name, positive sizes, and every label inside the page."""
    built_in = {stock.name.casefold() for stock in BUILT_IN_STOCKS}
    seen: set[str] = set()
    clean = []
    for stock in stocks:
        name = " ".join(stock.name.split())

        def refuse(why: str, name: str = name) -> ValidationFailed:
            return ValidationFailed(
                f"Label stock “{name}”: {why}", field=LABEL_CUSTOM_STOCKS, stock=name
            )

        if not name:
            raise ValidationFailed("A label stock needs a name.", field=LABEL_CUSTOM_STOCKS)
        if len(name) > _STOCK_NAME_LENGTH:
            raise refuse(f"a name has at most {_STOCK_NAME_LENGTH} characters.")
        if name.casefold() in built_in or name.casefold() in seen:
            raise refuse("another stock has this name.")
        seen.add(name.casefold())
        try:
            sizes = {field: Decimal(str(getattr(stock, field))) for field in _STOCK_DECIMALS}
        except InvalidOperation:
            raise refuse("every size is a number of inches.") from None
        for field in ("label_width", "label_height", "page_width", "page_height"):
            if not sizes[field] > 0:
                raise refuse(f"the {field.replace('_', ' ')} must be more than 0 inches.")
        for field in ("left_margin", "top_margin", "column_gap", "row_gap"):
            if sizes[field] < 0:
                raise refuse(f"the {field.replace('_', ' ')} cannot be negative.")
        for field in ("columns", "rows"):
            count = getattr(stock, field)
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise refuse(f"{field} is a whole number of 1 or more.")
        across = (
            sizes["left_margin"]
            + stock.columns * sizes["label_width"]
            + (stock.columns - 1) * sizes["column_gap"]
        )
        down = (
            sizes["top_margin"]
            + stock.rows * sizes["label_height"]
            + (stock.rows - 1) * sizes["row_gap"]
        )
        if across > sizes["page_width"] or down > sizes["page_height"]:
            raise refuse(
                f"{stock.columns} × {stock.rows} labels with these margins and gaps need "
                f"{across} × {down} in, more than the {sizes['page_width']} × "
                f"{sizes['page_height']} in page."
            )
        clean.append(LabelStock(name=name, columns=stock.columns, rows=stock.rows, **sizes))
    return tuple(clean)


def _state_law_json(config: StateLawConfig) -> dict[str, Any]:
    values = asdict(config)
    del values["refill_too_soon_fraction"]  # its own setting, shared with refill screening
    return values


def validated_state_law(config: StateLawConfig) -> StateLawConfig:
    """Refuse values no state could set: negative counts, or longer than the federal windows."""
    for item in fields(StateLawConfig):
        if item.name == "refill_too_soon_fraction":
            continue
        value = getattr(config, item.name)
        if value is None and item.name in _OPTIONAL_FIELDS:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValidationFailed(
                f"{item.name.replace('_', ' ').capitalize()} must be a whole number of 0 or more.",
                field=item.name,
            )
        ceiling = _FEDERAL_CEILINGS.get(item.name)
        if ceiling is not None and value > ceiling:
            raise ValidationFailed(
                f"{item.name.replace('_', ' ').capitalize()} cannot exceed the federal "
                f"{ceiling}: a state may only be stricter.",
                field=item.name,
                ceiling=ceiling,
            )
    for name in ("non_controlled_validity_days", "schedule_v_validity_days"):
        if getattr(config, name) == 0:
            raise ValidationFailed(
                f"{name.replace('_', ' ').capitalize()} must be at least one day.", field=name
            )
    return config


@dataclass(frozen=True)
class HousePolicies:
    """The simple house policies the House policies screen and `rxbench-admin policy` show,
    read in one transaction so they show one moment, not a mix of before and after a change."""

    billing_point: BillingPoint
    refill_too_soon_threshold: Decimal
    will_call_aging_days: int
    verification: VerificationPolicy
    inventory: InventoryPolicy
    count: CountPolicy
    label_discard_after_months: int


class HouseSettingsService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def current(self) -> HouseSettings:
        with self._db.reading() as session:
            return read_house_settings(session)

    def policies(self) -> HousePolicies:
        """Anyone signed in may read the policies; changing them is checked by each setter."""
        with self._db.reading() as session:
            settings = read_house_settings(session)
            return HousePolicies(
                billing_point=settings.billing_point,
                refill_too_soon_threshold=settings.refill_too_soon_threshold,
                will_call_aging_days=settings.will_call_aging_days,
                verification=settings.verification,
                inventory=read_inventory_policy(session),
                count=read_count_policy(session),
                label_discard_after_months=read_label_policy(session).discard_after_months,
            )

    def set_state_law(self, actor: Actor, config: StateLawConfig) -> HouseSettings:
        _require_manager(actor, "change the state-law settings")
        clean = validated_state_law(config)
        with self._db.unit_of_work(actor) as uow:
            _save(uow, STATE_LAW, _state_law_json(clean))
            return read_house_settings(uow.session)

    def set_sig_overrides(self, actor: Actor, entries: Sequence[SigEntry]) -> HouseSettings:
        """Replace the house's own sig abbreviations, merged over the standard table.

        An entry whose words are an ISMP error-prone form, or that clashes with another, is
        refused (`SigTableInvalid`) before anything is saved.
        """
        _require_manager(actor, "change the sig abbreviations")
        DEFAULT_SIG_TABLE.with_overrides(entries)
        with self._db.unit_of_work(actor) as uow:
            _save(uow, SIG_OVERRIDES, [_entry_json(entry) for entry in entries])
            return read_house_settings(uow.session)

    def set_refill_too_soon_threshold(self, actor: Actor, threshold: Decimal) -> HouseSettings:
        """The fraction of the last days' supply that must pass before a refill is not early."""
        _require_manager(actor, "change the refill-too-soon threshold")
        try:
            value = Decimal(str(threshold))
        except InvalidOperation:
            raise ValidationFailed(
                f"“{threshold}” is not a number.", field=REFILL_TOO_SOON_THRESHOLD
            ) from None
        if not Decimal("0.5") <= value <= Decimal(1):
            raise ValidationFailed(
                "The refill-too-soon threshold is a fraction from 0.50 to 1.00 (0.75 is 75% of "
                "the days supply).",
                field=REFILL_TOO_SOON_THRESHOLD,
            )
        with self._db.unit_of_work(actor) as uow:
            # A JSON number, as refill screening reads it.
            _save(uow, REFILL_TOO_SOON_THRESHOLD, float(value))
            return read_house_settings(uow.session)

    def set_will_call_aging_days(self, actor: Actor, days: int) -> HouseSettings:
        """After how many days a ready fill not picked up is listed for return to stock."""
        _require_manager(actor, "change the will-call aging days")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 60:
            raise ValidationFailed(
                "Will-call aging is a whole number of days from 1 to 60.",
                field=WILL_CALL_AGING_DAYS,
            )
        with self._db.unit_of_work(actor) as uow:
            _save(uow, WILL_CALL_AGING_DAYS, days)
            return read_house_settings(uow.session)

    def set_billing_point(self, actor: Actor, point: BillingPoint | str) -> HouseSettings:
        _require_manager(actor, "change when claims are billed")
        try:
            chosen = BillingPoint(point)
        except ValueError:
            choices = ", ".join(member.value for member in BillingPoint)
            raise ValidationFailed(
                f"“{point}” is not a billing point: use {choices}.", field=BILLING_POINT
            ) from None
        with self._db.unit_of_work(actor) as uow:
            _save(uow, BILLING_POINT, chosen.value)
            return read_house_settings(uow.session)

    def set_verification_policy(self, actor: Actor, policy: VerificationPolicy) -> HouseSettings:
        """The fill-verification rules; each changed rule is its own audited setting."""
        _require_manager(actor, "change the verification rules")
        try:
            mode = CiiCountMode(policy.cii_count_mode)
        except ValueError:
            choices = ", ".join(member.value for member in CiiCountMode)
            raise ValidationFailed(
                f"“{policy.cii_count_mode}” is not a C-II count mode: use {choices}.",
                field=CII_COUNT_MODE,
            ) from None
        with self._db.unit_of_work(actor) as uow:
            _save(uow, REQUIRE_SCANNING, bool(policy.require_scanning))
            _save(uow, REQUIRE_LOT_FOR_UPC, bool(policy.require_lot_for_upc))
            _save(uow, CII_COUNT_MODE, mode.value)
            return read_house_settings(uow.session)

    def set_spanish_sig_overrides(
        self, actor: Actor, entries: Sequence[SpanishEntry]
    ) -> LabelPolicy:
        """Replace the house's own Spanish phrases, merged over the standard Spanish table.

        An entry without words, or whose Spanish is an ISMP error-prone form, is refused
        (`SpanishTableInvalid`) before anything is saved.
        """
        _require_manager(actor, "change the Spanish sig phrases")
        DEFAULT_SPANISH_TABLE.with_overrides(entries)
        with self._db.unit_of_work(actor) as uow:
            _save(uow, SPANISH_SIG_OVERRIDES, [_spanish_json(entry) for entry in entries])
            return read_label_policy(uow.session)

    def inventory_policy(self) -> InventoryPolicy:
        with self._db.reading() as session:
            return read_inventory_policy(session)

    def set_inventory_policy(self, actor: Actor, policy: InventoryPolicy) -> InventoryPolicy:
        """The stock rules; each changed rule is its own audited setting."""
        _require_manager(actor, "change the inventory rules")
        allow = policy.allow_negative_on_hand
        if not isinstance(allow, bool):
            raise ValidationFailed(
                f"“{allow}” is not yes or no: negative on-hand is either allowed or refused.",
                field=ALLOW_NEGATIVE_ON_HAND,
            )
        days = policy.short_dated_days
        if (
            isinstance(days, bool)
            or not isinstance(days, int)
            or not 1 <= days <= MAX_SHORT_DATED_DAYS
        ):
            raise ValidationFailed(
                f"The short-dated window is a whole number of days from 1 to "
                f"{MAX_SHORT_DATED_DAYS}, not “{days}”.",
                field=SHORT_DATED_DAYS,
            )
        with self._db.unit_of_work(actor) as uow:
            _save(uow, ALLOW_NEGATIVE_ON_HAND, allow)
            _save(uow, SHORT_DATED_DAYS, days)
            return read_inventory_policy(uow.session)

    def count_policy(self) -> CountPolicy:
        with self._db.reading() as session:
            return read_count_policy(session)

    def set_count_policy(self, actor: Actor, policy: CountPolicy) -> CountPolicy:
        """The cycle-count rules; each changed rule is its own audited setting."""
        _require_manager(actor, "change the cycle-count rules")
        try:
            signature = SecondSignature(policy.second_signature)
        except ValueError:
            choices = ", ".join(member.value for member in SecondSignature)
            raise ValidationFailed(
                f"“{policy.second_signature}” is not a second-signature choice: use {choices}.",
                field=COUNT_SECOND_SIGNATURE,
            ) from None
        units = policy.loss_threshold_units
        if (
            isinstance(units, bool)
            or not isinstance(units, int)
            or not 0 <= units <= MAX_CONTROLLED_LOSS_THRESHOLD_UNITS
        ):
            raise ValidationFailed(
                f"The significant-loss threshold is a whole number of units from 0 to "
                f"{MAX_CONTROLLED_LOSS_THRESHOLD_UNITS}, not “{units}”.",
                field=CONTROLLED_LOSS_THRESHOLD_UNITS,
            )
        with self._db.unit_of_work(actor) as uow:
            _save(uow, COUNT_SECOND_SIGNATURE, signature.value)
            _save(uow, CONTROLLED_LOSS_THRESHOLD_UNITS, units)
            return read_count_policy(uow.session)

    def label_policy(self) -> LabelPolicy:
        with self._db.reading() as session:
            return read_label_policy(session)

    def set_label_discard_after_months(self, actor: Actor, months: int) -> LabelPolicy:
        """How long after the fill a label's discard-after date falls when the lot lasts longer."""
        _require_manager(actor, "change the discard-after months")
        clean = validated_discard_after_months(months)
        with self._db.unit_of_work(actor) as uow:
            _save(uow, LABEL_DISCARD_AFTER_MONTHS, clean)
            return read_label_policy(uow.session)

    def set_label_physical_description_states(
        self, actor: Actor, states: Sequence[str]
    ) -> LabelPolicy:
        """The states whose labels must describe the tablet or capsule (the pharmacy's state
        is looked up in this list)."""
        _require_manager(actor, "change which states require a physical description")
        clean = validated_physical_description_states(states)
        with self._db.unit_of_work(actor) as uow:
            _save(uow, LABEL_PHYSICAL_DESCRIPTION_STATES, list(clean))
            return read_label_policy(uow.session)

    def set_label_auxiliary_rules(
        self, actor: Actor, rules: Sequence[AuxiliaryRule]
    ) -> LabelPolicy:
        """Replace the whole auxiliary warning table (AuxiliaryRuleInvalid names a bad rule)."""
        _require_manager(actor, "change the auxiliary warning rules")
        clean = validated_rules(rules)
        with self._db.unit_of_work(actor) as uow:
            _save(uow, LABEL_AUXILIARY_RULES, [rule_json(each) for each in clean])
            return read_label_policy(uow.session)

    def set_label_custom_stocks(self, actor: Actor, stocks: Sequence[LabelStock]) -> LabelPolicy:
        """The pharmacy's own label stocks, offered after the built-in ones."""
        require_role(actor, Role.ADMINISTRATOR, action="change the label stocks")
        clean = validated_custom_stocks(stocks)
        with self._db.unit_of_work(actor) as uow:
            _save(uow, LABEL_CUSTOM_STOCKS, [_stock_json(stock) for stock in clean])
            return read_label_policy(uow.session)


def _require_manager(actor: Actor, action: str) -> None:
    require_role(actor, Role.ADMINISTRATOR, Role.PHARMACIST, action=action)


def _save(uow: UnitOfWork, key: str, value: Any) -> None:
    row = uow.session.get(PharmacySetting, key)
    before = None if row is None else row.value
    if before == value:
        return
    if row is None:
        row = PharmacySetting(key=key, value=value)
        uow.session.add(row)
    else:
        row.value = value
    uow.audit("settings.changed", row, before={key: before}, after={key: value})

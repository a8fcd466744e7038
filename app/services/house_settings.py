"""House policies every workstation shares: state law, sig abbreviations, thresholds, billing point.

Each policy is one `PharmacySetting` row (JSON value); a policy never saved has its default.
Administrators and pharmacists change them, one audited action per policy. Other services read
them inside their own transaction with `read_house_settings(session)`.
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
from app.domain.roles import Role
from app.domain.rx_rules import StateLawConfig
from app.domain.sig import DEFAULT_SIG_TABLE, SigEntry, SigTable, TokenKind
from app.errors import ValidationFailed
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role

STATE_LAW = "state_law"
SIG_OVERRIDES = "sig_overrides"
REFILL_TOO_SOON_THRESHOLD = "refill_too_soon_threshold"
WILL_CALL_AGING_DAYS = "will_call_aging_days"
BILLING_POINT = "billing_point"
REQUIRE_SCANNING = "require_scanning"
REQUIRE_LOT_FOR_UPC = "require_lot_for_upc"
CII_COUNT_MODE = "cii_count_mode"

DEFAULT_REFILL_TOO_SOON_THRESHOLD = Decimal("0.75")
DEFAULT_WILL_CALL_AGING_DAYS = 10
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


def read_verification_policy(session: Session) -> VerificationPolicy:
    """The verification rules alone, in one statement: they are read on every scan."""
    rows = session.execute(
        select(PharmacySetting.key, PharmacySetting.value).where(
            PharmacySetting.key.in_(_VERIFICATION_KEYS)
        )
    ).all()
    saved: dict[str, Any] = {key: value for key, value in rows}
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


class HouseSettingsService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def current(self) -> HouseSettings:
        with self._db.reading() as session:
            return read_house_settings(session)

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

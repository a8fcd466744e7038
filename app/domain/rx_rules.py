"""Federal prescription rules at entry, refill, transfer and C-II partial fill, states aside.

Federal law (21 CFR 1306) is the floor; a state may only be stricter, so what states vary is a
`StateLawConfig`. The rules, with their sources:

- C-II: no refills (1306.12(a)); written or electronic; an emergency oral C-II needs the
  prescriber's written follow-up within 7 days (1306.11(d)); a faxed C-II is an original only for
  long-term care, hospice or home infusion (1306.11(e)-(g)); several C-II prescriptions written
  the same day carry "do not fill before" dates and together supply at most 90 days
  (1306.12(b)); no federal expiry (a state may set one).
- C-II partial fills: at the patient's or prescriber's request, the rest within 30 days of the
  date written (21 USC 829(f), CARA 2016); when the pharmacy cannot supply the full quantity,
  within 72 hours of the first partial (1306.13(a)); long-term care or terminal illness, within
  60 days of the date written (1306.13(b)).
- C-III and C-IV: at most 5 refills, and no fill or refill more than 6 calendar months after the
  date written (1306.22(a)); transferred once, or freely between pharmacies sharing a real-time
  database (1306.25(a)). The same transfer rule holds for C-V.
- An unfilled electronic C-II may be transferred once (1306.08, 2023).
- C-V and non-controlled prescriptions: validity and refills are state law (`StateLawConfig`).

"Six months after" is calendar months, clamped to the month's last day (written 31 August, last
day 28 or 29 February); a validity in days counts days, so 365 days from a date before a
29 February end the day before the anniversary.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from app.errors import ValidationFailed

SCHEDULE_III_IV_MAX_REFILLS = 5
SCHEDULE_III_IV_VALIDITY_MONTHS = 6
EMERGENCY_ORAL_FOLLOW_UP_DAYS = 7
CII_SERIES_MAX_DAYS = 90
DEFAULT_MAX_REASONABLE_QUANTITY = Decimal(10_000)

_Choice = TypeVar("_Choice", bound=StrEnum)


class Schedule(StrEnum):
    """The DEA schedule printed on a product; prescription drugs in schedule I do not exist."""

    CII = "CII"
    CIII = "CIII"
    CIV = "CIV"
    CV = "CV"

    @property
    def label(self) -> str:
        return f"C-{self.value[1:]}"


class PrescriptionSource(StrEnum):
    ELECTRONIC = "electronic"
    WRITTEN = "written"
    PHONED = "phoned"
    FAXED = "faxed"
    TRANSFERRED = "transferred"


class PartialFillReason(StrEnum):
    """Why a C-II was partially filled: the reason sets the window for the rest."""

    PATIENT_OR_PRESCRIBER_REQUEST = "patient_or_prescriber_request"
    PHARMACY_SHORT = "pharmacy_short"
    LONG_TERM_CARE_OR_TERMINAL = "long_term_care_or_terminal"


class UnknownSchedule(ValidationFailed):
    code = "unknown-schedule"


class UnknownChoice(ValidationFailed):
    """A source or partial-fill reason outside the ones the rules know."""

    code = "unknown-choice"


class PrescriptionRefused(ValidationFailed):
    """A rule outcome with errors, raised; `facts["problems"]` holds each `RuleProblem`."""

    code = "prescription-refused"


@dataclass(frozen=True, slots=True)
class StateLawConfig:
    """What the pharmacy's state sets beyond the federal floor; the defaults are common ones."""

    non_controlled_validity_days: int = 365
    non_controlled_max_refills: int | None = None
    schedule_v_validity_days: int = 365
    schedule_v_max_refills: int | None = None
    schedule_ii_validity_days: int | None = None
    refill_too_soon_fraction: Decimal = Decimal("0.75")
    cii_partial_on_request_days: int = 30
    cii_partial_pharmacy_short_hours: int = 72
    cii_partial_long_term_care_days: int = 60


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One broken rule or one thing to act on: a code for software, a sentence for people."""

    code: str
    message: str
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """Errors refuse the prescription; warnings are flags the bench must see and act on."""

    errors: tuple[RuleProblem, ...] = ()
    warnings: tuple[RuleProblem, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.errors

    def raise_if_refused(self) -> None:
        if self.errors:
            raise PrescriptionRefused(
                " ".join(problem.message for problem in self.errors), problems=self.errors
            )


class _Collector:
    def __init__(self) -> None:
        self.errors: list[RuleProblem] = []
        self.warnings: list[RuleProblem] = []

    def error(self, code: str, message: str, **facts: Any) -> None:
        self.errors.append(RuleProblem(code, message, facts))

    def warn(self, code: str, message: str, **facts: Any) -> None:
        self.warnings.append(RuleProblem(code, message, facts))

    def outcome(self) -> RuleOutcome:
        return RuleOutcome(tuple(self.errors), tuple(self.warnings))


def parse_schedule(value: str | None) -> Schedule | None:
    """'CII'..'CV', or None for a non-controlled product."""
    if value is None:
        return None
    try:
        return Schedule(value)
    except ValueError:
        raise UnknownSchedule(
            f"“{value}” is not a DEA schedule: use CII, CIII, CIV or CV.", schedule=value
        ) from None


def _choice(kind: type[_Choice], value: str, what: str) -> _Choice:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise UnknownChoice(
            f"“{value}” is not a {what}: use one of {choices}.", value=value, what=what
        ) from None


def add_months(start: date, months: int) -> date:
    """The same day `months` later, or that month's last day when it is shorter."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def last_fill_date(schedule: str | None, written: date, config: StateLawConfig) -> date | None:
    """The last day a prescription may be filled or refilled; None when no rule sets one."""
    parsed = parse_schedule(schedule)
    if parsed in (Schedule.CIII, Schedule.CIV):
        return add_months(written, SCHEDULE_III_IV_VALIDITY_MONTHS)
    if parsed is Schedule.CII:
        days = config.schedule_ii_validity_days
        return None if days is None else written + timedelta(days=days)
    if parsed is Schedule.CV:
        return written + timedelta(days=config.schedule_v_validity_days)
    return written + timedelta(days=config.non_controlled_validity_days)


def max_refills(schedule: str | None, config: StateLawConfig) -> int | None:
    """The most refills a prescription of `schedule` may carry; None when unlimited."""
    parsed = parse_schedule(schedule)
    if parsed is Schedule.CII:
        return 0
    if parsed in (Schedule.CIII, Schedule.CIV):
        return SCHEDULE_III_IV_MAX_REFILLS
    if parsed is Schedule.CV:
        return config.schedule_v_max_refills
    return config.non_controlled_max_refills


def _kind(schedule: Schedule | None) -> str:
    return f"a {schedule.label}" if schedule else "a non-controlled"


def _check_expiry(
    found: _Collector, schedule: Schedule | None, written: date, today: date, config: StateLawConfig
) -> None:
    last_day = last_fill_date(schedule, written, config)
    if last_day is not None and today > last_day:
        found.error(
            "expired",
            f"The prescription expired: {_kind(schedule)} prescription written {written:%m/%d/%Y} "
            f"may be filled until {last_day:%m/%d/%Y}. Ask the prescriber for a new one.",
            written=written,
            last_fill_date=last_day,
        )


def _check_cii_source(
    found: _Collector,
    source: PrescriptionSource,
    written: date,
    emergency_oral: bool,
    faxed_cii_exception: bool,
) -> None:
    if source is PrescriptionSource.PHONED:
        if emergency_oral:
            due = written + timedelta(days=EMERGENCY_ORAL_FOLLOW_UP_DAYS)
            found.warn(
                "cii-written-follow-up",
                f"Emergency oral C-II: the prescriber's written follow-up is due by "
                f"{due:%m/%d/%Y}; notify the DEA if it does not arrive. Dispense only the "
                "emergency quantity.",
                due=due,
            )
        else:
            found.error(
                "cii-phoned",
                "A C-II cannot be phoned in except in an emergency: it must be written or "
                "electronic.",
            )
    elif source is PrescriptionSource.FAXED:
        if faxed_cii_exception:
            found.warn(
                "cii-faxed-exception",
                "Faxed C-II accepted as the original for a long-term care, hospice or home "
                "infusion patient: note it on the prescription.",
            )
        else:
            found.error(
                "cii-faxed",
                "A faxed C-II is not an original prescription (except for long-term care, hospice "
                "or home infusion): the hard copy or an electronic prescription is needed.",
            )
    elif source is PrescriptionSource.TRANSFERRED:
        found.warn(
            "cii-transferred",
            "A C-II may be transferred only as an unfilled electronic prescription, once: "
            "check that this one was.",
        )


def check_new_prescription(
    *,
    schedule: str | None,
    source: str,
    written: date,
    today: date,
    refills: int,
    quantity: Decimal,
    days_supply: int,
    do_not_fill_before: date | None,
    emergency_oral: bool,
    config: StateLawConfig,
    series_days_supply_total: int | None = None,
    max_reasonable_quantity: Decimal = DEFAULT_MAX_REASONABLE_QUANTITY,
    faxed_cii_exception: bool = False,
) -> RuleOutcome:
    """Every federal refusal and flag for a new prescription, all at once, so all can be fixed.

    `series_days_supply_total` is the days supply of every C-II prescription of a multiple-
    prescription series, this one included; `max_reasonable_quantity` is the caller's bound
    (e.g. 100 packages), beyond which a quantity is a typing error.
    """
    parsed = parse_schedule(schedule)
    origin = _choice(PrescriptionSource, source, "prescription source")
    found = _Collector()
    if written > today:
        found.error(
            "written-in-future",
            f"The date written, {written:%m/%d/%Y}, is in the future.",
            written=written,
        )
    if quantity <= 0:
        found.error(
            "quantity-not-positive", "The quantity must be more than zero.", quantity=quantity
        )
    elif quantity > max_reasonable_quantity:
        found.error(
            "quantity-unreasonable",
            f"A quantity of {quantity} is more than {max_reasonable_quantity}: check for a typing "
            "error.",
            quantity=quantity,
            limit=max_reasonable_quantity,
        )
    if days_supply <= 0:
        found.error(
            "days-supply-not-positive",
            "The days supply must be at least one day.",
            days_supply=days_supply,
        )
    allowed_refills = max_refills(parsed, config)
    if refills < 0:
        found.error("refills-negative", "Refills cannot be negative.", refills=refills)
    elif allowed_refills is not None and refills > allowed_refills:
        found.error(
            "too-many-refills",
            f"{_kind(parsed).capitalize()} prescription may have at most {allowed_refills} "
            f"refill{'s' if allowed_refills != 1 else ''}; this one has {refills}.",
            refills=refills,
            limit=allowed_refills,
        )
    if emergency_oral and origin is not PrescriptionSource.PHONED:
        found.error(
            "emergency-oral-not-phoned",
            "An emergency oral prescription is one phoned in by the prescriber: set the source "
            "to phoned.",
        )
    if parsed is Schedule.CII:
        _check_cii_source(found, origin, written, emergency_oral, faxed_cii_exception)
        if series_days_supply_total is not None and series_days_supply_total > CII_SERIES_MAX_DAYS:
            found.error(
                "cii-series-over-90-days",
                f"C-II prescriptions written together may supply at most {CII_SERIES_MAX_DAYS} "
                f"days in total; this series supplies {series_days_supply_total}.",
                total=series_days_supply_total,
                limit=CII_SERIES_MAX_DAYS,
            )
    if do_not_fill_before is not None:
        if do_not_fill_before < written:
            found.error(
                "do-not-fill-before-written",
                f"The do-not-fill-before date, {do_not_fill_before:%m/%d/%Y}, is before the date "
                f"written, {written:%m/%d/%Y}.",
                do_not_fill_before=do_not_fill_before,
                written=written,
            )
        elif today < do_not_fill_before:
            found.warn(
                "do-not-fill-before",
                f"Enter it now, but do not fill it before {do_not_fill_before:%m/%d/%Y}.",
                do_not_fill_before=do_not_fill_before,
            )
    _check_expiry(found, parsed, written, today, config)
    return found.outcome()


def check_refill(
    *,
    schedule: str | None,
    written: date,
    today: date,
    refills_authorized: int,
    refills_dispensed: int,
    last_filled: date,
    last_days_supply: int,
    config: StateLawConfig,
) -> RuleOutcome:
    """Whether one more refill may be dispensed today, and whether it is too soon."""
    parsed = parse_schedule(schedule)
    found = _Collector()
    limit = max_refills(parsed, config)
    usable = refills_authorized if limit is None else min(refills_authorized, limit)
    if parsed is Schedule.CII:
        found.error(
            "cii-no-refills", "A C-II cannot be refilled: the prescriber must write a new one."
        )
    elif refills_dispensed >= usable:
        found.error(
            "no-refills-left",
            f"No refills left: {usable} allowed, {refills_dispensed} already dispensed. Ask the "
            "prescriber for a new prescription.",
            allowed=usable,
            dispensed=refills_dispensed,
        )
    _check_expiry(found, parsed, written, today, config)
    wait_days = math.ceil(config.refill_too_soon_fraction * last_days_supply)
    earliest = last_filled + timedelta(days=wait_days)
    if today < earliest:
        found.warn(
            "refill-too-soon",
            f"Too soon to refill: the last fill ({last_days_supply} days, {last_filled:%m/%d/%Y}) "
            f"allows a refill from {earliest:%m/%d/%Y}.",
            earliest=earliest,
            last_filled=last_filled,
        )
    return found.outcome()


def check_cii_partial_fill(
    *,
    reason: str,
    written: date,
    first_partial_at: datetime,
    now: datetime,
    config: StateLawConfig,
) -> RuleOutcome:
    """Whether the rest of a partially filled C-II may still be dispensed `now`."""
    why = _choice(PartialFillReason, reason, "partial-fill reason")
    found = _Collector()
    if why is PartialFillReason.PHARMACY_SHORT:
        deadline = first_partial_at + timedelta(hours=config.cii_partial_pharmacy_short_hours)
        if now > deadline:
            found.error(
                "partial-fill-window-closed",
                f"The rest of a C-II the pharmacy could not supply had to be dispensed within "
                f"{config.cii_partial_pharmacy_short_hours} hours, by {deadline:%m/%d/%Y %H:%M}; "
                "tell the prescriber, the remainder cannot be dispensed.",
                deadline=deadline,
            )
        return found.outcome()
    days = (
        config.cii_partial_on_request_days
        if why is PartialFillReason.PATIENT_OR_PRESCRIBER_REQUEST
        else config.cii_partial_long_term_care_days
    )
    last_day = written + timedelta(days=days)
    if now.date() > last_day:
        found.error(
            "partial-fill-window-closed",
            f"The rest of this partially filled C-II had to be dispensed within {days} days of "
            f"the date written, by {last_day:%m/%d/%Y}; the remainder cannot be dispensed.",
            deadline=last_day,
        )
    return found.outcome()


def check_transfer(
    *,
    schedule: str | None,
    is_electronic_unfilled: bool,
    previous_transfers: int,
    shared_database: bool,
) -> RuleOutcome:
    """Whether a prescription may be transferred to or from another pharmacy."""
    parsed = parse_schedule(schedule)
    found = _Collector()
    if parsed is Schedule.CII:
        if not is_electronic_unfilled:
            found.error(
                "cii-transfer-not-electronic-unfilled",
                "Only an unfilled electronic C-II prescription can be transferred.",
            )
        if previous_transfers > 0:
            found.error(
                "cii-transferred-before",
                "A C-II prescription can be transferred only once, and this one was.",
                previous_transfers=previous_transfers,
            )
    elif parsed is not None and previous_transfers > 0 and not shared_database:
        found.error(
            "transferred-before",
            f"{_kind(parsed).capitalize()} prescription can be transferred only once between "
            "pharmacies that do not share a real-time database, and this one was.",
            previous_transfers=previous_transfers,
        )
    return found.outcome()


_REGISTRATION_FOR = {
    (Schedule.CII, False): "2",
    (Schedule.CII, True): "2N",
    (Schedule.CIII, False): "3",
    (Schedule.CIII, True): "3N",
    (Schedule.CIV, False): "4",
    (Schedule.CIV, True): "4",
    (Schedule.CV, False): "5",
    (Schedule.CV, True): "5",
}


def dea_schedule_allowed(
    prescriber_schedules: Collection[str], schedule: str | None, *, non_narcotic: bool = False
) -> bool:
    """Whether a DEA registration's schedules (2, 2N, 3, 3N, 4, 5) cover prescribing `schedule`.

    A registration lists narcotic (2, 3) and non-narcotic (2N, 3N) C-II and C-III apart, and the
    FDA product data does not say which a drug is. So a C-II or C-III needs 2 or 3 unless the
    caller knows the drug is non-narcotic (`non_narcotic=True`), when it needs 2N or 3N: a
    registrant for narcotics only may not prescribe, say, methylphenidate.
    """
    parsed = parse_schedule(schedule)
    if parsed is None:
        return True
    held = {value.strip().upper() for value in prescriber_schedules}
    return _REGISTRATION_FOR[(parsed, non_narcotic)] in held

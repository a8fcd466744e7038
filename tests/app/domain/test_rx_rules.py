"""Federal prescription rules at their date and count boundaries, leap years included."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.rx_rules import (
    PrescriptionRefused,
    RuleOutcome,
    StateLawConfig,
    UnknownChoice,
    UnknownSchedule,
    add_months,
    check_cii_partial_fill,
    check_new_prescription,
    check_refill,
    check_transfer,
    dea_schedule_allowed,
    last_fill_date,
)
from app.errors import ValidationFailed

CONFIG = StateLawConfig()


def new_rx(**changes: Any) -> RuleOutcome:
    values: dict[str, Any] = {
        "schedule": None,
        "source": "electronic",
        "written": date(2024, 3, 1),
        "today": date(2024, 3, 1),
        "refills": 0,
        "quantity": Decimal(30),
        "days_supply": 30,
        "do_not_fill_before": None,
        "emergency_oral": False,
        "config": CONFIG,
    }
    values.update(changes)
    return check_new_prescription(**values)


def codes(outcome: RuleOutcome) -> list[str]:
    return [problem.code for problem in outcome.errors]


def warning_codes(outcome: RuleOutcome) -> list[str]:
    return [problem.code for problem in outcome.warnings]


def test_a_plain_prescription_passes() -> None:
    outcome = new_rx(refills=11)
    assert outcome.allowed and outcome.warnings == ()
    outcome.raise_if_refused()


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2024, 1, 15), 6, date(2024, 7, 15)),
        (date(2023, 8, 29), 6, date(2024, 2, 29)),  # leap day exists
        (date(2023, 8, 31), 6, date(2024, 2, 29)),  # clamped to the leap day
        (date(2024, 8, 31), 6, date(2025, 2, 28)),  # clamped, not a leap year
        (date(2024, 7, 31), 6, date(2025, 1, 31)),  # over the year end
        (date(2024, 12, 31), 14, date(2026, 2, 28)),
    ],
)
def test_add_months_clamps_to_the_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


@pytest.mark.parametrize("schedule", ["CIII", "CIV"])
@pytest.mark.parametrize(
    ("written", "last_day"),
    [
        (date(2024, 1, 15), date(2024, 7, 15)),
        (date(2023, 8, 31), date(2024, 2, 29)),
        (date(2024, 8, 31), date(2025, 2, 28)),
    ],
)
def test_c3_c4_six_months_exactly_is_allowed_one_day_more_is_refused(
    schedule: str, written: date, last_day: date
) -> None:
    assert new_rx(schedule=schedule, written=written, today=last_day).allowed
    refused = new_rx(schedule=schedule, written=written, today=last_day + timedelta(days=1))
    assert codes(refused) == ["expired"]
    assert refused.errors[0].facts == {"written": written, "last_fill_date": last_day}
    assert last_day.strftime("%m/%d/%Y") in refused.errors[0].message


@pytest.mark.parametrize("schedule", ["CIII", "CIV"])
def test_c3_c4_five_refills_allowed_six_refused(schedule: str) -> None:
    assert new_rx(schedule=schedule, refills=5).allowed
    refused = new_rx(schedule=schedule, refills=6)
    assert codes(refused) == ["too-many-refills"]
    assert refused.errors[0].facts == {"refills": 6, "limit": 5}
    assert "at most 5 refills" in refused.errors[0].message


def test_c2_refills_zero_allowed_one_refused() -> None:
    assert new_rx(schedule="CII").allowed
    refused = new_rx(schedule="CII", refills=1)
    assert codes(refused) == ["too-many-refills"]
    assert "at most 0 refills" in refused.errors[0].message


def test_written_in_the_future_is_refused_today_is_not() -> None:
    assert new_rx(written=date(2024, 3, 1), today=date(2024, 3, 1)).allowed
    assert codes(new_rx(written=date(2024, 3, 2), today=date(2024, 3, 1))) == ["written-in-future"]


@pytest.mark.parametrize(
    ("written", "last_day"),
    [
        (date(2023, 1, 10), date(2024, 1, 10)),  # 365 days, no 29 February between
        (date(2023, 3, 1), date(2024, 2, 29)),  # 365 days reach the leap day
        (date(2024, 1, 10), date(2025, 1, 9)),  # the leap day eats one day of the year
    ],
)
@pytest.mark.parametrize("schedule", [None, "CV"])
def test_one_year_validity_boundary(schedule: str | None, written: date, last_day: date) -> None:
    assert new_rx(schedule=schedule, written=written, today=last_day).allowed
    assert codes(new_rx(schedule=schedule, written=written, today=last_day + timedelta(1))) == [
        "expired"
    ]


def test_state_config_sets_validity_and_refills_for_cv_and_non_controlled() -> None:
    strict = StateLawConfig(
        non_controlled_validity_days=180,
        non_controlled_max_refills=11,
        schedule_v_validity_days=90,
        schedule_v_max_refills=5,
    )
    written = date(2024, 1, 1)
    assert new_rx(written=written, today=written + timedelta(180), config=strict).allowed
    assert codes(new_rx(written=written, today=written + timedelta(181), config=strict)) == [
        "expired"
    ]
    assert codes(new_rx(refills=12, config=strict)) == ["too-many-refills"]
    assert new_rx(refills=11, config=strict).allowed
    assert codes(new_rx(schedule="CV", refills=6, config=strict)) == ["too-many-refills"]
    assert codes(
        new_rx(schedule="CV", written=written, today=written + timedelta(91), config=strict)
    ) == ["expired"]
    # No federal limit on refills of a non-controlled prescription.
    assert new_rx(refills=99).allowed


def test_c2_has_no_federal_expiry_but_a_state_may_set_one() -> None:
    written = date(2023, 1, 1)
    assert new_rx(schedule="CII", written=written, today=date(2024, 6, 1)).allowed
    config = StateLawConfig(schedule_ii_validity_days=90)
    assert last_fill_date("CII", written, config) == date(2023, 4, 1)
    assert codes(
        new_rx(schedule="CII", written=written, today=date(2023, 4, 2), config=config)
    ) == ["expired"]
    assert last_fill_date("CII", written, CONFIG) is None


@pytest.mark.parametrize(
    ("quantity", "days_supply", "expected"),
    [
        (Decimal(0), 30, ["quantity-not-positive"]),
        (Decimal(-1), 30, ["quantity-not-positive"]),
        (Decimal(30), 0, ["days-supply-not-positive"]),
        (Decimal(30), -5, ["days-supply-not-positive"]),
        (Decimal(10_001), 30, ["quantity-unreasonable"]),
        (Decimal(10_000), 30, []),
        (Decimal("0.5"), 1, []),
    ],
)
def test_quantity_and_days_supply(quantity: Decimal, days_supply: int, expected: list[str]) -> None:
    assert codes(new_rx(quantity=quantity, days_supply=days_supply)) == expected


def test_max_reasonable_quantity_is_the_callers() -> None:
    assert codes(new_rx(quantity=Decimal(101), max_reasonable_quantity=Decimal(100))) == [
        "quantity-unreasonable"
    ]
    assert codes(new_rx(refills=-1)) == ["refills-negative"]


@pytest.mark.parametrize("source", ["electronic", "written"])
def test_c2_written_or_electronic_is_accepted(source: str) -> None:
    assert new_rx(schedule="CII", source=source).allowed


def test_c2_phoned_only_as_an_emergency_with_written_follow_up_in_seven_days() -> None:
    assert codes(new_rx(schedule="CII", source="phoned")) == ["cii-phoned"]
    outcome = new_rx(schedule="CII", source="phoned", emergency_oral=True)
    assert outcome.allowed
    assert warning_codes(outcome) == ["cii-written-follow-up"]
    assert outcome.warnings[0].facts == {"due": date(2024, 3, 8)}
    assert "03/08/2024" in outcome.warnings[0].message
    # A phoned C-III is ordinary; "emergency" must describe a phoned prescription.
    assert new_rx(schedule="CIII", source="phoned").allowed
    assert codes(new_rx(schedule="CII", emergency_oral=True)) == ["emergency-oral-not-phoned"]


def test_faxed_c2_is_refused_unless_the_long_term_care_exception_applies() -> None:
    refused = new_rx(schedule="CII", source="faxed")
    assert codes(refused) == ["cii-faxed"]
    assert "long-term care" in refused.errors[0].message
    allowed = new_rx(schedule="CII", source="faxed", faxed_cii_exception=True)
    assert allowed.allowed and warning_codes(allowed) == ["cii-faxed-exception"]
    assert new_rx(schedule="CIV", source="faxed").allowed


def test_transferred_c2_is_flagged_for_the_electronic_unfilled_check() -> None:
    outcome = new_rx(schedule="CII", source="transferred")
    assert outcome.allowed and warning_codes(outcome) == ["cii-transferred"]


def test_c2_series_up_to_ninety_days_with_do_not_fill_before_dates() -> None:
    later = new_rx(
        schedule="CII", do_not_fill_before=date(2024, 3, 31), series_days_supply_total=90
    )
    assert later.allowed
    assert warning_codes(later) == ["do-not-fill-before"]
    assert later.warnings[0].facts == {"do_not_fill_before": date(2024, 3, 31)}
    over = new_rx(schedule="CII", series_days_supply_total=91)
    assert codes(over) == ["cii-series-over-90-days"]
    # Filled on the do-not-fill-before date itself: nothing to flag.
    assert new_rx(schedule="CII", do_not_fill_before=date(2024, 3, 1)).warnings == ()
    assert codes(new_rx(schedule="CII", do_not_fill_before=date(2024, 2, 29))) == [
        "do-not-fill-before-written"
    ]


def test_all_problems_are_reported_at_once_and_raise_together() -> None:
    outcome = new_rx(
        schedule="CII",
        source="faxed",
        refills=2,
        quantity=Decimal(0),
        written=date(2024, 3, 5),
    )
    assert sorted(codes(outcome)) == [
        "cii-faxed",
        "quantity-not-positive",
        "too-many-refills",
        "written-in-future",
    ]
    with pytest.raises(PrescriptionRefused) as refused:
        outcome.raise_if_refused()
    assert isinstance(refused.value, ValidationFailed)
    assert refused.value.facts["problems"] == outcome.errors


def test_unknown_schedule_and_source_are_typed_errors() -> None:
    with pytest.raises(UnknownSchedule, match="CII, CIII, CIV or CV"):
        new_rx(schedule="C2")
    with pytest.raises(UnknownChoice, match="electronic, written"):
        new_rx(source="carrier pigeon")


def refill(**changes: Any) -> RuleOutcome:
    values: dict[str, Any] = {
        "schedule": None,
        "written": date(2024, 1, 15),
        "today": date(2024, 3, 1),
        "refills_authorized": 5,
        "refills_dispensed": 1,
        "last_filled": date(2024, 2, 1),
        "last_days_supply": 30,
        "config": CONFIG,
    }
    values.update(changes)
    return check_refill(**values)


def test_refill_with_refills_left_and_in_time() -> None:
    assert refill() == RuleOutcome()


def test_refills_run_out() -> None:
    assert refill(refills_dispensed=4).allowed
    outcome = refill(refills_dispensed=5)
    assert codes(outcome) == ["no-refills-left"]
    assert outcome.errors[0].facts == {"allowed": 5, "dispensed": 5}


@pytest.mark.parametrize("schedule", ["CIII", "CIV"])
def test_c3_c4_refills_stop_at_five_and_six_months(schedule: str) -> None:
    # Authorised beyond the federal limit: only five can be dispensed.
    assert refill(schedule=schedule, refills_authorized=9, refills_dispensed=4).allowed
    assert codes(refill(schedule=schedule, refills_authorized=9, refills_dispensed=5)) == [
        "no-refills-left"
    ]
    assert refill(schedule=schedule, today=date(2024, 7, 15), last_filled=date(2024, 6, 15)).allowed
    late = refill(schedule=schedule, today=date(2024, 7, 16), last_filled=date(2024, 6, 15))
    assert codes(late) == ["expired"]


def test_c2_is_never_refilled() -> None:
    assert codes(refill(schedule="CII", refills_authorized=0, refills_dispensed=0)) == [
        "cii-no-refills"
    ]


def test_non_controlled_refill_after_a_year_is_refused() -> None:
    written = date(2023, 1, 10)
    assert refill(written=written, today=date(2024, 1, 10), last_filled=date(2023, 12, 1)).allowed
    assert codes(
        refill(written=written, today=date(2024, 1, 11), last_filled=date(2023, 12, 1))
    ) == ["expired"]


def test_refill_too_soon_is_a_warning_at_three_quarters_of_the_days_supply() -> None:
    # 30 days at 0.75 → 22.5, rounded up: refillable from day 23.
    assert refill(last_filled=date(2024, 2, 1), today=date(2024, 2, 24)).warnings == ()
    early = refill(last_filled=date(2024, 2, 1), today=date(2024, 2, 23))
    assert early.allowed and warning_codes(early) == ["refill-too-soon"]
    assert early.warnings[0].facts["earliest"] == date(2024, 2, 24)
    lenient = StateLawConfig(refill_too_soon_fraction=Decimal("0.5"))
    assert refill(last_filled=date(2024, 2, 1), today=date(2024, 2, 15), config=lenient).warnings
    assert not refill(
        last_filled=date(2024, 2, 1), today=date(2024, 2, 16), config=lenient
    ).warnings


@given(st.integers(min_value=1, max_value=365), st.integers(min_value=0, max_value=400))
def test_too_soon_exactly_when_less_than_the_fraction_has_elapsed(
    days_supply: int, elapsed: int
) -> None:
    last = date(2024, 1, 1)
    outcome = refill(
        written=last,
        last_filled=last,
        last_days_supply=days_supply,
        today=last + timedelta(elapsed),
    )
    assert ("refill-too-soon" in warning_codes(outcome)) == (
        Decimal(elapsed) < Decimal("0.75") * days_supply
    )


FIRST = datetime(2024, 3, 1, 15, 30)


@pytest.mark.parametrize(
    ("reason", "last_ok", "first_refused"),
    [
        ("pharmacy_short", FIRST + timedelta(hours=72), FIRST + timedelta(hours=72, minutes=1)),
        (
            "patient_or_prescriber_request",
            datetime(2024, 3, 31, 23, 59),
            datetime(2024, 4, 1, 0, 0),
        ),
        ("long_term_care_or_terminal", datetime(2024, 4, 30, 23, 59), datetime(2024, 5, 1)),
    ],
)
def test_c2_partial_fill_windows(reason: str, last_ok: datetime, first_refused: datetime) -> None:
    # Written 1 March 2024 (a leap year): 30 days → 31 March, 60 days → 30 April.
    written = date(2024, 3, 1)
    ok = check_cii_partial_fill(
        reason=reason, written=written, first_partial_at=FIRST, now=last_ok, config=CONFIG
    )
    assert ok.allowed
    late = check_cii_partial_fill(
        reason=reason, written=written, first_partial_at=FIRST, now=first_refused, config=CONFIG
    )
    assert codes(late) == ["partial-fill-window-closed"]
    with pytest.raises(UnknownChoice):
        check_cii_partial_fill(
            reason="whim", written=written, first_partial_at=FIRST, now=last_ok, config=CONFIG
        )


@pytest.mark.parametrize(
    ("schedule", "electronic_unfilled", "previous", "shared", "expected"),
    [
        ("CII", True, 0, False, []),
        ("CII", False, 0, False, ["cii-transfer-not-electronic-unfilled"]),
        ("CII", True, 1, False, ["cii-transferred-before"]),
        ("CII", True, 1, True, ["cii-transferred-before"]),
        ("CIII", False, 0, False, []),
        ("CIV", False, 1, False, ["transferred-before"]),
        ("CV", False, 1, False, ["transferred-before"]),
        ("CIII", False, 3, True, []),
        (None, False, 4, False, []),
    ],
)
def test_transfers(
    schedule: str | None, electronic_unfilled: bool, previous: int, shared: bool, expected: list
) -> None:
    outcome = check_transfer(
        schedule=schedule,
        is_electronic_unfilled=electronic_unfilled,
        previous_transfers=previous,
        shared_database=shared,
    )
    assert codes(outcome) == expected


@pytest.mark.parametrize(
    ("registration", "schedule", "non_narcotic", "allowed"),
    [
        ({"2", "2N", "3", "3N", "4", "5"}, "CII", False, True),
        ({"2N", "3N", "4", "5"}, "CII", False, False),
        ({"2N", "3N", "4", "5"}, "CII", True, True),
        ({"2", "3", "4", "5"}, "CII", True, False),
        ({"3"}, "CIII", False, True),
        ({"3N"}, "CIII", False, False),
        ({" 3n "}, "CIII", True, True),
        ({"4"}, "CIV", False, True),
        ({"4"}, "CIV", True, True),
        ({"2", "3"}, "CIV", False, False),
        ({"5"}, "CV", False, True),
        (set(), "CV", False, False),
        (set(), None, False, True),
    ],
)
def test_dea_registration_covers_the_schedule(
    registration: set[str], schedule: str | None, non_narcotic: bool, allowed: bool
) -> None:
    assert dea_schedule_allowed(registration, schedule, non_narcotic=non_narcotic) is allowed

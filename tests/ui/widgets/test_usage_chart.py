"""The usage chart: a month day by day, longer periods by week ending today, bars and line
read back from the chart's series."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from app.services.stock import DayUsage, UsageHistory
from ui.widgets.usage_chart import UsageChart, usage_buckets

LAST_DAY = date(2026, 11, 20)


def history(days: int, dispensed: dict[int, int]) -> UsageHistory:
    """`days` days ending on LAST_DAY; `dispensed` by days before it; on-hand 1,000 at the end,
    higher before each dispensing."""
    on_hand = Decimal(1000)
    rows: list[DayUsage] = []
    for back in range(days):
        used = Decimal(dispensed.get(back, 0))
        rows.append(DayUsage(LAST_DAY - timedelta(days=back), used, on_hand))
        on_hand += used
    return UsageHistory(package_id=1, days=tuple(reversed(rows)))


def test_buckets_are_days_up_to_a_month_then_weeks_ending_today() -> None:
    daily = usage_buckets(history(30, {0: 5, 29: 7}))
    assert len(daily) == 30 and daily[0].dispensed == 7 and daily[-1].dispensed == 5

    weekly = usage_buckets(history(90, {0: 5, 6: 1, 7: 2, 89: 3}))
    assert len(weekly) == 13
    assert (weekly[-1].first_day, weekly[-1].last_day) == (LAST_DAY - timedelta(days=6), LAST_DAY)
    assert weekly[-1].dispensed == 6 and weekly[-2].dispensed == 2
    # 90 = 12 weeks and 6 days: the first bar is the short one.
    assert (weekly[0].last_day - weekly[0].first_day).days == 5 and weekly[0].dispensed == 3
    assert weekly[-1].on_hand == 1000 and weekly[-2].on_hand == 1006


def test_the_chart_draws_the_buckets(qtbot) -> None:
    chart = UsageChart()
    qtbot.addWidget(chart)
    chart.show_usage(history(365, {0: 30, 100: 60, 364: 10}))
    bars = [chart.dispensed_set.at(i) for i in range(chart.dispensed_set.count())]
    assert len(bars) == 53 and sum(bars) == 100
    points = chart.on_hand_line.points()
    assert len(points) == 53 and points[-1].y() == 1000 and points[0].y() == 1090
    assert chart.chart_.title() == "Dispensed per week, last 365 days: 100 in all"
    # Dates under some bars only, so that they never overlap; the last bar is always dated.
    labels = [label for label in chart.days_axis.categories() if label.strip("\u200b")]
    assert 1 < len(labels) <= 14 and labels[-1] == "11/14"
    assert "1000 on hand now" in chart.accessibleDescription()

    chart.show_nothing("Choose a lot")
    assert chart.dispensed_set.count() == 0 and chart.on_hand_line.count() == 0
    chart.show_usage(history(30, {}))
    assert chart.chart_.title() == "Nothing dispensed in the last 30 days"

"""A package's dispensing as a bar chart, per day or per week, with its on-hand as a line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QLineSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.services.stock import UsageHistory
from ui.models.formatting import quantity_text

# Up to a month reads best day by day; longer periods by week (13 or 53 bars, not 365).
DAILY_UP_TO_DAYS = 31
WEEK = 7
# Labels under at most this many bars: the others stay blank so that dates never overlap.
MAX_LABELS = 14
MIN_AXIS_SPAN = 4
HEADROOM = Decimal("1.1")
DISPENSED_COLOUR = "#2f6db5"
ON_HAND_COLOUR = "#8a5a00"


@dataclass(frozen=True)
class UsageBucket:
    """One bar: the days it covers, what was dispensed in them, the on-hand at their end."""

    first_day: date
    last_day: date
    dispensed: Decimal
    on_hand: Decimal


def usage_buckets(history: UsageHistory) -> list[UsageBucket]:
    """Day by day up to a month, else weeks ending on the last day (the first may be short)."""
    size = 1 if len(history.days) <= DAILY_UP_TO_DAYS else WEEK
    days = list(history.days)
    buckets: list[UsageBucket] = []
    end = len(days)
    while end > 0:
        chunk = days[max(end - size, 0) : end]
        buckets.append(
            UsageBucket(
                first_day=chunk[0].day,
                last_day=chunk[-1].day,
                dispensed=sum((day.dispensed for day in chunk), Decimal(0)),
                on_hand=chunk[-1].on_hand,
            )
        )
        end -= size
    return list(reversed(buckets))


def _label(bucket: UsageBucket, shown: bool, position: int) -> str:
    """A bar's axis label. The category axis needs unique names, so an unlabelled bar gets a
    distinct run of zero-width spaces."""
    if shown:
        return bucket.first_day.strftime("%m/%d")
    return "\u200b" * (position + 1)


class UsageChart(QChartView):
    """Bars of dispensed quantity and a line of on-hand; `buckets` is what is drawn."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.chart_ = QChart()
        super().__init__(self.chart_, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setAccessibleName("Usage chart")
        self.setMinimumHeight(220)
        self.chart_.setMargins(QMargins(4, 4, 4, 4))
        self.chart_.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        self.buckets: list[UsageBucket] = []
        self.dispensed_set = QBarSet("Dispensed")
        self.dispensed_set.setColor(QColor(DISPENSED_COLOUR))
        self.bars = QBarSeries()
        self.bars.append(self.dispensed_set)
        self.on_hand_line = QLineSeries()
        self.on_hand_line.setName("On hand at the end")
        self.on_hand_line.setPen(QPen(QColor(ON_HAND_COLOUR), 2))
        self.chart_.addSeries(self.bars)
        self.chart_.addSeries(self.on_hand_line)
        self.days_axis = QBarCategoryAxis()
        self.days_axis.setLabelsAngle(-90)
        self.dispensed_axis = QValueAxis()
        self.dispensed_axis.setLabelFormat("%d")
        self.dispensed_axis.setTitleText("Dispensed")
        self.on_hand_axis = QValueAxis()
        self.on_hand_axis.setLabelFormat("%d")
        self.on_hand_axis.setTitleText("On hand")
        self.chart_.addAxis(self.days_axis, Qt.AlignmentFlag.AlignBottom)
        self.chart_.addAxis(self.dispensed_axis, Qt.AlignmentFlag.AlignLeft)
        self.chart_.addAxis(self.on_hand_axis, Qt.AlignmentFlag.AlignRight)
        self.bars.attachAxis(self.days_axis)
        self.bars.attachAxis(self.dispensed_axis)
        self.on_hand_line.attachAxis(self.days_axis)
        self.on_hand_line.attachAxis(self.on_hand_axis)
        self.show_nothing("Choose a lot to see its package's usage.")

    def show_nothing(self, text: str) -> None:
        self.buckets = []
        self.dispensed_set.remove(0, self.dispensed_set.count())
        self.on_hand_line.clear()
        self.days_axis.clear()
        self.chart_.setTitle(text)
        self.setAccessibleDescription(text)

    def show_usage(self, history: UsageHistory) -> None:
        self.buckets = usage_buckets(history)
        weekly = len(history.days) > DAILY_UP_TO_DAYS
        step = max(-(-len(self.buckets) // MAX_LABELS), 1)
        labels = [
            _label(bucket, position % step == (len(self.buckets) - 1) % step, position)
            for position, bucket in enumerate(self.buckets)
        ]
        self.dispensed_set.remove(0, self.dispensed_set.count())
        self.dispensed_set.append([float(bucket.dispensed) for bucket in self.buckets])
        self.on_hand_line.replace(
            [
                QPointF(position, float(bucket.on_hand))
                for position, bucket in enumerate(self.buckets)
            ]
        )
        self.days_axis.clear()
        self.days_axis.append(labels)
        self.days_axis.setTitleText("Week starting" if weekly else "Day")
        _fit(self.dispensed_axis, Decimal(0), max(b.dispensed for b in self.buckets))
        low = min(min(b.on_hand for b in self.buckets), Decimal(0))
        _fit(self.on_hand_axis, low, max(b.on_hand for b in self.buckets))
        total = history.total_dispensed
        period = f"{'week' if weekly else 'day'}, last {len(history.days)} days"
        title = (
            f"Dispensed per {period}: {quantity_text(total)} in all"
            if total
            else f"Nothing dispensed in the last {len(history.days)} days"
        )
        self.chart_.setTitle(title)
        now = self.buckets[-1].on_hand
        self.setAccessibleDescription(f"{title}; {quantity_text(now)} on hand now.")


def _fit(axis: QValueAxis, low: Decimal, high: Decimal) -> None:
    """Round ticks over the values and a little above them (whole units: a top of at least 4
    keeps the labels whole)."""
    axis.setRange(float(low), float(max(high * HEADROOM, low + MIN_AXIS_SPAN)))
    axis.applyNiceNumbers()

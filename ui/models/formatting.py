"""How quantities, dates and durations read in US pharmacy tables."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal


def quantity_text(quantity: Decimal) -> str:
    """30.000 → "30", 2.500 → "2.5"."""
    return format(quantity.normalize(), "f")


def date_text(day: date) -> str:
    return day.strftime("%m/%d/%Y")


def time_text(moment: datetime, *, now: datetime) -> str:
    """Local time; "Today 3:30 PM" for today, otherwise with the weekday and date."""
    local = moment.astimezone()
    clock = local.strftime("%I:%M %p").lstrip("0")
    if local.date() == now.astimezone().date():
        return f"Today {clock}"
    return f"{local.strftime('%a %m/%d')} {clock}"


def age_text(age: timedelta) -> str:
    minutes = max(int(age.total_seconds() // 60), 0)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"

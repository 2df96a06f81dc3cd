"""The date range a report covers, in calendar days of one time zone, and percentiles."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class ReportPeriod:
    """Whole days from `start` to `end`, both included, in `tz`.

    One zone for every site (settings.TIME_ZONE): a report over several sites
    must cut days at the same instant, or one day's bars would add up
    different hours.
    """

    start: date
    end: date
    tz: tzinfo

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=self.tz)

    @property
    def end_at(self) -> datetime:
        """The first instant after the period (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=self.tz)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def timezone_name(self) -> str:
        return str(self.tz)


def report_timezone() -> tzinfo:
    return ZoneInfo(settings.TIME_ZONE)


def report_period_default(*, today: date | None = None) -> ReportPeriod:
    """The last DEFAULT_DAYS days, today included."""
    tz = report_timezone()
    today = today or timezone.now().astimezone(tz).date()
    return ReportPeriod(start=today - timedelta(days=DEFAULT_DAYS - 1), end=today, tz=tz)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont, numpy's
    default): the median of 1..10 is 5.5 and its p90 is 9.1. None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    below, above = math.floor(position), math.ceil(position)
    if below == above:
        return float(ordered[below])
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)

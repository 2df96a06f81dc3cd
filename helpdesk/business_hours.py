"""Is a site's team working now? Business hours live on the Site as JSON.

{"timezone": "Europe/Berlin", "days": {"0": [["09:00", "17:00"]], ...}} where
days are 0=Monday; a day missing from "days" is closed.
"""

from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from helpdesk.models import Site

DAY_NAMES = {
    "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    "zh": ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
}


def _zone(site: Site) -> ZoneInfo:
    try:
        return ZoneInfo(str((site.business_hours or {}).get("timezone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _intervals(site: Site, weekday: int) -> list[tuple[time, time]]:
    days = (site.business_hours or {}).get("days") or {}
    result = []
    for pair in days.get(str(weekday), []):
        try:
            start, end = (time.fromisoformat(value) for value in pair)
        except (TypeError, ValueError):
            continue
        result.append((start, end))
    return result


def site_is_open(*, site: Site, now: datetime | None = None) -> bool:
    if not (site.business_hours or {}).get("days"):
        return True  # no hours configured: always staffed
    local = (now or timezone.now()).astimezone(_zone(site))
    return any(start <= local.time() < end for start, end in _intervals(site, local.weekday()))


def business_hours_text(*, site: Site, language: str = "en") -> str:
    """A short human summary, e.g. "Mon-Fri 09:00-17:00 (UTC)"."""
    names = DAY_NAMES["zh" if language.startswith("zh") else "en"]
    spans = []
    for weekday in range(7):
        intervals = _intervals(site, weekday)
        if intervals:
            hours = ", ".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in intervals)
            if spans and spans[-1][2] == hours and spans[-1][1] == weekday - 1:
                spans[-1] = (spans[-1][0], weekday, hours)
            else:
                spans.append((weekday, weekday, hours))
    if not spans:
        return ""
    parts = [
        (names[a] if a == b else f"{names[a]}-{names[b]}") + f" {hours}" for a, b, hours in spans
    ]
    return "; ".join(parts) + f" ({_zone(site).key})"

"""What reports.js draws: the series (numbers only) and every label already translated."""

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext as _

from conversations.reports.selectors import DailyRow, ReasonCount, ReportSummary


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def report_chart_data(
    *, daily: Sequence[DailyRow], reasons: Sequence[ReasonCount]
) -> dict[str, Any]:
    """The json_script payload. Chart.js draws text on a canvas, never as HTML, so the
    escalation reasons (free text) are safe to hand over as they are."""
    return {
        "days": [row.day.isoformat() for row in daily],
        "conversations": {
            "botResolved": [row.bot_resolved for row in daily],
            "humanNeeded": [row.human_needed for row in daily],
        },
        "deflection": [
            None if row.deflection_rate is None else round(row.deflection_rate * 100, 1)
            for row in daily
        ],
        "firstResponse": {
            "botMedian": [_round(row.bot_first_response.median) for row in daily],
            "botP90": [_round(row.bot_first_response.p90) for row in daily],
            "humanMedian": [_round(row.human_first_response.median) for row in daily],
            "humanP90": [_round(row.human_first_response.p90) for row in daily],
        },
        "csat": {
            "average": [_round(row.csat_average, 2) for row in daily],
            "count": [row.csat_count for row in daily],
        },
        "escalations": {
            "labels": [reason.reason or _("Other reasons") for reason in reasons],
            "counts": [reason.count for reason in reasons],
        },
        "labels": {
            "botResolved": _("Resolved by the bot"),
            "humanNeeded": _("Needed a human"),
            "conversations": _("Conversations"),
            "deflection": _("Deflection rate (%)"),
            "botMedian": _("Bot median (s)"),
            "botP90": _("Bot p90 (s)"),
            "humanMedian": _("Human median (s)"),
            "humanP90": _("Human p90 (s)"),
            "botAxis": _("Bot, seconds"),
            "humanAxis": _("Humans, seconds"),
            "csatAverage": _("Average rating (1-5)"),
            "csatCount": _("Ratings"),
        },
    }


def duration_text(seconds: float | None) -> str:
    """1.2 s, 45 s, 3 min 05 s, 2 h 10 min: readable at a glance on a card."""
    if seconds is None:
        return "–"
    if seconds < 10:
        return _("%(seconds).1f s") % {"seconds": seconds}
    whole = round(seconds)
    if whole < 60:
        return _("%(seconds)d s") % {"seconds": whole}
    if whole < 3600:
        return _("%(minutes)d min %(seconds)02d s") % {
            "minutes": whole // 60,
            "seconds": whole % 60,
        }
    return _("%(hours)d h %(minutes)02d min") % {
        "hours": whole // 3600,
        "minutes": whole % 3600 // 60,
    }


def report_summary_cards(*, summary: ReportSummary) -> list[dict[str, str]]:
    """The cards above the charts: a label, the figure, and what it was computed from."""
    rate = summary.deflection_rate
    average = summary.csat_average
    bot, human = summary.bot_first_response, summary.human_first_response
    return [
        {
            "key": "conversations",
            "label": _("Conversations"),
            "value": str(summary.conversations),
            "hint": _("%(human)d needed a human") % {"human": summary.human_needed},
        },
        {
            "key": "deflection",
            "label": _("Deflection rate"),
            "value": "–" if rate is None else f"{rate * 100:.1f}%",
            "hint": _("%(bot)d resolved by the bot alone") % {"bot": summary.bot_resolved},
        },
        {
            "key": "bot-first-response",
            "label": _("Bot first response"),
            "value": duration_text(bot.median),
            "hint": _("median · p90 %(p90)s · %(count)d answered")
            % {"p90": duration_text(bot.p90), "count": bot.count},
        },
        {
            "key": "human-first-response",
            "label": _("Human first response"),
            "value": duration_text(human.median),
            "hint": _("median · p90 %(p90)s · %(count)d answered")
            % {"p90": duration_text(human.p90), "count": human.count},
        },
        {
            "key": "csat",
            "label": _("CSAT"),
            "value": "–" if average is None else f"{average:.2f} / 5",
            "hint": _("%(count)d ratings") % {"count": summary.csat_count},
        },
    ]

"""The report as CSV, one table per file (?table=): spreadsheets read one table per sheet."""

import csv
import io
from collections.abc import Callable, Iterable, Sequence

from django.utils.translation import gettext as _

from conversations.reports import selectors
from conversations.reports.periods import ReportPeriod

# Excel opens UTF-8 CSV as the local code page unless the file starts with a BOM.
BOM = "\ufeff"
# A cell starting with one of these is run as a formula by spreadsheets; visitors write
# questions and comments, so their text is defused with a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def _daily(*, site_ids: Sequence[int], period: ReportPeriod) -> Iterable[list[str]]:
    yield [
        _("day"),
        _("conversations"),
        _("bot resolved"),
        _("human needed"),
        _("deflection rate %"),
        _("bot first response median s"),
        _("bot first response p90 s"),
        _("bot responses"),
        _("human first response median s"),
        _("human first response p90 s"),
        _("human responses"),
        _("CSAT average"),
        _("CSAT ratings"),
    ]
    for row in selectors.report_daily(site_ids=site_ids, period=period):
        yield [
            row.day.isoformat(),
            str(row.conversations),
            str(row.bot_resolved),
            str(row.human_needed),
            _percent(row.deflection_rate),
            _number(row.bot_first_response.median),
            _number(row.bot_first_response.p90),
            str(row.bot_first_response.count),
            _number(row.human_first_response.median),
            _number(row.human_first_response.p90),
            str(row.human_first_response.count),
            _number(row.csat_average, 2),
            str(row.csat_count),
        ]


def _escalations(*, site_ids: Sequence[int], period: ReportPeriod) -> Iterable[list[str]]:
    yield [_("reason"), _("conversations")]
    for row in selectors.report_escalation_reasons(site_ids=site_ids, period=period):
        yield [spreadsheet_safe(row.reason or _("other")), str(row.count)]


def _kb_entries(*, site_ids: Sequence[int], period: ReportPeriod) -> Iterable[list[str]]:
    yield [_("entry id"), _("question"), _("site"), _("answers")]
    for row in selectors.report_top_kb_entries(site_ids=site_ids, period=period):
        yield [
            str(row.entry_id),
            spreadsheet_safe(row.question),
            spreadsheet_safe(row.site_name),
            str(row.answers),
        ]


def _unanswered(*, site_ids: Sequence[int], period: ReportPeriod) -> Iterable[list[str]]:
    yield [_("question"), _("site"), _("times asked"), _("last asked"), _("similar questions")]
    for row in selectors.report_unanswered_questions(site_ids=site_ids, period=period):
        yield [
            spreadsheet_safe(row.question),
            spreadsheet_safe(row.site_name),
            str(row.count),
            row.last_asked_at.astimezone(period.tz).isoformat(timespec="seconds"),
            spreadsheet_safe(" | ".join(row.other_questions)),
        ]


def _csat_comments(*, site_ids: Sequence[int], period: ReportPeriod) -> Iterable[list[str]]:
    yield [_("conversation"), _("site"), _("rating"), _("comment"), _("submitted")]
    for row in selectors.report_csat_comments(site_ids=site_ids, period=period):
        submitted = row.submitted_at
        yield [
            str(row.conversation_id),
            spreadsheet_safe(row.site_name),
            str(row.rating),
            spreadsheet_safe(row.comment),
            submitted.astimezone(period.tz).isoformat(timespec="seconds") if submitted else "",
        ]


TABLES: dict[str, Callable[..., Iterable[list[str]]]] = {
    "daily": _daily,
    "escalations": _escalations,
    "kb_entries": _kb_entries,
    "unanswered": _unanswered,
    "csat_comments": _csat_comments,
}


def report_csv(*, table: str, site_ids: Sequence[int], period: ReportPeriod) -> str:
    """The table as CSV text starting with a BOM. `table` must be one of TABLES."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(TABLES[table](site_ids=site_ids, period=period))
    return buffer.getvalue()

"""Reads behind the reports page and its CSV.

Every figure is about the conversations *started* in the period on the chosen sites that
have at least one visitor message (opening the widget without writing is not a
conversation), and each is counted on the day it started, in the report's time zone.

- Bot-resolved: no human was ever needed (human_needed_at is empty). Deflection rate =
  bot-resolved / conversations; a day without conversations has no rate.
- Bot first response: from the first visitor message to the first bot message after it
  (a knowledge-base or LLM answer, the sensitive-word reply, or the bot's hand-over
  sentence: what the visitor sees as the answer; system notices do not count). Only
  conversations the bot answered.
- Human first response: from human_needed_at to the first agent message to the visitor
  after it (internal notes do not count). Only conversations that needed a human and got
  an agent reply.
- Median and p90 interpolate between closest ranks (percentile_cont).
- CSAT: the average of the 1-5 ratings given on those conversations, and how many.
"""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate

from conversations.models import Conversation, Message
from conversations.reports.periods import ReportPeriod, percentile
from conversations.selectors import agent_site_ids
from helpdesk.models import Agent, Site
from kb.selectors import knowledge_gap_groups

TOP_LIMIT = 10


@dataclass(frozen=True)
class Percentiles:
    count: int
    median: float | None  # seconds
    p90: float | None  # seconds

    @classmethod
    def of(cls, seconds: Sequence[float]) -> "Percentiles":
        return cls(
            count=len(seconds), median=percentile(seconds, 0.5), p90=percentile(seconds, 0.9)
        )


@dataclass(frozen=True)
class ReportSummary:
    conversations: int
    bot_resolved: int
    human_needed: int
    deflection_rate: float | None  # 0..1
    bot_first_response: Percentiles
    human_first_response: Percentiles
    csat_average: float | None
    csat_count: int


@dataclass(frozen=True)
class DailyRow:
    day: date
    conversations: int
    bot_resolved: int
    human_needed: int
    deflection_rate: float | None
    bot_first_response: Percentiles
    human_first_response: Percentiles
    csat_average: float | None
    csat_count: int


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    count: int


@dataclass(frozen=True)
class KbEntryUsage:
    entry_id: int
    question: str
    site_name: str
    answers: int


@dataclass(frozen=True)
class UnansweredQuestion:
    question: str
    site_name: str
    count: int
    last_asked_at: datetime
    other_questions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CsatComment:
    conversation_id: int
    site_name: str
    rating: int
    comment: str
    submitted_at: datetime | None


def report_sites_for_agent(*, agent: Agent) -> list[Site]:
    """Superusers see every site; other staff the sites they serve (all when none chosen)."""
    if agent.user.is_superuser:
        return list(Site.objects.order_by("name", "id"))
    return list(Site.objects.filter(pk__in=agent_site_ids(agent=agent)).order_by("name", "id"))


def report_conversations(*, site_ids: Sequence[int], period: ReportPeriod) -> QuerySet:
    """The conversations a report counts (see the module docstring), with their day."""
    visitor_wrote = Message.objects.filter(
        conversation=OuterRef("pk"), author_kind=Message.Author.VISITOR
    )
    return (
        Conversation.objects.filter(
            site_id__in=list(site_ids),
            created_at__gte=period.start_at,
            created_at__lt=period.end_at,
        )
        .filter(Exists(visitor_wrote))
        .annotate(day=TruncDate("created_at", tzinfo=period.tz))
        .order_by()
    )


def _first_message_at(**conditions) -> Subquery:
    return Subquery(
        Message.objects.filter(conversation=OuterRef("pk"), **conditions)
        .order_by("created_at", "id")
        .values("created_at")[:1]
    )


def _first_response_seconds(
    *, site_ids: Sequence[int], period: ReportPeriod
) -> tuple[dict[date, list[float]], dict[date, list[float]]]:
    """Bot and human first-response durations in seconds, by day. The subqueries run in
    the database; one row per counted conversation comes back (the period is bounded)."""
    rows = (
        report_conversations(site_ids=site_ids, period=period)
        .annotate(first_visitor_at=_first_message_at(author_kind=Message.Author.VISITOR))
        .annotate(
            first_bot_at=_first_message_at(
                author_kind=Message.Author.BOT, created_at__gte=OuterRef("first_visitor_at")
            ),
            first_agent_at=_first_message_at(
                author_kind=Message.Author.AGENT,
                is_internal=False,
                created_at__gte=OuterRef("human_needed_at"),
            ),
        )
        .values_list("day", "first_visitor_at", "first_bot_at", "human_needed_at", "first_agent_at")
    )
    bot: dict[date, list[float]] = defaultdict(list)
    human: dict[date, list[float]] = defaultdict(list)
    for day, visitor_at, bot_at, needed_at, agent_at in rows:
        if visitor_at is not None and bot_at is not None:
            bot[day].append((bot_at - visitor_at).total_seconds())
        if needed_at is not None and agent_at is not None:
            human[day].append((agent_at - needed_at).total_seconds())
    return bot, human


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def report_daily(*, site_ids: Sequence[int], period: ReportPeriod) -> list[DailyRow]:
    """One row per day of the period, days without conversations included (as zeros)."""
    counted = (
        report_conversations(site_ids=site_ids, period=period)
        .values("day")
        .annotate(
            total=Count("id"),
            human_needed=Count("id", filter=Q(human_needed_at__isnull=False)),
            csat_average=Avg("csat_rating"),
            csat_count=Count("csat_rating"),
        )
    )
    by_day = {row["day"]: row for row in counted}
    bot, human = _first_response_seconds(site_ids=site_ids, period=period)
    rows: list[DailyRow] = []
    for day in period.days:
        row = by_day.get(day, {})
        total = row.get("total", 0)
        human_needed = row.get("human_needed", 0)
        average = row.get("csat_average")
        rows.append(
            DailyRow(
                day=day,
                conversations=total,
                bot_resolved=total - human_needed,
                human_needed=human_needed,
                deflection_rate=_rate(total - human_needed, total),
                bot_first_response=Percentiles.of(bot.get(day, [])),
                human_first_response=Percentiles.of(human.get(day, [])),
                csat_average=float(average) if average is not None else None,
                csat_count=row.get("csat_count", 0),
            )
        )
    return rows


def report_summary(*, site_ids: Sequence[int], period: ReportPeriod) -> ReportSummary:
    totals = report_conversations(site_ids=site_ids, period=period).aggregate(
        total=Count("id"),
        human_needed=Count("id", filter=Q(human_needed_at__isnull=False)),
        csat_sum=Sum("csat_rating"),
        csat_count=Count("csat_rating"),
    )
    bot, human = _first_response_seconds(site_ids=site_ids, period=period)
    total, human_needed = totals["total"], totals["human_needed"]
    csat_count = totals["csat_count"]
    return ReportSummary(
        conversations=total,
        bot_resolved=total - human_needed,
        human_needed=human_needed,
        deflection_rate=_rate(total - human_needed, total),
        bot_first_response=Percentiles.of([s for day in bot.values() for s in day]),
        human_first_response=Percentiles.of([s for day in human.values() for s in day]),
        csat_average=totals["csat_sum"] / csat_count if csat_count else None,
        csat_count=csat_count,
    )


def report_escalation_reasons(
    *, site_ids: Sequence[int], period: ReportPeriod, limit: int = TOP_LIMIT
) -> list[ReasonCount]:
    """Why a human was first needed, the most frequent first; the rest summed as "other"
    (an empty reason string) so the counts still add up to the conversations."""
    counted = (
        report_conversations(site_ids=site_ids, period=period)
        .filter(human_needed_at__isnull=False)
        .values("human_needed_reason")
        .annotate(count=Count("id"))
    )
    tally: Counter[str] = Counter()
    for row in counted:
        tally[row["human_needed_reason"].strip()] += row["count"]
    ordered = sorted(tally.items(), key=lambda item: (-item[1], item[0]))
    shown = [ReasonCount(reason=reason, count=count) for reason, count in ordered[:limit]]
    rest = sum(count for _, count in ordered[limit:])
    if rest:
        shown.append(ReasonCount(reason="", count=rest))
    return shown


def report_top_kb_entries(
    *, site_ids: Sequence[int], period: ReportPeriod, limit: int = TOP_LIMIT
) -> list[KbEntryUsage]:
    """Knowledge-base entries by how many answers the bot sent from them."""
    conversations = report_conversations(site_ids=site_ids, period=period).values("pk")
    counted = (
        Message.objects.filter(
            conversation__in=conversations,
            source=Message.Source.KB,
            kb_entry__isnull=False,
        )
        .values("kb_entry_id", "kb_entry__question", "kb_entry__site__name")
        .annotate(answers=Count("id"))
        .order_by("-answers", "kb_entry_id")[:limit]
    )
    return [
        KbEntryUsage(
            entry_id=row["kb_entry_id"],
            question=row["kb_entry__question"],
            site_name=row["kb_entry__site__name"],
            answers=row["answers"],
        )
        for row in counted
    ]


def report_unanswered_questions(
    *, site_ids: Sequence[int], period: ReportPeriod, limit: int = TOP_LIMIT
) -> list[UnansweredQuestion]:
    """Open knowledge gaps asked in the period, grouped as the admin's knowledge-gaps page
    groups them (similar wording or meaning), the most asked first."""
    found: list[UnansweredQuestion] = []
    for site_id in site_ids:
        for group in knowledge_gap_groups(site_id=site_id):
            asked = [gap for gap in group.gaps if period.start_at <= gap.created_at < period.end_at]
            if not asked:
                continue
            found.append(
                UnansweredQuestion(
                    question=asked[0].question,
                    site_name=group.site.name,
                    count=len(asked),
                    last_asked_at=max(gap.created_at for gap in asked),
                    other_questions=sorted({gap.question for gap in asked} - {asked[0].question}),
                )
            )
    found.sort(key=lambda q: (-q.count, -q.last_asked_at.timestamp()))
    return found[:limit]


def report_csat_comments(
    *, site_ids: Sequence[int], period: ReportPeriod, limit: int = TOP_LIMIT
) -> list[CsatComment]:
    """The latest ratings that came with a comment."""
    rated = (
        report_conversations(site_ids=site_ids, period=period)
        .filter(csat_rating__isnull=False)
        .exclude(csat_comment="")
        .select_related("site")
        .order_by(F("csat_submitted_at").desc(nulls_last=True), "-id")[:limit]
    )
    return [
        CsatComment(
            conversation_id=conversation.pk,
            site_name=conversation.site.name,
            rating=conversation.csat_rating,
            comment=conversation.csat_comment,
            submitted_at=conversation.csat_submitted_at,
        )
        for conversation in rated
    ]

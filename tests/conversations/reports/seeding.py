"""Conversations with the timing, escalation and rating a report test needs.

created_at fields are auto_now_add: they are written with a queryset update after the
row exists, as the real rows would have been written at those times.
"""

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from conversations.models import Conversation, Message
from helpdesk.models import Site
from kb.models import Entry, KnowledgeGap
from tests.factories import (
    ConversationFactory,
    EntryFactory,
    KnowledgeGapFactory,
    MessageFactory,
    SiteFactory,
    VisitorFactory,
)

UTC = ZoneInfo("UTC")


def at(day: str, clock: str = "10:00:00", tz=UTC) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=tz)


def _message(conversation: Conversation, when: datetime, **fields) -> Message:
    message = MessageFactory(conversation=conversation, **fields)
    Message.objects.filter(pk=message.pk).update(created_at=when)
    return message


def conversation_create(
    *,
    site: Site,
    started: datetime,
    visitor_wrote: bool = True,
    bot_after: float | None = 2.0,
    kb_entry: Entry | None = None,
    human_needed_after: float | None = None,
    reason: str = "",
    agent_after: float | None = None,
    csat: int | None = None,
    comment: str = "",
    text: str = "Hello, I have a question",
) -> Conversation:
    """A conversation started at `started`; the visitor writes at once, the bot answers
    `bot_after` seconds later, a human is needed `human_needed_after` seconds after the
    start and an agent answers `agent_after` seconds after that."""
    conversation = ConversationFactory(visitor=VisitorFactory(site=site), site=site)
    fields: dict = {"created_at": started}
    if visitor_wrote:
        _message(conversation, started, text=text)
    else:
        _message(
            conversation,
            started,
            author_kind=Message.Author.SYSTEM,
            source=Message.Source.SYSTEM,
            text="Widget opened",
        )
    if bot_after is not None:
        _message(
            conversation,
            started + timedelta(seconds=bot_after),
            author_kind=Message.Author.BOT,
            source=Message.Source.KB if kb_entry else Message.Source.LLM,
            kb_entry=kb_entry,
            text=kb_entry.answer if kb_entry else "Here is what I found.",
        )
    if human_needed_after is not None:
        needed_at = started + timedelta(seconds=human_needed_after)
        fields.update(human_needed_at=needed_at, human_needed_reason=reason)
        if agent_after is not None:
            _message(
                conversation,
                needed_at + timedelta(seconds=agent_after),
                author_kind=Message.Author.AGENT,
                source=Message.Source.AGENT,
                text="Hi, a person here. Let me check.",
            )
    if csat is not None:
        fields.update(
            csat_rating=csat,
            csat_comment=comment,
            csat_submitted_at=started + timedelta(minutes=30),
        )
    Conversation.objects.filter(pk=conversation.pk).update(**fields)
    conversation.refresh_from_db()
    return conversation


def gap_create(
    *, site: Site, question: str, asked: datetime, resolved: bool = False
) -> KnowledgeGap:
    gap = KnowledgeGapFactory(site=site, question=question)
    fields: dict = {"created_at": asked}
    if resolved:
        fields["resolved_at"] = asked + timedelta(hours=1)
    KnowledgeGap.objects.filter(pk=gap.pk).update(**fields)
    gap.refresh_from_db()
    return gap


@dataclass
class ReportSites:
    shop: Site
    rental: Site


SHOP_ENTRIES = [
    ("How long does shipping take?", "Orders ship within 1 business day."),
    ("What is your return policy?", "Returns are free within 30 days."),
    ("Do you offer gift cards?", "Yes, from 10 to 500 euros."),
    ("How do I track my order?", "Use the link in your shipping email."),
    ("Which boot size should I choose?", "Take your usual size; see the size chart."),
    ("Can I change my delivery address?", "Yes, until the order ships."),
]
RENTAL_ENTRIES = [
    ("What are the rental opening hours?", "Every day from 8:00 to 18:00."),
    ("Do you rent helmets?", "Yes, helmets are free with every ski rental."),
    ("Can I extend my rental?", "Yes, at the counter or by phone."),
]
REASONS = [
    ("visitor asked for a person", 9),
    ("LLM timed out", 3),
    ("taken over by an agent", 4),
    ("low confidence answer", 5),
    ("sensitive word", 1),
    ("visitor asked for a person (team offline)", 2),
]
COMMENTS = {
    5: ["Super fast, thanks!", "The bot answered right away.", "Exactly what I needed."],
    4: ["Good help, a little slow.", "Helpful agent."],
    3: ["OK, but I had to ask twice."],
    2: ["Took too long to reach a person."],
    1: ["The bot did not understand me at all."],
}
GAPS = [
    ["Do you ship to Canada?", "do you ship to canada", "Do you deliver to Canada?"],
    ["Can I pay with PayPal?", "can i pay with paypal please"],
    ["Is there a student discount?", "student discount?"],
    ["Do you sell kids' snowshoes?"],
    ["Can I pick up my order in the store?"],
    ["Are the jackets waterproof in heavy rain?"],
]


def realistic_reports_seed(*, today: date, days: int = 30, seed: int = 7) -> ReportSites:
    """A month of two sites' traffic for the README screenshot: weekday peaks, a bot
    that resolves most questions in a second or two, humans in minutes, ratings."""
    rng = random.Random(seed)
    shop = SiteFactory(name="Outdoor shop")
    rental = SiteFactory(name="Ski rental")
    entries = {
        shop: [EntryFactory(site=shop, question=q, answer=a) for q, a in SHOP_ENTRIES],
        rental: [EntryFactory(site=rental, question=q, answer=a) for q, a in RENTAL_ENTRIES],
    }
    reasons = [reason for reason, weight in REASONS for _ in range(weight)]
    for offset in range(days):
        day = today - timedelta(days=days - 1 - offset)
        weekend = day.weekday() >= 5
        trend = offset / days
        for site, volume in ((shop, 14), (rental, 5)):
            count = max(2, round(volume * (0.6 if weekend else 1.0) * (0.85 + 0.4 * trend)))
            count += rng.randint(-2, 3)
            for _ in range(count):
                started = datetime.combine(day, time(8), tzinfo=UTC) + timedelta(
                    minutes=rng.randint(0, 11 * 60)
                )
                site_entries = entries[site]
                from_kb = rng.random() < 0.6
                entry = site_entries[min(int(rng.expovariate(0.6)), len(site_entries) - 1)]
                needs_human = rng.random() < (0.34 - 0.12 * trend)
                csat = None
                if rng.random() < 0.35:
                    csat = rng.choices([5, 4, 3, 2, 1], weights=[50, 25, 10, 8, 7])[0]
                    if needs_human:
                        csat = max(1, csat - rng.choice([0, 0, 1]))
                conversation_create(
                    site=site,
                    started=started,
                    bot_after=(
                        None
                        if needs_human and rng.random() < 0.3
                        else rng.uniform(0.2, 0.9)
                        if from_kb
                        else rng.uniform(1.2, 4.5)
                    ),
                    kb_entry=entry if from_kb else None,
                    human_needed_after=rng.uniform(5, 40) if needs_human else None,
                    reason=rng.choice(reasons),
                    agent_after=(
                        rng.lognormvariate(4.2, 0.7) if needs_human and rng.random() < 0.9 else None
                    ),
                    csat=csat,
                    comment=rng.choice(COMMENTS[csat]) if csat and rng.random() < 0.4 else "",
                )
    for rank, wordings in enumerate(GAPS):
        for repeat in range(max(1, 9 - 2 * rank)):
            asked = datetime.combine(today, time(12), tzinfo=UTC) - timedelta(
                days=rng.randint(0, days - 1), minutes=repeat
            )
            gap_create(site=shop, question=wordings[repeat % len(wordings)], asked=asked)
    gap_create(
        site=rental,
        question="Do you rent snowboards for children?",
        asked=datetime.combine(today, time(9), tzinfo=UTC),
    )
    return ReportSites(shop=shop, rental=rental)

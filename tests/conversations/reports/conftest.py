"""Report rows with known timings, shared by the selector and view tests."""

import pytest

from conversations.models import Message
from tests.conversations.reports.seeding import at, conversation_create
from tests.factories import EntryFactory, SiteFactory


@pytest.fixture
def report_data():
    """Site A: 7 counted conversations over three days, site B: 1; plus rows the report
    must leave out (no visitor message, just before and just after the period)."""
    site_a, site_b = SiteFactory(name="Shop A"), SiteFactory(name="Shop B")
    shipping = EntryFactory(site=site_a, question="How long does shipping take?")
    returns = EntryFactory(site=site_a, question="What is your return policy?")
    c1 = conversation_create(
        site=site_a, started=at("2025-03-01", "09:00"), bot_after=1, kb_entry=shipping
    )
    # A system notice between the question and the answer is not the bot's response.
    Message.objects.create(conversation=c1, author_kind="system", source="system", text="x")
    conversation_create(
        site=site_a, started=at("2025-03-01", "10:00"), bot_after=2, kb_entry=shipping, csat=5
    )
    c3 = conversation_create(
        site=site_a,
        started=at("2025-03-01", "11:00"),
        bot_after=3,
        human_needed_after=10,
        reason="visitor asked for a person",
        agent_after=60,
        csat=3,
        comment="Slow",
    )
    # An internal note before the reply is not a response to the visitor.
    note = Message.objects.create(
        conversation=c3, author_kind="agent", source="agent", text="note", is_internal=True
    )
    Message.objects.filter(pk=note.pk).update(created_at=c3.human_needed_at)
    conversation_create(
        site=site_a,
        started=at("2025-03-01", "12:00"),
        bot_after=None,
        human_needed_after=0,
        reason="LLM timed out",
        agent_after=120,
    )
    conversation_create(
        site=site_a, started=at("2025-03-02", "09:00"), bot_after=4, kb_entry=returns, csat=4
    )
    conversation_create(
        site=site_a,
        started=at("2025-03-02", "10:00"),
        bot_after=5,
        human_needed_after=7,
        reason="visitor asked for a person",
        agent_after=None,
    )
    conversation_create(site=site_a, started=at("2025-03-03", "23:59:59"), bot_after=6)
    conversation_create(
        site=site_b,
        started=at("2025-03-01", "09:30"),
        bot_after=100,
        human_needed_after=20,
        reason="taken over by an agent",
        agent_after=30,
        csat=1,
        comment="Bad",
    )
    # Left out: no visitor message; started before the period; started at its end.
    conversation_create(site=site_a, started=at("2025-03-01", "13:00"), visitor_wrote=False)
    conversation_create(
        site=site_a,
        started=at("2025-02-28", "23:59:59"),
        bot_after=1,
        kb_entry=returns,
        human_needed_after=1,
        reason="outside",
        csat=1,
    )
    conversation_create(
        site=site_a,
        started=at("2025-03-04", "00:00:00"),
        bot_after=1,
        human_needed_after=1,
        reason="outside",
        csat=1,
    )
    return site_a, site_b

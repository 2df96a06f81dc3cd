"""What a visitor message answered from the knowledge base costs the database.

Every statement is a round trip on one of the web process's database threads and
the message path is the busiest path there is (benchmarks/README.md: SQL round
trips are its largest cost), so the count is pinned here: a change that adds a
statement shows up as a failing test, not as a slower benchmark weeks later.
"""

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Message
from conversations.pipeline import reply_pipeline_run
from conversations.services import visitor_message_receive
from helpdesk.config_versions import config_versions_read_together
from tests.factories import ConversationFactory, VisitorFactory

# The visitor message: duplicate check, conversation lock, insert, update (in BEGIN/COMMIT);
# the pipeline: lock, insert of the answer, update (in BEGIN/COMMIT).
KB_ANSWERED_MESSAGE_STATEMENTS = 11
# The conversation's first reply also reads, after commit, how long the visitor waited.
FIRST_REPLY_STATEMENTS = KB_ANSWERED_MESSAGE_STATEMENTS + 1


# The cache (Redis in production) is a round trip too. Each step reads configuration
# counters (the receive: the sensitive words' and the webhooks'; the pipeline: the
# KB's, the webhooks' and, in the consumer, the Site's), all in one round trip: each
# step is one database-thread call, and such a call reads its counters together.
KB_ANSWERED_MESSAGE_CACHE_CALLS = 2
CACHE_METHODS = ("get", "get_many", "set", "set_many", "add", "delete", "delete_many", "incr")


def _answered(visitor, client_id: str) -> tuple[list[str], Message]:
    # Each step as the visitor consumer runs it: one database-thread call (helpdesk.db_async).
    with CaptureQueriesContext(connection) as captured:
        with config_versions_read_together():
            received = visitor_message_receive(
                visitor=visitor, client_id=client_id, text="How long does shipping take?"
            )
        with config_versions_read_together():
            outcome = reply_pipeline_run(
                message=received.message, site=visitor.site, language=visitor.language
            )
    assert outcome.tier == "kb" and outcome.decision == "answer"
    return [query["sql"] for query in captured.captured_queries], Message.objects.get(
        pk=outcome.message_id
    )


def _first_reply_reads(statements: list[str]) -> list[str]:
    return [sql for sql in statements if '"author_kind" IN' in sql]


@pytest.mark.django_db(transaction=True)
def test_a_kb_answered_message_takes_eleven_statements_after_the_first_reply(site):
    _answered(VisitorFactory(site=site), "warm-up")  # the site's index is built on first use
    visitor = VisitorFactory(site=site)
    ConversationFactory(site=site, visitor=visitor)

    first, _ = _answered(visitor, "first")
    statements, answer = _answered(visitor, "measured")

    assert len(first) == FIRST_REPLY_STATEMENTS, "\n".join(first)
    assert len(_first_reply_reads(first)) == 1
    assert _first_reply_reads(statements) == []
    assert len(statements) == KB_ANSWERED_MESSAGE_STATEMENTS, "\n".join(statements)
    # The pipeline routes the message the receive returned: the only read of a
    # message is the receive's duplicate check.
    message_reads = [sql for sql in statements if 'FROM "conversations_message"' in sql]
    assert len(message_reads) == 1 and '"client_id" =' in message_reads[0], message_reads
    # The answer's entry comes from the index, not from reading its row back...
    assert not [sql for sql in statements if 'FROM "kb_entry"' in sql]
    # ...and the answer is written inside the pipeline's transaction, without a savepoint.
    assert not [sql for sql in statements if sql.startswith("SAVEPOINT")]
    assert answer.kb_entry.question == "How long does shipping take?"
    assert answer.text == "3-5 business days."


@pytest.mark.django_db(transaction=True)
def test_a_kb_answered_message_takes_two_cache_round_trips(site, monkeypatch):
    _answered(VisitorFactory(site=site), "warm-up")
    visitor = VisitorFactory(site=site)
    _answered(visitor, "first")
    default = caches["default"]
    calls: list[tuple[str, str]] = []
    for name in CACHE_METHODS:
        original = getattr(default, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls.append((_name, str(args[0]) if args else ""))
            return _original(*args, **kwargs)

        monkeypatch.setattr(default, name, counted)

    _answered(visitor, "measured")

    assert len(calls) == KB_ANSWERED_MESSAGE_CACHE_CALLS, calls

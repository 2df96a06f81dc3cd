"""The visitor event stream (SSE) on a real daphne, Redis channel layer, PostgreSQL, and a
real Celery worker streaming from the fake LLM server."""

import time

import pytest

from conversations import services
from conversations.fake_llm import FakeLLMServer
from conversations.models import Message
from tests.conversations.api.visitor_server import (  # noqa: F401
    SSEClient,
    call,
    daphne_fixture,
    is_message_from,
    is_type,
)
from tests.factories import AgentFactory, EntryFactory, SiteFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

SHOP = "http://shop.test"
LONG_REPLY = " ".join(f"word{i}" for i in range(40))


@pytest.fixture
def site(transactional_db):
    site = SiteFactory(allowed_origins=SHOP)
    EntryFactory(site=site, question="How long does shipping take?", answer="3-5 business days.")
    EntryFactory(site=site, question="Do you offer gift wrapping?", answer="Yes, for $3.")
    return site


@pytest.fixture
def llm_server():
    with FakeLLMServer() as server:
        server.configure(reply=LONG_REPLY, ttft=0.05, tokens_per_second=40)
        yield server


@pytest.fixture
def worker(start_celery_worker, llm_server):
    return start_celery_worker(llm_base_url=llm_server.base_url, name="sse", concurrency=8)


class Visitor:
    def __init__(self, daphne, site) -> None:
        self.daphne, self.site = daphne, site
        created = call(daphne.base, "POST", f"/api/v1/sites/{site.public_key}/visitors", {})
        assert created.status == 201
        self.token = created.body["visitor_token"]
        self.streams: list[SSEClient] = []
        self._sent = 0

    @property
    def prefix(self) -> str:
        return f"/api/v1/sites/{self.site.public_key}/conversation"

    def say(self, text: str, client_id: str | None = None) -> dict:
        self._sent += 1
        body = {"client_id": client_id or f"m-{self._sent}-{time.monotonic_ns()}", "text": text}
        answer = call(self.daphne.base, "POST", f"{self.prefix}/messages", body, token=self.token)
        assert answer.status in (200, 201), answer.body
        return answer.body

    def stream(self, *, last_event_id: str | None = None, via_query: bool = False) -> SSEClient:
        if via_query:
            query = f"?token={self.token}" + (
                f"&last_event_id={last_event_id}" if last_event_id else ""
            )
            client = SSEClient(self.daphne.base, f"{self.prefix}/events{query}")
        else:
            client = SSEClient(
                self.daphne.base,
                f"{self.prefix}/events",
                token=self.token,
                last_event_id=last_event_id,
            )
        assert client.status == 200, client.body()
        assert client.response.getheader("Content-Type").startswith("text/event-stream")
        self.streams.append(client)
        return client

    def close(self) -> None:
        for stream in self.streams:
            stream.close()


@pytest.fixture
def visitors(daphne, site):
    made: list[Visitor] = []

    def make(on_site=None) -> Visitor:
        made.append(Visitor(daphne, on_site or site))
        return made[-1]

    yield make
    for visitor in made:
        visitor.close()


def test_a_kb_answer_arrives_over_the_stream(visitors):
    visitor = visitors()
    stream = visitor.stream()
    sent = visitor.say("How long does shipping take?")
    events = stream.until(is_message_from("bot"))
    mine = [e for e in events if e.type == "message" and e.data["message"]["author"] == "visitor"]
    assert [e.data["message"]["id"] for e in mine] == [sent["id"]]
    answer = events[-1].data["message"]
    assert answer["source"] == "kb" and answer["text"] == "3-5 business days."
    assert events[-1].id == str(answer["id"])


def test_an_llm_reply_streams_in_order_through_the_worker(visitors, worker):
    visitor = visitors()
    visitor.say("How long does shipping take?")  # opens the conversation
    stream = visitor.stream(via_query=True)
    stream.until(is_message_from("bot"))
    visitor.say("Tell me about your warehouse robots")
    events = stream.until(is_type("reply.end"), timeout=30)
    starts = [e for e in events if e.type == "reply.start"]
    deltas = [e for e in events if e.type == "reply.delta"]
    assert len(starts) == 1 and len(deltas) > 5
    assert [d.data["seq"] for d in deltas] == list(range(len(deltas)))
    end = events[-1].data
    assert end["reply_id"] == starts[0].data["reply_id"]
    assert "".join(d.data["text"] for d in deltas) == end["message"]["text"] == LONG_REPLY
    assert end["message"]["source"] == "llm"
    reply_id = end["reply_id"]
    assert [d.id for d in deltas[:2]] == [
        f"{deltas[0].id.split(':')[0]}:{reply_id}:0",
        f"{deltas[0].id.split(':')[0]}:{reply_id}:1",
    ]
    assert events[-1].id == str(end["message"]["id"])


def test_a_takeover_silences_the_bot_on_the_stream(visitors, worker, llm_server):
    llm_server.configure(reply=LONG_REPLY, ttft=0.05, tokens_per_second=8)
    alice = AgentFactory(display_name="Alice")
    visitor = visitors()
    visitor.say("How long does shipping take?")
    stream = visitor.stream()
    stream.until(is_message_from("bot"))
    sent = visitor.say("Tell me a long story about your warehouse")
    stream.until(lambda e: e.type == "reply.delta" and e.data["seq"] >= 1, timeout=30)
    services.conversation_take_over(conversation_id=sent["conversation_id"], agent=alice)
    after = stream.until(is_type("reply.end"), timeout=30)
    after += stream.quiet(2.0)
    state_at = next(i for i, e in enumerate(after) if e.type == "state")
    assert after[state_at].data["state"] == "human"
    assert any(e.type == "agent.joined" for e in after)
    assert not [e for e in after[state_at:] if e.type == "reply.delta"]
    ends = [e for e in after if e.type == "reply.end"]
    assert len(ends) == 1 and ends[0].data["message"] is None
    assert not Message.objects.filter(conversation_id=sent["conversation_id"], source="llm")


def test_reconnect_with_last_event_id_gets_exactly_what_was_missed(visitors):
    visitor = visitors()
    stream = visitor.stream()
    visitor.say("How long does shipping take?")
    seen = stream.until(is_message_from("bot"))
    last_id = seen[-1].id
    stream.close()

    # While away: two questions and their answers.
    missed = [
        visitor.say("Do you offer gift wrapping?"),
        visitor.say("How long does shipping take?"),
    ]
    stored = list(
        Message.objects.filter(conversation_id=missed[0]["conversation_id"], id__gt=int(last_id))
        .order_by("id")
        .values_list("id", flat=True)
    )
    assert len(stored) == 4

    resumed = visitor.stream(last_event_id=last_id)
    replay = resumed.until(is_type("state"))
    assert [e.data["message"]["id"] for e in replay if e.type == "message"] == stored
    assert [e.type for e in replay] == ["message"] * 4 + ["state"]
    assert [e.id for e in replay] == [str(i) for i in stored] + [str(stored[-1])]

    # Live events continue after the replay, without repeats.
    visitor.say("Do you offer gift wrapping?")
    live = resumed.until(is_message_from("bot"))
    ids = [e.data["message"]["id"] for e in live if e.type == "message"]
    assert len(ids) == 2 and min(ids) > stored[-1]
    assert resumed.quiet(1.0) == []

    # The query-string form (for EventSource) resumes the same way.
    by_query = visitor.stream(last_event_id=str(stored[1]), via_query=True)
    again = by_query.until(is_type("state"))
    assert [e.data["message"]["id"] for e in again if e.type == "message"] == stored[2:] + ids


def test_reconnect_in_the_middle_of_a_reply_loses_and_repeats_nothing(visitors, worker, llm_server):
    llm_server.configure(reply=LONG_REPLY, ttft=0.05, tokens_per_second=10)
    visitor = visitors()
    visitor.say("How long does shipping take?")
    stream = visitor.stream()
    stream.until(is_message_from("bot"))
    visitor.say("Tell me about your warehouse robots")
    first = stream.until(lambda e: e.type == "reply.delta" and e.data["seq"] >= 2, timeout=30)
    shown = "".join(e.data["text"] for e in first if e.type == "reply.delta")
    last_id = first[-1].id
    stream.close()
    time.sleep(0.5)  # away while a few pieces go out

    resumed = visitor.stream(last_event_id=last_id)
    rest = resumed.until(is_type("reply.end"), timeout=30)
    end = rest[-1].data
    assert end["message"]["text"] == LONG_REPLY
    deltas = [e for e in rest if e.type == "reply.delta"]
    seqs = [d.data["seq"] for d in deltas]
    # Either the pieces follow on exactly, or (after a gap) none are sent and the
    # end carries the text: never a piece twice, never one out of order.
    if seqs:
        assert seqs == list(range(3, 3 + len(seqs)))
    assert not [e for e in rest if e.type in ("reply.start", "message")]
    assert (shown + "".join(d.data["text"] for d in deltas)) == LONG_REPLY[
        : len(shown) + sum(len(d.data["text"]) for d in deltas)
    ]
    assert resumed.quiet(1.0) == []

    # Resuming after the reply ended: its message closes the reply, once.
    late = visitor.stream(last_event_id=last_id)
    replay = late.until(is_type("state"))
    assert [e.type for e in replay] == ["reply.end", "state"]
    assert replay[0].data["message"]["id"] == end["message"]["id"]


def test_one_visitor_never_sees_another_visitors_events(visitors, daphne, site):
    alice, bob = visitors(), visitors()
    alice.say("How long does shipping take?")
    bob.say("How long does shipping take?")
    alice_stream = alice.stream()
    alice_stream.until(is_type("state"))
    bob.say("Do you offer gift wrapping?")
    assert alice_stream.quiet(1.5) == []

    other_site = SiteFactory(allowed_origins=SHOP)
    path = f"/api/v1/sites/{other_site.public_key}/conversation/events"
    foreign = SSEClient(daphne.base, path, token=alice.token)
    assert foreign.status == 401 and foreign.body()["error"] == "invalid_token"
    own_path = f"/api/v1/sites/{site.public_key}/conversation/events"
    tampered = SSEClient(daphne.base, own_path, token=alice.token[:-3] + "abc")
    assert tampered.status == 401 and tampered.body()["error"] == "invalid_token"
    anonymous = SSEClient(daphne.base, own_path)
    assert anonymous.status == 401 and anonymous.body()["error"] == "not_authenticated"
    bad_id = SSEClient(daphne.base, own_path, token=alice.token, last_event_id="x:y")
    assert bad_id.status == 400 and bad_id.body()["error"] == "invalid"
    evil = SSEClient(
        daphne.base, own_path, token=alice.token, headers={"Origin": "https://evil.test"}
    )
    assert evil.status == 403 and evil.body()["error"] == "origin_not_allowed"


def test_a_stream_opened_before_the_first_message_follows_the_new_conversation(visitors):
    visitor = visitors()
    stream = visitor.stream()
    sent = visitor.say("How long does shipping take?")
    events = stream.until(is_message_from("bot"))
    assert events[0].data["message"]["id"] == sent["id"]
    # A close, then the next message opens a new conversation: the stream follows.
    services.conversation_close(conversation_id=sent["conversation_id"])
    stream.until(lambda e: e.type == "state" and e.data["state"] == "closed")
    again = visitor.say("Do you offer gift wrapping?")
    assert again["conversation_id"] != sent["conversation_id"]
    events = stream.until(is_message_from("bot"))
    assert {e.data["message"]["conversation_id"] for e in events if e.type == "message"} == {
        again["conversation_id"]
    }


def _subscriptions(pattern: str) -> int:
    """Redis pub/sub subscriptions (the channel layer's groups and stream channels)."""
    import redis
    from django.conf import settings

    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    client = redis.Redis.from_url(settings.REDIS_URL)
    return len(client.pubsub_channels(f"{prefix}{pattern}"))


def _group_subscribed(conversation_id: int) -> int:
    import redis
    from django.conf import settings

    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    client = redis.Redis.from_url(settings.REDIS_URL)
    return client.pubsub_numsub(f"{prefix}__group__conversation.{conversation_id}")[0][1]


def test_fifty_streams_hold_no_thread_each_and_leave_no_trace(daphne, visitors):
    visitor = visitors()
    sent = visitor.say("How long does shipping take?")
    warm = visitor.stream()
    warm.until(is_type("state"))
    warm.close()
    time.sleep(1.0)
    before = daphne.threads()

    channels_before = _subscriptions("specific.*")
    streams = [visitor.stream() for _ in range(50)]
    for stream in streams:
        stream.until(is_type("state"))
    assert _subscriptions("specific.*") == channels_before + 50
    assert _group_subscribed(sent["conversation_id"]) == 1  # one subscription per process
    during = daphne.threads()
    # Thread pools may grow by a few workers; a thread per stream would add 50.
    assert during - before < 10, (before, during)

    # Every stream still gets live events.
    visitor.say("Do you offer gift wrapping?")
    for stream in streams:
        stream.until(is_message_from("bot"))

    for stream in streams:
        stream.close()
    # A disconnect leaves its groups after its own channel: wait for both.
    deadline = time.monotonic() + 10
    while (
        _subscriptions("specific.*") > channels_before
        or _group_subscribed(sent["conversation_id"]) > 0
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _subscriptions("specific.*") == channels_before
    assert _group_subscribed(sent["conversation_id"]) == 0
    # Closed requests' executors wind down in the background.
    while daphne.threads() - before >= 10 and time.monotonic() < deadline + 10:
        time.sleep(0.2)
    assert daphne.threads() - before < 10, (before, daphne.threads())
    from django.core.cache import cache

    assert cache.get(f"visitor:{visitor_anonymous_id(visitor)}:sockets") == 0
    from conversations.api.visitor_sse import _slot_keys

    assert cache.get_many(_slot_keys(visitor_anonymous_id(visitor))) == {}


def visitor_anonymous_id(visitor) -> str:
    return call(
        visitor.daphne.base,
        "POST",
        f"/api/v1/sites/{visitor.site.public_key}/visitors",
        {},
        token=visitor.token,
    ).body["visitor"]["id"]

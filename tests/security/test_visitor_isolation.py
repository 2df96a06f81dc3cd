"""Issue 6, visitor isolation: a visitor token is signed, bound to its site, and opens only
its own conversations. Every frame an intruder receives is checked for the victim's text."""

import json
import time
import uuid
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from django.core import signing

from conversations.models import Conversation, Visitor
from conversations.visitor_tokens import SALT, visitor_token_issue
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "Alice's order 4242-SECRET ships to 12 Hidden Lane"
DAY = 24 * 3600


@pytest.fixture
def site(db):
    return SiteFactory(allowed_origins="http://shop.test")


def leaked(frames: list[dict], secret: str = SECRET) -> list[dict]:
    """The frames that carry any part of the victim's conversation."""
    needles = (secret, "4242-SECRET", "Hidden Lane")
    return [
        frame
        for frame in frames
        if any(needle in json.dumps(frame, ensure_ascii=False) for needle in needles)
    ]


async def victim_with_a_secret(site, visitor_factory) -> tuple[dict, dict, object]:
    """A visitor whose open conversation holds SECRET; returns (welcome, ack, client)."""
    victim = await visitor_factory(site)
    welcome = await victim.hello()
    ack = await victim.say(SECRET)
    assert ack["type"] == "ack"
    await victim.receive_until(lambda e: e["type"] == "state")  # the no-LLM fallback settles
    return welcome, ack, victim


async def sync(client) -> None:
    """Round-trip a ping so every frame sent before it has been handled."""
    await client.send({"type": "ping"})
    events = await client.receive_until(lambda e: e["type"] == "pong")
    assert [e["type"] for e in events] == ["pong"], events


async def test_history_of_another_visitors_conversation_is_not_found_and_nothing_else(
    site, visitor_factory, no_llm
):
    _, victim_ack, _ = await victim_with_a_secret(site, visitor_factory)
    other_site = await database_sync_to_async(SiteFactory)(allowed_origins="http://shop.test")
    _, foreign_ack, _ = await victim_with_a_secret(other_site, visitor_factory)

    intruder = await visitor_factory(site)
    await intruder.hello()
    own = await intruder.say("where is my parcel")
    await intruder.receive_until(lambda e: e["type"] == "state")
    await intruder.drain(0.2)

    for conversation_id in (
        victim_ack["conversation_id"],
        foreign_ack["conversation_id"],
        victim_ack["message_id"],  # a message id is not a conversation id
        10**12,
    ):
        await intruder.send({"type": "history", "conversation_id": conversation_id})
        error = await intruder.receive()
        assert error["type"] == "error" and error["code"] == "not_found", error
        assert await intruder.drain(0.2) == [], "a refused history must be the only answer"

    # Control: the same frame for the intruder's own conversation does answer.
    await intruder.send({"type": "history", "conversation_id": own["conversation_id"]})
    history = await intruder.receive()
    assert history["type"] == "history"
    assert history["messages"][0]["text"] == "where is my parcel"

    assert leaked(intruder.received) == []


async def test_seen_with_another_conversations_message_id_leaves_it_untouched(
    site, visitor_factory, no_llm
):
    _, victim_ack, victim = await victim_with_a_secret(site, visitor_factory)
    victim_conversation = victim_ack["conversation_id"]

    intruder = await visitor_factory(site)
    await intruder.hello()
    await intruder.send({"type": "seen", "message_id": victim_ack["message_id"]})  # no conv yet
    own = await intruder.say("hello there")
    await intruder.receive_until(lambda e: e["type"] == "state")
    await intruder.drain(0.2)
    newest = await database_sync_to_async(
        lambda: Conversation.objects.get(pk=victim_conversation).messages.order_by("-id")[0].pk
    )()
    for message_id in (victim_ack["message_id"], newest, newest + 1000):
        await intruder.send({"type": "seen", "message_id": message_id})
    await sync(intruder)

    seen = await database_sync_to_async(
        lambda: Conversation.objects.get(pk=victim_conversation).visitor_last_seen_id
    )()
    assert seen == 0, "another visitor moved this conversation's seen pointer"
    assert own["conversation_id"] != victim_conversation
    assert leaked(intruder.received) == []

    # Control: the owner's own `seen` does move it.
    await victim.send({"type": "seen", "message_id": victim_ack["message_id"]})
    await sync(victim)
    seen = await database_sync_to_async(
        lambda: Conversation.objects.get(pk=victim_conversation).visitor_last_seen_id
    )()
    assert seen == victim_ack["message_id"]


async def rejected_hello(client, token: str, victim_welcome: dict) -> dict:
    """hello with a bad token: exactly `error invalid_token` then a welcome for a new visitor."""
    await client.send({"type": "hello", "token": token})
    error = await client.receive()
    assert error["type"] == "error" and error["code"] == "invalid_token", error
    welcome = await client.receive()
    assert welcome["type"] == "welcome"
    assert welcome["visitor_id"] != victim_welcome["visitor_id"]
    assert welcome["token"] != token
    assert welcome["conversation"] is None and welcome["previous"] == []
    assert await client.drain(0.2) == [], "nothing of the old identity may be replayed"
    return welcome


async def test_token_from_another_site_gives_invalid_token_and_a_new_visitor(
    site, visitor_factory, no_llm
):
    other_site = await database_sync_to_async(SiteFactory)(allowed_origins="http://shop.test")
    foreign_welcome, _, _ = await victim_with_a_secret(other_site, visitor_factory)

    client = await visitor_factory(site)
    welcome = await rejected_hello(client, foreign_welcome["token"], foreign_welcome)
    new = await database_sync_to_async(Visitor.objects.get)(anonymous_id=welcome["visitor_id"])
    assert new.site_id == site.pk
    assert leaked(client.received) == []

    # A token signed for the right visitor but naming the other site is refused too.
    forged = visitor_token_issue(
        anonymous_id=uuid.UUID(foreign_welcome["visitor_id"]), site_id=other_site.pk
    )
    again = await visitor_factory(site)
    await rejected_hello(again, forged, foreign_welcome)
    assert leaked(again.received) == []


def tampered_variants(token: str) -> list[str]:
    """The token with one character changed in its payload, timestamp and signature."""
    payload, timestamp, signature = token.rsplit(":", 2)
    positions = [
        len(payload) // 2,
        len(payload) + 1 + len(timestamp) - 1,
        len(token) - 1,
        len(token) - len(signature) // 2,
    ]
    variants = []
    for position in positions:
        original = token[position]
        replacement = "A" if original != "A" else "B"
        variants.append(token[:position] + replacement + token[position + 1 :])
    return variants


async def test_tampered_and_forged_tokens_give_invalid_token_and_reveal_nothing(
    site, visitor_factory, no_llm
):
    victim_welcome, _, _ = await victim_with_a_secret(site, visitor_factory)
    token = victim_welcome["token"]
    claim = {"v": victim_welcome["visitor_id"], "s": site.pk}
    forgeries = [
        *tampered_variants(token),
        token + "x",
        token[:-1],
        signing.dumps(claim, salt=SALT, key="not-the-secret-key"),
        signing.dumps(claim, salt="django.contrib.sessions", compress=False),
        signing.dumps(claim),  # no salt
        signing.dumps({"v": "not-a-uuid", "s": site.pk}, salt=SALT),
        signing.dumps({"v": victim_welcome["visitor_id"]}, salt=SALT),
        signing.dumps(["a", "list"], salt=SALT),
        "null",
        ":::",
    ]
    assert len(set(forgeries)) == len(forgeries) and token not in forgeries
    client = await visitor_factory(site)
    for forged in forgeries:
        await rejected_hello(client, forged, victim_welcome)
    assert leaked(client.received) == []

    # Control: the untouched token resumes the victim (so the refusals above mean something).
    owner = await visitor_factory(site)
    resumed = await owner.hello(token=token)
    assert resumed["visitor_id"] == victim_welcome["visitor_id"]
    assert leaked(await owner.receive_until(lambda e: e["type"] == "state"))


def token_issued_days_ago(days: float, **claim) -> str:
    with mock.patch("django.core.signing.time.time", return_value=time.time() - days * DAY):
        return visitor_token_issue(**claim)


async def test_expired_token_gives_invalid_token_and_a_new_visitor(
    site, visitor_factory, no_llm, settings
):
    victim_welcome, _, _ = await victim_with_a_secret(site, visitor_factory)
    claim = {"anonymous_id": uuid.UUID(victim_welcome["visitor_id"]), "site_id": site.pk}
    max_days = settings.VISITOR_TOKEN_MAX_AGE_DAYS

    # Control: a token just inside its lifetime still resumes the victim.
    fresh = await visitor_factory(site)
    resumed = await fresh.hello(token=token_issued_days_ago(max_days - 1, **claim))
    assert resumed["visitor_id"] == victim_welcome["visitor_id"]

    client = await visitor_factory(site)
    await rejected_hello(client, token_issued_days_ago(max_days + 1, **claim), victim_welcome)
    assert leaked(client.received) == []

    settings.VISITOR_TOKEN_MAX_AGE_DAYS = 0
    shortened = await visitor_factory(site)
    await rejected_hello(shortened, token_issued_days_ago(0.01, **claim), victim_welcome)
    assert leaked(shortened.received) == []


async def test_token_of_a_deleted_visitor_starts_a_new_identity(site, visitor_factory, no_llm):
    victim_welcome, victim_ack, victim = await victim_with_a_secret(site, visitor_factory)
    await victim.close()
    await database_sync_to_async(
        Visitor.objects.filter(anonymous_id=victim_welcome["visitor_id"]).delete
    )()
    assert not await database_sync_to_async(
        Conversation.objects.filter(pk=victim_ack["conversation_id"]).exists
    )()

    client = await visitor_factory(site)
    await client.send({"type": "hello", "token": victim_welcome["token"]})
    frames = await client.receive_until(lambda e: e["type"] == "welcome")
    # The token is genuine, so `invalid_token` is optional; a new identity is not.
    assert [f["type"] for f in frames[:-1]] in ([], ["error"]), frames
    assert all(f["code"] == "invalid_token" for f in frames[:-1])
    welcome = frames[-1]
    assert welcome["visitor_id"] != victim_welcome["visitor_id"]
    assert welcome["conversation"] is None and welcome["previous"] == []
    assert await client.drain(0.2) == []
    ack = await client.say("is anyone there")
    assert ack["type"] == "ack" and ack["conversation_id"] != victim_ack["conversation_id"]
    await client.send({"type": "history", "conversation_id": victim_ack["conversation_id"]})
    frames = await client.receive_until(lambda e: e["type"] in ("error", "history"))
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "not_found"
    assert leaked(client.received) == []
    assert not await database_sync_to_async(
        Visitor.objects.filter(anonymous_id=victim_welcome["visitor_id"]).exists
    )(), "the deleted visitor's id must not be brought back"

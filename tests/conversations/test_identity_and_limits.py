"""Identity verification (HMAC user_hash), abuse limits and the daily LLM token budget."""

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation, Message, Visitor
from conversations.services import identity_hash
from tests.conversations.conftest import open_visitor
from tests.factories import ConversationFactory, MessageFactory, SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(transactional_db):
    return SiteFactory(allowed_origins="http://shop.test")


def signed(site, user_id: str) -> str:
    return identity_hash(secret=site.identity_secret, user_id=user_id)


async def identify(visitor, **fields):
    await visitor.send({"type": "identify", **fields})
    await visitor.send({"type": "ping"})
    return await visitor.receive_until(lambda e: e["type"] == "pong")


async def test_valid_user_hash_verifies_and_a_second_device_continues_the_same_person(
    site, visitor_factory
):
    laptop = await visitor_factory(site)
    laptop_welcome = await laptop.hello()
    await identify(laptop, user_id="u-1", email="ada@example.com", user_hash=signed(site, "u-1"))
    ack = await laptop.say("I need help with order 1234")
    saved = await database_sync_to_async(Visitor.objects.get)(
        anonymous_id=laptop_welcome["visitor_id"]
    )
    assert saved.identity_verified and saved.external_id == "u-1"

    phone = await visitor_factory(site)
    await phone.hello()
    frames = await identify(phone, user_id="u-1", user_hash=signed(site, "u-1"))
    welcome = next(f for f in frames if f["type"] == "welcome")
    assert welcome["visitor_id"] == laptop_welcome["visitor_id"]
    assert welcome["conversation"]["id"] == ack["conversation_id"]
    replayed = [f["message"]["text"] for f in frames if f["type"] == "message"]
    assert "I need help with order 1234" in replayed


async def test_unverified_identity_never_merges_and_never_overwrites_a_verified_one(
    site, visitor_factory
):
    owner = await visitor_factory(site)
    owner_welcome = await owner.hello()
    await identify(owner, user_id="u-2", email="real@example.com", user_hash=signed(site, "u-2"))
    await owner.say("my private question")

    impostor = await visitor_factory(site)
    impostor_welcome = await impostor.hello()
    frames = await identify(impostor, user_id="u-2", email="real@example.com", user_hash="0" * 64)
    assert not [f for f in frames if f["type"] in ("welcome", "message")]
    # A forged hash with non-ASCII characters is refused the same way, not a server error.
    frames = await identify(impostor, user_id="u-2", user_hash="é" * 64)
    assert not [f for f in frames if f["type"] in ("welcome", "message", "error")]
    stored = await database_sync_to_async(Visitor.objects.get)(
        anonymous_id=impostor_welcome["visitor_id"]
    )
    assert stored.identity_verified is False and stored.external_id == "u-2"

    await identify(owner, user_id="someone-else", email="evil@example.com")
    owner_row = await database_sync_to_async(Visitor.objects.get)(
        anonymous_id=owner_welcome["visitor_id"]
    )
    assert (owner_row.external_id, owner_row.email) == ("u-2", "real@example.com")


async def test_message_rate_limit_answers_rate_limited_and_the_socket_stays_usable(
    site, visitor_factory, settings
):
    settings.VISITOR_MESSAGES_PER_MINUTE = 3
    visitor = await visitor_factory(site)
    await visitor.hello()
    acks = [await visitor.say(f"message {i}") for i in range(3)]
    assert all(a["type"] == "ack" for a in acks)
    refused = await visitor.say("one too many", client_id="late")
    assert refused["type"] == "error" and refused["code"] == "rate_limited"
    assert refused["client_id"] == "late" and 0 < refused["retry_after"] <= 60
    await visitor.send({"type": "ping"})
    assert (await visitor.receive_until(lambda e: e["type"] == "pong"))[-1]["type"] == "pong"
    count = await database_sync_to_async(
        Message.objects.filter(
            author_kind="visitor", conversation_id=acks[0]["conversation_id"]
        ).count
    )()
    assert count == 3, "a refused message is not saved (the widget resends it later)"


async def test_too_many_sockets_for_one_visitor_are_refused(site, visitor_factory, settings):
    settings.VISITOR_MAX_SOCKETS = 2
    first = await visitor_factory(site)
    token = (await first.hello())["token"]
    second = await visitor_factory(site)
    await second.hello(token=token)
    third, connected, _ = await open_visitor(site)
    assert connected
    await third.send({"type": "hello", "token": token})
    error = await third.receive()
    assert error["type"] == "error" and error["code"] == "too_many_sockets"
    await second.close()
    fourth = await visitor_factory(site)
    assert (await fourth.hello(token=token))["type"] == "welcome", "a closed tab frees its place"


async def test_connection_rate_limit_per_ip(site, visitor_factory, settings):
    import uuid

    settings.IP_CONNECTIONS_PER_MINUTE = 2
    # A fresh documentation-range address, so other tests' connections do not count.
    address = f"2001:db8::{uuid.uuid4().hex[:4]}"
    await visitor_factory(site, client=(address, 1))
    await visitor_factory(site, client=(address, 2))
    third, _connected, _ = await open_visitor(site, client=(address, 3))
    error = await third.receive()
    assert error["type"] == "error" and error["code"] == "rate_limited"
    elsewhere = await visitor_factory(site, client=("2001:db8::1:1", 4))
    assert (await elsewhere.hello())["type"] == "welcome"


async def test_daily_llm_token_budget_hands_over_to_humans(site, visitor_factory, fake_llm):
    site.llm_daily_token_budget = 100
    await database_sync_to_async(site.save)()
    spent = await database_sync_to_async(ConversationFactory)(visitor__site=site)
    await database_sync_to_async(MessageFactory)(
        conversation=spent, author_kind="bot", source="llm", prompt_tokens=80, completion_tokens=30
    )
    visitor = await visitor_factory(site)
    await visitor.hello()
    ack = await visitor.say("What colours does the rain jacket come in?")
    events = await visitor.receive_until(lambda e: e["type"] == "state")
    assert events[-1]["state"] == "waiting"
    assert fake_llm.requests == [], "no LLM call past the budget"
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=ack["conversation_id"])
    assert conversation.escalation_reason == "daily LLM budget reached"

"""CSAT and transcript requests over the real visitor socket (ASGI stack, Redis channel
layer when REDIS_URL is set), with an agent console watching on its own real socket."""

import asyncio
import re
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.core import mail

from conversations.models import Conversation, Visitor

pytestmark = pytest.mark.django_db(transaction=True)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def is_type(kind):
    return lambda event: event["type"] == kind


def is_agent_event(kind):
    return lambda frame: frame["type"] == "event" and frame["event"]["type"] == kind


async def chat_then_close(visitor_factory, agent_factory, site, alice):
    """A visitor asks a question; Alice closes the conversation from her console."""
    visitor = await visitor_factory(site)
    token = (await visitor.hello())["token"]
    ack = await visitor.say("how long does shipping take")
    await visitor.receive_until(
        lambda e: e["type"] == "message" and e["message"]["author"] == "bot"
    )
    console = await agent_factory(alice.user)
    await console.act("close", ack["conversation_id"])
    return visitor, console, ack["conversation_id"], token


async def test_closing_asks_the_visitor_to_rate_and_the_console_sees_it_live(
    site, alice, visitor_factory, agent_factory
):
    visitor, console, conversation_id, _ = await chat_then_close(
        visitor_factory, agent_factory, site, alice
    )
    events = await visitor.receive_until(is_type("csat.request"))
    assert [e["state"] for e in events if e["type"] == "state"] == ["closed"]
    assert events[-1] == {
        "type": "csat.request",
        "conversation_id": conversation_id,
        "email_hint": "",
    }

    await visitor.send({"type": "csat", "rating": 4, "comment": "Quick <b>and</b> friendly"})
    ack = (await visitor.receive_until(is_type("csat.ack")))[-1]
    assert ack["conversation_id"] == conversation_id
    assert ack["csat"]["rating"] == 4 and ack["csat"]["comment"] == "Quick <b>and</b> friendly"

    live = (await console.receive_until(is_agent_event("csat")))[-1]
    assert live["conversation_id"] == conversation_id and live["event"]["csat"]["rating"] == 4
    row = (
        await console.receive_until(
            lambda f: f["type"] == "conversation.updated" and f["conversation"]["csat"]
        )
    )[-1]["conversation"]
    assert row["csat"]["comment"] == "Quick <b>and</b> friendly"
    saved = await database_sync_to_async(Conversation.objects.get)(pk=conversation_id)
    assert (saved.csat_rating, saved.csat_comment) == (4, "Quick <b>and</b> friendly")


async def test_a_returning_visitor_is_asked_again_until_they_rate(
    site, alice, visitor_factory, agent_factory
):
    visitor, _, conversation_id, token = await chat_then_close(
        visitor_factory, agent_factory, site, alice
    )
    await visitor.receive_until(is_type("csat.request"))
    await visitor.close()

    again = await visitor_factory(site)
    welcome = await again.hello(token=token)
    assert welcome["conversation"] is None
    request = await again.receive()
    assert request["type"] == "csat.request" and request["conversation_id"] == conversation_id
    # Not following the closed conversation, the socket still knows what to rate.
    await again.send({"type": "csat", "rating": 5})
    assert (await again.receive_until(is_type("csat.ack")))[-1]["csat"]["rating"] == 5
    await again.close()

    rated = await visitor_factory(site)
    await rated.hello(token=token)
    assert await rated.drain(0.5) == []


async def test_bad_ratings_get_clear_errors_and_the_socket_stays_usable(
    site, alice, visitor_factory, agent_factory
):
    visitor = await visitor_factory(site)
    await visitor.hello()
    ack = await visitor.say("how long does shipping take")
    await visitor.send({"type": "csat", "rating": 5})
    assert (await visitor.receive_until(is_type("error")))[-1]["code"] == "not_closed"

    console = await agent_factory(alice.user)
    await console.act("close", ack["conversation_id"])
    await visitor.receive_until(is_type("csat.request"))
    for frame, code in [
        ({"type": "csat", "rating": 7}, "invalid_rating"),
        ({"type": "csat", "rating": "5"}, "invalid_rating"),
        ({"type": "csat", "rating": 3, "comment": "x" * 1001}, "too_long"),
        ({"type": "csat", "rating": 3, "comment": 12}, "invalid_field"),
    ]:
        await visitor.send(frame)
        error = (await visitor.receive_until(is_type("error")))[-1]
        assert error["code"] == code and error["detail"]
    saved = await database_sync_to_async(Conversation.objects.get)(pk=ack["conversation_id"])
    assert saved.csat_rating is None
    await visitor.send({"type": "ping"})
    assert (await visitor.receive())["type"] == "pong"


async def test_a_visitor_cannot_rate_or_mail_someone_elses_conversation(
    site, alice, visitor_factory, agent_factory
):
    _owner, _, conversation_id, _ = await chat_then_close(
        visitor_factory, agent_factory, site, alice
    )
    stranger = await visitor_factory(site)
    await stranger.hello()
    await stranger.send({"type": "csat", "conversation_id": conversation_id, "rating": 1})
    assert (await stranger.receive())["code"] == "not_found"
    await stranger.send(
        {"type": "transcript.email", "conversation_id": conversation_id, "email": "x@evil.test"}
    )
    assert (await stranger.receive())["code"] == "not_found"
    saved = await database_sync_to_async(Conversation.objects.get)(pk=conversation_id)
    assert saved.csat_rating is None
    await asyncio.sleep(0.3)
    assert mail.outbox == []


async def wait_for_outbox(count: int, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(mail.outbox) < count:
        assert loop.time() < deadline, f"{len(mail.outbox)} emails, expected {count}"
        await asyncio.sleep(0.05)


async def test_transcript_email_is_validated_sent_once_a_minute_and_saves_the_address(
    site, alice, visitor_factory, agent_factory
):
    visitor, console, conversation_id, _ = await chat_then_close(
        visitor_factory, agent_factory, site, alice
    )
    await console.act("note", conversation_id, client_id="n-1", text="SECRET internal note")
    await visitor.receive_until(is_type("csat.request"))

    await visitor.send({"type": "transcript.email"})
    assert (await visitor.receive_until(is_type("error")))[-1]["code"] == "email_required"
    await visitor.send({"type": "transcript.email", "email": "not-an-address"})
    assert (await visitor.receive_until(is_type("error")))[-1]["code"] == "invalid_email"

    await visitor.send({"type": "transcript.email", "email": "carol@example.com"})
    queued = (await visitor.receive_until(is_type("transcript.queued")))[-1]
    assert queued == {
        "type": "transcript.queued",
        "conversation_id": conversation_id,
        "email_hint": "ca***@example.com",
    }
    await wait_for_outbox(1)
    (email,) = mail.outbox
    assert email.to == ["carol@example.com"]
    assert "how long does shipping take" in email.body and "3-5 business days." in email.body
    assert "SECRET" not in email.body and "SECRET" not in email.alternatives[0][0]

    def saved():
        conversation = Conversation.objects.get(pk=conversation_id)
        return Visitor.objects.get(
            pk=conversation.visitor_id
        ).email, conversation.transcript_sent_at

    address, sent_at = await database_sync_to_async(saved)()
    assert address == "carol@example.com"
    for _ in range(100):
        if sent_at is not None:
            break
        await asyncio.sleep(0.05)
        _, sent_at = await database_sync_to_async(saved)()
    assert sent_at is not None

    # Asked again at once: refused with the wait, not sent twice.
    await visitor.send({"type": "transcript.email"})
    error = (await visitor.receive_until(is_type("error")))[-1]
    assert error["code"] == "rate_limited" and 0 < error["retry_after"] <= 60
    await asyncio.sleep(0.3)
    assert len(mail.outbox) == 1


async def test_the_rating_prompt_offers_the_address_the_visitor_left(
    site, alice, visitor_factory, agent_factory
):
    visitor = await visitor_factory(site)
    await visitor.hello()
    await visitor.send({"type": "identify", "email": "dana@example.com", "name": "Dana"})
    ack = await visitor.say("how long does shipping take")
    console = await agent_factory(alice.user)
    await console.act("close", ack["conversation_id"])
    request = (await visitor.receive_until(is_type("csat.request")))[-1]
    assert request["email_hint"] == "da***@example.com"
    await visitor.send({"type": "transcript.email"})
    assert (await visitor.receive_until(is_type("transcript.queued")))[-1]["email_hint"] == (
        "da***@example.com"
    )
    await wait_for_outbox(1)
    assert mail.outbox[0].to == ["dana@example.com"]


@pytest.mark.parametrize("frame_type", ["csat", "transcript.email"])
def test_new_client_frames_are_documented(frame_type):
    visitor_section = DOC.split("## Agent socket", 1)[0]
    assert f"| `{frame_type}` |" in visitor_section


@pytest.mark.parametrize(
    "code", ["invalid_rating", "not_closed", "already_rated", "email_required"]
)
def test_new_error_codes_are_documented(code):
    assert re.search(rf"`{re.escape(code)}`", DOC)

"""The agent socket through the real ASGI stack: auth, site scoping, every action."""

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation, Message
from helpdesk.models import Agent
from tests.conversations.conftest import open_agent
from tests.factories import (
    CannedResponseFactory,
    SiteFactory,
    StaffUserFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


def is_event(kind, **match):
    def predicate(frame):
        if frame["type"] != "event" or frame["event"]["type"] != kind:
            return False
        return all(frame["event"].get(k) == v for k, v in match.items())

    return predicate


def is_frame(kind):
    return lambda frame: frame["type"] == kind


async def visitor_conversation(visitor_factory, site, text="how long does shipping take"):
    visitor = await visitor_factory(site)
    await visitor.hello()
    ack = await visitor.say(text)
    return visitor, ack["conversation_id"]


async def test_anonymous_and_non_staff_sockets_are_refused(transactional_db):
    _client, connected, code = await open_agent(None)
    assert not connected and code == 4403
    plain = await database_sync_to_async(UserFactory)()
    _client, connected, code = await open_agent(plain)
    assert not connected and code == 4403


async def test_agent_socket_from_a_foreign_origin_is_refused(transactional_db):
    staff = await database_sync_to_async(StaffUserFactory)()
    _client, connected, _code = await open_agent(staff, origin="http://evil.test")
    assert not connected


async def test_staff_user_gets_an_agent_profile_and_goes_online(agent_factory):
    staff = await database_sync_to_async(StaffUserFactory)(username="carol")
    await agent_factory(staff)
    agent = await database_sync_to_async(Agent.objects.get)(user=staff)
    assert agent.display_name == "carol" and agent.status == "online"


def is_row_with_last(author: str):
    def predicate(frame):
        if frame["type"] != "conversation.updated":
            return False
        last = frame["conversation"]["last_message"]
        return last is not None and last["author"] == author

    return predicate


async def test_agent_sees_live_events_of_own_sites_only(
    site, alice, agent_factory, visitor_factory
):
    other_site = await database_sync_to_async(SiteFactory)(allowed_origins="http://shop.test")
    console = await agent_factory(alice.user)
    await visitor_conversation(visitor_factory, other_site, "hello from another shop")
    visitor, conversation_id = await visitor_conversation(visitor_factory, site)
    # The inbox: the row, with the last message, as the bot answered it.
    frames = await console.receive_until(is_row_with_last("bot"))
    row = frames[-1]["conversation"]
    assert row["id"] == conversation_id and row["last_message"]["text"] == "3-5 business days."
    # Opened (watched): the messages themselves, with what only agents see.
    frames += await console.watch(conversation_id)
    await visitor.say("how long does shipping take?")
    frames += await console.receive_until(
        lambda f: (
            f["type"] == "event"
            and f["event"]["type"] == "message"
            and f["event"]["message"]["source"] == "kb"
        )
    )
    kb = frames[-1]["event"]["message"]
    assert kb["kb_entry"]["question"] == "How long does shipping take?"
    assert kb["latency_ms"] is not None and kb["is_internal"] is False
    frames += await console.drain(0.5)
    assert {f["conversation_id"] for f in frames if f["type"] == "event"} == {conversation_id}
    updates = [f for f in frames if f["type"] == "conversation.updated"]
    assert {u["conversation"]["id"] for u in updates} == {conversation_id}


async def test_a_console_gets_messages_only_of_the_conversations_it_watches(
    site, alice, bob, agent_factory, visitor_factory
):
    watching = await agent_factory(alice.user)
    inbox_only = await agent_factory(bob.user)
    visitor, conversation_id = await visitor_conversation(visitor_factory, site)
    await watching.watch(conversation_id)
    await visitor.say("do you ship abroad?")
    await watching.receive_until(
        lambda f: (
            f["type"] == "event"
            and f["event"]["type"] == "message"
            and f["event"]["message"]["text"] == "do you ship abroad?"
        )
    )
    await inbox_only.receive_until(
        lambda f: (
            f["type"] == "conversation.updated"
            and (f["conversation"]["last_message"] or {}).get("text") == "do you ship abroad?"
        )
    )
    frames = inbox_only.received + await inbox_only.drain(0.5)
    assert not [f for f in frames if f["type"] == "event" and f["event"]["type"] == "message"]
    # Unwatched, the messages stop; the rows go on.
    await watching.act("unwatch", conversation_id)
    await watching.drain(0.3)
    await visitor.say("hello?")
    await watching.receive_until(
        lambda f: (
            f["type"] == "conversation.updated"
            and (f["conversation"]["last_message"] or {}).get("text") == "hello?"
        )
    )
    later = await watching.drain(0.5)
    assert not [
        f
        for f in later
        if f["type"] == "event"
        and f["event"]["type"] == "message"
        and f["event"]["message"]["text"] == "hello?"
    ]


async def test_takeover_reply_note_and_handback(
    site, alice, agent_factory, visitor_factory, fake_llm
):
    console = await agent_factory(alice.user)
    visitor, conversation_id = await visitor_conversation(visitor_factory, site)
    await console.watch(conversation_id)  # the agent opens it
    await console.act("takeover", conversation_id)
    await console.receive_until(is_event("state", state="human"))
    visitor_frames = await visitor.receive_until(
        lambda e: e["type"] == "message" and e["message"]["author"] == "system"
    )
    kinds = [e["type"] for e in visitor_frames]
    assert "agent.joined" in kinds and "state" in kinds
    assert visitor_frames[-1]["message"]["text"] == "Alice Agent joined the conversation"

    await console.act("typing", conversation_id, active=True)
    typing = await visitor.receive_until(lambda e: e["type"] == "typing")
    assert typing[-1] == {"type": "typing", "who": "agent", "name": "Alice Agent", "active": True}

    await console.act("reply", conversation_id, client_id="a-1", text="Hi, Alice here!")
    ack = (await console.receive_until(is_frame("ack")))[-1]
    message = (
        await visitor.receive_until(
            lambda e: e["type"] == "message" and e["message"]["author"] == "agent"
        )
    )[-1]
    assert (
        message["message"]["text"] == "Hi, Alice here!"
        and message["message"]["agent_name"] == "Alice Agent"
    )
    assert message["message"]["id"] == ack["message_id"]

    await console.act("note", conversation_id, client_id="n-1", text="VIP customer, be nice")
    note = await console.receive_until(
        lambda f: (
            f["type"] == "event"
            and f["event"]["type"] == "message"
            and f["event"]["message"]["is_internal"]
        )
    )
    assert note[-1]["event"]["message"]["text"] == "VIP customer, be nice"

    # The visitor talks while a human owns it: no bot, the owner is notified.
    await visitor.say("thanks, one more thing")
    notify = await console.receive_until(is_frame("notify"))
    assert notify[-1]["kind"] == "message" and notify[-1]["conversation_id"] == conversation_id
    visible = await visitor.drain(0.5)
    assert not [e for e in visible if e["type"] == "message" and e["message"]["author"] == "bot"]
    assert all("VIP" not in str(e) for e in visitor.received), (
        "internal notes never reach the visitor"
    )

    await console.act("handback", conversation_id)
    await console.receive_until(is_event("state", state="bot"))
    await visitor.say("Do you sell socks for hiking?")
    reply = await visitor.receive_until(lambda e: e["type"] == "reply.end")
    assert reply[-1]["message"]["source"] == "llm"
    replay_ids = await database_sync_to_async(
        lambda: list(
            Message.objects.filter(conversation_id=conversation_id, is_internal=True).values_list(
                "id", flat=True
            )
        )
    )()
    assert len(replay_ids) == 1


async def test_second_takeover_is_told_who_won(site, alice, bob, agent_factory, visitor_factory):
    first, second = await agent_factory(alice.user), await agent_factory(bob.user)
    _visitor, conversation_id = await visitor_conversation(visitor_factory, site)
    await first.act("takeover", conversation_id)
    await first.receive_until(is_event("state", state="human"))
    await second.act("takeover", conversation_id)
    failed = (await second.receive_until(is_frame("takeover.failed")))[-1]
    assert failed["by"]["name"] == "Alice Agent" and failed["state"] == "human"


async def test_transfer_moves_ownership_with_an_internal_note(
    site, alice, bob, agent_factory, visitor_factory
):
    first, second = await agent_factory(alice.user), await agent_factory(bob.user)
    _visitor, conversation_id = await visitor_conversation(visitor_factory, site)
    await first.act("takeover", conversation_id)
    await first.receive_until(is_event("state", state="human"))
    await first.act("transfer", conversation_id, agent_id=bob.pk, note="billing question")
    notify = (await second.receive_until(is_frame("notify")))[-1]
    assert notify["conversation_id"] == conversation_id
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=conversation_id)
    assert conversation.state == "human" and conversation.assigned_agent_id == bob.pk
    note = await database_sync_to_async(Message.objects.get)(
        conversation_id=conversation_id, is_internal=True
    )
    assert "billing question" in note.text


async def test_actions_on_other_sites_conversations_are_forbidden(
    site, alice, agent_factory, visitor_factory
):
    other_site = await database_sync_to_async(SiteFactory)(allowed_origins="http://shop.test")
    console = await agent_factory(alice.user)
    _visitor, conversation_id = await visitor_conversation(visitor_factory, other_site)
    await console.act("takeover", conversation_id)
    error = (await console.receive_until(is_frame("error")))[-1]
    assert error["code"] == "forbidden"
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=conversation_id)
    assert conversation.state == "bot"


async def test_handback_of_a_bot_conversation_is_an_invalid_state(
    site, alice, agent_factory, visitor_factory
):
    console = await agent_factory(alice.user)
    _visitor, conversation_id = await visitor_conversation(visitor_factory, site)
    await console.act("handback", conversation_id)
    error = (await console.receive_until(is_frame("error")))[-1]
    assert error["code"] == "invalid_state" and error["conversation_id"] == conversation_id


async def test_suggest_streams_a_draft_to_the_agent_only(
    site, alice, agent_factory, visitor_factory, fake_llm
):
    fake_llm.configure(reply="Sure, I can help with that order.")
    console = await agent_factory(alice.user)
    visitor, conversation_id = await visitor_conversation(visitor_factory, site)
    await console.act("takeover", conversation_id)
    await console.receive_until(is_event("state", state="human"))
    await visitor.drain(0.3)
    await console.act("suggest", conversation_id)
    frames = await console.receive_until(is_frame("suggest.end"))
    draft = "".join(f["text"] for f in frames if f["type"] == "suggest.delta")
    assert draft == "Sure, I can help with that order." and "error" not in frames[-1]
    prompt = fake_llm.requests[-1]["body"]["messages"]
    assert "drafting a reply for a human support agent" in prompt[0]["content"]
    assert not [
        e
        for e in await visitor.drain(0.3)
        if e["type"] == "message" and e["message"]["author"] == "bot"
    ]


async def test_visitor_typing_preview_reaches_the_consoles_that_watch_only(
    site, alice, bob, agent_factory, visitor_factory
):
    watching = await agent_factory(alice.user)
    inbox_only = await agent_factory(bob.user)
    visitor, conversation_id = await visitor_conversation(visitor_factory, site)
    await watching.watch(conversation_id)
    await visitor.send({"type": "typing", "active": True, "text": "I want to ret"})
    typing = (await watching.receive_until(is_event("typing", who="visitor")))[-1]
    assert (
        typing["event"]["text"] == "I want to ret" and typing["conversation_id"] == conversation_id
    )
    # A console with the conversation closed never sees what the visitor types.
    frames = await inbox_only.drain(0.5)
    assert not [f for f in frames if f["type"] == "event" and f["event"]["type"] == "typing"]


async def test_canned_responses_and_console_api(site, alice, client):
    await database_sync_to_async(CannedResponseFactory)(
        site=site, shortcut="refund", text="Refunds take 5 days."
    )
    await database_sync_to_async(CannedResponseFactory)(site=None, shortcut="hi", text="Hello!")
    await database_sync_to_async(client.force_login)(alice.user)
    response = await database_sync_to_async(client.get)(f"/agent/api/canned/?site={site.pk}")
    assert response.json() == {
        "canned": [
            {"shortcut": "hi", "text": "Hello!"},
            {"shortcut": "refund", "text": "Refunds take 5 days."},
        ]
    }

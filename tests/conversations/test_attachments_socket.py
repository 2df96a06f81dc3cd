"""Files in the live conversation: the sockets carry them to the visitor and the agents."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from conversations import services
from conversations.models import Message, Visitor
from tests.conversations.attachment_samples import PDF, image_bytes, upload
from tests.conversations.conftest import open_agent
from tests.factories import AgentFactory, SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def site(transactional_db):
    return SiteFactory(allowed_origins="http://shop.test")


def fetch(url: str) -> Client:
    return Client().get(url)


@database_sync_to_async
def visitor_upload(visitor_id: str, name: str, data: bytes):
    visitor = Visitor.objects.get(anonymous_id=visitor_id)
    return services.visitor_attachment_upload(visitor=visitor, upload=upload(name, data)).pk


@database_sync_to_async
def agent_upload(agent, conversation_id: int, name: str, data: bytes):
    from conversations.models import Conversation

    conversation = Conversation.objects.select_related("site", "visitor").get(pk=conversation_id)
    return services.agent_attachment_upload(
        agent=agent, conversation=conversation, upload=upload(name, data)
    ).pk


async def test_a_picture_reaches_the_agents_and_a_pdf_reply_reaches_the_visitor(
    visitor_factory, site, no_llm
):
    alice = await database_sync_to_async(AgentFactory)(display_name="Alice")
    await database_sync_to_async(alice.sites.add)(site)
    agent, connected, _code = await open_agent(alice.user)
    assert connected
    assert (await agent.receive())["type"] == "hello"

    visitor = await visitor_factory(site)
    welcome = await visitor.hello()
    assert welcome["site"]["attachments"]["enabled"] is True
    assert "image/png" in welcome["site"]["attachments"]["types"]
    picture = await visitor_upload(welcome["visitor_id"], "broken.png", image_bytes())
    # The visitor wrote first; the agent opened (watches) the conversation.
    conversation_id = (await visitor.say("hello"))["conversation_id"]
    await visitor.receive_until(lambda e: e["type"] == "reply.end")  # no LLM: the notice
    await agent.watch(conversation_id)
    await visitor.drain(0.3)

    await visitor.send(
        {"type": "message", "client_id": "v-1", "text": "", "attachments": [picture]}
    )
    ack = (await visitor.receive_until(lambda e: e["type"] == "ack"))[-1]
    assert [a["id"] for a in ack["attachments"]] == [picture]
    assert ack["conversation_id"] == conversation_id

    seen = await agent.receive_until(
        lambda f: (
            f["type"] == "event"
            and f["event"]["type"] == "message"
            and f["event"]["message"].get("client_id") == "v-1"
        )
    )
    shown = seen[-1]["event"]["message"]["attachments"]
    assert [(a["id"], a["name"], a["type"], a["width"]) for a in shown] == [
        (picture, "broken.png", "image/png", 32)
    ]
    response = await database_sync_to_async(fetch)(shown[0]["url"])
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    # A file alone is not a question: the bot does not answer it.
    assert await visitor.no_reply_follows(0.5)

    # The same frame again (a reconnect resend): the same message, nothing new.
    await visitor.send(
        {"type": "message", "client_id": "v-1", "text": "", "attachments": [picture]}
    )
    again = (await visitor.receive_until(lambda e: e["type"] == "ack"))[-1]
    assert again["message_id"] == ack["message_id"]
    assert await database_sync_to_async(Message.objects.filter(client_id="v-1").count)() == 1

    invoice = await agent_upload(alice, conversation_id, "invoice.pdf", PDF)
    await agent.act(
        "reply", conversation_id, client_id="a-1", text="Here you go", attachments=[invoice]
    )
    events = await visitor.receive_until(
        lambda e: e["type"] == "message" and e["message"]["author"] == "agent"
    )
    reply = events[-1]["message"]
    assert reply["text"] == "Here you go"
    assert [(a["id"], a["type"]) for a in reply["attachments"]] == [(invoice, "application/pdf")]
    response = await database_sync_to_async(fetch)(reply["attachments"][0]["url"])
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    await agent.close()


async def test_a_reconnecting_visitor_gets_the_files_again_with_fresh_urls(
    visitor_factory, site, no_llm
):
    visitor = await visitor_factory(site)
    welcome = await visitor.hello()
    picture = await visitor_upload(welcome["visitor_id"], "a.png", image_bytes())
    await visitor.send(
        {"type": "message", "client_id": "v-1", "text": "see", "attachments": [picture]}
    )
    await visitor.receive_until(lambda e: e["type"] == "ack")

    # Another tab (or a reload) of the same visitor: the replay brings the file.
    again = await visitor_factory(site)
    await again.hello(token=welcome["token"])
    replay = await again.receive_until(lambda e: e["type"] == "message")
    attachments = replay[-1]["message"]["attachments"]
    assert [a["id"] for a in attachments] == [picture]
    response = await database_sync_to_async(fetch)(attachments[0]["url"])
    assert response.status_code == 200


async def test_a_message_with_someone_elses_file_is_refused_and_not_saved(visitor_factory, site):
    owner = await visitor_factory(site)
    owner_id = (await owner.hello())["visitor_id"]
    picture = await visitor_upload(owner_id, "a.png", image_bytes())
    thief = await visitor_factory(site)
    await thief.hello()
    await thief.send({"type": "message", "client_id": "t-1", "text": "", "attachments": [picture]})
    error = (await thief.receive_until(lambda e: e["type"] == "error"))[-1]
    assert error["code"] == "attachment_unavailable" and error["client_id"] == "t-1"
    assert not await database_sync_to_async(Message.objects.filter(client_id="t-1").exists)()


async def test_malformed_attachment_lists_are_refused(visitor_factory, site):
    visitor = await visitor_factory(site)
    await visitor.hello()
    for bad in ("1", [True], [-1], list(range(1, 13))):
        await visitor.send({"type": "message", "client_id": "c-1", "text": "", "attachments": bad})
        error = await visitor.receive()
        assert error["type"] == "error" and error["code"] == "invalid_field", bad
    await visitor.send({"type": "message", "client_id": "c-2", "text": "  ", "attachments": []})
    assert (await visitor.receive())["code"] == "empty"

"""The agent API's actions reach the visitor's socket live, as the console's do."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.factories import AgentFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

API = "/api/v1/agent/conversations"


@pytest.fixture
def api(site):
    """Alice's token client; its calls run in a worker thread, as under a real server."""
    agent = AgentFactory(display_name="Alice Agent")
    agent.sites.add(site)
    token = Token.objects.create(user=agent.user)
    client = Client(headers={"Authorization": f"Token {token.key}"})

    async def call(method: str, path: str, body: dict | None = None):
        send = getattr(client, method)
        if body is None:
            return await database_sync_to_async(send)(path)
        return await database_sync_to_async(send)(path, body, content_type="application/json")

    return call


def is_message_from(author: str):
    return lambda e: e["type"] == "message" and e["message"]["author"] == author


async def test_take_over_reply_hand_back_and_close_reach_the_visitor_live(
    site, api, visitor_factory, no_llm
):
    visitor = await visitor_factory(site)
    await visitor.hello()
    ack = await visitor.say("how long does shipping take")
    conversation_id = ack["conversation_id"]
    await visitor.receive_until(is_message_from("bot"))

    taken = await api("post", f"{API}/{conversation_id}/take-over")
    assert taken.status_code == 200
    frames = await visitor.receive_until(is_message_from("system"))
    states = [e for e in frames if e["type"] == "state"]
    joined = [e for e in frames if e["type"] == "agent.joined"]
    assert states and states[-1]["state"] == "human"
    assert joined and joined[-1]["agent"]["name"] == "Alice Agent"
    assert frames[-1]["message"]["text"] == "Alice Agent joined the conversation"

    # The bot falls silent: the visitor's KB question now goes to the agent only.
    await visitor.say("how long does shipping take")
    assert await visitor.no_reply_follows(0.5)

    note = await api("post", f"{API}/{conversation_id}/messages",
                     {"text": "VIP customer", "internal": True})  # fmt: skip
    assert note.status_code == 201
    reply = await api("post", f"{API}/{conversation_id}/messages",
                      {"text": "Hi, Alice here!", "client_id": "api-1"})  # fmt: skip
    assert reply.status_code == 201
    message = (await visitor.receive_until(is_message_from("agent")))[-1]["message"]
    assert message["text"] == "Hi, Alice here!" and message["agent_name"] == "Alice Agent"
    assert message["id"] == reply.json()["id"] and message["client_id"] == "api-1"
    assert all("VIP" not in str(e) for e in visitor.received), "notes never reach the visitor"

    handed = await api("post", f"{API}/{conversation_id}/hand-back")
    assert handed.status_code == 200
    frames = await visitor.receive_until(lambda e: e["type"] == "state")
    assert frames[-1]["state"] == "bot"
    await visitor.say("how long does shipping take")
    answer = (await visitor.receive_until(is_message_from("bot")))[-1]["message"]
    assert answer["source"] == "kb" and answer["text"] == "3-5 business days."

    closed = await api("post", f"{API}/{conversation_id}/close")
    assert closed.status_code == 200
    frames = await visitor.receive_until(lambda e: e["type"] == "state")
    assert frames[-1]["state"] == "closed"


async def test_an_agent_console_sees_the_api_reply(site, api, visitor_factory, agent_factory):
    from helpdesk.models import Agent

    visitor = await visitor_factory(site)
    await visitor.hello()
    conversation_id = (await visitor.say("how long does shipping take"))["conversation_id"]
    alice = await database_sync_to_async(Agent.objects.select_related("user").get)(
        display_name="Alice Agent"
    )
    console = await agent_factory(alice.user)
    await console.watch(conversation_id)  # the console has the conversation open
    reply = await api("post", f"{API}/{conversation_id}/messages", {"text": "From the API"})
    assert reply.status_code == 201
    frames = await console.receive_until(
        lambda f: (
            f["type"] == "event"
            and f["event"]["type"] == "message"
            and f["event"]["message"]["text"] == "From the API"
        )
    )
    assert frames[-1]["conversation_id"] == conversation_id

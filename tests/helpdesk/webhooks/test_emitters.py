"""The one-line emit calls the conversation services make, and the documented verifier."""

import json
import re
from pathlib import Path

import pytest
from django.db import transaction

from conversations import services
from helpdesk.webhooks.services import (
    webhook_conversation_emit,
    webhook_csat_emit,
    webhook_message_emit,
)
from tests.conversations.attachment_samples import PDF, image_bytes, upload
from tests.factories import (
    AgentFactory,
    ConversationFactory,
    MessageFactory,
    VisitorFactory,
    WebhookEndpointFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "api.md"


def test_each_emitter_sends_its_event_and_internal_notes_are_never_sent(receiver):
    conversation = ConversationFactory(state="closed", csat_rating=5)
    WebhookEndpointFactory(site=conversation.site, url=receiver.url)
    note = MessageFactory(conversation=conversation, is_internal=True, text="secret note")
    message = MessageFactory(conversation=conversation, text="hello")

    with transaction.atomic():
        webhook_conversation_emit(conversation=conversation, event="conversation.closed")
        webhook_message_emit(message=note)
        webhook_message_emit(message=message)
        webhook_csat_emit(conversation=conversation)

    received = receiver.wait_for_requests(3)
    bodies = {r.headers["x-helpdesk-event"]: json.loads(r.body)["data"] for r in received}
    assert set(bodies) == {"conversation.closed", "message.created", "csat.submitted"}
    assert bodies["conversation.closed"]["conversation"]["state"] == "closed"
    assert bodies["message.created"]["message"]["text"] == "hello"
    assert bodies["csat.submitted"]["csat"]["rating"] == 5
    assert all(b"secret note" not in r.body for r in received)


def _message_webhook(receiver) -> dict:
    (request,) = receiver.wait_for_requests(1)
    assert request.headers["x-helpdesk-event"] == "message.created"
    return json.loads(request.body)["data"]["message"]


def test_a_visitors_files_ride_with_their_message_and_the_link_opens_the_file(
    receiver, client, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    visitor = VisitorFactory()
    WebhookEndpointFactory(site=visitor.site, url=receiver.url, events=["message.created"])
    pdf = services.visitor_attachment_upload(visitor=visitor, upload=upload("bill.pdf", PDF))

    services.visitor_message_receive(
        visitor=visitor, client_id="c-1", text="my bill", attachment_ids=[pdf.pk]
    )

    (sent,) = _message_webhook(receiver)["attachments"]
    assert {key: sent[key] for key in ("id", "name", "type", "size")} == {
        "id": pdf.pk,
        "name": "bill.pdf",
        "type": "application/pdf",
        "size": len(PDF),
    }
    response = client.get(sent["url"])  # no session: the signature alone opens it
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF


def test_an_agents_reply_is_sent_with_the_files_linked_to_it(receiver, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    agent = AgentFactory()
    # Already the agent's: no "joined" notice is sent before the reply.
    conversation = ConversationFactory(state="human", assigned_agent=agent)
    WebhookEndpointFactory(site=conversation.site, url=receiver.url, events=["message.created"])
    image = services.agent_attachment_upload(
        agent=agent, conversation=conversation, upload=upload("label.png", image_bytes())
    )

    services.agent_message_send(
        conversation_id=conversation.pk,
        agent=agent,
        client_id="a-1",
        text="your label",
        attachment_ids=[image.pk],
    )

    message = _message_webhook(receiver)
    assert message["author"] == "agent"
    assert [(file["id"], file["name"]) for file in message["attachments"]] == [
        (image.pk, "label.png")
    ]


def test_the_verification_snippet_in_docs_api_md_works_verbatim(receiver):
    (snippet,) = [
        block
        for block in re.findall(r"```python\n(.+?)```", DOCS.read_text(), flags=re.S)
        if "def verify_helpdesk_webhook" in block
    ]
    namespace: dict = {}
    exec(compile(snippet, str(DOCS), "exec"), namespace)  # noqa: S102
    verify = namespace["verify_helpdesk_webhook"]
    conversation = ConversationFactory()
    endpoint = WebhookEndpointFactory(site=conversation.site, url=receiver.url)

    with transaction.atomic():
        webhook_conversation_emit(conversation=conversation, event="conversation.created")
    (request,) = receiver.wait_for_requests(1)

    timestamp = request.headers["x-helpdesk-timestamp"]
    signature = request.headers["x-helpdesk-signature"]
    assert verify(endpoint.secret, request.body, timestamp, signature)
    assert not verify(endpoint.secret, request.body + b" ", timestamp, signature)
    assert not verify("whsec_wrong", request.body, timestamp, signature)
    assert not verify(endpoint.secret, request.body, str(int(timestamp) - 600), signature)

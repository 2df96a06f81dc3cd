"""The one-line emit calls the conversation services make, and the documented verifier."""

import json
import re
from pathlib import Path

import pytest
from django.db import transaction

from helpdesk.webhooks.services import (
    webhook_conversation_emit,
    webhook_csat_emit,
    webhook_message_emit,
)
from tests.factories import ConversationFactory, MessageFactory, WebhookEndpointFactory

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

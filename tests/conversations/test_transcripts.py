"""Transcripts: the visitor's email (escaped, no internal notes, localized) sent by the real
task, and the agents' export and email action with their authorization."""

import json
import threading
import time
from unittest.mock import ANY

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client

from conversations import services
from conversations.models import Conversation, Message
from conversations.tasks import send_transcript_email
from tests.factories import (
    AgentFactory,
    AttachmentFactory,
    ConversationFactory,
    MessageFactory,
    SiteFactory,
    StaffUserFactory,
    UserFactory,
    VisitorFactory,
)

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


@pytest.fixture(autouse=True)
def _transcript_threads_finish():
    """Without a Celery worker the email goes from a thread of this process, which writes
    `transcript_sent_at` after sending: it must be done before the test's tables are
    emptied (the flush and that UPDATE can deadlock)."""
    yield
    for thread in threading.enumerate():
        if thread.name == "transcript":
            thread.join(timeout=10)


@pytest.fixture
def conversation(db):
    site = SiteFactory(name="Demo <Shop>")
    visitor = VisitorFactory(site=site, email="erin@example.com", name="Erin")
    conversation = ConversationFactory(visitor=visitor)
    MessageFactory(conversation=conversation, text=HOSTILE)
    agent = AgentFactory(display_name="Alice Agent")
    MessageFactory(
        conversation=conversation,
        author_kind=Message.Author.AGENT,
        source=Message.Source.AGENT,
        agent=agent,
        text="Happy to help with that.",
    )
    MessageFactory(
        conversation=conversation,
        author_kind=Message.Author.AGENT,
        source=Message.Source.AGENT,
        agent=agent,
        is_internal=True,
        text="SECRET: refund approved by finance",
    )
    services.conversation_close(conversation_id=conversation.pk)
    conversation.refresh_from_db()
    return conversation


# --- the visitor's email ------------------------------------------------------------------


@pytest.mark.django_db
def test_email_has_text_and_escaped_html_and_no_internal_notes(conversation):
    assert send_transcript_email(conversation.pk, "erin@example.com") is True
    (email,) = mail.outbox
    assert email.to == ["erin@example.com"]
    assert email.subject == "Your conversation with Demo <Shop>"
    assert HOSTILE in email.body and "Happy to help with that." in email.body
    assert "Alice Agent" in email.body and "You:" in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "Demo &lt;Shop&gt;" in html
    assert "SECRET" not in email.body and "SECRET" not in html
    conversation.refresh_from_db()
    assert conversation.transcript_sent_at is not None


@pytest.mark.django_db
def test_the_files_sent_are_named_in_the_email_and_the_exports(conversation):
    AttachmentFactory(
        message=MessageFactory(conversation=conversation, text="my bill"),
        original_name="bill <march>.pdf",
    )

    assert send_transcript_email(conversation.pk, "erin@example.com") is True
    (email,) = mail.outbox
    assert "You: my bill\n    📎 bill <march>.pdf\n" in email.body
    html, _ = email.alternatives[0]
    assert "📎 bill &lt;march&gt;.pdf" in html
    client = staff_client(AgentFactory())
    text = client.get(export_url(conversation)).content.decode()
    assert "Erin: my bill\n    📎 bill <march>.pdf\n" in text
    document = json.loads(client.get(export_url(conversation, "json")).content)
    assert [m["attachments"] for m in document["messages"]] == [
        [],
        [],
        [],
        [{"id": ANY, "name": "bill <march>.pdf", "type": "application/pdf", "size": 1234}],
    ]


@pytest.mark.django_db
def test_email_subject_and_labels_follow_the_visitors_language(conversation):
    from django.utils import translation

    visitor = conversation.visitor
    visitor.language = "zh-CN"
    visitor.save()
    before = translation.get_language()
    send_transcript_email(conversation.pk, "erin@example.com")
    assert mail.outbox[0].subject == "您与 Demo <Shop> 的会话"
    assert translation.get_language() == before  # the worker's language is left as it was


@pytest.mark.django_db
def test_a_conversation_deleted_before_the_task_runs_is_a_no_op(conversation):
    conversation_id = conversation.pk
    conversation.delete()
    assert send_transcript_email(conversation_id, "erin@example.com") is False
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_visitor_request_saves_the_address_unless_the_identity_is_verified(conversation):
    visitor = conversation.visitor
    services.transcript_email_request(
        conversation_id=conversation.pk, visitor=visitor, email="new@example.com"
    )
    visitor.refresh_from_db()
    assert visitor.email == "new@example.com"

    other = ConversationFactory(
        visitor=VisitorFactory(site=conversation.site, email="v@corp.test", identity_verified=True)
    )
    MessageFactory(conversation=other)
    services.transcript_email_request(
        conversation_id=other.pk, visitor=other.visitor, email="typed@example.com"
    )
    other.visitor.refresh_from_db()
    assert other.visitor.email == "v@corp.test"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_celery_worker_sends_the_queued_transcript(conversation, start_celery_worker):
    start_celery_worker(llm_base_url="http://127.0.0.1:9/v1", concurrency=2, name="mail")
    with transaction.atomic():
        services.transcript_email_request(conversation_id=conversation.pk)
        # Queued only after commit: nothing is sent for a request that rolls back.
    deadline = time.monotonic() + 30
    while Conversation.objects.get(pk=conversation.pk).transcript_sent_at is None:
        assert time.monotonic() < deadline, "the worker did not send the transcript"
        time.sleep(0.1)
    assert mail.outbox == []  # sent by the worker, not by this process


# --- the agents' export -------------------------------------------------------------------


def staff_client(agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


def export_url(conversation, fmt="txt") -> str:
    return f"/agent/conversations/{conversation.pk}/export?format={fmt}"


@pytest.mark.django_db
def test_text_export_has_every_message_and_marks_internal_notes(conversation):
    agent = AgentFactory()
    services.conversation_csat_submit(
        visitor=conversation.visitor, conversation_id=conversation.pk, rating=4, comment="ok"
    )
    response = staff_client(agent).get(export_url(conversation))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="conversation-{conversation.pk}.txt"'
    )
    text = response.content.decode()
    assert HOSTILE in text and "Erin: " in text
    assert "[internal note] Alice Agent: SECRET: refund approved by finance" in text
    assert "Rating: 4/5 — ok" in text
    assert text.index(HOSTILE) < text.index("Happy to help") < text.index("SECRET")


@pytest.mark.django_db
def test_json_export_is_structured_with_internal_flags(conversation):
    response = staff_client(AgentFactory()).get(export_url(conversation, "json"))
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(
        f'filename="conversation-{conversation.pk}.json"'
    )
    document = json.loads(response.content)
    assert document["conversation"]["id"] == conversation.pk
    assert document["conversation"]["state"] == "closed"
    assert document["visitor"]["email"] == "erin@example.com"
    assert [m["is_internal"] for m in document["messages"]] == [False, False, True]
    assert document["messages"][0]["text"] == HOSTILE
    assert document["messages"][1]["agent_name"] == "Alice Agent"


@pytest.mark.django_db
def test_unknown_format_is_a_clear_400(conversation):
    response = staff_client(AgentFactory()).get(export_url(conversation, "pdf"))
    assert response.status_code == 400 and "txt" in response.json()["error"]


@pytest.mark.django_db
def test_anonymous_is_sent_to_the_login(conversation):
    response = Client().get(export_url(conversation))
    assert response.status_code == 302 and response["Location"].startswith("/agent/login/")


@pytest.mark.django_db
def test_a_signed_in_non_staff_user_is_refused(conversation):
    client = Client()
    client.force_login(UserFactory())
    assert client.get(export_url(conversation)).status_code == 403
    assert (
        client.post(f"/agent/conversations/{conversation.pk}/transcript/email").status_code == 403
    )


@pytest.mark.django_db
def test_an_agent_of_another_site_cannot_export_or_mail(conversation):
    outsider = AgentFactory(user=StaffUserFactory())
    outsider.sites.add(SiteFactory())
    client = staff_client(outsider)
    assert client.get(export_url(conversation)).status_code == 404
    assert (
        client.post(f"/agent/conversations/{conversation.pk}/transcript/email").status_code == 404
    )
    assert mail.outbox == []


# --- the agents' "email transcript to visitor" action -------------------------------------


@pytest.mark.django_db(transaction=True)
def test_agent_emails_the_transcript_to_the_visitor_once_a_minute(conversation):
    agent = AgentFactory()
    agent.sites.add(conversation.site)
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent.user)
    url = f"/agent/conversations/{conversation.pk}/transcript/email"
    assert client.post(url).status_code == 403  # no CSRF token

    client.get("/agent/")
    token = client.cookies["csrftoken"].value
    response = client.post(url, headers={"X-CSRFToken": token})
    assert response.status_code == 202 and response.json()["email"] == "erin@example.com"
    deadline = time.monotonic() + 10
    while not mail.outbox:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert mail.outbox[0].to == ["erin@example.com"]
    assert "SECRET" not in mail.outbox[0].body

    again = client.post(url, headers={"X-CSRFToken": token})
    assert again.status_code == 429 and int(again["Retry-After"]) > 0


@pytest.mark.django_db
def test_agent_email_without_a_visitor_address_is_a_clear_400():
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation)
    response = staff_client(AgentFactory()).post(
        f"/agent/conversations/{conversation.pk}/transcript/email"
    )
    assert response.status_code == 400 and response.json()["error"] == "email_required"

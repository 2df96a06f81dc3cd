"""Attachment upload and download over HTTP: who may upload, who may fetch, and how it is served."""

import pytest
from django.test import Client
from django.urls import reverse

from conversations import services
from conversations.attachments.signing import attachment_signature
from conversations.visitor_tokens import visitor_token_issue
from tests.conversations.attachment_samples import HTML, PDF, image_bytes, upload
from tests.factories import (
    AgentFactory,
    ConversationFactory,
    SiteFactory,
    UserFactory,
    VisitorFactory,
)

pytestmark = pytest.mark.django_db

ORIGIN = "http://shop.test"
HELPDESK = "http://testserver"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def site():
    return SiteFactory(allowed_origins=ORIGIN)


@pytest.fixture
def visitor(site):
    return VisitorFactory(site=site)


def token_of(visitor) -> str:
    return visitor_token_issue(anonymous_id=visitor.anonymous_id, site_id=visitor.site_id)


def visitor_post(site, *, token, name="a.png", data=None, origin=HELPDESK, page=ORIGIN):
    headers = {"Origin": origin}
    if token is not None:
        headers["X-Visitor-Token"] = token
    return Client().post(
        f"/widget/attachments?site={site.public_key}&origin={page}",
        {"file": upload(name, data if data is not None else image_bytes())},
        headers=headers,
    )


def test_the_widget_uploads_with_its_visitor_token(site, visitor):
    response = visitor_post(site, token=token_of(visitor))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["type"] == "image/png" and body["name"] == "a.png"
    assert (body["width"], body["height"]) == (32, 24)
    assert body["url"].startswith(f"/attachments/{body['id']}/a.png?sig=")
    # The uploader sees their own unsent file (the composer's thumbnail).
    fetched = Client().get(body["url"])
    assert fetched.status_code == 200 and fetched["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    "case", ["no token", "forged token", "other site's token", "foreign page", "foreign origin"]
)
def test_upload_refused_without_the_right_identity_or_origin(site, visitor, case):
    token = token_of(visitor)
    kwargs = {}
    if case == "no token":
        token = None
    elif case == "forged token":
        token = token[:-3] + "abc"
    elif case == "other site's token":
        token = token_of(VisitorFactory(site=SiteFactory()))
    elif case == "foreign page":
        kwargs["page"] = "http://evil.test"
    elif case == "foreign origin":
        kwargs["origin"] = "http://evil.test"
    response = visitor_post(site, token=token, **kwargs)
    assert response.status_code == 403
    assert not visitor.attachments.exists()


def test_upload_refusals_are_clear(site, visitor, settings):
    response = visitor_post(site, token=token_of(visitor), name="cat.png", data=HTML)
    assert response.status_code == 400
    assert response.json()["error"] == "type_forbidden"
    site.attachment_max_bytes = 50
    site.save()
    response = visitor_post(site, token=token_of(visitor), name="a.pdf", data=PDF)
    assert response.status_code == 413 and response.json()["error"] == "too_large"


# --- serving ------------------------------------------------------------------------------


def sent_file(conversation, *, name="invoice.pdf", data=PDF):
    """A file the conversation's visitor sent in it."""
    attachment = services.visitor_attachment_upload(
        visitor=conversation.visitor, upload=upload(name, data)
    )
    services.attachments_link(
        message=conversation.messages.create(author_kind="visitor", source="visitor", text=""),
        attachment_ids=[attachment.pk],
        visitor=conversation.visitor,
    )
    attachment.refresh_from_db()
    return attachment


def url_of(attachment, *, sig=None):
    path = reverse(
        "attachment-download",
        kwargs={"attachment_id": attachment.pk, "filename": attachment.original_name},
    )
    if sig is None:
        sig = attachment_signature(
            attachment_id=attachment.pk, conversation_id=attachment.conversation_id
        )
    return f"{path}?sig={sig}" if sig else path


def test_a_signed_url_serves_a_pdf_as_a_sandboxed_download():
    attachment = sent_file(ConversationFactory())
    response = Client().get(url_of(attachment))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="invoice.pdf"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response["Cache-Control"].startswith("private")


def test_images_are_inline_and_text_is_utf8_download():
    conversation = ConversationFactory()
    image = Client().get(url_of(sent_file(conversation, name="p.png", data=image_bytes())))
    assert image["Content-Type"] == "image/png"
    assert image["Content-Disposition"].startswith("inline")
    text = Client().get(url_of(sent_file(conversation, name="n.txt", data="你好".encode())))
    assert text["Content-Type"] == "text/plain; charset=utf-8"
    assert text["Content-Disposition"].startswith("attachment")


def test_a_non_ascii_name_survives_the_download_header():
    attachment = sent_file(ConversationFactory(), name="发票.pdf")
    response = Client().get(url_of(attachment))
    assert response.status_code == 200
    assert "filename*=utf-8''%E5%8F%91%E7%A5%A8.pdf" in response["Content-Disposition"]


def test_no_expired_tampered_or_foreign_signature_opens_a_file(settings):
    conversation = ConversationFactory()
    attachment = sent_file(conversation)
    other = sent_file(ConversationFactory(site=conversation.site))
    good = attachment_signature(attachment_id=attachment.pk, conversation_id=conversation.pk)
    for sig in (
        "",  # anonymous, no signature
        good[:-2] + ("aa" if not good.endswith("aa") else "bb"),  # tampered
        attachment_signature(attachment_id=other.pk, conversation_id=other.conversation_id),
        attachment_signature(attachment_id=attachment.pk, conversation_id=other.conversation_id),
        attachment_signature(attachment_id=attachment.pk, conversation_id=None),  # pre-send URL
    ):
        response = Client().get(url_of(attachment, sig=sig))
        assert response.status_code == 403, sig
        assert b"%PDF" not in response.content
    settings.ATTACHMENT_URL_MAX_AGE_SECONDS = -1  # every signature is now too old
    assert Client().get(url_of(attachment, sig=good)).status_code == 403


def test_a_missing_attachment_looks_like_a_refused_one():
    response = Client().get("/attachments/999999/x.pdf?sig=abc:def")
    assert response.status_code == 403


def test_agents_fetch_by_session_only_on_their_sites():
    conversation = ConversationFactory()
    attachment = sent_file(conversation)
    mine = AgentFactory()
    mine.sites.add(conversation.site)
    elsewhere = AgentFactory()
    elsewhere.sites.add(SiteFactory())
    not_staff = UserFactory()
    for user, status in ((mine.user, 200), (elsewhere.user, 403), (not_staff, 403)):
        client = Client()
        client.force_login(user)
        assert client.get(url_of(attachment, sig="")).status_code == status, user


# --- the agent's upload -------------------------------------------------------------------


def agent_client(agent) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent.user)
    client.get("/agent/")  # sets the CSRF cookie, as the console page does
    return client


def test_an_agent_uploads_to_a_conversation_of_their_site_with_csrf():
    conversation = ConversationFactory()
    agent = AgentFactory()
    agent.sites.add(conversation.site)
    client = agent_client(agent)
    path = f"/agent/api/conversations/{conversation.pk}/attachments"
    assert client.post(path, {"file": upload("a.pdf", PDF)}).status_code == 403  # no CSRF token
    response = client.post(
        path,
        {"file": upload("a.pdf", PDF)},
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 201, response.content
    assert response.json()["type"] == "application/pdf"


def test_an_agent_cannot_upload_to_another_sites_conversation():
    conversation = ConversationFactory()
    agent = AgentFactory()
    agent.sites.add(SiteFactory())
    client = agent_client(agent)
    response = client.post(
        f"/agent/api/conversations/{conversation.pk}/attachments",
        {"file": upload("a.pdf", PDF)},
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 404
    assert not conversation.attachments.exists()

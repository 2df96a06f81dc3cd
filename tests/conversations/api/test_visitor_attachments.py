"""Files through the visitor API: upload, send with a message, read back, refusals."""

import urllib.request
import uuid

import pytest

from conversations.models import Attachment, Message
from tests.conversations.api.visitor_server import call, daphne_fixture  # noqa: F401
from tests.conversations.attachment_samples import HTML, image_bytes
from tests.factories import SiteFactory

SHOP = "https://shop.test"


@pytest.fixture
def site(transactional_db):
    return SiteFactory(allowed_origins=SHOP)


def start(daphne, site) -> str:
    answer = call(daphne.base, "POST", f"/api/v1/sites/{site.public_key}/visitors", {})
    assert answer.status == 201, answer.body
    return answer.body["visitor_token"]


def upload(daphne, site, token: str, name: str, data: bytes):
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return call(
        daphne.base,
        "POST",
        f"/api/v1/sites/{site.public_key}/attachments",
        body,
        token=token,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def test_an_uploaded_image_is_sent_with_a_message_and_served_by_its_signed_url(daphne, site):
    token = start(daphne, site)
    uploaded = upload(daphne, site, token, "photo.png", image_bytes("PNG"))
    assert uploaded.status == 201, uploaded.body
    assert uploaded.body["type"] == "image/png" and uploaded.body["width"] == 32

    posted = call(
        daphne.base,
        "POST",
        f"/api/v1/sites/{site.public_key}/conversation/messages",
        {"client_id": "f-1", "attachments": [uploaded.body["id"]]},
        token=token,
    )
    assert posted.status == 201, posted.body
    assert [a["id"] for a in posted.body["attachments"]] == [uploaded.body["id"]]
    message = Message.objects.get(client_id="f-1")
    assert list(message.attachments.values_list("id", flat=True)) == [uploaded.body["id"]]
    # A file alone does not wake the bot: no reply to an empty question.
    assert not Message.objects.filter(conversation=message.conversation, author_kind="bot")

    page = call(
        daphne.base, "GET", f"/api/v1/sites/{site.public_key}/conversation/messages", token=token
    )
    (listed,) = [m for m in page.body["messages"] if m["id"] == message.pk]
    url = listed["attachments"][0]["url"]
    with urllib.request.urlopen(daphne.base + url, timeout=10) as response:
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_file_that_lies_about_its_type_is_refused_and_nothing_is_stored(daphne, site):
    token = start(daphne, site)
    refused = upload(daphne, site, token, "cat.png", HTML)
    assert refused.status == 400
    assert refused.body["error"] and refused.body["detail"]
    assert not Attachment.objects.exists()


def test_a_file_over_the_sites_limit_is_refused_before_it_is_read(daphne, site):
    site.attachment_max_bytes = 1000
    site.save()
    token = start(daphne, site)
    refused = upload(daphne, site, token, "big.png", image_bytes("PNG", size=(800, 800)) * 40)
    assert refused.status == 413, refused.body
    assert not Attachment.objects.exists()


def test_another_visitors_upload_cannot_be_sent(daphne, site):
    owner, thief = start(daphne, site), start(daphne, site)
    uploaded = upload(daphne, site, owner, "photo.png", image_bytes("PNG"))
    stolen = call(
        daphne.base,
        "POST",
        f"/api/v1/sites/{site.public_key}/conversation/messages",
        {"client_id": "x-1", "text": "look", "attachments": [uploaded.body["id"]]},
        token=thief,
    )
    assert stolen.status == 400, stolen.body
    assert not Message.objects.filter(client_id="x-1").exists()


def test_a_message_needs_text_or_a_file(daphne, site):
    token = start(daphne, site)
    empty = call(
        daphne.base,
        "POST",
        f"/api/v1/sites/{site.public_key}/conversation/messages",
        {"client_id": "e-1"},
        token=token,
    )
    assert empty.status == 400 and empty.body["error"] == "invalid"

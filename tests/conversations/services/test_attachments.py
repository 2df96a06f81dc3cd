"""Attachments: type detection from the bytes, lies refused, per-Site limits, linking, sweep."""

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image

from conversations import services
from conversations.attachments import detection
from conversations.attachments.detection import AttachmentRefused, file_detect, filename_sanitize
from conversations.models import Attachment, Conversation, Message
from tests.conversations.attachment_samples import (
    HTML,
    PDF,
    SVG,
    image_bytes,
    jpeg_with_gps,
    upload,
)
from tests.factories import AgentFactory, ConversationFactory, SiteFactory, VisitorFactory

ALL = detection.DEFAULT_ALLOWED_TYPES


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def refused(code: str, **kwargs) -> AttachmentRefused:
    with pytest.raises(AttachmentRefused) as caught:
        file_detect(**kwargs)
    assert caught.value.code == code, caught.value.detail
    return caught.value


# --- detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("shot.png", image_bytes("PNG"), "image/png"),
        ("photo.jpg", image_bytes("JPEG"), "image/jpeg"),
        ("anim.gif", image_bytes("GIF"), "image/gif"),
        ("pic.webp", image_bytes("WEBP"), "image/webp"),
        ("invoice.pdf", PDF, "application/pdf"),
        ("notes.txt", "Grüße, 你好\n".encode(), "text/plain"),
        ("orders.csv", b"id,total\n1,9.99\n", "text/csv"),
    ],
)
def test_the_type_comes_from_the_content(name, data, content_type):
    detected = file_detect(data=data, name=name, allowed_types=ALL)
    assert detected.content_type == content_type
    assert detected.name == name
    if content_type.startswith("image/"):
        assert (detected.width, detected.height) == (32, 24)
    else:
        assert detected.width is None and detected.content == data


def test_a_jpeg_named_png_is_an_image_and_served_as_jpeg():
    detected = file_detect(data=image_bytes("JPEG"), name="cat.png", allowed_types=ALL)
    assert detected.content_type == "image/jpeg"


def test_images_lose_their_metadata_but_keep_their_orientation():
    original = jpeg_with_gps()
    assert b"SpyCam" in original
    detected = file_detect(data=original, name="holiday.jpg", allowed_types=ALL)
    assert b"SpyCam" not in detected.content
    with Image.open(io.BytesIO(detected.content)) as stored:
        assert not stored.getexif()
        # Orientation 6 was applied to the pixels: 40x20 shows as 20x40.
        assert stored.size == (20, 40)


def test_html_named_png_is_refused():
    error = refused("type_forbidden", data=HTML, name="cat.png", allowed_types=ALL)
    assert "HTML" in error.detail


def test_html_named_pdf_is_refused():
    refused("type_forbidden", data=HTML, name="invoice.pdf", allowed_types=ALL)


def test_a_png_named_pdf_is_refused():
    error = refused("type_mismatch", data=image_bytes("PNG"), name="invoice.pdf", allowed_types=ALL)
    assert ".pdf" in error.detail and "PNG" in error.detail


def test_a_pdf_named_txt_is_refused():
    refused("type_mismatch", data=PDF, name="readme.txt", allowed_types=ALL)


def test_an_image_with_an_executable_name_is_refused():
    refused("type_mismatch", data=image_bytes("PNG"), name="setup.exe", allowed_types=ALL)


@pytest.mark.parametrize("name", ["logo.svg", "logo.png", "logo"])
def test_svg_is_never_accepted_even_when_the_site_lists_it(name):
    refused("type_forbidden", data=SVG, name=name, allowed_types=(*ALL, "image/svg+xml"))


def test_a_png_signature_in_front_of_html_is_refused():
    polyglot = b"\x89PNG\r\n\x1a\n" + HTML
    refused("invalid_image", data=polyglot, name="x.png", allowed_types=ALL)


def test_anything_appended_to_an_image_is_dropped_by_reencoding():
    polyglot = image_bytes("PNG") + HTML
    detected = file_detect(data=polyglot, name="x.png", allowed_types=ALL)
    assert b"<script>" not in detected.content
    assert Image.open(io.BytesIO(detected.content)).size == (32, 24)


def test_a_decompression_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(detection, "MAX_IMAGE_PIXELS", 1000)
    refused(
        "image_too_large",
        data=image_bytes("PNG", size=(100, 100)),
        name="big.png",
        allowed_types=ALL,
    )


def test_text_must_be_utf8_without_nul_bytes():
    refused("invalid_text", data=b"caf\xe9 latin-1", name="menu.txt", allowed_types=ALL)
    refused("type_unknown", data=b"abc\x00def", name="data.txt", allowed_types=ALL)


def test_a_type_the_site_does_not_allow_is_refused():
    error = refused("type_not_allowed", data=PDF, name="a.pdf", allowed_types=("image/png",))
    assert "PDF" in error.detail


def test_a_name_without_extension_gets_the_detected_one():
    assert file_detect(data=PDF, name="scan", allowed_types=ALL).name == "scan.pdf"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ('a<b>"c".txt', "a_b__c_.txt"),
        ("  ..hidden.txt ", "hidden.txt"),
        ("x" * 300 + ".pdf", "x" * 146 + ".pdf"),
    ],
)
def test_filenames_are_sanitised(raw, clean):
    assert filename_sanitize(raw) == clean


# --- storing, per-Site limits ---------------------------------------------------------------


@pytest.mark.django_db
def test_upload_is_stored_under_a_random_name_with_its_hash():
    visitor = VisitorFactory()
    attachment = services.visitor_attachment_upload(
        visitor=visitor, upload=upload("My Passport.pdf", PDF, "image/png")
    )
    assert attachment.content_type == "application/pdf"  # not the claimed image/png
    assert attachment.original_name == "My Passport.pdf"
    assert "Passport" not in attachment.file.name and attachment.file.name.endswith(".pdf")
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert attachment.size == len(PDF)
    with default_storage.open(attachment.file.name) as stored:
        assert stored.read() == PDF
    assert attachment.message_id is None and attachment.conversation_id is None


@pytest.mark.django_db
def test_size_limit_is_per_site():
    small = VisitorFactory(site=SiteFactory(attachment_max_bytes=100))
    with pytest.raises(AttachmentRefused) as caught:
        services.visitor_attachment_upload(visitor=small, upload=upload("a.pdf", PDF))
    assert caught.value.code == "too_large" and "100" in caught.value.detail
    roomy = VisitorFactory(site=SiteFactory(attachment_max_bytes=10_000))
    assert services.visitor_attachment_upload(visitor=roomy, upload=upload("a.pdf", PDF)).pk


@pytest.mark.django_db
def test_the_global_ceiling_caps_every_site(settings):
    settings.ATTACHMENTS_MAX_BYTES = 100
    visitor = VisitorFactory(site=SiteFactory(attachment_max_bytes=10_000_000))
    with pytest.raises(AttachmentRefused, match="100"):
        services.visitor_attachment_upload(visitor=visitor, upload=upload("a.pdf", PDF))


@pytest.mark.django_db
def test_types_and_switch_are_per_site():
    images_only = VisitorFactory(site=SiteFactory(attachment_allowed_types="image/png\nimage/jpeg"))
    with pytest.raises(AttachmentRefused) as caught:
        services.visitor_attachment_upload(visitor=images_only, upload=upload("a.pdf", PDF))
    assert caught.value.code == "type_not_allowed"
    off = VisitorFactory(site=SiteFactory(attachments_enabled=False))
    with pytest.raises(AttachmentRefused) as caught:
        services.visitor_attachment_upload(visitor=off, upload=upload("a.png", image_bytes()))
    assert caught.value.code == "attachments_disabled"
    assert not Attachment.objects.exists()


@pytest.mark.django_db
def test_uploads_are_rate_limited_per_visitor(settings):
    settings.ATTACHMENT_UPLOADS_PER_MINUTE = 2
    visitor = VisitorFactory()
    for _ in range(2):
        services.visitor_attachment_upload(visitor=visitor, upload=upload("a.pdf", PDF))
    with pytest.raises(AttachmentRefused) as caught:
        services.visitor_attachment_upload(visitor=visitor, upload=upload("a.pdf", PDF))
    assert caught.value.code == "rate_limited" and caught.value.retry_after > 0
    # Another visitor is not slowed down by this one.
    assert services.visitor_attachment_upload(visitor=VisitorFactory(), upload=upload("a.pdf", PDF))


# --- linking to a message -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_visitor_message_carries_their_upload_and_a_resend_changes_nothing():
    visitor = VisitorFactory()
    attachment = services.visitor_attachment_upload(
        visitor=visitor, upload=upload("a.png", image_bytes())
    )
    first = services.visitor_message_receive(
        visitor=visitor, client_id="c-1", text="", attachment_ids=[attachment.pk]
    )
    again = services.visitor_message_receive(
        visitor=visitor, client_id="c-1", text="", attachment_ids=[attachment.pk]
    )
    assert again.duplicate and again.message.pk == first.message.pk
    attachment.refresh_from_db()
    assert attachment.message_id == first.message.pk
    assert attachment.conversation_id == first.message.conversation_id


@pytest.mark.django_db
def test_another_visitors_upload_cannot_be_sent_and_nothing_is_saved():
    owner, thief = VisitorFactory(), VisitorFactory()
    attachment = services.visitor_attachment_upload(visitor=owner, upload=upload("a.pdf", PDF))
    with pytest.raises(AttachmentRefused) as caught:
        services.visitor_message_receive(
            visitor=thief, client_id="c-1", text="look", attachment_ids=[attachment.pk]
        )
    assert caught.value.code == "attachment_unavailable"
    assert not Message.objects.exists()
    assert not thief.conversations.exists()


@pytest.mark.django_db
def test_an_upload_is_sent_once():
    visitor = VisitorFactory()
    attachment = services.visitor_attachment_upload(visitor=visitor, upload=upload("a.pdf", PDF))
    services.visitor_message_receive(
        visitor=visitor, client_id="c-1", text="", attachment_ids=[attachment.pk]
    )
    with pytest.raises(AttachmentRefused):
        services.visitor_message_receive(
            visitor=visitor, client_id="c-2", text="again", attachment_ids=[attachment.pk]
        )


@pytest.mark.django_db
def test_an_agent_sends_only_their_own_upload_to_that_conversation():
    conversation = ConversationFactory()
    other = ConversationFactory(site=conversation.site)
    alice, bob = AgentFactory(), AgentFactory()
    attachment = services.agent_attachment_upload(
        agent=alice, conversation=conversation, upload=upload("a.pdf", PDF)
    )
    with pytest.raises(AttachmentRefused):
        services.agent_message_send(
            conversation_id=conversation.pk, agent=bob, client_id="b-1", text="",
            attachment_ids=[attachment.pk],
        )  # fmt: skip
    with pytest.raises(AttachmentRefused):
        services.agent_message_send(
            conversation_id=other.pk, agent=alice, client_id="a-0", text="",
            attachment_ids=[attachment.pk],
        )  # fmt: skip
    post = services.agent_message_send(
        conversation_id=conversation.pk, agent=alice, client_id="a-1", text="",
        attachment_ids=[attachment.pk],
    )  # fmt: skip
    assert list(post.message.attachments.all()) == [attachment]


@pytest.mark.django_db
def test_agents_cannot_attach_to_a_closed_conversation():
    conversation = ConversationFactory(state="closed")
    with pytest.raises(AttachmentRefused) as caught:
        services.agent_attachment_upload(
            agent=AgentFactory(), conversation=conversation, upload=upload("a.pdf", PDF)
        )
    assert caught.value.code == "invalid_state"


# --- sweep ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_unsent_uploads_older_than_a_day_are_deleted_with_their_files():
    visitor = VisitorFactory()
    old, recent, sent = (
        services.visitor_attachment_upload(visitor=visitor, upload=upload(f"{n}.pdf", PDF))
        for n in ("old", "recent", "sent")
    )
    services.visitor_message_receive(
        visitor=visitor, client_id="c-1", text="", attachment_ids=[sent.pk]
    )
    two_days_ago = timezone.now() - timedelta(days=2)
    with transaction.atomic():
        Attachment.objects.filter(pk__in=[old.pk, sent.pk]).update(created_at=two_days_ago)
    assert services.attachments_sweep_unsent() == 1
    assert set(Attachment.objects.values_list("pk", flat=True)) == {recent.pk, sent.pk}
    assert not default_storage.exists(old.file.name)
    assert default_storage.exists(recent.file.name) and default_storage.exists(sent.file.name)


@pytest.mark.django_db(transaction=True)
def test_deleting_a_conversation_deletes_its_files_once_committed():
    conversation = ConversationFactory()
    visitor = conversation.visitor
    sent = services.visitor_attachment_upload(visitor=visitor, upload=upload("a.pdf", PDF))
    services.visitor_message_receive(
        visitor=visitor, client_id="c-1", text="", attachment_ids=[sent.pk]
    )
    kept = services.visitor_attachment_upload(
        visitor=VisitorFactory(site=conversation.site), upload=upload("b.pdf", PDF)
    )
    name = Attachment.objects.get(pk=sent.pk).file.name
    assert default_storage.exists(name)

    with pytest.raises(RuntimeError), transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).delete()
        raise RuntimeError("rolled back")
    assert default_storage.exists(name)  # a rolled-back delete keeps the file

    Conversation.objects.filter(pk=conversation.pk).delete()
    assert not Attachment.objects.filter(pk=sent.pk).exists()
    assert not default_storage.exists(name)
    assert default_storage.exists(kept.file.name)

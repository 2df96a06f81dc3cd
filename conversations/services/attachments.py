"""Writes for attachments: store an upload, link uploads to the message that sends them, sweep.

An upload is checked (conversations/attachments/detection.py) and stored under
a random name before any message refers to it; the message that carries it
links it in the message's own transaction, so a message is never saved with
a file that is not there, nor a file moved to a message that was rolled back.
"""

import hashlib
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.attachments.detection import AttachmentRefused, file_detect
from conversations.limits import limit_hits
from conversations.models import Attachment, Conversation, Message, Visitor
from helpdesk.models import Agent, Site

UNSENT_MAX_AGE = timedelta(days=1)
MAX_ATTACHMENTS_PER_MESSAGE = 10


def _rate_limit(*, uploader_key: str, ip_address: str | None) -> None:
    per_minute = settings.ATTACHMENT_UPLOADS_PER_MINUTE
    checks = [(f"upload:{uploader_key}", per_minute)]
    if ip_address:
        checks.append((f"ip-upload:{ip_address}", per_minute * 3))
    verdict = limit_hits(*checks)
    if not verdict.allowed:
        raise AttachmentRefused(
            "rate_limited",
            _("You are sending files too fast; try again in %(seconds)s s.")
            % {"seconds": verdict.retry_after},
            retry_after=verdict.retry_after,
        )


def attachment_size_limit(*, site: Site) -> int:
    return min(site.attachment_max_bytes, settings.ATTACHMENTS_MAX_BYTES)


def attachment_too_large(*, site: Site) -> AttachmentRefused:
    """The refusal for a file over the site's limit (for callers that check the size first)."""
    return _too_large(attachment_size_limit(site=site))


def _too_large(limit: int) -> AttachmentRefused:
    return AttachmentRefused(
        "too_large", _("Files are limited to %(size)s.") % {"size": filesizeformat(limit)}
    )


def _store(
    *,
    site: Site,
    upload: UploadedFile,
    visitor: Visitor,
    conversation: Conversation | None,
    agent: Agent | None,
) -> Attachment:
    if not site.attachments_enabled:
        raise AttachmentRefused("attachments_disabled", _("Files cannot be sent here."))
    limit = attachment_size_limit(site=site)
    if upload.size is not None and upload.size > limit:
        raise _too_large(limit)
    data = b"".join(upload.chunks())
    if len(data) > limit:
        raise _too_large(limit)
    detected = file_detect(
        data=data, name=upload.name or "", allowed_types=site.attachment_type_list
    )
    attachment = Attachment(
        visitor=visitor,
        conversation=conversation,
        uploader_kind=Attachment.Uploader.AGENT if agent else Attachment.Uploader.VISITOR,
        agent=agent,
        original_name=detected.name,
        content_type=detected.content_type,
        size=len(detected.content),
        sha256=hashlib.sha256(detected.content).hexdigest(),
        width=detected.width,
        height=detected.height,
    )
    attachment.storage_extension = detected.extension  # read by attachment_upload_to
    attachment.file.save("upload", ContentFile(detected.content), save=False)
    try:
        attachment.save()
    except Exception:
        default_storage.delete(attachment.file.name)
        raise
    return attachment


def visitor_attachment_upload(
    *, visitor: Visitor, upload: UploadedFile, ip_address: str | None = None
) -> Attachment:
    """A visitor's file, checked and stored; theirs alone until a `message` sends it.

    Raises AttachmentRefused (code, translated detail, retry_after for rate_limited).
    """
    _rate_limit(uploader_key=f"visitor:{visitor.anonymous_id}", ip_address=ip_address)
    return _store(site=visitor.site, upload=upload, visitor=visitor, conversation=None, agent=None)


def agent_attachment_upload(
    *, agent: Agent, conversation: Conversation, upload: UploadedFile
) -> Attachment:
    """An agent's file for a conversation they may see (the caller checks that);
    the agent's alone until their reply or note sends it."""
    if conversation.state == Conversation.State.CLOSED:
        raise AttachmentRefused("invalid_state", _("The conversation is closed."))
    _rate_limit(uploader_key=f"agent:{agent.pk}", ip_address=None)
    return _store(
        site=conversation.site,
        upload=upload,
        visitor=conversation.visitor,
        conversation=conversation,
        agent=agent,
    )


def attachments_link(
    *,
    message: Message,
    attachment_ids: Sequence[int],
    visitor: Visitor | None = None,
    agent: Agent | None = None,
) -> list[Attachment]:
    """Give the uploader's own unsent uploads to `message` (call inside its transaction).

    Any id that is not the uploader's, already sent, or of another conversation
    refuses the whole message: nothing is half-sent.
    """
    ids = list(dict.fromkeys(attachment_ids))
    if not ids:
        _attachments_remember(message, [])
        return []
    if len(ids) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise AttachmentRefused(
            "too_many_attachments",
            _("At most %(count)s files per message.") % {"count": MAX_ATTACHMENTS_PER_MESSAGE},
        )
    rows = Attachment.objects.select_for_update().filter(pk__in=ids, message__isnull=True)
    if agent is not None:
        rows = rows.filter(
            uploader_kind=Attachment.Uploader.AGENT,
            agent=agent,
            conversation_id=message.conversation_id,
        )
    elif visitor is not None:
        rows = rows.filter(uploader_kind=Attachment.Uploader.VISITOR, visitor=visitor).filter(
            Q(conversation__isnull=True) | Q(conversation_id=message.conversation_id)
        )
    else:
        raise ValueError("attachments_link needs the visitor or the agent who uploaded them")
    found = list(rows)
    if len(found) != len(ids):
        raise AttachmentRefused(
            "attachment_unavailable",
            _("An attached file is no longer available; attach it again."),
        )
    Attachment.objects.filter(pk__in=ids).update(
        message=message, conversation_id=message.conversation_id
    )
    for attachment in found:
        attachment.message, attachment.conversation_id = message, message.conversation_id
    found.sort(key=lambda attachment: attachment.pk)  # Attachment.Meta.ordering
    _attachments_remember(message, found)
    return found


def _attachments_remember(message: Message, attachments: list[Attachment]) -> None:
    # What prefetch_related would store: the ack and the broadcasts of a new message
    # then read its files from here, not with a query each (one per message otherwise).
    cache = message.__dict__.setdefault("_prefetched_objects_cache", {})
    cache["attachments"] = attachments


def attachments_sweep_unsent(*, older_than: timedelta = UNSENT_MAX_AGE, batch: int = 500) -> int:
    """Delete uploads no message sent within `older_than`, rows and files; returns how many."""
    cutoff = timezone.now() - older_than
    stale = list(
        Attachment.objects.filter(message__isnull=True, created_at__lt=cutoff).values_list(
            "pk", "file"
        )[:batch]
    )
    if not stale:
        return 0
    with transaction.atomic():
        gone = list(
            Attachment.objects.select_for_update(skip_locked=True)
            .filter(pk__in=[pk for pk, _name in stale], message__isnull=True)
            .values_list("pk", "file")
        )
        # Their files go after the commit (conversations/attachments/file_cleanup.py).
        Attachment.objects.filter(pk__in=[pk for pk, _name in gone]).delete()
    return len(gone)

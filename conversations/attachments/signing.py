"""Signed, expiring attachment URLs: the visitor's only way to fetch a file.

The signature's scope is the attachment and the conversation it belongs to
(0 while a visitor's upload is not sent yet), so a URL never opens another
file, and a file moved to another conversation no longer opens with an old URL.
Agents need no signature: their session and their sites decide.
"""

from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "helpdesk.attachment-url"


def _scope(*, attachment_id: int, conversation_id: int | None) -> str:
    return f"{attachment_id}:{conversation_id or 0}"


def attachment_signature(*, attachment_id: int, conversation_id: int | None) -> str:
    signer = signing.TimestampSigner(salt=SALT)
    value = signer.sign(_scope(attachment_id=attachment_id, conversation_id=conversation_id))
    # The scope is known to the server: only the timestamp and the MAC travel.
    return value.split(":", 2)[2]


def attachment_signature_valid(
    *, signature: str, attachment_id: int, conversation_id: int | None
) -> bool:
    signer = signing.TimestampSigner(salt=SALT)
    value = f"{_scope(attachment_id=attachment_id, conversation_id=conversation_id)}:{signature}"
    try:
        signer.unsign(value, max_age=settings.ATTACHMENT_URL_MAX_AGE_SECONDS)
    except signing.BadSignature:  # includes SignatureExpired
        return False
    return True


def attachment_url(*, attachment_id: int, conversation_id: int | None, name: str) -> str:
    path = reverse(
        "attachment-download",
        kwargs={"attachment_id": attachment_id, "filename": name or "file"},
    )
    signature = attachment_signature(attachment_id=attachment_id, conversation_id=conversation_id)
    return f"{path}?sig={quote(signature, safe='')}"

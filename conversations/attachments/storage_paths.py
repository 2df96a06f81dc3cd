"""Where an attachment's bytes are stored: a random name, never the sender's filename.

The sender's name is user text (path tricks, HTML, other people's names) and is
kept only as `original_name`, for display and for the download's filename.
"""

import secrets

from django.utils import timezone


def attachment_upload_to(instance: object, filename: str) -> str:
    """`attachments/2026/11/<32 hex>.<ext>`; the extension comes from the detected type."""
    extension = getattr(instance, "storage_extension", "") or ""
    now = timezone.now()
    return f"attachments/{now:%Y/%m}/{secrets.token_hex(16)}{extension}"

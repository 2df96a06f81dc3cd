"""Validation of client frames: every refusal becomes an `error` event, never a crash."""

import json
from typing import Any

from django.conf import settings

MAX_FRAME_BYTES = 64 * 1024


class FrameError(Exception):
    def __init__(self, code: str, detail: str, client_id: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_id = client_id


def frame_decode(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
    if text_data is None:
        raise FrameError("invalid_frame", "Frames must be JSON text, not binary.")
    if len(text_data) > MAX_FRAME_BYTES:
        raise FrameError("too_long", f"Frames are limited to {MAX_FRAME_BYTES} characters.")
    try:
        frame = json.loads(text_data)
    except (ValueError, RecursionError) as exc:
        raise FrameError("invalid_json", "The frame is not valid JSON.") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("invalid_frame", "A frame is a JSON object with a string `type`.")
    try:
        # JSON may carry lone surrogates (\ud800) that no database or page can store.
        json.dumps(frame, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FrameError(
            "invalid_field", "The frame contains text that is not valid Unicode."
        ) from exc
    return frame


def field_str(
    frame: dict[str, Any], name: str, *, required: bool = True, max_length: int = 2000
) -> str:
    value = frame.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise FrameError("invalid_field", f"`{name}` must be a string.")
    if len(value) > max_length:
        raise FrameError("too_long", f"`{name}` is longer than {max_length} characters.")
    return value


def field_bool(frame: dict[str, Any], name: str, *, default: bool = False) -> bool:
    value = frame.get(name, default)
    if not isinstance(value, bool):
        raise FrameError("invalid_field", f"`{name}` must be true or false.")
    return value


def field_object(frame: dict[str, Any], name: str) -> dict[str, Any]:
    value = frame.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FrameError("invalid_field", f"`{name}` must be an object.")
    return value


def field_int(frame: dict[str, Any], name: str, *, required: bool = True) -> int:
    value = frame.get(name)
    if value is None and not required:
        return 0
    # Database ids start at 1; 0 only ever means "absent" in an optional field.
    minimum = 1 if required else 0
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= 2**62:
        kind = "positive" if required else "non-negative"
        raise FrameError("invalid_field", f"`{name}` must be a {kind} integer.")
    return value


MAX_ATTACHMENTS = 10


def attachment_ids_field(frame: dict[str, Any], client_id: str) -> list[int]:
    """`attachments`: ids from the upload endpoint (absent: none)."""
    value = frame.get("attachments")
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or len(value) > MAX_ATTACHMENTS
        or any(isinstance(i, bool) or not isinstance(i, int) or not 0 < i < 2**62 for i in value)
    ):
        raise FrameError(
            "invalid_field",
            f"`attachments` must be a list of at most {MAX_ATTACHMENTS} attachment ids.",
            client_id,
        )
    return list(dict.fromkeys(value))


def message_with_attachments_fields(frame: dict[str, Any]) -> tuple[str, str, list[int]]:
    """A `message` (visitor) or `reply`/`note` (agent) frame: the text may be empty
    when files are attached."""
    client_id = frame.get("client_id")
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 64:
        raise FrameError("invalid_field", "`client_id` must be a string of 1-64 characters.")
    attachment_ids = attachment_ids_field(frame, client_id)
    text = frame.get("text")
    if attachment_ids and (text is None or (isinstance(text, str) and not text.strip())):
        return client_id, "", attachment_ids
    client_id, text = message_fields(frame)
    return client_id, text, attachment_ids


def message_fields(frame: dict[str, Any]) -> tuple[str, str]:
    client_id = frame.get("client_id")
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 64:
        raise FrameError("invalid_field", "`client_id` must be a string of 1-64 characters.")
    text = frame.get("text")
    if not isinstance(text, str):
        raise FrameError("invalid_field", "`text` must be a string.", client_id)
    # Lone surrogates cannot be stored or shown; refuse them rather than mangle them.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FrameError("invalid_field", "`text` is not valid Unicode.", client_id) from exc
    text = text.strip()
    if not text:
        raise FrameError("empty", "The message is empty.", client_id)
    limit = settings.MAX_MESSAGE_LENGTH
    if len(text) > limit:
        raise FrameError("too_long", f"Messages are limited to {limit} characters.", client_id)
    return client_id, text


def csat_fields(frame: dict[str, Any]) -> tuple[int | None, int, str]:
    """`csat` frame: (conversation_id or None for the current one, rating 1-5, comment)."""
    conversation_id = field_int(frame, "conversation_id", required=False) or None
    rating = frame.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise FrameError("invalid_rating", "`rating` must be a whole number from 1 to 5.")
    # The service enforces its own, smaller comment limit with a clear message.
    comment = field_str(frame, "comment", required=False, max_length=MAX_FRAME_BYTES)
    return conversation_id, rating, comment


def transcript_email_fields(frame: dict[str, Any]) -> tuple[int | None, str]:
    """`transcript.email` frame: (conversation_id or None for the current one, email or "")."""
    conversation_id = field_int(frame, "conversation_id", required=False) or None
    email = field_str(frame, "email", required=False, max_length=254).strip()
    return conversation_id, email

"""Transcripts: emailed to the visitor (a Celery task), exported by agents.

The visitor's copy never contains internal notes; the agents' export does,
marked as such. Rendering is plain text or autoescaped templates only: a
message is never trusted as HTML.
"""

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import connections, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from conversations import selectors
from conversations.models import Conversation, Message, Visitor

logger = logging.getLogger(__name__)

# One email per conversation per this many seconds, whoever asks (visitor or agent).
TRANSCRIPT_EMAIL_INTERVAL_SECONDS = 60


class TranscriptRefused(Exception):
    def __init__(self, code: str, detail: str, *, retry_after: int = 0) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class TranscriptQueued:
    conversation_id: int
    email: str


def _email_check(email: str) -> str:
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise TranscriptRefused("invalid_email", _("That email address is not valid.")) from exc
    if len(email) > 254:
        raise TranscriptRefused("invalid_email", _("That email address is too long."))
    return email


def _rate_limit(conversation_id: int) -> None:
    key = f"transcript-email:{conversation_id}"
    # cache.add is atomic in Redis and locmem: exactly one caller per interval wins.
    if not cache.add(key, timezone.now().timestamp(), timeout=TRANSCRIPT_EMAIL_INTERVAL_SECONDS):
        sent_at = cache.get(key) or timezone.now().timestamp()
        wait = int(sent_at + TRANSCRIPT_EMAIL_INTERVAL_SECONDS - timezone.now().timestamp())
        raise TranscriptRefused(
            "rate_limited",
            _("The transcript was just sent; try again in a minute."),
            retry_after=max(1, wait),
        )


@transaction.atomic
def transcript_email_request(
    *, conversation_id: int, visitor: Visitor | None = None, email: str = ""
) -> TranscriptQueued:
    """Queue the transcript email. A visitor may only ask for their own conversation and may
    give an address (saved on them unless their identity was verified by the host site);
    an agent (visitor=None) sends to the address the visitor left. Raises TranscriptRefused."""
    conversation = (
        Conversation.objects.select_related("visitor")
        .select_for_update(of=("self",))
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None or (visitor is not None and conversation.visitor_id != visitor.pk):
        raise TranscriptRefused("not_found", _("No such conversation."))
    owner = conversation.visitor
    if email:
        email = _email_check(email)
    elif owner.email:
        email = owner.email
    else:
        raise TranscriptRefused("email_required", _("Enter an email address for the transcript."))
    if not conversation.messages.filter(is_internal=False).exists():
        raise TranscriptRefused("empty", _("There is nothing in this conversation to send yet."))
    _rate_limit(conversation.pk)
    # A verified identity came from the host site's server: a typed address must not replace it.
    if visitor is not None and email != owner.email and not owner.identity_verified:
        owner.email = email
        owner.save(update_fields=["email"])
    transaction.on_commit(
        lambda: transcript_email_dispatch(conversation_id=conversation.pk, email=email)
    )
    return TranscriptQueued(conversation_id=conversation.pk, email=email)


def transcript_email_dispatch(*, conversation_id: int, email: str) -> None:
    """To the Celery worker where there is one (Redis); else a thread of this process."""
    if settings.HELPDESK_LLM_RUNNER == "celery":
        from conversations.tasks import send_transcript_email

        send_transcript_email.delay(conversation_id, email)
        return
    threading.Thread(
        target=_send_in_thread, args=(conversation_id, email), daemon=True, name="transcript"
    ).start()


def _send_in_thread(conversation_id: int, email: str) -> None:
    try:
        transcript_email_send(conversation_id=conversation_id, email=email)
    except Exception:
        logger.exception("transcript email for conversation %s failed", conversation_id)
    finally:
        # This thread's own connections would otherwise stay open until the process exits.
        connections.close_all()


def _language_of(visitor: Visitor) -> str:
    return "zh-hans" if visitor.language.lower().startswith("zh") else "en"


def _author_label(message: Message, conversation: Conversation, *, for_visitor: bool) -> str:
    if message.author_kind == Message.Author.VISITOR:
        return _("You") if for_visitor else conversation.visitor.display_name
    if message.author_kind == Message.Author.AGENT:
        return message.agent.display_name if message.agent else _("Agent")
    if message.author_kind == Message.Author.BOT:
        return _("Assistant")
    return _("Notice")


def _lines(
    conversation: Conversation, messages: list[Message], *, for_visitor: bool
) -> list[dict[str, Any]]:
    return [
        {
            "id": m.pk,
            "time": timezone.localtime(m.created_at),
            "author": m.author_kind,
            "name": _author_label(m, conversation, for_visitor=for_visitor),
            "text": m.text,
            "internal": m.is_internal,
            "source": m.source,
            # Names only: a signed link expires within the hour, a transcript is kept.
            "files": [attachment.original_name for attachment in m.attachments.all()],
        }
        for m in messages
    ]


def transcript_email_send(*, conversation_id: int, email: str) -> bool:
    """Send the transcript (plain text + HTML, no internal notes); False if the
    conversation is gone. Sets transcript_sent_at."""
    conversation = selectors.conversation_for_transcript(conversation_id=conversation_id)
    if conversation is None:
        return False
    messages = selectors.conversation_transcript_messages(
        conversation_id=conversation.pk, include_internal=False
    )
    with translation.override(_language_of(conversation.visitor)):
        context = {
            "conversation": conversation,
            "site_name": conversation.site.name,
            "lines": _lines(conversation, messages, for_visitor=True),
        }
        subject = _("Your conversation with %(site)s") % {"site": conversation.site.name}
        text_body = render_to_string("email/transcript.txt", context)
        html_body = render_to_string("email/transcript.html", context)
    mail = EmailMultiAlternatives(
        subject=" ".join(subject.split()),  # no header injection through a site name
        body=text_body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
    )
    mail.attach_alternative(html_body, "text/html")
    mail.send()
    Conversation.objects.filter(pk=conversation.pk).update(transcript_sent_at=timezone.now())
    return True


ExportFormat = Literal["txt", "json"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def transcript_export_json(conversation: Conversation, messages: list[Message]) -> str:
    visitor = conversation.visitor
    document = {
        "conversation": {
            "id": conversation.pk,
            "site": conversation.site.name,
            "state": conversation.state,
            "created_at": _iso(conversation.created_at),
            "closed_at": _iso(conversation.closed_at),
            "assigned_agent": conversation.assigned_agent.display_name
            if conversation.assigned_agent
            else None,
            "csat": {
                "rating": conversation.csat_rating,
                "comment": conversation.csat_comment,
                "submitted_at": _iso(conversation.csat_submitted_at),
            }
            if conversation.csat_submitted_at
            else None,
        },
        "visitor": {
            "name": visitor.display_name,
            "email": visitor.email,
            "external_id": visitor.external_id,
        },
        "messages": [
            {
                "id": m.pk,
                "author": m.author_kind,
                "agent_name": m.agent.display_name if m.agent else None,
                "source": m.source,
                "text": m.text,
                "is_internal": m.is_internal,
                "created_at": _iso(m.created_at),
                "attachments": [
                    {
                        "id": attachment.pk,
                        "name": attachment.original_name,
                        "type": attachment.content_type,
                        "size": attachment.size,
                    }
                    for attachment in m.attachments.all()
                ],
            }
            for m in messages
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _stamp(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z")


def transcript_export_text(conversation: Conversation, messages: list[Message]) -> str:
    header = [
        _("Conversation #%(id)s · %(site)s")
        % {"id": conversation.pk, "site": conversation.site.name},
        _("Visitor: %(name)s") % {"name": conversation.visitor.display_name}
        + (f" <{conversation.visitor.email}>" if conversation.visitor.email else ""),
        _("Started: %(time)s") % {"time": _stamp(conversation.created_at)},
    ]
    if conversation.closed_at:
        header.append(_("Closed: %(time)s") % {"time": _stamp(conversation.closed_at)})
    if conversation.csat_submitted_at:
        header.append(
            _("Rating: %(rating)s/5") % {"rating": conversation.csat_rating}
            + (f" — {conversation.csat_comment}" if conversation.csat_comment else "")
        )
    body = []
    for line in _lines(conversation, messages, for_visitor=False):
        mark = _("[internal note] ") if line["internal"] else ""
        stamp = line["time"].strftime("%Y-%m-%d %H:%M:%S")
        body.append(f"[{stamp}] {mark}{line['name']}: {line['text']}")
        body.extend(f"    📎 {name}" for name in line["files"])
    return "\n".join(header) + "\n\n" + "\n".join(body) + "\n"


def transcript_export(*, conversation: Conversation, export_format: ExportFormat) -> str:
    """The agents' export: every message, internal notes included and marked."""
    messages = selectors.conversation_transcript_messages(
        conversation_id=conversation.pk, include_internal=True
    )
    if export_format == "json":
        return transcript_export_json(conversation, messages)
    return transcript_export_text(conversation, messages)

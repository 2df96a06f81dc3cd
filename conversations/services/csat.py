"""The visitor's satisfaction rating (CSAT) of a closed conversation.

Rules: only the visitor's own conversation, only once it is closed, a 1-5
integer and an optional comment of at most CSAT_COMMENT_MAX_LENGTH
characters. One rating per conversation: within CSAT_EDIT_WINDOW of the first
submission the visitor may change it (a mis-tap on the wrong star is common
on phones); after that it is final, so the reports never see a rating move
long after the fact.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.broadcast import broadcast_after_commit
from conversations.events import agent_csat_event
from conversations.models import Conversation, Visitor
from conversations.services.common import conversation_updated_after_commit
from helpdesk.webhooks.services import webhook_csat_emit

CSAT_COMMENT_MAX_LENGTH = 1000
CSAT_EDIT_WINDOW = timedelta(minutes=10)


class CsatRefused(Exception):
    """The rating was not saved; `code` is the protocol's error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class CsatRecorded:
    conversation: Conversation
    updated: bool  # an earlier rating of the same conversation was replaced
    editable_until: datetime


def csat_rating_check(rating: object) -> int:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise CsatRefused("invalid_rating", _("The rating must be a whole number from 1 to 5."))
    return rating


def csat_comment_check(comment: object) -> str:
    if comment is None:
        return ""
    if not isinstance(comment, str):
        raise CsatRefused("invalid_field", _("The comment must be text."))
    comment = comment.strip()
    if len(comment) > CSAT_COMMENT_MAX_LENGTH:
        raise CsatRefused(
            "too_long",
            _("The comment is limited to %(limit)d characters.")
            % {"limit": CSAT_COMMENT_MAX_LENGTH},
        )
    return comment


@transaction.atomic
def conversation_csat_submit(
    *,
    visitor: Visitor,
    conversation_id: int,
    rating: int,
    comment: str = "",
    now: datetime | None = None,
) -> CsatRecorded:
    """Save the visitor's rating of their closed conversation; raises CsatRefused."""
    rating = csat_rating_check(rating)
    comment = csat_comment_check(comment)
    now = now or timezone.now()
    conversation = (
        Conversation.objects.select_for_update().filter(pk=conversation_id, visitor=visitor).first()
    )
    if conversation is None:
        raise CsatRefused("not_found", _("No such conversation."))
    if conversation.state != Conversation.State.CLOSED:
        raise CsatRefused("not_closed", _("A conversation can be rated once it has ended."))
    first_rated = conversation.csat_submitted_at
    if first_rated is not None and now > first_rated + CSAT_EDIT_WINDOW:
        raise CsatRefused("already_rated", _("This conversation has already been rated."))
    conversation.csat_rating = rating
    conversation.csat_comment = comment
    # The edit window runs from the first submission: repeated edits cannot extend it.
    conversation.csat_submitted_at = first_rated or now
    conversation.save(update_fields=["csat_rating", "csat_comment", "csat_submitted_at"])
    webhook_csat_emit(conversation=conversation)
    broadcast_after_commit(
        conversation_id=conversation.pk,
        site_id=conversation.site_id,
        events=[agent_csat_event(conversation)],
        audience="agents",
    )
    conversation_updated_after_commit(conversation_id=conversation.pk, site_id=conversation.site_id)
    return CsatRecorded(
        conversation=conversation,
        updated=first_rated is not None,
        editable_until=conversation.csat_submitted_at + CSAT_EDIT_WINDOW,
    )

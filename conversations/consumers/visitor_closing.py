"""The visitor socket's handlers for a finished conversation: the rating (CSAT) and the
transcript by email."""

from typing import Any

from conversations import selectors, services
from conversations.consumers.frames import FrameError, csat_fields, transcript_email_fields
from conversations.events import (
    csat_ack_event,
    csat_request_event,
    error_event,
    transcript_queued_event,
)
from conversations.models import Visitor
from helpdesk.db_async import database_sync_to_async


class ClosedConversationHandlers:
    """Mixed into VisitorConsumer, whose state and helpers these methods use."""

    visitor: Visitor
    conversation_id: int | None
    rating_conversation_id: int | None

    async def _ask_rating(self, closed_id: int | None) -> None:
        """Ask for a rating of the visitor's just-closed (or, on resume, latest) conversation."""
        request = await database_sync_to_async(self._rating_request)(closed_id)
        if request is not None:
            self.rating_conversation_id = request["conversation_id"]
            await self.send_json(request)

    def _rating_request(self, closed_id: int | None):
        pending = selectors.visitor_csat_pending(visitor=self.visitor)
        if pending is None or (closed_id is not None and pending.pk != closed_id):
            return None
        # Re-read: the address may have been typed into the chat since this socket said hello.
        email = Visitor.objects.filter(pk=self.visitor.pk).values_list("email", flat=True).first()
        return csat_request_event(conversation_id=pending.pk, email=email or "")

    def _target(self, conversation_id: int | None) -> int:
        target = conversation_id or self.conversation_id or self.rating_conversation_id
        if target is None:
            raise FrameError("not_found", "No conversation to act on yet.")
        return target

    async def on_csat(self, frame: dict[str, Any]) -> None:
        conversation_id, rating, comment = csat_fields(frame)
        try:
            recorded = await database_sync_to_async(self._in_language)(
                services.conversation_csat_submit,
                conversation_id=self._target(conversation_id),
                rating=rating,
                comment=comment,
            )
        except services.CsatRefused as refused:
            raise FrameError(refused.code, refused.detail) from refused
        await self.send_json(
            csat_ack_event(recorded.conversation, editable_until=recorded.editable_until)
        )

    async def on_transcript_email(self, frame: dict[str, Any]) -> None:
        conversation_id, email = transcript_email_fields(frame)
        try:
            queued = await database_sync_to_async(self._in_language)(
                services.transcript_email_request,
                conversation_id=self._target(conversation_id),
                email=email,
            )
        except services.TranscriptRefused as refused:
            await self.send_json(
                error_event(
                    code=refused.code, detail=refused.detail, retry_after=refused.retry_after
                )
            )
            return
        await self.send_json(
            transcript_queued_event(conversation_id=queued.conversation_id, email=queued.email)
        )

"""The visitor API: what the widget's socket does, over HTTP (docs/api.md).

Thin views: validate, call the services the socket calls, answer with the
socket's JSON shapes. The event stream is an async view in visitor_sse.py.
"""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations import limits, services
from conversations.api.visitor_auth import (
    ErrorSerializer,
    RateLimited,
    VisitorAPIMixin,
    VisitorIdentity,
    error_responses,
    request_identity,
    request_site,
)
from conversations.api.visitor_selectors import (
    visitor_current_conversation,
    visitor_messages_page,
    visitor_welcome,
)
from conversations.api.visitor_serializers import (
    AttachmentSerializer,
    AttachmentUploadSerializer,
    CurrentConversationSerializer,
    HumanRequestedSerializer,
    MessageCreateSerializer,
    MessagePageSerializer,
    MessageSerializer,
    MessagesQuerySerializer,
    VisitorCreateSerializer,
    VisitorSerializer,
    VisitorSessionSerializer,
)
from conversations.api.visitor_sse import visitor_streams_follow
from conversations.events import attachment_payload, conversation_payload, message_payload
from conversations.services.attachments import attachment_size_limit, attachment_too_large

TAGS = ["visitor"]
PUBLIC_KEY = OpenApiParameter(
    "public_key", OpenApiTypes.STR, OpenApiParameter.PATH, description="The Site's public key."
)


def _client_ip(request: Request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class VisitorCreateView(VisitorAPIMixin, APIView):
    # Open to anyone who knows the site key, as the widget is; a token, if sent, must be valid.
    permission_classes: list = []

    @extend_schema(
        tags=TAGS,
        summary="Start or resume a visitor",
        description="Without `Authorization` a new visitor is created (201). With "
        "`Authorization: Bearer <visitor_token>` that visitor is resumed (200) and the "
        "fields given update it. Identity fields work as the widget's `identify`: with a "
        "valid `user_hash` the identity is verified, and a verified person seen before "
        "continues as that visitor (a new token is returned: keep it).",
        parameters=[PUBLIC_KEY],
        request=VisitorCreateSerializer,
        responses={
            201: VisitorSessionSerializer,
            200: VisitorSessionSerializer,
            **error_responses(400, 429),
        },
        auth=[{"visitorToken": []}, {}],
    )
    def post(self, request: Request, public_key: str) -> Response:
        site = request_site(request)
        # A token, when sent, was checked by the authentication (an invalid one is a 401).
        visitor = request.user.visitor if isinstance(request.user, VisitorIdentity) else None
        body = VisitorCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if visitor is None:
            verdict = limits.ip_connection_allowed(ip_address=_client_ip(request))
            if not verdict.allowed:
                raise RateLimited(
                    wait=verdict.retry_after,
                    detail=_("Too many new visitors from your network; try again shortly."),
                )
        started = services.visitor_api_start(
            site=site,
            visitor=visitor,
            details=body.validated_data,
            user_agent=request.headers.get("User-Agent", "")[:500],
            ip_address=_client_ip(request),
        )
        return Response(
            {
                "visitor_token": started.token,
                "visitor": VisitorSerializer(started.visitor).data,
            },
            status=status.HTTP_201_CREATED if started.created else status.HTTP_200_OK,
        )


class CurrentConversationView(VisitorAPIMixin, APIView):
    @extend_schema(
        tags=TAGS,
        summary="The visitor's current conversation",
        description="What the widget's `welcome` says: the open conversation (null until the "
        "first message opens one; after a close the next message opens a new one), the "
        "greeting, earlier conversations and the site's name and colour.",
        parameters=[PUBLIC_KEY],
        responses={200: CurrentConversationSerializer, **error_responses()},
    )
    def get(self, request: Request, public_key: str) -> Response:
        identity = request_identity(request)
        return Response(visitor_welcome(site=identity.site, visitor=identity.visitor))


class MessagesView(VisitorAPIMixin, APIView):
    @extend_schema(
        tags=TAGS,
        summary="Messages after an id",
        description="The visitor-visible messages (never internal notes) of the current "
        "conversation (or of `conversation`, one of this visitor's), oldest first, with an "
        "id greater than `after`.",
        parameters=[PUBLIC_KEY, MessagesQuerySerializer],
        responses={200: MessagePageSerializer, **error_responses(400)},
    )
    def get(self, request: Request, public_key: str) -> Response:
        identity = request_identity(request)
        query = MessagesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = visitor_messages_page(
            visitor=identity.visitor,
            conversation_id=query.validated_data.get("conversation"),
            after_id=query.validated_data["after"],
            limit=query.validated_data["limit"],
        )
        if page is None:
            raise exceptions.NotFound(_("No such conversation."))
        return Response(page)

    @extend_schema(
        tags=TAGS,
        summary="Send a message",
        description="Saves the message once per `client_id` (201; a retry with the same "
        "`client_id` answers 200 with the saved message and changes nothing), then routes "
        "it as the widget's messages are: sensitive-word filter, a human owner, the "
        "knowledge base (the answer is already saved when this returns), or a streamed LLM "
        "reply (watch the event stream). The first message, or the first after a close, "
        "opens a new conversation.",
        parameters=[PUBLIC_KEY],
        request=MessageCreateSerializer,
        responses={
            201: OpenApiResponse(MessageSerializer, description="Saved."),
            200: OpenApiResponse(
                MessageSerializer, description="Already saved under this client_id."
            ),
            **error_responses(400, 429),
        },
        examples=[
            OpenApiExample(
                "A question",
                value={"client_id": "c-1", "text": "How long does shipping take?"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, public_key: str) -> Response:
        identity = request_identity(request)
        body = MessageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            posted = services.visitor_api_message_post(
                visitor=identity.visitor,
                client_id=body.validated_data["client_id"],
                text=body.validated_data["text"],
                attachment_ids=body.validated_data["attachments"],
                ip_address=_client_ip(request),
            )
        except services.AttachmentRefused as refused:
            raise _refusal(refused) from refused
        if posted.message is None:
            raise RateLimited(
                wait=posted.retry_after,
                detail=_("You are sending messages too fast; nothing was saved."),
            )
        if not posted.duplicate:
            visitor_streams_follow(
                visitor_key=str(identity.visitor.anonymous_id),
                conversation_id=posted.message.conversation_id,
            )
        return Response(
            message_payload(posted.message),
            status=status.HTTP_200_OK if posted.duplicate else status.HTTP_201_CREATED,
        )


class AttachmentNotAccepted(exceptions.APIException):
    """A file (or a file id) the Site does not take: 413 when too big, else 400."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "attachment_refused"

    def __init__(self, refused: "services.AttachmentRefused") -> None:
        super().__init__(detail=refused.detail, code=refused.code)
        if refused.code == "too_large":
            self.status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


# Room for the multipart boundaries and headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024


def _refusal(refused: "services.AttachmentRefused") -> exceptions.APIException:
    if refused.code == "rate_limited":
        return RateLimited(wait=refused.retry_after, detail=refused.detail)
    return AttachmentNotAccepted(refused)


class AttachmentsView(VisitorAPIMixin, APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=TAGS,
        summary="Upload a file",
        description="Stores one file (multipart field `file`) for this visitor; send it by "
        "putting its id in a message's `attachments`. The type is detected from the content: "
        "a file whose name or content lies about its type is refused, as is any type or size "
        "the Site does not allow. Unsent uploads are deleted after a day.",
        parameters=[PUBLIC_KEY],
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={
            201: AttachmentSerializer,
            **error_responses(400, 413, 429),
            400: OpenApiResponse(
                ErrorSerializer,
                description="No file (`invalid`, with `fields`), or a file the site does not "
                "accept: `error` says why (`type_not_allowed`, `type_mismatch`, "
                "`type_forbidden`, `type_unknown`, `invalid_image`, `invalid_text`, `empty`, "
                "`attachments_disabled`, ...).",
            ),
        },
    )
    def post(self, request: Request, public_key: str) -> Response:
        identity = request_identity(request)
        # Refused before the body is read: nothing this large is stored anyway.
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > attachment_size_limit(site=identity.site) + MULTIPART_OVERHEAD:
            raise _refusal(attachment_too_large(site=identity.site))
        body = AttachmentUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            attachment = services.visitor_attachment_upload(
                visitor=identity.visitor,
                upload=body.validated_data["file"],
                ip_address=_client_ip(request),
            )
        except services.AttachmentRefused as refused:
            raise _refusal(refused) from refused
        return Response(attachment_payload(attachment), status=status.HTTP_201_CREATED)


class HumanRequestView(VisitorAPIMixin, APIView):
    @extend_schema(
        tags=TAGS,
        summary="Ask for a person",
        description='The widget\'s "Talk to a person": the open conversation waits for a '
        "human (a notice says when to expect one). Already waiting or with a human: "
        "unchanged. 404 before the first message.",
        parameters=[PUBLIC_KEY],
        request=None,
        responses={200: HumanRequestedSerializer, **error_responses()},
    )
    def post(self, request: Request, public_key: str) -> Response:
        identity = request_identity(request)
        conversation = visitor_current_conversation(visitor=identity.visitor)
        if conversation is None:
            raise exceptions.NotFound(_("Send a message first; then a person can join."))
        conversation = services.visitor_api_human_request(
            visitor=identity.visitor, conversation=conversation
        )
        return Response({"conversation": conversation_payload(conversation)})


class ConversationEventsSchema(VisitorAPIMixin, APIView):
    """Never routed: describes the async SSE view (visitor_sse.conversation_events) in the
    schema, which only lists DRF views."""

    @extend_schema(
        tags=TAGS,
        summary="Event stream (Server-Sent Events)",
        description="`text/event-stream` of the widget's socket events (`message`, "
        "`reply.start`, `reply.delta`, `reply.end`, `agent.joined`, `state`, `typing`, "
        "`csat.request`; docs/protocol.md): `event:` is the type, `data:` the socket's JSON, "
        "`id:` resumes. Reconnect with `Last-Event-ID` (or `?last_event_id=`) to get every "
        "stored message after it, then live events. `?token=` may replace the "
        "`Authorization` header (EventSource cannot send headers). A comment line every 15 s "
        "keeps the stream alive. See docs/api.md.",
        parameters=[
            PUBLIC_KEY,
            OpenApiParameter(
                "token",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                description="The visitor token, for clients that cannot set headers.",
            ),
            OpenApiParameter(
                "last_event_id",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                description="The last event id seen (as the `Last-Event-ID` header).",
            ),
            OpenApiParameter(
                "Last-Event-ID",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="The last event id seen; resumes without loss.",
            ),
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR, description="The event stream (never ends by itself)."
            ),
            **error_responses(400, 429),
        },
    )
    def get(self, request: Request, public_key: str) -> Response:
        raise exceptions.NotFound()

"""The agent API over HTTP: what the console does, for scripts and other tools.

Thin views: validate, call the same services the console's socket calls (so the
visitor and every console see the change live, after commit), answer.
"""

import uuid

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations import services
from conversations.api.agent_auth import (
    AgentAPIMixin,
    error_responses,
    request_agent,
    request_site_ids,
)
from conversations.api.agent_pagination import AgentAPIPagination
from conversations.api.agent_selectors import (
    conversation_for_api,
    conversation_messages_for_agents,
    conversations_for_api,
)
from conversations.api.agent_serializers import (
    AgentConversationDetailSerializer,
    AgentConversationListQuerySerializer,
    AgentConversationSerializer,
    AgentMessagePageSerializer,
    AgentMessageSerializer,
    AgentMessagesQuerySerializer,
    AgentReplySerializer,
)
from conversations.models import Conversation

TAGS = ["agent: conversations"]


def _visible_conversation(request: Request, conversation_id: int) -> Conversation:
    conversation = conversation_for_api(
        site_ids=request_site_ids(request), conversation_id=conversation_id
    )
    if conversation is None:
        raise exceptions.NotFound(_("No such conversation on your sites."))
    return conversation


def _detail(request: Request, conversation_id: int) -> Response:
    conversation = _visible_conversation(request, conversation_id)
    return Response(AgentConversationDetailSerializer(conversation).data)


@extend_schema(
    tags=TAGS,
    summary="List conversations",
    parameters=[AgentConversationListQuerySerializer],
    responses={200: AgentConversationSerializer(many=True), **error_responses(400)},
)
class ConversationListView(AgentAPIMixin, generics.ListAPIView):
    serializer_class = AgentConversationSerializer
    pagination_class = AgentAPIPagination

    def get_queryset(self):
        query = AgentConversationListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        return conversations_for_api(
            site_ids=request_site_ids(self.request),
            state=filters.get("state", ""),
            site_id=filters.get("site"),
            query=filters.get("q", "").strip(),
            assigned_to=request_agent(self.request) if filters.get("assigned") else None,
        )


class ConversationDetailView(AgentAPIMixin, APIView):
    @extend_schema(
        tags=TAGS,
        summary="Read a conversation",
        responses={200: AgentConversationDetailSerializer, **error_responses(404)},
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        return _detail(request, conversation_id)


class ConversationMessagesView(AgentAPIMixin, APIView):
    @extend_schema(
        tags=TAGS,
        summary="List messages (internal notes included)",
        parameters=[AgentMessagesQuerySerializer],
        responses={200: AgentMessagePageSerializer, **error_responses(400, 404)},
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        query = AgentMessagesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        conversation = _visible_conversation(request, conversation_id)
        limit = query.validated_data["limit"]
        rows = conversation_messages_for_agents(
            conversation_id=conversation.pk,
            after_id=query.validated_data["after"],
            limit=limit + 1,
        )
        page = rows[:limit]
        next_after = page[-1].pk if len(rows) > limit else None
        return Response(
            {"results": AgentMessageSerializer(page, many=True).data, "next_after": next_after}
        )

    @extend_schema(
        tags=TAGS,
        summary="Reply to the visitor, or add an internal note",
        description="A reply to a conversation the bot has or that waits for a human takes "
        "it over first, as replying in the console does. A resend with the same "
        "`client_id` answers 200 with the message already saved.",
        request=AgentReplySerializer,
        responses={
            201: OpenApiResponse(AgentMessageSerializer, description="Posted."),
            200: OpenApiResponse(
                AgentMessageSerializer, description="Already posted (same client_id)."
            ),
            **error_responses(400, 404, 409),
        },
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        reply = AgentReplySerializer(data=request.data)
        reply.is_valid(raise_exception=True)
        conversation = _visible_conversation(request, conversation_id)
        # The service deduplicates by client_id; one the caller did not give must be unique.
        client_id = reply.validated_data.get("client_id") or f"api-{uuid.uuid4().hex}"
        post = services.agent_message_send(
            conversation_id=conversation.pk,
            agent=request_agent(request),
            client_id=client_id,
            text=reply.validated_data["text"].strip(),
            internal=reply.validated_data["internal"],
        )
        return Response(
            AgentMessageSerializer(post.message).data,
            status=status.HTTP_200_OK if post.duplicate else status.HTTP_201_CREATED,
        )


def _action_schema(summary: str, description: str) -> dict:
    return {
        "tags": TAGS,
        "summary": summary,
        "description": description,
        "request": None,
        "responses": {200: AgentConversationDetailSerializer, **error_responses(404, 409)},
    }


class ConversationTakeOverView(AgentAPIMixin, APIView):
    @extend_schema(
        **_action_schema(
            "Take over",
            "bot or waiting -> human, owned by you; the bot falls silent and a reply in "
            "flight is cancelled. Taking over your own conversation again is a no-op. 409 "
            "names the owner when another agent was first.",
        )
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation = _visible_conversation(request, conversation_id)
        services.conversation_take_over(
            conversation_id=conversation.pk, agent=request_agent(request)
        )
        return _detail(request, conversation_id)


class ConversationHandBackView(AgentAPIMixin, APIView):
    @extend_schema(
        **_action_schema(
            "Hand back to the bot",
            "human -> bot: the assistant answers the visitor's next message. 409 unless a "
            "human owns the conversation.",
        )
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation = _visible_conversation(request, conversation_id)
        services.conversation_hand_back(
            conversation_id=conversation.pk, agent=request_agent(request)
        )
        return _detail(request, conversation_id)


class ConversationCloseView(AgentAPIMixin, APIView):
    @extend_schema(
        **_action_schema(
            "Close",
            "any state -> closed (the visitor is asked for a rating). Closing a closed "
            "conversation changes nothing and answers 200.",
        )
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation = _visible_conversation(request, conversation_id)
        agent = request_agent(request)
        services.conversation_close(
            conversation_id=conversation.pk, reason=f"closed by {agent.display_name}"
        )
        return _detail(request, conversation_id)

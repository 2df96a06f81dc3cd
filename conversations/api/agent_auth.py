"""Who may call the agent API (conversations and the knowledge base), and its error shape.

Authentication: `Authorization: Token <key>` (DRF's token, created in the admin or with
`manage.py api_token`) or the console's session cookie (CSRF enforced). Either way the
user must be an active staff member; they act as their Agent and see only their sites.
"""

from typing import Any

from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from conversations import selectors
from conversations.api.agent_selectors import api_site_ids
from conversations.services import TransitionRefused
from helpdesk.models import Agent


class StaffAgentPermission(BasePermission):
    """An active staff user, as their Agent (created on first use, as the console does)."""

    message = gettext_lazy("Only staff members may use the agent API.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        agent = selectors.agent_get_or_create_for_user(user=request.user)
        if agent is None:
            return False
        request.agent = agent  # type: ignore[attr-defined]
        request.site_ids = api_site_ids(agent=agent)  # type: ignore[attr-defined]
        return True


def request_agent(request: Request) -> Agent:
    return request.agent  # type: ignore[attr-defined]


def request_site_ids(request: Request) -> list[int]:
    return request.site_ids  # type: ignore[attr-defined]


class AgentErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A stable code: not_authenticated, not_found, ...")
    detail = serializers.CharField(help_text="A sentence for people.")


class AgentValidationErrorSerializer(AgentErrorSerializer):
    fields = serializers.DictField(
        help_text="Messages per field; for a list of objects (the KB sync's `entries`) an "
        "object keyed by the bad rows' indexes (from 0), each with its own field messages."
    )


class AgentConflictOwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class AgentConflictSerializer(AgentErrorSerializer):
    state = serializers.CharField(help_text="The conversation's state now.")
    owner = AgentConflictOwnerSerializer(
        allow_null=True, help_text="The agent who owns the conversation, if one does."
    )


ERROR_DESCRIPTIONS = {
    400: ("Invalid input; `fields` says what is wrong where.", AgentValidationErrorSerializer),
    401: ("No credentials, or a token that does not exist.", AgentErrorSerializer),
    403: (
        "Not a staff member, a missing permission, or a session request without the CSRF token.",
        AgentErrorSerializer,
    ),
    404: ("No such object on your sites.", AgentErrorSerializer),
    409: (
        "The conversation is not in a state this action starts from (another agent "
        "owns it, or it is closed).",
        AgentConflictSerializer,
    ),
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Schema entries for the errors an operation can answer with (401 and 403 always)."""
    wanted = sorted({401, 403, *codes})
    return {
        code: OpenApiResponse(
            response=ERROR_DESCRIPTIONS[code][1], description=ERROR_DESCRIPTIONS[code][0]
        )
        for code in wanted
    }


def agent_api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error as {error, detail} (+ fields for 400, + state/owner for 409)."""
    set_rollback()
    if isinstance(exc, TransitionRefused):
        owner = exc.owner
        return Response(
            {
                "error": "conflict",
                "detail": exc.detail,
                "state": exc.state,
                "owner": {"id": owner.pk, "name": owner.display_name} if owner else None,
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = {"error": "invalid", "detail": _("The request is not valid."), "fields": fields}
    else:
        code = exc.get_codes()
        body = {
            "error": code if isinstance(code, str) else exc.default_code,
            "detail": str(exc.detail),
        }
    return Response(body, status=exc.status_code, headers=headers)


# Token or session (CSRF enforced) auth, staff agents only, the shared error shape. (A
# comment, not a docstring: the schema would show a docstring on every operation.) The token
# comes first: DRF answers an anonymous call with 401 and the first authenticator's
# `WWW-Authenticate: Token`; with the session first it would be 403.
class AgentAPIMixin:
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [StaffAgentPermission]

    def get_exception_handler(self):
        return agent_api_exception_handler

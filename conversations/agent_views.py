"""The agent console: the page, its login, and the JSON it loads (staff only)."""

import secrets
from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from conversations import selectors, services
from conversations.interface_text import CONSOLE_TEXT, interface_text_catalogue
from helpdesk.models import Agent


def console_csp(nonce: str) -> str:
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
        "connect-src 'self' ws: wss:; img-src 'self' data:; media-src 'self' data:; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def staff_agent(view):
    """Staff login required (redirect to the console's login); the Agent is passed in."""

    @staff_member_required(login_url="agent-login")
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        agent = selectors.agent_get_or_create_for_user(user=request.user)
        return view(request, agent, *args, **kwargs)

    return wrapper


def staff_agent_or_403(view):
    """Like staff_agent, but a signed-in non-staff user is refused (403), not sent to a
    login page they cannot get past: for downloads and actions, not pages."""

    @login_required(login_url="agent-login")
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        agent = selectors.agent_get_or_create_for_user(user=request.user)
        if agent is None:
            raise PermissionDenied
        return view(request, agent, *args, **kwargs)

    return wrapper


@require_GET
@staff_agent
def console(request: HttpRequest, agent: Agent) -> HttpResponse:
    nonce = secrets.token_urlsafe(16)
    language = "zh-hans" if (request.LANGUAGE_CODE or "").startswith("zh") else "en"
    config = {
        "agent": {
            "id": agent.pk,
            "name": agent.display_name,
            "initials": agent.initials,
            "color": agent.avatar_color,
            "status": agent.status,
        },
        "wsPath": "/ws/agent/",
        "apiBase": "/agent/api/",
        "conversationsBase": "/agent/conversations/",
        "adminUrl": reverse("admin:index"),
        "logoutUrl": reverse("agent-logout"),
        "reportsUrl": reverse("agent-reports"),
        "language": language,
    }
    response = render(
        request,
        "agent/console.html",
        {
            "config": config,
            "csp_nonce": nonce,
            "ui_text": interface_text_catalogue(texts=CONSOLE_TEXT),
        },
    )
    response["Content-Security-Policy"] = console_csp(nonce)
    return response


@require_GET
@staff_agent
def api_conversations(request: HttpRequest, agent: Agent) -> JsonResponse:
    tab = request.GET.get("tab", "waiting")
    if tab not in selectors.TABS:
        return JsonResponse(
            {"error": f"tab must be one of {', '.join(selectors.TABS)}"}, status=400
        )
    rows = selectors.conversations_for_agent(
        agent=agent, tab=tab, query=request.GET.get("q", "").strip()[:200]
    )
    return JsonResponse({"conversations": rows})


@require_GET
@staff_agent
def api_conversation(request: HttpRequest, agent: Agent, conversation_id: int) -> JsonResponse:
    detail = selectors.conversation_detail_for_agent(agent=agent, conversation_id=conversation_id)
    if detail is None:
        raise Http404("No such conversation on your sites")
    return JsonResponse(detail)


@require_GET
@staff_agent
def api_agents(request: HttpRequest, agent: Agent) -> JsonResponse:
    return JsonResponse({"agents": selectors.agents_list()})


@require_GET
@staff_agent
def api_canned(request: HttpRequest, agent: Agent) -> JsonResponse:
    site = request.GET.get("site", "")
    site_id = int(site) if site.isdigit() else None
    return JsonResponse({"canned": selectors.canned_responses_for_site(site_id=site_id)})


EXPORT_TYPES = {"txt": "text/plain; charset=utf-8", "json": "application/json; charset=utf-8"}


@require_GET
@staff_agent_or_403
def conversation_export(request: HttpRequest, agent: Agent, conversation_id: int) -> HttpResponse:
    """The transcript as a download, internal notes included and marked."""
    export_format = request.GET.get("format", "txt")
    if export_format not in EXPORT_TYPES:
        return JsonResponse({"error": _("format must be txt or json")}, status=400)
    conversation = selectors.agent_can_see(agent=agent, conversation_id=conversation_id)
    if conversation is None:
        raise Http404("No such conversation on your sites")
    conversation = selectors.conversation_for_transcript(conversation_id=conversation.pk)
    body = services.transcript_export(conversation=conversation, export_format=export_format)
    response = HttpResponse(body, content_type=EXPORT_TYPES[export_format])
    filename = f"conversation-{conversation.pk}.{export_format}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@staff_agent_or_403
def conversation_transcript_email(
    request: HttpRequest, agent: Agent, conversation_id: int
) -> JsonResponse:
    """Email the transcript to the address the visitor left (CSRF-protected POST)."""
    if selectors.agent_can_see(agent=agent, conversation_id=conversation_id) is None:
        raise Http404("No such conversation on your sites")
    try:
        queued = services.transcript_email_request(conversation_id=conversation_id)
    except services.TranscriptRefused as refused:
        status = 429 if refused.code == "rate_limited" else 400
        response = JsonResponse({"error": refused.code, "detail": refused.detail}, status=status)
        if refused.retry_after:
            response["Retry-After"] = str(refused.retry_after)
        return response
    return JsonResponse({"queued": True, "email": queued.email}, status=202)

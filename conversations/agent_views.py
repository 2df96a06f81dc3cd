"""The agent console: the page, its login, and the JSON it loads (staff only)."""

import secrets
from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from conversations import selectors
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
        "adminUrl": reverse("admin:index"),
        "logoutUrl": reverse("agent-logout"),
        "reportsUrl": "",
        "language": language,
    }
    response = render(request, "agent/console.html", {"config": config, "csp_nonce": nonce})
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

"""The "ask the bot" playground: what the pipeline would do with a question, tier by tier,
and (with an LLM configured) the grounded reply it would stream."""

import logging
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse

from helpdesk.models import Site
from kb.admin.forms import PlaygroundForm
from kb.embeddings import embedder_status
from kb.filtering import sensitive_text_screen
from kb.matching import MatchResult, kb_match

logger = logging.getLogger(__name__)


def render_admin(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    return TemplateResponse(request, template, context)


def site_from_request(request: HttpRequest) -> Site:
    key = request.GET.get("site", "")
    site = Site.objects.filter(pk=int(key)).first() if key.isdigit() else None
    return site or Site.objects.order_by("id").first() or Site.objects.create(name="Default site")


def _grounding(site: Site, match: MatchResult):
    from conversations.llm import GroundingEntry

    return [
        GroundingEntry(c.entry_id, c.question, c.answer)
        for c in match.candidates
        if c.loose >= site.kb_ground_threshold
    ]


def playground_view(request: HttpRequest) -> HttpResponse:
    from conversations.llm import llm_configured

    form = PlaygroundForm(request.GET or None)
    context: dict = {"form": form, "tiers": embedder_status(), "llm": llm_configured()}
    if form.is_bound and form.is_valid():
        site: Site = form.cleaned_data["site"]
        question: str = form.cleaned_data["q"]
        screen = sensitive_text_screen(site_id=site.pk, text=question)
        context.update(site=site, question=question, screen=screen)
        if screen.action in ("block", "escalate"):
            context["decision"] = "blocked"
        else:
            match = kb_match(site=site, text=question)
            context.update(
                match=match,
                decision=match.decision,
                thresholds={"answer": site.kb_match_threshold, "ground": site.kb_ground_threshold},
                grounding=_grounding(site, match) if match.decision != "answer" else [],
            )
    context.update(
        {
            "opts": _entry_opts(),
            "title": "Knowledge-base playground",
        }
    )
    from django.contrib import admin

    context.update(admin.site.each_context(request))
    return TemplateResponse(request, "admin/kb/entry/playground.html", context)


def _entry_opts():
    from kb.models import Entry

    return Entry._meta


def playground_reply_view(request: HttpRequest) -> HttpResponse:
    """Stream, as plain text, the reply the LLM would give with this question's grounding."""
    from conversations.llm import llm_configured, prompt_messages
    from conversations.selectors import Turn

    form = PlaygroundForm(request.GET or None)
    if not form.is_valid():
        return HttpResponse("a site and a question are needed", status=400)
    if not llm_configured():
        return HttpResponse("no LLM is configured", status=409)
    site: Site = form.cleaned_data["site"]
    question: str = form.cleaned_data["q"]
    match = kb_match(site=site, text=question)
    messages = prompt_messages(
        system_prompt=site.system_prompt,
        grounding=_grounding(site, match),
        turns=[Turn(message_id=0, role="user", content=question)],
    )
    response = StreamingHttpResponse(
        _stream(site=site, messages=messages), content_type="text/plain; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _stream(*, site: Site, messages: list[dict[str, str]]) -> AsyncIterator[str]:
    from conversations.llm import llm_client

    client = llm_client(timeout=float(site.llm_timeout_seconds))
    try:
        stream = await client.chat.completions.create(
            model=site.effective_llm_model,
            messages=messages,  # type: ignore[arg-type]
            temperature=site.llm_temperature,
            max_tokens=site.llm_max_tokens,
            stream=True,
        )
        async for chunk in stream:
            piece = chunk.choices[0].delta.content if chunk.choices else None
            if piece:
                yield piece
    except Exception as exc:
        logger.warning("playground reply failed: %s", exc)
        yield f"\n[the LLM request failed: {exc}]"
    finally:
        await client.close()

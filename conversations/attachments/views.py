"""Upload (visitor, agent) and download of attachments: thin, the checks live in services."""

from urllib.parse import urlsplit

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from conversations import selectors, services
from conversations.agent_views import staff_agent_or_403
from conversations.attachments.signing import attachment_signature_valid
from conversations.events import attachment_payload
from conversations.models import Attachment, Visitor
from conversations.services.attachments import attachment_size_limit
from conversations.visitor_tokens import visitor_token_read
from helpdesk.models import Agent, Site

# Room for the multipart envelope around the file.
MULTIPART_OVERHEAD = 64 * 1024
REFUSAL_STATUS = {"too_large": 413, "rate_limited": 429, "attachments_disabled": 403}


def _error(code: str, detail: str, status: int, *, retry_after: int = 0) -> JsonResponse:
    response = JsonResponse({"error": code, "detail": detail}, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _refusal(refused: services.AttachmentRefused) -> JsonResponse:
    return _error(
        refused.code,
        refused.detail,
        REFUSAL_STATUS.get(refused.code, 400),
        retry_after=refused.retry_after,
    )


def _body_too_large(request: HttpRequest, site: Site) -> JsonResponse | None:
    """Refuse an oversized body before Django reads it (a declared length, or none)."""
    limit = attachment_size_limit(site=site)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return _error("length_required", _("The upload has no Content-Length."), 411)
    if length > limit + MULTIPART_OVERHEAD:
        return _refusal(services.AttachmentRefused("too_large", _too_large_text(limit)))
    return None


def _too_large_text(limit: int) -> str:
    return _("Files are limited to %(size)s.") % {"size": filesizeformat(limit)}


def _widget_origin_allowed(request: HttpRequest, site: Site, page_origin: str) -> bool:
    """As the visitor socket checks it: the request comes from the helpdesk's own
    widget page (or an allowed origin), for a page on one of the Site's origins."""
    origin = request.headers.get("Origin", "").rstrip("/").lower()
    allowed = {o.lower() for o in site.origin_list}
    own = bool(origin) and urlsplit(origin).netloc == request.get_host().lower()
    request_ok = own or origin in allowed
    page_ok = page_origin in allowed or (own and page_origin == origin)
    return request_ok and page_ok


def _visitor_for(site: Site, token: str) -> Visitor | None:
    claim = visitor_token_read(token=token, site_id=site.pk) if token else None
    if claim is None:
        return None
    return Visitor.objects.filter(anonymous_id=claim.anonymous_id, site=site).first()


@csrf_exempt  # authenticated by the visitor token in a header, which no other site can set
@require_POST
def visitor_upload(request: HttpRequest) -> JsonResponse:
    """`POST /widget/attachments?site=KEY&origin=PAGE_ORIGIN`, header `X-Visitor-Token`,
    multipart field `file`."""
    site = selectors.site_get_for_widget(public_key=request.GET.get("site", ""))
    if site is None:
        return _error("unknown_site", _("Unknown site."), 404)
    page_origin = request.GET.get("origin", "").rstrip("/").lower()
    if not _widget_origin_allowed(request, site, page_origin):
        return _error("forbidden", _("Uploads are not allowed from this page."), 403)
    visitor = _visitor_for(site, request.headers.get("X-Visitor-Token", ""))
    if visitor is None:
        return _error("invalid_token", _("The visitor token is missing or not valid."), 403)
    if not site.attachments_enabled:
        return _error("attachments_disabled", _("Files cannot be sent here."), 403)
    refused = _body_too_large(request, site)
    if refused is not None:
        return refused
    upload = request.FILES.get("file")
    if upload is None:
        return _error("file_required", _("Choose a file to send."), 400)
    try:
        attachment = services.visitor_attachment_upload(
            visitor=visitor, upload=upload, ip_address=request.META.get("REMOTE_ADDR")
        )
    except services.AttachmentRefused as refused:
        return _refusal(refused)
    return JsonResponse(attachment_payload(attachment), status=201)


@require_POST
@staff_agent_or_403
def agent_upload(request: HttpRequest, agent: Agent, conversation_id: int) -> JsonResponse:
    """`POST /agent/api/conversations/ID/attachments` (session + CSRF), multipart `file`."""
    conversation = selectors.agent_can_see(agent=agent, conversation_id=conversation_id)
    if conversation is None:
        raise Http404("No such conversation on your sites")
    refused = _body_too_large(request, conversation.site)
    if refused is not None:
        return refused
    upload = request.FILES.get("file")
    if upload is None:
        return _error("file_required", _("Choose a file to send."), 400)
    try:
        attachment = services.agent_attachment_upload(
            agent=agent, conversation=conversation, upload=upload
        )
    except services.AttachmentRefused as refused:
        return _refusal(refused)
    return JsonResponse(attachment_payload(attachment), status=201)


def _agent_may_see(request: HttpRequest, attachment: Attachment) -> bool:
    if attachment.conversation_id is None:
        return False
    agent = selectors.agent_get_or_create_for_user(user=request.user)
    return agent is not None and (
        selectors.agent_can_see(agent=agent, conversation_id=attachment.conversation_id) is not None
    )


@require_safe
def attachment_download(request: HttpRequest, attachment_id: int, filename: str) -> HttpResponse:
    """`GET /attachments/ID/NAME?sig=...`: for the conversation's parties only.

    The same 403 whether the file exists or not, so ids cannot be probed.
    """
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    signature = request.GET.get("sig", "")
    allowed = attachment is not None and (
        (
            bool(signature)
            and attachment_signature_valid(
                signature=signature,
                attachment_id=attachment.pk,
                conversation_id=attachment.conversation_id,
            )
        )
        or _agent_may_see(request, attachment)
    )
    if not allowed:
        response = HttpResponse(
            _("This link has expired or is not yours."),
            status=403,
            content_type="text/plain; charset=utf-8",
        )
        response["Cache-Control"] = "no-store"
        return response
    assert attachment is not None
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The file is gone") from exc
    content_type = attachment.content_type
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=not attachment.is_image,
        filename=attachment.original_name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Even opened directly, the file is a sandboxed document: no script, no same-origin.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, max-age=300"
    response["Vary"] = "Cookie"
    return response

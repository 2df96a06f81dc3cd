import secrets

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import get_language, pgettext
from django.views.decorators.http import require_GET

from conversations import selectors
from conversations.interface_text import WIDGET_TEXT, interface_text_catalogue
from helpdesk.demo import DEMO_SITE_KEY
from helpdesk.models import Site


def _site_or_404(request: HttpRequest) -> Site:
    site = selectors.site_get_for_widget(public_key=request.GET.get("site", ""))
    if site is None:
        raise Http404("Unknown site key")
    return site


@require_GET
def widget_frame(request: HttpRequest) -> HttpResponse:
    """The chat page inside the widget's iframe; only the Site's origins may frame it."""
    site = _site_or_404(request)
    nonce = secrets.token_urlsafe(16)
    config = {
        "siteKey": site.public_key,
        "name": site.name,
        "color": site.widget_color,
        "position": site.widget_position,
        "greeting": site.greeting,
        "greetingZh": site.greeting_zh,
        "wsPath": "/ws/visitor/",
        "maxLength": settings.MAX_MESSAGE_LENGTH,
    }
    ui_text = interface_text_catalogue(texts=WIDGET_TEXT)
    # The page arrives in the browser's language (Accept-Language), so no English
    # flashes before chat.js localizes; it switches if the host page says otherwise.
    ui_language = "zh" if get_language().startswith("zh") else "en"
    response = render(
        request,
        "widget/chat.html",
        {
            "site": site,
            "config": config,
            "csp_nonce": nonce,
            "ui_text": ui_text,
            "ui": ui_text[ui_language],
            "ui_language": "zh-Hans" if ui_language == "zh" else "en",
        },
    )
    ancestors = " ".join(["'self'", *site.origin_list])
    response["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        f"base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
    )
    # frame-ancestors supersedes X-Frame-Options in every current browser; the
    # header is dropped so older ones do not refuse the allowed embedders.
    response.xframe_options_exempt = True
    return response


@require_GET
def widget_config(request: HttpRequest) -> JsonResponse:
    """Launcher look for widget.js on the host page (cross-origin, for allowed origins only)."""
    site = _site_or_404(request)
    chinese = get_language().startswith("zh")
    response = JsonResponse(
        {
            "name": site.name,
            "color": site.widget_color,
            "position": site.widget_position,
            "greeting": (site.greeting_zh if chinese else "") or site.greeting,
            # In the host browser's language (LocaleMiddleware reads Accept-Language).
            "labels": {
                "chat": pgettext("widget", "Chat"),
                "open": pgettext("widget", "Open chat"),
                "unread": pgettext("widget", "{count} unread"),
            },
        }
    )
    origin = request.headers.get("Origin", "").rstrip("/")
    if origin and origin in site.origin_list:
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    return response


@require_GET
def demo_shop(request: HttpRequest) -> HttpResponse:
    """A fake shop page with the widget tag on it: the embedded demo."""
    base = f"{request.scheme}://{request.get_host()}"
    return render(
        request,
        "demo/shop.html",
        {
            "widget_base": base,
            "site_key": request.GET.get("site", DEMO_SITE_KEY),
            "origin_label": f"This page is served from {base} and embeds the helpdesk from {base}.",
        },
    )

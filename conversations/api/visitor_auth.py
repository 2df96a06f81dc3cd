"""Who may call the visitor API, from where, and its one error shape.

The visitor API has the widget's identity: the Site's public key (in the path,
`/api/v1/sites/{public_key}/...`) plus the signed visitor token the widget keeps
(`Authorization: Bearer <token>`). The token names one visitor of one site; a
token of another site, a tampered or an expired one is refused with 401.

Origins: a browser sends `Origin` on cross-origin calls, and such a call must
come from one of the Site's allowed origins (or the helpdesk's own); it then
gets CORS headers. Calls without `Origin` (a backend, a mobile app, curl) are
allowed: the token, not the origin, is the credential, and a page cannot omit
the header its browser adds.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from conversations import selectors
from conversations.models import Visitor
from conversations.visitor_tokens import visitor_token_read
from helpdesk.models import Site

CORS_ALLOW_HEADERS = "Authorization, Content-Type, Last-Event-ID"
CORS_ALLOW_METHODS = "GET, POST, OPTIONS"
CORS_MAX_AGE = "600"


@dataclass(frozen=True)
class VisitorIdentity:
    site: Site
    visitor: Visitor


class SiteNotFound(exceptions.NotFound):
    default_detail = gettext_lazy("No site has this public key.")
    default_code = "site_not_found"


class OriginNotAllowed(exceptions.PermissionDenied):
    default_detail = gettext_lazy("This origin is not one of the site's allowed origins.")
    default_code = "origin_not_allowed"


class InvalidToken(exceptions.AuthenticationFailed):
    default_detail = gettext_lazy(
        "The visitor token is not valid for this site (tampered, expired or another site's)."
    )
    default_code = "invalid_token"


class TokenRequired(exceptions.NotAuthenticated):
    default_detail = gettext_lazy(
        "Send the visitor token as `Authorization: Bearer <token>` "
        "(POST /api/v1/sites/{public_key}/visitors creates one)."
    )
    default_code = "not_authenticated"


class RateLimited(exceptions.Throttled):
    default_code = "rate_limited"


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; "" for another scheme."""
    if not authorization:
        return None
    scheme, _space, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def request_origin(headers: Any) -> str:
    return (headers.get("Origin") or "").rstrip("/").lower()


def origin_allowed(*, site: Site, origin: str, host: str) -> bool:
    """No Origin (not a browser page) or an allowed one: the Site's, or the helpdesk's own."""
    if not origin:
        return True
    if urlsplit(origin).netloc == host.lower():
        return True
    return origin in {allowed.rstrip("/").lower() for allowed in site.origin_list}


def site_for_request(*, public_key: str, origin: str, host: str) -> Site:
    site = selectors.site_get_for_widget(public_key=public_key)
    if site is None:
        raise SiteNotFound()
    if not origin_allowed(site=site, origin=origin, host=host):
        raise OriginNotAllowed()
    return site


def visitor_for_token(*, site: Site, token: str) -> Visitor:
    claim = visitor_token_read(token=token, site_id=site.pk) if token else None
    visitor = (
        Visitor.objects.filter(anonymous_id=claim.anonymous_id, site=site).first()
        if claim is not None
        else None
    )
    if visitor is None:
        raise InvalidToken()
    visitor.site = site  # the request's (cached) Site: no query when a service asks for it
    return visitor


def cors_headers_add(response: HttpResponse, *, origin: str, preflight: bool = False) -> None:
    """Let an allowed page read the answer (the origin was checked before this point)."""
    if not origin:
        return
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Expose-Headers"] = "Retry-After"
    response["Vary"] = "Origin"
    if preflight:
        response["Access-Control-Allow-Methods"] = CORS_ALLOW_METHODS
        response["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
        response["Access-Control-Max-Age"] = CORS_MAX_AGE


class VisitorTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <visitor token>` for the Site named in the path."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[VisitorIdentity, str] | None:
        token = bearer_token(request.headers.get("Authorization", ""))
        if token is None:
            return None
        site = request_site(request)
        return VisitorIdentity(site=site, visitor=visitor_for_token(site=site, token=token)), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="visitor"'


class VisitorTokenScheme(OpenApiAuthenticationExtension):
    target_class = VisitorTokenAuthentication
    name = "visitorToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The visitor token returned by `POST /api/v1/sites/{public_key}/"
            "visitors` (the widget's token works too). It is bound to that site.",
        }


class IsSiteVisitor(BasePermission):
    """A visitor of the Site in the path (the token is only ever read against that site)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        site = request_site(request)  # an unknown site or origin first: 404 / 403
        identity = request.user
        if not isinstance(identity, VisitorIdentity):
            raise TokenRequired()
        return identity.site.pk == site.pk


def request_site(request: Request) -> Site:
    """The path's Site, checked against the request's Origin once per request."""
    site = getattr(request, "_visitor_api_site", None)
    if site is None:
        public_key = request.parser_context["kwargs"].get("public_key", "")
        site = site_for_request(
            public_key=public_key,
            origin=request_origin(request.headers),
            host=request.get_host(),
        )
        request._visitor_api_site = site  # type: ignore[attr-defined]
    return site


def request_identity(request: Request) -> VisitorIdentity:
    return request.user  # type: ignore[return-value]


# --- errors ------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(
        help_text="A stable code: invalid, not_authenticated, invalid_token, site_not_found, "
        "origin_not_allowed, not_found, rate_limited, ..."
    )
    detail = serializers.CharField(help_text="A sentence for people.")


class ValidationErrorSerializer(ErrorSerializer):
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per field.",
    )


class RateLimitedSerializer(ErrorSerializer):
    retry_after = serializers.IntegerField(help_text="Seconds to wait (also `Retry-After`).")


ERROR_DESCRIPTIONS: dict[int, tuple[str, type[serializers.Serializer]]] = {
    400: ("Invalid input; `fields` says what is wrong where.", ValidationErrorSerializer),
    401: ("No visitor token, or one that is not valid for this site.", ErrorSerializer),
    403: ("The request's Origin is not one of the site's allowed origins.", ErrorSerializer),
    404: ("No site with this public key, or no such conversation.", ErrorSerializer),
    413: ("The file is larger than the site accepts.", ErrorSerializer),
    429: (
        "Too many requests from this visitor or address; nothing was saved.",
        RateLimitedSerializer,
    ),
}


def error_responses(*codes: int, authenticated: bool = True) -> dict[int, OpenApiResponse]:
    wanted = sorted({403, 404, *((401,) if authenticated else ()), *codes})
    return {
        code: OpenApiResponse(
            response=ERROR_DESCRIPTIONS[code][1], description=ERROR_DESCRIPTIONS[code][0]
        )
        for code in wanted
    }


def error_body(exc: exceptions.APIException) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return {"error": "invalid", "detail": _("The request is not valid."), "fields": fields}
    code = exc.get_codes()
    body: dict[str, Any] = {
        "error": code if isinstance(code, str) else exc.default_code,
        "detail": str(exc.detail),
    }
    if isinstance(exc, exceptions.Throttled):
        body["error"] = "rate_limited"
        body["retry_after"] = int(exc.wait or 1)
    return body


def visitor_api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error as {error, detail} (+ fields for 400, + retry_after for 429)."""
    set_rollback()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if isinstance(exc, exceptions.Throttled):
        headers["Retry-After"] = str(int(exc.wait or 1))
    return Response(error_body(exc), status=exc.status_code, headers=headers)


def json_error(exc: exceptions.APIException, *, origin: str = "") -> HttpResponse:
    """The same error shape from a plain Django view (the SSE stream)."""
    from django.http import JsonResponse

    response = JsonResponse(error_body(exc), status=exc.status_code)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response["WWW-Authenticate"] = 'Bearer realm="visitor"'
    if isinstance(exc, exceptions.Throttled):
        response["Retry-After"] = str(int(exc.wait or 1))
    cors_headers_add(response, origin=origin)
    return response


# Bearer token for the path's Site, CORS for allowed origins, the shared error shape.
# (A comment, not a docstring: the schema would show a docstring on every operation.)
class VisitorAPIMixin:
    authentication_classes = [VisitorTokenAuthentication]
    permission_classes = [IsSiteVisitor]

    def get_exception_handler(self):
        return visitor_api_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # A preflight carries no token: answer it from the origin check alone.
        if request.method != "OPTIONS":
            super().initial(request, *args, **kwargs)  # type: ignore[misc]
        else:
            request_site(request)

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(status=status.HTTP_204_NO_CONTENT)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        site = getattr(request, "_visitor_api_site", None)
        origin = request_origin(request.headers)
        if site is not None and origin:
            cors_headers_add(response, origin=origin, preflight=request.method == "OPTIONS")
        return response

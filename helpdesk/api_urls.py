"""Every HTTP API route: /api/schema/ (OpenAPI 3), /api/docs/ (Swagger UI), /api/v1/..."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("v1/", include("conversations.api.visitor_urls")),
    path("v1/agent/", include("conversations.api.agent_urls")),
    path("v1/kb/", include("kb.api_urls")),
]

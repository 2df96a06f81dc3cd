from django.contrib import admin
from django.urls import include, path

from helpdesk import metrics, views

admin.site.site_header = "Helpdesk administration"
admin.site.site_title = "Helpdesk"
admin.site.index_title = "Sites, agents, knowledge base and conversations"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include("helpdesk.api_urls")),
    path("", include("conversations.urls")),
]

from django.urls import path

from conversations.reports import views

urlpatterns = [
    path("agent/reports/", views.reports, name="agent-reports"),
    path("agent/reports/export.csv", views.reports_export, name="agent-reports-export"),
]

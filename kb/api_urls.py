"""API routes (helpdesk/api_urls.py mounts them under /api/v1/kb/)."""

from django.urls import path

from kb import api

urlpatterns = [
    path("entries", api.EntryListView.as_view(), name="api-kb-entries"),
    path("entries/sync", api.EntrySyncView.as_view(), name="api-kb-entries-sync"),
    path("entries/<int:entry_id>", api.EntryDetailView.as_view(), name="api-kb-entry"),
]

"""API routes (helpdesk/api_urls.py mounts them under /api/v1/): the visitor API."""

from django.urls import path

from conversations.api import visitor_sse, visitor_views

SITE = "sites/<str:public_key>/"

urlpatterns = [
    path(f"{SITE}visitors", visitor_views.VisitorCreateView.as_view(), name="api-visitors"),
    path(
        f"{SITE}conversation",
        visitor_views.CurrentConversationView.as_view(),
        name="api-visitor-conversation",
    ),
    path(
        f"{SITE}conversation/messages",
        visitor_views.MessagesView.as_view(),
        name="api-visitor-messages",
    ),
    path(
        f"{SITE}attachments",
        visitor_views.AttachmentsView.as_view(),
        name="api-visitor-attachments",
    ),
    path(
        f"{SITE}conversation/human",
        visitor_views.HumanRequestView.as_view(),
        name="api-visitor-human",
    ),
    path(
        f"{SITE}conversation/events",
        visitor_sse.conversation_events,
        name="api-visitor-events",
    ),
    # The same route again, for the schema only: requests match the async view above;
    # drf-spectacular lists DRF views, so this stub describes the stream.
    path(
        f"{SITE}conversation/events",
        visitor_views.ConversationEventsSchema.as_view(),
        name="api-visitor-events-schema",
    ),
]

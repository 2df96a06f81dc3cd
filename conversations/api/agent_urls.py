"""API routes (helpdesk/api_urls.py mounts them under /api/v1/agent/)."""

from django.urls import path

from conversations.api import agent_views

urlpatterns = [
    path(
        "conversations", agent_views.ConversationListView.as_view(), name="api-agent-conversations"
    ),
    path(
        "conversations/<int:conversation_id>",
        agent_views.ConversationDetailView.as_view(),
        name="api-agent-conversation",
    ),
    path(
        "conversations/<int:conversation_id>/messages",
        agent_views.ConversationMessagesView.as_view(),
        name="api-agent-conversation-messages",
    ),
    path(
        "conversations/<int:conversation_id>/take-over",
        agent_views.ConversationTakeOverView.as_view(),
        name="api-agent-conversation-take-over",
    ),
    path(
        "conversations/<int:conversation_id>/hand-back",
        agent_views.ConversationHandBackView.as_view(),
        name="api-agent-conversation-hand-back",
    ),
    path(
        "conversations/<int:conversation_id>/close",
        agent_views.ConversationCloseView.as_view(),
        name="api-agent-conversation-close",
    ),
]

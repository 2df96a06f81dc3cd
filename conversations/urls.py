from django.contrib.auth import views as auth_views
from django.urls import include, path

from conversations import agent_views, views

urlpatterns = [
    path("", views.demo_shop, name="demo-shop"),
    path("widget/", views.widget_frame, name="widget-frame"),
    path("widget/config.json", views.widget_config, name="widget-config"),
    path("agent/", agent_views.console, name="agent-console"),
    path(
        "agent/login/",
        auth_views.LoginView.as_view(template_name="registration/login.html"),
        name="agent-login",
    ),
    path(
        "agent/logout/", auth_views.LogoutView.as_view(next_page="agent-login"), name="agent-logout"
    ),
    path("agent/api/conversations/", agent_views.api_conversations, name="agent-api-conversations"),
    path(
        "agent/api/conversations/<int:conversation_id>/",
        agent_views.api_conversation,
        name="agent-api-conversation",
    ),
    path(
        "agent/conversations/<int:conversation_id>/export",
        agent_views.conversation_export,
        name="agent-conversation-export",
    ),
    path(
        "agent/conversations/<int:conversation_id>/transcript/email",
        agent_views.conversation_transcript_email,
        name="agent-conversation-transcript-email",
    ),
    path("agent/api/agents/", agent_views.api_agents, name="agent-api-agents"),
    path("agent/api/canned/", agent_views.api_canned, name="agent-api-canned"),
    path("", include("conversations.reports.urls")),
    path("", include("conversations.attachments.urls")),
]

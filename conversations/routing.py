from django.urls import re_path

from conversations.consumers import AgentConsumer, VisitorConsumer

# Paths are relative to the prefixes in helpdesk.routing.
visitor_websocket_urlpatterns = [re_path(r"^$", VisitorConsumer.as_asgi())]
agent_websocket_urlpatterns = [re_path(r"^$", AgentConsumer.as_asgi())]

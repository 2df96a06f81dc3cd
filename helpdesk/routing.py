"""The WebSocket URL map of every app, each behind the origin check it needs."""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from conversations.routing import agent_websocket_urlpatterns, visitor_websocket_urlpatterns


def websocket_router() -> URLRouter:
    return URLRouter(
        [
            # Visitor sockets come from customers' pages: the consumer checks the
            # origin against the Site's allowed origins (they live in the database).
            re_path(r"^ws/visitor/", URLRouter(visitor_websocket_urlpatterns)),
            # Agent sockets only come from the helpdesk's own console pages.
            re_path(
                r"^ws/agent/",
                AllowedHostsOriginValidator(
                    AuthMiddlewareStack(URLRouter(agent_websocket_urlpatterns))
                ),
            ),
        ]
    )

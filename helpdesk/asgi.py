"""ASGI entry point: HTTP to Django, WebSockets to the apps' consumers.

Visitor sockets come from third-party pages, so their origin is checked per
Site inside the consumer (the allowed list lives in the database); agent
sockets only ever come from the helpdesk's own pages, so they pass through
AllowedHostsOriginValidator and the session auth middleware.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings.production")

# Django must be set up before the consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from helpdesk.graceful_shutdown import daphne_drain_install  # noqa: E402
from helpdesk.routing import websocket_router  # noqa: E402
from helpdesk.runtime_tuning import gc_tune  # noqa: E402
from helpdesk.settings_reload import daphne_sighup_install  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_router(),
    }
)

daphne_drain_install()
daphne_sighup_install()
gc_tune()

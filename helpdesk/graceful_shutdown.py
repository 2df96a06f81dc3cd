"""SIGTERM without losing a reply: drain the LLM replies this web process streams.

Daphne runs on Twisted's asyncio reactor. On SIGTERM the reactor fires its
"before shutdown" triggers and waits for the Deferreds they return before it
stops the loop, so a trigger can still await coroutines on the same loop.
Daphne's own trigger cancels the connection handlers at the same time (the
sockets close and the widgets reconnect to another web process, where the
replay shows whatever this process finishes or hands over).
"""

import asyncio
import logging
import sys

from django.conf import settings

logger = logging.getLogger(__name__)


def daphne_drain_install() -> bool:
    """Register the drain with daphne's reactor; False when not running under daphne."""
    if "daphne.server" not in sys.modules:
        return False
    from twisted.internet import reactor

    reactor.addSystemEventTrigger("before", "shutdown", _drain_deferred)
    return True


def _drain_deferred():
    from twisted.internet import defer

    from conversations.dispatch import inline_replies_drain

    future = asyncio.ensure_future(
        inline_replies_drain(grace_seconds=settings.SHUTDOWN_GRACE_SECONDS)
    )
    deferred = defer.Deferred.fromFuture(future)
    # A failed drain must not keep the process from exiting.
    deferred.addErrback(lambda failure: logger.error("shutdown drain failed: %s", failure))
    return deferred

"""What both sockets share: decode a frame, dispatch it by type, and turn every
refusal or failure into one `error` event on a socket that stays open."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError

from conversations.consumers.frames import FrameError, frame_decode
from conversations.events import error_event

logger = logging.getLogger(__name__)

UNAVAILABLE_RETRY_SECONDS = 5

Handler = Callable[[Any, dict[str, Any]], Awaitable[None]]


class FrameConsumer(AsyncJsonWebsocketConsumer):
    HANDLERS: ClassVar[dict[str, Handler]] = {}

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels (4.2+) runs close_old_connections in its shared sync thread before
        # every handler: a thread round trip for every event a socket is sent, and an
        # agent console is sent thousands a minute. These consumers reach the ORM only
        # through helpdesk.db_async, whose calls close stale connections themselves.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    def check_frame(self, frame: dict[str, Any]) -> None:
        """Refuse a well-formed frame the socket is not ready for (raise FrameError)."""

    def error_for(self, error: FrameError, frame: dict[str, Any]) -> dict[str, Any]:
        return dict(error_event(code=error.code, detail=error.detail, client_id=error.client_id))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame: dict[str, Any] = {}
        try:
            frame = frame_decode(text_data, bytes_data)
            handler = self.HANDLERS.get(frame["type"])
            if handler is None:
                raise FrameError("unknown_type", f"Unknown frame type {frame['type'][:40]!r}.")
            self.check_frame(frame)
            await handler(self, frame)
        except FrameError as error:
            await self.send_json(self.error_for(error, frame))
        except (RedisError, ConnectionError, OSError):
            # Redis (cache, channel layer) is down: nothing of this frame was kept, and
            # the client is told so for this very message, to send it again shortly.
            logger.warning("%s frame refused: a dependency is unavailable", type(self).__name__)
            client_id = frame.get("client_id")
            await self.send_json(
                error_event(
                    code="unavailable",
                    detail="The service is briefly unavailable; it will be sent again.",
                    client_id=client_id if isinstance(client_id, str) else None,
                    retry_after=UNAVAILABLE_RETRY_SECONDS,
                )
            )
        except Exception:
            logger.exception("%s frame failed", type(self).__name__)
            await self.send_json(
                error_event(code="server_error", detail="Something went wrong; try again.")
            )

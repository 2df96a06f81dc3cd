"""A real HTTP server speaking the OpenAI chat-completions API, for tests and local development.

No LLM runs on development or CI machines, so this server stands in for one: it streams a
configurable reply (Server-Sent Events exactly as the ``openai`` SDK expects them), records
every request, and can misbehave on demand (HTTP errors, stalls, malformed events, dropped
connections) so timeouts and error handling can be tested against real sockets.
"""

from __future__ import annotations

import contextlib
import copy
import socket
import threading
from typing import Any, Self

from .config import FakeLLMConfig, updated_config
from .handler import FakeHTTPServer, SharedState


class FakeLLMServer:
    """Serve the fake OpenAI API from a daemon thread.

    >>> with FakeLLMServer() as server:
    ...     client = OpenAI(base_url=server.base_url, api_key="test")

    The given config is copied; change it with ``configure()`` (or ``POST /_config``).
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, config: FakeLLMConfig | None = None
    ) -> None:
        self._host = host
        self._port = port
        initial = copy.copy(config) if config is not None else FakeLLMConfig()
        self._state = SharedState(initial)
        self._httpd: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Bind and serve in a daemon thread; a restart reuses the port first bound."""
        if self._httpd is not None:
            raise RuntimeError("FakeLLMServer is already running")
        self._state.stopping.clear()
        self._httpd = FakeHTTPServer((self._host, self._port), self._state)
        self._port = self._httpd.server_port
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"fake-llm-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake stalled handlers and drop open connections."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._state.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._state.lock:
            connections = list(self._state.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self if self._httpd is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """Root URL, where the ``/_requests`` and ``/_config`` control endpoints live."""
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host  # noqa: S104 - comparison, not a bind
        return f"http://{host}:{self._port}"

    @property
    def base_url(self) -> str:
        """What to pass as ``base_url`` to ``OpenAI``/``AsyncOpenAI``."""
        return f"{self.url}/v1"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def config(self) -> FakeLLMConfig:
        with self._state.lock:
            return copy.copy(self._state.config)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Copies of the recorded API requests: method, path, headers, body, received_at."""
        with self._state.lock:
            return copy.deepcopy(self._state.records)

    def clear_requests(self) -> None:
        with self._state.lock:
            self._state.records.clear()

    def configure(self, **fields: Any) -> FakeLLMConfig:
        """Change config fields for subsequent requests; raises ConfigError if invalid."""
        with self._state.lock:
            self._state.config = updated_config(self._state.config, fields)
            return copy.copy(self._state.config)

    def reset_config(self) -> FakeLLMConfig:
        """Go back to the config the server was created with."""
        with self._state.lock:
            self._state.config = self._state.initial_config
            return copy.copy(self._state.config)

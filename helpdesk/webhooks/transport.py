"""One HTTP POST to a webhook endpoint, with the limits a hostile receiver cannot stretch.

Built on httpcore2, the transport layer under httpx2 (which the openai client
already brings, so nothing new is installed), because it lets us supply the
network backend: the address check happens on the address actually connected
to, after DNS, which closes the DNS-rebinding hole a check-then-connect client
leaves open; and one deadline bounds connect + TLS + send + response, which
httpx's per-phase timeouts cannot (a receiver dripping one byte every few
seconds would keep a worker busy forever). Redirects are never followed (a 3xx
is a failed delivery, as with GitHub and Stripe), proxies from the environment
are not used, and only the first 1 KB of the response body is read.
"""

import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore2

from helpdesk.webhooks.url_policy import address_is_allowed

CONNECT_TIMEOUT_SECONDS = 5.0
TOTAL_TIMEOUT_SECONDS = 10.0
RESPONSE_EXCERPT_BYTES = 1024


class AddressRefused(httpcore2.ConnectError):
    """The endpoint's host is (or resolves to) an address webhooks may not reach."""


@dataclass(frozen=True)
class PostOutcome:
    status: int | None
    body_excerpt: str
    error: str
    duration_ms: int
    # Refused before anything was sent (scheme or address policy): retrying cannot help.
    refused: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def webhook_post(*, url: str, body: bytes, headers: dict[str, str]) -> PostOutcome:
    """POST `body` to `url`; never raises for anything the network or the receiver does."""
    started = time.monotonic()
    deadline = started + TOTAL_TIMEOUT_SECONDS

    def outcome(**fields: Any) -> PostOutcome:
        elapsed_ms = int((time.monotonic() - started) * 1000)
        return PostOutcome(
            **{"status": None, "body_excerpt": "", "error": "", **fields}, duration_ms=elapsed_ms
        )

    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return outcome(error="refused: only http and https URLs are delivered", refused=True)
    pool = httpcore2.ConnectionPool(network_backend=_GuardedBackend(deadline=deadline), retries=0)
    try:
        with (
            pool,
            pool.stream(
                "POST",
                url,
                headers=list(headers.items()),
                content=body,
                extensions={
                    "timeout": {
                        "connect": CONNECT_TIMEOUT_SECONDS,
                        "read": TOTAL_TIMEOUT_SECONDS,
                        "write": TOTAL_TIMEOUT_SECONDS,
                        "pool": CONNECT_TIMEOUT_SECONDS,
                    }
                },
            ) as response,
        ):
            excerpt = _read_excerpt(response.iter_stream())
            return outcome(status=response.status, body_excerpt=excerpt)
    except AddressRefused as exc:
        return outcome(error=f"refused: {exc}", refused=True)
    except httpcore2.TimeoutException as exc:
        return outcome(error=f"timeout: {exc or type(exc).__name__}")
    except (httpcore2.NetworkError, httpcore2.ProtocolError, httpcore2.UnsupportedProtocol) as exc:
        return outcome(error=f"{type(exc).__name__}: {exc}")
    except (OSError, ValueError) as exc:
        return outcome(error=f"{type(exc).__name__}: {exc}")


def _read_excerpt(chunks: Iterable[bytes]) -> str:
    received = b""
    for chunk in chunks:
        received += chunk
        if len(received) >= RESPONSE_EXCERPT_BYTES:
            break
    return received[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")


class _GuardedBackend(httpcore2.NetworkBackend):
    """Resolves the host itself, refuses forbidden addresses, connects to a checked one."""

    def __init__(self, *, deadline: float) -> None:
        self._inner = httpcore2.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore2.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        # One forbidden address refuses the host: connecting to "the public
        # one" would let a name that mixes both pick its target by timing.
        forbidden = [address for address in addresses if not address_is_allowed(address)]
        if forbidden:
            raise AddressRefused(f"{host} resolves to non-public address {forbidden[0]}")
        last_error: Exception = httpcore2.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    timeout=_capped(timeout, self._deadline, httpcore2.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last_error = exc
                continue
            return _DeadlineStream(stream, deadline=self._deadline)
        raise last_error

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.NetworkStream:
        raise AddressRefused("unix sockets are not webhook endpoints")


class _DeadlineStream(httpcore2.NetworkStream):
    """Caps every read and write at what is left of the delivery's total time."""

    def __init__(self, inner: httpcore2.NetworkStream, *, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _capped(timeout, self._deadline, httpcore2.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _capped(timeout, self._deadline, httpcore2.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _capped(timeout, self._deadline, httpcore2.ConnectTimeout)
        )
        return _DeadlineStream(inner, deadline=self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _capped(timeout: float | None, deadline: float, error: type[Exception]) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise error(f"no response within {TOTAL_TIMEOUT_SECONDS:g} s")
    return remaining if timeout is None else min(timeout, remaining)

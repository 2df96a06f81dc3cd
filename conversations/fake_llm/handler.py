"""HTTP request handling for the fake LLM server: routing, API responses and fault modes."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .completion import Completion
from .config import (
    ConfigError,
    FakeLLMConfig,
    apply_markers,
    last_user_text,
    reply_paced,
    updated_config,
)
from .text import (
    EMBEDDING_DIMENSIONS,
    count_prompt_tokens,
    count_words,
    echo_transcript,
    embed,
    embedding_inputs,
    encode_base64,
    split_reply,
)

logger = logging.getLogger(__name__)

# How many content pieces go out before a mid-stream fault kicks in.
_FAULT_AFTER = {"stall_mid_stream": 3, "malformed": 2, "disconnect": 2}

# Draws each reply's pace when the config gives a range (tokens_per_second_max).
_pace_rng = random.Random()


class _Aborted(Exception):
    """The server is stopping while this request waits; drop the connection."""


class SharedState:
    """Everything the request handlers share with the FakeLLMServer that owns them."""

    def __init__(self, config: FakeLLMConfig) -> None:
        self.lock = threading.Lock()
        self.initial_config = config
        self.config = config
        self.records: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Hundreds of clients may connect at once; the default backlog of 5 would drop SYNs
    # and turn a load test into a test of TCP retransmission timers.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], state: SharedState) -> None:
        self.state = state
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can hang for
        # seconds on machines without DNS; nothing here needs the name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Tracked so stop() can wake handlers blocked reading an idle keep-alive socket.
        with self.state.lock:
            self.state.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.state.lock:
            self.state.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # clients hanging up mid-stream is routine for a fault-injection server
        logger.exception("Fake LLM: unexpected error serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so streams use chunked encoding: a dropped connection is then detectable
    # by the client (incomplete body) instead of looking like a normal end of stream.
    protocol_version = "HTTP/1.1"
    server_version = "FakeLLM/1.0"
    server: FakeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    @property
    def _state(self) -> SharedState:
        return self.server.state

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        try:
            raw = self._read_body()
            try:
                body, bad_json = (json.loads(raw) if raw else None), False
            except (ValueError, UnicodeDecodeError):
                body, bad_json = None, True
            if not path.startswith("/_"):
                self._record(method, body)
            route = _ROUTES.get((method, path))
            if route is None:
                status = 405 if any(p == path for _, p in _ROUTES) else 404
                self._send_error(status, f"No route for {method} {path}", "invalid_request_error")
            elif bad_json:
                self._send_error(400, "The body is not valid JSON.", "invalid_request_error")
            else:
                route(self, body)
        except (_Aborted, ConnectionError, TimeoutError):
            self._hang_up()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():
                pass  # trailers
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _record(self, method: str, body: Any) -> None:
        entry = {
            "method": method,
            "path": self.path,
            "headers": {key.lower(): value for key, value in self.headers.items()},
            "body": body,
            "received_at": time.time(),
        }
        with self._state.lock:
            self._state.records.append(entry)

    # -- low-level output ------------------------------------------------------------

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(
        self,
        status: int,
        message: str,
        error_type: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        error = {"message": message, "type": error_type, "param": None, "code": code}
        self._send_json(status, {"error": error}, headers)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, payload: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _pause(self, seconds: float) -> None:
        # Waiting on the stop event (not time.sleep) lets stop() end stalls at once.
        if seconds > 0 and self._state.stopping.wait(seconds):
            raise _Aborted

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- control endpoints ----------------------------------------------------------

    def _get_requests(self, body: Any) -> None:
        with self._state.lock:
            records = list(self._state.records)
        self._send_json(200, records)

    def _delete_requests(self, body: Any) -> None:
        with self._state.lock:
            cleared = len(self._state.records)
            self._state.records.clear()
        self._send_json(200, {"cleared": cleared})

    def _get_config(self, body: Any) -> None:
        with self._state.lock:
            config = self._state.config
        self._send_json(200, config.as_dict())

    def _post_config(self, body: Any) -> None:
        if not isinstance(body, dict):
            self._send_error(400, "Send a JSON object of config fields.", "invalid_request_error")
            return
        try:
            with self._state.lock:
                self._state.config = updated_config(self._state.config, body)
                config = self._state.config
        except ConfigError as exc:
            self._send_error(400, str(exc), "invalid_request_error")
            return
        self._send_json(200, config.as_dict())

    def _delete_config(self, body: Any) -> None:
        with self._state.lock:
            self._state.config = config = self._state.initial_config
        self._send_json(200, config.as_dict())

    # -- OpenAI API -----------------------------------------------------------------

    def _models(self, body: Any) -> None:
        with self._state.lock:
            model = self._state.config.model
        entry = {"id": model, "object": "model", "created": 0, "owned_by": "fake-llm"}
        self._send_json(200, {"object": "list", "data": [entry]})

    def _embeddings(self, body: Any) -> None:
        try:
            texts = embedding_inputs(body.get("input") if isinstance(body, dict) else None)
            dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS)
            if dimensions < 1:
                raise ValueError
        except (TypeError, ValueError) as exc:
            message = str(exc) or "'dimensions' must be a positive integer."
            self._send_error(400, message, "invalid_request_error")
            return
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embed(text, dimensions)
            embedding = encode_base64(vector) if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(count_words(text) for text in texts)
        with self._state.lock:
            default_model = self._state.config.model
        payload = {
            "object": "list",
            "data": data,
            "model": str(body.get("model") or default_model),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        self._send_json(200, payload)

    def _chat_completions(self, body: Any) -> None:
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list):
            self._send_error(400, "'messages' must be a list.", "invalid_request_error")
            return
        with self._state.lock:
            base_config = self._state.config
        config = reply_paced(apply_markers(base_config, last_user_text(messages)), _pace_rng)
        stream = bool(body.get("stream"))
        logger.info("chat completion: mode=%s stream=%s", config.mode, stream)
        if config.mode == "http_500":
            message = "The fake LLM server was told to fail (mode http_500)."
            self._send_error(500, message, "server_error")
            return
        if config.mode == "http_429":
            message = "Rate limit reached (fake LLM server, mode http_429)."
            self._send_error(429, message, "requests", "rate_limit_exceeded", {"Retry-After": "1"})
            return
        reply = echo_transcript(messages) if config.mode == "echo" else config.reply
        stream_options = body.get("stream_options")
        completion = Completion(
            pieces=split_reply(reply, config.chunk_count),
            model=str(body.get("model") or config.model),
            prompt_tokens=count_prompt_tokens(messages),
            include_usage=(
                stream
                and isinstance(stream_options, dict)
                and bool(stream_options.get("include_usage"))
            ),
        )
        if stream:
            self._stream(config, completion)
        else:
            self._complete(config, completion)

    def _complete(self, config: FakeLLMConfig, completion: Completion) -> None:
        if config.mode in ("stall_before_first_token", "stall_mid_stream"):
            self._pause(config.stall_seconds)
        self._pause(config.ttft)
        self._pause(max(0, len(completion.pieces) - 1) * _interval(config))
        if config.mode == "disconnect":
            self._hang_up()
        elif config.mode == "malformed":
            data = b'{"id": "chatcmpl-broken", "choices": [{not json'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self._send_json(200, completion.full())

    def _stream(self, config: FakeLLMConfig, completion: Completion) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Request-Id", completion.id)
        self.end_headers()
        self.wfile.flush()
        mode = config.mode
        if mode == "stall_before_first_token":
            self._pause(config.stall_seconds)
        self._pause(config.ttft)
        self._event(completion.chunk({"role": "assistant", "content": ""}))
        pieces = completion.pieces
        fault_at = min(_FAULT_AFTER[mode], len(pieces)) if mode in _FAULT_AFTER else None
        for index in range(len(pieces) + 1):
            if index == fault_at:
                if mode == "stall_mid_stream":
                    self._pause(config.stall_seconds)
                elif mode == "malformed":
                    self._write_chunk(b"data: {not json\n\n")
                    self._end_chunks()
                    self.close_connection = True
                    return
                else:  # disconnect: no [DONE], no end of the chunked body
                    self._hang_up()
                    return
            if index == len(pieces):
                break
            if index:
                self._pause(_interval(config))
            # stamp: each piece is its own send time (epoch seconds), so a load
            # generator on this machine can tell how long the rest of the path took.
            piece = f"{time.time():.6f} " if mode == "stamp" else pieces[index]
            self._event(completion.chunk({"content": piece}))
        self._event(completion.chunk({}, finish_reason="stop"))
        if completion.include_usage:
            self._event(completion.usage_chunk())
        self._write_chunk(b"data: [DONE]\n\n")
        self._end_chunks()


def _interval(config: FakeLLMConfig) -> float:
    return 1.0 / config.tokens_per_second if config.tokens_per_second > 0 else 0.0


_Route = Callable[[_Handler, Any], None]
_ROUTES: dict[tuple[str, str], _Route] = {
    ("GET", "/_requests"): _Handler._get_requests,
    ("DELETE", "/_requests"): _Handler._delete_requests,
    ("GET", "/_config"): _Handler._get_config,
    ("POST", "/_config"): _Handler._post_config,
    ("DELETE", "/_config"): _Handler._delete_config,
    ("GET", "/v1/models"): _Handler._models,
    ("GET", "/models"): _Handler._models,
    ("POST", "/v1/chat/completions"): _Handler._chat_completions,
    ("POST", "/chat/completions"): _Handler._chat_completions,
    ("POST", "/v1/embeddings"): _Handler._embeddings,
    ("POST", "/embeddings"): _Handler._embeddings,
}

"""The visitor API's tests' real parts: daphne on the test database and Redis, an HTTP
JSON client and a blocking Server-Sent Events client (http.client: chunked, no extras)."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.protocol import assert_event

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DaphneOnTestDatabase:
    """`daphne helpdesk.asgi:application` with the test settings, database and Redis prefix."""

    def __init__(self, log: Path, **env: str) -> None:
        from django.db import connection

        self.port = free_port()
        self.log = log
        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings.test",
            "DATABASE_URL": f"{base}/{connection.settings_dict['NAME']}",
            "HELPDESK_LLM_RUNNER": "celery",
            "KB_EMBEDDINGS": "off",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> "DaphneOnTestDatabase":
        command = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "helpdesk.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail("daphne did not start:\n" + self.log.read_text(errors="replace"))
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))


@pytest.fixture(scope="module", name="daphne")
def daphne_fixture(
    django_db_setup, django_db_blocker, tmp_path_factory
) -> Iterator[DaphneOnTestDatabase]:
    # Many streams per visitor in the thread test; the cap itself is tested with a low one.
    server = DaphneOnTestDatabase(
        tmp_path_factory.mktemp("daphne") / "daphne.log", VISITOR_MAX_SOCKETS="200"
    )
    with django_db_blocker.unblock():
        server.start()
    yield server
    server.stop()


@dataclass
class Answer:
    status: int
    body: dict
    headers: dict = field(default_factory=dict)


def call(
    base: str,
    method: str,
    path: str,
    body: dict | bytes | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            raw = response.read()
            return Answer(response.status, json.loads(raw) if raw else {}, dict(response.headers))
    except urllib.error.HTTPError as error:
        raw = error.read()
        return Answer(error.code, json.loads(raw) if raw else {}, dict(error.headers))


@dataclass
class Event:
    id: str
    type: str
    data: dict


class SSEClient:
    """One EventSource-like stream; every event is checked against the socket protocol."""

    def __init__(
        self,
        base: str,
        path: str,
        *,
        token: str | None = None,
        last_event_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
        sent = {"Accept": "text/event-stream", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if last_event_id:
            sent["Last-Event-ID"] = last_event_id
        self.connection.request("GET", path, headers=sent)
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.events: list[Event] = []
        self.comments: list[str] = []

    def body(self) -> dict:
        return json.loads(self.response.read())

    def next(self, timeout: float = 10) -> Event:
        assert self.connection.sock is not None
        self.connection.sock.settimeout(timeout)
        fields: dict[str, str] = {}
        data: list[str] = []
        while True:
            line = self.response.readline().decode()
            if line == "":
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if not line:
                if data:
                    event = Event(
                        id=fields.get("id", ""), type=fields.get("event", "message"),
                        data=json.loads("\n".join(data)),
                    )  # fmt: skip
                    assert event.type == event.data["type"]
                    assert_event(event.data)
                    self.events.append(event)
                    return event
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                fields[name] = value

    def until(self, predicate, timeout: float = 15) -> list[Event]:
        """Every event up to and including the first that satisfies predicate."""
        deadline = time.monotonic() + timeout
        seen: list[Event] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching event; saw {[e.data for e in seen]}")
            event = self.next(timeout=remaining)
            seen.append(event)
            if predicate(event):
                return seen

    def quiet(self, seconds: float) -> list[Event]:
        """Everything that arrives within `seconds` (nothing, ideally)."""
        got: list[Event] = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                got.append(self.next(timeout=remaining))
            except TimeoutError:
                break
        return got

    def close(self) -> None:
        self.connection.close()


def is_type(kind: str, **fields):
    def predicate(event: Event) -> bool:
        return event.type == kind and all(event.data.get(k) == v for k, v in fields.items())

    return predicate


def is_message_from(author: str):
    return lambda e: e.type == "message" and e.data["message"]["author"] == author

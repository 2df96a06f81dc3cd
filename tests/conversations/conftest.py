import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
from channels.testing import WebsocketCommunicator

from conversations.fake_llm import FakeLLMServer
from helpdesk.asgi import application
from tests.factories import AgentFactory, EntryFactory, SiteFactory
from tests.protocol import assert_event

ORIGIN = "http://shop.test"
_client_ids = itertools.count(1)


# The shop and its two agents of the agent-socket tests (a file may define its own).
@pytest.fixture
def site(transactional_db):
    site = SiteFactory(allowed_origins="http://shop.test")
    EntryFactory(site=site, question="How long does shipping take?", answer="3-5 business days.")
    return site


@pytest.fixture
def alice(site):
    agent = AgentFactory(display_name="Alice Agent")
    agent.sites.add(site)
    return agent


@pytest.fixture
def bob(site):
    agent = AgentFactory(display_name="Bob Agent")
    agent.sites.add(site)
    return agent


@pytest.fixture
def fake_llm(settings):
    with FakeLLMServer() as server:
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = "test-key"
        yield server


@pytest.fixture
def no_llm(settings):
    settings.OPENAI_BASE_URL = None
    settings.OPENAI_API_KEY = ""


class VisitorClient:
    """A real WebSocket client of the visitor consumer that validates every event it receives."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.received: list[dict] = []

    async def send(self, frame: dict) -> None:
        await self.communicator.send_json_to(frame)

    async def receive(self, timeout: float = 5) -> dict:
        event = assert_event(await self.communicator.receive_json_from(timeout=timeout))
        self.received.append(event)
        return event

    async def receive_until(self, predicate, timeout: float = 10) -> list[dict]:
        """Every event up to and including the first that satisfies predicate."""
        events: list[dict] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self.receive(timeout=max(0.1, deadline - loop.time()))
            events.append(event)
            if predicate(event):
                return events

    async def hello(self, **fields) -> dict:
        await self.send({"type": "hello", **fields})
        return await self.receive()

    async def say(self, text: str, client_id: str | None = None) -> dict:
        client_id = client_id or f"c-{next(_client_ids)}"
        await self.send({"type": "message", "client_id": client_id, "text": text})
        return (await self.receive_until(lambda e: e["type"] in ("ack", "error")))[-1]

    async def drain(self, seconds: float = 0.5) -> list[dict]:
        """Everything that arrives within `seconds`."""
        events = []
        while not await self.communicator.receive_nothing(timeout=seconds):
            events.append(await self.receive())
        return events

    async def no_reply_follows(self, seconds: float = 0.5) -> bool:
        """Nothing from the bot or an agent arrives (echoes of the visitor's own messages may)."""
        return all(
            event["type"] == "message" and event["message"]["author"] == "visitor"
            for event in await self.drain(seconds)
        )

    async def close(self) -> None:
        await self.communicator.disconnect()


async def open_visitor(
    site,
    *,
    origin: str = ORIGIN,
    page_origin: str | None = None,
    host: str = "helpdesk.test",
    client: tuple[str, int] | None = None,
) -> tuple[VisitorClient, bool, int | None]:
    page_origin = ORIGIN if page_origin is None else page_origin
    communicator = WebsocketCommunicator(
        application,
        f"/ws/visitor/?site={site.public_key}&origin={page_origin}",
        headers=[(b"origin", origin.encode()), (b"host", host.encode())],
    )
    if client is not None:
        communicator.scope["client"] = list(client)
    connected, code = await communicator.connect(timeout=5)
    return VisitorClient(communicator), connected, code


@pytest.fixture
async def visitor_factory(transactional_db) -> AsyncIterator:
    clients: list[VisitorClient] = []

    async def factory(site, **kwargs) -> VisitorClient:
        client, connected, code = await open_visitor(site, **kwargs)
        assert connected, f"refused with {code}"
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()
    await inline_replies_settle()


async def inline_replies_settle(timeout: float = 15) -> None:
    """Wait for the LLM replies this test's loop is still streaming (or failing over to
    the fallback): they write to the database, and the database is flushed next."""
    from conversations import dispatch

    loop = asyncio.get_running_loop()
    running = [t for t in dispatch._inline_tasks if not t.done() and t.get_loop() is loop]
    if running:
        await asyncio.wait(running, timeout=timeout)


class AgentClient(VisitorClient):
    """A real agent-console socket; validates every frame against the agent protocol."""

    async def receive(self, timeout: float = 5) -> dict:
        from tests.protocol import assert_agent_event

        frame = assert_agent_event(await self.communicator.receive_json_from(timeout=timeout))
        self.received.append(frame)
        return frame

    async def act(self, kind: str, conversation_id: int, **fields) -> None:
        await self.send({"type": kind, "conversation_id": conversation_id, **fields})

    async def watch(self, conversation_id: int) -> list[dict]:
        """Open the conversation as the console does: its messages, the visitor's typing
        and reply deltas reach this socket once `watching` answers. Returns the frames
        up to that answer, or up to the `error` that refused it."""
        await self.act("watch", conversation_id)
        return await self.receive_until(
            lambda f: (
                f["type"] == "error"
                or (f["type"] == "watching" and f["conversation_id"] == conversation_id)
            )
        )


def _session_cookie(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_agent(
    user=None, *, origin: str = "http://testserver"
) -> tuple[AgentClient, bool, int | None]:
    from channels.db import database_sync_to_async

    headers = [(b"origin", origin.encode()), (b"host", b"testserver")]
    if user is not None:
        cookie = await database_sync_to_async(_session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return AgentClient(communicator), connected, code


@pytest.fixture
async def agent_factory(transactional_db) -> AsyncIterator:
    clients: list[AgentClient] = []

    async def factory(user) -> AgentClient:
        client, connected, code = await open_agent(user)
        assert connected, f"refused with {code}"
        hello = await client.receive()
        assert hello["type"] == "hello"
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()
    await inline_replies_settle()


class CeleryWorker:
    """A real `celery worker --pool threads` subprocess on the test database and Redis."""

    def __init__(
        self,
        *,
        llm_base_url: str,
        log,
        concurrency: int,
        name: str,
        env: dict[str, str] | None = None,
    ) -> None:
        import os
        import subprocess
        import sys
        import time
        from pathlib import Path

        from django.db import connection

        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings.test",
            "DATABASE_URL": f"{base}/{connection.settings_dict['NAME']}",
            "HELPDESK_LLM_RUNNER": "celery",
            "OPENAI_BASE_URL": llm_base_url,
            "OPENAI_API_KEY": "test-key",
            # As in production: a worker keeps its database connections (one
            # per thread) instead of opening one for every call of every stream.
            "CONN_MAX_AGE": "60",
            **(env or {}),
        }
        command = [
            sys.executable, "-m", "celery", "--app", "helpdesk", "worker", "--pool", "threads",
            "--concurrency", str(concurrency), "--loglevel", "INFO",
            "--hostname", f"{name}-{os.getpid()}@%h",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while b"ready." not in log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail("worker did not start:\n" + log.read_text(errors="replace")[-3000:])
            time.sleep(0.2)

    def stop(self) -> None:
        import subprocess

        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _wait_for_worker_sessions_to_end()


def _wait_for_worker_sessions_to_end() -> None:
    """PostgreSQL ends a dead client's session asynchronously; the test DB is dropped next."""
    import time

    from django.db import connection

    with connection.cursor() as cursor:
        for _ in range(50):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture
def start_celery_worker(transactional_db, settings, tmp_path):
    """Start real workers for this test (the in-process code dispatches to them)."""
    settings.HELPDESK_LLM_RUNNER = "celery"
    workers: list[CeleryWorker] = []

    def start(
        *,
        llm_base_url: str,
        concurrency: int = 200,
        name: str = "worker",
        env: dict[str, str] | None = None,
    ) -> CeleryWorker:
        worker = CeleryWorker(
            llm_base_url=llm_base_url,
            log=tmp_path / f"{name}-{len(workers)}.log",
            concurrency=concurrency,
            name=name,
            env=env,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()

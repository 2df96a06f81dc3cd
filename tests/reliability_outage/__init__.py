"""Outage and shutdown drills: the production daphne command, real PostgreSQL, real Redis.

Helpers shared by the drills: a dedicated database, a private redis-server the
test may kill and restart, daphne with production settings, and a small
`websockets` visitor client.
"""

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import suppress
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ORIGIN = "https://shop.example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(predicate, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"{what} not seen within {timeout}s\n{tail}")


# --- PostgreSQL ----------------------------------------------------------------------


class Database:
    """A database of its own, created and migrated for one test, dropped afterwards."""

    def __init__(self, label: str) -> None:
        base = os.environ["DATABASE_URL"]
        self.name = f"helpdesk_{label}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.admin_url = base.rsplit("/", 1)[0] + "/postgres"
        self.url = base.rsplit("/", 1)[0] + "/" + self.name

    def create(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()


def production_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ}
    for key in ("HELPDESK_TEST_PREFIX", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        env.pop(key, None)
    env.update(
        DJANGO_SETTINGS_MODULE="helpdesk.settings.production",
        SECRET_KEY="outage-drill-" + uuid.uuid4().hex,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        HELPDESK_LLM_RUNNER="inline",
        KB_EMBEDDINGS="off",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


SETUP_SITE = """
from helpdesk.models import Site
from kb.models import Entry
site = Site.objects.create(
    name="Outage drill", allowed_origins="{origin}", bot_enabled=True,
    llm_timeout_seconds={timeout}, llm_first_token_timeout_seconds={first_token},
)
Entry.objects.create(
    site=site, question="How long does shipping take?",
    answer="Shipping takes 3 to 5 business days.",
)
print("KEY=" + site.public_key)
"""


def site_create(env: dict[str, str], *, timeout: int = 30, first_token: int = 10) -> str:
    code = SETUP_SITE.format(origin=ORIGIN, timeout=timeout, first_token=first_token)
    out = manage(env, "shell", "-c", code)
    return next(line[4:] for line in out.splitlines() if line.startswith("KEY="))


# --- processes -------------------------------------------------------------------------


class Process:
    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.command, self.env, self.log = command, env, log
        self.popen: subprocess.Popen | None = None

    def start(self) -> "Process":
        self.popen = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)


class PrivateRedis(Process):
    """A redis-server of this test's own, on a fixed port, so it can be killed and restarted."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        command = [binary, "--port", str(self.port), "--save", "", "--appendonly", "no"]
        command += ["--daemonize", "no", "--bind", "127.0.0.1"]
        super().__init__(command, {**os.environ}, log)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        super().start()
        wait_until(lambda: port_open(self.port), 10, "private redis-server", self.log)
        return self


class Daphne(Process):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        command = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port)]
        super().__init__([*command, "helpdesk.asgi:application"], env, log)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, site_key: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/visitor/?site={site_key}&origin={ORIGIN}"

    def start(self) -> "Daphne":
        super().start()
        wait_until(
            lambda: http_get(f"{self.base}/healthz")[0] == 200, 60, "daphne /healthz", self.log
        )
        return self


def http_get(url: str, timeout: float = 10) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.load(exc)
        except ValueError:
            return exc.code, {}
    except OSError:
        return 0, {}


# --- a visitor over a real WebSocket -------------------------------------------------


class Visitor:
    """One widget's socket, driven by the `websockets` client."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws = None
        self.frames: list[dict] = []

    async def connect(self, timeout: float = 10) -> "Visitor":
        import websockets

        self.ws = await websockets.connect(
            self.url, origin=ORIGIN, open_timeout=timeout, close_timeout=2
        )
        return self

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def receive(self, timeout: float) -> dict:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def until(self, predicate, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame; saw {self.frames[-10:]}")
            frame = await self.receive(remaining)
            if predicate(frame):
                return frame

    async def hello(self, token: str | None = None, last_seen_id: int = 0) -> dict:
        frame: dict = {"type": "hello", "page": {"url": ORIGIN + "/"}, "language": "en"}
        if token:
            frame["token"] = token
        if last_seen_id:
            frame["last_seen_id"] = last_seen_id
        await self.send(frame)
        return await self.until(lambda f: f["type"] in ("welcome", "error"))

    async def message(self, text: str, client_id: str | None = None) -> str:
        client_id = client_id or uuid.uuid4().hex
        await self.send({"type": "message", "client_id": client_id, "text": text})
        return client_id

    async def close(self) -> None:
        if self.ws is not None:
            with suppress(Exception):
                await self.ws.close()

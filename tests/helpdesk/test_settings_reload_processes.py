"""Hot configuration across two real processes: a daphne web process and a Celery worker.

Both run the production settings on the test database and the real Redis;
the LLM replies stream in the worker from the project's fake OpenAI-compatible
servers. Staff edits made here through the ORM reach both processes on the
very next message; `kill -HUP` makes both re-read the environment file without
a restart: the same pids, the visitor's socket still open.
"""

import os
import signal
import sys
import uuid
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from conversations.fake_llm import FakeLLMServer
from conversations.models import Message
from tests.factories import EntryFactory, SensitiveWordFactory, SiteFactory
from tests.reliability_outage import (
    ORIGIN,
    Daphne,
    Process,
    Visitor,
    production_env,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPLY_ONE = "This answer comes from the first language model server."
REPLY_TWO = "This answer comes from the second language model server."


class Worker(Process):
    def __init__(self, env: dict[str, str], log: Path, pool: str) -> None:
        command = [
            sys.executable, "-m", "celery", "--app", "helpdesk", "worker", "--pool", pool,
            "--concurrency", "2", "--loglevel", "INFO",
            "--hostname", f"hot-{uuid.uuid4().hex[:6]}@%h",
        ]  # fmt: skip
        super().__init__(command, env, log)

    def start(self) -> "Worker":
        super().start()
        wait_until(lambda: b"ready." in self.log.read_bytes(), 60, "celery worker ready", self.log)
        return self


def env_file_write(path: Path, **values: str) -> None:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))


def log_text(process: Process) -> str:
    return process.log.read_text(errors="replace")


@pytest.fixture
def llm_servers():
    with FakeLLMServer() as one, FakeLLMServer() as two:
        one.configure(reply=REPLY_ONE, ttft=0.02, tokens_per_second=200)
        two.configure(reply=REPLY_TWO, ttft=0.02, tokens_per_second=200)
        yield one, two


@pytest.fixture
def site(transactional_db, settings):
    settings.KB_EMBEDDINGS = "off"
    return SiteFactory(allowed_origins=ORIGIN, system_prompt="You are assistant number one.")


@pytest.fixture(params=["threads", "prefork"])
def web_and_worker(request, settings, llm_servers, site, tmp_path):
    one, _two = llm_servers
    env_file = tmp_path / "helpdesk.env"
    env_file_write(
        env_file, OPENAI_BASE_URL=one.base_url, OPENAI_MODEL="model-one", LOG_LEVEL="INFO"
    )
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    prefix = f"hot{uuid.uuid4().hex[:8]}"
    env = production_env(
        f"{base}/{connection.settings_dict['NAME']}",
        os.environ["REDIS_URL"],
        ENV_FILE=str(env_file),
        # The same cache keys as this process, so its admin edits bump the versions they read.
        CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
        CHANNEL_LAYER_PREFIX=prefix,
        CELERY_QUEUE=prefix,
        HELPDESK_LLM_RUNNER="celery",
        OPENAI_API_KEY="test-key",
        LOG_FORMAT="plain",
    )
    for name in ("OPENAI_MODEL", "LOG_LEVEL", "MAX_MESSAGE_LENGTH"):
        env.pop(name, None)
    web = Daphne(env, tmp_path / "web.log").start()
    worker = Worker(env, tmp_path / "worker.log", request.param).start()
    yield web, worker, env_file
    web.stop()
    worker.stop(timeout=30)


async def _ask(visitor: Visitor, text: str) -> tuple[dict, list[dict]]:
    """Send a message; return its ack and every frame up to the bot's answer."""
    client_id = await visitor.message(text)
    ack = await visitor.until(lambda f: f.get("client_id") == client_id, timeout=10)
    assert ack["type"] == "ack", ack
    start = len(visitor.frames)
    await visitor.until(_is_bot_answer, timeout=30)
    return ack, visitor.frames[start:]


def _is_bot_answer(frame: dict) -> bool:
    # Knowledge-base and filter answers come as a message; an LLM reply ends with reply.end.
    return frame["type"] == "reply.end" or (
        frame["type"] == "message" and frame["message"]["author"] == "bot"
    )


def _bot_message(frames: list[dict]) -> dict:
    return next(f["message"] for f in frames if _is_bot_answer(f))


async def test_admin_edits_and_sighup_reach_the_web_process_and_the_worker_without_a_restart(
    web_and_worker, llm_servers, site
):
    web, worker, env_file = web_and_worker
    one, two = llm_servers
    pids = (web.popen.pid, worker.popen.pid)
    visitor = await Visitor(web.ws_url(site.public_key)).connect()
    assert (await visitor.hello())["type"] == "welcome"

    # Before any change: the first server, its model, the Site's prompt.
    first_ack, frames = await _ask(visitor, "Tell me something about the weather on Mars")
    assert _bot_message(frames)["text"] == REPLY_ONE
    request = one.requests[-1]["body"]
    assert request["model"] == "model-one"
    assert request["messages"][0]["content"] == "You are assistant number one."

    # --- staff edit the configuration (here through the ORM, as the admin does) ---------
    site.system_prompt = "You are assistant number two."
    await database_sync_to_async(site.save)()
    await database_sync_to_async(SensitiveWordFactory)(word="zebra", action="block", site=None)
    await database_sync_to_async(EntryFactory)(
        site=site,
        question="How do I reset my password?",
        answer="Use the reset link on the sign-in page.",
    )
    asked_before = len(one.requests)

    # The web process: the new word blocks, the new entry answers, no LLM request.
    ack, frames = await _ask(visitor, "I would like a zebra please")
    assert _bot_message(frames)["source"] == "filter"
    saved = await database_sync_to_async(Message.objects.get)(pk=ack["message_id"])
    assert saved.filter_action == "block"
    _, frames = await _ask(visitor, "How do I reset my password?")
    assert _bot_message(frames)["text"] == "Use the reset link on the sign-in page."
    assert _bot_message(frames)["source"] == "kb"
    assert len(one.requests) == asked_before

    # The worker: the next streamed reply is prompted with the edited Site.
    _, frames = await _ask(visitor, "And the weather on Venus?")
    assert _bot_message(frames)["text"] == REPLY_ONE
    assert one.requests[-1]["body"]["messages"][0]["content"] == "You are assistant number two."

    # The web process logged each pipeline decision at INFO so far.
    assert f"message={first_ack['message_id']} " in log_text(web)

    # --- the environment file changes; SIGHUP to both processes -----------------------
    env_file_write(
        env_file,
        OPENAI_BASE_URL=two.base_url,
        OPENAI_MODEL="model-two",
        LOG_LEVEL="WARNING",
        MAX_MESSAGE_LENGTH="60",
        SECRET_KEY="rotated-secret-that-must-not-be-logged",
    )
    for process in (web, worker):
        os.kill(process.popen.pid, signal.SIGHUP)
    for process in (web, worker):
        wait_until(
            lambda p=process: (
                "settings reloaded: OPENAI_MODEL 'model-one' -> 'model-two'" in log_text(p)
            ),
            20,
            "the reload's log line",
            process.log,
        )
    web_log = log_text(web)
    assert f"settings reloaded: OPENAI_BASE_URL '{one.base_url}' -> '{two.base_url}'" in web_log
    assert "settings reloaded: LOG_LEVEL 'INFO' -> 'WARNING'" in web_log
    assert "settings reloaded: MAX_MESSAGE_LENGTH 4000 -> 60" in web_log
    assert "SECRET_KEY changed but needs a restart" in web_log
    assert "rotated-secret" not in web_log

    # The same socket, the same processes: the next reply streams from the second server.
    asked_before = len(one.requests)
    ack, frames = await _ask(visitor, "What about the weather on Jupiter?")
    assert _bot_message(frames)["text"] == REPLY_TWO
    assert [f["text"] for f in frames if f["type"] == "reply.delta"], "not streamed"
    assert two.requests[-1]["body"]["model"] == "model-two"
    assert two.requests[-1]["body"]["messages"][0]["content"] == "You are assistant number two."
    assert len(one.requests) == asked_before

    # The web process applies the new message limit and log level.
    await visitor.send({"type": "message", "client_id": "long-one", "text": "x" * 61})
    error = await visitor.until(lambda f: f.get("client_id") == "long-one")
    assert (error["type"], error["code"]) == ("error", "too_long")
    assert f"message={ack['message_id']} " not in log_text(web)

    await visitor.close()
    assert (web.popen.pid, worker.popen.pid) == pids
    assert web.alive and worker.alive
    worker_log = log_text(worker)
    assert worker_log.count("ready.") == 1, "the worker restarted"
    assert "Restarting celery worker" not in worker_log
    assert "rotated-secret" not in worker_log

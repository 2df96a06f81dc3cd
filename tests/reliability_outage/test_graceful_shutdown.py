"""SIGTERM to one of two daphne processes while it streams an LLM reply.

Two production web processes (A and B) share one database and the shared Redis
under a prefix of their own; replies stream inline (HELPDESK_LLM_RUNNER=inline)
from a slow FakeLLMServer. A visitor on A asks a question the knowledge base
cannot answer; once deltas flow A gets SIGTERM. The product promises:

- A lets the reply it streams finish for up to SHUTDOWN_GRACE_SECONDS, then
  hands whatever is still running over (fallback + `waiting`), and exits;
  no reply is left pending for the stale-reply watchdog;
- the visitor's socket on A closes and the widget reconnects to B with the
  same token; B's replay holds the acked question and the finished reply (or
  the fallback), and the conversation's state says who answers next.
"""

import asyncio
import os
import time
import uuid

import pytest

from conversations.dispatch import SHUTDOWN_REASON
from conversations.fake_llm import FakeLLMConfig, FakeLLMServer
from tests.reliability_outage import (
    Daphne,
    Database,
    Visitor,
    manage,
    production_env,
    site_create,
)

pytestmark = pytest.mark.integration

REPLY = (
    "Thanks for asking about that order question; a colleague normally checks these details "
    "carefully and will confirm everything with you shortly today."
)
SITE_TIMEOUT = 8  # > 20 words at 5 tokens/s, so a healthy stream finishes in time
EXIT_BOUND = 15.0


@pytest.fixture
def two_webs(tmp_path):
    started: list = []

    def start(*, grace_seconds: float):
        llm = FakeLLMServer(
            config=FakeLLMConfig(reply=REPLY, ttft=0.2, tokens_per_second=5)
        ).start()
        started.append(llm)
        database = Database("sigterm")
        prefix = f"sigterm{uuid.uuid4().hex[:8]}"
        env = production_env(
            database.url,
            os.environ["REDIS_URL"],
            CHANNEL_LAYER_PREFIX=prefix,
            CACHE_KEY_PREFIX=prefix,
            OPENAI_BASE_URL=llm.base_url,
            OPENAI_API_KEY="test",
            LLM_RETRIES_BEFORE_FIRST_TOKEN="0",
            SHUTDOWN_GRACE_SECONDS=str(grace_seconds),
        )
        database.create()
        started.append(database)
        manage(env, "migrate", "--noinput")
        site_key = site_create(env, timeout=SITE_TIMEOUT, first_token=3)
        web_a = Daphne(env, tmp_path / "a.log").start()
        started.append(web_a)
        web_b = Daphne(env, tmp_path / "b.log").start()
        started.append(web_b)
        return database, web_a, web_b, site_key, llm

    yield start
    for part in reversed(started):
        if isinstance(part, Daphne):
            part.stop()
        elif isinstance(part, Database):
            part.drop()
        else:
            part.stop()


async def _sigterm_mid_reply(web_a: Daphne, site_key: str, question: str):
    """Ask on A, SIGTERM A once deltas flow; return (token, ack, frames after SIGTERM, timings)."""
    visitor = await Visitor(web_a.ws_url(site_key)).connect()
    welcome = await visitor.hello()
    question_id = await visitor.message(question)
    ack = await visitor.until(lambda f: f["type"] == "ack" and f["client_id"] == question_id)
    await visitor.until(lambda f: f["type"] == "reply.delta", timeout=10)

    web_a.popen.terminate()
    terminated = time.monotonic()
    after_term: list[dict] = []
    closed_after = None
    while time.monotonic() - terminated < EXIT_BOUND:
        try:
            after_term.append(await visitor.receive(EXIT_BOUND))
        except TimeoutError:
            break
        except Exception:
            closed_after = time.monotonic() - terminated
            break
    await visitor.close()
    assert closed_after is not None, f"the socket on A never closed: {after_term[-5:]}"
    await asyncio.to_thread(web_a.popen.wait, EXIT_BOUND)
    exited_after = time.monotonic() - terminated
    print(
        f"\nA: socket closed {closed_after:.2f}s and process exited {exited_after:.2f}s "
        f"after SIGTERM (exit code {web_a.popen.returncode}); frames after SIGTERM: "
        f"{[f['type'] for f in after_term]}"
    )
    assert exited_after < EXIT_BOUND
    return welcome, ack


async def _reconnect(web_b: Daphne, site_key: str, welcome: dict):
    moved = await Visitor(web_b.ws_url(site_key)).connect()
    hello = await moved.hello(token=welcome["token"])
    assert hello["type"] == "welcome", hello
    assert hello["visitor_id"] == welcome["visitor_id"]
    state = await moved.until(lambda f: f["type"] == "state", timeout=10)
    replayed = [f["message"] for f in moved.frames if f["type"] == "message"]
    await moved.close()
    return state, replayed


def _conversation_row(database: Database, conversation_id: int) -> tuple:
    (row,) = database.query(
        "SELECT state, pending_reply_id, escalation_reason FROM conversations_conversation "
        "WHERE id = %s",
        (conversation_id,),
    )
    return row


async def test_sigterm_mid_reply_lets_the_reply_finish_and_the_visitor_resumes_on_another_web(
    two_webs,
):
    database, web_a, web_b, site_key, _llm = two_webs(grace_seconds=12)
    welcome, ack = await _sigterm_mid_reply(
        web_a, site_key, "Where is my order number 1234 and when will it arrive?"
    )
    # A waited for its reply before exiting: it is saved, nothing is pending.
    state, pending_reply_id, _ = _conversation_row(database, ack["conversation_id"])
    assert (state, pending_reply_id) == ("bot", None)

    state, replayed = await _reconnect(web_b, site_key, welcome)
    assert ack["message_id"] in {m["id"] for m in replayed}, "the acked question was lost"
    bot = [m for m in replayed if m["author"] == "bot" and m["id"] > ack["message_id"]]
    assert [m["text"] for m in bot] == [REPLY], replayed
    assert state["state"] == "bot"


async def test_sigterm_mid_reply_hands_over_what_cannot_finish_within_the_grace(two_webs):
    database, web_a, web_b, site_key, _llm = two_webs(grace_seconds=1)
    welcome, ack = await _sigterm_mid_reply(
        web_a, site_key, "Can you check the status of my order 987?"
    )
    # The reply needs ~4.5 s; after 1 s A handed it over instead of leaving it pending.
    assert _conversation_row(database, ack["conversation_id"]) == (
        "waiting",
        None,
        SHUTDOWN_REASON,
    )

    state, replayed = await _reconnect(web_b, site_key, welcome)
    assert ack["message_id"] in {m["id"] for m in replayed}
    bot = [m for m in replayed if m["author"] == "bot" and m["id"] > ack["message_id"]]
    assert len(bot) == 1 and bot[0]["text"] != REPLY, replayed  # the fallback, not half a reply
    assert state["state"] == "waiting"

"""SIGTERM to one of two daphne processes while it streams an LLM reply.

Two production web processes (A and B) share one database and the shared Redis
under a prefix of their own; replies stream inline (HELPDESK_LLM_RUNNER=inline)
from a slow FakeLLMServer. A visitor on A asks a question the knowledge base
cannot answer; once deltas flow A gets SIGTERM. What the product guarantees
today, asserted here:

- A exits within 15 s and the visitor's socket closes (the widget reconnects);
- the visitor reconnects to B with the same token and its hello replays the
  conversation, including the acked question (it was in PostgreSQL);
- the in-flight reply is never left pending forever: it completed, or it was
  handed over, or (today's behaviour: A's inline stream dies with the process)
  it stays pending until the stale-reply reaper (beat task
  `reap_stale_replies`, every 5 s in production) fails it to the fallback
  after the Site's timeout + 5 s, and the conversation waits for a human. The
  reaper is run here as `manage.py shell` with the same environment, since no
  beat runs in this drill; B's visitor sees the fallback and the new state live.
"""

import asyncio
import os
import time
import uuid

import pytest

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
SITE_TIMEOUT = 5  # > 20 words at 5 tokens/s, so a healthy stream finishes in time
EXIT_BOUND = 15.0


@pytest.fixture
def two_webs(tmp_path):
    llm = FakeLLMServer(config=FakeLLMConfig(reply=REPLY, ttft=0.2, tokens_per_second=5)).start()
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
    )
    webs: list[Daphne] = []
    database.create()
    try:
        manage(env, "migrate", "--noinput")
        site_key = site_create(env, timeout=SITE_TIMEOUT, first_token=3)
        webs.append(Daphne(env, tmp_path / "a.log").start())
        webs.append(Daphne(env, tmp_path / "b.log").start())
        yield env, database, webs[0], webs[1], site_key, llm
    finally:
        for web in webs:
            web.stop()
        llm.stop()
        database.drop()


async def test_sigterm_mid_reply_hands_the_visitor_to_another_web_process(two_webs):
    env, database, web_a, web_b, site_key, llm = two_webs

    visitor = await Visitor(web_a.ws_url(site_key)).connect()
    welcome = await visitor.hello()
    token = welcome["token"]
    question_id = await visitor.message("Where is my order number 1234 and when will it arrive?")
    ack = await visitor.until(lambda f: f["type"] == "ack" and f["client_id"] == question_id)
    await visitor.until(lambda f: f["type"] == "reply.delta", timeout=10)
    assert llm.requests, "the reply did not go to the fake LLM"

    # --- SIGTERM to A while it streams ------------------------------------------------
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
    assert closed_after is not None, f"the socket on A never closed: {after_term[-5:]}"
    await asyncio.to_thread(web_a.popen.wait, EXIT_BOUND)
    exited_after = time.monotonic() - terminated
    assert exited_after < EXIT_BOUND
    completed_on_a = any(f["type"] == "reply.end" for f in after_term)
    print(
        f"\nA: socket closed {closed_after:.2f}s and process exited {exited_after:.2f}s "
        f"after SIGTERM (exit code {web_a.popen.returncode}); frames after SIGTERM: "
        f"{[f['type'] for f in after_term]}"
    )

    # --- the widget reconnects to B with the same token --------------------------------
    moved = await Visitor(web_b.ws_url(site_key)).connect()
    try:
        hello = await moved.hello(token=token)
        assert hello["type"] == "welcome", hello
        assert hello["visitor_id"] == welcome["visitor_id"]
        state = await moved.until(lambda f: f["type"] == "state", timeout=10)
        replayed = [f["message"] for f in moved.frames if f["type"] == "message"]
        assert ack["message_id"] in {m["id"] for m in replayed}, "the acked question was lost"

        (row,) = database.query(
            "SELECT state, pending_reply_id FROM conversations_conversation WHERE id = %s",
            (ack["conversation_id"],),
        )
        print(f"B: replay {[m['author'] for m in replayed]}, state {state}, db {row}")
        bot_replayed = [m for m in replayed if m["author"] == "bot"]
        if row[1] is None:
            # Finished before A went away, or handed over: either way it is in the replay.
            assert bot_replayed, replayed
            assert completed_on_a or row[0] == "waiting", row
            return

        # Today: the inline stream died with A and the reply is still pending.
        assert state["state"] == "bot"
        assert not bot_replayed
        wait = SITE_TIMEOUT + 5 + 0.5 - (time.monotonic() - terminated)
        await asyncio.sleep(max(0.0, wait))
        out = await asyncio.to_thread(
            manage,
            env,
            "shell",
            "-c",
            "from conversations.tasks import reap_stale_replies; print(reap_stale_replies())",
        )
        assert out.strip().splitlines()[-1] == "1", out
        # The fallback ends the dead reply on B's screen (reply.end with the saved message).
        fallback = await moved.until(
            lambda f: f["type"] == "reply.end" and f["reply_id"] == str(row[1]), timeout=10
        )
        assert fallback["message"]["author"] == "bot"
        waiting = await moved.until(
            lambda f: f["type"] == "state" and f["state"] == "waiting", timeout=10
        )
        print(f"B: after the reaper {fallback['message']['text']!r}, {waiting}")
        (row,) = database.query(
            "SELECT state, pending_reply_id FROM conversations_conversation WHERE id = %s",
            (ack["conversation_id"],),
        )
        assert row == ("waiting", None)
    finally:
        await moved.close()
        await visitor.close()


@pytest.mark.xfail(
    strict=True,
    reason=(
        "BUG (not built yet, docs/security.md): SIGTERM makes daphne exit in well under a "
        "second; the inline LLM stream dies with it and its reply stays pending (the visitor "
        "sees nothing) until the stale-reply reaper fails it after the Site's timeout + 5 s. "
        "Fix: on shutdown, before the loop stops, await conversations.dispatch._inline_tasks "
        "for up to a grace period (daphne --application-close-timeout / a SIGTERM handler in "
        "helpdesk.asgi), then call llm_reply_fail for every reply still pending so it is handed "
        "over (fallback + waiting) at once."
    ),
)
async def test_sigterm_mid_reply_finishes_or_hands_over_the_reply_before_exit(two_webs):
    _env, database, web_a, _web_b, site_key, _llm = two_webs
    visitor = await Visitor(web_a.ws_url(site_key)).connect()
    try:
        await visitor.hello()
        question_id = await visitor.message("Can you check the status of my order 987?")
        ack = await visitor.until(lambda f: f["type"] == "ack" and f["client_id"] == question_id)
        await visitor.until(lambda f: f["type"] == "reply.delta", timeout=10)
        web_a.popen.terminate()
        await asyncio.to_thread(web_a.popen.wait, EXIT_BOUND)
        (row,) = database.query(
            "SELECT state, pending_reply_id FROM conversations_conversation WHERE id = %s",
            (ack["conversation_id"],),
        )
        assert row[1] is None, f"reply left pending after A exited: {row}"
    finally:
        await visitor.close()

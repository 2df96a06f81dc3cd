"""Redis goes away under the production web process and comes back.

The promise (docs/security.md, "Not yet promised"): with Redis stopped for a
while the web process stays up, visitors get a clear reconnecting state, and
after Redis returns everything resumes without a restart; nothing acked is lost
(it was in PostgreSQL).

Runs `daphne helpdesk.asgi:application` with production settings against a
database of its own and a private redis-server that the test kills and restarts
on the same port (the machine's shared Redis is never touched).
"""

import asyncio
import time
from contextlib import suppress

import pytest

from tests.reliability_outage import (
    Daphne,
    Database,
    PrivateRedis,
    Visitor,
    http_get,
    manage,
    production_env,
    site_create,
)

pytestmark = pytest.mark.integration

KB_QUESTION = "How long does shipping take?"
KB_ANSWER = "Shipping takes 3 to 5 business days."


@pytest.fixture
def stack(tmp_path):
    database = Database("outage")
    redis = PrivateRedis(tmp_path / "redis.log")
    daphne = None
    database.create()
    try:
        redis.start()
        env = production_env(database.url, redis.url)
        manage(env, "migrate", "--noinput")
        site_key = site_create(env)
        daphne = Daphne(env, tmp_path / "daphne.log").start()
        yield database, redis, daphne, site_key
    finally:
        if daphne is not None:
            daphne.stop()
        redis.stop()
        database.drop()


def is_answer(frame: dict) -> bool:
    return frame["type"] == "message" and KB_ANSWER in frame["message"]["text"]


async def get(url: str) -> tuple[int, dict]:
    return await asyncio.to_thread(http_get, url)


async def drain(visitor: Visitor, seconds: float) -> tuple[list[dict], bool]:
    """Every frame the socket delivers for a while; and whether it closed."""
    frames: list[dict] = []
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            frames.append(await visitor.receive(remaining))
        except TimeoutError:
            break
        except Exception:  # ConnectionClosed: the server closed the socket
            return frames, True
    return frames, False


async def attempt_during_outage(daphne: Daphne, site_key: str, token: str) -> dict:
    """What a widget reconnecting while Redis is down gets."""
    visitor = Visitor(daphne.ws_url(site_key))
    try:
        await visitor.connect(timeout=8)
    except Exception as exc:  # refused handshake / timeout
        return {"connected": False, "why": repr(exc), "frames": [], "closed": True}
    try:
        with suppress(Exception):
            await visitor.send(
                {"type": "hello", "token": token, "page": {"url": "https://shop.example.com/"}}
            )
        frames, closed = await drain(visitor, 8)
        return {"connected": True, "frames": frames, "closed": closed}
    finally:
        await visitor.close()


async def test_web_process_survives_a_redis_outage_and_resumes_without_a_restart(stack):
    database, redis, daphne, site_key = stack
    url = daphne.ws_url(site_key)

    # --- before: a normal KB exchange --------------------------------------------------
    visitor = await Visitor(url).connect()
    welcome = await visitor.hello()
    assert welcome["type"] == "welcome", welcome
    token = welcome["token"]
    first_id = await visitor.message(KB_QUESTION)
    ack = await visitor.until(lambda f: f["type"] == "ack" and f["client_id"] == first_id)
    answer = await visitor.until(is_answer, timeout=15)
    acked_ids = {ack["message_id"]}
    assert (await get(f"{daphne.base}/readyz"))[0] == 200

    # --- Redis goes away ----------------------------------------------------------------
    redis.kill()
    outage_started = time.monotonic()
    assert (await get(f"{daphne.base}/healthz"))[0] == 200, "the web process must stay up"
    status, body = await get(f"{daphne.base}/readyz")
    assert status == 503, body
    assert body["checks"]["database"]["ok"] is True
    assert not body["checks"]["cache"]["ok"] or not body["checks"]["channel_layer"]["ok"], body

    # A message on the socket that was open when Redis went away: refused with an
    # `error`, or saved and acked; never acked and lost.
    during_id = await visitor.message("Are you still there?")
    during_frames, during_closed = await drain(visitor, 8)
    during_ack = next(
        (f for f in during_frames if f["type"] == "ack" and f["client_id"] == during_id), None
    )
    during_error = next((f for f in during_frames if f["type"] == "error"), None)
    saved = database.query(
        "SELECT id FROM conversations_message WHERE client_id = %s", (during_id,)
    )
    if during_ack is not None:
        acked_ids.add(during_ack["message_id"])
        assert [row[0] for row in saved] == [during_ack["message_id"]], "acked but not saved"
    else:
        assert during_error is not None or during_closed, (
            f"a message sent during the outage got neither an ack, an error nor a close: "
            f"{during_frames}"
        )

    # A widget reconnecting now must not be welcomed as if all were well: the
    # handshake fails, or the socket is closed / answered with an error, so the
    # widget shows its reconnecting banner and retries.
    outage_attempt = await attempt_during_outage(daphne, site_key, token)
    assert not any(f["type"] == "welcome" for f in outage_attempt["frames"]) or any(
        f["type"] == "error" for f in outage_attempt["frames"]
    ), outage_attempt
    assert outage_attempt["closed"] or any(
        f["type"] == "error" for f in outage_attempt["frames"]
    ), outage_attempt
    assert daphne.alive, "daphne died while Redis was down"
    assert (await get(f"{daphne.base}/healthz"))[0] == 200
    print(f"\noutage: message sent on the open socket -> {during_frames} closed={during_closed}")
    print(f"outage: new connection attempt -> {outage_attempt}")
    print(f"outage lasted {time.monotonic() - outage_started:.1f}s")

    # --- Redis returns on the same port; daphne is not restarted -------------------------
    redis.start()
    returned = time.monotonic()
    resumed = None
    last_problem = None
    while time.monotonic() - returned < 15 and resumed is None:
        again = Visitor(url)
        try:
            await again.connect(timeout=5)
            hello = await again.hello(token=token)
            if hello["type"] == "welcome":
                resumed = again
                break
            last_problem = hello
        except Exception as exc:
            last_problem = repr(exc)
        await again.close()
        await asyncio.sleep(0.5)
    assert resumed is not None, f"no welcome within 15 s of Redis returning: {last_problem}"
    print(f"resumed {time.monotonic() - returned:.1f}s after Redis returned")

    assert hello["visitor_id"] == welcome["visitor_id"], "the same visitor must resume"
    replay = await resumed.until(lambda f: f["type"] == "state", timeout=10)
    replayed = [f["message"] for f in resumed.frames if f["type"] == "message"]
    replayed_ids = {m["id"] for m in replayed}
    assert acked_ids <= replayed_ids, f"acked messages missing from the replay: {replayed}"
    assert any(KB_ANSWER in m["text"] for m in replayed), replayed
    assert replay["type"] == "state"

    # The socket that stayed open through the outage works again too.
    if not during_closed:
        old_id = await visitor.message(KB_QUESTION)
        await visitor.until(lambda f: f["type"] == "ack" and f["client_id"] == old_id)
        await visitor.until(is_answer, timeout=15)
    await visitor.close()

    again_id = await resumed.message(KB_QUESTION)
    await resumed.until(lambda f: f["type"] == "ack" and f["client_id"] == again_id)
    await resumed.until(is_answer, timeout=15)
    await resumed.close()

    ready = None
    for _ in range(30):
        ready = await get(f"{daphne.base}/readyz")
        if ready[0] == 200:
            break
        await asyncio.sleep(0.5)
    assert ready[0] == 200, ready
    assert daphne.alive
    assert answer["message"]["id"] in replayed_ids


async def test_a_message_sent_during_the_outage_gets_a_clear_answer_for_that_message(stack):
    database, redis, daphne, site_key = stack
    visitor = await Visitor(daphne.ws_url(site_key)).connect()
    try:
        assert (await visitor.hello())["type"] == "welcome"
        redis.kill()
        client_id = await visitor.message("Is anyone there?")
        frames, closed = await drain(visitor, 8)
        saved = database.query(
            "SELECT id FROM conversations_message WHERE client_id = %s", (client_id,)
        )
        acked = [f for f in frames if f["type"] == "ack" and f["client_id"] == client_id]
        refused = [f for f in frames if f["type"] == "error" and f.get("client_id") == client_id]
        # Never acked and lost, whatever happens.
        assert not acked or [row[0] for row in saved] == [acked[0]["message_id"]]
        # And the widget must be able to tell what became of this message: an ack, an
        # error naming it, or a closed socket (the widget then reconnects and resends).
        assert acked or refused or closed, f"no clear answer for the message: {frames}"
        if refused:
            assert refused[0]["code"] == "unavailable" and refused[0]["retry_after"] > 0
    finally:
        await visitor.close()

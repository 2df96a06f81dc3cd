"""/metrics: scraped and parsed after real traffic (visitor and agent sockets, the reply
pipeline, a real HTTP server speaking the OpenAI streaming protocol), its protection,
and the sums over several processes sharing one PROMETHEUS_MULTIPROC_DIR."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from conversations.models import Conversation, Message
from kb.models import SensitiveWord
from tests.conversations import conftest as conversations_conftest
from tests.conversations.conftest import open_agent, open_visitor
from tests.factories import EntryFactory, SensitiveWordFactory, SiteFactory, StaffUserFactory
from tests.helpdesk.test_settings import PRODUCTION_ENV, clean_env

ROOT = Path(__file__).resolve().parents[2]
# The OpenAI-compatible test server fixture the conversation tests use.
fake_llm = conversations_conftest.fake_llm
TOKEN = "metrics-test-token-0123456789"

Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample that must be there (every known label value is exported from the start)."""
    return samples[(name, frozenset(labels.items()))]


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def scrape(token: str = TOKEN) -> Samples:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse(response.content.decode())


# --- protection --------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_token_configured_metrics_do_not_exist_except_for_internal_addresses(
    client, settings
):
    settings.METRICS_TOKEN = ""
    settings.METRICS_INTERNAL_IPS = []
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 404
    assert b"helpdesk_" not in response.content

    settings.METRICS_INTERNAL_IPS = ["10.0.0.0/8", "::1", "not-an-address"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.5").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="11.0.0.1").status_code == 404


@pytest.mark.django_db
def test_with_a_token_configured_only_the_bearer_token_opens_metrics(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_INTERNAL_IPS = []
    for headers in (
        {},
        {"HTTP_AUTHORIZATION": "Bearer wrong-token"},
        {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"},
        {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}x"},
        {"HTTP_AUTHORIZATION": "Bearer "},
    ):
        response = client.get("/metrics", **headers)
        assert response.status_code == 401, headers
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"helpdesk_" not in response.content
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {
        "helpdesk_sockets_open",
        "helpdesk_messages",
        "helpdesk_replies",
        "helpdesk_first_reply_seconds",
        "helpdesk_llm_first_token_seconds",
        "helpdesk_llm_tokens",
        "helpdesk_llm_errors",
        "helpdesk_conversations",
    } <= names
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


PRODUCTION_SCRAPE = """
import django
django.setup()
from django.test import Client
client = Client()
plain = client.get("/metrics", HTTP_HOST="helpdesk.example.com")
wrong = client.get("/metrics", HTTP_HOST="helpdesk.example.com", HTTP_AUTHORIZATION="Bearer x")
print(plain.status_code, wrong.status_code)
"""


@pytest.mark.parametrize(("token", "expected"), [("", "404 404"), ("prod-token", "401 401")])
def test_production_answers_404_without_a_token_and_401_with_a_wrong_one(token, expected):
    # Plain HTTP on purpose: /metrics is exempt from the HTTPS redirect (an internal scrape).
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_SCRAPE],
        cwd=ROOT,
        env=clean_env(
            "helpdesk.settings.production",
            PYTHONPATH=str(ROOT),
            METRICS_TOKEN=token,
            **PRODUCTION_ENV,
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


# --- real traffic ------------------------------------------------------------------


@pytest.fixture
def sites(transactional_db):
    site = SiteFactory(allowed_origins="http://shop.test")
    EntryFactory(
        site=site,
        question="How long does shipping take?",
        answer="Orders arrive in 3-5 business days.",
    )
    SensitiveWordFactory(site=site, word="forbiddenword", action=SensitiveWord.Action.BLOCK)
    # No bot on this one: the first reply its visitors get is a human's.
    staffed = SiteFactory(allowed_origins="http://shop.test", bot_enabled=False)
    return site, staffed


def by_author(author: str):
    return lambda event: event["type"] == "message" and event["message"]["author"] == author


async def test_counters_histograms_and_gauges_follow_real_traffic(sites, fake_llm, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.LLM_RETRIES_BEFORE_FIRST_TOKEN = 1
    fake_llm.configure(reply="We gift-wrap any order for free, with a handwritten card.")
    site, staffed = sites
    before = await database_sync_to_async(scrape)()

    staff = await database_sync_to_async(StaffUserFactory)()
    agent, connected, _code = await open_agent(staff)
    assert connected and (await agent.receive())["type"] == "hello"
    visitors = []
    for visitor_site in (site, site, site, site, staffed):
        visitor, connected, code = await open_visitor(visitor_site)
        assert connected, code
        await visitor.hello()
        visitors.append(visitor)
    kb, llm, failing, blocked, waiting = visitors

    opened = await database_sync_to_async(scrape)()
    assert delta(before, opened, "helpdesk_sockets_open", kind="visitor") == 5
    assert delta(before, opened, "helpdesk_sockets_open", kind="agent") == 1

    # Two knowledge-base answers in one conversation: one first reply.
    for _ in range(2):
        await kb.say("how long does shipping take")
        await kb.receive_until(by_author("bot"))
    # A streamed LLM reply.
    await llm.say("Do you sell gift wrapping for birthdays?")
    end = (await llm.receive_until(lambda e: e["type"] == "reply.end"))[-1]
    assert end["message"]["source"] == "llm"
    # The LLM answers HTTP 500 to the request and to its one retry: the fallback.
    requests_before = len(fake_llm.requests)
    await failing.say("What is your favourite colour? [[mode:http_500]]")
    await failing.receive_until(lambda e: e["type"] == "state" and e["state"] == "waiting")
    failed_requests = len(fake_llm.requests) - requests_before
    assert failed_requests == 2
    # The sensitive-word filter blocks a message and says so.
    await blocked.say("you are a forbiddenword")
    await blocked.receive_until(by_author("bot"))
    # No bot: a human replies first.
    ack = await waiting.say("Is anyone there?")
    await agent.act("reply", ack["conversation_id"], client_id="agent-1", text="Yes, hello!")
    await agent.receive_until(lambda frame: frame["type"] == "ack")
    await waiting.receive_until(by_author("agent"))

    after = await database_sync_to_async(scrape)()

    def saved(**filters) -> int:
        return Message.objects.filter(**filters).count()

    # Messages by author: exactly what the database holds (it started empty).
    expected = {"visitor": 6, "bot": 5, "agent": 1}
    for author in ("visitor", "bot", "agent", "system"):
        count = await database_sync_to_async(saved)(author_kind=author)
        assert delta(before, after, "helpdesk_messages_total", author=author) == count, author
        if author in expected:
            assert count == expected[author], author

    for tier, count in {"kb": 2, "llm": 1, "fallback": 1, "filter": 1, "agent": 1}.items():
        assert delta(before, after, "helpdesk_replies_total", tier=tier) == count, tier

    # Four conversations got a bot's first reply (kb, llm, fallback, filter), one a human's.
    assert delta(before, after, "helpdesk_first_reply_seconds_count", by="bot") == 4
    assert delta(before, after, "helpdesk_first_reply_seconds_count", by="agent") == 1
    assert 0 <= delta(before, after, "helpdesk_first_reply_seconds_sum", by="bot") < 60
    assert delta(before, after, "helpdesk_first_reply_seconds_bucket", by="agent", le="+Inf") == 1

    # One stream produced a token; the failed requests did not.
    assert delta(before, after, "helpdesk_llm_first_token_seconds_count") == 1
    assert 0 < delta(before, after, "helpdesk_llm_first_token_seconds_sum") < 10

    reply = await database_sync_to_async(Message.objects.get)(pk=end["message"]["id"])
    assert reply.prompt_tokens and reply.completion_tokens
    assert delta(before, after, "helpdesk_llm_tokens_total", direction="in") == reply.prompt_tokens
    assert (
        delta(before, after, "helpdesk_llm_tokens_total", direction="out")
        == reply.completion_tokens
    )

    assert delta(before, after, "helpdesk_llm_errors_total", kind="http_5xx") == failed_requests
    assert delta(before, after, "helpdesk_llm_errors_total", kind="timeout") == 0

    # Conversations by state are read from the database when scraped.
    states = await database_sync_to_async(
        lambda: (
            dict.fromkeys(Conversation.State.values, 0)
            | {
                state: Conversation.objects.filter(state=state).count()
                for state in Conversation.State.values
            }
        )
    )()
    assert states == {"bot": 3, "waiting": 1, "human": 1, "closed": 0}
    for state, count in states.items():
        assert value(after, "helpdesk_conversations", state=state) == count

    for client in (*visitors, agent):
        await client.close()
    closed = await database_sync_to_async(scrape)()
    assert delta(before, closed, "helpdesk_sockets_open", kind="visitor") == 0
    assert delta(before, closed, "helpdesk_sockets_open", kind="agent") == 0


@pytest.mark.integration
@pytest.mark.django_db
def test_celery_queue_depth_is_read_from_redis_when_scraped(settings):
    import redis

    from helpdesk.celery import app

    settings.METRICS_TOKEN = TOKEN
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    assert queue.startswith("hdtest-"), "this run's own queue, which no worker reads"
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [queue + suffix for suffix in ("", "\x06\x163", "\x06\x166", "\x06\x169")]
    client.delete(*keys)
    try:
        assert value(scrape(), "helpdesk_celery_queue_depth", queue=queue) == 0
        for priority in (None, None, None, 9):
            app.send_task(
                "conversations.tasks.close_idle_conversations", queue=queue, priority=priority
            )
        assert sum(client.llen(key) for key in keys[1:]) == 1, "one task on a priority list"
        assert value(scrape(), "helpdesk_celery_queue_depth", queue=queue) == 4
    finally:
        client.delete(*keys, f"_kombu.binding.{queue}")


# --- several processes -------------------------------------------------------------

WRITER = """
import sys
import django

django.setup()
from helpdesk import metrics

replies, sockets = int(sys.argv[1]), int(sys.argv[2])
for _ in range(replies):
    metrics.reply_counted("kb")
metrics.llm_tokens(prompt=100 * replies, completion=10 * replies)
metrics.llm_first_token(0.5)


class Socket:
    pass


held = [Socket() for _ in range(sockets)]
for socket in held:
    metrics.socket_opened(socket, "visitor")
print("ready", flush=True)
sys.stdin.readline()
"""


def start_writer(directory: Path, replies: int, sockets: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.test",
        "PYTHONPATH": str(ROOT),
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        # Its own database: the hooks touch none, but Django connects to commit.
        "DATABASE_URL": f"sqlite:///{directory.parent / 'writer.sqlite3'}",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(replies), str(sockets)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    return process


@pytest.mark.django_db
def test_a_scrape_sums_every_process_sharing_the_multiprocess_directory(
    tmp_path, settings, monkeypatch
):
    settings.METRICS_TOKEN = TOKEN
    directory = tmp_path / "metrics"
    first = start_writer(directory, replies=3, sockets=2)
    second = start_writer(directory, replies=4, sockets=5)
    try:
        # This process scrapes what the others wrote, as a web process scrapes the worker's.
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
        both = scrape()
        assert value(both, "helpdesk_replies_total", tier="kb") == 7
        assert value(both, "helpdesk_replies_total", tier="llm") == 0
        assert value(both, "helpdesk_llm_tokens_total", direction="in") == 700
        assert value(both, "helpdesk_llm_tokens_total", direction="out") == 70
        assert value(both, "helpdesk_llm_first_token_seconds_count") == 2
        assert value(both, "helpdesk_llm_first_token_seconds_sum") == 1.0
        assert value(both, "helpdesk_sockets_open", kind="visitor") == 7
        # Files carry host and pid: in containers every main process is pid 1.
        names = sorted(path.name for path in directory.iterdir())
        assert any(name.endswith(f"-{first.pid}.db") for name in names), names
        assert any(name.endswith(f"-{second.pid}.db") for name in names), names

        # A process that exits normally takes its sockets with it; its counts stay.
        first.communicate("\n", timeout=30)
        assert first.returncode == 0
        # It removed its live gauges itself: another host's scrape could not tell it died.
        assert not list(directory.glob(f"gauge_live*-{first.pid}.db"))
        assert list(directory.glob(f"counter_*-{first.pid}.db"))
        one_left = scrape()
        assert value(one_left, "helpdesk_sockets_open", kind="visitor") == 5
        assert value(one_left, "helpdesk_replies_total", tier="kb") == 7

        # So does one killed outright: the scrape forgets this host's dead pids.
        second.send_signal(signal.SIGKILL)
        second.wait(timeout=30)
        none_left = scrape()
        live = none_left.get(("helpdesk_sockets_open", frozenset({("kind", "visitor")})), 0.0)
        assert live == 0
        assert value(none_left, "helpdesk_replies_total", tier="kb") == 7
        assert value(none_left, "helpdesk_llm_tokens_total", direction="in") == 700
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
                process.wait()

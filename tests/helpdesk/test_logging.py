"""Logs: one JSON object per line in production, readable lines on a laptop, and the
reply pipeline's outcomes carry their fields (conversation, tier, latencies) as keys."""

import asyncio
import json
import logging
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from pythonjsonlogger.json import JsonFormatter

from tests.conversations import conftest as conversations_conftest
from tests.conversations.conftest import open_visitor
from tests.factories import EntryFactory, SiteFactory
from tests.helpdesk.test_settings import PRODUCTION_ENV, clean_env

ROOT = Path(__file__).resolve().parents[2]
# The OpenAI-compatible test server fixture the conversation tests use.
fake_llm = conversations_conftest.fake_llm

# The real code paths: the pipeline's outcome log, a Chinese message, an exception.
EMIT = """
import logging
import django

django.setup()
from django.utils import timezone

from conversations.models import Message
from conversations.pipeline import PipelineOutcome, _log

message = Message(id=7, conversation_id=3, created_at=timezone.now())
_log(PipelineOutcome(tier="kb", decision="answer", score=97.26, message_id=8), message)
logging.getLogger("conversations.replies").warning("回复 %s", "已保存")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("helpdesk").exception("it broke")
logging.getLogger("conversations").debug("below the level: never written")
"""


def emit(settings_module: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", EMIT],
        cwd=ROOT,
        env=clean_env(settings_module, PYTHONPATH=str(ROOT), **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_writes_one_json_object_per_line_with_the_extra_fields():
    result = emit("helpdesk.settings.production", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    records = [json.loads(line) for line in lines]  # every line parses on its own
    assert len(records) == 3, lines
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record)
        assert datetime.fromisoformat(record["time"]).tzinfo is not None

    outcome, chinese, failure = records
    assert outcome["level"] == "INFO" and outcome["logger"] == "conversations.pipeline"
    assert outcome["message"].startswith("tier=kb decision=answer score=97.3 conversation=3")
    assert outcome["tier"] == "kb" and outcome["decision"] == "answer"
    assert outcome["score"] == 97.3
    assert outcome["conversation_id"] == 3 and outcome["message_id"] == 7
    assert outcome["reply_id"] is None
    assert isinstance(outcome["latency_ms"], int) and 0 <= outcome["latency_ms"] < 60_000

    assert chinese["level"] == "WARNING" and chinese["message"] == "回复 已保存"
    assert "回复 已保存" in lines[1], "written as UTF-8, not \\u escapes"

    assert failure["level"] == "ERROR" and failure["logger"] == "helpdesk"
    assert "ZeroDivisionError" in failure["exc_info"]


def test_local_mode_writes_readable_lines_and_json_on_request():
    result = emit("helpdesk.settings.local", DATABASE_URL="sqlite:///:memory:")
    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert " INFO conversations.pipeline tier=kb decision=answer score=97.3" in first
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)

    asked = emit("helpdesk.settings.local", DATABASE_URL="sqlite:///:memory:", LOG_FORMAT="json")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stderr.splitlines()[0])["tier"] == "kb"


@pytest.mark.parametrize("module", ["helpdesk.settings.local", "helpdesk.settings.production"])
def test_an_unknown_log_format_is_refused_at_start(module):
    result = emit(module, **{**PRODUCTION_ENV, "LOG_FORMAT": "xml"})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "LOG_FORMAT" in result.stderr


@pytest.mark.django_db(transaction=True)
async def test_the_reply_pipeline_logs_its_outcomes_with_their_fields(fake_llm, caplog):
    """A real KB answer and a real streamed reply, formatted as production would."""
    caplog.set_level(logging.INFO, logger="conversations")
    options = dict(django_settings.LOG_FORMATTERS["json"])
    options.pop("()")
    formatter = JsonFormatter(**options)
    site = await _site()
    visitor, connected, code = await open_visitor(site)
    assert connected, code
    try:
        await visitor.hello()
        kb_ack = await visitor.say("how long does shipping take")
        await visitor.receive_until(
            lambda e: e["type"] == "message" and e["message"]["author"] == "bot"
        )
        await visitor.say("Do you sell gift wrapping for birthdays?")
        end = (await visitor.receive_until(lambda e: e["type"] == "reply.end"))[-1]
        # reply.end goes out when the reply commits; the stream logs its outcome just after.
        for _ in range(100):
            if any("decision=answered" in record.getMessage() for record in caplog.records):
                break
            await asyncio.sleep(0.05)
    finally:
        await visitor.close()

    logged = [json.loads(formatter.format(record)) for record in caplog.records]
    conversation_id = kb_ack["conversation_id"]

    def outcome(tier: str, decision: str) -> dict:
        found = [r for r in logged if r.get("tier") == tier and r.get("decision") == decision]
        assert len(found) == 1, (tier, decision, logged)
        return found[0]

    kb = outcome("kb", "answer")
    assert kb["conversation_id"] == conversation_id and kb["message_id"] == kb_ack["message_id"]
    assert isinstance(kb["score"], float) and kb["score"] > 0
    assert isinstance(kb["latency_ms"], int)

    stream = outcome("llm", "stream")
    assert stream["reply_id"] == end["reply_id"]

    answered = outcome("llm", "answered")
    assert answered["logger"] == "conversations.replies"
    assert answered["conversation_id"] == conversation_id
    assert answered["reply_id"] == end["reply_id"]
    assert answered["chars"] == len(end["message"]["text"])
    assert isinstance(answered["ttft_ms"], int) and isinstance(answered["latency_ms"], int)
    assert 0 <= answered["ttft_ms"] <= answered["latency_ms"]
    assert answered["prompt_tokens"] > 0 and answered["completion_tokens"] > 0


async def _site():
    def create():
        site = SiteFactory(allowed_origins="http://shop.test")
        EntryFactory(
            site=site,
            question="How long does shipping take?",
            answer="Orders arrive in 3-5 business days.",
        )
        return site

    return await database_sync_to_async(create)()

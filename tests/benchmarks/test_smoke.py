"""Each benchmark scenario in its smoke size, so the load generator cannot rot.

The figures are not asserted (tests never assert on wall-clock time); what is
asserted is what every full run must also show: every socket opened and stayed
open, every message was acked, stored and answered, every streamed token
arrived in order, and the agents saw every visitor message.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _bench_env() -> dict[str, str]:
    # The benchmarks set up their own production settings and databases.
    env = {**os.environ}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("HELPDESK_TEST_PREFIX", None)
    return env


def _run(scenario: str, out: Path, *extra: str) -> dict:
    env = _bench_env()
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.loadgen",
            scenario,
            "--smoke",
            "--out",
            str(out),
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "written to" in completed.stdout
    return json.loads(out.read_text())


def _assert_every_console_saw_everything(result: dict) -> None:
    agents = result["agents"]
    consoles = agents["consoles"]
    assert agents["connected"] == agents["open_at_end"] == consoles
    assert result["acked"] == result["sent"] == result["stored_visitor_messages"]
    # Every console's inbox got the row of every visitor message...
    assert agents["visitor_message_ms"]["n"] == result["sent"] * consoles
    # ...but the message events only where the conversation is open: each streamed
    # question on its one watching console, none of the KB traffic.
    assert agents["counts"]["event:message"] == result["stream"]["streams"]
    # Each streaming conversation is open (watched) on exactly one console before the
    # load starts, so its tokens reach that console once; every console getting
    # every token (the old fan-out) would be tokens x consoles.
    assert agents["counts"]["watched"] == result["stream"]["streams"]
    assert agents["delta_added_ms"]["n"] == result["stream"]["tokens"] > 0


@pytest.mark.timeout(180)
def test_hold_smoke_keeps_every_socket_open(tmp_path):
    result = _run("hold", tmp_path / "hold.json")
    wanted = result["sockets_wanted"]
    assert result["sockets_connected"] == wanted
    assert result["sockets_open_at_end"] == wanted
    assert result["connect_ms"]["n"] == wanted
    assert result["kib_per_socket"] > 0


@pytest.mark.timeout(180)
def test_connect_smoke_counts_connects_and_their_cpu(tmp_path):
    result = _run("connect", tmp_path / "connect.json")
    assert result["sockets_connected"] == result["sockets_wanted"]
    assert result["connects_per_s"] > 0
    assert result["web_cpu_ms_per_connect"] > 0


@pytest.mark.timeout(180)
def test_kb_smoke_acks_stores_and_answers_every_message(tmp_path):
    result = _run("kb", tmp_path / "kb.json")
    kb = result["kb"]
    assert kb["sent"] > 0
    assert result["acked"] == result["sent"] == result["stored_visitor_messages"]
    assert kb["answered_kb"] == kb["stored_kb_answers"] == kb["sent"]
    assert kb["unanswered"] == 0
    assert result["gc"]["collections"] >= 0 and "max_pause_ms" in result["gc"]
    # daphne's event loop was probed the whole time (100 wake-ups a second).
    assert result["gc"]["loop_lag_ms"]["n"] > 0


@pytest.mark.timeout(180)
def test_stream_smoke_delivers_every_token_in_order(tmp_path):
    result = _run("stream", tmp_path / "stream.json")
    stream = result["stream"]
    streams = stream["streams"]
    assert stream["replies_ended"] == stream["stored_llm_replies"] == streams
    assert stream["replies_not_llm"] == 0
    assert stream["out_of_order"] == 0
    # The deltas of each reply, joined, are the saved reply's text.
    assert stream["text_matches"] == streams and stream["text_mismatch"] == 0
    assert stream["tokens"] == streams * result["options"]["tokens"]
    assert stream["first_token_added_ms"]["n"] == streams


@pytest.mark.timeout(180)
def test_agents_smoke_sees_every_visitor_message_and_token(tmp_path):
    _assert_every_console_saw_everything(_run("agents", tmp_path / "agents.json"))


@pytest.mark.timeout(180)
def test_scale_out_smoke_behind_the_balancer_visitors_and_agents_see_each_other(tmp_path):
    # Two web processes, two workers, one port: the balancer spreads visitors and
    # consoles over both webs and says in a header where each socket landed.
    result = _run(
        "agents", tmp_path / "two-webs.json", "--webs", "2", "--workers", "2", "--balancer"
    )
    assert result["webs"] == 2
    _assert_every_console_saw_everything(result)
    balancer = result["balancer"]
    assert balancer["failed"] == 0
    assert balancer["visitor_backends"] == balancer["agent_backends"] == 2
    # Visitor messages from one process reached consoles on the other...
    assert balancer["agent_saw_visitor_on_other_process"] > 0
    # ...and a console's "typing" on one process reached visitors on the other;
    # every visitor who wrote saw one.
    assert balancer["visitor_saw_agent_on_other_process"] > 0
    assert balancer["visitors_seeing_agent_typing"] == result["counts"]["senders"]


def _run_script(*command: str, timeout: int) -> str:
    """A benchmark script (`python -m benchmarks.NAME ...`) that must succeed; its output."""
    completed = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        env=_bench_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed.stdout


@pytest.mark.timeout(180)
def test_message_path_cpu_smoke_answers_every_message_from_the_kb():
    # The script asserts that every message was answered from the KB.
    out = _run_script(
        "benchmarks.message_path_cpu", "--messages", "30", "--visitors", "5", timeout=170
    )
    assert "30 KB-answered messages, 5 visitors" in out
    for line in ("receive + ack, CPU", "pipeline, wall", "process CPU", "PostgreSQL CPU"):
        assert line in out


@pytest.mark.timeout(120)
def test_channel_layer_cpu_smoke_relays_every_event_in_order_with_both_parsers():
    # Each run checks that its readers got every event, in order, within the timeout.
    out = _run_script(
        "benchmarks.channel_layer_cpu", "--rounds", "1", "--groups", "5", "--messages", "4",
        timeout=110,
    )  # fmt: skip
    assert "20 reply.delta events through the channel layer" in out
    for parser in ("python", "hiredis"):
        assert f"{parser:<8} CPU per relayed event" in out


@pytest.mark.timeout(180)
def test_reply_path_cpu_smoke_saves_every_streamed_reply():
    # The script asserts that every reply streamed, ended "saved" and was stored.
    out = _run_script(
        "benchmarks.reply_path_cpu", "--replies", "10", "--tokens", "3", "--concurrency", "2",
        timeout=170,
    )  # fmt: skip
    assert "10 replies, 2 at a time, every one saved" in out
    assert "process CPU" in out
    assert "PostgreSQL CPU" in out  # the database server runs on this machine

"""The fake LLM server, exercised over real HTTP with the real ``openai`` SDK.

No Django here on purpose: the server is plain standard library and these tests must run
with ``-p no:django`` while the rest of the project is still being built.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from conversations.fake_llm import ConfigError, FakeLLMConfig, FakeLLMServer
from conversations.fake_llm.cli import add_arguments, config_from_options
from conversations.fake_llm.config import DEFAULT_REPLY, reply_paced
from conversations.fake_llm.text import split_reply

PROJECT_ROOT = Path(__file__).resolve().parents[2]
USER = [{"role": "user", "content": "Where is my parcel?"}]


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as running:
        yield running


@pytest.fixture
def client(server: FakeLLMServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=10) as sdk:
        yield sdk


def stream_chunks(client: OpenAI, messages: list[dict[str, Any]], **kwargs: Any) -> list[Any]:
    return list(client.chat.completions.create(model="m", messages=messages, stream=True, **kwargs))


def contents(chunks: list[Any]) -> list[str]:
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


def http_json(url: str, method: str = "GET", payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def http_error(url: str, method: str = "GET", payload: Any = None) -> tuple[int, Any]:
    """Status and JSON body of a request that is expected to fail."""
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        http_json(url, method, payload)
    with excinfo.value as response:
        return response.code, json.loads(response.read())


# -- reply pieces ----------------------------------------------------------------------


@pytest.mark.parametrize("text", [DEFAULT_REPLY, "  leading and trailing  ", "one", "a\nb  c"])
@pytest.mark.parametrize("count", [None, 1, 3, 1000])
def test_split_reply_concatenates_back_to_the_reply(text: str, count: int | None) -> None:
    pieces = split_reply(text, count)
    assert "".join(pieces) == text
    if count is None:
        assert len(pieces) == len(text.split())
    else:
        assert len(pieces) == min(count, len(text))


# -- streaming ---------------------------------------------------------------------------


def test_stream_delivers_the_reply_in_ordered_deltas(client: OpenAI) -> None:
    chunks = stream_chunks(client, USER)

    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = contents(chunks)
    assert len(pieces) == len(DEFAULT_REPLY.split()) > 5
    assert "".join(pieces) == DEFAULT_REPLY
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices[0].delta.content is None
    assert all(c.object == "chat.completion.chunk" and c.model == "m" for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert not any(c.usage for c in chunks)


def test_chunk_count_controls_the_number_of_deltas(server: FakeLLMServer, client: OpenAI) -> None:
    server.configure(reply="abcdefghij", chunk_count=4)
    pieces = contents(stream_chunks(client, USER))
    assert pieces == ["ab", "cde", "fg", "hij"]


def test_usage_chunk_comes_last_when_asked_for(client: OpenAI) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *USER]
    chunks = stream_chunks(client, messages, stream_options={"include_usage": True})

    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage.prompt_tokens == 6  # "Be brief." + "Where is my parcel?"
    assert usage_chunk.usage.completion_tokens == len(contents(chunks))
    assert usage_chunk.usage.total_tokens == 6 + len(contents(chunks))
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_non_streaming_completion(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-test", messages=USER)

    assert completion.object == "chat.completion"
    assert completion.model == "gpt-test"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == DEFAULT_REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 4
    assert completion.usage.completion_tokens == len(DEFAULT_REPLY.split())


async def test_async_client_streams(server: FakeLLMServer) -> None:
    async with AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0) as sdk:
        stream = await sdk.chat.completions.create(model="m", messages=USER, stream=True)
        pieces = [c.choices[0].delta.content async for c in stream if c.choices]
    assert "".join(p for p in pieces if p) == DEFAULT_REPLY


def test_echo_mode_shows_everything_the_model_was_shown(
    server: FakeLLMServer, client: OpenAI
) -> None:
    server.configure(mode="echo")
    messages = [
        {"role": "system", "content": "SECRET system prompt"},
        {"role": "user", "content": [{"type": "text", "text": "Hello there"}]},
    ]
    reply = "".join(contents(stream_chunks(client, messages)))
    assert reply == "system: SECRET system prompt\nuser: Hello there\n"


# -- fault modes ---------------------------------------------------------------------------


def test_http_500_raises_internal_server_error(server: FakeLLMServer, client: OpenAI) -> None:
    server.configure(mode="http_500")
    with pytest.raises(openai.InternalServerError) as excinfo:
        client.chat.completions.create(model="m", messages=USER, stream=True)
    assert excinfo.value.status_code == 500
    assert "http_500" in excinfo.value.message


def test_http_429_raises_rate_limit_error(server: FakeLLMServer, client: OpenAI) -> None:
    server.configure(mode="http_429")
    with pytest.raises(openai.RateLimitError) as excinfo:
        client.chat.completions.create(model="m", messages=USER)
    assert excinfo.value.code == "rate_limit_exceeded"


def test_stall_before_first_token_times_out_the_client(server: FakeLLMServer) -> None:
    server.configure(mode="stall_before_first_token")
    sdk = OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=0.5)
    started = time.monotonic()
    received = []
    with pytest.raises(openai.APITimeoutError):
        for chunk in sdk.chat.completions.create(model="m", messages=USER, stream=True):
            received.append(chunk)
    assert received == []
    assert time.monotonic() - started < 30  # the server stalls for an hour


def test_stall_mid_stream_sends_some_deltas_then_times_out(server: FakeLLMServer) -> None:
    server.configure(mode="stall_mid_stream")
    sdk = OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=0.5)
    received: list[Any] = []
    with pytest.raises(openai.APITimeoutError):
        for chunk in sdk.chat.completions.create(model="m", messages=USER, stream=True):
            received.append(chunk)
    assert "".join(contents(received)) == "This is a "
    assert not any(c.choices[0].finish_reason for c in received)


def test_stall_ends_and_the_stream_completes(server: FakeLLMServer, client: OpenAI) -> None:
    server.configure(mode="stall_mid_stream", stall_seconds=0.2)
    assert "".join(contents(stream_chunks(client, USER))) == DEFAULT_REPLY


def test_malformed_event_raises_after_good_deltas(server: FakeLLMServer, client: OpenAI) -> None:
    server.configure(mode="malformed")
    received: list[Any] = []
    # The SDK hands the undecodable event straight to json.loads.
    with pytest.raises(json.JSONDecodeError):
        for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
            received.append(chunk)
    assert contents(received) == ["This ", "is "]


def test_disconnect_raises_connection_error_without_finish(
    server: FakeLLMServer, client: OpenAI
) -> None:
    server.configure(mode="disconnect")
    received: list[Any] = []
    # The chunked body never ends, so httpx sees an incomplete message, not a clean EOF.
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
            received.append(chunk)
    assert contents(received) == ["This ", "is "]
    assert not any(c.choices[0].finish_reason for c in received)


def test_disconnect_without_stream_is_a_connection_error(
    server: FakeLLMServer, client: OpenAI
) -> None:
    server.configure(mode="disconnect")
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=USER)


# -- per-request markers -----------------------------------------------------------------


def test_markers_in_the_last_user_message_override_one_request(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        stream_chunks(client, [{"role": "user", "content": "boom [[mode:http_500]]"}])

    echoed = "".join(
        contents(stream_chunks(client, [{"role": "user", "content": "x [[mode:echo]]"}]))
    )
    assert echoed == "user: x [[mode:echo]]\n"

    # The override does not stick, and markers in older user turns are ignored.
    history = [
        {"role": "user", "content": "[[mode:http_500]]"},
        {"role": "assistant", "content": "sorry"},
        {"role": "user", "content": "again, please"},
    ]
    assert "".join(contents(stream_chunks(client, history))) == DEFAULT_REPLY


def test_pacing_markers(client: OpenAI) -> None:
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi [[ttft:0.3]] [[tps:20]]"}], stream=True
    )
    first_delta_at = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content and first_delta_at is None:
            first_delta_at = time.monotonic()
    finished_at = time.monotonic()
    assert first_delta_at is not None
    assert first_delta_at - started >= 0.3
    assert finished_at - first_delta_at >= (len(DEFAULT_REPLY.split()) - 1) / 20


def test_a_pace_range_gives_each_reply_its_own_pace_within_it() -> None:
    config = FakeLLMConfig(tokens_per_second=20, tokens_per_second_max=40)
    rng = random.Random(7)
    paces = [reply_paced(config, rng).tokens_per_second for _ in range(200)]
    assert all(20 <= pace <= 40 for pace in paces)
    assert min(paces) < 25 and max(paces) > 35
    fixed = FakeLLMConfig(tokens_per_second=30)
    assert reply_paced(fixed, rng) is fixed


def test_a_paced_range_streams_no_faster_than_its_top(client: OpenAI) -> None:
    started = None
    finished = None
    messages = [{"role": "user", "content": "hi [[tps:20]] [[tpsmax:40]] [[chunks:9]]"}]
    for chunk in client.chat.completions.create(model="m", messages=messages, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            started = started or time.monotonic()
            finished = time.monotonic()
    assert started is not None and finished is not None
    assert finished - started >= 8 / 40


def test_cli_takes_a_pace_range() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--tokens-per-second", "20", "--tokens-per-second-max", "40"]
    options = vars(parser.parse_args(argv))
    config = config_from_options(options)
    assert (config.tokens_per_second, config.tokens_per_second_max) == (20, 40)


def test_invalid_markers_are_ignored(client: OpenAI) -> None:
    messages = [{"role": "user", "content": "[[mode:nonsense]] [[ttft:-1]] [[colour:red]]"}]
    assert "".join(contents(stream_chunks(client, messages))) == DEFAULT_REPLY


def test_ttft_delays_the_first_delta(server: FakeLLMServer, client: OpenAI) -> None:
    server.configure(ttft=0.4)
    started = time.monotonic()
    for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            break
    assert time.monotonic() - started >= 0.4


# -- recording and control endpoints -----------------------------------------------------


def test_requests_are_recorded(server: FakeLLMServer, client: OpenAI) -> None:
    stream_chunks(client, USER, stream_options={"include_usage": True}, temperature=0.2)

    [record] = server.requests
    assert record["method"] == "POST"
    assert record["path"] == "/v1/chat/completions"
    assert record["headers"]["authorization"] == "Bearer test"
    assert record["headers"]["content-type"] == "application/json"
    assert record["body"]["messages"] == USER
    assert record["body"]["stream"] is True
    assert record["body"]["temperature"] == 0.2
    assert abs(record["received_at"] - time.time()) < 60

    server.requests[0]["body"]["messages"].clear()  # callers get copies
    assert server.requests[0]["body"]["messages"] == USER
    server.clear_requests()
    assert server.requests == []


def test_control_endpoints(server: FakeLLMServer, client: OpenAI) -> None:
    client.chat.completions.create(model="m", messages=USER)
    recorded = http_json(f"{server.url}/_requests")
    assert [r["body"]["messages"] for r in recorded] == [USER]
    assert http_json(f"{server.url}/_requests", "DELETE") == {"cleared": 1}
    assert http_json(f"{server.url}/_requests") == []

    assert http_json(f"{server.url}/_config")["mode"] == "normal"
    updated = http_json(f"{server.url}/_config", "POST", {"reply": "Changed.", "ttft": "0"})
    assert updated["reply"] == "Changed." and updated["ttft"] == 0.0
    assert client.chat.completions.create(model="m", messages=USER).choices[0].message.content == (
        "Changed."
    )
    assert server.config.reply == "Changed."

    for bad in ({"colour": "red"}, {"mode": "sideways"}, {"ttft": "soon"}):
        status, error = http_error(f"{server.url}/_config", "POST", bad)
        assert status == 400
        assert error["error"]["message"]
    with pytest.raises(ConfigError, match=r"Unknown config field\(s\): colour"):
        server.configure(colour="red")

    assert http_json(f"{server.url}/_config", "DELETE")["reply"] == DEFAULT_REPLY
    # Only the API call made after the DELETE is there: control calls are not recorded.
    assert [r["path"] for r in server.requests] == ["/v1/chat/completions"]


def test_models_and_unknown_paths(server: FakeLLMServer, client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["fake-gpt"]
    status, error = http_error(f"{server.url}/v1/nothing-here")
    assert status == 404
    assert error["error"]["type"] == "invalid_request_error"


def test_also_serves_chat_completions_without_v1_prefix(server: FakeLLMServer) -> None:
    with OpenAI(base_url=server.url, api_key="test", max_retries=0) as sdk:
        completion = sdk.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == DEFAULT_REPLY


# -- embeddings ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding_format", [None, "float"])
def test_embeddings_are_deterministic_unit_vectors(
    client: OpenAI, encoding_format: str | None
) -> None:
    extra = {"encoding_format": encoding_format} if encoding_format else {}
    texts = ["Where is my parcel?", "where is my parcel", "Refund policy for shoes"]
    response = client.embeddings.create(model="emb", input=texts, **extra)
    vectors = [item.embedding for item in response.data]

    assert [item.index for item in response.data] == [0, 1, 2]
    assert all(
        len(v) == 64 and math.isclose(math.fsum(x * x for x in v), 1.0, abs_tol=1e-5)
        for v in vectors
    )
    assert response.usage.prompt_tokens == 4 + 4 + 4

    def cosine(a: list[float], b: list[float]) -> float:
        return math.fsum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    again = client.embeddings.create(model="emb", input=texts[0], **extra)
    assert again.data[0].embedding == pytest.approx(vectors[0], abs=1e-6)


# -- concurrency and shutdown ------------------------------------------------------------


async def test_fifty_concurrent_streams(server: FakeLLMServer) -> None:
    server.configure(mode="echo", chunk_count=5, tokens_per_second=50)

    async with AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0) as sdk:

        async def ask(number: int) -> str:
            messages = [{"role": "user", "content": f"question number {number}"}]
            stream = await sdk.chat.completions.create(model="m", messages=messages, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        replies = await asyncio.gather(*(ask(n) for n in range(50)))

    assert replies == [f"user: question number {n}\n" for n in range(50)]
    assert len(server.requests) == 50


def test_stop_returns_promptly_with_a_stalled_request_open() -> None:
    server = FakeLLMServer(config=FakeLLMConfig(mode="stall_before_first_token")).start()
    outcome: list[BaseException | None] = []

    def stalled_request() -> None:
        sdk = OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=60)
        try:
            stream_chunks(sdk, USER)
            outcome.append(None)
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=stalled_request, daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.requests, "the stalled request never reached the server"

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    worker.join(timeout=10)
    assert not worker.is_alive()
    # The connection was cut mid-body, so the client sees an error instead of hanging.
    assert isinstance(outcome[0], openai.APIConnectionError)


# -- command line --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_cli_serves_until_terminated() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "conversations.fake_llm", "--port", str(port), "--quiet"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert first_line.strip() == f"Fake LLM listening on http://127.0.0.1:{port}/v1"

        with OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="test", max_retries=0) as sdk:
            pieces = contents(stream_chunks(sdk, USER))
        assert "".join(pieces) == DEFAULT_REPLY

        process.terminate()
        remaining_output, _ = process.communicate(timeout=10)
        assert process.returncode == 0
        assert "Fake LLM stopped" in remaining_output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

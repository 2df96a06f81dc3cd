"""Load-generator processes: thousands of visitor (or agent) sockets on one asyncio loop.

Each process speaks the real protocol (docs/protocol.md) over `websockets`:
visitors connect with the Site's origin and a signed token and resume their
conversation; agents connect with a staff session cookie. The orchestrator
(benchmarks/loadgen/scenarios.py) starts the processes, waits until every
socket is open, then sets `go`; the process runs its phase and reports its
measurements on the queue.

Clocks: every latency is "received at" minus a wall-clock stamp taken on this
machine, either the client's own send time (carried in `client_id`) or the
fake LLM server's send time (its `stamp` mode makes every token a timestamp).
"""

import asyncio
import contextlib
import json
import os
import random
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

CONNECT_CONCURRENCY = 64
OPEN_TIMEOUT = 120


def raise_open_file_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def stamps_in(text: str) -> list[float]:
    """The fake LLM's per-token send times in a delta's text (stamp mode)."""
    stamps = []
    for word in text.split():
        with contextlib.suppress(ValueError):
            stamps.append(float(word))
    return stamps


@dataclass
class Measurements:
    connect_ms: list[float] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    delta_ms: list[float] = field(default_factory=list)
    first_token_ms: list[float] = field(default_factory=list)
    # streams: the visitor's send -> the reply's first delta (what the visitor waits,
    # the LLM's own time to first token included)
    first_token_from_send_ms: list[float] = field(default_factory=list)
    # streams: the visitor's send -> reply.start (routed, the reply reserved)
    reply_start_ms: list[float] = field(default_factory=list)
    # agents: a visitor message's save (its created_at) -> its inbox row on the console
    message_ms: list[float] = field(default_factory=list)
    # Who sat on which web process (the balancer says so in a response header),
    # to show that events cross between processes: visitors report
    # [conversation_id, backend, [agent names seen typing]], agents
    # [name, backend, [conversation ids of visitor messages seen]].
    placements: list[list] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connect_ms": self.connect_ms,
            "ack_ms": self.ack_ms,
            "answer_ms": self.answer_ms,
            "delta_ms": self.delta_ms,
            "first_token_ms": self.first_token_ms,
            "first_token_from_send_ms": self.first_token_from_send_ms,
            "reply_start_ms": self.reply_start_ms,
            "message_ms": self.message_ms,
            "placements": self.placements,
            "counts": dict(self.counts),
        }


BACKEND_HEADER = "X-Bench-Backend"


def backend_of(ws: ClientConnection) -> str | None:
    """The web process the balancer chose (None without the balancer)."""
    response = getattr(ws, "response", None)
    return response.headers.get(BACKEND_HEADER) if response is not None else None


class VisitorSocket:
    def __init__(
        self,
        ws: ClientConnection,
        measurements: Measurements,
        conversation_id: int | None = None,
        recorded: list | None = None,
    ) -> None:
        self.ws = ws
        # Every frame of this socket in order, ["in"|"out", text], when recording
        # (benchmarks/compression.py replays them through permessage-deflate).
        self.recorded = recorded
        self.m = measurements
        self.conversation_id = conversation_id
        self.backend = backend_of(ws)
        self.typing_agents: set[str] = set()
        self.sent_at: dict[str, float] = {}
        self.question_sent_at: float | None = None
        self.llm_question_sent_at: float | None = None
        self.reply_seq: dict[str, int] = {}
        self.reply_text: dict[str, list[str]] = {}
        self.replies_done = 0
        self.sent_any = False
        self.closed = False

    async def send_message(self, text: str) -> None:
        now = time.time()
        client_id = f"{now:.6f}:{os.getpid()}:{random.getrandbits(32):x}"
        self.sent_at[client_id] = now
        self.sent_any = True
        self.question_sent_at = now
        self.m.counts["sent"] += 1
        payload = json.dumps({"type": "message", "client_id": client_id, "text": text})
        if self.recorded is not None:
            self.recorded.append(["out", payload])
        await self.ws.send(payload)

    async def read_forever(self) -> None:
        try:
            async for raw in self.ws:
                if self.recorded is not None:
                    self.recorded.append(["in", raw])
                self.on_frame(json.loads(raw), time.time())
        except Exception:  # a dropped socket is counted, not raised
            self.m.counts["dropped"] += 1
        finally:
            self.closed = True

    def on_frame(self, frame: dict[str, Any], now: float) -> None:
        kind = frame.get("type")
        if kind == "ack":
            sent = self.sent_at.pop(frame.get("client_id", ""), None)
            if sent is not None:
                self.m.ack_ms.append((now - sent) * 1000)
                self.m.counts["acked"] += 1
        elif kind == "message":
            message = frame["message"]
            if message["author"] == "bot" and message["source"] == "kb":
                if self.question_sent_at is not None:
                    self.m.answer_ms.append((now - self.question_sent_at) * 1000)
                    self.question_sent_at = None
                self.m.counts["answered_kb"] += 1
        elif kind == "reply.start":
            if self.llm_question_sent_at is not None:
                self.m.reply_start_ms.append((now - self.llm_question_sent_at) * 1000)
        elif kind == "reply.delta":
            reply_id = frame["reply_id"]
            expected = self.reply_seq.get(reply_id, 0)
            if frame["seq"] != expected:
                self.m.counts["out_of_order"] += 1
            self.reply_seq[reply_id] = frame["seq"] + 1
            self.reply_text.setdefault(reply_id, []).append(frame["text"])
            stamps = stamps_in(frame["text"])
            self.m.delta_ms.extend((now - stamp) * 1000 for stamp in stamps)
            if expected == 0 and stamps:
                self.m.first_token_ms.append((now - stamps[0]) * 1000)
            if expected == 0 and self.llm_question_sent_at is not None:
                self.m.first_token_from_send_ms.append((now - self.llm_question_sent_at) * 1000)
                self.llm_question_sent_at = None
            self.m.counts["deltas"] += 1
            self.m.counts["tokens"] += len(stamps)
        elif kind == "reply.end":
            self.replies_done += 1
            self.m.counts["replies_ended"] += 1
            message = frame.get("message") or {}
            if message.get("source") != "llm":
                self.m.counts["replies_not_llm"] += 1
            # The deltas joined must be the saved reply, letter for letter: a
            # frame lost, doubled or split wrongly by coalescing shows here.
            streamed = "".join(self.reply_text.pop(frame["reply_id"], []))
            if streamed.strip() == (message.get("text") or "").strip():
                self.m.counts["text_matches"] += 1
            else:
                self.m.counts["text_mismatch"] += 1
        elif kind == "typing" and frame.get("who") == "agent":
            self.typing_agents.add(frame.get("name") or "")
            self.m.counts["agent_typing_seen"] += 1
        elif kind == "error":
            self.m.counts[f"error:{frame.get('code')}"] += 1


async def _open_visitor(
    url: str,
    origin: str,
    token: str,
    m: Measurements,
    gate: asyncio.Semaphore,
    recorded: list | None = None,
    compression: bool = False,
) -> VisitorSocket | None:
    async with gate:
        started = time.time()
        try:
            ws = await connect(
                url,
                origin=origin,
                # "deflate": websockets' client offer (permessage-deflate).
                compression="deflate" if compression else None,
                open_timeout=OPEN_TIMEOUT,
                ping_interval=None,
                max_size=2**22,
            )
            headers = ws.response.headers if ws.response else {}
            if "permessage-deflate" in headers.get("Sec-WebSocket-Extensions", ""):
                m.counts["deflate_negotiated"] += 1
            hello = json.dumps({"type": "hello", "token": token, "page": {}})
            await ws.send(hello)
            if recorded is not None:
                recorded.append(["out", hello])
            while True:
                raw = await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT)
                if recorded is not None:
                    recorded.append(["in", raw])
                frame = json.loads(raw)
                if frame["type"] == "welcome":
                    conversation = frame.get("conversation") or {}
                    break
                if frame["type"] == "error":
                    m.counts[f"hello_error:{frame.get('code')}"] += 1
            # The conversation's state follows the welcome and the replay.
            while True:
                raw = await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT)
                if recorded is not None:
                    recorded.append(["in", raw])
                if json.loads(raw)["type"] == "state":
                    break
        except Exception as error:
            m.counts[f"connect_failed:{type(error).__name__}"] += 1
            return None
        m.connect_ms.append((time.time() - started) * 1000)
        return VisitorSocket(ws, m, conversation.get("id"), recorded)


async def _wait(event, stop_when=None) -> None:
    while not event.is_set():
        if stop_when is not None and stop_when():
            return
        await asyncio.sleep(0.05)


async def _visitor_main(spec: dict[str, Any], control: "Control") -> None:
    m = Measurements()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    urls = spec["urls"]
    record_dir = spec.get("record_frames")
    recordings: list[list] = [[] for _ in spec["tokens"]] if record_dir else []
    opened = await asyncio.gather(
        *(
            _open_visitor(
                urls[i % len(urls)],
                spec["origin"],
                token,
                m,
                gate,
                recordings[i] if record_dir else None,
                spec.get("compression", False),
            )
            for i, token in enumerate(spec["tokens"])
        )
    )
    sockets = [s for s in opened if s is not None]
    readers = [asyncio.create_task(s.read_forever()) for s in sockets]
    control.queue.put(("connected", "visitor", len(sockets)))
    await _wait(control.go)
    phase = spec["phase"]
    streamers = sockets[: spec["streams"]] if phase in ("stream", "mixed") else []
    askers = sockets[len(streamers) :]
    work = []
    if phase in ("kb", "mixed"):
        work.append(_send_at_rate(spec, askers, control.stop))
    if streamers:
        work.append(_stream(spec, streamers, control.stop))
    await asyncio.gather(*work)
    if phase in ("kb", "mixed"):
        # Let the last answers arrive.
        deadline = time.monotonic() + spec.get("drain_seconds", 10)
        while time.monotonic() < deadline and any(s.question_sent_at for s in askers):
            await asyncio.sleep(0.1)
    with control.done.get_lock():
        control.done.value += 1
    await _wait(control.stop)
    m.counts["open_at_end"] = sum(not s.closed for s in sockets)
    m.counts["unanswered"] = sum(s.question_sent_at is not None for s in askers)
    m.counts["senders"] = sum(bool(s.sent_any) for s in sockets)
    m.placements = [
        [s.conversation_id, s.backend, sorted(s.typing_agents)] for s in sockets if s.backend
    ]
    control.queue.put(("result", "visitor", m.as_dict()))
    if record_dir:
        _write_recordings(record_dir, "visitor", recordings)
    for s in sockets:
        with contextlib.suppress(Exception):
            await s.ws.close()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


async def _send_at_rate(spec: dict[str, Any], sockets: list[VisitorSocket], stop) -> None:
    """Messages at `rate` per second for `duration` s, each from an idle socket."""
    rate, duration = spec["rate"], spec["duration"]
    questions = spec["questions"]
    started = time.monotonic()
    sent = 0
    while not stop.is_set():
        elapsed = time.monotonic() - started
        if elapsed >= duration:
            break
        due = int(elapsed * rate) - sent
        for _ in range(max(0, due)):
            socket = random.choice(sockets)
            if socket.question_sent_at is not None or socket.closed:
                socket = next(
                    (s for s in sockets if s.question_sent_at is None and not s.closed), None
                )
                if socket is None:
                    break
            await socket.send_message(random.choice(questions))
            sent += 1
        await asyncio.sleep(0.005)


# What a visitor of the benchmark's electronics shop asks that its knowledge base
# does not answer (tests/data/kb_eval_entries.csv), so the LLM replies. The number
# makes every question new: each needs its own query vector, as real ones do. (The
# fake LLM's pacing used to travel in markers in the question, which tripled the
# cost of embedding it: benchmarks/README.md, "eleventh run".)
LLM_QUESTIONS = (
    "does the 4k monitor {n} come with an hdmi cable in the box?",
    "which laptop is better for video editing, the {n} or the one above it?",
    "is the charger of the phone {n} compatible with my old tablet?",
    "how loud is the fan of the desktop {n} when gaming?",
    "can the wifi router {n} cover a three floor house?",
    "what is the battery life of the speaker {n} at full volume?",
)


async def _stream(spec: dict[str, Any], streamers: list[VisitorSocket], stop) -> None:
    """Every streamer asks the LLM at once; wait for every reply to end."""
    for socket in streamers:
        question = random.choice(LLM_QUESTIONS).format(n=random.randint(10_000, 99_999))
        await socket.send_message(question)
        socket.llm_question_sent_at = socket.question_sent_at
        socket.question_sent_at = None  # not a KB question
    deadline = time.monotonic() + spec.get("stream_timeout", 120)
    while time.monotonic() < deadline and not stop.is_set():
        if all(s.replies_done >= 1 or s.closed for s in streamers):
            break
        await asyncio.sleep(0.1)


def _write_recordings(directory: str, role: str, recordings: list[list]) -> None:
    """One JSON line per socket: its frames in order, as ["in"|"out", text]."""
    path = os.path.join(directory, f"{role}-{os.getpid()}.jsonl")
    with open(path, "w", encoding="utf-8") as out:
        for frames in recordings:
            if frames:
                out.write(json.dumps(frames) + "\n")


@dataclass
class Control:
    """Shared with the orchestrator (fork): reports out, `go` and `stop` in,
    and `done`, how many visitor processes finished their phase."""

    queue: Any
    go: Any
    stop: Any
    done: Any


def visitor_process(spec: dict[str, Any], control: Control) -> None:
    raise_open_file_limit()
    asyncio.run(_visitor_main(spec, control))


# --- agents ------------------------------------------------------------------------------


@dataclass
class AgentConsole:
    ws: ClientConnection
    name: str
    index: int
    consoles: int
    typing: bool
    backend: str | None = None
    seen: set[int] = field(default_factory=set)
    rows_seen: set[tuple[int, str]] = field(default_factory=set)
    recorded: list | None = None

    def owns(self, conversation_id: int) -> bool:
        return conversation_id % self.consoles == self.index

    async def open_conversations(self, conversation_ids: list[int]) -> int:
        """Watch (open) this console's share of them, as an agent with those
        conversations on screen, so their replies stream token by token here;
        returns when the server confirmed. A socket keeps at most 5 watched, so
        more than 5 streams per console leave the oldest unmeasured here."""
        mine = list(filter(self.owns, conversation_ids))
        for conversation_id in mine:
            await self.ws.send(json.dumps({"type": "watch", "conversation_id": conversation_id}))
            while True:
                raw = await asyncio.wait_for(self.ws.recv(), OPEN_TIMEOUT)
                if self.recorded is not None:
                    self.recorded.append(["in", raw])
                frame = json.loads(raw)
                if frame.get("type") == "watching":
                    break
                if frame.get("type") == "error":
                    raise RuntimeError(f"watch refused: {frame}")
        return len(mine)

    async def on_visitor_message(self, conversation_id: int) -> None:
        first = conversation_id not in self.seen
        self.seen.add(conversation_id)
        # One console per conversation answers it with "typing", so each visitor
        # sees an agent's event, often from the other web process.
        if not first or not self.owns(conversation_id):
            return
        if self.typing:
            await self.ws.send(
                json.dumps({"type": "typing", "conversation_id": conversation_id, "active": True})
            )


async def _on_row(console: AgentConsole, row: dict, now: float, m: Measurements) -> None:
    """The inbox learns of a visitor's message from its conversation's row (message
    events reach only the consoles that have the conversation open). A row can
    change again with the same last message (a state change): counted once."""
    last = row.get("last_message") or {}
    if last.get("author") != "visitor":
        return
    key = (row["id"], last["created_at"])
    if key in console.rows_seen:
        return
    console.rows_seen.add(key)
    saved = datetime.fromisoformat(last["created_at"]).timestamp()
    m.message_ms.append((now - saved) * 1000)
    await console.on_visitor_message(row["id"])


async def _agent_reader(console: AgentConsole, m: Measurements) -> None:
    ws = console.ws
    with contextlib.suppress(Exception):
        async for raw in ws:
            now = time.time()
            if console.recorded is not None:
                console.recorded.append(["in", raw])
            frame = json.loads(raw)
            if frame.get("type") == "conversation.updated":
                m.counts["frame:conversation.updated"] += 1
                await _on_row(console, frame["conversation"], now, m)
                continue
            if frame.get("type") != "event":
                m.counts[f"frame:{frame.get('type')}"] += 1
                continue
            event = frame["event"]
            kind = event.get("type")
            m.counts[f"event:{kind}"] += 1
            if kind == "reply.delta":
                m.delta_ms.extend((now - s) * 1000 for s in stamps_in(event["text"]))


async def _agent_main(spec: dict[str, Any], control: Control) -> None:
    m = Measurements()
    consoles: list[AgentConsole] = []
    sessions = spec["sessions"]
    for index, session in enumerate(sessions):
        try:
            ws = await connect(
                spec["url"],
                origin=spec["origin"],
                additional_headers={"Cookie": f"sessionid={session}"},
                compression="deflate" if spec.get("compression") else None,
                open_timeout=OPEN_TIMEOUT,
                ping_interval=None,
                max_size=2**24,
            )
            hello_raw = await ws.recv()
            hello = json.loads(hello_raw)
            if hello.get("type") != "hello":
                raise RuntimeError(f"agent socket refused: {hello}")
            console = AgentConsole(
                ws=ws,
                name=hello["agent"]["name"],
                index=index,
                consoles=len(sessions),
                typing=spec.get("typing", False),
                backend=backend_of(ws),
                recorded=[["in", hello_raw]] if spec.get("record_frames") else None,
            )
            m.counts["watched"] += await console.open_conversations(spec.get("watch", []))
            consoles.append(console)
        except Exception as error:
            m.counts[f"connect_failed:{type(error).__name__}"] += 1
    sockets = [console.ws for console in consoles]
    readers = [asyncio.create_task(_agent_reader(console, m)) for console in consoles]
    control.queue.put(("connected", "agent", len(sockets)))
    await _wait(control.stop)
    m.counts["open_at_end"] = sum(ws.state.name == "OPEN" for ws in sockets)
    m.placements = [[c.name, c.backend, sorted(c.seen)] for c in consoles if c.backend]
    control.queue.put(("result", "agent", m.as_dict()))
    if spec.get("record_frames"):
        _write_recordings(spec["record_frames"], "agent", [c.recorded or [] for c in consoles])
    for ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


def agent_process(spec: dict[str, Any], control: Control) -> None:
    raise_open_file_limit()
    asyncio.run(_agent_main(spec, control))

"""The benchmark scenarios: hold, kb, stream, agents (gc is measured during kb).

Each scenario starts a fresh stack (BenchStack), seeds it, opens the sockets
from several load-generator processes, runs its phase, stops everything and
returns a result dict (figures plus the raw counts) that __main__ prints and
writes to benchmarks/results/<scenario>.json.
"""

import multiprocessing
import queue as queue_module
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.loadgen.clients import Control, agent_process, visitor_process
from benchmarks.loadgen.stack import BenchStack


@dataclass
class Options:
    sockets: int
    client_processes: int = 2
    hold_seconds: float = 60
    rate: float = 500
    duration: float = 60
    streams: int = 300
    tokens: int = 40
    agents: int = 0
    webs: int = 1
    workers: int = 1
    server: str = "daphne"
    env: dict[str, str] = field(default_factory=dict)
    profile: Path | None = None
    drain_seconds: float = 10
    balancer: bool = False
    worker_pool: str = "threads"
    worker_concurrency: int = 400
    record_frames: Path | None = None
    compression: bool = False


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": round(max(values), 2) if values else None,
    }


def _merge(results: list[dict]) -> dict[str, Any]:
    merged: dict[str, Any] = {"counts": {}}
    for result in results:
        for key, value in result.items():
            if key == "counts":
                for name, count in value.items():
                    merged["counts"][name] = merged["counts"].get(name, 0) + count
            else:
                merged.setdefault(key, []).extend(value)
    return merged


class LoadRun:
    """Client processes around one stack: connect them all, go, wait until done, stop."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self.context = context
        self.control = Control(
            queue=context.Queue(),
            go=context.Event(),
            stop=context.Event(),
            done=context.Value("i", 0),
        )
        self.processes: list = []
        self.visitor_processes = 0
        self.connected: dict[str, int] = {}

    def spawn(self, target, spec: dict[str, Any]) -> None:
        process = self.context.Process(target=target, args=(spec, self.control), daemon=True)
        process.start()
        self.processes.append(process)
        self.visitor_processes += target is visitor_process

    def wait_connected(self, timeout: float) -> int:
        """Visitor sockets open once every process has reported."""
        reported = 0
        deadline = time.monotonic() + timeout
        while reported < len(self.processes):
            kind, role, value = self.control.queue.get(
                timeout=max(1.0, deadline - time.monotonic())
            )
            if kind == "connected":
                self.connected[role] = self.connected.get(role, 0) + value
                reported += 1
        return self.connected.get("visitor", 0)

    def go(self) -> None:
        self.control.go.set()

    def wait_done(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.control.done.value >= self.visitor_processes:
                return True
            time.sleep(0.2)
        return False

    def finish(self, timeout: float = 300) -> dict[str, dict[str, Any]]:
        """Stop every process; their measurements merged per role."""
        self.control.stop.set()
        by_role: dict[str, list[dict]] = {"visitor": [], "agent": []}
        deadline = time.monotonic() + timeout
        while sum(len(v) for v in by_role.values()) < len(self.processes):
            try:
                kind, role, value = self.control.queue.get(
                    timeout=max(1.0, deadline - time.monotonic())
                )
            except queue_module.Empty:
                break
            if kind == "result":
                by_role[role].append(value)
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        return {role: _merge(results) for role, results in by_role.items()}


def _stack(options: Options, workdir: Path, *, workers: int) -> BenchStack:
    return BenchStack(
        workdir,
        webs=options.webs,
        workers=workers,
        server=options.server,
        env=options.env,
        reply_tokens=options.tokens,
        balancer=options.balancer,
        worker_pool=options.worker_pool,
        worker_concurrency=options.worker_concurrency,
        compression=options.compression,
    )


def _visitor_specs(
    stack: BenchStack, seed: dict, options: Options, phase: str, **extra
) -> list[dict]:
    urls = [
        stack.visitor_url(port, seed["site_key"], seed["origin"]) for port in stack.front_ports()
    ]
    tokens = seed["tokens"][: options.sockets]
    count = options.client_processes
    return [
        {
            "urls": urls,
            "origin": seed["origin"],
            "tokens": tokens[number::count],
            "phase": phase,
            "questions": seed["questions"],
            "rate": options.rate / count,
            "duration": options.duration,
            "streams": -(-options.streams // count),
            "drain_seconds": options.drain_seconds,
            "record_frames": str(options.record_frames) if options.record_frames else None,
            "compression": options.compression,
            **extra,
        }
        for number in range(count)
    ]


def _streamer_conversations(seed: dict, options: Options) -> list[int]:
    """The conversations whose visitors ask the LLM: each visitor process's first
    `streams` sockets (as `_visitor_specs` deals tokens and `_visitor_main` picks them)."""
    ids = seed["conversation_ids"][: options.sockets]
    count = options.client_processes
    per_process = -(-options.streams // count)
    return [cid for number in range(count) for cid in ids[number::count][:per_process]]


def _agent_spec(stack: BenchStack, seed: dict, options: Options, *, phase: str) -> dict:
    # Without the balancer every console sits on the last web process.
    port = stack.front_ports()[-1]
    streaming = phase in ("stream", "mixed")
    return {
        "url": stack.agent_url(port),
        "origin": f"http://127.0.0.1:{port}",
        "sessions": seed["agent_sessions"],
        # Agents have the conversations that will stream open before the load starts,
        # so every token of their replies is measured on a console too.
        "watch": _streamer_conversations(seed, options) if streaming else [],
        # Behind the balancer consoles answer visitors with "typing", to show
        # events crossing from an agent's process to a visitor's.
        "typing": stack.balancer is not None,
        "record_frames": str(options.record_frames) if options.record_frames else None,
        "compression": options.compression,
    }


def cross_process(visitors: dict, agents: dict) -> dict[str, int]:
    """Events seen across web processes, from where the balancer put each socket."""
    visitor_backend = {cid: backend for cid, backend, _ in visitors.get("placements", [])}
    agent_backend = {name: backend for name, backend, _ in agents.get("placements", [])}
    agent_saw = sum(
        visitor_backend.get(cid) not in (None, backend)
        for _name, backend, cids in agents.get("placements", [])
        for cid in cids
    )
    visitor_saw = sum(
        agent_backend.get(name) not in (None, backend)
        for _cid, backend, names in visitors.get("placements", [])
        for name in names
    )
    return {
        "visitor_backends": len(set(visitor_backend.values())),
        "agent_backends": len(set(agent_backend.values())),
        "agent_saw_visitor_on_other_process": agent_saw,
        "visitor_saw_agent_on_other_process": visitor_saw,
        "visitors_seeing_agent_typing": sum(
            bool(names) for _cid, _backend, names in visitors.get("placements", [])
        ),
    }


def run_hold(options: Options, workdir: Path) -> dict[str, Any]:
    stack = _stack(options, workdir, workers=0)
    try:
        seed = stack.start(visitors=options.sockets + 1)
        # One visitor first, so lazy imports and caches are warm in "idle".
        warm = LoadRun()
        warm_seed = {**seed, "tokens": seed["tokens"][-1:]}
        warm.spawn(visitor_process, _visitor_specs(stack, warm_seed, Options(sockets=1,
                   client_processes=1), "hold")[0])  # fmt: skip
        warm.wait_connected(60)
        warm.go()
        warm.finish(30)
        time.sleep(2)
        idle = stack.web_rss_kib()

        run = LoadRun()
        cpu_before = stack.web_cpu_seconds()
        profiler = stack.profile(options.profile, 600) if options.profile else None
        for spec in _visitor_specs(stack, seed, options, "hold"):
            run.spawn(visitor_process, spec)
        started = time.monotonic()
        connected = run.wait_connected(timeout=1800)
        connect_seconds = time.monotonic() - started
        connect_cpu = stack.web_cpu_seconds() - cpu_before
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes the graph on SIGINT
            profiler.wait(timeout=120)
        run.go()
        held = []
        hold_started = time.monotonic()
        while time.monotonic() - hold_started < options.hold_seconds:
            time.sleep(min(5, options.hold_seconds))
            held.append(stack.web_rss_kib())
        visitors = run.finish()["visitor"]
    finally:
        stack.stop()
    peak = [max(sample[i] for sample in held) for i in range(len(idle))]
    per_socket = (sum(peak) - sum(idle)) / max(connected, 1)
    counts = visitors["counts"]
    return {
        "scenario": "hold",
        "server": options.server,
        "sockets_wanted": options.sockets,
        "sockets_connected": connected,
        "sockets_open_at_end": counts.get("open_at_end", 0),
        "connect_seconds": round(connect_seconds, 1),
        "connects_per_s": round(connected / connect_seconds, 1) if connect_seconds else None,
        "web_cpu_ms_per_connect": round(connect_cpu * 1000 / connected, 2) if connected else None,
        "hold_seconds": options.hold_seconds,
        "web_rss_idle_mib": [round(v / 1024, 1) for v in idle],
        "web_rss_held_mib": [round(v / 1024, 1) for v in peak],
        "kib_per_socket": round(per_socket, 1),
        "connect_ms": summary(visitors.get("connect_ms", [])),
        "counts": counts,
    }


def _count(stack: BenchStack, where: str) -> int:
    (row,) = stack.query(f"SELECT count(*) FROM conversations_message WHERE {where}")
    return int(row[0])


def run_load(options: Options, workdir: Path, *, phase: str) -> dict[str, Any]:
    """kb (messages answered from the KB), stream (LLM replies) or mixed (both at once)."""
    workers = options.workers if phase in ("stream", "mixed") else 0
    stack = _stack(options, workdir, workers=workers)
    try:
        seed = stack.start(visitors=options.sockets, agents=options.agents)
        run = LoadRun()
        for spec in _visitor_specs(stack, seed, options, phase):
            run.spawn(visitor_process, spec)
        if options.agents:
            run.spawn(agent_process, _agent_spec(stack, seed, options, phase=phase))
        connected = run.wait_connected(timeout=1800)
        stack.gc_reset()
        before = stack.web_rss_kib()
        started = time.monotonic()
        cpu_before = stack.web_cpu_seconds()
        worker_cpu_before = stack.worker_cpu_seconds()
        balancer_cpu_before = stack.balancer_cpu_seconds()
        run.go()
        profiler = stack.profile(options.profile, options.duration) if options.profile else None
        finished = run.wait_done(timeout=options.duration + options.drain_seconds + 300)
        if profiler is not None:
            profiler.wait(timeout=120)
        elapsed = time.monotonic() - started
        web_cpu = stack.web_cpu_seconds() - cpu_before
        worker_cpu = stack.worker_cpu_seconds() - worker_cpu_before
        balancer_cpu = stack.balancer_cpu_seconds() - balancer_cpu_before
        time.sleep(1.5)  # one more write of the GC figures
        gc_stats = stack.gc_read()
        worker_gc_stats = stack.worker_gc_read()
        after = stack.web_rss_kib()
        measured = run.finish()
        stored_visitor = _count(stack, "author_kind = 'visitor'")
        stored_llm = _count(stack, "author_kind = 'bot' AND source = 'llm'")
        stored_kb = _count(stack, "author_kind = 'bot' AND source = 'kb'")
        balancer_stats = stack.balancer_read()
    finally:
        stack.stop()
    visitors, agents = measured["visitor"], measured["agent"]
    counts = visitors["counts"]
    sent = counts.get("sent", 0)
    figures: dict[str, Any] = {
        "scenario": phase if not options.agents else f"{phase}+agents",
        "server": options.server,
        "webs": options.webs,
        "sockets_connected": connected,
        "finished_in_time": finished,
        "elapsed_s": round(elapsed, 1),
        "sent": sent,
        "acked": counts.get("acked", 0),
        "stored_visitor_messages": stored_visitor,
        "ack_ms": summary(visitors.get("ack_ms", [])),
        "web_cpu_s": round(web_cpu, 2),
        "web_cpu_ms_per_message": round(web_cpu * 1000 / sent, 2) if sent else None,
        "worker_cpu_s": round(worker_cpu, 2),
        "gc": gc_stats,
        "worker_gc": worker_gc_stats,
        "web_rss_before_mib": [round(v / 1024, 1) for v in before],
        "web_rss_after_mib": [round(v / 1024, 1) for v in after],
        "counts": counts,
    }
    if phase in ("kb", "mixed"):
        kb_sent = sent - (options.streams if phase == "mixed" else 0)
        figures["kb"] = {
            "rate_wanted": options.rate,
            "rate_achieved": round(kb_sent / options.duration, 1),
            "sent": kb_sent,
            "answered_kb": counts.get("answered_kb", 0),
            "stored_kb_answers": stored_kb,
            "unanswered": counts.get("unanswered", 0),
            "answer_ms": summary(visitors.get("answer_ms", [])),
        }
    if options.balancer:
        figures["balancer"] = {
            **balancer_stats,
            "cpu_s": round(balancer_cpu, 2),
            **cross_process(visitors, agents),
        }
    if phase in ("stream", "mixed"):
        ended = counts.get("replies_ended", 0)
        figures["stream"] = {
            "streams": options.streams,
            "replies_ended": counts.get("replies_ended", 0),
            "replies_not_llm": counts.get("replies_not_llm", 0),
            "stored_llm_replies": stored_llm,
            "out_of_order": counts.get("out_of_order", 0),
            "tokens": counts.get("tokens", 0),
            "deltas": counts.get("deltas", 0),
            "frames_per_reply": round(counts.get("deltas", 0) / ended, 2) if ended else None,
            "text_matches": counts.get("text_matches", 0),
            "text_mismatch": counts.get("text_mismatch", 0),
            "replies_per_s": round(ended / elapsed, 1) if elapsed else None,
            "delta_added_ms": summary(visitors.get("delta_ms", [])),
            "first_token_added_ms": summary(visitors.get("first_token_ms", [])),
            "reply_start_ms": summary(visitors.get("reply_start_ms", [])),
            "first_token_from_send_ms": summary(visitors.get("first_token_from_send_ms", [])),
        }
    if options.agents:
        figures["agents"] = {
            "consoles": options.agents,
            "connected": run.connected.get("agent", 0),
            "open_at_end": agents["counts"].get("open_at_end", 0),
            "visitor_message_ms": summary(agents.get("message_ms", [])),
            "delta_added_ms": summary(agents.get("delta_ms", [])),
            "delta_frames_per_console": round(
                agents["counts"].get("event:reply.delta", 0) / max(options.agents, 1), 1
            ),
            "counts": agents["counts"],
        }
    return figures

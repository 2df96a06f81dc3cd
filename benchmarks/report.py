"""Turn benchmarks/results/*.json into the README's Performance table and chart.

    .venv/bin/python -m benchmarks.report

Prints the Markdown table (target, measured, the seed's claim) and writes
benchmarks/results/latency-vs-sockets.svg from the `kb --label sockets-N` runs.
"""

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _get(result: dict | None, *path: str) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "not run"
    if isinstance(value, float):
        value = f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{unit}"


def _throughput(result: dict | None) -> str:
    answered, elapsed = _get(result, "kb", "stored_kb_answers"), _get(result, "elapsed_s")
    return f"{answered / elapsed:.0f}" if answered and elapsed else "not run"


def rows() -> list[tuple[str, str, str, str]]:
    hold = _load("hold")
    target = _load("kb-target")
    sustained = _load("kb-sustained")
    stream = _load("stream")
    agents = _load("agents-light") or _load("agents")
    open_at_end = _get(hold, "sockets_open_at_end")
    return [
        (
            "hold: visitor sockets open at once, 60 s",
            "19,000, all stay open",
            f"{_fmt(_get(hold, 'sockets_connected'))} connected, {_fmt(open_at_end)} open at end",
            "23,000 on 4 cores",
        ),
        (
            "hold: server memory per socket",
            "<= 40 KB",
            _fmt(_get(hold, "kib_per_socket"), " KiB"),
            "1.2 GB / 23,000 = 53 KB",
        ),
        (
            "kb: messages/s one web process answers from the KB (10,000 sockets)",
            "500/s for 60 s",
            f"{_throughput(target)}/s (500/s offered for 10 s, drained in "
            f"{_fmt(_get(target, 'elapsed_s'), ' s')})",
            "-",
        ),
        (
            "kb: send to answer p50 / p99, 10,000 sockets, 40/s offered",
            "<= 5 ms / <= 50 ms",
            f"{_fmt(_get(sustained, 'kb', 'answer_ms', 'p50'), ' ms')} / "
            f"{_fmt(_get(sustained, 'kb', 'answer_ms', 'p99'), ' ms')}",
            "99% of first responses <= 50 ms",
        ),
        (
            "kb: 500/s offered for 10 s: acked, stored, answered",
            "every one",
            f"{_fmt(_get(target, 'sent'))} sent, {_fmt(_get(target, 'acked'))} acked, "
            f"{_fmt(_get(target, 'stored_visitor_messages'))} stored, "
            f"{_fmt(_get(target, 'kb', 'answered_kb'))} answered "
            f"(answer p50 {_fmt(_get(target, 'kb', 'answer_ms', 'p50'), ' ms')})",
            "-",
        ),
        (
            "stream: 300 concurrent LLM replies, deltas in order",
            "all",
            f"{_fmt(_get(stream, 'stream', 'replies_ended'))} ended, "
            f"{_fmt(_get(stream, 'stream', 'out_of_order'))} out of order",
            "-",
        ),
        (
            "stream: added latency per token p99",
            "<= 100 ms",
            _fmt(_get(stream, "stream", "delta_added_ms", "p99"), " ms"),
            "-",
        ),
        (
            "stream: added time to first token p99",
            "<= 50 ms",
            _fmt(_get(stream, "stream", "first_token_added_ms", "p99"), " ms"),
            "-",
        ),
        (
            "stream: the visitor's send to the first token p50 / p99 (the LLM's own 300 ms "
            "included; 300 questions at once)",
            "-",
            f"{_fmt(_get(stream, 'stream', 'first_token_from_send_ms', 'p50'), ' ms')} / "
            f"{_fmt(_get(stream, 'stream', 'first_token_from_send_ms', 'p99'), ' ms')}",
            "-",
        ),
        (
            "agents: 50 consoles, added delay p99 (a visitor message's inbox row / a token of "
            "an open conversation), 10 msg/s + 20 streams",
            "<= 100 ms",
            f"{_fmt(_get(agents, 'agents', 'visitor_message_ms', 'p99'), ' ms')} / "
            f"{_fmt(_get(agents, 'agents', 'delta_added_ms', 'p99'), ' ms')}",
            "-",
        ),
        (
            "gc: longest pause in the web process during kb",
            "<= 5 ms",
            _fmt(_get(sustained, "gc", "max_pause_ms"), " ms"),
            "< 3 ms (Go)",
        ),
    ]


def table() -> str:
    lines = ["| scenario | target | measured | seed's claim |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows()]
    return "\n".join(lines)


def chart(out: Path) -> list[tuple[int, float, float]]:
    """p50 and p99 send-to-answer latency against open sockets, as an SVG line chart."""
    points = []
    for path in sorted(RESULTS.glob("kb-sockets-*.json")):
        result = json.loads(path.read_text())
        p50 = _get(result, "kb", "answer_ms", "p50")
        p99 = _get(result, "kb", "answer_ms", "p99")
        if p50 is not None and p99 is not None:
            points.append((int(result["sockets_connected"]), float(p50), float(p99)))
    points.sort()
    if len(points) < 2:
        return points
    width, height, left, bottom, top, right = 640, 360, 70, 50, 30, 20
    max_x = max(p[0] for p in points)
    max_y = max(p[2] for p in points) * 1.1

    def x(value: float) -> float:
        return left + (width - left - right) * value / max_x

    def y(value: float) -> float:
        return height - bottom - (height - bottom - top) * value / max_y

    def line(index: int, colour: str) -> str:
        coords = " ".join(f"{x(p[0]):.1f},{y(p[index]):.1f}" for p in points)
        dots = "".join(
            f'<circle cx="{x(p[0]):.1f}" cy="{y(p[index]):.1f}" r="3" fill="{colour}"/>'
            for p in points
        )
        return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>{dots}'

    ticks_x = "".join(
        f'<text x="{x(p[0]):.1f}" y="{height - bottom + 18}" text-anchor="middle">{p[0]:,}</text>'
        for p in points
    )
    ticks_y = "".join(
        f'<text x="{left - 8}" y="{y(v):.1f}" text-anchor="end">{v:.0f}</text>'
        f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>'
        for v in (max_y * i / 4 for i in range(5))
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>{ticks_y}{ticks_x}'
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="14">'
        f"KB answer latency (ms) against open visitor sockets, 20 messages/s</text>"
        f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle">open sockets</text>'
        f"{line(1, '#2563eb')}{line(2, '#dc2626')}"
        f'<text x="{width - right - 60}" y="{top + 14}" fill="#2563eb">p50</text>'
        f'<text x="{width - right - 60}" y="{top + 30}" fill="#dc2626">p99</text></svg>'
    )
    out.write_text(svg)
    return points


def main() -> None:
    print(table())
    points = chart(RESULTS / "latency-vs-sockets.svg")
    print("\nsockets  p50 ms  p99 ms")
    for sockets, p50, p99 in points:
        print(f"{sockets:>7,}  {p50:6.1f}  {p99:6.1f}")
    for name in ("db-threads-0", "db-threads-8", "gc-default", "gc-freeze",
                 "gc-freeze-thresholds", "one-web", "two-webs"):  # fmt: skip
        result = _load(f"kb-{name}")
        if result:
            print(
                f"kb-{name}: rate {_get(result, 'kb', 'rate_achieved')}/s, answer p50 "
                f"{_get(result, 'kb', 'answer_ms', 'p50')} ms p99 "
                f"{_get(result, 'kb', 'answer_ms', 'p99')} ms, web CPU "
                f"{result.get('web_cpu_ms_per_message')} ms/message, GC max "
                f"{_get(result, 'gc', 'max_pause_ms')} ms"
            )
    for name in ("hold-daphne-5000", "hold-uvicorn-5000"):
        result = _load(name)
        if result:
            print(
                f"{name}: {result['kib_per_socket']} KiB/socket, connect p50 "
                f"{_get(result, 'connect_ms', 'p50')} ms"
            )


if __name__ == "__main__":
    main()

"""JSON encoding and decoding in the consumers: the standard library against orjson.

    .venv/bin/python -m benchmarks.json_encoding [--frames DIR] [--flame SVG]

The events are the real frames a load-generator run received and sent
(`--record-frames`, see benchmarks/compression.py). For each one it times
what a consumer does with it today and what it would do with orjson:

- out (server -> client): channels' `encode_json` is `json.dumps(event)`;
  with orjson `orjson.dumps(event).decode()` (the ASGI text frame is a str).
- in (client -> server): `frame_decode` (conversations/consumers/frames.py) is
  `json.loads(text)` plus `json.dumps(frame, ensure_ascii=False).encode()` to
  refuse lone surrogates; `orjson.loads(text)` refuses them by itself.

It also reads the web process's share of samples in the json module from a
py-spy flame graph (default: the kb-sustained one) and turns it into CPU per
KB message with that run's figures.
"""

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from benchmarks.flame import flame_samples

RESULTS = Path(__file__).resolve().parent / "results"
ROUNDS = 7


def load_frames(directory: Path) -> tuple[list[dict], list[str]]:
    """(events the server sent, texts the clients sent)."""
    events, inbound = [], []
    for path in sorted(directory.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            for direction, text in json.loads(line):
                if direction == "in":
                    events.append(json.loads(text))
                else:
                    inbound.append(text)
    return events, inbound


def ns_per_item(function: Callable, items: list) -> float:
    """Best of ROUNDS passes over all items (the least disturbed by the shared machine)."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter_ns()
        for item in items:
            function(item)
        best = min(best, (time.perf_counter_ns() - started) / len(items))
    return best


def _orjson_text(event: dict) -> str:
    return orjson.dumps(event).decode()


def decode_stdlib(text: str) -> dict:
    frame = json.loads(text)
    json.dumps(frame, ensure_ascii=False).encode("utf-8")
    return frame


def lone_surrogate_refused() -> bool:
    try:
        orjson.loads('{"type": "message", "text": "\\ud800"}')
    except orjson.JSONDecodeError:
        return True
    return False


def flame_share(svg: Path) -> dict[str, int]:
    """All samples; those in json's module; and an upper bound, the whole of
    channels' send_json (encode plus the send) and frame_decode."""
    counts = flame_samples(svg, ["json/__init__.py", "send_json", "frame_decode"])
    return {
        "total": counts["all"],
        "json": counts["json/__init__.py"],
        "bound": counts["send_json"] + counts["frame_decode"],
    }


def frames_per_kb_message(directory: Path) -> float | None:
    """Server frames a visitor socket receives per KB question it sends (after connect)."""
    sent = received = 0
    for path in sorted((directory / "kb").glob("visitor-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            connected = False
            for direction, text in json.loads(line):
                kind = json.loads(text).get("type")
                if not connected:
                    connected = direction == "in" and kind == "state"
                    continue
                sent += direction == "out" and kind == "message"
                received += direction == "in"
    return received / sent if sent else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.json_encoding")
    parser.add_argument("--frames", type=Path, default=RESULTS / "frames")
    parser.add_argument("--flame", type=Path, default=RESULTS / "kb-sustained-flame.svg")
    parser.add_argument("--run", type=Path, default=RESULTS / "kb-sustained.json")
    args = parser.parse_args(argv)

    events, inbound = load_frames(args.frames)
    if not events:
        print(f"no recorded frames under {args.frames}: run the loadgen with --record-frames")
        return
    for event in events:
        assert json.loads(orjson.dumps(event)) == event
    out_std = ns_per_item(json.dumps, events)
    out_or = ns_per_item(_orjson_text, events)
    in_std = ns_per_item(decode_stdlib, inbound) if inbound else None
    in_or = ns_per_item(orjson.loads, inbound) if inbound else None
    bytes_std = statistics.mean(len(json.dumps(e).encode()) for e in events)
    bytes_or = statistics.mean(len(orjson.dumps(e)) for e in events)

    print(f"events: {len(events):,} server->client, {len(inbound):,} client->server")
    print("| per event | json (stdlib) | orjson | saved |")
    print("| --- | --- | --- | --- |")
    print(f"| encode, server -> client | {out_std:,.0f} ns | {out_or:,.0f} ns | "
          f"{out_std - out_or:,.0f} ns ({out_std / out_or:.1f}x) |")  # fmt: skip
    if in_std and in_or:
        print(f"| decode + surrogate check, client -> server | {in_std:,.0f} ns | {in_or:,.0f} ns "
              f"| {in_std - in_or:,.0f} ns ({in_std / in_or:.1f}x) |")  # fmt: skip
    print(f"| bytes of the encoded event | {bytes_std:,.0f} | {bytes_or:,.0f} | "
          f"{100 * (1 - bytes_or / bytes_std):.0f} % (no spaces after , and :) |")  # fmt: skip
    print(f"orjson refuses a lone surrogate on decode: {lone_surrogate_refused()}")
    by_kind: dict[str, list[dict]] = {}
    for event in events:
        kind = event.get("type", "?")
        if kind == "event":
            kind = f"event/{event['event'].get('type')}"
        by_kind.setdefault(kind, []).append(event)
    print("\n| encode by frame type (most frequent) | n | json | orjson |")
    print("| --- | --- | --- | --- |")
    for kind, items in sorted(by_kind.items(), key=lambda item: -len(item[1]))[:6]:
        std, fast = ns_per_item(json.dumps, items), ns_per_item(_orjson_text, items)
        print(f"| {kind} | {len(items):,} | {std:,.0f} ns | {fast:,.0f} ns |")

    per_message = None
    if args.run.exists():
        per_message = json.loads(args.run.read_text()).get("web_cpu_ms_per_message")
    frames = frames_per_kb_message(args.frames)
    if frames and in_std and in_or:
        std_us = (frames * out_std + in_std) / 1000
        or_us = (frames * out_or + in_or) / 1000
        print(f"\nper KB message (visitor socket: {frames:.1f} frames out, 1 in, no console): "
              f"{std_us:,.1f} us with json, {or_us:,.1f} us with orjson")  # fmt: skip
        if per_message:
            print(f"  = {100 * std_us / 1000 / per_message:.2f} % of the {per_message} ms of web "
                  f"CPU per KB message ({args.run.name}); orjson saves "
                  f"{100 * (std_us - or_us) / 1000 / per_message:.2f} %")  # fmt: skip
    if args.flame.exists():
        share = flame_share(args.flame)
        if share["total"]:
            print(f"\nflame graph {args.flame.name}: {share['total']:,} samples; in json "
                  f"dumps/loads {share['json']:,} ({100 * share['json'] / share['total']:.2f} %); "
                  f"all of send_json + frame_decode {share['bound']:,} "
                  f"({100 * share['bound'] / share['total']:.2f} %, an upper bound)")  # fmt: skip


if __name__ == "__main__":
    main()

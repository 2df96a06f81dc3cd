"""Bytes on the wire with and without WebSocket per-message compression.

    .venv/bin/python -m benchmarks.loadgen kb --smoke --record-frames benchmarks/results/frames/kb
    .venv/bin/python -m benchmarks.loadgen stream --smoke --record-frames \
        benchmarks/results/frames/stream
    .venv/bin/python -m benchmarks.loadgen agents --smoke --record-frames \
        benchmarks/results/frames/agents
    .venv/bin/python -m benchmarks.compression          # the tables

daphne does not negotiate permessage-deflate, so the real frames the load
generator received (and sent) are replayed here through permessage-deflate
exactly as a server and client with context takeover produce them (RFC 7692):
one raw-deflate stream per direction and socket, each message flushed with
Z_SYNC_FLUSH and its trailing 00 00 ff ff removed. Two settings:

- window 15 bits, memLevel 8: uvicorn `--ws websockets` (websockets' server
  defaults) and the brief's zlib recipe;
- window 12 bits, memLevel 5: uvicorn `--ws websockets-sansio`, websockets'
  own client and server defaults, about a tenth of the memory.

Bytes are WebSocket frames: payload plus frame header (2, 4 or 10 bytes, and
the 4-byte mask on client frames); TCP/IP overhead is left out.

The memory a compressing socket costs comes from the `hold` runs
(`hold --server uvicorn [--compression]`), printed at the end when present.
"""

import argparse
import json
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
FRAMES = RESULTS / "frames"
SETTINGS = {"w15": (15, 8), "w12": (12, 5)}
TAIL = b"\x00\x00\xff\xff"


def frame_bytes(payload: int, *, masked: bool) -> int:
    header = 2 if payload < 126 else 4 if payload < 65536 else 10
    return header + payload + (4 if masked else 0)


class Deflater:
    """One direction of one socket: permessage-deflate with context takeover."""

    def __init__(self, window_bits: int, mem_level: int) -> None:
        self.z = zlib.compressobj(
            zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -window_bits, mem_level
        )

    def message(self, data: bytes) -> int:
        out = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        if out.endswith(TAIL):
            out = out[:-4]
        return len(out)


def check_roundtrip(frames: list[list[str]]) -> None:
    """What the deflater produces inflates back to the frames (the recipe is right)."""
    z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15, 8)
    d = zlib.decompressobj(-15)
    for _direction, text in frames:
        data = text.encode()
        out = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TAIL)
        assert d.decompress(out[:-4] + TAIL) == data


@dataclass
class Tally:
    frames: int = 0
    plain: int = 0
    deflated: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, data: bytes, *, masked: bool, sizes: dict[str, int]) -> None:
        self.frames += 1
        self.plain += frame_bytes(len(data), masked=masked)
        for name, size in sizes.items():
            self.deflated[name] += frame_bytes(size, masked=masked)


def tally_socket(frames: list[list[str]], phases: dict[str, Tally]) -> dict[str, int]:
    """Adds one socket's frames to `phases` ("connect": hello to state, "after": the rest).
    Returns what happened after the connect: visitor messages sent, replies ended."""
    deflaters = {
        (name, direction): Deflater(*bits) for name, bits in SETTINGS.items() for direction in "io"
    }
    phase = "connect"
    seen = {"sent": 0, "replies": 0, "kb_answers": 0, "events": 0}
    for direction, text in frames:
        data = text.encode()
        d = "o" if direction == "out" else "i"
        sizes = {name: deflaters[(name, d)].message(data) for name in SETTINGS}
        phases[phase].add(data, masked=direction == "out", sizes=sizes)
        frame = json.loads(text)
        kind = frame.get("type")
        if phase == "connect" and direction == "in" and kind in ("state", "hello"):
            # visitors: state ends the connect; agents: hello is the first frame.
            phase = "after"
            continue
        if direction == "out" and kind == "message":
            seen["sent"] += 1
        elif kind == "reply.end":
            seen["replies"] += 1
        elif kind == "message" and (frame.get("message") or {}).get("source") == "kb":
            seen["kb_answers"] += 1
        elif kind == "event":
            seen["events"] += 1
    return seen


def analyse(directory: Path, role: str) -> dict:
    phases = {"connect": Tally(), "after": Tally()}
    totals: dict[str, int] = defaultdict(int)
    sockets = 0
    for path in sorted(directory.glob(f"{role}-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            frames = json.loads(line)
            if sockets == 0:
                check_roundtrip(frames)
            sockets += 1
            for key, value in tally_socket(frames, phases).items():
                totals[key] += value
    return {"sockets": sockets, "phases": phases, "seen": dict(totals)}


def _saving(plain: int, deflated: int) -> str:
    return f"{100 * (1 - deflated / plain):.0f} %" if plain else "-"


def report(name: str, directory: Path) -> list[str]:
    # An agents run records visitors too: its table is the consoles'.
    role = "agent" if name == "agents" else "visitor"
    result = analyse(directory, role)
    if not result["sockets"]:
        return [f"{name}: no recordings in {directory}"]
    seen, phases = result["seen"], result["phases"]
    per = {
        "kb": ("KB exchange", seen.get("kb_answers", 0)),
        "stream": ("streamed reply", seen.get("replies", 0)),
        "agents": ("console event (row updates included)", seen.get("events", 0)),
    }.get(name, ("socket", result["sockets"]))
    lines = [
        f"\n{name}: {result['sockets']} {role} sockets ({directory})",
        "| bytes on the wire | frames | no compression | deflate w15 | saving | "
        "deflate w12 | saving |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = [("connect (hello .. state), per socket", phases["connect"], result["sockets"])]
    rows.append((f"after connect, per {per[0]}", phases["after"], per[1]))
    for label, tally, count in rows:
        if not count:
            continue
        w15, w12 = tally.deflated["w15"], tally.deflated["w12"]
        lines.append(
            f"| {label} | {tally.frames / count:.1f} | {tally.plain / count:,.0f} | "
            f"{w15 / count:,.0f} | {_saving(tally.plain, w15)} | {w12 / count:,.0f} | "
            f"{_saving(tally.plain, w12)} |"
        )
    return lines


def memory_lines() -> list[str]:
    lines = ["\nmemory per socket (hold runs; RSS above the idle process / sockets):"]
    found = False
    for path in sorted(RESULTS.glob("hold-*.json")):
        result = json.loads(path.read_text())
        if result.get("smoke"):
            continue
        found = True
        compression = result.get("options", {}).get("compression", False)
        lines.append(
            f"  {path.stem}: {result.get('server')}, compression "
            f"{'on' if compression else 'off'}, {result['sockets_connected']:,} sockets: "
            f"{result['kib_per_socket']} KiB/socket"
        )
    return lines if found else []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compression")
    parser.add_argument("--frames", type=Path, default=FRAMES, help="recordings, one dir per run")
    args = parser.parse_args(argv)
    lines: list[str] = []
    for directory in sorted(p for p in args.frames.iterdir() if p.is_dir()):
        lines += report(directory.name, directory)
    lines += memory_lines()
    print("\n".join(lines))


if __name__ == "__main__":
    main()

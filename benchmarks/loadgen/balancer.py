"""A small TCP load balancer for the scale-out run: one listening port, round-robin
over the web processes.

    python -m benchmarks.loadgen.balancer --port 8000 --backend 8001 --backend 8002

Round-robin is kept per socket kind (the request path's first two segments:
/ws/visitor/, /ws/agent/, anything else), so visitors and agent consoles are
each spread evenly and every web process holds some of both; that is what lets
the scale-out run show a visitor on one process and an agent on the other
seeing each other's events.

The backend's index goes back to the client in an `X-Bench-Backend` header of
the HTTP response (101 for a WebSocket), so the load generator knows where each
socket landed. After the head, bytes are relayed untouched in both directions.
A JSON file (`--stats`) records the connections per backend and kind.
"""

import argparse
import asyncio
import contextlib
import json
import resource
import signal
from collections import Counter
from pathlib import Path

HEADER = b"X-Bench-Backend"
HEAD_LIMIT = 64 * 1024
CHUNK = 64 * 1024


class Balancer:
    def __init__(self, backends: list[int], stats: Path | None = None) -> None:
        self.backends = backends
        self.stats_file = stats
        self.next_for: Counter = Counter()
        self.placed: Counter = Counter()
        self.open = 0
        self.failed = 0

    def choose(self, kind: str) -> int:
        index = self.next_for[kind] % len(self.backends)
        self.next_for[kind] += 1
        return index

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.open += 1
        backend_w = None
        try:
            first = await _read_until(client_r, b"\r\n")
            kind = _kind(first)
            index = self.choose(kind)
            backend_r, backend_w = await asyncio.open_connection("127.0.0.1", self.backends[index])
            self.placed[f"{index}:{kind}"] += 1
            backend_w.write(first)
            await asyncio.gather(
                _pipe(client_r, backend_w),
                _pipe_marked(backend_r, client_w, index),
            )
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.failed += 1
        finally:
            self.open -= 1
            for writer in (client_w, backend_w):
                if writer is not None:
                    writer.close()

    def stats(self) -> dict:
        by_backend: dict[str, dict[str, int]] = {}
        for key, count in self.placed.items():
            index, kind = key.split(":", 1)
            by_backend.setdefault(index, {})[kind] = count
        return {"backends": self.backends, "placed": by_backend, "failed": self.failed}

    async def write_stats_forever(self) -> None:
        while self.stats_file is not None:
            self.write_stats()
            await asyncio.sleep(1)

    def write_stats(self) -> None:
        if self.stats_file is not None:
            self.stats_file.write_text(json.dumps(self.stats()))


def _kind(head: bytes) -> str:
    """`GET /ws/visitor/?site=..` -> "/ws/visitor"."""
    try:
        path = head.split(b" ", 2)[1].split(b"?", 1)[0].decode("ascii", "replace")
    except IndexError:
        return "other"
    return "/".join(path.split("/")[:3]) or "other"


async def _read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = await reader.read(CHUNK)
        if not chunk:
            raise asyncio.IncompleteReadError(data, None)
        data += chunk
        if len(data) > HEAD_LIMIT:
            raise ValueError("HTTP head too long")
    return data


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(OSError):
        if writer.can_write_eof():
            writer.write_eof()


async def _pipe_marked(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int
) -> None:
    """Relay the response, with the backend's index added after its status line."""
    head = await _read_until(reader, b"\r\n")
    status, rest = head.split(b"\r\n", 1)
    writer.write(status + b"\r\n" + HEADER + b": " + str(index).encode() + b"\r\n" + rest)
    await _pipe(reader, writer)


async def serve(port: int, backends: list[int], stats: Path | None) -> None:
    balancer = Balancer(backends, stats)
    server = await asyncio.start_server(balancer.handle, "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    writer = asyncio.create_task(balancer.write_stats_forever())
    async with server:
        await stop.wait()
    writer.cancel()
    balancer.write_stats()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadgen.balancer")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", type=int, action="append", required=True, help="web port")
    parser.add_argument("--stats", type=Path)
    args = parser.parse_args(argv)
    # Two descriptors per relayed socket.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(serve(args.port, args.backend, args.stats))


if __name__ == "__main__":
    main()

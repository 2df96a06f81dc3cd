"""CPU of relaying a reply's deltas through the channel layer: redis-py's reply parsers.

    python -m benchmarks.channel_layer_cpu [--rounds 3] [--groups 300] [--messages 40]

One process does what the worker and the web process do for a stream's deltas:
`--groups` conversation groups, each with one subscribed channel, are sent
`--messages` reply.delta events each through the project's channel layer (the
pipelined Redis pub/sub layer of production settings), paced 1 ms apart per
group, while a reader per channel receives them. It prints the process's CPU per
relayed message (the publish and its receipt) with redis-py's pure-Python reply
parser and with hiredis's C parser, alternating, each in a fresh process.
Needs REDIS_URL.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARSERS = ("python", "hiredis")


def _parser_force_python() -> None:
    """Make every redis-py async connection parse in Python, hiredis installed or not."""
    from redis.asyncio import connection

    original = connection.AbstractConnection.set_parser

    def set_parser(self, parser_class):
        if parser_class is connection._AsyncHiredisParser:
            three = str(self.protocol) == "3"
            parser_class = connection._AsyncRESP3Parser if three else connection._AsyncRESP2Parser
        original(self, parser_class)

    connection.AbstractConnection.set_parser = set_parser


def run(parser: str, groups: int, messages: int) -> None:
    import django

    if parser == "python":
        _parser_force_python()
    django.setup()
    from channels.layers import get_channel_layer
    from redis.utils import HIREDIS_AVAILABLE

    if parser == "hiredis" and not HIREDIS_AVAILABLE:
        raise SystemExit("hiredis is not installed")

    async def relay() -> tuple[int, float]:
        layer = get_channel_layer()
        channels = []
        for number in range(groups):
            channel = await layer.new_channel()
            await layer.group_add(f"bench.{number}", channel)
            channels.append(channel)
        received = 0

        async def read(channel: str) -> None:
            nonlocal received
            for seq in range(messages):
                message = await layer.receive(channel)
                if message["event"]["seq"] != seq:
                    raise SystemExit(f"{channel}: seq {message['event']['seq']}, expected {seq}")
                received += 1

        async def write(number: int) -> None:
            for seq in range(messages):
                event = {"type": "reply.delta", "reply_id": uuid.uuid4().hex, "seq": seq,
                         "text": f"{time.time():.6f} "}  # fmt: skip
                await layer.group_send(
                    f"bench.{number}",
                    {"type": "conversation.event", "conversation_id": number, "event": event},
                )
                await asyncio.sleep(0.001)

        cpu = time.process_time()
        # A lost event would leave its reader waiting: fail instead.
        await asyncio.wait_for(
            asyncio.gather(*map(read, channels), *map(write, range(groups))), timeout=120
        )
        return received, time.process_time() - cpu

    received, cpu = asyncio.run(relay())
    print(f"{cpu / received * 1e6:.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--run", choices=PARSERS, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.run:
        run(options.run, options.groups, options.messages)
        return

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.production",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "channel-layer-benchmark"),
        "ALLOWED_HOSTS": os.environ.get("ALLOWED_HOSTS", "localhost"),
        "DATABASE_URL": os.environ.get("DATABASE_URL", "sqlite:///:memory:"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CHANNEL_LAYER_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
    }
    per_message: dict[str, list[float]] = {name: [] for name in PARSERS}
    for _ in range(options.rounds):
        for name in PARSERS:
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.channel_layer_cpu", "--run", name,
                 "--groups", str(options.groups), "--messages", str(options.messages)],
                cwd=ROOT, env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            per_message[name].append(float(done.stdout.split()[-1]))
    total = options.groups * options.messages
    print(f"{total} reply.delta events through the channel layer, {options.rounds} rounds each")
    for name, values in per_message.items():
        shown = ", ".join(f"{value:.1f}" for value in values)
        median = statistics.median(values)
        print(f"{name:<8} CPU per relayed event: median {median:5.1f} us ({shown})")


if __name__ == "__main__":
    main()

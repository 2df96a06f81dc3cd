"""Run one benchmark scenario against the real stack and print its figures.

    .venv/bin/python -m benchmarks.loadgen hold     # 19,000 sockets held 60 s
    .venv/bin/python -m benchmarks.loadgen kb       # 10,000 sockets, 500 KB questions/s, 60 s
    .venv/bin/python -m benchmarks.loadgen stream   # 300 concurrent LLM replies
    .venv/bin/python -m benchmarks.loadgen agents   # 50 consoles watching kb + stream at once
    .venv/bin/python -m benchmarks.loadgen kb --smoke   # seconds, for CI

Needs DATABASE_URL (any database on the server: a throw-away one is created
next to it) and REDIS_URL, as the test suite does. Writes
benchmarks/results/<scenario>[-<label>].json. See benchmarks/README.md.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.loadgen.scenarios import Options, run_hold, run_load

RESULTS = Path(__file__).resolve().parents[1] / "results"

FULL = {
    "hold": {"sockets": 19000, "client_processes": 4, "hold_seconds": 60},
    "kb": {"sockets": 10000, "client_processes": 2, "rate": 500, "duration": 60},
    "stream": {"sockets": 300, "client_processes": 1, "streams": 300},
    "connect": {"sockets": 3000, "client_processes": 2, "hold_seconds": 1},
    "agents": {
        "sockets": 2000,
        "client_processes": 2,
        "rate": 100,
        "duration": 30,
        "streams": 100,
        "agents": 50,
    },
}
SMOKE = {
    "hold": {"sockets": 100, "client_processes": 2, "hold_seconds": 2},
    "connect": {"sockets": 100, "client_processes": 2, "hold_seconds": 1},
    "kb": {"sockets": 100, "client_processes": 2, "rate": 20, "duration": 3},
    "stream": {"sockets": 10, "client_processes": 1, "streams": 10, "tokens": 10},
    "agents": {
        "sockets": 50,
        "client_processes": 1,
        "rate": 10,
        "duration": 3,
        "streams": 5,
        "tokens": 10,
        "agents": 3,
    },
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadgen")
    parser.add_argument("scenario", choices=sorted(FULL))
    parser.add_argument("--smoke", action="store_true", help="a few seconds, for CI")
    parser.add_argument("--sockets", type=int)
    parser.add_argument("--client-processes", type=int)
    parser.add_argument("--rate", type=float, help="KB questions per second")
    parser.add_argument("--duration", type=float, help="seconds of KB questions")
    parser.add_argument("--hold-seconds", type=float)
    parser.add_argument("--streams", type=int)
    parser.add_argument("--agents", type=int)
    parser.add_argument(
        "--drain-seconds", type=float, help="how long visitors wait for the last answers"
    )
    parser.add_argument("--webs", type=int, default=1, help="web processes")
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    parser.add_argument(
        "--server", choices=["daphne", "uvicorn", "uvicorn-sansio"], default="daphne"
    )
    parser.add_argument(
        "--balancer", action="store_true",
        help="clients connect to one port: a round-robin TCP balancer over the webs",
    )  # fmt: skip
    parser.add_argument(
        "--compression", action="store_true",
        help="permessage-deflate on (uvicorn only: daphne does not negotiate it)",
    )  # fmt: skip
    parser.add_argument("--worker-pool", default="threads", help="celery worker --pool")
    parser.add_argument("--worker-concurrency", type=int, default=400)
    parser.add_argument(
        "--record-frames", type=Path, metavar="DIR",
        help="write every socket's frames to DIR/<role>-<pid>.jsonl (for compression.py)",
    )  # fmt: skip
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE",
        help="extra setting for the web and worker processes (repeatable)",
    )  # fmt: skip
    parser.add_argument("--label", default="", help="suffix of the results file")
    parser.add_argument(
        "--profile", action="store_true",
        help="py-spy flame graph of the web process: benchmarks/results/<scenario>-flame.svg",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="results file (default benchmarks/results/)")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    values = dict((SMOKE if args.smoke else FULL)[args.scenario])
    for name in (
        "sockets", "client_processes", "rate", "duration", "hold_seconds", "streams", "agents",
        "drain_seconds",
    ):  # fmt: skip
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    env = dict(item.split("=", 1) for item in args.env)
    label = f"-{args.label}" if args.label else ""
    profile = RESULTS / f"{args.scenario}{label}-flame.svg" if args.profile else None
    return Options(
        **values,
        webs=args.webs,
        workers=args.workers,
        server=args.server,
        env=env,
        profile=profile,
        balancer=args.balancer,
        worker_pool=args.worker_pool,
        worker_concurrency=args.worker_concurrency,
        record_frames=args.record_frames,
        compression=args.compression,
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            print(f"{name} is not set: the benchmarks run on the real PostgreSQL and Redis.")
            return 2
    if args.compression and args.server == "daphne":
        print("--compression needs --server uvicorn: daphne does not negotiate permessage-deflate")
        return 2
    options = options_from(args)
    if options.record_frames:
        options.record_frames.mkdir(parents=True, exist_ok=True)
    # The machine is shared: the load before and after says how far to trust a run.
    loadavg_start = _loadavg()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as workdir:
        if args.scenario in ("hold", "connect"):
            result = run_hold(options, Path(workdir))
        elif args.scenario == "kb":
            result = run_load(options, Path(workdir), phase="kb")
        elif args.scenario == "stream":
            result = run_load(options, Path(workdir), phase="stream")
        else:
            result = run_load(options, Path(workdir), phase="mixed")
    result["options"] = {
        key: str(value) if isinstance(value, Path) else value
        for key, value in vars(options).items()
    }
    result["smoke"] = args.smoke
    result["loadavg_start"] = loadavg_start
    result["loadavg_end"] = _loadavg()
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    label = f"-{args.label}" if args.label else ""
    out = args.out or RESULTS / f"{args.scenario}{'-smoke' if args.smoke else ''}{label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(_table(result))
    print(f"\nwritten to {out}")
    return 0


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _table(result: dict, prefix: str = "") -> str:
    lines = []
    for key, value in result.items():
        if key in ("counts", "options") and prefix:
            continue
        if isinstance(value, dict) and key not in ("counts",):
            lines.append(_table(value, prefix=f"{prefix}{key}."))
        else:
            lines.append(f"{prefix + key:<36} {value}")
    return "\n".join(line for line in lines if line)


if __name__ == "__main__":
    sys.exit(main())

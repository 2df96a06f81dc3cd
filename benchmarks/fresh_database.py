"""The measuring half of a benchmark script, run against a database of its own.

`message_path_cpu` and `reply_path_cpu` parse their options, then run themselves
again with `--run` in a child process whose settings are production's, on a new
database (created, migrated, dropped afterwards) and on channel-layer and cache
prefixes nothing else uses, so that a run neither reads nor leaves anything behind.
"""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_in_fresh_database(*, name: str, module: str, args: list[str], **settings: str) -> None:
    """`python -m MODULE --run ARGS` with production settings (and `settings` over them)
    on a new database named after `name`, on DATABASE_URL's server and REDIS_URL."""
    sys.path.insert(0, str(ROOT))
    from tests.reliability_outage import Database, manage, production_env

    database = Database(name)
    database.create()
    try:
        env = production_env(
            database.url,
            os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            **{
                "LOG_LEVEL": "WARNING",
                "CHANNEL_LAYER_PREFIX": f"cpu{uuid.uuid4().hex[:8]}",
                "CACHE_KEY_PREFIX": f"cpu{uuid.uuid4().hex[:8]}",
                **settings,
            },
        )
        manage(env, "migrate", "--noinput")
        subprocess.run(
            [sys.executable, "-m", module, "--run", *args], cwd=ROOT, env=env, check=True
        )
    finally:
        database.drop()


def postgres_cpu_seconds() -> float | None:
    """User + system CPU of every process named `postgres` on this machine (Linux),
    to count the database server's share of a measured phase; None elsewhere."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks = 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        if name == "postgres":
            fields = text[text.rindex(")") + 2 :].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuUsed:
    """Seconds of CPU a measured phase took: this process's, and PostgreSQL's (None
    where it cannot be read)."""

    process: float = 0.0
    postgres: float | None = None

    def lines(self, *, count: int, unit: str) -> list[str]:
        lines = [f"{'process CPU':<22} {self.process * 1000 / count:6.2f} ms per {unit}"]
        if self.postgres is not None:
            lines.append(
                f"{'PostgreSQL CPU':<22} {self.postgres * 1000 / count:6.2f} ms per {unit}"
                " (every postgres process on this machine)"
            )
        return lines


@contextmanager
def cpu_measured() -> Iterator[CpuUsed]:
    used = CpuUsed()
    process, postgres = time.process_time(), postgres_cpu_seconds()
    yield used
    used.process = time.process_time() - process
    postgres_after = postgres_cpu_seconds()
    if postgres is not None and postgres_after is not None:
        used.postgres = postgres_after - postgres

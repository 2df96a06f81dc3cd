"""The real stack for a benchmark run: its own PostgreSQL database, the shared Redis
under a prefix of its own, production web process(es), Celery worker(s) and the
fake LLM server with realistic pacing.

The process and database helpers are the ones the outage drills use
(tests/reliability_outage), so both drive the product the same way.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from tests.reliability_outage import (
    BIN,
    ROOT,
    Database,
    Process,
    free_port,
    http_get,
    manage,
    production_env,
    wait_until,
)

# Loose limits: every benchmark socket comes from 127.0.0.1, which the default
# per-IP limits (sized for one real network) would refuse after a few dozen.
BENCH_LIMITS = {
    "IP_CONNECTIONS_PER_MINUTE": "10000000",
    "IP_MESSAGES_PER_MINUTE": "10000000",
    "VISITOR_MESSAGES_PER_MINUTE": "1000",
}

# The realistic pacing: 300 ms to the first token, then 20-40 tokens a second,
# each reply at a pace of its own.
REPLY_PACE = (20, 40)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class WebProcess(Process):
    def __init__(
        self, env: dict[str, str], log: Path, *, server: str, compression: bool = False
    ) -> None:
        self.port = free_port()
        self.server = server
        if server in ("uvicorn", "uvicorn-sansio"):
            # uvicorn-sansio: websockets' Sans-I/O protocol, whose compression
            # uses a 4 KiB window (12 bits) and memLevel 5 instead of 32 KiB and 8.
            command = [
                str(BIN / "uvicorn"),
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--ws", "websockets-sansio" if server == "uvicorn-sansio" else "websockets",
                "--ws-per-message-deflate", "true" if compression else "false",
                "--lifespan", "off",
                "--log-level", "warning",
                "--no-access-log",
                "helpdesk.asgi:application",
            ]  # fmt: skip
        else:
            command = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port)]
            command.append("helpdesk.asgi:application")
        super().__init__(command, env, log)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "WebProcess":
        super().start()
        wait_until(lambda: http_get(f"{self.base}/readyz")[0] == 200, 90, "web /readyz", self.log)
        return self


class BenchStack:
    """Start with `start(visitors=, agents=)`; always `stop()`."""

    def __init__(
        self,
        workdir: Path,
        *,
        webs: int = 1,
        workers: int = 1,
        server: str = "daphne",
        env: dict[str, str] | None = None,
        llm_ttft: float = 0.3,
        reply_tokens: int = 40,
        balancer: bool = False,
        worker_pool: str = "threads",
        worker_concurrency: int = 400,
        compression: bool = False,
    ) -> None:
        self.workdir = workdir
        self.webs_wanted = webs
        self.workers_wanted = workers
        self.server = server
        self.extra_env = env or {}
        self.llm_ttft = llm_ttft
        self.reply_tokens = reply_tokens
        self.balancer_wanted = balancer
        self.worker_pool = worker_pool
        self.worker_concurrency = worker_concurrency
        self.compression = compression
        self.balancer: Process | None = None
        self.balancer_port = 0
        self.balancer_stats = workdir / "balancer.json"
        self.database = Database("bench")
        self.webs: list[WebProcess] = []
        self.workers: list[Process] = []
        self.llm: Process | None = None
        self.gc_stats = workdir / "gc-stats.json"

    def _env(self) -> dict[str, str]:
        prefix = self.prefix = f"bench{uuid.uuid4().hex[:8]}"
        redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        llm_port = free_port()
        self.llm_port = llm_port
        return production_env(
            self.database.url,
            redis_url,
            CHANNEL_LAYER_PREFIX=prefix,
            CACHE_KEY_PREFIX=prefix,
            CELERY_QUEUE=prefix,
            HELPDESK_LLM_RUNNER="celery",
            OPENAI_BASE_URL=f"http://127.0.0.1:{llm_port}/v1",
            OPENAI_API_KEY="bench",
            GC_STATS_FILE=str(self.gc_stats),
            **{"LOG_LEVEL": "WARNING", "KB_EMBEDDINGS": "auto", **BENCH_LIMITS, **self.extra_env},
        )

    def start(self, *, visitors: int, agents: int = 0) -> dict:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = self._env()
        self.llm = Process(
            [
                sys.executable, "-m", "conversations.fake_llm",
                "--port", str(self.llm_port),
                "--ttft", str(self.llm_ttft),
                # Every reply: its pieces are their send times, at a pace of its own.
                "--mode", "stamp",
                "--chunk-count", str(self.reply_tokens),
                "--tokens-per-second", str(REPLY_PACE[0]),
                "--tokens-per-second-max", str(REPLY_PACE[1]),
                "--quiet",
            ],
            self.env,
            self.workdir / "llm.log",
        ).start()  # fmt: skip
        self.database.create()
        manage(self.env, "migrate", "--noinput")
        seed_file = self.workdir / "seed.json"
        subprocess.run(
            [
                sys.executable, "-m", "benchmarks.loadgen.seed",
                "--visitors", str(visitors),
                "--agents", str(agents),
                "--out", str(seed_file),
            ],
            cwd=ROOT, env=self.env, check=True, timeout=600,
        )  # fmt: skip
        for number in range(self.workers_wanted):
            worker = Process(
                [
                    str(BIN / "celery"), "--app", "helpdesk", "worker",
                    "--pool", self.worker_pool,
                    "--concurrency", str(self.worker_concurrency),
                    "--hostname", f"bench{number}@%h",
                    "--queues", self.env["CELERY_QUEUE"],
                    "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
                ],
                {**self.env, "GC_STATS_FILE": str(self._worker_gc_stats(number))},
                self.workdir / f"worker{number}.log",
            ).start()  # fmt: skip
            self.workers.append(worker)
        for number in range(self.webs_wanted):
            web = WebProcess(
                self.env,
                self.workdir / f"web{number}.log",
                server=self.server,
                compression=self.compression,
            )
            self.webs.append(web.start())
        if self.balancer_wanted:
            self._start_balancer()
        wait_until(self._llm_up, 30, "fake LLM server")
        return json.loads(seed_file.read_text())

    def _start_balancer(self) -> None:
        self.balancer_port = free_port()
        backends = [arg for web in self.webs for arg in ("--backend", str(web.port))]
        self.balancer = Process(
            [
                sys.executable, "-m", "benchmarks.loadgen.balancer",
                "--port", str(self.balancer_port), "--stats", str(self.balancer_stats),
                *backends,
            ],
            self.env,
            self.workdir / "balancer.log",
        ).start()  # fmt: skip
        front = f"http://127.0.0.1:{self.balancer_port}"
        wait_until(lambda: http_get(f"{front}/readyz")[0] == 200, 30, "balancer", self.balancer.log)

    def balancer_read(self) -> dict:
        try:
            return json.loads(self.balancer_stats.read_text())
        except (OSError, ValueError):
            return {}

    def balancer_cpu_seconds(self) -> float:
        return cpu_seconds(self.balancer.popen.pid) if self.balancer is not None else 0.0

    def worker_cpu_seconds(self) -> float:
        """The worker processes and their children (prefork's pool processes)."""
        total = 0.0
        for worker in self.workers:
            pids = [worker.popen.pid, *_children(worker.popen.pid)]
            total += sum(_cpu_or_zero(pid) for pid in pids)
        return total

    def _llm_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.llm_port}/v1/models", timeout=2):
                return True
        except OSError:
            return False

    def front_ports(self) -> list[int]:
        """Where clients connect: the balancer's one port, or each web's own."""
        return [self.balancer_port] if self.balancer is not None else [w.port for w in self.webs]

    def visitor_url(self, port: int, site_key: str, origin: str) -> str:
        return f"ws://127.0.0.1:{port}/ws/visitor/?site={site_key}&origin={origin}"

    def agent_url(self, port: int) -> str:
        return f"ws://127.0.0.1:{port}/ws/agent/"

    def web_cpu_seconds(self) -> float:
        return sum(cpu_seconds(web.popen.pid) for web in self.webs)

    def web_rss_kib(self) -> list[int]:
        return [rss_kib(web.popen.pid) for web in self.webs]

    def profile(self, out: Path, seconds: float) -> subprocess.Popen:
        """py-spy samples the first web process for `seconds` into a flame graph (SVG)."""
        out.parent.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [
                str(BIN / "py-spy"), "record", "--pid", str(self.webs[0].popen.pid),
                "--duration", str(int(seconds)), "--rate", "50", "--output", str(out),
                "--format", "flamegraph",
            ],
            stdout=subprocess.DEVNULL, stderr=(self.workdir / "py-spy.log").open("w"),
        )  # fmt: skip

    def gc_reset(self) -> None:
        for path in (self.gc_stats, *map(self._worker_gc_stats, range(len(self.workers)))):
            path.with_suffix(".reset").touch()
        time.sleep(1.5)

    def gc_read(self) -> dict:
        """The web process's GC pauses since the last `gc_reset`."""
        return _json_read(self.gc_stats)

    def worker_gc_read(self) -> list[dict]:
        """Each worker's GC pauses since the last `gc_reset`."""
        return [_json_read(self._worker_gc_stats(n)) for n in range(len(self.workers))]

    def _worker_gc_stats(self, number: int) -> Path:
        return self.workdir / f"worker{number}-gc-stats.json"

    def query(self, sql: str) -> list[tuple]:
        return self.database.query(sql)

    def stop(self) -> None:
        if self.balancer is not None:
            self.balancer.stop()
        for process in [*self.webs, *self.workers]:
            process.stop()
        if self.llm is not None:
            self.llm.stop()
        self.database.drop()
        self._redis_forget()

    def _redis_forget(self) -> None:
        """Counters without an expiry (open sockets per visitor) would outlive the run."""
        import redis

        if not hasattr(self, "env"):
            return
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        keys = list(client.scan_iter(match=f"*{self.prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()


def _json_read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}

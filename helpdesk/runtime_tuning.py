"""Garbage-collector settings for the long-lived web process, and a pause recorder.

With thousands of open sockets the heap holds hundreds of thousands of
long-lived objects (consumers, their scopes, Django's modules), and every
full collection walks all of them: the p99 latency of a busy web process
was dominated by GC pauses of hundreds of milliseconds. `gc.freeze()` after
start-up moves everything imported so far out of the collector's sight, and
a higher first-generation threshold makes young collections rarer. The
benchmarks (benchmarks/README.md) measure both.
"""

import asyncio
import gc
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

LOOP_LAG_BUCKETS = 2000  # 1 ms each; the last also holds every longer lag


def gc_tune() -> None:
    """Apply GC_THRESHOLDS and GC_FREEZE_AFTER_STARTUP; start the pause recorder if asked."""
    thresholds = settings.GC_THRESHOLDS
    if thresholds:
        gc.set_threshold(*thresholds)
    if settings.GC_FREEZE_AFTER_STARTUP:
        # Collect first so that garbage from start-up is not frozen for ever.
        gc.collect()
        gc.freeze()
    if settings.GC_STATS_FILE:
        recorder = GcPauseRecorder(Path(settings.GC_STATS_FILE))
        recorder.start()
        recorder.loop_probe_install()
    logger.info("gc: thresholds=%s frozen=%s", gc.get_threshold(), gc.get_freeze_count())


class GcPauseRecorder:
    """Times every collection through gc.callbacks and writes the figures to a JSON file.

    Meant for benchmarks: the file is rewritten every second with the count,
    the longest pause and the pauses per generation since start (or since the
    file was last reset by deleting it) and, under daphne, how late the event
    loop ran (`loop_lag_ms`), which tells a process that is slow to get to its
    frames from one whose work per frame is slow.
    """

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self._started: float | None = None
        self._started_cpu = 0.0
        self._pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        # The collecting thread's CPU time during each pause, beside its wall time: on
        # a loaded machine the scheduler can stretch a 0.2 ms collection into a
        # 5 ms pause, and only the pair tells the collector's work from that.
        self._cpu: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._lock = threading.Lock()
        self._frozen = 0
        # How late the event loop ran a 10 ms sleep's wake-up: what every frame of
        # the process waits for beyond its own work (GC pauses included). Counted in
        # 1 ms buckets, so that a snapshot never sorts a long run's samples.
        self._loop_lag_buckets = [0] * LOOP_LAG_BUCKETS
        self._loop_lag_max = 0.0
        self._loop_probe_task: asyncio.Future | None = None

    def start(self) -> None:
        # gc.get_freeze_count() walks the whole frozen generation while holding the
        # GIL (~30 ms at 190,000 objects): asked every second, it stalled the process
        # it measures. Nothing is frozen after gc_tune, so it is counted once.
        self._frozen = gc.get_freeze_count()
        gc.callbacks.append(self._callback)
        threading.Thread(target=self._write_forever, name="gc-stats", daemon=True).start()

    def loop_probe_install(self) -> bool:
        """Under daphne, time the event loop once the reactor runs; False otherwise."""
        if "daphne.server" not in sys.modules:
            return False
        from twisted.internet import reactor

        reactor.callWhenRunning(self._loop_probe_start)
        return True

    def _loop_probe_start(self) -> None:
        # Held here: the loop keeps only a weak reference to its tasks.
        self._loop_probe_task = asyncio.ensure_future(self.loop_probe())

    async def loop_probe(self, interval: float = 0.01) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(interval)
            late_ms = max((time.perf_counter() - asked - interval) * 1000, 0.0)
            self._loop_lag_buckets[min(int(late_ms), LOOP_LAG_BUCKETS - 1)] += 1
            self._loop_lag_max = max(self._loop_lag_max, late_ms)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._started_cpu = time.thread_time()
        elif self._started is not None:
            pause_ms = (time.perf_counter() - self._started) * 1000
            cpu_ms = (time.thread_time() - self._started_cpu) * 1000
            self._started = None
            self._pauses[info["generation"]].append(pause_ms)
            self._cpu[info["generation"]].append(cpu_ms)

    def snapshot(self) -> dict:
        with self._lock:
            pauses = {gen: list(values) for gen, values in self._pauses.items()}
            cpu = {gen: list(values) for gen, values in self._cpu.items()}
        # Appended by the callback without the lock: a generation's two lists can
        # differ by the pause being recorded right now.
        pairs = [
            (wall, spent)
            for gen in pauses
            for wall, spent in zip(pauses[gen], cpu[gen], strict=False)
        ]
        longest = max(pairs, default=(0.0, 0.0))
        return {
            "pid": os.getpid(),
            "collections": len(pairs),
            "max_pause_ms": round(longest[0], 3),
            "max_pause_cpu_ms": round(longest[1], 3),
            "max_cpu_ms": round(max((spent for _, spent in pairs), default=0.0), 3),
            "pauses_over_5_ms": sum(wall > 5 for wall, _ in pairs),
            "total_pause_ms": round(sum(wall for wall, _ in pairs), 3),
            "by_generation": {
                str(gen): {
                    "count": len(values),
                    "max_ms": round(max(values, default=0.0), 3),
                    "max_cpu_ms": round(max(cpu[gen], default=0.0), 3),
                }
                for gen, values in pauses.items()
            },
            "threshold": list(gc.get_threshold()),
            "frozen": self._frozen,
            "loop_lag_ms": self._loop_lag_summary(),
        }

    def reset(self) -> None:
        with self._lock:
            for values in (*self._pauses.values(), *self._cpu.values()):
                values.clear()
            self._loop_lag_buckets = [0] * LOOP_LAG_BUCKETS
            self._loop_lag_max = 0.0

    def _loop_lag_summary(self) -> dict:
        """Count, p50 and p99 (each the upper edge of its 1 ms bucket), the longest lag
        and how many were over 50 ms; just {"n": 0} when the loop is not probed."""
        buckets, longest = list(self._loop_lag_buckets), self._loop_lag_max
        count = sum(buckets)
        if not count:
            return {"n": 0}
        summary = {"n": count}
        seen, quantiles = 0, iter([("p50", 0.5), ("p99", 0.99)])
        name, share = next(quantiles)
        for edge, in_bucket in enumerate(buckets, start=1):
            seen += in_bucket
            while seen >= share * count:
                summary[name] = edge
                name, share = next(quantiles, ("", 2.0))
        return {
            **summary,
            "max": round(longest, 2),
            "over_50_ms": sum(buckets[50:]),
        }

    def _write_forever(self) -> None:
        reset_marker = self.path.with_suffix(".reset")
        while True:
            time.sleep(self.interval)
            if reset_marker.exists():
                reset_marker.unlink(missing_ok=True)
                self.reset()
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self.snapshot()))
            temporary.replace(self.path)

"""Garbage-collector settings for the long-lived web process, and a pause recorder.

With thousands of open sockets the heap holds hundreds of thousands of
long-lived objects (consumers, their scopes, Django's modules), and every
full collection walks all of them: the p99 latency of a busy web process
was dominated by GC pauses of hundreds of milliseconds. `gc.freeze()` after
start-up moves everything imported so far out of the collector's sight, and
a higher first-generation threshold makes young collections rarer. The
benchmarks (benchmarks/README.md) measure both.
"""

import gc
import json
import logging
import os
import threading
import time
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)


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
        GcPauseRecorder(Path(settings.GC_STATS_FILE)).start()
    logger.info("gc: thresholds=%s frozen=%s", gc.get_threshold(), gc.get_freeze_count())


class GcPauseRecorder:
    """Times every collection through gc.callbacks and writes the figures to a JSON file.

    Meant for benchmarks: the file is rewritten every second with the count,
    the longest pause and the pauses per generation since start (or since the
    file was last reset by deleting it).
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

    def start(self) -> None:
        # gc.get_freeze_count() walks the whole frozen generation while holding the
        # GIL (~30 ms at 190,000 objects): asked every second, it stalled the process
        # it measures. Nothing is frozen after gc_tune, so it is counted once.
        self._frozen = gc.get_freeze_count()
        gc.callbacks.append(self._callback)
        threading.Thread(target=self._write_forever, name="gc-stats", daemon=True).start()

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
        }

    def reset(self) -> None:
        with self._lock:
            for values in (*self._pauses.values(), *self._cpu.values()):
                values.clear()

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

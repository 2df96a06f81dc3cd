"""GC settings of the web and worker processes and the pause recorder the benchmarks read."""

import asyncio
import gc
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from helpdesk.runtime_tuning import GcPauseRecorder, gc_tune


def test_gc_tune_applies_thresholds_and_freezes(settings, tmp_path):
    before = gc.get_threshold()
    settings.GC_THRESHOLDS = (5000, 15, 25)
    settings.GC_FREEZE_AFTER_STARTUP = True
    settings.GC_STATS_FILE = ""
    try:
        gc_tune()
        assert gc.get_threshold() == (5000, 15, 25)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_pause_recorder_writes_collections_to_its_file(tmp_path):
    path = tmp_path / "gc.json"
    recorder = GcPauseRecorder(path, interval=0.1)
    recorder.start()
    try:
        for _ in range(3):
            gc.collect()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if path.exists() and json.loads(path.read_text())["collections"] >= 3:
                break
            time.sleep(0.05)
        figures = json.loads(path.read_text())
        assert figures["collections"] >= 3
        assert figures["by_generation"]["2"]["count"] >= 3
        assert figures["max_pause_ms"] > 0
        # A full collection of the test process is real work for the collecting
        # thread, and its CPU time cannot exceed the longest wall-clock pause.
        assert 0 < figures["max_cpu_ms"] <= figures["max_pause_ms"] + 0.5
        assert figures["by_generation"]["2"]["max_cpu_ms"] > 0
        # Deleting the counts on request (the benchmark does before each phase).
        path.with_suffix(".reset").touch()
        time.sleep(0.3)
        assert json.loads(path.read_text())["collections"] < figures["collections"]
    finally:
        gc.callbacks.remove(recorder._callback)


def test_the_loop_probe_counts_how_late_the_event_loop_wakes_up(tmp_path):
    recorder = GcPauseRecorder(tmp_path / "gc.json")
    assert recorder.snapshot()["loop_lag_ms"] == {"n": 0}

    async def run() -> None:
        probe = asyncio.ensure_future(recorder.loop_probe(interval=0.005))
        await asyncio.sleep(0.1)
        time.sleep(0.12)  # noqa: ASYNC251 (held on purpose: the next wake-up is ~115 ms late)
        await asyncio.sleep(0.1)
        probe.cancel()

    asyncio.run(run())
    lag = recorder.snapshot()["loop_lag_ms"]
    assert lag["n"] >= 10
    assert lag["max"] >= 100
    assert lag["over_50_ms"] >= 1
    assert lag["p50"] < 50  # the other wake-ups were on time, give or take the machine
    recorder.reset()
    assert recorder.snapshot()["loop_lag_ms"] == {"n": 0}


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_a_celery_worker_applies_the_gc_settings_where_its_tasks_run(tmp_path, pool):
    """With the threads pool the worker process runs the tasks; with prefork its
    children do, forked before the parent is ready: each must apply the settings."""
    stats = tmp_path / "gc.json"
    name = f"gc-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.test",
        "HELPDESK_TEST_PREFIX": name,  # its own queue: it must not take other tests' tasks
        "GC_THRESHOLDS": "4321,7,11111",
        "GC_FREEZE_AFTER_STARTUP": "true",
        "GC_STATS_FILE": str(stats),
    }
    command = [
        sys.executable, "-m", "celery", "--app", "helpdesk", "worker", "--pool", pool,
        "--concurrency", "1", "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    try:
        # Every process that applied the settings writes its figures every second.
        seen: dict[int, dict] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and worker.poll() is None:
            try:
                figures = json.loads(stats.read_text())
            except (OSError, ValueError):
                figures = None
            if figures:
                seen[figures["pid"]] = figures
            task_runners = [f for pid, f in seen.items() if pool == "threads" or pid != worker.pid]
            if task_runners:
                break
            time.sleep(0.2)
        assert task_runners, log.read_text()[-3000:]
        assert task_runners[0]["threshold"] == [4321, 7, 11111]
        assert task_runners[0]["frozen"] > 0
    finally:
        worker.terminate()
        worker.wait(timeout=30)

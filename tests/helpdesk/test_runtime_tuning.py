"""GC settings of the web process and the pause recorder the benchmarks read."""

import gc
import json
import time

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

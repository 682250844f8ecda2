"""Records every garbage collection of a Python process started with this folder first on
PYTHONPATH and AGENTLOAD_GC_PROBE=FILE set: generation, objects freed, CPU ms of the
collecting thread, wall ms, and the CLOCK_MONOTONIC end (ns), as JSON lines in FILE at exit.

CPU time is the figure that carries across machines: on a busy host the wall time of a
collection also holds the waits for a core. benchmarks/bench_fleet.py reads it to show
the collector's pauses inside a run (issue 19: find the client's lag bursts).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import time
from typing import Any

_PATH = os.environ.get("AGENTLOAD_GC_PROBE")


def _install(path: str) -> None:
    started: list[int] = [0, 0]
    records: list[tuple[int, int, float, float, int]] = []

    def on_collect(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0], started[1] = time.thread_time_ns(), time.perf_counter_ns()
            return
        cpu_ms = (time.thread_time_ns() - started[0]) / 1e6
        wall_ms = (time.perf_counter_ns() - started[1]) / 1e6
        records.append(
            (info["generation"], info["collected"], cpu_ms, wall_ms, time.monotonic_ns())
        )

    def dump() -> None:
        with open(path, "w") as out:
            for gen, freed, cpu_ms, wall_ms, end_ns in records:
                out.write(json.dumps({"gen": gen, "freed": freed, "cpu_ms": cpu_ms,
                                      "wall_ms": wall_ms, "end_ns": end_ns}) + "\n")  # fmt: skip

    gc.callbacks.append(on_collect)
    atexit.register(dump)


if _PATH:
    _install(_PATH)

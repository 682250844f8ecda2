"""Where a run's workers live: this process and spawned processes here, or Ray actors.

The run pipeline (`replay.run`) does everything a run does (plan, materializer, scraper,
progress, result file, summary) for every backend. A backend only places the workers, gives
them the common epoch, stops them when the stop event is set, and brings their rows back on
this process's monotonic clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from time import monotonic_ns
from typing import Any, Protocol

import polars as pl

from agentload.replay.config import ReplayConfig
from agentload.replay.live_stats import LiveStats
from agentload.replay.materialize import Materializer
from agentload.replay.plan import Plan
from agentload.replay.procs import run_processes
from agentload.replay.results import read_parts
from agentload.replay.worker import WorkerOutcome, WorkerSpec, run_worker

EPOCH_MARGIN_NS = 50_000_000  # first sends are due this long after the workers are ready


class Workers(Protocol):
    """One run's workers. `stats` (one per worker) exist before `run`, for the progress."""

    stats: list[LiveStats]

    async def run(
        self,
        plan: Plan,
        materializer: Materializer | None,
        stop: asyncio.Event,
        info: dict[str, object],
    ) -> None:
        """Run every worker until all ended or `stop` is set; may add to `info`."""
        ...

    def rows(self) -> pl.DataFrame:
        """Every row received, on this process's monotonic clock."""
        ...

    def outcomes(self) -> list[WorkerOutcome]: ...

    def judge(self, diagnostics: dict[str, Any]) -> bool:
        """Add what only the backend knows to `diagnostics`; False when a worker was lost."""
        ...

    def cleanup(self) -> None:
        """Remove the intermediate files once the result file is written."""
        ...


def part_paths(out: Path, workers: int) -> list[Path]:
    return [out.with_name(f"{out.name}.part{w}.arrows") for w in range(workers)]


async def _epoch_soon() -> int:
    return monotonic_ns() + EPOCH_MARGIN_NS


class LocalWorkers:
    """One worker in this process's loop, or one spawned process per worker."""

    def __init__(self, config: ReplayConfig) -> None:
        self.config = config
        self.stats = [LiveStats() for _ in range(config.workers)]
        self.parts = part_paths(config.out, config.workers)
        self._outcomes: list[WorkerOutcome] = []

    async def run(
        self,
        plan: Plan,
        materializer: Materializer | None,
        stop: asyncio.Event,
        info: dict[str, object],
    ) -> None:
        specs = [WorkerSpec(self.config, w, p, materializer) for w, p in enumerate(self.parts)]
        if len(specs) == 1:
            outcome = await run_worker(specs[0], plan, self.stats[0], _epoch_soon, stop)
            self._outcomes = [outcome]
        else:
            self._outcomes = await run_processes(specs, self.stats, stop)

    def rows(self) -> pl.DataFrame:
        return read_parts(self.parts)

    def outcomes(self) -> list[WorkerOutcome]:
        return self._outcomes

    def judge(self, diagnostics: dict[str, Any]) -> bool:
        return len(self._outcomes) == self.config.workers

    def cleanup(self) -> None:
        for part in self.parts:
            part.unlink(missing_ok=True)

"""`RayWorkers`: the run pipeline's workers as Ray actors; `run_on_ray(config, address)`.

Ray supplies only placement, clock offsets and the transport of rows: the plan, the
materializer, the scraper, the result file and the summary are the pipeline's
(`replay.run.replay`), as for local workers. Actors are spread over the nodes, each
replaying the root sessions whose stable hash falls in its shard (children ride with their
root). Once every actor is ready the driver measures each actor's clock offset, picks a
common epoch EPOCH_LEAD_S ahead on its own monotonic clock, and sends each actor that
epoch on the actor's clock. Rows stream back while the run goes and are stored on the
driver's monotonic clock, so the merged file reads like a single-process run's, plus the
WORKER and NODE columns.

Every blocking Ray call runs in a thread, so the pipeline's loop keeps seeing its stop
event: a stop while connecting or starting ends the run at once (no actor has sent
anything); after the start, the actors are told to stop and their cancelled rows kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from pathlib import Path
from typing import Any

import polars as pl

from agentload.replay.config import ReplayConfig
from agentload.replay.distributed.connect import connect
from agentload.replay.distributed.fleet import Fleet, Stopped
from agentload.replay.distributed.merge import add_ray_diagnostics, apply_drift
from agentload.replay.live_stats import LiveStats
from agentload.replay.materialize import Materializer
from agentload.replay.pipeline import replay
from agentload.replay.plan import Plan
from agentload.replay.results import read_parts
from agentload.replay.signals import run_until_signalled
from agentload.replay.worker import WorkerOutcome
from agentload.traceformat.io import StreamWriter
from agentload.traceformat.schema import Kind

__all__ = ["EPOCH_LEAD_S", "RayWorkers", "live_stream_path", "run_on_ray"]

EPOCH_LEAD_S = 2.0  # common start this far after the epoch is chosen: time to deliver it


def run_on_ray(config: ReplayConfig, address: str | None = None) -> Path:
    """Replay `config` with `config.workers` actors on the Ray cluster at `address` (None:
    Ray's default, i.e. RAY_ADDRESS if set, else a new local instance) and return the
    merged result file. A failed actor marks the file partial and is named in its
    diagnostics and the summary; the rows it sent before failing are kept. SIGINT/SIGTERM
    stop the run and still write a (partial) result file."""
    workers = RayWorkers(config, address)
    return run_until_signalled(lambda stop: replay(config, stop, workers)).path


def live_stream_path(out: Path) -> Path:
    """Where the driver streams merged rows during the run (crash-tolerant; deleted once
    the final file is written)."""
    return out.with_name(f"{out.name}.ray.arrows")


class RayWorkers:
    """One replay actor per worker on a Ray cluster (see the module docstring)."""

    def __init__(self, config: ReplayConfig, address: str | None) -> None:
        self.config = config
        self.address = address
        self.stats = [LiveStats() for _ in range(config.workers)]
        self.stream_path = live_stream_path(config.out)
        self.fleet: Fleet | None = None
        self._released = False

    async def run(
        self,
        plan: Plan,
        materializer: Materializer | None,
        stop: asyncio.Event,
        info: dict[str, object],
    ) -> None:
        run_id = uuid.uuid4().hex[:8]
        ray_info: dict[str, Any] = {"run_id": run_id, "address": self.address}
        ray_info["actors"] = self.config.workers
        info["ray"] = ray_info
        disconnect = await connect(self.address, stop)
        if disconnect is None:  # stopped while connecting
            return
        try:
            await asyncio.to_thread(self._drive, plan, materializer, stop, info, run_id)
        except BaseException:
            if not self._released:  # failed before any row could exist: leave nothing
                self.stream_path.unlink(missing_ok=True)
            raise
        finally:
            await asyncio.to_thread(disconnect)

    def _drive(
        self,
        plan: Plan,
        materializer: Materializer | None,
        stop: asyncio.Event,
        info: dict[str, object],
        run_id: str,
    ) -> None:
        """Place and start the actors, release the common epoch, stream rows back."""
        t0 = time.monotonic()
        fleet = self.fleet = Fleet(self.stats, run_id, stop.is_set)
        writer = StreamWriter(self.stream_path, Kind.RESULT, info)
        try:
            fleet.place()
            # Actors never scrape (the pipeline does, on the driver's clock) nor print.
            actor_config = dataclasses.replace(self.config, quiet=True, scrape_metrics=False)
            fleet.start(actor_config, plan, materializer)
            fleet.measure_clocks()
            if stop.is_set():
                raise Stopped("measuring the actors' clocks")
            epoch_ns = time.monotonic_ns() + int(EPOCH_LEAD_S * 1e9)
            ray_info: dict[str, Any] = info["ray"]  # type: ignore[assignment]
            ray_info["epoch_wall_ns"] = time.time_ns() + (epoch_ns - time.monotonic_ns())
            ray_info["startup_s"] = round(time.monotonic() - t0, 3)
            fleet.release(epoch_ns)
            self._released = True
            fleet.collect(lambda frame: writer.write(frame.to_arrow()))
            fleet.measure_clocks(after=True)
        except Stopped:
            pass  # nothing was sent: the pipeline writes an empty partial file
        finally:
            writer.close()
            fleet.kill_all()

    def rows(self) -> pl.DataFrame:
        frame = read_parts([self.stream_path])  # none when stopped before the actors started
        for actor in self.fleet.actors if self.fleet is not None else ():
            frame = apply_drift(frame, actor.worker, actor.clock, actor.clock_after)
        return frame

    def outcomes(self) -> list[WorkerOutcome]:
        actors = self.fleet.actors if self.fleet is not None else []
        return [a.outcome for a in actors if a.outcome is not None]

    def judge(self, diagnostics: dict[str, Any]) -> bool:
        if self.fleet is None:
            return False
        actors = [a.summary() for a in self.fleet.actors]
        return add_ray_diagnostics(diagnostics, actors, EPOCH_LEAD_S) and self._released

    def cleanup(self) -> None:
        self.stream_path.unlink(missing_ok=True)

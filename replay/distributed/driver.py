"""`run_on_ray(config, address) -> Path`: one replay run spread over a Ray cluster.

The driver loads the source and builds the plan and prompt materializer once (calibrating
against the target from here), starts `config.workers` actors spread over the nodes, each
replaying the root sessions whose stable hash falls in its shard (children ride with their
root). Once every actor is ready the driver measures each actor's clock offset, picks a
common epoch EPOCH_LEAD_S ahead on its own monotonic clock, and sends each actor that
epoch on the actor's clock. Rows stream back while the run goes and are stored on the
driver's monotonic clock, so the merged file reads like a single-process run's, plus the
WORKER and NODE columns.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import ray

from agentload.replay.config import ArrivalMode, ReplayConfig
from agentload.replay.diagnostics import diagnose
from agentload.replay.distributed.fleet import Fleet
from agentload.replay.distributed.merge import add_ray_diagnostics, apply_drift
from agentload.replay.materialize import DEFAULT_BLOCK, Materializer
from agentload.replay.plan import Plan
from agentload.replay.progress import Progress
from agentload.replay.results import with_expected_cached, write_result
from agentload.replay.run import build_materializer, run_info
from agentload.replay.scrape import Scraper
from agentload.replay.source import load_plan
from agentload.replay.summary import print_summary
from agentload.traceformat import io
from agentload.traceformat.io import StreamWriter
from agentload.traceformat.schema import Kind

__all__ = ["EPOCH_LEAD_S", "live_stream_path", "run_on_ray"]

EPOCH_LEAD_S = 2.0  # common start this far after the epoch is chosen: time to deliver it


@dataclasses.dataclass
class _RayRun:
    fleet: Fleet
    epoch_ns: int = 0  # driver monotonic
    epoch_wall_ns: int = 0
    startup_s: float = 0.0  # placing and starting the actors, measuring clocks
    samples: list[dict[str, object]] = dataclasses.field(default_factory=list)


def run_on_ray(config: ReplayConfig, address: str | None = None) -> Path:
    """Replay `config` with `config.workers` actors on the Ray cluster at `address` (None:
    Ray's default, i.e. RAY_ADDRESS if set, else a new local instance) and return the
    merged result file. A failed actor marks the file partial and is named in its
    diagnostics and the summary; the rows it sent before failing are kept."""
    plan = load_plan(config.source, config.model)
    materializer, calibration = build_materializer(config, plan)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    info = run_info(config, plan)
    stream_path = live_stream_path(config.out)
    run_id = uuid.uuid4().hex[:8]
    ray_info: dict[str, object] = {"run_id": run_id, "address": address, "actors": config.workers}
    info["ray"] = ray_info
    with _connected(address), _stop_flag() as should_stop:
        run = _RayRun(Fleet(config.workers, run_id, should_stop))
        try:
            _replay(config, plan, materializer, run, StreamWriter(stream_path, Kind.RESULT, info))
        except BaseException:
            if not run.epoch_ns:  # failed before any row could exist: leave nothing behind
                stream_path.unlink(missing_ok=True)
            raise
    ray_info["epoch_wall_ns"] = run.epoch_wall_ns
    ray_info["startup_s"] = round(run.startup_s, 3)
    return _finish(config, plan, run, info, calibration, stream_path)


def _finish(
    config: ReplayConfig,
    plan: Plan,
    run: _RayRun,
    info: dict[str, object],
    calibration: dict[str, object] | None,
    stream_path: Path,
) -> Path:
    """Merge: drift-correct, expected cache hits over all actors' rows in send order,
    diagnose (with the per-actor record), write the result file, print the summary."""
    frame = io.read(stream_path, Kind.RESULT).frame
    for actor in run.fleet.actors:
        frame = apply_drift(frame, actor.worker, actor.clock, actor.clock_after)
    frame = with_expected_cached(frame, plan, plan.block_size or DEFAULT_BLOCK)
    diagnostics = diagnose(
        frame,
        [a.outcome for a in run.fleet.actors if a.outcome is not None],
        closed_loop=config.arrival_mode is ArrivalMode.CLOSED,
        calibration=calibration,
    )
    complete = add_ray_diagnostics(
        diagnostics, [a.summary() for a in run.fleet.actors], EPOCH_LEAD_S
    )
    complete = complete and not any(a.outcome and a.outcome.interrupted for a in run.fleet.actors)
    path = write_result(
        config.out,
        frame,
        info,
        complete=complete,
        engine_metrics=run.samples,
        diagnostics=diagnostics,
    )
    stream_path.unlink(missing_ok=True)
    if not config.quiet:
        print_summary(frame, diagnostics, path, complete=complete)
    return path


def live_stream_path(out: Path) -> Path:
    """Where the driver streams merged rows during the run (crash-tolerant; deleted once
    the final file is written)."""
    return out.with_name(f"{out.name}.ray.arrows")


def _replay(
    config: ReplayConfig,
    plan: Plan,
    materializer: Materializer | None,
    run: _RayRun,
    writer: StreamWriter,
) -> None:
    """Place and start the actors, release the common epoch, stream rows into `writer`."""
    fleet = run.fleet
    scraper = Scraper(config.target) if config.scrape_metrics else None
    progress = Progress(
        [a.stats for a in fleet.actors], enabled=not config.quiet and sys.stderr.isatty()
    )
    t0 = time.monotonic()
    try:
        fleet.place()
        # Actors never scrape (the driver does, on its clock) nor print.
        fleet.start(
            dataclasses.replace(config, quiet=True, scrape_metrics=False), plan, materializer
        )
        fleet.measure_clocks()
        run.epoch_ns = time.monotonic_ns() + int(EPOCH_LEAD_S * 1e9)
        run.epoch_wall_ns = time.time_ns() + (run.epoch_ns - time.monotonic_ns())
        run.startup_s = time.monotonic() - t0
        fleet.release(run.epoch_ns)
        if scraper is not None:
            scraper.start()
        progress.start()
        fleet.collect(lambda frame: writer.write(frame.to_arrow()))
        fleet.measure_clocks(after=True)
    finally:
        progress.stop()
        if scraper is not None:
            scraper.stop()
            run.samples = scraper.samples()
        writer.close()
        fleet.kill_all()


@contextmanager
def _connected(address: str | None) -> Iterator[None]:
    """Use the caller's Ray session if there is one, else connect (and disconnect after)."""
    if ray.is_initialized():
        yield
        return
    # Actor output stays in the cluster's logs: failures reach us as errors, not log lines.
    if address is None:
        ray.init(log_to_driver=False, include_dashboard=False)
    else:
        ray.init(address=address, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@contextmanager
def _stop_flag() -> Iterator[Callable[[], bool]]:
    """SIGINT/SIGTERM ask the actors to stop (cancelled rows, a partial file) instead of
    killing the driver; a second SIGINT interrupts for real. Main thread only."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop.is_set
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop.is_set
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)

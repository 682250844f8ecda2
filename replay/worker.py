"""A worker: one asyncio loop (uvloop) that replays its shard and streams rows to a part file.

Runs in the calling process (`--workers 1`) or in a spawned process per worker; either way
it writes its rows incrementally with a `StreamWriter` (every complete batch survives a
kill) and reports its CPU time so the run can tell whether the client kept up.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from time import monotonic_ns

from agentload.base.pacer import close_pacer
from agentload.replay.collector import collector_out_of_the_way
from agentload.replay.config import ReplayConfig
from agentload.replay.headroom import pool_size
from agentload.replay.live_stats import LiveStats
from agentload.replay.materialize import Materializer
from agentload.replay.plan import Plan
from agentload.replay.rowbuffer import CONVERT_S, WRITE_S, RowBuffer
from agentload.replay.runner import Runner, RunnerSetup
from agentload.replay.schedule import Admission, admissions, for_worker, share
from agentload.replay.transport import make_transport
from agentload.traceformat.io import StreamWriter
from agentload.traceformat.schema import Kind

TICK_S = 0.25  # progress counters to the parent process
PREWARM_MAX = 64  # connections opened before the epoch (closed loop: up to its slots)


@dataclass(frozen=True)
class WorkerSpec:
    config: ReplayConfig
    worker: int
    part_path: Path
    materializer: Materializer | None


@dataclass(frozen=True)
class WorkerOutcome:
    worker: int
    cpu_s: float
    wall_s: float
    rows: int
    interrupted: bool
    # Time the loop's thread was runnable but waiting for a CPU (Linux schedstat): when it
    # is large, the machine was oversubscribed and late sends are not the client's doing.
    runqueue_wait_s: float | None = None

    @property
    def utilization(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _runqueue_wait_s() -> float | None:
    """Seconds this thread has spent runnable but not running (None off Linux)."""
    try:
        with open("/proc/thread-self/schedstat") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


async def _flush_loop(
    rows: RowBuffer, stats: LiveStats, on_tick: Callable[[LiveStats], None] | None
) -> None:
    """Convert rows as they gather, write them every WRITE_S, report every TICK_S."""
    ticks = 0
    while True:
        await asyncio.sleep(CONVERT_S)
        ticks += 1
        rows.convert_some()
        if ticks % round(WRITE_S / CONVERT_S) == 0:
            rows.write()
        if on_tick is not None and ticks % round(TICK_S / CONVERT_S) == 0:
            on_tick(stats)


async def _unless_stopped(epoch: Awaitable[int], stop: asyncio.Event) -> int | None:
    """The epoch, or None when the run is stopped before it arrives."""
    got = asyncio.ensure_future(epoch)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({got, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (got, stopped):
            task.cancel()
        await asyncio.gather(got, stopped, return_exceptions=True)
    if got.cancelled():
        return None
    return got.result()


async def _stop_when_set(stop: asyncio.Event, runner: Runner) -> None:
    await stop.wait()
    await runner.stop()


async def run_worker(
    spec: WorkerSpec,
    plan: Plan,
    stats: LiveStats,
    get_epoch: Callable[[], Awaitable[int]],
    stop: asyncio.Event,
    on_tick: Callable[[LiveStats], None] | None = None,
) -> WorkerOutcome:
    """Replay this worker's shard from the epoch `get_epoch` returns (monotonic ns) until
    it ends or `stop` is set (then in-flight calls end as cancelled rows)."""
    config = spec.config
    slots = share(config.concurrency, spec.worker, config.workers)
    pool = pool_size(config, spec.worker)
    transport = make_transport(
        config.transport, config.target, pool, config.timeout, dict(config.headers)
    )
    await transport.open()
    await transport.prewarm(min(pool, PREWARM_MAX))
    if spec.materializer is not None:
        spec.materializer.warm()  # a spawned worker builds its own block pools
    writer = StreamWriter(
        spec.part_path, Kind.RESULT, {"worker": spec.worker}, flush_rows=1 << 30, flush_seconds=3600
    )
    rows = RowBuffer(writer)
    rows.warm(spec.part_path.parent)
    setup = RunnerSetup(config, plan, spec.materializer, spec.worker, slots)
    runner = Runner(setup, transport, rows.append, stats)
    mine = for_worker(admissions(plan, config), spec.worker, config.workers)
    # The plan and the run's own session state are hundreds of thousands of objects: a
    # full collection over them is a lag spike of 100 ms or more (replay/collector.py).
    with collector_out_of_the_way():
        try:
            epoch = await _unless_stopped(get_epoch(), stop)
            cpu0, wall0, wait0 = _cpu_s(), monotonic_ns(), _runqueue_wait_s()
            if epoch is None:  # stopped before the start: nothing was sent
                runner.interrupted = True
                epoch = wall0
            else:
                await _run(runner, mine, epoch, rows, stats, stop, on_tick)
            cpu_s, wall_s = _cpu_s() - cpu0, (monotonic_ns() - max(wall0, epoch)) / 1e9
            wait1 = _runqueue_wait_s()
            waited = None if wait0 is None or wait1 is None else wait1 - wait0
        finally:
            try:
                rows.close()
            finally:
                writer.close()
                await close_pacer()
                await transport.close()
    if on_tick is not None:
        on_tick(stats)
    return WorkerOutcome(spec.worker, cpu_s, wall_s, rows.emitted, runner.interrupted, waited)


async def _run(
    runner: Runner,
    mine: Iterator[Admission],
    epoch: int,
    rows: RowBuffer,
    stats: LiveStats,
    stop: asyncio.Event,
    on_tick: Callable[[LiveStats], None] | None,
) -> None:
    """The runner from `epoch`, with the flush loop beside it and `stop` watched."""
    flush_task = asyncio.create_task(_flush_loop(rows, stats, on_tick))
    watcher = asyncio.create_task(_stop_when_set(stop, runner))
    try:
        await runner.run(mine, epoch)
    finally:
        for task in (watcher, flush_task):
            task.cancel()
        await asyncio.gather(watcher, flush_task, return_exceptions=True)

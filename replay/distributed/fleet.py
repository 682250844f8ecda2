"""The driver's view of its actors: placement, clock probes, epoch release, row collection.

Rows come back by polling: each live actor always has one `take` call outstanding; the
driver waits on all of them with `ray.wait`, writes what arrives (converted to its own
clock) to its stream file, and issues the next `take`. An actor whose call raises (killed,
its node lost, its worker crashed) is marked failed with the reason; its rows received so
far stay, and when it lived on the driver's node its part file is read for the rest.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import ray
from ray.exceptions import RayError

from agentload.base.errors import AgentloadError, ConfigError
from agentload.replay.config import ReplayConfig
from agentload.replay.distributed.actor import ActorBatch, NodeInfo, ReplayActor
from agentload.replay.distributed.clock import ClockOffset, measure_offset
from agentload.replay.distributed.merge import to_driver_clock
from agentload.replay.distributed.tail import FileTail, StreamDecoder
from agentload.replay.live_stats import LiveStats
from agentload.replay.materialize import Materializer
from agentload.replay.plan import Plan
from agentload.replay.worker import WorkerOutcome

__all__ = ["ActorState", "Fleet", "Stopped"]

ACTOR_CPUS = 1.0  # one asyncio replayer keeps about one core busy at full load
PLACE_TIMEOUT_S = 120.0  # actors that cannot be placed by then (no free CPU) fail the run
READY_TIMEOUT_S = 120.0
CLOCK_ROUNDS = 16
# Ray starts workers at nice 15 so the raylet wins the CPU; a load generator at nice 15 is
# delayed by any busy process on its node (we measured sends tens of ms late on a loaded
# host), so replay actors ask for normal priority.
ACTOR_RUNTIME_ENV = {"env_vars": {"RAY_worker_niceness": "0"}}


class Stopped(Exception):
    """The run's stop event was set while the actors were being placed or started."""


@dataclass
class ActorState:
    worker: int
    handle: Any
    node: NodeInfo | None = None
    clock: ClockOffset | None = None
    clock_after: ClockOffset | None = None
    status: str = "starting"  # starting | running | done | failed
    error: str | None = None
    rows: int = 0
    outcome: WorkerOutcome | None = None
    part_path: str | None = None
    stats: LiveStats = field(default_factory=LiveStats)
    decoder: StreamDecoder = field(default_factory=StreamDecoder)

    def summary(self) -> dict[str, object]:
        node = self.node
        return {
            "worker": self.worker,
            "status": self.status,
            "error": self.error,
            "rows": self.rows,
            "hostname": None if node is None else node.hostname,
            "ip": None if node is None else node.ip,
            "node_id": None if node is None else node.node_id,
            "pid": None if node is None else node.pid,
            # On the actor's node. A failed actor's file outlives it there (the driver
            # can delete only its own node's): the rows it wrote after the last pull.
            "part_file": self.part_path,
            "clock": None if self.clock is None else self.clock.as_dict(),
            "clock_after": None if self.clock_after is None else self.clock_after.as_dict(),
        }


class Fleet:
    """One replay actor per shard, spread over the cluster's nodes."""

    def __init__(
        self, stats: list[LiveStats], run_id: str, should_stop: Callable[[], bool]
    ) -> None:
        self.should_stop = should_stop
        n_actors = len(stats)
        available = ray.cluster_resources().get("CPU", 0.0)  # type: ignore[no-untyped-call]
        if available < n_actors * ACTOR_CPUS:
            raise ConfigError(
                f"--workers {n_actors}: the Ray cluster has {available:g} CPUs, "
                f"{n_actors * ACTOR_CPUS:g} needed ({ACTOR_CPUS:g} per replay actor)"
            )
        remote_cls = ray.remote(ReplayActor)
        self.actors = [
            ActorState(
                k,
                remote_cls.options(
                    name=f"agentload-replay-{run_id}-w{k}",
                    num_cpus=ACTOR_CPUS,
                    max_concurrency=8,
                    max_restarts=0,
                    scheduling_strategy="SPREAD",
                    runtime_env=ACTOR_RUNTIME_ENV,
                ).remote(k),
                stats=stats[k],
            )
            for k in range(n_actors)
        ]
        self.driver_node = ray.get_runtime_context().get_node_id()

    def live(self) -> list[ActorState]:
        return [a for a in self.actors if a.status in ("starting", "running")]

    def _fail(self, actor: ActorState, reason: str) -> None:
        actor.status = "failed"
        actor.error = reason

    def place(self) -> None:
        """Wait until every actor runs somewhere and learn its node."""
        refs = [a.handle.describe.remote() for a in self.actors]
        nodes = self._gather(refs, PLACE_TIMEOUT_S, "placing the replay actors")
        for actor, node in zip(self.actors, nodes, strict=True):
            actor.node = node

    def start(self, config: ReplayConfig, plan: Plan, materializer: Materializer | None) -> None:
        plan_ref = ray.put(plan)  # one copy in the object store, shared by every actor
        refs = [a.handle.start.remote(config, plan_ref, materializer) for a in self.actors]
        paths = self._gather(refs, READY_TIMEOUT_S, "starting the replay actors")
        for actor, path in zip(self.actors, paths, strict=True):
            actor.part_path = path
        refs = [a.handle.wait_ready.remote(READY_TIMEOUT_S) for a in self.actors]
        ready = self._gather(refs, READY_TIMEOUT_S + 10, "waiting for the replay actors")
        if not all(ready):
            late = [a.worker for a, ok in zip(self.actors, ready, strict=True) if not ok]
            raise AgentloadError(f"Ray: replay actors {late} were not ready to start in time")

    def _gather(self, refs: list[Any], timeout_s: float, what: str) -> list[Any]:
        """ray.get with a deadline that a stop request (SIGINT) also ends."""
        deadline = time.monotonic() + timeout_s
        pending = list(refs)
        while pending:
            if self.should_stop():
                raise Stopped(what)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AgentloadError(f"Ray: {what} took longer than {timeout_s:g} s")
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=min(0.5, left))
        try:
            return list(ray.get(refs))
        except RayError as exc:  # e.g. agentload missing on a node: the actor cannot start
            raise AgentloadError(f"Ray: {what} failed: {_reason(exc)}") from None

    def measure_clocks(self, *, after: bool = False) -> None:
        for actor in self.live() if not after else self.actors:
            if actor.status == "failed":
                continue
            offset = measure_offset(_probe(actor.handle), CLOCK_ROUNDS)
            if after:
                actor.clock_after = offset
            else:
                actor.clock = offset

    def release(self, epoch_driver_ns: int) -> None:
        """Send each actor the common epoch mapped onto its own monotonic clock."""
        refs = []
        for actor in self.actors:
            assert actor.clock is not None
            refs.append(actor.handle.set_epoch.remote(actor.clock.to_remote(epoch_driver_ns)))
            actor.status = "running"
        ray.get(refs)

    def stop_all(self) -> None:
        for actor in self.live():
            actor.handle.stop.remote()

    def kill_all(self) -> None:
        """Delete the part files of finished actors, then end every actor."""
        done = [a.handle.discard.remote() for a in self.actors if a.status == "done"]
        ray.wait(done, num_returns=len(done), timeout=10)
        for actor in self.actors:
            ray.kill(actor.handle, no_restart=True)

    def collect(self, write: Callable[[pl.DataFrame], None]) -> None:
        """Stream rows from every actor until all are done or failed."""
        pending = {a.handle.take.remote(): a for a in self.live()}
        stopping = False
        while pending:
            if not stopping and self.should_stop():
                stopping = True
                self.stop_all()
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                actor = pending.pop(ref)
                try:
                    batch: ActorBatch = ray.get(ref)
                except RayError as exc:
                    self._fail(actor, _reason(exc))
                    self._recover_local(actor, write)
                    continue
                self._absorb(actor, batch, write)
                if actor.status == "running":
                    pending[actor.handle.take.remote()] = actor

    def _absorb(
        self, actor: ActorState, batch: ActorBatch, write: Callable[[pl.DataFrame], None]
    ) -> None:
        actor.stats.absorb(batch.counters)
        rows = actor.decoder.feed(batch.data)
        if rows is not None:
            self._write(actor, rows, write)
        if batch.done:
            actor.outcome = batch.outcome
            if batch.error is not None:
                self._fail(actor, f"worker error: {batch.error}")
            else:
                actor.status = "done"

    def _write(
        self, actor: ActorState, rows: pa.Table, write: Callable[[pl.DataFrame], None]
    ) -> None:
        assert actor.clock is not None and actor.node is not None
        frame = pl.from_arrow(rows)
        assert isinstance(frame, pl.DataFrame)
        write(to_driver_clock(frame, actor.clock.offset_ns, actor.worker, actor.node.hostname))
        actor.rows += rows.num_rows

    def _recover_local(self, actor: ActorState, write: Callable[[pl.DataFrame], None]) -> None:
        """A dead actor on the driver's own node left its part file: keep the rows it wrote
        after the last batch we received (on another node they are out of reach)."""
        if actor.node is None or actor.node.node_id != self.driver_node or not actor.part_path:
            return
        tail = FileTail(Path(actor.part_path))
        tail.offset = actor.decoder.bytes_fed
        rest = actor.decoder.feed(tail.read_new())
        if rest is not None:
            self._write(actor, rest, write)
            actor.error = f"{actor.error}; {rest.num_rows} rows recovered from its part file"
        shutil.rmtree(tail.path.parent, ignore_errors=True)


def _probe(handle: Any) -> Callable[[], tuple[int, int]]:
    def probe() -> tuple[int, int]:
        remote: tuple[int, int] = ray.get(handle.now.remote())
        return remote

    return probe


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first.rstrip('.')}"[:300]

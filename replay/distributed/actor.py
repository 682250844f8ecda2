"""The Ray actor: one asyncio replayer (`replay.worker.run_worker`) for one shard.

The worker runs on its own uvloop loop in a thread of the actor, so the actor stays free to
answer the driver: `now` for clock probes, `take` for the rows completed since the last
call (tailed from the worker's local part file), `set_epoch` to release the common start,
`stop` to cancel. Ray serves these concurrently because the actor is threaded
(`max_concurrency` > 1).

Stopping is the worker's own stop event, set on its loop from `stop` (a Ray call is this
process's edge; the actor never touches signals).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import uvloop

from agentload.replay.config import ReplayConfig
from agentload.replay.distributed.tail import FileTail
from agentload.replay.live_stats import LiveStats
from agentload.replay.materialize import Materializer
from agentload.replay.plan import Plan
from agentload.replay.worker import WorkerOutcome, WorkerSpec, run_worker

__all__ = ["ActorBatch", "NodeInfo", "ReplayActor"]

TAKE_WAIT_S = 0.5  # a take() returns after this long even when nothing new arrived


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    hostname: str
    ip: str
    pid: int


@dataclass(frozen=True)
class ActorBatch:
    """What one `take` hands back: the bytes appended to the part file (rows on the actor's
    clock, decoded by the driver), live counters, and the end state."""

    data: bytes
    counters: dict[str, int]
    done: bool
    outcome: WorkerOutcome | None
    error: str | None


class ReplayActor:
    """Wrapped with `ray.remote` by the driver; plain class so it can be tested alone."""

    def __init__(self, worker: int) -> None:
        self.worker = worker
        self._stats = LiveStats()
        self._ready = threading.Event()
        self._finished = threading.Event()
        self._stop_requested = False
        self._stop_lock = threading.Lock()  # `stop` and the loop's start agree on who sets it
        self._stop_event: asyncio.Event | None = None
        self._epoch: asyncio.Future[int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._outcome: WorkerOutcome | None = None
        self._error: str | None = None
        self._dir = Path(tempfile.mkdtemp(prefix=f"agentload-ray-w{worker}-"))
        self.part_path = self._dir / f"part{worker}.arrows"
        self._tail = FileTail(self.part_path)
        self._take_lock = threading.Lock()

    # -- probes -----------------------------------------------------------------------------
    def now(self) -> tuple[int, int]:
        """This node's monotonic and wall clocks (ns), for the driver's offset probes."""
        return time.monotonic_ns(), time.time_ns()

    def describe(self) -> NodeInfo:
        import ray  # imported here: the class itself must not need a Ray session

        context = ray.get_runtime_context()
        return NodeInfo(
            node_id=context.get_node_id(),
            hostname=socket.gethostname(),
            ip=ray.util.get_node_ip_address(),  # type: ignore[no-untyped-call]
            pid=os.getpid(),
        )

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, config: ReplayConfig, plan: Plan, materializer: Materializer | None) -> str:
        """Start replaying this actor's shard; returns the local part file's path."""
        if self._thread is not None:
            raise RuntimeError("actor already started")
        spec = WorkerSpec(config, self.worker, self.part_path, materializer)
        self._thread = threading.Thread(
            target=self._main, args=(spec, plan), name=f"replay-w{self.worker}", daemon=True
        )
        self._thread.start()
        return str(self.part_path)

    def wait_ready(self, timeout_s: float) -> bool:
        """True once the worker's transport is open and it waits for the epoch (or it
        already ended with an error, which `take` then reports)."""
        self._ready.wait(timeout_s)
        return self._ready.is_set()

    def set_epoch(self, epoch_ns: int) -> None:
        """Release the start: `epoch_ns` is the common epoch on this node's monotonic clock."""
        loop, future = self._loop, self._epoch
        if loop is None or future is None:
            return

        def release() -> None:
            if not future.done():
                future.set_result(epoch_ns)

        loop.call_soon_threadsafe(release)

    def stop(self) -> None:
        """Stop admitting and cancel in-flight calls (cancelled rows); before the epoch,
        the worker ends without sending anything."""
        with self._stop_lock:
            self._stop_requested = True
            loop, event = self._loop, self._stop_event
        if loop is None or event is None:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: the worker has ended
            loop.call_soon_threadsafe(event.set)

    def take(self) -> ActorBatch:
        """Rows completed since the last take; waits up to TAKE_WAIT_S for the end."""
        done = self._finished.wait(TAKE_WAIT_S)
        with self._take_lock:
            data = self._tail.read_new()
        return ActorBatch(
            data=data,
            counters=self._stats.counters(),
            done=done,
            outcome=self._outcome if done else None,
            error=self._error if done else None,
        )

    def discard(self) -> None:
        """Delete the local part file (the driver has all its rows)."""
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- the worker thread ------------------------------------------------------------------
    def _main(self, spec: WorkerSpec, plan: Plan) -> None:
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._outcome = loop.run_until_complete(self._replay(loop, spec, plan))
        except BaseException as exc:
            self._error = "".join(traceback.format_exception_only(exc)).strip()
            self._ready.set()
        finally:
            loop.close()
            self._finished.set()

    async def _replay(
        self, loop: asyncio.AbstractEventLoop, spec: WorkerSpec, plan: Plan
    ) -> WorkerOutcome:
        stop = asyncio.Event()
        with self._stop_lock:
            self._loop, self._stop_event = loop, stop
            if self._stop_requested:  # `stop` came before the loop existed
                stop.set()
        return await run_worker(spec, plan, self._stats, self._get_epoch, stop)

    async def _get_epoch(self) -> int:
        # Ray's, gRPC's and protobuf's long-lived objects are frozen with the plan by
        # run_worker just before it awaits this (replay/collector.py).
        self._epoch = asyncio.get_running_loop().create_future()
        self._ready.set()
        return await self._epoch

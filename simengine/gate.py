"""Per-prompt-token work (JSON, tokenizing, block hashes) in slices that leave the loop free.

A 20,000-token prompt costs the sim several milliseconds of CPU before its request reaches
the engine. Run inline, a burst of such requests, all ready in one turn of the event loop,
holds the loop for seconds: no connection is accepted meanwhile and the wait hides in the
kernel's accept queue. `WorkGate.run` runs a request's preparation inline while this turn of
the loop has spent less than `budget_s` on it, and otherwise queues it FIFO for a worker that
runs one budget's worth per turn and yields in between, so accepting and reading go on and
the wait shows as the sim's own queue (`agentload_sim:prepare_queue` on /metrics).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Final, TypeVar

T = TypeVar("T")

BUDGET_S: Final = 0.005


class WorkGate:
    def __init__(self, budget_s: float = BUDGET_S) -> None:
        self.budget_s = budget_s
        self._used = 0.0  # seconds spent in this turn of the loop
        self._tick_pending = False
        self._queue: deque[tuple[Callable[[], object], asyncio.Future[object]]] = deque()
        self._worker: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def run(self, fn: Callable[[], T], on_orphan: Callable[[T], None]) -> T:
        """`fn()`, now or after the queued work. If the caller is cancelled after `fn` ran
        in the worker, `on_orphan` gets its result (to undo it)."""
        if not self._queue and self._used < self.budget_s:
            t0 = time.perf_counter()
            try:
                return fn()
            finally:
                self._spend(time.perf_counter() - t0)
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._queue.append((fn, fut))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="sim-prepare")
        try:
            return await fut  # type: ignore[return-value]  # fn's result
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                on_orphan(fut.result())  # type: ignore[arg-type]  # fn's result
            raise

    def _spend(self, seconds: float) -> None:
        self._used += seconds
        if not self._tick_pending:
            # runs in the next turn of the loop, after it has polled the sockets
            self._tick_pending = True
            asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        self._tick_pending = False
        self._used = 0.0

    async def _drain(self) -> None:
        while self._queue:
            await asyncio.sleep(0)  # one poll of the sockets per slice
            t0 = time.perf_counter()
            while self._queue:  # at least one item per slice, then up to the budget
                fn, fut = self._queue.popleft()
                if fut.done():  # the caller left while queued
                    continue
                try:
                    fut.set_result(fn())
                except Exception as exc:  # the caller's error, raised there
                    fut.set_exception(exc)
                if time.perf_counter() - t0 >= self.budget_s:
                    break
            self._spend(time.perf_counter() - t0)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

"""`--workers N`: one spawned process per worker, a common schedule epoch, merged results.

Each child loads the plan itself (sources are deterministic), opens its transport, reports
ready, and receives the epoch chosen by the parent once every worker is ready, so all
workers share one schedule on the host's monotonic clock. Counters stream back for the
progress display.

Stopping: the parent's stop event is passed on over each child's pipe (a message, not a
signal). A stop before the epoch was released kills the children outright: none has sent
anything yet, and waiting for a child still importing would only delay the partial file.
A child's own entry translates the SIGINT/SIGTERM it receives (a Ctrl-C reaches the whole
process group) into its stop event; it is started with them blocked until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import queue
from multiprocessing.queues import Queue
from time import monotonic_ns
from typing import Any

import uvloop

from agentload.replay.live_stats import LiveStats
from agentload.replay.signals import blocked_in_children, signals_set
from agentload.replay.source import load_plan
from agentload.replay.worker import WorkerOutcome, WorkerSpec, run_worker

START_MARGIN_NS = 200_000_000
POLL_S = 0.05
JOIN_TIMEOUT_S = 10.0

type Conn = multiprocessing.connection.Connection


def _child_main(spec: WorkerSpec, conn: Conn, out: Queue[Any]) -> None:
    try:
        outcome = uvloop.run(_child(spec, conn, out))
        out.put(("done", spec.worker, outcome))
    except BaseException as exc:  # report anything to the parent, which prints one line
        out.put(("error", spec.worker, f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from None


async def _child(spec: WorkerSpec, conn: Conn, out: Queue[Any]) -> WorkerOutcome:
    """A worker process's edge: its signals and the parent's messages set its stop event."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    epoch: asyncio.Future[int] = loop.create_future()

    def on_message() -> None:
        try:
            kind, value = conn.recv()
        except (EOFError, OSError):  # the parent is gone: nobody will read our rows
            kind, value = "stop", None
        if kind == "epoch" and not epoch.done():
            epoch.set_result(value)
        elif kind == "stop":
            loop.remove_reader(conn.fileno())
            stop.set()

    with signals_set(stop):
        loop.add_reader(conn.fileno(), on_message)
        try:
            plan = load_plan(spec.config.source, spec.config.model)

            async def get_epoch() -> int:
                conn.send("ready")
                return await epoch

            def on_tick(s: LiveStats) -> None:
                out.put(("stats", spec.worker, s.counters()))

            return await run_worker(spec, plan, LiveStats(), get_epoch, stop, on_tick)
        finally:
            loop.remove_reader(conn.fileno())


async def run_processes(
    specs: list[WorkerSpec], stats: list[LiveStats], stop: asyncio.Event
) -> list[WorkerOutcome]:
    """Run one process per spec until they end or `stop` is set; their outcomes (a worker
    that failed or was stopped before the start has none)."""
    if stop.is_set():
        return []
    ctx = multiprocessing.get_context("spawn")
    out: Queue[Any] = ctx.Queue()
    conns: list[Conn] = []
    procs: list[Any] = []
    with blocked_in_children():
        for spec in specs:
            parent_conn, child_conn = ctx.Pipe()
            proc = ctx.Process(
                target=_child_main, args=(spec, child_conn, out), name=f"replay-w{spec.worker}"
            )
            proc.start()
            conns.append(parent_conn)
            procs.append(proc)
    try:
        if not await _start_together(conns, procs, stop):
            return []
        forward = asyncio.create_task(_forward_stop(stop, conns))
        try:
            return await _collect(out, procs, stats)
        finally:
            forward.cancel()
            await asyncio.gather(forward, return_exceptions=True)
    finally:
        _end(procs)


async def _start_together(conns: list[Conn], procs: list[Any], stop: asyncio.Event) -> bool:
    """Wait until every child is ready (or dead), then send them one epoch; False when
    stopped first (then the children are killed: none has sent a request)."""
    pending = set(range(len(conns)))
    ready = []
    while pending and not stop.is_set():
        for w in sorted(pending):
            if conns[w].poll():
                try:
                    conns[w].recv()
                    ready.append(w)
                except EOFError:  # it died before it was ready (its error is on the queue)
                    pass
                pending.discard(w)
            elif not procs[w].is_alive():
                pending.discard(w)
        if pending:
            await asyncio.sleep(POLL_S)
    if stop.is_set():
        for proc in procs:
            proc.kill()
        return False
    epoch = monotonic_ns() + START_MARGIN_NS
    for w in ready:
        conns[w].send(("epoch", epoch))
    return True


async def _forward_stop(stop: asyncio.Event, conns: list[Conn]) -> None:
    await stop.wait()
    for conn in conns:
        with contextlib.suppress(OSError):  # that child has already ended
            conn.send(("stop", None))


async def _collect(
    out: Queue[Any], procs: list[Any], stats: list[LiveStats]
) -> list[WorkerOutcome]:
    outcomes: dict[int, WorkerOutcome] = {}
    errors: list[str] = []
    while len(outcomes) + len(errors) < len(procs):
        try:
            kind, worker, payload = out.get_nowait()
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and out.empty():
                break
            await asyncio.sleep(POLL_S)
            continue
        if kind == "stats":
            stats[worker].absorb(payload)
        elif kind == "done":
            outcomes[worker] = payload
        else:
            errors.append(f"worker {worker}: {payload}")
    if errors and not outcomes:
        raise RuntimeError("; ".join(errors))
    return [outcomes[w] for w in sorted(outcomes)]


def _end(procs: list[Any]) -> None:
    for proc in procs:
        proc.join(timeout=JOIN_TIMEOUT_S)
        if proc.is_alive():
            proc.kill()
            proc.join()

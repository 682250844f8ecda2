"""`--workers N`: one spawned process per worker, a common schedule epoch, merged results.

Each child loads the plan itself (sources are deterministic), opens its transport, reports
ready, and receives the epoch chosen by the parent once every worker is ready, so all
workers share one schedule on the host's monotonic clock. Counters stream back for the
progress display; a SIGINT/SIGTERM to the parent is forwarded, and each child then cancels
its in-flight calls (cancelled rows) and closes its part file.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
from multiprocessing.queues import Queue
from time import monotonic_ns
from typing import Any

import uvloop

from agentload.replay.signals import StopFlag
from agentload.replay.source import load_plan
from agentload.replay.stats import LiveStats
from agentload.replay.worker import WorkerOutcome, WorkerSpec, run_worker

START_MARGIN_NS = 200_000_000
READY_TIMEOUT_S = 120.0


def _child_main(
    spec: WorkerSpec, conn: multiprocessing.connection.Connection, out: Queue[Any]
) -> None:
    flag = StopFlag()
    flag.reinstall()
    try:
        plan = load_plan(spec.config.source, spec.config.model)
        stats = LiveStats()

        async def get_epoch() -> int:
            conn.send("ready")
            epoch: int = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            return epoch

        def on_tick(s: LiveStats) -> None:
            out.put(("stats", spec.worker, s.counters()))

        outcome = uvloop.run(run_worker(spec, plan, stats, get_epoch, on_tick, flag))
        out.put(("done", spec.worker, outcome))
    except BaseException as exc:  # report anything, including a stop before the loop ran
        out.put(("error", spec.worker, f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from None


def run_processes(
    specs: list[WorkerSpec], stats: list[LiveStats], flag: StopFlag
) -> list[WorkerOutcome]:
    ctx = multiprocessing.get_context("spawn")
    out: Queue[Any] = ctx.Queue()
    conns = []
    procs = []
    for spec in specs:
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(
            target=_child_main, args=(spec, child_conn, out), name=f"replay-w{spec.worker}"
        )
        proc.start()
        conns.append(parent_conn)
        procs.append(proc)

    def forward() -> None:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    flag.listeners.append(forward)
    if flag.requested:
        forward()
    try:
        _start_together(conns, procs)
        return _collect(out, procs, stats)
    finally:
        flag.listeners.remove(forward)
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()


def _start_together(conns: list[multiprocessing.connection.Connection], procs: list[Any]) -> None:
    ready = []
    for conn, proc in zip(conns, procs, strict=True):
        while not conn.poll(0.1):
            if not proc.is_alive():
                break  # it reported its error on the queue
        else:
            conn.recv()
            ready.append(conn)
    epoch = monotonic_ns() + START_MARGIN_NS
    for conn in ready:
        conn.send(epoch)


def _collect(out: Queue[Any], procs: list[Any], stats: list[LiveStats]) -> list[WorkerOutcome]:
    outcomes: dict[int, WorkerOutcome] = {}
    errors: list[str] = []
    while len(outcomes) + len(errors) < len(procs):
        try:
            kind, worker, payload = out.get(timeout=0.5)
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and out.empty():
                break
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

"""The process edge: SIGINT/SIGTERM become the run's one stop request, an `asyncio.Event`.

Inside the pipeline, stopping is `stop.set()` and nothing else ever looks at a signal. Only
a process's own entry translates signals into that event: the CLI (and `run_replay` /
`run_on_ray` for library callers) with `run_until_signalled`, a spawned worker process in
its main with `signals_set`. Worker processes start with the signals blocked
(`blocked_in_children`) so a Ctrl-C while they still import cannot kill them with a
traceback; their entry takes the signals over (and unblocks them) once it can handle them.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import uvloop

from agentload.base import held_signals

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def signals_set(stop: asyncio.Event) -> Iterator[None]:
    """Inside the block, SIGINT/SIGTERM set `stop` (the running loop's handlers; only the
    main thread may install them, so elsewhere this does nothing)."""
    if not _main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    # A worker process starts with them blocked (blocked_in_children): one that arrived
    # while it imported is pending, and is delivered to the handler just installed.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    try:
        yield
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)


def run_until_signalled[T](main: Callable[[asyncio.Event], Coroutine[Any, Any, T]]) -> T:
    """Run `main(stop)` on a new uvloop loop; SIGINT/SIGTERM set `stop` meanwhile, and one
    held while the command started (`base.held_signals`) sets it at once."""

    async def edge() -> T:
        stop = asyncio.Event()
        with signals_set(stop):
            if held_signals.take() is not None:  # arrived while starting: stop at once
                stop.set()
            return await main(stop)

    return uvloop.run(edge())


@contextmanager
def blocked_in_children() -> Iterator[None]:
    """Processes started inside the block inherit SIGINT/SIGTERM blocked: a signal mask
    survives fork and exec (a handler does not), so a signal that reaches a child while it
    still imports stays pending until its entry handles it (`signals_set`).

    Only the calling thread blocks them meanwhile; the process's dispositions are left
    alone. Ignoring them here instead (SIG_IGN, inherited too) lost signals: the kernel
    hands a process-directed signal to any thread that does not block it, and an executor
    thread took a Ctrl-C to the process group and dropped it as ignored (the run went on
    to the end, exit 0). Now another thread runs our handler, or this one does once the
    mask is restored."""
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)

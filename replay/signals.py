"""The process edge: SIGINT/SIGTERM become the run's one stop request, an `asyncio.Event`.

Inside the pipeline, stopping is `stop.set()` and nothing else ever looks at a signal. Only
a process's own entry translates signals into that event: the CLI (and `run_replay` /
`run_on_ray` for library callers) with `run_until_signalled`, a spawned worker process in
its main with `signals_set`. Worker processes start with the signals ignored
(`ignored_in_children`) so a Ctrl-C while they still import cannot kill them with a
traceback; their entry takes the signals over once it can handle them.
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
def ignored_in_children() -> Iterator[None]:
    """Processes started inside the block inherit SIGINT/SIGTERM ignored (dispositions
    survive exec; handlers do not). Here the signals are blocked meanwhile, so one that
    arrives is delivered to our own handler afterwards instead of being lost."""
    if not _main_thread():
        yield
        return
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)

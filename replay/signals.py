"""SIGINT/SIGTERM outside the event loop: remember the request and pass it on.

Inside a worker's loop, `loop.add_signal_handler` stops the runner; this covers the moments
around it (loading, spawning, merging), so a signal at any time leaves a valid partial file
instead of a traceback.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopFlag:
    def __init__(self) -> None:
        self.requested = False
        self.listeners: list[Callable[[], None]] = []

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True
        for listener in list(self.listeners):
            listener()

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        """Handle SIGINT/SIGTERM with this flag inside the block (main thread only)."""
        previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def reinstall(self) -> None:
        """Take the signals back after an event loop released them."""
        for sig in SIGNALS:
            signal.signal(sig, self._handle)

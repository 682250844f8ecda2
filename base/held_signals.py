"""SIGINT/SIGTERM that arrive while a run is still starting, held until it can stop cleanly.

The console script's first seconds are imports and loading; a Ctrl-C there used to print a
KeyboardInterrupt traceback and leave no result file (adversarial catalogue rows 102-103).
For the commands that promise a partial result (replay, sweep), `agentload.entry` holds the
signals from the first line it runs; `replay.signals.run_until_signalled` takes a held one
over as the run's stop request, so the run ends at once and still writes its (partial,
possibly empty) result file. Other commands are interrupted at once, as before.
"""

from __future__ import annotations

import signal
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_held: list[int] = []


def _hold(signum: int, frame: FrameType | None) -> None:
    _held.append(signum)


def hold() -> None:
    """From now on SIGINT/SIGTERM are held, not raised (call from the main thread)."""
    for sig in SIGNALS:
        signal.signal(sig, _hold)


def take() -> int | None:
    """The first signal held since `hold`, once (None when none arrived)."""
    return _held.pop(0) if _held else None

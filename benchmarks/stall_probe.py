"""A sleeper beside a benchmarked client: did the whole machine stall while it ran?

A thread of the benchmark's own process (idle meanwhile: it waits for the client's process)
sleeps SLEEP_S at a time and records how late each wake-up was. A client's lag burst that
this sleeper saw too, in another process, was the machine's (the VM paused, the host took
the CPU); one it did not see was the client's own. On a quiet 2-core VM the sleeper wakes
within a millisecond; CPU contention from the client and the server (at most ~1.2 of 2
cores in these benchmarks) delays a sleeper by less than STALL_MS.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Self

SLEEP_S = 0.005
# A wake-up this late (two periods missed) is the machine's stall, not scheduling noise: on
# a 2-core VM the sleeper woke at most 9 ms late in steps where neither client had a lag
# burst (up to 10,000 requests/s), and 10-82 ms late a few times a ladder, failing
# whichever client ran then.
STALL_MS = 10.0


class StallProbe:
    """`with StallProbe() as probe:` around a client's run; then `probe.worst_ms`."""

    def __init__(self, sleep_s: float = SLEEP_S) -> None:
        self._sleep_s = sleep_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-probe", daemon=True)
        self.worst_ms = 0.0

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        period_ns = int(self._sleep_s * 1e9)
        while not self._stop.is_set():
            due = time.monotonic_ns() + period_ns
            time.sleep(self._sleep_s)
            self.worst_ms = max(self.worst_ms, max(0, time.monotonic_ns() - due) / 1e6)

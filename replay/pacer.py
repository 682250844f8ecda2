"""Sleep until an absolute monotonic deadline, accurate to well under a millisecond.

Event-loop timers have millisecond granularity (uvloop rounds, sometimes early), so we sleep
until shortly before the deadline and then yield to the loop until it has passed. The spin
costs at most SPIN_NS of polling per send and keeps other tasks running meanwhile.
"""

from __future__ import annotations

import asyncio
from time import monotonic_ns

SPIN_NS = 1_500_000


async def sleep_until(deadline_ns: int) -> None:
    remaining = deadline_ns - monotonic_ns()
    if remaining > SPIN_NS:
        await asyncio.sleep((remaining - SPIN_NS) / 1e9)
    while monotonic_ns() < deadline_ns:
        await asyncio.sleep(0)

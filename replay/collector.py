"""Keep Python's cyclic garbage collector off the schedule during a run.

A full (generation 2) collection walks every tracked object that is not frozen. In a
10,000-session closed-loop run (benchmarks/bench_fleet.py, measured with gc.callbacks) the
objects that sessions create after the start grew to 430k, and each full collection took
48-270 ms of CPU while the event loop waited: six of them inside the run, every one of them
finding nothing to free (collected 0). Those stalls are schedule-lag bursts that affect
every request due while they last.

So, for the run: collect once, freeze what exists (the plan, imports, the transport), and
turn off automatic full collections. Young generations still collect as usual, so short
cycles (exceptions with tracebacks, finished tasks) are freed during the run; cycles that
outlive two young collections wait for the first full collection after the run, when
Python's own thresholds are back.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Generation 2 runs after this many generation 1 collections (and only if the pending
# long-lived objects exceed 25% of the rest): far beyond any run's count.
NO_FULL_COLLECTIONS = 1 << 30


@contextmanager
def collector_out_of_the_way() -> Iterator[None]:
    """Collect and freeze now, no automatic full collection until the block ends."""
    gc.collect()
    gc.freeze()
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], NO_FULL_COLLECTIONS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()

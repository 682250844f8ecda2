"""The load timer: which root sessions start, and when (pure; no I/O, no clock).

Open loop yields absolute offsets from the run's epoch: recorded arrivals divided by
`--speed`, or a constant / Poisson (seeded) session rate. Closed loop yields only the order;
the runner starts the next session when a slot frees. Cycling (closed loop and session rate
with a bound) reuses the source's roots as copies `<id>~c<k>`, as Applied Compute's harness
does when the profile runs out before the run's end.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from agentload.replay.config import ArrivalMode, ReplayConfig
from agentload.replay.distributed.shard import shard_of
from agentload.replay.plan import Plan, SessionPlan, cycled_id
from agentload.traceformat.limits import MAX_SCHEDULE_NS


@dataclass(frozen=True, slots=True)
class Admission:
    seq: int  # global admission number across all workers
    session: SessionPlan
    cycle: int
    offset_ns: int  # open loop: start offset from the epoch; closed loop: 0

    @property
    def session_id(self) -> str:
        return cycled_id(self.session.session_id, self.cycle)


def sequence(plan: Plan, config: ReplayConfig) -> Iterator[tuple[int, SessionPlan, int]]:
    """Global order of root sessions: (seq, session, cycle), cycled when allowed."""
    n = len(plan.roots)
    limit = config.max_sessions
    seq = 0
    while limit is None or seq < limit:
        cycle, i = divmod(seq, n)
        if cycle and not config.cycles:
            return
        yield seq, plan.roots[i], cycle
        seq += 1


def admissions(plan: Plan, config: ReplayConfig) -> Iterator[Admission]:
    """Every root admission of the run (all workers), in start order."""
    mode = config.arrival_mode
    rng = random.Random(config.seed)
    # Open loop ends at --duration, and in any case at the limit of what a deadline can
    # hold (a --session-rate near its minimum times a large --max-sessions reaches it).
    duration_ns = MAX_SCHEDULE_NS if config.duration is None else int(config.duration * 1e9)
    span = max((s.arrival_s for s in plan.roots), default=0.0)
    t = 0.0
    for seq, session, cycle in sequence(plan, config):
        if mode is ArrivalMode.CLOSED:
            offset_ns = 0
        elif mode is ArrivalMode.RECORDED:
            offset_ns = int((session.arrival_s + cycle * span) / config.speed * 1e9)
        else:
            assert config.session_rate is not None
            rate = config.session_rate
            if config.poisson:
                t += rng.expovariate(rate) if seq else 0.0
                offset_ns = int(t * 1e9)
            else:
                # From the index, not a running sum of 1/rate: the sum's rounding put a
                # 2,001st session inside `--session-rate 500 --duration 4`.
                offset_ns = round(seq * 1e9 / rate)
        if mode is not ArrivalMode.CLOSED and offset_ns >= duration_ns:
            return
        yield Admission(seq, session, cycle, offset_ns)


def for_worker(items: Iterator[Admission], worker: int, workers: int) -> Iterator[Admission]:
    """The admissions a worker owns: sharded by a stable hash of the root session id."""
    if workers == 1:
        yield from items
        return
    for item in items:
        if shard_of(item.session_id, workers) == worker:
            yield item


def share(total: int | None, worker: int, workers: int) -> int | None:
    """A worker's share of a global count (slots, sessions): as even as possible."""
    if total is None:
        return None
    return total // workers + (1 if worker < total % workers else 0)

"""Did the run measure the engine? The early stop when the first requests all fail, and the
verdict once the run is over.

- Early stop (`watch_start`): until the first request succeeds, the run is stopped through
  its one stop event when EARLY_REQUESTS requests have finished and all failed, or when at
  least EARLY_QUIET_MIN have finished, all failed, and nothing has been in flight, sent or
  finished for EARLY_QUIET_S (an engine that is down, a wrong path or model fails every
  request at once; a cold engine still has its first requests in flight, so it is waited
  for).
- Verdict (`judge`, `verdict`): nothing succeeded (or the start failed) -> UnfaithfulRunError
  (exit 3); the share of failed requests above `--max-error-rate` -> ThresholdError (exit
  1). Requests the client cancelled itself (a --no-drain deadline) are not failures.
  Every row counts, warmup included: an engine failing during warmup is failing.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from time import monotonic

import polars as pl

from agentload.analysis.failures import error_messages, failed
from agentload.base.errors import AgentloadError, ThresholdError, UnfaithfulRunError
from agentload.replay.live_stats import LiveStats, combined
from agentload.traceformat import schema as S

EARLY_REQUESTS = 8  # finished requests, none ok: the start failed
EARLY_QUIET_MIN = 2  # ... or this many, none ok, and nothing in flight for EARLY_QUIET_S
EARLY_QUIET_S = 1.0
POLL_S = 0.05
MAX_LINE_MESSAGE = 200  # characters of the server's message in the one-line verdict


def start_failed(done: int, ok: int, in_flight: int, quiet_s: float) -> bool:
    """Whether the run's start has failed: `done` requests finished, `ok` of them ok,
    `in_flight` still running, and nothing has been in flight for `quiet_s` seconds."""
    if ok or not done:
        return False
    return done >= EARLY_REQUESTS or (
        done >= EARLY_QUIET_MIN and in_flight == 0 and quiet_s >= EARLY_QUIET_S
    )


async def watch_start(stats: list[LiveStats], stop: asyncio.Event) -> int | None:
    """Poll the workers' counters until a request succeeds or the run stops; when the start
    fails (`start_failed`), set `stop` and return the number of requests that failed."""
    busy_at, seen = monotonic(), (0, 0)
    while not stop.is_set():
        totals = combined(stats)
        done, errors = totals["requests"], totals["errors"]
        if done > errors:
            return None
        in_flight = totals["sent"] - done
        now = monotonic()
        # quiet: nothing in flight, sent or finished since (workers that are still
        # starting, or the first failures just in, are not yet a quiet second)
        if in_flight or (totals["sent"], done) != seen:
            busy_at, seen = now, (totals["sent"], done)
        if start_failed(done, done - errors, in_flight, now - busy_at):
            stop.set()
            return done
        await asyncio.sleep(POLL_S)
    return None


@dataclass(frozen=True)
class Outcome:
    """What a run achieved, recorded in META_DIAGNOSTICS["outcome"]."""

    requests: int  # rows, cancelled included
    ok: int
    failed: int  # errors other than cancelled
    stopped_early: bool  # the start failed and the run was stopped (watch_start)
    top_kind: str | None  # the most frequent failure kind
    top_message: str | None  # its most frequent message

    @property
    def error_share(self) -> float:
        """Failed over finished (ok + failed) requests; 0 when none finished."""
        finished = self.ok + self.failed
        return self.failed / finished if finished else 0.0

    @property
    def nothing_succeeded(self) -> bool:
        return self.ok == 0

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "error_share": self.error_share}


def judge(frame: pl.DataFrame, stopped_early: bool) -> Outcome:
    bad = failed(frame)
    messages = error_messages(bad, limit=1)
    top = next(iter(messages.items()), None)
    return Outcome(
        requests=frame.height,
        ok=frame.filter(pl.col(S.STATUS) == "ok").height,
        failed=bad.height,
        stopped_early=stopped_early,
        top_kind=None if top is None else top[0],
        top_message=None if top is None else top[1][0]["message"],
    )


def verdict(outcome: Outcome, target: str, max_error_rate: float) -> AgentloadError | None:
    """The error a run ends with (None: it measured the engine). One line: the target, the
    dominant failure kind and the server's own message."""
    why = ""
    if outcome.top_kind is not None:
        message = (outcome.top_message or "")[:MAX_LINE_MESSAGE]
        why = f"; mostly {outcome.top_kind}: {message}"
    if outcome.stopped_early:
        return UnfaithfulRunError(
            f"{target}: stopped early, the first {outcome.failed} requests all failed{why}"
        )
    if outcome.requests == 0:
        return UnfaithfulRunError(f"{target}: the run sent no request")
    if outcome.nothing_succeeded:
        cancelled = outcome.requests - outcome.failed
        counts = f"{outcome.failed} of {outcome.requests} failed" + (
            f", {cancelled} cancelled" if cancelled else ""
        )
        return UnfaithfulRunError(f"{target}: no request succeeded ({counts}){why}")
    if outcome.error_share > max_error_rate:
        return ThresholdError(
            f"{target}: {outcome.failed} of {outcome.ok + outcome.failed} requests failed "
            f"({outcome.error_share:.1%} > --max-error-rate {max_error_rate:g}){why}"
        )
    return None

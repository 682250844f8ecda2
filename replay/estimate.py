"""The plan line: what a run will send and about how long it will take (pure).

How long a run takes is decided by its mode:
- recorded arrivals: the last session's arrival / --speed, plus that session's length;
- --session-rate R: sessions arrive for --duration (or --max-sessions / R), plus the drain;
- --concurrency N: N sessions at a time until --duration (or --max-sessions, or the
  source, is used up), plus the drain;
- with --duration, admissions stop there and the sessions in flight then finish (the
  drain; --no-drain cancels them instead).

A session's length is estimated from the schedule: its think times (scaled, capped) plus its
calls' work at an *assumed* engine speed (``ASSUMED_DECODE_TPS`` output tokens/s per
request, ``ASSUMED_PREFILL_TPS`` uncached prompt tokens/s); a real engine under load is
slower or faster, so the figure is an estimate and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentload.replay.config import ArrivalMode, ReplayConfig
from agentload.replay.plan import CallPlan, Plan, SessionPlan

ASSUMED_DECODE_TPS = 50.0
ASSUMED_PREFILL_TPS = 5000.0


@dataclass(frozen=True)
class Estimate:
    sessions: float  # root sessions expected to be admitted (cycled copies included)
    requests: float  # their calls, child sessions' included
    prompt_tokens: float
    output_tokens: float
    mode: str
    duration_s: float
    how: str  # what decides the duration, in words

    def line(self) -> str:
        approx = "~" if self.sessions != int(self.sessions) else ""
        return (
            f"plan: {approx}{self.sessions:,.0f} sessions, {approx}{self.requests:,.0f} "
            f"requests ({self.prompt_tokens:,.0f} prompt and {self.output_tokens:,.0f} output "
            f"tokens), {self.mode}; estimated duration {_human(self.duration_s)} ({self.how}; "
            f"an estimate assuming {ASSUMED_DECODE_TPS:g} output tok/s per request)"
        )


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _tree(plan: Plan, session: SessionPlan) -> list[SessionPlan]:
    """A root session and every session it spawns, recursively."""
    out = [session]
    if not plan.children:  # most profiles: no pass over the calls
        return out
    for call in session.calls:
        for child in plan.children.get((session.session_id, call.index), ()):
            out.extend(_tree(plan, child))
    return out


def session_seconds(session: SessionPlan, config: ReplayConfig) -> float:
    """Think times (as the run scales and caps them) plus the calls' assumed work."""
    total = 0.0
    previous = 0
    for i, call in enumerate(session.calls):
        if i:
            total += config.think_ns(call.think_s) / 1e9
        new = max(call.input_tokens - previous, 0)
        total += new / ASSUMED_PREFILL_TPS + call.output_tokens / ASSUMED_DECODE_TPS
        previous = call.input_tokens + call.output_tokens
    return total


def _sizes(calls: list[CallPlan]) -> tuple[int, int, int]:
    """Calls, input and output tokens (one pass over a profile plan's calls, built on demand)."""
    return len(calls), sum(c.input_tokens for c in calls), sum(c.output_tokens for c in calls)


def estimate(plan: Plan, config: ReplayConfig) -> Estimate:
    """What the run will send and how long it will take (module docstring)."""
    roots = plan.roots
    per_root = [_sizes([c for s in _tree(plan, r) for c in s.calls]) for r in roots]
    lengths = [session_seconds(r, config) for r in roots]
    mean_len = sum(lengths) / len(lengths) if lengths else 0.0
    sessions, duration, mode, how = _shape(plan, config, lengths, mean_len)
    n = len(roots) or 1
    scale = sessions / n
    return Estimate(
        sessions=sessions,
        requests=scale * sum(c for c, _, _ in per_root),
        prompt_tokens=scale * sum(p for _, p, _ in per_root),
        output_tokens=scale * sum(o for _, _, o in per_root),
        mode=mode,
        duration_s=duration,
        how=how,
    )


type Shape = tuple[float, float, str, str]  # (sessions, duration_s, mode, what decides it)


def _shape(plan: Plan, config: ReplayConfig, lengths: list[float], mean_len: float) -> Shape:
    mode = config.arrival_mode
    if mode is ArrivalMode.RECORDED:
        return _recorded(plan, config, lengths, mean_len)
    if mode is ArrivalMode.RATE:
        return _rate(len(plan.roots), config, mean_len)
    return _closed(len(plan.roots), config, lengths, mean_len)


def _until_duration(config: ReplayConfig, count: float, label: str, mean_len: float) -> Shape:
    """Admissions until --duration, then the drain (about one mean session) or a cut."""
    assert config.duration is not None
    tail, then = (mean_len, "plus the drain") if config.drain else (0.0, "then in-flight cut")
    return count, config.duration + tail, label, f"--duration {config.duration:g} s, {then}"


def _recorded(plan: Plan, config: ReplayConfig, lengths: list[float], mean_len: float) -> Shape:
    roots = plan.roots[: config.max_sessions]
    ends = [r.arrival_s / config.speed + d for r, d in zip(roots, lengths, strict=False)]
    end = max(ends, default=0.0)
    label = f"recorded arrivals at speed {config.speed:g}"
    if config.duration is not None and config.duration < end:
        limit = config.duration * config.speed
        count = sum(1 for r in roots if r.arrival_s < limit)
        return _until_duration(config, count, label, mean_len)
    return len(roots), end, label, "the last arrival plus that session's length"


def _rate(n: int, config: ReplayConfig, mean_len: float) -> Shape:
    assert config.session_rate is not None
    rate, cap = config.session_rate, config.max_sessions
    label = f"{'Poisson' if config.poisson else 'constant'} session rate {rate:g}/s"
    if config.duration is not None:
        count = rate * config.duration
        return _until_duration(config, count if cap is None else min(cap, count), label, mean_len)
    count = cap if cap is not None else n
    return count, max(count - 1, 0) / rate + mean_len, label, "sessions / rate, plus the last"


def _closed(n: int, config: ReplayConfig, lengths: list[float], mean_len: float) -> Shape:
    assert config.concurrency is not None
    slots, cap = config.concurrency, config.max_sessions
    label = f"closed loop at concurrency {slots}"
    if config.duration is not None:
        # the N first sessions, then one for each that ends: N / mean length per second
        count = slots * (1.0 + config.duration / mean_len) if mean_len > 0 else slots
        return _until_duration(config, count if cap is None else min(cap, count), label, mean_len)
    count = cap if cap is not None else n
    busy = count * mean_len / slots
    return count, max(busy, max(lengths, default=0.0)), label, "sessions x length / concurrency"

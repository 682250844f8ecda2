"""Live counters of a run, for the progress display (cheap to update on the hot path)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from time import monotonic_ns
from typing import Any

from agentload.traceformat import schema as S

WINDOW_NS = 30_000_000_000

COUNTERS = (
    "sessions_started",
    "sessions_done",
    "sent",
    "requests",
    "errors",
    "prompt",
    "cached",
    "completion",
)


@dataclass
class LiveStats:
    sessions_started: int = 0
    sessions_done: int = 0
    sent: int = 0  # requests sent; `requests` counts those finished
    requests: int = 0
    errors: int = 0
    prompt: int = 0
    cached: int = 0
    completion: int = 0

    def session_started(self) -> None:
        self.sessions_started += 1

    def session_ended(self) -> None:
        self.sessions_done += 1

    def request_sent(self) -> None:
        self.sent += 1

    def request_done(self, row: dict[str, Any]) -> None:
        self.requests += 1
        if row[S.STATUS] != "ok":
            self.errors += 1
        self.prompt += row.get(S.PROMPT_TOKENS) or 0
        self.cached += row.get(S.CACHED_TOKENS) or 0
        self.completion += row.get(S.COMPLETION_TOKENS) or 0

    def counters(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTERS}

    def absorb(self, counters: dict[str, int]) -> None:
        """Replace the counters (the parent's view of a worker process)."""
        for name in COUNTERS:
            setattr(self, name, counters.get(name, 0))


def combined(parts: list[LiveStats]) -> dict[str, int]:
    total = dict.fromkeys(COUNTERS, 0)
    for part in parts:
        for name, value in part.counters().items():
            total[name] += value
    return total


class RateWindow:
    """Per-second rates overall and over the last 30 s from cumulative counter samples."""

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self._samples: deque[tuple[int, dict[str, int]]] = deque()

    def add(self, counters: dict[str, int], now_ns: int | None = None) -> None:
        now = monotonic_ns() if now_ns is None else now_ns
        self._samples.append((now, counters))
        while self._samples and now - self._samples[0][0] > WINDOW_NS:
            self._samples.popleft()

    def rates(self) -> tuple[dict[str, float], dict[str, float]]:
        if not self._samples:
            return {}, {}
        now, last = self._samples[-1]
        overall = _rate(last, dict.fromkeys(last, 0), now - self.start_ns)
        t0, first = self._samples[0]
        recent = _rate(last, first, now - t0) if now > t0 else overall
        return overall, recent


def _rate(now: dict[str, int], before: dict[str, int], span_ns: int) -> dict[str, float]:
    seconds = max(span_ns / 1e9, 1e-9)
    return {name: (now[name] - before.get(name, 0)) / seconds for name in now}

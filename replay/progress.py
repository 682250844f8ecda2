"""Live progress: elapsed, sessions done/expected, requests/s, tokens/s, errors, an ETA.

On a terminal, rich's own refresh thread redraws a table twice a second from the workers'
counters. When stderr is not a terminal (CI logs, a file), a thread prints one plain line
every ``PLAIN_EVERY_S`` instead, so a long run shows it is alive without control codes.
Disabled with --quiet.

The ETA comes from the plan's estimate (replay.estimate): a run bound by --duration ends
about at its estimated duration; any other run ends when its expected sessions are done,
extrapolated from the share done so far once some are.
"""

from __future__ import annotations

import sys
import threading
from time import monotonic_ns

from rich.console import Console
from rich.live import Live
from rich.table import Table

from agentload.replay.estimate import Estimate
from agentload.replay.live_stats import LiveStats, RateWindow, combined

PLAIN_EVERY_S = 10.0


def eta_s(elapsed_s: float, done: int, expected: Estimate | None, timed: bool) -> float | None:
    """Seconds left: the estimate's remainder for a --duration run, else extrapolated from
    the sessions done (the estimate's remainder before any is); None without an estimate."""
    if expected is None:
        return None
    left = max(expected.duration_s - elapsed_s, 0.0)
    if timed or done <= 0 or expected.sessions <= 0:
        return left
    share = min(done / expected.sessions, 1.0)
    return elapsed_s * (1.0 - share) / share


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}"


class _View:
    def __init__(self, stats: list[LiveStats], expected: Estimate | None, timed: bool) -> None:
        self._stats = stats
        self._expected = expected
        self._timed = timed
        self._start = monotonic_ns()
        self._window = RateWindow(self._start)

    def sample(self) -> tuple[dict[str, int], dict[str, float], dict[str, float], float]:
        now = monotonic_ns()
        totals = combined(self._stats)
        self._window.add(totals, now)
        overall, recent = self._window.rates()
        return totals, overall, recent, (now - self._start) / 1e9

    def _sessions(self, totals: dict[str, int]) -> str:
        expected = "" if self._expected is None else f" of ~{self._expected.sessions:,.0f}"
        running = totals["sessions_started"] - totals["sessions_done"]
        return f"{totals['sessions_done']:,}{expected} done, {running:,} running"

    def _eta(self, totals: dict[str, int], elapsed: float) -> str:
        return _clock(eta_s(elapsed, totals["sessions_done"], self._expected, self._timed))

    def plain(self) -> str:
        totals, _, recent, elapsed = self.sample()
        return (
            f"progress: {_clock(elapsed)} elapsed, sessions {self._sessions(totals)}, "
            f"{totals['requests']:,} requests ({totals['errors']:,} errors), "
            f"{recent.get('completion', 0):,.0f} completion tok/s (last 30 s), "
            f"ETA ~{self._eta(totals, elapsed)}"
        )

    def __rich__(self) -> Table:
        totals, overall, recent, elapsed = self.sample()
        table = Table(show_header=True, header_style="bold", box=None)
        for name in ("elapsed", "ETA (est.)", "sessions", "req/s", "prompt tok/s"):
            table.add_column(name)
        for name in ("cached tok/s", "completion tok/s", "errors"):
            table.add_column(name)

        def pair(name: str) -> str:
            return f"{overall.get(name, 0):,.0f} ({recent.get(name, 0):,.0f})"

        table.add_row(
            f"{elapsed:,.1f} s",
            self._eta(totals, elapsed),
            self._sessions(totals),
            pair("requests"),
            pair("prompt"),
            pair("cached"),
            pair("completion"),
            f"{totals['errors']:,}",
        )
        table.caption = "rates: overall (last 30 s); ETA from the plan's estimate"
        return table


class Progress:
    """`enabled`: show anything at all; a terminal gets the live table, else plain lines."""

    def __init__(
        self,
        stats: list[LiveStats],
        enabled: bool,
        expected: Estimate | None = None,
        timed: bool = False,
        terminal: bool | None = None,
    ) -> None:
        view = _View(stats, expected, timed)
        tty = sys.stderr.isatty() if terminal is None else terminal
        self._live = (
            Live(view, console=Console(stderr=True), refresh_per_second=2, transient=False)
            if enabled and tty
            else None
        )
        self._plain = enabled and not tty
        self._view = view
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _print_lines(self) -> None:
        while not self._stop.wait(PLAIN_EVERY_S):
            print(self._view.plain(), file=sys.stderr, flush=True)

    def start(self) -> None:
        if self._live is not None:
            self._live.start()
        if self._plain:
            self._thread = threading.Thread(target=self._print_lines, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

"""Live progress (rich): elapsed, sessions done/running, requests/s, tokens/s, errors.

Rendered by rich's own refresh thread twice a second from the workers' counters; disabled
when stderr is not a terminal or with --quiet.
"""

from __future__ import annotations

from time import monotonic_ns

from rich.console import Console
from rich.live import Live
from rich.table import Table

from agentload.replay.live_stats import LiveStats, RateWindow, combined


class _View:
    def __init__(self, stats: list[LiveStats]) -> None:
        self._stats = stats
        self._start = monotonic_ns()
        self._window = RateWindow(self._start)

    def __rich__(self) -> Table:
        now = monotonic_ns()
        totals = combined(self._stats)
        self._window.add(totals, now)
        overall, recent = self._window.rates()
        table = Table(show_header=True, header_style="bold", box=None)
        table.add_column("elapsed")
        table.add_column("sessions done/running")
        table.add_column("req/s")
        table.add_column("prompt tok/s")
        table.add_column("cached tok/s")
        table.add_column("completion tok/s")
        table.add_column("errors")
        running = totals["sessions_started"] - totals["sessions_done"]

        def pair(name: str) -> str:
            return f"{overall.get(name, 0):,.0f} ({recent.get(name, 0):,.0f})"

        table.add_row(
            f"{(now - self._start) / 1e9:,.1f} s",
            f"{totals['sessions_done']:,}/{running:,}",
            pair("requests"),
            pair("prompt"),
            pair("cached"),
            pair("completion"),
            f"{totals['errors']:,}",
        )
        table.caption = "rates: overall (last 30 s)"
        return table


class Progress:
    def __init__(self, stats: list[LiveStats], enabled: bool) -> None:
        self._live = (
            Live(_View(stats), console=Console(stderr=True), refresh_per_second=2, transient=False)
            if enabled
            else None
        )

    def start(self) -> None:
        if self._live is not None:
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()

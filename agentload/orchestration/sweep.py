"""`agentload sweep`: replay one source at several load points, then compare them and draw
the Pareto fronts (throughput vs session latency p50, and vs TTFAT p50; see
`analysis.report.sweep_page`).

The sweep is one run of the replay pipeline per point, all under one stop event: a
SIGINT/SIGTERM stops the point that is running (its result file is kept, marked partial)
and the whole sweep with it; the points after it are not run. A point that could not be
faithful (no request succeeded, or it stopped early as its first requests all failed) ends
the sweep at once (exit 3); a point above --max-error-rate is reported and the sweep, once
every point ran, exits 1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from agentload.analysis.goodput import Slo
from agentload.analysis.report import compare, html, terminal
from agentload.analysis.report.run_report import html_report, rich_table
from agentload.analysis.report.sweep_page import points_table, sweep_page
from agentload.analysis.run_analysis import RunAnalysis, analyze_path
from agentload.base.errors import ConfigError, ThresholdError, UnfaithfulRunError
from agentload.replay.config import ReplayConfig

if TYPE_CHECKING:
    from agentload.replay.pipeline import RunResult

# one point: the pipeline (`replay.run.replay`) with local workers, or a test double
type Runner = Callable[[ReplayConfig, asyncio.Event], Awaitable[RunResult]]


@dataclass(frozen=True)
class SweepConfig:
    """`base` holds every replay option; each point overrides the load and the output."""

    base: ReplayConfig
    out_dir: Path
    concurrencies: tuple[int, ...] = ()
    session_rates: tuple[float, ...] = ()
    html: Path | None = None
    slo: Slo | None = None
    # concurrency points admit ceil(c x this) sessions (None: base.max_sessions)
    sessions_per_slot: float | None = None
    title: str = "agentload sweep"

    def __post_init__(self) -> None:
        if bool(self.concurrencies) == bool(self.session_rates):
            raise ConfigError("sweep: give exactly one of --concurrency or --session-rates")
        for c in self.concurrencies:
            if c < 1:
                raise ConfigError(f"--concurrency: every value must be >= 1, got {c}")
        for r in self.session_rates:
            if not r > 0:
                raise ConfigError(f"--session-rates: every value must be > 0, got {r}")
        if self.sessions_per_slot is not None and not self.sessions_per_slot > 0:
            raise ConfigError(f"--sessions-per-slot: must be > 0, got {self.sessions_per_slot}")

    def points(self) -> list[tuple[str, ReplayConfig]]:
        out = []
        for c in self.concurrencies:
            label = f"c{c}"
            sessions = self.base.max_sessions
            if self.sessions_per_slot is not None:
                sessions = math.ceil(c * self.sessions_per_slot)
            cfg = dataclasses.replace(
                self.base,
                concurrency=c,
                session_rate=None,
                max_sessions=sessions,
                out=self.out_dir / f"{label}.arrow",
                cache_salt=self._salt(label),
            )
            out.append((label, cfg))
        for r in self.session_rates:
            label = f"r{r:g}"
            cfg = dataclasses.replace(
                self.base,
                session_rate=r,
                concurrency=None,
                out=self.out_dir / f"{label}.arrow",
                cache_salt=self._salt(label),
            )
            out.append((label, cfg))
        return out

    def _salt(self, label: str) -> str | None:
        """A pinned --cache-salt plus the point's label: points never share the prefix cache
        (unpinned, every point draws a fresh run id)."""
        salt = self.base.cache_salt
        return None if salt is None else f"{salt}/{label}"


def parse_list[T](text: str, kind: Callable[[str], T], option: str) -> tuple[T, ...]:
    """'8,16,32' -> (8, 16, 32); ConfigError naming the option on bad items."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise ConfigError(f"{option}: expected a comma-separated list, got {text!r}")
    try:
        return tuple(kind(x) for x in items)
    except ValueError:
        raise ConfigError(f"{option}: not a list of numbers: {text!r}") from None


@dataclass(frozen=True)
class SweepResult:
    labels: list[str]
    analyses: list[RunAnalysis]
    html: Path | None
    interrupted: bool = False  # stopped by a signal: `labels` are the points finished


def run_sweep(
    config: SweepConfig, runner: Runner | None = None, console: Console | None = None
) -> SweepResult:
    """Run every point in order (each writes its result file), then compare them;
    SIGINT/SIGTERM stop the whole sweep (see the module docstring)."""
    from agentload.replay.signals import run_until_signalled

    return run_until_signalled(lambda stop: sweep(config, stop, runner, console))


async def sweep(
    config: SweepConfig,
    stop: asyncio.Event,
    runner: Runner | None = None,
    console: Console | None = None,
) -> SweepResult:
    """`run_sweep` under the caller's stop event."""
    if runner is None:
        from agentload.replay.pipeline import replay

        runner = replay
    console = console or terminal.console()
    config.out_dir.mkdir(parents=True, exist_ok=True)
    labels: list[str] = []
    analyses: list[RunAnalysis] = []
    breaches: list[str] = []  # points above --max-error-rate
    points = config.points()
    for i, (label, cfg) in enumerate(points, 1):
        with console.status(f"sweep point {label} ({i}/{len(points)}) -> {cfg.out}"):
            result = await runner(cfg, stop)
        if result.interrupted or (stop.is_set() and not result.outcome.stopped_early):
            rest = ", ".join(lbl for lbl, _ in points[i:]) or "none"
            console.print(
                f"sweep interrupted during point {label} (partial result: {result.path}); "
                f"points not run: {rest}"
            )
            return SweepResult(labels, analyses, None, interrupted=True)
        breach = _judge_point(label, cfg, result, [lbl for lbl, _ in points[i:]], console)
        if breach is not None:
            breaches.append(breach)
        analyses.append(analyze_path(result.path, slo=config.slo))
        labels.append(label)
        console.print(f"point {label}: {result.path}")
    summaries = [a.summary for a in analyses]
    console.print(rich_table(points_table(labels, summaries)))
    console.print(rich_table(compare.comparison(labels, summaries)))
    if config.html is not None:
        reports = write_reports(config.html.parent, labels, analyses)
        page = sweep_page(labels, summaries, config.title, reports=reports)
        html.write(config.html, page)
        console.print(f"HTML: {config.html} (reports per point: {', '.join(reports.values())})")
    if breaches:
        raise ThresholdError(f"{len(breaches)} of {len(points)} points: " + "; ".join(breaches))
    return SweepResult(labels, analyses, config.html)


def write_reports(
    folder: Path, labels: Sequence[str], analyses: Sequence[RunAnalysis]
) -> dict[str, str]:
    """Each run's own report as FOLDER/report-LABEL.html; label -> file name, for links
    from a page in the same folder."""
    reports = {}
    for label, analysis in zip(labels, analyses, strict=True):
        name = f"report-{label}.html"
        html.write(folder / name, html_report(analysis))
        reports[label] = name
    return reports


def _judge_point(
    label: str, cfg: ReplayConfig, result: RunResult, rest: list[str], console: Console
) -> str | None:
    """Raise the point's UnfaithfulRunError (the sweep stops); return its --max-error-rate
    breach, printed, for the end of the sweep (None when the point measured the engine)."""
    from agentload.replay.outcome import verdict

    failure = verdict(result.outcome, cfg.target, cfg.max_error_rate)
    if isinstance(failure, UnfaithfulRunError):
        console.print(
            f"sweep stopped at point {label} (result: {result.path}); "
            f"points not run: {', '.join(rest) or 'none'}"
        )
        raise UnfaithfulRunError(f"point {label}: {failure}")
    if failure is None:
        return None
    console.print(f"[red]point {label}:[/] {failure}", markup=True)
    return f"{label}: {failure}"

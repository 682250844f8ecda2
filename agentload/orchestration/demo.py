"""`agentload demo`: one workload, two engine settings, a verdict. A time-scaled sample of
the built-in agentic-coding profile is replayed against the embedded simulated engine twice,
closed-loop at the same concurrency: once with a preset as it is (the baseline) and once
with a fraction of its KV cache (half by default). `compare`'s code then judges the second
against the first (a verdict per metric, bootstrap noise) and writes the pages; OUT/index.html
tells the story and links the comparison and both runs' reports.

The sample: `sample` root sessions with at most `max_turns` tool turns, prompts capped at
`cap_context` tokens, think times and arrivals x `time_scale`. Each run admits
ceil(concurrency x `waves`) sessions, on a fresh simulator (nothing cached from the other).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from agentload.analysis.report import html, terminal
from agentload.analysis.report.tables import Table, num, pct
from agentload.analysis.report.verdicts import STYLE
from agentload.analysis.report.verdicts import tables as verdict_tables
from agentload.analysis.run_analysis import Json
from agentload.analysis.verdict import IMPROVED, NOISE, REGRESSED
from agentload.base.errors import ConfigError
from agentload.orchestration.compare import Compared, compare_results
from agentload.orchestration.sweep import write_reports
from agentload.profiles import load as profile_load
from agentload.profiles import transforms
from agentload.replay.config import ReplayConfig
from agentload.simengine import launch
from agentload.simengine.config import PRESETS
from agentload.traceformat import io
from agentload.traceformat import schema as s

SIM_MODEL = "agentload-sim"


@dataclass(frozen=True)
class Engine:
    """One engine setting of the demo: its run's name and the simulator's arguments."""

    name: str
    kv_tokens: int
    args: tuple[str, ...]
    describe: str


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("demo-out")
    concurrency: int = 16
    preset: str = "default"
    # the second engine's KV cache, as a fraction of the preset's: half of the default
    # preset's 400k tokens never binds at concurrency 16 here (peak use 40% of the full
    # cache, every verdict within noise); a quarter queues admissions and shows regressions
    kv_fraction: float = 0.25
    profile: str = "agentic-coding"
    sample: int = 64
    max_turns: int = 4
    cap_context: int = 12_000
    time_scale: float = 0.1
    waves: float = 1.0  # 1.5 gave the same verdicts in 87 s instead of 70
    seed: int = 1

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency: expected a value >= 1, got {self.concurrency}")
        if not self.waves > 0:
            raise ConfigError(f"demo waves: must be > 0, got {self.waves}")
        if self.preset not in PRESETS:
            raise ConfigError(f"--preset: one of {', '.join(PRESETS)}, got {self.preset!r}")
        if not 0 < self.kv_fraction < 1:
            raise ConfigError(
                f"--kv-fraction: expected a fraction in (0, 1), got {self.kv_fraction}"
            )
        preset = PRESETS[self.preset]
        if self.kv_fraction * preset.kv_capacity_tokens < preset.block_size:
            raise ConfigError(
                f"--kv-fraction: {self.kv_fraction:g} of the {self.preset} preset's "
                f"{preset.kv_capacity_tokens:,} KV tokens is less than one block"
            )

    def engines(self) -> tuple[Engine, Engine]:
        """(baseline, candidate): the preset, then the preset with less KV cache."""
        full = PRESETS[self.preset].kv_capacity_tokens
        part = int(full * self.kv_fraction)
        name = {0.5: "half-kv", 0.25: "quarter-kv"}.get(
            self.kv_fraction, f"kv-x{self.kv_fraction:g}"
        )
        preset = ("--preset", self.preset)
        return (
            Engine(self.preset, full, preset, f"{self.preset} preset, {full:,} KV tokens"),
            Engine(
                name,
                part,
                (*preset, "--kv-capacity-tokens", str(part)),
                f"{self.preset} preset with {self.kv_fraction:g} of its KV cache: {part:,} tokens",
            ),
        )

    @property
    def sessions(self) -> int:
        return math.ceil(self.concurrency * self.waves)


@dataclass(frozen=True)
class DemoResult:
    compared: Compared | None  # None: a run was interrupted
    index: Path | None


@contextlib.contextmanager
def running_sim(args: Sequence[str], timeout_s: float = 60.0) -> Iterator[str]:
    """Start `agentload sim ARGS` on a free port; yields its URL; SIGTERM + wait on exit."""
    proc = launch.start([*args, "--model", SIM_MODEL])
    try:
        yield launch.wait_listening(proc, timeout_s)
    finally:
        launch.stop(proc)


def write_sample(config: DemoConfig) -> Path:
    """The time-scaled sample profile, written to OUT/sample.arrow."""
    loaded = profile_load.load(config.profile)
    frame = transforms.apply(
        loaded.frame,
        transforms.TransformConfig(
            sample=config.sample,
            seed=config.seed,
            max_turns=config.max_turns,
            cap_context=config.cap_context,
            time_scale=config.time_scale,
        ),
    )
    path = config.out / "sample.arrow"
    extra = {}
    if loaded.block_size is not None:
        extra[s.META_BLOCK_SIZE] = str(loaded.block_size).encode()
    info = {"derived_from": config.profile, "demo_sample": True, **loaded.info}
    io.write_file(path, s.Kind.PROFILE, frame, info=info, extra_metadata=extra)
    return path


def run_demo(config: DemoConfig, console: Console | None = None) -> DemoResult:
    console = console or terminal.console()
    started = time.monotonic()
    config.out.mkdir(parents=True, exist_ok=True)
    sample = write_sample(config)
    console.print(
        f"sample of {config.profile}: {sample} (≤{config.max_turns} tool turns, "
        f"think times x{config.time_scale:g}); {config.sessions} sessions at concurrency "
        f"{config.concurrency} on each engine"
    )
    engines = config.engines()
    paths = []
    for engine in engines:
        path = _run_one(config, sample, engine, console)
        if path is None:
            return DemoResult(None, None)
        paths.append(path)
    names = [e.name for e in engines]
    reports = {name: f"report-{name}.html" for name in names}
    compared = compare_results(
        paths,
        None,
        html_path=config.out / "compare.html",
        console=console,
        title=f"agentload demo: {names[1]} against {names[0]}",
        reports=reports,
    )
    write_reports(config.out, compared.names, compared.analyses)
    index = html.write(config.out / "index.html", index_page(config, engines, compared))
    _print_headline(compared, console)
    console.print(f"open {index} (the comparison and both runs' reports are linked from it)")
    console.print(f"demo finished in {time.monotonic() - started:.0f} s")
    return DemoResult(compared, index)


def _run_one(config: DemoConfig, sample: Path, engine: Engine, console: Console) -> Path | None:
    """Replay the sample against a fresh simulator of `engine`: the result file (None when
    a signal stopped the run); the run's error when it did not measure the engine."""
    from agentload.replay.outcome import verdict
    from agentload.replay.pipeline import replay
    from agentload.replay.signals import run_until_signalled

    with running_sim(engine.args) as url:
        console.print(f"engine {engine.name}: simulated, {engine.describe}, at {url}")
        replay_config = ReplayConfig(
            source=sample,
            target=url,
            model=SIM_MODEL,
            out=config.out / f"{engine.name}.arrow",
            concurrency=config.concurrency,
            max_sessions=config.sessions,
            scrape_metrics=True,
            quiet=True,
            source_label=f"{config.profile} (demo sample)",
        )
        with console.status(f"replaying against {engine.name} -> {replay_config.out}"):
            result = run_until_signalled(lambda stop: replay(replay_config, stop))
    if result.interrupted:
        console.print(f"demo interrupted during {engine.name} (partial result: {result.path})")
        return None
    failure = verdict(result.outcome, url, replay_config.max_error_rate)
    if failure is not None:
        raise type(failure)(f"demo run {engine.name}: {failure}")
    return result.path


def index_page(config: DemoConfig, engines: Sequence[Engine], compared: Compared) -> str:
    """OUT/index.html: what was run, the verdict, and links to the comparison and reports."""
    base, new = engines
    story = (
        f"The same workload — {config.sessions} sessions of a time-scaled {config.profile} "
        f"sample, closed loop at concurrency {config.concurrency} — replayed against two "
        f"simulated engines that differ only in KV cache: {base.name} "
        f"({base.kv_tokens:,} tokens) and {new.name} ({new.kv_tokens:,} tokens). "
        f"The verdict judges {new.name} against {base.name}: a change counts only outside "
        f"the bootstrap 95% noise interval."
    )
    runs = Table(
        "Runs (prefix cache hit: the share of prompt tokens the engine found cached)",
        ["run", "engine setting", "prefix cache hit", "result file", "report"],
        [
            [
                e.name,
                e.describe,
                pct(a.summary["cache"]["cache_hit_rate"]),
                f"{e.name}.arrow",
                f"report-{e.name}.html",
            ]
            for e, a in zip(engines, compared.analyses, strict=True)
        ],
    )
    notes = [
        f"{name}: {note}"
        for name, a in zip(compared.names, compared.analyses, strict=True)
        for note in a.summary["notes"]
    ]
    links = [
        ("comparison: both runs side by side, verdicts, throughput-latency charts", "compare.html"),
        *((f"report of {e.name}: {e.describe}", f"report-{e.name}.html") for e in engines),
    ]
    return html.page(
        title=f"agentload demo: {new.name} against {base.name}",
        subtitle=story,
        notes=notes,
        tables=[_verdict_counts(compared), *verdict_tables(compared.judged), runs],
        charts=[],
        warnings=compared.judged.warnings,
        links=links,
    )


def _verdict_counts(compared: Compared) -> Table:
    """How many metrics regressed, improved or stayed within noise, and which."""
    (verdicts,) = compared.judged.verdicts
    rows: list[list[str]] = []
    styles: dict[tuple[int, int], str] = {}
    for kind in (REGRESSED, IMPROVED, NOISE):
        which = [v.metric.name for v in verdicts if v.verdict == kind]
        styles[(len(rows), 0)] = STYLE[kind]
        rows.append([kind, num(len(which)), ", ".join(which) or "—"])
    new, base = compared.names[1], compared.names[0]
    title = f"At a glance: {new} against {base}"
    return Table(title, ["verdict", "metrics", "which"], rows, styles)


def _print_headline(compared: Compared, console: Console) -> None:
    """One line per engine (throughput and latency, '—' where undefined), then the verdict."""
    for name, a in zip(compared.names, compared.analyses, strict=True):
        console.print(f"{name}: {_headline(a.summary)}", soft_wrap=True)
    for row in _verdict_counts(compared).rows:
        console.print(f"{row[0]}: {row[1]} ({row[2]})", soft_wrap=True)


def _headline(sm: Json) -> str:
    tp, sess, lat = sm["throughput"], sm["sessions"], sm["latency"]
    return (
        f"{_f(tp['completion_tps'], 1)} completion tok/s, "
        f"session latency p50 {_f(sess['latency_s']['p50'], 2)} s, "
        f"TTFT p50 {_f(lat['ttft_ms']['p50'], 1)} ms, "
        f"TTFT p99 {_f(lat['ttft_ms']['p99'], 1)} ms, "
        f"TPOT p50 {_f(lat['tpot_ms']['p50'], 2)} ms, "
        f"prefix cache hit {pct(sm['cache']['cache_hit_rate'])}"
    )


def _f(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"

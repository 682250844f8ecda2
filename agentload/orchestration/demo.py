"""`agentload demo`: the embedded simulated engine, a time-scaled sample of the built-in
agentic-coding profile replayed at two concurrencies, a comparison and HTML reports.

The sample: `sample` root sessions with at most `max_turns` tool turns, prompts capped at
`cap_context` tokens, think times and arrivals x `time_scale`. Each point runs closed-loop
at concurrency c over ceil(c x `waves`) sessions, so both points take about the same time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from agentload.analysis.report import terminal
from agentload.base.errors import ConfigError
from agentload.orchestration.sweep import SweepConfig, SweepResult, run_sweep
from agentload.profiles import load as profile_load
from agentload.profiles import transforms
from agentload.replay.config import ReplayConfig
from agentload.simengine import launch
from agentload.traceformat import io
from agentload.traceformat import schema as s

SIM_MODEL = "agentload-sim"


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("demo-out")
    concurrencies: tuple[int, int] = (4, 16)
    preset: str = "default"
    profile: str = "agentic-coding"
    sample: int = 64
    max_turns: int = 4
    cap_context: int = 12_000
    time_scale: float = 0.1
    waves: float = 1.5
    seed: int = 1

    def __post_init__(self) -> None:
        if len(self.concurrencies) != 2 or min(self.concurrencies) < 1:
            raise ConfigError(f"--concurrency: expected two values >= 1, got {self.concurrencies}")
        if not self.waves > 0:
            raise ConfigError(f"demo waves: must be > 0, got {self.waves}")


@contextlib.contextmanager
def running_sim(preset: str, timeout_s: float = 60.0) -> Iterator[str]:
    """Start `agentload sim` on a free port; yields its URL; SIGTERM + wait on exit."""
    proc = launch.start(["--preset", preset, "--model", SIM_MODEL])
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


def run_demo(config: DemoConfig, console: Console | None = None) -> SweepResult:
    console = console or terminal.console()
    started = time.monotonic()
    config.out.mkdir(parents=True, exist_ok=True)
    sample = write_sample(config)
    console.print(
        f"sample of {config.profile}: {sample} (≤{config.max_turns} tool turns, "
        f"think times x{config.time_scale:g})"
    )
    with running_sim(config.preset) as url:
        console.print(f"simulated engine ({config.preset} preset) at {url}")
        base = ReplayConfig(
            source=sample,
            target=url,
            model=SIM_MODEL,
            out=config.out / "point.arrow",
            concurrency=1,
            scrape_metrics=True,
            quiet=True,
            source_label=f"{config.profile} (demo sample)",
        )
        sweep = SweepConfig(
            base=base,
            out_dir=config.out,
            concurrencies=config.concurrencies,
            html=config.out / "compare.html",
            sessions_per_slot=config.waves,
            title="agentload demo",
        )
        result = run_sweep(sweep, console=console)
    _print_headline(result, console)
    console.print(f"demo finished in {time.monotonic() - started:.0f} s")
    return result


def _print_headline(result: SweepResult, console: Console) -> None:
    """One line per concurrency: throughput and latency ('—' where undefined)."""
    for label, sm in zip(result.labels, (a.summary for a in result.analyses), strict=True):
        tp, sess, lat = sm["throughput"], sm["sessions"], sm["latency"]
        console.print(
            f"concurrency {label.removeprefix('c')}: "
            f"{_f(tp['completion_tps'], 1)} completion tok/s, "
            f"session latency p50 {_f(sess['latency_s']['p50'], 2)} s, "
            f"TTFT p50 {_f(lat['ttft_ms']['p50'], 1)} ms, "
            f"TPOT p50 {_f(lat['tpot_ms']['p50'], 2)} ms",
            soft_wrap=True,
        )


def _f(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"

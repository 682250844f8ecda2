"""`run_replay(config) -> Path`: a whole replay run, from source to compacted result file.

Steps: load the plan; build the materializer (calibrated for text APIs); start the metrics
scraper and the live progress; run the workers (in this process for one worker, else one
process each, sharing a schedule epoch); merge their part files; diagnose; write the
result file with META_COMPLETE, META_INFO, META_ENGINE_METRICS and META_DIAGNOSTICS.
"""

from __future__ import annotations

import platform
import socket
import sys
import time
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from time import monotonic_ns

import uvloop

from agentload.replay.calibrate import calibrate
from agentload.replay.config import ApiChoice, ArrivalMode, ReplayConfig
from agentload.replay.diagnostics import diagnose
from agentload.replay.materialize import DEFAULT_BLOCK, Materializer
from agentload.replay.plan import Plan
from agentload.replay.procs import run_processes
from agentload.replay.progress import Progress
from agentload.replay.results import read_parts, with_expected_cached, write_result
from agentload.replay.scrape import Scraper
from agentload.replay.signals import StopFlag
from agentload.replay.source import load_plan
from agentload.replay.stats import LiveStats
from agentload.replay.summary import print_summary
from agentload.replay.worker import WorkerOutcome, WorkerSpec, run_worker

EPOCH_MARGIN_NS = 50_000_000  # first sends are due this long after the workers are ready


def build_materializer(
    config: ReplayConfig, plan: Plan
) -> tuple[Materializer | None, dict[str, object] | None]:
    """The synthetic-prompt builder (None for a verbatim trace) and the calibration record."""
    if plan.verbatim:
        return None, None
    mat = Materializer(config.api, config.model, block_size=plan.block_size or DEFAULT_BLOCK)
    mat.warm()
    if config.api is ApiChoice.COMPLETIONS:
        return mat, {"note": "token ids sent to /v1/completions: exact prompt lengths"}
    if not config.calibrate:
        return mat, {"note": "calibration disabled: 1 token per word assumed"}
    mat, cal = calibrate(mat, config.target, dict(config.headers))
    return mat, asdict(cal)


def part_paths(out: Path, workers: int) -> list[Path]:
    return [out.with_name(f"{out.name}.part{w}.arrows") for w in range(workers)]


def run_replay(config: ReplayConfig) -> Path:
    """Replay `config.source` against `config.target`; returns the result file.

    SIGINT/SIGTERM at any point stop the run and still write a (partial) result file."""
    flag = StopFlag()
    with flag.installed():
        return _run(config, flag)


def _run(config: ReplayConfig, flag: StopFlag) -> Path:
    plan = load_plan(config.source, config.model)
    materializer, calibration = build_materializer(config, plan)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    parts = part_paths(config.out, config.workers)
    specs = [WorkerSpec(config, w, parts[w], materializer) for w in range(config.workers)]
    info = run_info(config, plan)
    scraper = (
        Scraper(config.target, headers=dict(config.headers)) if config.scrape_metrics else None
    )
    stats = [LiveStats() for _ in specs]
    progress = Progress(stats, enabled=not config.quiet and sys.stderr.isatty())
    if scraper is not None:
        scraper.start()
    progress.start()
    try:
        if config.workers == 1:
            worker = run_worker(specs[0], plan, stats[0], _epoch_soon, stop_requested=flag)
            outcomes = [uvloop.run(worker)]
            flag.reinstall()
        else:
            outcomes = run_processes(specs, stats, flag)
    finally:
        progress.stop()
        if scraper is not None:
            scraper.stop()
    return _finish(config, plan, parts, outcomes, info, scraper, calibration)


async def _epoch_soon() -> int:
    return monotonic_ns() + EPOCH_MARGIN_NS


def _finish(
    config: ReplayConfig,
    plan: Plan,
    parts: list[Path],
    outcomes: list[WorkerOutcome],
    info: dict[str, object],
    scraper: Scraper | None,
    calibration: dict[str, object] | None,
) -> Path:
    frame = with_expected_cached(read_parts(parts), plan, plan.block_size or DEFAULT_BLOCK)
    interrupted = any(o.interrupted for o in outcomes) or len(outcomes) < config.workers
    diagnostics = diagnose(
        frame,
        outcomes,
        closed_loop=config.arrival_mode is ArrivalMode.CLOSED,
        calibration=calibration,
    )
    samples = [] if scraper is None else scraper.samples()
    path = write_result(
        config.out,
        frame,
        info,
        complete=not interrupted,
        engine_metrics=samples,
        diagnostics=diagnostics,
    )
    for part in parts:
        part.unlink(missing_ok=True)
    if not config.quiet:
        print_summary(frame, diagnostics, path, complete=not interrupted)
    return path


def run_info(config: ReplayConfig, plan: Plan) -> dict[str, object]:
    """The META_INFO of a result file: target, source, options and where it ran."""
    return {
        "target": config.target,
        "model": config.model,
        "source": config.source_label or str(config.source),
        "options": config.options(),
        "agentload_version": version("agentload"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "start_wall_ns": time.time_ns(),
        "gpus": config.gpus,
        "block_size": plan.block_size,
        "sessions_in_source": len(plan.roots) + sum(len(c) for c in plan.children.values()),
    }

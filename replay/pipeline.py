"""The one run pipeline: `replay(config, stop, workers)` for every kind of worker.

Steps: load the plan; settle the target (`replay.target_setup`: the preflight, the request
style per target kind, --reset-cache, the run's cache salt); build the materializer
(calibrated for text APIs); start the metrics scraper (with the run's request headers)
and the live progress; run the workers (a `replay.backend.Workers`: this process, spawned
processes, or Ray actors); read their rows; diagnose; write the result file with
META_COMPLETE, META_INFO, META_ENGINE_METRICS and META_DIAGNOSTICS; print the summary.

Stopping is the `stop` event and nothing else: the run ends early and still writes a result
file, marked partial, with whatever rows it has (possibly none). `run_replay` is the entry
for library callers: it translates SIGINT/SIGTERM into that event
(`replay.signals.run_until_signalled`).
"""

from __future__ import annotations

import asyncio
import platform
import socket
import sys
import time
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from agentload.analysis.lengths import length_warnings
from agentload.base.errors import ThresholdError
from agentload.replay import headroom
from agentload.replay.backend import LocalWorkers, Workers
from agentload.replay.calibrate import calibrate
from agentload.replay.config import ApiChoice, ArrivalMode, ReplayConfig
from agentload.replay.diagnostics import diagnose
from agentload.replay.end_summary import print_summary
from agentload.replay.estimate import estimate
from agentload.replay.materialize import DEFAULT_BLOCK, Materializer, salt_of
from agentload.replay.outcome import Outcome, judge, watch_start
from agentload.replay.plan import Plan
from agentload.replay.progress import Progress
from agentload.replay.results import with_expected_cached, write_result
from agentload.replay.scrape import Scraper
from agentload.replay.signals import run_until_signalled
from agentload.replay.source import load_plan
from agentload.replay.target_http import Fetched
from agentload.replay.target_setup import ReadyTarget, contact, ready


@dataclass(frozen=True)
class RunResult:
    path: Path
    complete: bool
    interrupted: bool  # stopped by a signal (for the CLI: exit status 130)
    rows: int
    outcome: Outcome  # what the run achieved; replay.outcome.verdict: how it must end


def build_materializer(
    config: ReplayConfig, plan: Plan, target: ReadyTarget | None = None
) -> tuple[Materializer | None, dict[str, object] | None]:
    """The synthetic-prompt builder (None for a verbatim trace) and the calibration record;
    spelled and salted for `target` (unsalted, vLLM-spelled without one)."""
    if plan.verbatim:
        return None, None
    mat = Materializer(config.api, config.model, block_size=plan.block_size or DEFAULT_BLOCK)
    if target is not None:
        mat = replace(mat, style=target.style, salt=salt_of(target.salt))
    mat.warm()
    if config.api is ApiChoice.COMPLETIONS:
        return mat, {
            "note": "token ids sent to /v1/completions: exact prompt lengths",
            "exact": True,
        }
    if not config.calibrate:
        return mat, {"note": "calibration disabled: 1 token per word assumed"}
    headers = config.target_headers()
    mat, cal = calibrate(mat, config.target, headers, tokenizer=config.tokenizer)
    return mat, asdict(cal)


def run_replay(config: ReplayConfig) -> Path:
    """Replay `config.source` against `config.target` with local workers; returns the
    result file. SIGINT/SIGTERM stop the run and still write a (partial) result file."""
    return run_until_signalled(lambda stop: replay(config, stop)).path


async def _plan_and_contact(config: ReplayConfig) -> tuple[Plan, Fetched | None]:
    """Load the plan and contact the target at once: a target that is down is known in
    seconds even beside a large source, yet bad input (exit 2) is reported before an
    unreachable target (exit 3), as a bad file is the user's first problem to fix."""
    contacting = asyncio.ensure_future(asyncio.to_thread(contact, config))
    try:
        plan = await asyncio.to_thread(load_plan, config.source, config.model)
    except BaseException:
        contacting.cancel()
        await asyncio.gather(contacting, return_exceptions=True)
        raise
    return plan, await contacting


async def replay(
    config: ReplayConfig, stop: asyncio.Event, workers: Workers | None = None
) -> RunResult:
    """One run with `workers` (default: local, per `config.workers`) until done or stopped."""
    if workers is None:
        headroom.check(config)  # file descriptors and ports, before anything is loaded
        workers = LocalWorkers(config)
    plan, models = await _plan_and_contact(config)
    expected = estimate(plan, config)
    if not config.quiet:  # how long this will take, before anything is sent
        print(expected.line(), file=sys.stderr, flush=True)
    target = await asyncio.to_thread(ready, config, plan, models)  # the preflight
    plan = target.plan
    materializer, calibration = await asyncio.to_thread(build_materializer, config, plan, target)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    info = run_info(config, plan) | target.info(pinned=config.cache_salt is not None)
    scraper = (
        Scraper(config.target, headers=config.target_headers()) if config.scrape_metrics else None
    )
    timed = config.duration is not None
    progress = Progress(workers.stats, not config.quiet, expected=expected, timed=timed)
    if scraper is not None:
        scraper.start()
    progress.start()
    # sets `stop` when the first requests all fail (engine down, wrong path or model)
    watch = asyncio.create_task(watch_start(workers.stats, stop))
    try:
        await workers.run(plan, materializer, stop, info)
    finally:
        watch.cancel()
        progress.stop()
        if scraper is not None:
            scraper.stop()
    samples = [] if scraper is None else scraper.samples()
    stopped_early = watch.done() and not watch.cancelled() and watch.result() is not None
    return _finish(config, plan, workers, stop.is_set(), info, samples, calibration, stopped_early)


def _finish(
    config: ReplayConfig,
    plan: Plan,
    workers: Workers,
    stopped: bool,
    info: dict[str, object],
    samples: list[dict[str, object]],
    calibration: dict[str, object] | None,
    stopped_early: bool = False,
) -> RunResult:
    frame = with_expected_cached(workers.rows(), plan, plan.block_size or DEFAULT_BLOCK)
    outcomes = workers.outcomes()
    diagnostics = diagnose(
        frame,
        outcomes,
        closed_loop=config.arrival_mode is ArrivalMode.CLOSED,
        calibration=calibration,
        duration=config.duration,
        slots=config.concurrency,
    )
    outcome = judge(frame, stopped_early)
    diagnostics["outcome"] = outcome.as_json()
    whole = workers.judge(diagnostics)
    complete = whole and not stopped and not any(o.interrupted for o in outcomes)
    path = write_result(
        config.out,
        frame,
        info,
        complete=complete,
        engine_metrics=samples,
        diagnostics=diagnostics,
    )
    workers.cleanup()
    if not config.quiet:
        print_summary(frame, diagnostics, path, complete=complete)
    _check_lengths(config, diagnostics, path, stopped)
    return RunResult(path, complete, stopped and not stopped_early, frame.height, outcome)


def _check_lengths(
    config: ReplayConfig, diagnostics: dict[str, Any], path: Path, stopped: bool
) -> None:
    """--strict-lengths: served lengths off the asked-for ones fail the run (exit 1), once
    the result file is written; an interrupted run keeps its own status."""
    if not config.strict_lengths or stopped:
        return
    breached = length_warnings(diagnostics.get("lengths") or {}, diagnostics.get("calibration"))
    if breached:
        raise ThresholdError(f"--strict-lengths: {'; '.join(breached)} (result: {path})")


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
        "start_monotonic_ns": time.monotonic_ns(),  # the rows' clock at the same instant
        "gpus": config.gpus,
        "block_size": plan.block_size,
        "sessions_in_source": len(plan.roots) + sum(len(c) for c in plan.children.values()),
    }

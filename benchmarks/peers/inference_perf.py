"""Kubernetes SIG inference-perf (`inference-perf -c config.yml`), learnt from its pydantic
config (inference_perf/config/...): `load.type: constant` with `stages: [{rate, duration}]`
runs every rate in one process, `load.interval` seconds apart; `data.type: random` with
fixed input/output distributions (32/16 tokens) counted with the sim's tokenizer
(`tokenizer.pretrained_model_name_or_path`); `server.type: vllm` with `ignore_eos`;
streamed `/v1/completions` (`api.type: completion`). Steps are delimited in the sim's log
by the pause between stages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from agentload.simengine import timinglog as tl
from benchmarks.capacity import (
    INPUT_TOKENS,
    LAG_LIMIT_MS,
    RATE_FRACTION,
    RELAXED_LAG_MS,
    TOKENS,
    Capacity,
    Step,
    analyze_step,
    client_run,
    summarize,
)
from benchmarks.common import MODEL, running_sim
from benchmarks.peers.venvs import PeerEnv

INTERVAL_S = 3


def config(tok: Path, url: str, rates: Sequence[float], duration: float, out: Path) -> str:
    """The YAML config (JSON is valid YAML)."""
    dist = {"min": INPUT_TOKENS, "max": INPUT_TOKENS, "mean": INPUT_TOKENS, "std_dev": 0}
    odist = {"min": TOKENS, "max": TOKENS, "mean": TOKENS, "std_dev": 0}
    cfg = {
        "api": {"type": "completion", "streaming": True},
        "data": {
            "type": "random",
            "input_distribution": {**dist, "total_count": 5000},
            "output_distribution": {**odist, "total_count": 5000},
        },
        "load": {
            "type": "constant",
            "interval": INTERVAL_S,
            "stages": [{"rate": float(r), "duration": max(1, round(duration))} for r in rates],
        },
        "server": {"type": "vllm", "model_name": MODEL, "base_url": url, "ignore_eos": True},
        "tokenizer": {"pretrained_model_name_or_path": str(tok)},
        "storage": {"local_storage": {"path": str(out)}},
    }
    return json.dumps(cfg, indent=1)


def segments(frame: pl.DataFrame, gap_s: float = 1.5) -> list[tuple[int, int]]:
    """Bursts of arrivals separated by pauses longer than gap_s: one per stage."""
    t = frame.filter(pl.col(tl.ENDPOINT) == "/v1/completions")[tl.ARRIVAL_WALL_NS].sort()
    arrivals: list[int] = t.to_list()
    out: list[tuple[int, int]] = []
    if not arrivals:
        return out
    start = prev = arrivals[0]
    for a in arrivals[1:]:
        if a - prev > gap_s * 1e9:
            out.append((start, prev))
            start = a
        prev = a
    out.append((start, prev))
    return out


def capacity(
    env: PeerEnv, tok: Path, sim_log: Path, rates: Sequence[float], duration: float, work: Path
) -> Capacity:
    cap = Capacity("inference-perf", env.version, note="judged by its own schedule_delay p99")
    cap.own_lag_judged = True
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "config.yml"
    cfg.write_text(config(tok, "", rates, duration, work / "out"))
    with running_sim("fast", sim_log) as sim:
        cfg.write_text(config(tok, sim.url, rates, duration, work / "out"))
        run = client_run([str(env.bin("inference-perf")), "-c", str(cfg)], work,
                         (duration + INTERVAL_S) * len(rates) + 120)  # fmt: skip
    cap.commands.append(run.command)
    cap.commands.append(f"# {cfg.name}: " + json.dumps(json.loads(cfg.read_text())))
    if run.returncode != 0:
        cap.error = run.error_line()
        return cap
    frame = pl.read_ipc(sim_log)
    for i, (rate, (start, end)) in enumerate(zip(rates, segments(frame), strict=False)):
        step = analyze_step(frame, start, end, rate, run)
        judge_by_own_delay(step, work / "out" / f"stage_{i}_lifecycle_metrics.json")
        cap.steps.append(step)
    return summarize(cap, rates)


def judge_by_own_delay(step: Step, metrics: Path) -> None:
    """Its "constant" timer draws exponential gaps scaled to the stage duration
    (inference_perf/loadgen/load_timer.py: Poisson-like arrivals), so the referee's
    constant-schedule lag does not apply: judge by its own schedule_delay p99 (request
    start - scheduled time), with the referee's achieved rate and error count."""
    if not metrics.exists():
        return
    delay = json.loads(metrics.read_text())["load_summary"]["schedule_delay"]
    step.own_lag_p99_ms = float(delay["p99"]) * 1000
    base = step.rate is not None and step.errors == 0 and step.achieved >= RATE_FRACTION * step.rate
    step.ok = base and step.own_lag_p99_ms <= LAG_LIMIT_MS
    step.ok_relaxed = base and step.own_lag_p99_ms <= RELAXED_LAG_MS

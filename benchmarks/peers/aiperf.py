"""NVIDIA AIPerf (`aiperf profile`), learnt from `aiperf profile --help`.

Open loop with `--request-rate R --arrival-pattern constant --benchmark-duration D`, synthetic
prompts of a fixed length (`--synthetic-input-tokens-mean/stddev`, counted with the sim's
tokenizer via `--tokenizer DIR`), forced output length (`--output-tokens-mean/stddev` plus
`ignore_eos` through `--extra-inputs`), streamed `/v1/completions`. One process per rate
(it starts a service per role: dataset, timing, workers, record processors), so a step
costs tens of seconds of start-up that the CPU window excludes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from benchmarks.capacity import (
    INPUT_TOKENS,
    LAG_LIMIT_MS,
    TOKENS,
    Capacity,
    analyze_step,
    client_run,
    summarize,
)
from benchmarks.common import MODEL, ClientRun, running_sim
from benchmarks.peers.venvs import PeerEnv


def argv(env: PeerEnv, tok: Path, url: str, rate: float, duration: float, out: Path) -> list[str]:
    return [
        str(env.bin("aiperf")), "profile", "--model", MODEL, "--url", url,
        "--endpoint-type", "completions", "--streaming", "--tokenizer", str(tok),
        "--request-rate", f"{rate:g}", "--arrival-pattern", "constant",
        "--benchmark-duration", f"{duration:g}",
        "--synthetic-input-tokens-mean", str(INPUT_TOKENS), "--synthetic-input-tokens-stddev", "0",
        "--output-tokens-mean", str(TOKENS), "--output-tokens-stddev", "0",
        "--extra-inputs", "ignore_eos:true", "--ui-type", "none",
        "--output-artifact-dir", str(out),
    ]  # fmt: skip


def capacity(
    env: PeerEnv, tok: Path, sim_log: Path, rates: Sequence[float], duration: float, work: Path
) -> Capacity:
    cap = Capacity("aiperf", env.version)
    runs: list[tuple[float, ClientRun]] = []
    with running_sim("fast", sim_log) as sim:
        for rate in rates:
            step_dir = work / f"rate-{rate:g}"
            run = client_run(argv(env, tok, sim.url, rate, duration, step_dir / "out"), step_dir,
                             duration)  # fmt: skip
            cap.commands.append(run.command)
            runs.append((rate, run))
            if run.returncode != 0:
                cap.error = run.error_line()
                break
            if _clearly_failed(run, rate, duration):
                break
    frame = pl.read_ipc(sim_log)
    for rate, run in runs:
        if run.returncode == 0:
            cap.steps.append(analyze_step(frame, run.start_ns, run.end_ns, rate, run))
    return summarize(cap, rates)


def _clearly_failed(run: ClientRun, rate: float, duration: float) -> bool:
    """Stop the ladder early when AIPerf's own request throughput is well under the rate."""
    for line in run.stdout.splitlines():
        if "Request Throughput" in line:
            cells = [c.strip().replace(",", "") for c in line.split("│") if c.strip()]
            try:
                return float(cells[1]) < 0.9 * rate
            except (IndexError, ValueError):
                return False
    return False


__all__ = ["LAG_LIMIT_MS", "argv", "capacity"]

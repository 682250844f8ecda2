"""GuideLLM (`guidellm run`), learnt from `guidellm run --help` and its pydantic schemas
(guidellm/schemas/...): options take `kind=...,key=value` or JSON. Open loop with
`--profile '{"kind": "constant", "rate": [R1, R2, ...]}'` runs one benchmark per rate in one
process (start-up — torch, transformers, worker processes — takes about a minute here, so
one process for the whole ladder); `--constraint kind=max_duration,seconds=D`; synthetic
prompts `--data kind=synthetic_text,prompt_tokens=32,output_tokens=16` counted with the
sim's tokenizer; streamed `/v1/completions`. Each benchmark's wall-clock `start_time` /
`end_time` in the JSON output delimit the step in the sim's log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from benchmarks.capacity import INPUT_TOKENS, TOKENS, Capacity, analyze_step, client_run, summarize
from benchmarks.common import MODEL, running_sim
from benchmarks.peers.venvs import PeerEnv


def argv(
    env: PeerEnv, tok: Path, url: str, rates: Sequence[float], duration: float, out: Path
) -> list[str]:
    profile = json.dumps({"kind": "constant", "rate": [float(r) for r in rates]})
    return [
        str(env.bin("guidellm")), "run",
        "--backend", f"kind=openai_http,target={url},model={MODEL},request_format=/v1/completions",
        "--profile", profile,
        "--constraint", f"kind=max_duration,seconds={duration:g}",
        "--data", f"kind=synthetic_text,prompt_tokens={INPUT_TOKENS},output_tokens={TOKENS}",
        "--tokenizer", f"kind=huggingface_auto,model={tok}",
        "--output", f"kind=json,path={out}",
        "--disable-console-interactive",
    ]  # fmt: skip


def windows(out: Path) -> list[tuple[float, int, int]]:
    """(rate, start wall ns, end wall ns) of each benchmark, in run order."""
    data = json.loads(out.read_text())
    return [
        (
            float(b["config"]["strategy"]["rate"]),
            int(b["start_time"] * 1e9),
            int(b["end_time"] * 1e9),
        )
        for b in data.get("benchmarks", [])
    ]


def capacity(
    env: PeerEnv, tok: Path, sim_log: Path, rates: Sequence[float], duration: float, work: Path
) -> Capacity:
    cap = Capacity("guidellm", env.version)
    out = work / "benchmarks.json"
    with running_sim("fast", sim_log) as sim:
        run = client_run(argv(env, tok, sim.url, rates, duration, out), work,
                         duration * len(rates) + 120)  # fmt: skip
    cap.commands.append(run.command)
    if run.returncode != 0 or not out.exists():
        cap.error = run.error_line()
        return cap
    frame = pl.read_ipc(sim_log)
    for rate, start, end in windows(out):
        cap.steps.append(analyze_step(frame, start, end, rate, run))
    return summarize(cap, rates)

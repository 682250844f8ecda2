"""agentload vs trie on vLLM's CPU build: one small agentic workload, closed loop, the same
concurrency and duration, against one vLLM process (`make vllm`), prefix cache reset before
each run.

    .venv/bin/python -m benchmarks.vllm_agreement [--concurrency 4] [--duration 60]

The workload is a trie JSONL (the format both clients read) of short agentic traces that fit
SmolLM2's 4,096-token context on a 2-core CPU; `benchmarks.agreement`'s public sample has
6,000-token first prompts, minutes of prefill each here. A real engine keeps no timing log,
so the referee outside both clients is vLLM's own Prometheus counters, read before and after
each run: generation tokens over the client's wall time (ramp-up included, so below a
steady-state figure), prompt tokens, and prefix-cache hits / queries.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.agreement import result_figures
from benchmarks.capacity import client_run
from benchmarks.common import BIN, git_revision
from benchmarks.peers import trie
from benchmarks.peers.venvs import ensure

COUNTERS = (
    "vllm:generation_tokens_total",
    "vllm:prompt_tokens_total",
    "vllm:prefix_cache_hits_total",
    "vllm:prefix_cache_queries_total",
    "vllm:request_success_total",
)
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)")


@dataclass(frozen=True)
class Config:
    concurrency: int = 4
    duration_s: float = 60.0
    traces: int = 16

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.duration_s <= 0 or self.traces < 1:
            raise ValueError("concurrency >= 1, duration > 0 and traces >= 1 required")


@dataclass
class Run:
    client: str
    version: str
    command: str = ""
    reset_status: int | None = None  # POST /reset_prefix_cache before the run
    steady_tps: float | None = None
    ttft_first_p50_ms: float | None = None
    ttft_p50_ms: float | None = None
    cache_hit: float | None = None  # Σ cached / Σ prompt (agentload), mean of traces (trie)
    requests: int | None = None
    first_calls: int | None = None  # how many calls the "first calls" TTFT p50 is over
    client_cores: float | None = None
    wall_s: float | None = None
    engine: dict[str, float] = field(default_factory=dict)  # counter deltas over the run
    error: str | None = None


def small_workload(path: Path, traces: int) -> None:
    """Short agentic traces: a 300-560-token first prompt, 3-5 tool turns of 20-44 output
    and 60-130 tool tokens, 0.2-0.5 s tool latency, a 32-token final answer."""
    rows = []
    for i in range(traces):
        turns = 3 + i % 3
        rows.append(
            {
                "input_prompt_length": 300 + 16 * i,
                "num_turns": turns,
                "assistant_response_length": [20 + 8 * ((i + k) % 4) for k in range(turns)],
                "tool_call_output_length": [60 + 10 * ((i * 3 + k) % 8) for k in range(turns)],
                "tool_call_latency": [0.2 + 0.1 * ((i + k) % 4) for k in range(turns)],
                "final_assistant_response_length": 32,
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def counters(url: str) -> dict[str, float]:
    """vLLM's counters of interest, summed over their label sets."""
    out = dict.fromkeys(COUNTERS, 0.0)
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) in out:
            out[m.group(1)] += float(m.group(2))
    return out


def engine_view(
    before: dict[str, float], after: dict[str, float], wall_s: float
) -> dict[str, float]:
    d = {k.removeprefix("vllm:").removesuffix("_total"): after[k] - before[k] for k in COUNTERS}
    queries = d["prefix_cache_queries"]
    return {
        **d,
        "generation_tps": d["generation_tokens"] / wall_s if wall_s > 0 else 0.0,
        "prefix_cache_hit": d["prefix_cache_hits"] / queries if queries else 0.0,
    }


def reset_cache(url: str) -> int | None:
    try:
        return httpx.post(url + "/reset_prefix_cache", timeout=30).status_code
    except httpx.HTTPError:
        return None


def run_trie(url: str, model: str, tok: Path, workload: Path, cfg: Config, work: Path) -> Run:
    env = ensure("tokenspeed-trie")
    side = Run("trie", env.version)
    if not env.ok:
        side.error = f"install failed: {env.error}"
        return side
    argv = trie.argv(
        env, tok, url, workload, cfg.concurrency, cfg.duration_s, model=model
    )  # fmt: skip
    side.reset_status = reset_cache(url)
    before = counters(url)
    run = client_run(argv, work / "trie", cfg.duration_s)
    side.command, side.wall_s = run.command, (run.end_ns - run.start_ns) / 1e9
    side.engine = engine_view(before, counters(url), side.wall_s)
    side.client_cores = run.cpu.cores(run.start_ns, run.end_ns)
    figures = trie.summary(run)
    if run.returncode != 0 or not figures:
        side.error = run.error_line()
        return side
    side.steady_tps = figures.get("steady_state_completion_tok_per_s")
    p50 = figures.get("ttft_s_p50")
    side.ttft_first_p50_ms = None if p50 is None else p50 * 1000
    hit = figures.get("cache_hit_rate_pct_mean")
    side.cache_hit = None if hit is None else hit / 100
    done = figures.get("completed_requests")
    side.requests = None if done is None else int(done)  # traces, not requests
    return side


def run_agentload(url: str, model: str, workload: Path, cfg: Config, work: Path) -> Run:
    side = Run("agentload", git_revision())
    out = work / "agentload" / "result.arrow"
    argv = [str(BIN / "agentload"), "replay", str(workload), "--target", url, "--model", model]
    argv += ["--api", "completions", "--concurrency", str(cfg.concurrency)]
    argv += ["--duration", f"{cfg.duration_s:g}", "--no-drain", "--seed", "1", "--quiet"]
    argv += ["--out", str(out), "--force"]
    side.reset_status = reset_cache(url)
    before = counters(url)
    run = client_run(argv, out.parent, cfg.duration_s)
    side.command, side.wall_s = run.command, (run.end_ns - run.start_ns) / 1e9
    side.engine = engine_view(before, counters(url), side.wall_s)
    side.client_cores = run.cpu.cores(run.start_ns, run.end_ns)
    if run.returncode != 0 or not out.exists():
        side.error = run.error_line()
        return side
    for name, value in result_figures(out).items():
        setattr(side, name, value)
    return side


def both(url: str, model: str, tok: Path, cfg: Config, work: Path) -> dict[str, Any]:
    """trie, then agentload, against the vLLM at `url`."""
    work.mkdir(parents=True, exist_ok=True)
    workload = work / "workload.jsonl"
    small_workload(workload, cfg.traces)
    version = httpx.get(url + "/version", timeout=10).json()
    sides = [
        run_trie(url, model, tok, workload, cfg, work),
        run_agentload(url, model, workload, cfg, work),
    ]
    return {"config": asdict(cfg), "vllm": version, "runs": [asdict(s) for s in sides]}


def run(cfg: Config, work: Path, target: str | None, model: str) -> dict[str, Any]:
    """Against `target` when given (a vLLM already serving `make vllm`'s model), else a
    vLLM started here as the integration tests start it."""
    from tests.integration import build_vllm
    from tests.integration.engines import running_engine

    paths = build_vllm.load_manifest(build_vllm.default_cache())
    if paths is None:
        raise SystemExit("vllm_agreement: no vLLM install: run make vllm first")
    tok = Path(paths.model)  # the converted folder holds the tokenizer trie decodes with
    if target is not None:
        return both(target.rstrip("/"), model, tok, cfg, work)
    os.environ["AGENTLOAD_ENGINE"] = "vllm"
    work.mkdir(parents=True, exist_ok=True)
    with running_engine(work) as engine:
        return both(engine.url, engine.model, tok, cfg, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=4, help="sessions in flight (count)")
    parser.add_argument("--duration", type=float, default=60.0, help="run length (seconds)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/agentload-bench/vllm"))
    parser.add_argument("--target", help="a running vLLM's base URL (default: start one)")
    parser.add_argument("--model", default="smollm2-135m", help="served model name (--target)")
    args = parser.parse_args()
    result = run(Config(args.concurrency, args.duration), args.work, args.target, args.model)
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()

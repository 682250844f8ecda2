"""Applied Compute's agentic replay harness, `tokenspeed-trie` (CLI `trie`).

Learnt from its source (trie/cli.py, client.py, results.py): closed loop only
(`concurrency` traces in flight, the workload file cycled until `duration`, then in-flight
traces cancelled once a slot frees), prompts are text from decoding random token ids with a
Hugging Face tokenizer (`tokenizer_model`), each call is a streamed `/v1/completions` with
`max_tokens` and `ignore_eos`. It reports, at the end, one structlog line
`benchmark complete key=value ...`: steady-state rates from its own workload accounting
(tokens credited at each turn's end; slope between the first point after 20% of the run
and the last point), TTFT of the *first* call of each completed trace, cache hit rate as
the mean over traces of server cached / prompt tokens.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from benchmarks.capacity import INPUT_TOKENS, TOKENS, Capacity, analyze_step, client_run
from benchmarks.common import MODEL, ClientRun, running_sim
from benchmarks.peers.venvs import PeerEnv

API_KEY = "local-sim"  # openai>=2 refuses an empty key, which trie's default sets
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PAIR = re.compile(r"(\w+)=([-+0-9.eE]+|nan|inf)\b")


def argv(
    env: PeerEnv,
    tok: Path,
    url: str,
    workload: Path,
    conc: int,
    dur: float,
    model: str = MODEL,
) -> list[str]:
    return [
        str(env.bin("trie")),
        f"workload_path={workload}",
        f"endpoint={url}/v1",
        f"model={model}",
        f"concurrency={conc}",
        f"duration={dur:g}",
        f"tokenizer_model={tok}",
        "stream=True",
        "seed=1",
        f"api_key={API_KEY}",
    ]


def summary(run: ClientRun) -> dict[str, float]:
    """The key=value figures of trie's `benchmark complete` line."""
    text = _ANSI.sub("", run.stdout + "\n" + run.stderr)
    for line in text.splitlines():
        if "benchmark complete" in line:
            return {k: float(v) for k, v in _PAIR.findall(line)}
    return {}


def single_call_workload(path: Path, traces: int) -> None:
    """Traces of zero tool turns: one call each, 32 prompt tokens (trie subtracts one for
    the BOS token engines add), 16 output tokens."""
    row = {
        "num_turns": 0,
        "input_prompt_length": INPUT_TOKENS + 1,
        "assistant_response_length": [],
        "tool_call_output_length": [],
        "tool_call_latency": [],
        "final_assistant_response_length": TOKENS,
    }
    path.write_text("".join(json.dumps(row) + "\n" for _ in range(traces)))


def capacity(
    env: PeerEnv, tok: Path, sim_log: Path, concurrency: int, duration: float, work: Path
) -> Capacity:
    """Closed loop at `concurrency` with single-call traces: trie has no request-rate mode,
    so its figure is the throughput it sustains with no schedule to keep."""
    cap = Capacity("trie", env.version, note=f"closed loop only (concurrency {concurrency})")
    work.mkdir(parents=True, exist_ok=True)
    workload = work / "single_call.jsonl"
    single_call_workload(workload, 256)
    with running_sim("fast", sim_log) as sim:
        run = client_run(argv(env, tok, sim.url, workload, concurrency, duration), work, duration)
    cap.commands.append(run.command)
    if run.returncode != 0 or not summary(run):
        cap.error = run.error_line()
        return cap
    frame = sim_frame(sim_log)
    step = analyze_step(frame, run.start_ns, run.end_ns, None, run)
    cap.steps.append(step)
    # closed loop: no schedule to keep, so no lag criterion applies; its sustained rate
    cap.closed_loop_rate, cap.cpu_s_per_1000 = step.achieved, step.cpu_s_per_1000
    return cap


def sim_frame(path: Path):  # type: ignore[no-untyped-def]
    import polars as pl

    return pl.read_ipc(path)

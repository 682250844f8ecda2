"""Seeded generator of the built-in profiles: `python -m agentload.profiles.generate [--out DIR]
[--published agentic_coding_8k.jsonl]`.

agentic-coding is not generated: it is the published traces themselves (profiles.published),
rewritten when `--published` names the file. code-qa and office-work: each workload
is drawn from quantile-knot distributions fitted to its reference row
(`profiles.reference`, `profiles.fit`) with stratified uniforms, so 1,024 sessions already
reproduce the table closely. Structure (docs/profiles.md, "Built-in profiles"):
- every session starts with the workload's shared system-prompt + tool-definition prefix
  (whole blocks, identical ids across sessions), then its own task tokens;
- call i+1 appends call i's output and tool output to the prompt (history blocks keep
  their ids; the trailing partial block gets a fresh id once it grows);
- ids are sequential inside the workload's own namespace (`id_namespace`: top 32 bits from
  a hash of its name), so the three workloads never share an id;
- a workload with a first-call latency distribution (none now) draws tool latencies as a
  mixture of it and a residual fitted so the pooled table still holds;
- sessions arrive as a Poisson process at the workload's stated rate (replay can override).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import polars as pl

from agentload.profiles import builtin, fit, published
from agentload.profiles import reference as ref
from agentload.profiles.session_model import SessionModel, sessions_frame
from agentload.profiles.session_model import fit as fit_model
from agentload.traceformat import schema as s
from agentload.traceformat.io import read, write_file

BLOCK_SIZE: Final = 64
SESSIONS: Final = 1024
BUILTIN_DIR: Final = Path(__file__).parent / "builtin"


@dataclass(frozen=True)
class WorkloadSpec:
    reference: ref.Reference
    seed: int
    prefix_tokens: int  # shared system prompt + tool definitions, a multiple of BLOCK_SIZE
    arrival_rate_per_s: float  # Poisson session arrivals
    minimums: dict[str, float]  # p0 knot of each quantity (the table has no minimum)
    first_latency: fit.Knots | None = None  # first tool call's own distribution
    first_latency_mean_s: float | None = None


SPECS: Final[dict[str, WorkloadSpec]] = {
    "code-qa": WorkloadSpec(
        reference=ref.CODE_QA,
        seed=20260423,
        prefix_tokens=3712,
        arrival_rate_per_s=0.5,
        minimums={
            ref.TOOL_TURNS: 1,
            ref.START_PROMPT: 3800,
            ref.ASSISTANT_TOKENS: 8,
            ref.TOOL_OUTPUT: 1,
            ref.TOOL_LATENCY: 0.01,
            ref.FINAL_ANSWER: 40,
        },
    ),
    "office-work": WorkloadSpec(
        reference=ref.OFFICE_WORK,
        seed=20260424,
        prefix_tokens=8704,
        arrival_rate_per_s=0.1,
        minimums={
            ref.TOOL_TURNS: 14,
            ref.START_PROMPT: 8720,
            ref.ASSISTANT_TOKENS: 7,
            ref.TOOL_OUTPUT: 3,
            ref.TOOL_LATENCY: 0.15,
            ref.FINAL_ANSWER: 377,
        },
    ),
}


def knots_for(spec: WorkloadSpec, quantity: str) -> fit.Knots:
    """The quantity's table row as knots (p0 = spec minimum), fitted to the table mean."""
    row = spec.reference.rows[quantity]
    pairs = [(0.0, spec.minimums[quantity])]
    for p, point in ((0.1, "p10"), (0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (1.0, "max")):
        value = row.get(point)
        if value is not None:
            pairs.append((p, value))
    knots = tuple(pairs)
    return knots if row.mean is None else fit.fit_mean(knots, row.mean)


def _draw(rng: random.Random, knots: fit.Knots, n: int) -> list[float]:
    return [fit.inverse_cdf(knots, u) for u in fit.stratified(rng, n)]


@dataclass(frozen=True)
class Draws:
    turns: list[int]
    start: list[int]
    assistant: list[int]  # pooled over all tool turns, in session order
    tool_output: list[int]
    latency: list[float]
    final: list[int]


def draw(spec: WorkloadSpec, sessions: int) -> Draws:
    rng = random.Random(spec.seed)
    turns = [max(1, round(v)) for v in _draw(rng, knots_for(spec, ref.TOOL_TURNS), sessions)]
    total = sum(turns)
    start = [round(v) for v in _draw(rng, knots_for(spec, ref.START_PROMPT), sessions)]
    assistant = [max(1, round(v)) for v in _draw(rng, knots_for(spec, ref.ASSISTANT_TOKENS), total)]
    tool_output = [max(0, round(v)) for v in _draw(rng, knots_for(spec, ref.TOOL_OUTPUT), total)]
    final = [max(1, round(v)) for v in _draw(rng, knots_for(spec, ref.FINAL_ANSWER), sessions)]
    pooled = knots_for(spec, ref.TOOL_LATENCY)
    if spec.first_latency is None or spec.first_latency_mean_s is None:
        latency = _draw(rng, pooled, total)
    else:
        first_knots = fit.fit_mean(spec.first_latency, spec.first_latency_mean_s)
        grid = [i / 200 for i in range(201)] + [0.995, 0.999]
        rest_knots = fit.residual_knots(pooled, first_knots, sessions / total, sorted(grid))
        firsts = iter(_draw(rng, first_knots, sessions))
        rests = iter(_draw(rng, rest_knots, total - sessions))
        latency = [next(firsts) if i == 0 else next(rests) for n in turns for i in range(n)]
    return Draws(turns, start, assistant, tool_output, [round(x, 3) for x in latency], final)


@functools.cache
def dependence() -> SessionModel:
    """The session model of the published agentic-coding traces (fitted and calibrated as
    `profile synthesize` does, seed 0): the dependence the generated workloads borrow."""
    from agentload.profiles.structure_stats import session_correlations
    from agentload.profiles.synthesize import calibrate

    frame = read(builtin.path(published.NAME), s.Kind.PROFILE).frame
    return calibrate(fit_model(frame), session_correlations(sessions_frame(frame)), 0)


def draw_dependent(spec: WorkloadSpec, sessions: int) -> Draws:
    """`draw`'s values (the published marginals) arranged with agentic-coding's dependence:
    its session model with these values as every marginal (one pooled distribution for
    each per-turn quantity at every turn index), sessions in the stratum of the same
    quantile of its turn counts (an assumption: docs/profiles.md)."""
    from agentload.profiles.synthesize import draw as draw_sessions

    d, model = draw(spec, sessions), dependence()
    pooled: dict[str, Sequence[float]] = {
        "assistant": d.assistant,
        "tool_output": d.tool_output,
        "latency": d.latency,
    }
    borrowed = replace(
        model,
        turns=sorted(d.turns),
        start=sorted(d.start),
        final=sorted(d.final),
        per_turn={q: [sorted(v)] * len(model.bin_edges) for q, v in pooled.items()},
        strata_turns=model.turns,
    )
    got = draw_sessions(borrowed, sessions, spec.seed)
    flat = {q: [v for row in got.per_turn[q] for v in row] for q in pooled}
    return Draws(
        got.turns,
        got.start,
        [int(v) for v in flat["assistant"]],
        [int(v) for v in flat["tool_output"]],
        [float(v) for v in flat["latency"]],
        got.final,
    )


ID_SPACE_BITS: Final = 32  # ids of one workload: its namespace + 1 .. 2**32 - 1


def id_namespace(name: str) -> int:
    """The workload's id namespace: BLAKE2b-32 of its name, top bit cleared, << 32.

    Ids are namespace + 1, namespace + 2, ... (positive int64, as Mooncake files require), so
    the built-in workloads never share an id (replaying two of them together, or a merged
    profile, gives no false cross-workload hits) and no id is a small integer like those of
    imported Mooncake files."""
    digest = hashlib.blake2b(f"agentload builtin profile {name}".encode(), digest_size=4).digest()
    return (int.from_bytes(digest, "big") & 0x7FFF_FFFF) << ID_SPACE_BITS


class _BlockIds:
    """Sequential block ids in the workload's namespace: shared prefix ids first, then fresh
    ones as prompts grow."""

    def __init__(self, prefix_blocks: int, namespace: int) -> None:
        self.namespace = namespace
        self.prefix = [namespace + i for i in range(1, prefix_blocks + 1)]
        self.next_id = prefix_blocks + 1

    def fresh(self) -> int:
        if self.next_id >= 1 << ID_SPACE_BITS:
            raise OverflowError("built-in profile: block id namespace exhausted")
        self.next_id += 1
        return self.namespace + self.next_id - 1

    def session(self) -> _SessionBlocks:
        return _SessionBlocks(self)


class _SessionBlocks:
    def __init__(self, ids: _BlockIds) -> None:
        self.ids = ids
        self.full = list(ids.prefix)

    def for_prompt(self, tokens: int) -> list[int]:
        while len(self.full) < tokens // BLOCK_SIZE:
            self.full.append(self.ids.fresh())
        partial = [self.ids.fresh()] if tokens % BLOCK_SIZE else []
        return self.full + partial


def _session_rows(
    d: Draws, k: int, first_turn: int, chain: _SessionBlocks
) -> list[dict[str, object]]:
    """Calls of session k: call i+1's prompt = call i's prompt + its output + tool output."""
    n = d.turns[k]
    prompt, new, think = d.start[k], d.start[k], 0.0
    rows: list[dict[str, object]] = []
    for i in range(n + 1):
        out = d.assistant[first_turn + i] if i < n else d.final[k]
        rows.append(
            {
                s.CALL_INDEX: i,
                s.THINK_S: think,
                s.INPUT_TOKENS: prompt,
                s.NEW_INPUT_TOKENS: new,
                s.OUTPUT_TOKENS: out,
                s.HASH_IDS: chain.for_prompt(prompt),
            }
        )
        if i < n:
            new = out + d.tool_output[first_turn + i]
            prompt += new
            think = d.latency[first_turn + i]
    return rows


def build(name: str, sessions: int = SESSIONS) -> pl.DataFrame:
    """The PROFILE frame of a built-in workload (deterministic for its seed)."""
    spec = SPECS[name]
    d = draw_dependent(spec, sessions)
    rng = random.Random(spec.seed + 1)
    blocks = _BlockIds(spec.prefix_tokens // BLOCK_SIZE, id_namespace(name))
    rows: list[dict[str, object]] = []
    arrival, turn = 0.0, 0
    for k in range(sessions):
        for row in _session_rows(d, k, turn, blocks.session()):
            rows.append({s.SESSION_ID: f"{name}-{k:04d}", s.ARRIVAL_S: round(arrival, 3), **row})
        turn += d.turns[k]
        arrival += rng.expovariate(spec.arrival_rate_per_s)
    return pl.DataFrame(rows).with_columns(
        pl.lit(name).alias(s.WORKLOAD),
        pl.lit(None, pl.String).alias(s.PARENT_SESSION_ID),
        pl.lit(None, pl.Int32).alias(s.PARENT_CALL_INDEX),
        pl.lit(None, pl.String).alias(s.EXTRA),
        pl.lit(None, pl.String).alias(s.USAGE_SOURCE),  # a model, not measured usage
    )


def info_for(name: str) -> dict[str, object]:
    spec = SPECS[name]
    return {
        "source": "builtin",
        "generator": "python -m agentload.profiles.generate",
        "seed": spec.seed,
        "reference": spec.reference.source,
        "estimate": spec.reference.estimate,
        "dependence": "borrowed from the published agentic-coding traces (an assumption)",
        "shared_prefix_tokens": spec.prefix_tokens,
        "hash_id_namespace": id_namespace(name),
        "arrivals": {"process": "poisson", "rate_per_s": spec.arrival_rate_per_s},
    }


def write(name: str, out_dir: Path, sessions: int = SESSIONS) -> Path:
    return write_file(
        out_dir / f"{name}.arrow",
        s.Kind.PROFILE,
        build(name, sessions),
        info=info_for(name),
        extra_metadata={s.META_BLOCK_SIZE: str(BLOCK_SIZE).encode()},
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Regenerate the built-in profiles.")
    parser.add_argument("--out", type=Path, default=BUILTIN_DIR, help="output directory")
    parser.add_argument("--sessions", type=int, default=SESSIONS, help="sessions per profile")
    parser.add_argument(
        "--published", type=Path, help=f"{published.SOURCE_FILE}: rewrite agentic-coding from it"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    paths = [write(name, args.out, args.sessions) for name in SPECS]
    if args.published is not None:
        paths.append(published.write(args.published, args.out))
    for path in paths:
        print(f"{path}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()

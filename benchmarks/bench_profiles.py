"""Issue 18's figures: synthesis against held-out published traces, and what reading the
8k agentic-coding built-in costs.

    .venv/bin/python -m benchmarks.bench_profiles [--seed 1] [--half 4096] [--repeat 3]

1. Synthesis: the built-in agentic-coding (Applied Compute's 8,192 traces) is split into
   two seeded random halves; a model is fitted on one (`profiles.synthesize.synthesize`),
   `--half` sessions are drawn and compared with the other half: KS distance and p99 of
   each marginal, the issue's Spearman correlations, the final context's p99 and max.
   Acceptance (issue 18): KS <= 0.05, p99 within 10%, correlations within 0.05,
   final-context p99 within 5%.
2. Costs, each in a fresh process (wall time, and peak RSS from wait4, measured before the
   synthesis grows this process: a child's peak counts its parent's at the fork):
   `agentload profile show agentic-coding`, `agentload inspect` of it, and building a
   replay plan of it.
   Figures depend on the machine and on what else runs on it (the best of `--repeat`).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time

import polars as pl

from agentload.profiles import structure_stats as ss
from agentload.profiles.load import load
from agentload.profiles.synthesize import synthesize
from agentload.traceformat import schema as s

KS_MAX, P99_REL, CORR_ABS, CONTEXT_P99_REL = 0.05, 0.10, 0.05, 0.05
PLAN = (  # what a replay does: replay.source.load_plan of the built-in's file
    "from agentload.profiles.load import resolve; from agentload.replay.source import "
    "load_plan; load_plan(resolve('agentic-coding'), 'm')"
)


def _halves(seed: int, half: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = load("agentic-coding").frame
    ids = frame.filter(pl.col(s.CALL_INDEX) == 0)[s.SESSION_ID].to_list()
    random.Random(seed).shuffle(ids)
    return (
        frame.filter(pl.col(s.SESSION_ID).is_in(ids[:half])),
        frame.filter(pl.col(s.SESSION_ID).is_in(ids[half : 2 * half])),
    )


def synthesis(seed: int, half: int) -> bool:
    fitted, held = _halves(seed, half)
    started = time.perf_counter()
    synth, _ = synthesize(fitted, None, half, seed)
    took = time.perf_counter() - started
    got, want = ss.marginals(synth), ss.marginals(held)
    ok = True
    print(f"\n### Synthesis: fitted on a random half ({half:,} traces, seed {seed}), {took:.1f} s")
    print("\n| quantity | KS | p99 synthesized | p99 held-out | within |")
    print("|---|---:|---:|---:|---|")
    for name in ss.MARGINALS:
        ks = ss.ks_distance(got[name], want[name])
        p99, ref = ss.quantile(got[name], 0.99), ss.quantile(want[name], 0.99)
        limit = CONTEXT_P99_REL if name == "final context" else P99_REL
        good = abs(p99 - ref) <= limit * ref and (name == "final context" or ks <= KS_MAX)
        ok &= good
        print(f"| {name} | {ks:.3f} | {p99:,.1f} | {ref:,.1f} | {'yes' if good else 'NO'} |")
    top, ref_top = ss.quantile(got["final context"], 1.0), ss.quantile(want["final context"], 1.0)
    print(f"\nfinal context max: {top:,.0f} synthesized, {ref_top:,.0f} held-out")
    print("\n| Spearman correlation | synthesized | held-out | fitted half | within 0.05 |")
    print("|---|---:|---:|---:|---|")
    mine, theirs, source = ss.correlations(synth), ss.correlations(held), ss.correlations(fitted)
    for name in ss.CORRELATIONS:
        a, b, c = mine[name], theirs[name], source[name]
        good = a is not None and b is not None and abs(a - b) <= CORR_ABS
        ok &= good
        print(f"| {name} | {a:.3f} | {b:.3f} | {c:.3f} | {'yes' if good else 'NO'} |")
    return ok


def _cost(argv: list[str], repeat: int) -> tuple[float, float, float]:
    """Best wall time (s), CPU time (s, user + system) and peak RSS (MB) over `repeat`
    fresh runs of argv (CPU time is the fairer figure on a busy machine)."""
    best_s, best_cpu, best_mb = float("inf"), float("inf"), float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{argv} failed")
        best_s, best_mb = min(best_s, wall), min(best_mb, usage.ru_maxrss / 1024)
        best_cpu = min(best_cpu, usage.ru_utime + usage.ru_stime)
    return best_s, best_cpu, best_mb


def costs(repeat: int) -> None:
    cli = [sys.executable, "-c", "from agentload.cli import main; main()"]
    from agentload.profiles import builtin

    rows = {
        "agentload profile show agentic-coding": [*cli, "profile", "show", "agentic-coding"],
        "agentload inspect <built-in agentic-coding>": [
            *cli,
            "inspect",
            str(builtin.path("agentic-coding")),
        ],
        "replay plan of agentic-coding (`replay.source.load_plan`)": [sys.executable, "-c", PLAN],
    }
    print(f"\n### Reading the 8k built-in (best of {repeat}, fresh process each)")
    print("\n| command | wall s | CPU s | peak RSS MB |")
    print("|---|---:|---:|---:|")
    for label, argv in rows.items():
        wall, cpu, mb = _cost(argv, repeat)
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | {mb:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="seed of the split and the draw")
    parser.add_argument("--half", type=int, default=4096, help="traces per half (a count)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cost figure (a count)")
    args = parser.parse_args()
    costs(args.repeat)  # first: a child's peak RSS counts its parent's at the fork
    ok = synthesis(args.seed, args.half)
    print(f"\nsynthesis acceptance: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()

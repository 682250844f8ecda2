"""Run every peer benchmark and regenerate benchmarks/RESULTS.md (`make bench`).

    .venv/bin/python -m benchmarks.run_all [--quick]
        [--only capacity,agreement,capture,storage,replay,stitch] [--work DIR] [--out FILE]
    .venv/bin/python -m benchmarks.run_all --render WORK/figures.json [--out FILE]

1. client capacity (agentload, trie, AIPerf, GuideLLM, inference-perf vs the fast sim),
2. agreement (trie vs agentload on the agentic-coding sample vs the default sim's log),
3. capture overhead (benchmarks/bench_capture.py), 4. storage (trace vs gzip JSONL),
5. replay client throughput (benchmarks/bench_replay.py: issue 4's target), 8. session
stitching against ground truth (benchmarks/bench_stitch.py, 100 agents at once).
Peers are installed on first use into ~/.cache/agentload/peers. A full run takes about
17-22 minutes on 2 cores; `--quick` is a smoke run of a few minutes that writes to the
work directory unless `--out` is given. The figures also go to WORK/figures.json (written
after every section, so a stopped run keeps what it measured); `--render` rebuilds
RESULTS.md from such a file without measuring anything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks import agreement, bench_stitch, capture_overhead, storage
from benchmarks.capacity import LAG_LIMIT_MS, Capacity, run_agentload
from benchmarks.common import ROOT, git_revision, machine
from benchmarks.peers import aiperf, guidellm, inference_perf, trie
from benchmarks.peers.simtok import ensure_tokenizer
from benchmarks.peers.venvs import PEERS, PeerEnv, ensure_all
from benchmarks.results_md import render

console = Console(stderr=True)
SECTIONS = ("capacity", "agreement", "capture", "storage", "replay", "stitch")


@dataclass(frozen=True)
class Plan:
    """Sizes of one run: full (`make bench`) or quick (smoke)."""

    quick: bool
    ladder: tuple[float, ...]
    step_s: float
    aiperf_max: float  # per-process ladders stop here (tens of seconds of start-up per step)
    guidellm_rates: tuple[float, ...]  # one process; about a minute of start-up per rate
    inference_perf_max: float
    trie_concurrency: int
    trie_s: float
    agreement: agreement.AgreementConfig
    storage_sessions: int
    replay_rates: tuple[float, ...]  # bench_replay ladder, 1 and 2 workers, sim and zero
    replay_step_s: float


FULL = Plan(
    quick=False,
    ladder=(50, 100, 200, 400, 800, 1600, 2400, 3200),
    step_s=5.0,
    aiperf_max=400,
    guidellm_rates=(50, 100, 200),
    inference_perf_max=800,
    trie_concurrency=64,
    trie_s=10.0,
    agreement=agreement.AgreementConfig(16, 120.0, 0.5, 60.0),
    storage_sessions=16,
    replay_rates=(500, 1000, 1500, 2000, 3000, 4000),
    replay_step_s=3.0,
)
QUICK = Plan(
    quick=True,
    ladder=(100, 400, 1600),
    step_s=3.0,
    aiperf_max=400,
    guidellm_rates=(100,),
    inference_perf_max=400,
    trie_concurrency=32,
    trie_s=5.0,
    agreement=agreement.AgreementConfig(8, 30.0, 0.25, 20.0),
    storage_sessions=4,
    replay_rates=(500, 1500),
    replay_step_s=2.0,
)


def section(name: str, fn: Callable[[], Any]) -> Any:
    """Run one benchmark; an unexpected exception becomes its error line, not a crash."""
    console.rule(f"[bold]{name}")
    t0 = time.monotonic()
    try:
        result = fn()
    except Exception as exc:  # a failed benchmark is reported, not fatal
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    console.print(f"{name}: {time.monotonic() - t0:.0f} s")
    return result


def guarded(client: str, version: str, fn: Callable[[], Capacity]) -> Capacity:
    """One client's capacity run; an exception becomes that client's error line."""
    console.print(f"{client} ...")
    try:
        return fn()
    except Exception as exc:  # one failing client must not hide the others
        traceback.print_exc()
        return Capacity(client, version, error=f"{type(exc).__name__}: {exc}")


def peer_capacity(plan: Plan, env: PeerEnv, tok: Path, work: Path) -> Capacity:
    ladder = list(plan.ladder)
    short = "trie" if env.name == "tokenspeed-trie" else env.name
    log, w = work / f"{short}.arrow", work / short
    if env.name == "tokenspeed-trie":
        return trie.capacity(env, tok, log, plan.trie_concurrency, plan.trie_s, w)
    if env.name == "aiperf":
        rates = [r for r in ladder if r <= plan.aiperf_max]
        return aiperf.capacity(env, tok, log, rates, plan.step_s, w)
    if env.name == "guidellm":
        return guidellm.capacity(env, tok, log, list(plan.guidellm_rates), plan.step_s, w)
    rates = [r for r in ladder if r <= plan.inference_perf_max]
    return inference_perf.capacity(env, tok, log, rates, plan.step_s, w)


def capacity(plan: Plan, envs: dict[str, PeerEnv], work: Path) -> dict[str, Any]:
    ladder = list(plan.ladder)
    results = [
        guarded(
            "agentload",
            git_revision(),
            lambda: run_agentload(
                work / "agentload.arrow", ladder, plan.step_s, work / "agentload"
            ),
        )
    ]
    tok: Path | None = None
    for env in envs.values():
        short = "trie" if env.name == "tokenspeed-trie" else env.name
        if not env.ok:
            results.append(Capacity(short, env.version, error=f"install failed: {env.error}"))
            continue
        tok = tok or ensure_tokenizer(env.python)
        results.append(
            guarded(short, env.version, functools.partial(peer_capacity, plan, env, tok, work))
        )
    return {
        "ladder": ladder,
        "step_s": plan.step_s,
        "lag_limit_ms": LAG_LIMIT_MS,
        "results": [r.to_json() for r in results],
    }


def replay_throughput(plan: Plan, work: Path) -> dict[str, Any]:
    """benchmarks/bench_replay.py as a subprocess (its own process, like a user's run)."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / "bench_replay.json"
    out.unlink(missing_ok=True)
    args = ["-m", "benchmarks.bench_replay", "--targets", "sim,zero", "--workers", "1,2"]
    args += ["--rates", ",".join(f"{r:g}" for r in plan.replay_rates)]
    args += ["--duration", f"{plan.replay_step_s:g}", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=1200
    )
    (work / "bench_replay.stdout").write_text(proc.stdout)
    (work / "bench_replay.stderr").write_text(proc.stderr)
    result: dict[str, Any] = {"command": shlex.join([".venv/bin/python", *args])}
    if proc.returncode != 0 or not out.exists():
        tail = [x for x in proc.stderr.splitlines() if x.strip()]
        result["error"] = tail[-1] if tail else f"exit status {proc.returncode}"
        return result
    return {**result, **json.loads(out.read_text())}


def run(plan: Plan, only: set[str], work: Path) -> dict[str, Any]:
    start = time.monotonic()
    figures: dict[str, Any] = {
        "command": shlex.join([".venv/bin/python", "-m", "benchmarks.run_all", *sys.argv[1:]]),
        "quick": plan.quick,
        "load_average_start": machine()["load_average"],
    }
    console.rule("[bold]peers: install (cached)")
    envs = ensure_all()
    figures["peer_install"] = [
        {
            "name": e.name,
            "version": e.version,
            "ok": e.ok,
            "error": e.error,
            "commands": list(e.commands),
        }
        for e in envs.values()
    ]
    if "capacity" in only:
        figures["capacity"] = section("capacity", lambda: capacity(plan, envs, work / "capacity"))
        save(figures, work)
    if "agreement" in only:
        agreement_work = work / "agreement"
        figures["agreement"] = section(
            "agreement", lambda: agreement.run(plan.agreement, agreement_work)
        )
        save(figures, work)
    if "capture" in only:
        figures["capture"] = section(
            "capture", lambda: capture_overhead.run(plan.quick, work / "capture")
        )
        save(figures, work)
    if "storage" in only:
        figures["storage"] = section("storage", lambda: _storage(plan, work / "storage"))
        save(figures, work)
    if "replay" in only:
        figures["replay"] = section("replay", lambda: replay_throughput(plan, work / "replay"))
    if "stitch" in only:
        agents = 20 if plan.quick else 100
        figures["stitch"] = section("stitch", lambda: bench_stitch.run(agents, work / "stitch"))
    figures["machine"] = machine()
    figures["versions"] = {
        "agentload": git_revision(),
        "python": sys.version.split()[0],
        "mitmproxy (capture, in .venv)": package_version("mitmproxy"),
        **{f"{name} (PyPI)": version for name, version in PEERS.items()},
    }
    figures["generated"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    figures["runtime_s"] = time.monotonic() - start
    return figures


def save(figures: dict[str, Any], work: Path) -> None:
    """Intermediate figures (renderable with --render) after each section."""
    (work / "figures.json").write_text(json.dumps(figures, indent=1, default=str))


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _storage(plan: Plan, work: Path) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(storage.run(plan.storage_sessions, work))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (a few minutes)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma list of sections")
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/agentload-bench"), help="scratch directory"
    )
    parser.add_argument("--out", type=Path, help="RESULTS.md path (default: see above)")
    parser.add_argument(
        "--render", type=Path, metavar="FIGURES_JSON", help="only rebuild RESULTS.md from a file"
    )
    args = parser.parse_args()
    if args.render:
        out = args.out or ROOT / "benchmarks/RESULTS.md"
        out.write_text(render(json.loads(args.render.read_text())))
        console.print(f"wrote {out} from {args.render}")
        return
    only = set(args.only.split(","))
    if unknown := only - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    plan = QUICK if args.quick else FULL
    args.work.mkdir(parents=True, exist_ok=True)
    figures = run(plan, only, args.work)
    (args.work / "figures.json").write_text(json.dumps(figures, indent=1, default=str))
    out = args.out or (args.work / "RESULTS.md" if args.quick else ROOT / "benchmarks/RESULTS.md")
    out.write_text(render(figures))
    console.print(f"wrote {out} and {args.work / 'figures.json'}")


if __name__ == "__main__":
    main()

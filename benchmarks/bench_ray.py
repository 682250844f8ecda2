"""Replay on Ray: sessions/s and schedule lag with 1 vs 2 actors, against the fast sim.

    .venv/bin/python -m benchmarks.bench_ray [--rates 50,200,400,800] [--actors 0,1,2]
        [--seconds 4] [--address ADDR]
    .venv/bin/python -m benchmarks.bench_ray --nodes 2 [--rate 100] [--seconds 4]

Each step replays multi-call agent sessions (4 calls, 16-token streamed answers, 50 ms
think) at a fixed session arrival rate for a few seconds and prints the run's own figures:
intended vs achieved session arrival rate, sessions completed per second, requests/s,
schedule lag p50/p99/max, errors, client CPU per actor, and whether it kept to the
schedule (p99 lag <= 2 ms, achieved >= 97% of intended, no errors). "0 actors" is the same
run in this process without Ray (the reference, run before Ray starts); 1 and 2 actors use
`run_on_ray`. Without --address it starts a local Ray instance with 2 CPUs (one per
actor). Figures depend on the machine and on whatever else runs on it.

`--nodes 2` instead replays the same sessions with 2 actors on a cluster of two Ray nodes
started on this machine (tests/distributed/raynodes.py: `ray start --block` per node, one
CPU each, the driver connecting by address) and on one node with two CPUs, each against
a fresh fast sim with a timing log, and prints issue 19's acceptance: rows from both
nodes (by Ray node id), every call once, think-gap error p99 judged by the sim's log,
request and token counts equal to one node, completion tok/s of two nodes vs one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import ray

from agentload.replay.config import ReplayConfig
from agentload.replay.distributed import run_on_ray
from agentload.replay.pipeline import run_replay
from agentload.simengine import launch
from agentload.simengine import timinglog as T
from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Kind
from tests.distributed.raynodes import local_cluster
from tests.distributed.referee import rows_per_node, sim_gaps, think_gap_errors_ms
from tests.simhelper import read_timing_log
from tests.timing import Noise, probe
from tests.values import number, quantile

LAG_LIMIT_MS = 2.0
RATE_SHARE = 0.97
CALLS = 4
TOKENS = 16
THINK_S = 0.05


def write_profile(path: Path, sessions: int = 500) -> pl.DataFrame:
    rows = sessions * CALLS
    frame = pl.DataFrame(
        {
            S.SESSION_ID: [f"b{i // CALLS:05d}" for i in range(rows)],
            S.CALL_INDEX: [i % CALLS for i in range(rows)],
            S.WORKLOAD: ["bench"] * rows,
            S.ARRIVAL_S: [0.0] * rows,
            S.THINK_S: [0.0 if i % CALLS == 0 else THINK_S for i in range(rows)],
            S.INPUT_TOKENS: [64 + 32 * (i % CALLS) for i in range(rows)],
            S.NEW_INPUT_TOKENS: [64 if i % CALLS == 0 else 32 for i in range(rows)],
            S.OUTPUT_TOKENS: [TOKENS] * rows,
        },
        schema_overrides={S.CALL_INDEX: pl.Int32},
    )
    io.write_file(path, Kind.PROFILE, frame, extra_metadata={S.META_BLOCK_SIZE: b"16"})
    return frame


@contextlib.contextmanager
def sim(*extra: str) -> Iterator[str]:
    proc = launch.start(["--preset", "fast", *extra], stderr=None)
    try:
        yield launch.wait_listening(proc, 60.0)
    finally:
        launch.stop(proc, timeout_s=10)


def step(source: Path, target: str, out: Path, actors: int, rate: float, seconds: float) -> str:
    config = ReplayConfig(
        source=source,
        target=target,
        model="agentload-sim",
        out=out,
        workers=max(actors, 1),
        session_rate=rate,
        max_sessions=int(rate * seconds),
        quiet=True,
    )
    # 0 actors: the same run in this process without Ray, as the reference.
    path = run_replay(config) if actors == 0 else run_on_ray(config, None)
    loaded = io.read(path)
    diag = json.loads(loaded.metadata[S.META_DIAGNOSTICS.decode()])
    frame = loaded.frame
    span_s = frame.select((pl.col(S.T_END_NS).max() - pl.col(S.T_SENT_NS).min()) / 1e9).item()
    done = frame.filter(pl.col(S.FINAL_CALL) & (pl.col(S.STATUS) == "ok")).height
    lag = diag["schedule_lag_ms"]
    achieved = diag["achieved_rate"] or 0.0
    errors = sum(diag["errors"].values())
    cpu = " ".join(f"{v['utilization']:.0%}" for v in diag["client_cpu_s"].values())
    ok = lag["p99"] <= LAG_LIMIT_MS and achieved >= RATE_SHARE * rate and not errors
    return (
        f"{actors:>6} {rate:>8.0f} {achieved:>9.1f} {done / span_s:>10.1f} "
        f"{frame.height / span_s:>8.0f} {lag['p50']:>7.3f} {lag['p99']:>7.3f} "
        f"{lag['max']:>8.3f} {errors:>6} {cpu:>10}  {'yes' if ok else 'NO'}"
    )


def connect(address: str | None) -> None:
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=200 * 1024 * 1024,
            log_to_driver=False,
        )


@dataclass(frozen=True)
class NodesRun:
    """One replay on a local cluster: its result, the sim's log, its nodes' names."""

    loaded: io.Loaded
    sim_log: pl.DataFrame
    names: dict[str, str]  # Ray node id -> "head", "w1", ...
    seconds: float  # wall time of the replay, connecting included
    noise: Noise  # the machine's, while the replay ran (tests/timing.py)


def nodes_run(
    source: Path, out: Path, nodes: int, cpus: int, rate: float, seconds: float
) -> NodesRun:
    """2 actors on `nodes` Ray nodes of `cpus` CPUs, started here; the driver (this
    process) connects by address, as `agentload replay --ray HOST:PORT` does."""
    log = out.with_suffix(".sim.arrow")
    with local_cluster(nodes=nodes, cpus_per_node=cpus) as cluster:
        with sim("--timing-log", str(log)) as target:
            config = ReplayConfig(
                source=source,
                target=target,
                model="agentload-sim",
                out=out,
                workers=2,
                session_rate=rate,
                max_sessions=int(rate * seconds),
                quiet=True,
            )
            t0 = time.monotonic()
            with probe() as noise:  # the nodes' daemons and actors are our descendants
                path = run_on_ray(config, cluster.address)
            took = time.monotonic() - t0
        names = {n.node_id: n.name for n in cluster.nodes}
    sim_log = read_timing_log(log).filter(pl.col(T.ARRIVAL_NS) > 0)
    return NodesRun(io.read(path, Kind.RESULT), sim_log, names, took, noise[0])


def tokens_per_s(frame: pl.DataFrame) -> float:
    span_s = frame.select((pl.col(S.T_END_NS).max() - pl.col(S.T_SENT_NS).min()) / 1e9).item()
    return number(frame[S.COMPLETION_TOKENS].sum()) / float(span_s)


def counts(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        S.SESSION_ID, S.CALL_INDEX, S.STATUS, S.PROMPT_TOKENS, S.COMPLETION_TOKENS
    ).sort(S.SESSION_ID, S.CALL_INDEX)


def describe(label: str, run: NodesRun, profile: pl.DataFrame) -> list[str]:
    """The acceptance figures of one run, one line each."""
    frame = run.loaded.frame
    keys = [S.SESSION_ID, S.CALL_INDEX]
    once = frame.group_by(keys).len()["len"].max() == 1
    per_node = {run.names[n]: rows for n, rows in rows_per_node(run.loaded).items()}
    due_arrived = sim_gaps(frame, profile, run.sim_log)
    gaps = think_gap_errors_ms(due_arrived)
    pairs = zip(due_arrived["due"], due_arrived["arrived"], strict=True)
    beyond = pl.Series([run.noise.late_ms(due, arrived) for due, arrived in pairs])
    ok = int((frame[S.STATUS] == "ok").sum())
    return [
        f"{label}: {frame.height} requests ({ok} ok) from {len(set(frame[S.SESSION_ID]))} "
        f"sessions, replay {run.seconds:.1f} s incl. connecting and starting actors",
        f"  rows per node: {', '.join(f'{k} {v}' for k, v in sorted(per_node.items()))}",
        f"  every call once: {'yes' if once else 'NO'}; complete: "
        f"{run.loaded.metadata[S.META_COMPLETE.decode()]}",
        f"  think-gap error (sim arrival - client end - think), ms: p50 "
        f"{number(gaps.median()):.2f} p99 {quantile(gaps, 0.99):.2f} max "
        f"{number(gaps.max()):.2f} min {number(gaps.min()):.2f} over {gaps.len()} gaps; "
        f"p99 beyond the run-queue waits {quantile(beyond, 0.99):.2f}",
        f"  machine noise: {run.noise}",
        f"  prompt tokens {number(frame[S.PROMPT_TOKENS].sum()):.0f}, completion tokens "
        f"{number(frame[S.COMPLETION_TOKENS].sum()):.0f}, "
        f"completion tok/s {tokens_per_s(frame):.1f}",
    ]


def compare_nodes(nodes: int, rate: float, seconds: float) -> None:
    """The same replay on `nodes` nodes of one CPU and on one node of `nodes` CPUs."""
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "profile.arrow"
        sessions = int(rate * seconds)
        profile = write_profile(source, max(sessions, 1))
        print(
            f"{sessions} sessions of {CALLS} calls ({TOKENS} tokens, {THINK_S * 1e3:.0f} ms "
            f"think) at {rate:g} sessions/s, 2 actors, fast sim",
            flush=True,
        )
        one = nodes_run(source, Path(tmp) / "one.arrow", 1, nodes, rate, seconds)
        for line in describe(f"one node ({nodes} CPUs)", one, profile):
            print(line, flush=True)
        many = nodes_run(source, Path(tmp) / "many.arrow", nodes, 1, rate, seconds)
        for line in describe(f"{nodes} nodes (1 CPU each)", many, profile):
            print(line, flush=True)
    equal = counts(many.loaded.frame).equals(counts(one.loaded.frame))
    ratio = tokens_per_s(many.loaded.frame) / tokens_per_s(one.loaded.frame)
    print(f"request and token counts equal to one node: {'yes' if equal else 'NO'}")
    print(f"completion tok/s, {nodes} nodes / one node: {ratio:.4f} (acceptance: within 3%)")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,200,400,800", help="session arrival rates (/s)")
    parser.add_argument(
        "--actors", default="0,1,2", help="actor counts to compare (0: one process, no Ray)"
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="arrival window per step")
    parser.add_argument("--address", default=None, help="existing Ray cluster (default: local)")
    parser.add_argument(
        "--nodes", type=int, default=1, help="2: two Ray nodes on this machine vs one node"
    )
    parser.add_argument("--rate", type=float, default=100.0, help="session rate for --nodes")
    args = parser.parse_args()
    if args.nodes > 1:
        compare_nodes(args.nodes, args.rate, args.seconds)
        return
    header = (
        f"{'actors':>6} {'rate/s':>8} {'arrived/s':>9} {'sessions/s':>10} {'req/s':>8} "
        f"{'lag p50':>7} {'lag p99':>7} {'lag max':>8} {'errors':>6} {'cpu':>10}  on schedule"
    )
    with tempfile.TemporaryDirectory() as tmp, sim() as target:
        source = Path(tmp) / "profile.arrow"
        write_profile(source)
        print(f"sessions of {CALLS} calls, {TOKENS} tokens each, {THINK_S * 1e3:.0f} ms think")
        print(header, flush=True)
        for actors in sorted(int(a) for a in args.actors.split(",")):
            if actors and not ray.is_initialized():  # the in-process reference runs first
                connect(args.address)
            for rate in (float(r) for r in args.rates.split(",")):
                t0 = time.monotonic()
                line = step(source, target, Path(tmp) / "out.arrow", actors, rate, args.seconds)
                print(f"{line}  ({time.monotonic() - t0:.0f} s)", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()

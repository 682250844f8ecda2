"""Replay on Ray: sessions/s and schedule lag with 1 vs 2 actors, against the fast sim.

    .venv/bin/python -m benchmarks.bench_ray [--rates 50,200,400,800] [--actors 0,1,2]
        [--seconds 4] [--address ADDR]

Each step replays multi-call agent sessions (4 calls, 16-token streamed answers, 50 ms
think) at a fixed session arrival rate for a few seconds and prints the run's own figures:
intended vs achieved session arrival rate, sessions completed per second, requests/s,
schedule lag p50/p99/max, errors, client CPU per actor, and whether it kept to the
schedule (p99 lag <= 2 ms, achieved >= 97% of intended, no errors). "0 actors" is the same
run in this process without Ray (the reference, run before Ray starts); 1 and 2 actors use
`run_on_ray`. Without --address it starts a local Ray instance with 2 CPUs (one per
actor). Figures depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import ray

from agentload.replay.config import ReplayConfig
from agentload.replay.distributed import run_on_ray
from agentload.replay.pipeline import run_replay
from agentload.simengine import launch
from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Kind

LAG_LIMIT_MS = 2.0
RATE_SHARE = 0.97
CALLS = 4
TOKENS = 16
THINK_S = 0.05


def write_profile(path: Path, sessions: int = 500) -> None:
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


@contextlib.contextmanager
def sim() -> Iterator[str]:
    proc = launch.start(["--preset", "fast"], stderr=None)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,200,400,800", help="session arrival rates (/s)")
    parser.add_argument(
        "--actors", default="0,1,2", help="actor counts to compare (0: one process, no Ray)"
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="arrival window per step")
    parser.add_argument("--address", default=None, help="existing Ray cluster (default: local)")
    args = parser.parse_args()
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

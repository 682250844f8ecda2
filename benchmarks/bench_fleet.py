"""Fleet replay: N concurrent agentic sessions (closed loop) from one client process.

A generated agentic-coding-shaped profile (each session: `--calls` calls, the context
growing by `--grow` tokens a call, think times of `--think` s scaled so the request rate
stays within one core) is replayed with `agentload replay --concurrency N` against the fast
zero-latency server (`--server zero`, benchmarks/zero_server.py: no per-token cost, so the
client is what is measured) or the fast sim (`--server sim`). Judged outside the client: its
RSS is sampled from /proc every 50 ms (the RSS after loading is the last sample before the
server's first arrival; growth per session is the peak above it / N), and its schedule lag
is the server's arrival time (its arrival log) minus the call's scheduled time in the result
file, after the ramp (the moment the N-th session's first call was sent).

    .venv/bin/python -m benchmarks.bench_fleet --sessions 10000 --duration 40
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import polars as pl
import psutil

from agentload.base import oslimits
from agentload.simengine import launch
from agentload.simengine import timinglog as tl
from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Kind
from benchmarks.common import BIN, machine


def write_profile(
    path: Path, sessions: int, calls: int, first: int, grow: int, think: float
) -> None:
    """`sessions` sessions of `calls` calls: contexts first, first+grow, ...; 100 tokens out."""
    n = sessions * calls
    frame = pl.DataFrame(
        {
            S.SESSION_ID: [f"f{i // calls:06d}" for i in range(n)],
            S.CALL_INDEX: [i % calls for i in range(n)],
            S.WORKLOAD: ["fleet"] * n,
            S.ARRIVAL_S: [0.0] * n,
            S.THINK_S: [
                0.0 if i % calls == 0 else think * (0.5 + (i * 7919 % 100) / 100) for i in range(n)
            ],
            S.INPUT_TOKENS: [first + grow * (i % calls) for i in range(n)],
            S.NEW_INPUT_TOKENS: [first if i % calls == 0 else grow for i in range(n)],
            S.OUTPUT_TOKENS: [100] * n,
        }
    )
    io.write_file(path, Kind.PROFILE, frame, extra_metadata={S.META_BLOCK_SIZE: b"16"})


def sample_rss(pid: int, stop: threading.Event, out: list[tuple[int, int]]) -> None:
    """(monotonic ns, RSS bytes) of `pid` every 50 ms until `stop`."""
    try:
        proc = psutil.Process(pid)
        while not stop.wait(0.05):
            out.append((time.monotonic_ns(), proc.memory_info().rss))
    except psutil.NoSuchProcess:
        return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10000, help="concurrent sessions")
    parser.add_argument("--calls", type=int, default=6, help="calls per session")
    parser.add_argument("--first", type=int, default=2000, help="first call's input tokens")
    parser.add_argument("--grow", type=int, default=1500, help="tokens added per call")
    parser.add_argument("--think", type=float, default=20.0, help="mean think time, s")
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of run")
    parser.add_argument("--server", choices=("zero", "sim"), default="zero", help="target")
    args = parser.parse_args()
    oslimits.raise_nofile()
    mach = machine()
    print(f"cpu               {mach['cpu']}, {mach['cores']} cores")
    print(f"load average      {' '.join(map(str, os.getloadavg()))} (before)")
    tmp = Path(tempfile.mkdtemp(prefix="bench_fleet_"))
    profile, log, out = tmp / "fleet.arrow", tmp / "sim.arrow", tmp / "result.arrow"
    # twice the sessions: slots that finish a session take a fresh one
    write_profile(profile, 2 * args.sessions, args.calls, args.first, args.grow, args.think)
    if args.server == "sim":
        server = launch.start(["--preset", "fast", "--timing-log", str(log)], stderr=None)
    else:
        zero = ["-m", "benchmarks.zero_server", "0", "100", str(log)]
        server = subprocess.Popen([sys.executable, *zero], stdout=subprocess.PIPE)
    samples: list[tuple[int, int]] = []
    try:
        url = _listening(server)
        cmd = [
            str(BIN / "agentload"),
            "replay",
            str(profile),
            "--target",
            url,
            "--model",
            "agentload-sim",
            "--api",
            "completions",
            "--concurrency",
            str(args.sessions),
            "--duration",
            str(args.duration),
            "--no-drain",
            "--quiet",
            "--no-calibrate",
            *(["--no-preflight"] if args.server == "zero" else []),
            "--out",
            str(out),
        ]
        t0 = time.monotonic()
        client = subprocess.Popen(cmd, env=gc_probe_env(tmp / "gc.jsonl"))
        stop = threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(client.pid, stop, samples))
        sampler.start()
        rc = client.wait()
        stop.set()
        sampler.join()
        wall = time.monotonic() - t0
    finally:
        launch.stop(server, timeout_s=60.0)
    print(f"load average      {' '.join(map(str, os.getloadavg()))} (after)")
    report(args, rc, wall, samples, out, arrivals(log, args.server))
    report_collections(tmp / "gc.jsonl", arrivals(log, args.server))


def _listening(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        raise SystemExit(f"server did not start: {line!r}")
    return line.strip().rsplit(" ", 1)[-1]


def arrivals(log: Path, server: str) -> pl.DataFrame:
    """(session_id, arrival_ns) of every request the server saw."""
    if server == "sim":
        frame = pl.read_ipc(log).select(tl.SESSION_ID, tl.ARRIVAL_NS)
        return frame.rename({tl.SESSION_ID: "sid", tl.ARRIVAL_NS: "arrival_ns"})
    pairs = [line.split(" ", 1) for line in log.read_text().splitlines()]
    return pl.DataFrame(
        {"arrival_ns": [int(p[0]) for p in pairs], "sid": [p[1] for p in pairs]},
        schema={"arrival_ns": pl.Int64, "sid": pl.String},
    )


def report(
    args: argparse.Namespace,
    rc: int,
    wall: float,
    samples: list[tuple[int, int]],
    out: Path,
    seen: pl.DataFrame,
) -> None:
    loaded_file = io.read(out)
    rows = loaded_file.frame
    diag = json.loads(loaded_file.metadata[S.META_DIAGNOSTICS.decode()])
    seen = seen.filter(pl.col("sid").str.starts_with("f"))  # not the preflight's probes
    first_arrival = seen["arrival_ns"].min()
    before = [rss for t, rss in samples if t < first_arrival]  # type: ignore[operator]
    loaded = before[-1] if before else samples[0][1]
    peak = max(rss for _, rss in samples)
    per_session_kib = (peak - loaded) / args.sessions / 1024
    # the ramp ends when the N-th session's first call went out
    firsts = rows.filter(pl.col(S.CALL_INDEX) == 0).sort(S.T_SENT_NS)[S.T_SENT_NS]
    ramp_end = firsts[min(args.sessions, len(firsts)) - 1]
    # the server's n-th arrival of a session is the session's n-th call sent
    nth = pl.int_range(pl.len()).over("sid").alias("nth")
    arrivals = seen.sort("arrival_ns").with_columns(nth)
    sent = rows.filter(pl.col(S.T_SENT_NS).is_not_null()).sort(S.T_SENT_NS)
    sent = sent.with_columns(pl.col(S.SESSION_ID).alias("sid")).with_columns(nth)
    after = sent.join(arrivals, on=["sid", "nth"]).filter(pl.col(S.T_SCHEDULED_NS) > ramp_end)
    lag = ((after["arrival_ns"] - after[S.T_SCHEDULED_NS]) / 1e6).sort().to_list()
    span_s = max((after["arrival_ns"].max() or 0) - ramp_end, 1) / 1e9
    cpu = ", ".join(
        f"{c['utilization']:.2f} of a core, waited {c['runqueue_wait_s'] or 0:.1f} s for a CPU"
        for c in diag["client_cpu_s"].values()
    )
    errors = rows.filter(pl.col(S.STATUS) != "ok")
    kinds = dict(errors.group_by(S.ERROR_KIND).len().rows())
    print(
        f"run               replay --concurrency {args.sessions:,} on {args.server}: exit {rc}, "
        f"{wall:.0f} s wall, {rows.height:,} rows, not ok: {kinds or 'none'}"
    )
    print(f"client CPU        {cpu} (run-queue wait: other load on the machine)")
    print(
        f"ramp              {args.sessions:,} sessions started in "
        f"{(ramp_end - firsts[0]) / 1e9:.1f} s; {len(lag):,} calls after it, "
        f"{len(lag) / span_s:,.0f}/s"
    )
    print(
        f"schedule lag      p50 {pct(lag, 0.5):.2f} ms, p99 {pct(lag, 0.99):.2f} ms, max "
        f"{pct(lag, 1):.2f} ms (server arrival - scheduled, after the ramp)"
    )
    print(
        f"client RSS        after loading {loaded / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB;"
        f" growth {per_session_kib:.1f} KiB per session = "
        f"{per_session_kib * 1000 / 1024:.1f} MiB per 1k sessions"
    )


def gc_probe_env(path: Path) -> dict[str, str]:
    """The client's environment with benchmarks/gcprobe first on its path (every
    collection recorded to `path`)."""
    probe = str(Path(__file__).resolve().parent / "gcprobe")
    paths = [probe, *filter(None, [os.environ.get("PYTHONPATH")])]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), AGENTLOAD_GC_PROBE=str(path))


def report_collections(path: Path, seen: pl.DataFrame) -> None:
    """The collector's pauses while requests arrived: each one delays every send due then."""
    if not path.exists():
        print("collections       no probe output (the client did not exit normally)")
        return
    gcs = pl.read_ndjson(path)
    seen = seen.filter(pl.col("sid").str.starts_with("f"))  # not the preflight's probes
    start, end = seen["arrival_ns"].min(), seen["arrival_ns"].max()
    inside = gcs.filter(pl.col("end_ns").is_between(start, end))
    for gen, group in sorted(inside.group_by("gen"), key=lambda kv: int(kv[0][0])):
        cpu = group["cpu_ms"].sort().to_list()
        print(
            f"collections gen {gen[0]} {group.height:,} during the run: CPU ms max "
            f"{cpu[-1]:.1f}, p99 {pct(cpu, 0.99):.1f}, total {sum(cpu):.0f}; freed "
            f"{group['freed'].sum():,} objects"
        )
    if inside.filter(pl.col("gen") == 2).is_empty():
        print("collections gen 2 none during the run")


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


if __name__ == "__main__":
    main()

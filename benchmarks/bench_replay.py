"""Replay client throughput: the highest sustained streaming request rate on schedule.

    .venv/bin/python -m benchmarks.bench_replay [--targets sim,zero] [--workers 1,2]
        [--rates 500,1000,...] [--duration S] [--transport raw|aiohttp|httpx] [--json FILE]
    .venv/bin/python -m benchmarks.bench_replay --versus-reference [--rates ...] [--duration S]

For each rate of a ladder, replays single-call sessions (16-token streamed responses) at
that session rate for a few seconds and checks the run's own diagnostics: p99 schedule lag
<= 2 ms, achieved rate >= 97% of intended, no errors. Prints every step (with client CPU
per request: 1e6 / µs per request is the rate one worker core could carry) and the highest
passing rate for each target (the fast sim, the zero-latency server) and worker count, then
TTFT p50 at concurrency 1 against a zero-latency server. `--json` also writes every figure
to a file (benchmarks.run_all reads it for RESULTS.md). Figures depend on the machine (and
on anything else running on it). `--versus-reference` runs instead the ladder that carries
across machines: agentload and a plain aiohttp + uvloop reference client at each rate, both
judged by the zero-latency server's arrival log (benchmarks/versus_reference.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import uvloop

from agentload.base.pacer import close_pacer, sleep_until
from agentload.replay.config import ReplayConfig, TransportChoice
from agentload.replay.pipeline import run_replay
from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.distribution import quantile
from agentload.traceformat.schema import Kind

LAG_LIMIT_MS = 2.0
TOKENS = 16
LADDER = "250,500,750,1000,1250,1500,1750,2000,2500,3000"
# Steps 1.5x apart from 3,000/s up (4,000 -> 6,000, 4,500 -> 6,750, 5,000 -> 7,500, 5,500 ->
# 8,250, 6,000 -> 9,000), so whatever the reference holds, the ladder has the rate that
# 1.5 times it needs; it runs on to 10,000/s so agentload's own top is seen, not the ladder's.
VERSUS_LADDER = "500,1000,2000,3000,4000,4500,5000,5500,6000,6750,7500,8250,9000,10000"


def write_profile(path: Path, sessions: int, input_tokens: int = 32, prefix: str = "b") -> None:
    frame = pl.DataFrame(
        {
            S.SESSION_ID: [f"{prefix}{i:06d}" for i in range(sessions)],
            S.CALL_INDEX: [0] * sessions,
            S.WORKLOAD: ["bench"] * sessions,
            S.ARRIVAL_S: [0.0] * sessions,
            S.THINK_S: [0.0] * sessions,
            S.INPUT_TOKENS: [input_tokens] * sessions,
            S.NEW_INPUT_TOKENS: [input_tokens] * sessions,
            S.OUTPUT_TOKENS: [TOKENS] * sessions,
        }
    )
    io.write_file(path, Kind.PROFILE, frame, extra_metadata={S.META_BLOCK_SIZE: b"16"})


@contextlib.contextmanager
def server(kind: str, log: Path | None = None) -> Iterator[str]:
    """Start the fast sim or the zero-latency server on a free port; yield its URL. With
    `log`, the zero-latency server writes its arrival log there when stopped."""
    if kind == "sim":
        cmd = [
            sys.executable,
            "-c",
            "from agentload.cli import main; main()",
            "sim",
            "--preset",
            "fast",
            "--port",
            "0",
        ]
    else:
        cmd = [sys.executable, "-m", "benchmarks.zero_server", "0", str(TOKENS)]
        cmd += [str(log)] if log is not None else []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield line.strip().rsplit(" ", 1)[-1]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def step(
    url: str,
    model: str,
    profile: Path,
    out: Path,
    rate: float,
    workers: int,
    duration: float,
    transport: TransportChoice = TransportChoice.AIOHTTP,
) -> dict[str, object]:
    config = ReplayConfig(
        source=profile,
        target=url,
        model=model,
        out=out,
        session_rate=rate,
        duration=duration,
        workers=workers,
        quiet=True,
        session_header=None,
        transport=transport,
    )
    loaded = io.read(run_replay(config))
    diag = json.loads(loaded.metadata[S.META_DIAGNOSTICS.decode()])
    lag = diag["schedule_lag_ms"]
    frame = loaded.frame
    span_s = frame.select((pl.col(S.T_END_NS).max() - pl.col(S.T_SENT_NS).min()) / 1e9).item()
    ok = (
        lag["p99"] is not None
        and lag["p99"] <= LAG_LIMIT_MS
        and (diag["achieved_rate"] or 0) >= 0.97 * rate
        and not diag["errors"]
    )
    return {
        "rate": rate,
        "workers": workers,
        "requests": frame.height,
        "req_per_s": round(frame.height / span_s, 1),
        "lag_p50_ms": round(lag["p50"], 3),
        "lag_p99_ms": round(lag["p99"], 3),
        "achieved": round(diag["achieved_rate"] or 0, 1),
        "cpu": {w: round(c["utilization"], 2) for w, c in diag["client_cpu_s"].items()},
        "runqueue_wait_s": {w: c["runqueue_wait_s"] for w, c in diag["client_cpu_s"].items()},
        # client CPU per request: insensitive to other load on the machine, unlike the lag
        "cpu_us_per_request": round(
            sum(c["cpu_s"] for c in diag["client_cpu_s"].values()) / frame.height * 1e6
        ),
        "errors": diag["errors"],
        "ok": ok,
    }


def ladder(
    url: str,
    model: str,
    tmp: Path,
    rates: list[float],
    workers: int,
    duration: float,
    transport: TransportChoice = TransportChoice.AIOHTTP,
) -> tuple[float, list[dict[str, object]]]:
    """(highest passing rate or 0, every step run)."""
    best = 0.0
    steps: list[dict[str, object]] = []
    for rate in rates:
        profile = tmp / f"profile-{int(rate)}.arrow"
        write_profile(profile, sessions=int(rate * duration) + 10)
        result = step(url, model, profile, tmp / "out.arrow", rate, workers, duration, transport)
        print(json.dumps(result), flush=True)
        steps.append(result)
        if result["ok"]:
            best = rate
        elif float(result["achieved"]) < 0.9 * rate:  # type: ignore[arg-type]
            break  # past the throughput limit: higher steps say nothing more
    return best, steps


def transport_costs(
    url: str, model: str, tmp: Path, rate: float, duration: float
) -> list[dict[str, object]]:
    """Client CPU per request of each transport at one moderate rate: the per-core ceiling
    is about 1e6 / (µs per request), whatever else the machine is doing."""
    profile = tmp / "costs.arrow"
    write_profile(profile, sessions=int(rate * duration) + 10)
    out: list[dict[str, object]] = []
    for transport in TransportChoice:
        result = step(url, model, profile, tmp / "c.arrow", rate, 1, duration, transport)
        us = int(result["cpu_us_per_request"])  # type: ignore[call-overload]
        print(
            f"{transport.value}: {us} µs client CPU per request at {rate:.0f}/s "
            f"(ceiling ≈ {1e6 / us:,.0f} requests/s per core); {json.dumps(result)}",
            flush=True,
        )
        out.append({"transport": transport.value, **result})
    return out


def wakeup_floor(n: int = 3000) -> tuple[float, float]:
    """p50/p99 lateness (ms) of bare deadline waits on an idle event loop: the floor of
    schedule lag this machine allows right now (other processes' load shows up here)."""

    async def run() -> list[float]:
        lags = []
        for i in range(n):
            due = time.monotonic_ns() + 700_000 + (i * 7919) % 600_000
            await sleep_until(due)
            lags.append((time.monotonic_ns() - due) / 1e6)
        await close_pacer()
        return sorted(lags)

    lags = uvloop.run(run())
    return lags[n // 2], lags[int(n * 0.99)]


def ttft_c1(url: str, model: str, tmp: Path, n: int = 1000) -> dict[str, float]:
    profile = tmp / "ttft.arrow"
    write_profile(profile, sessions=n)
    config = ReplayConfig(
        source=profile,
        target=url,
        model=model,
        out=tmp / "ttft-out.arrow",
        concurrency=1,
        quiet=True,
        session_header=None,
    )
    frame = io.read(run_replay(config)).frame
    ttft = (frame[S.T_FIRST_TOKEN_NS] - frame[S.T_SENT_NS]) / 1e6
    return {
        "requests": float(frame.height),
        "p50_ms": quantile(ttft.to_list(), 0.5) or 0.0,
        "p99_ms": quantile(ttft.to_list(), 0.99) or 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--targets", default="sim", help="servers for the rate ladder, comma list of sim,zero"
    )
    parser.add_argument("--target", dest="targets", help=argparse.SUPPRESS)  # old spelling
    parser.add_argument("--workers", default="1,2", help="worker counts, comma list")
    parser.add_argument(
        "--rates",
        default=None,
        help="comma-separated session rates to try, ascending, in requests/s (default: "
        f"{LADDER} for the ladders, {VERSUS_LADDER} with --versus-reference)",
    )
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per step")
    parser.add_argument(
        "--transport",
        choices=[t.value for t in TransportChoice],
        default=TransportChoice.RAW.value,
        help="transport of the ladders (default: agentload replay's default)",
    )
    parser.add_argument("--costs-rate", type=float, default=200.0, help="0 skips the costs")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--versus-reference",
        action="store_true",
        help="instead: the ladder of agentload and the reference client (benchmarks/peers/"
        "reference.py) against the zero-latency server, judged by its arrival log",
    )
    args = parser.parse_args()
    if args.versus_reference:
        versus(args)
        return
    targets = [t for t in args.targets.split(",") if t]
    if unknown := set(targets) - {"sim", "zero"}:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    worker_counts = [int(w) for w in args.workers.split(",")]
    rates = [float(r) for r in (args.rates or LADDER).split(",")]
    transport = TransportChoice(args.transport)
    model = "agentload-sim"
    figures: dict[str, object] = {
        "cores": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "rates": rates,
        "duration_s": args.duration,
        "transport": transport.value,
        "lag_limit_ms": LAG_LIMIT_MS,
        "tokens": TOKENS,
    }
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}")
    p50, p99 = wakeup_floor()
    figures["wakeup_floor_ms"] = {"p50": p50, "p99": p99}
    print(f"bare wake-up lateness on an idle loop: p50 {p50:.3f} ms, p99 {p99:.3f} ms")
    ladders: list[dict[str, object]] = []
    costs: list[dict[str, object]] = []
    for target in targets:
        with tempfile.TemporaryDirectory() as tmp_name, server(target) as url:
            tmp = Path(tmp_name)
            if args.costs_rate > 0:
                for row in transport_costs(url, model, tmp, args.costs_rate, 3.0):
                    costs.append({"target": target, **row})
            for workers in worker_counts:
                best, steps = ladder(url, model, tmp, rates, workers, args.duration, transport)
                ladders.append({"target": target, "workers": workers, "best": best or None,
                                "steps": steps})  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp_name, server("zero") as url:
        ttft = ttft_c1(url, model, Path(tmp_name))
    figures.update(ladders=ladders, transport_costs=costs, ttft_c1=ttft)
    figures["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    for lad in ladders:
        print(
            f"highest on-schedule rate, {lad['workers']} worker(s) ({lad['target']}): "
            f"{lad['best'] or 0:.0f} requests/s"
        )
    print(f"TTFT p50 at concurrency 1 (zero-latency server): {ttft['p50_ms']:.3f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))


def versus(args: argparse.Namespace) -> None:
    """`--versus-reference`: benchmarks.versus_reference's ladder, with the machine's noise."""
    from benchmarks.common import machine
    from benchmarks.versus_report import run as run_versus

    mach = machine()
    print(f"machine: {mach['cpu']}, {mach['cores']} cores, load average {os.getloadavg()}")
    p50, p99 = wakeup_floor()
    print(f"bare wake-up lateness on an idle loop: p50 {p50:.3f} ms, p99 {p99:.3f} ms")
    rates = [float(r) for r in (args.rates or VERSUS_LADDER).split(",")]
    figures = run_versus(rates, args.duration, args.transport)
    figures.update(
        machine=mach,
        wakeup_floor_ms={"p50": round(p50, 3), "p99": round(p99, 3)},
        load_average_end=[round(x, 2) for x in os.getloadavg()],
        transport=args.transport,
        lag_limit_ms=LAG_LIMIT_MS,
        tokens=TOKENS,
    )
    print(f"load average at the end: {os.getloadavg()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"versus_reference": figures}, indent=1))


if __name__ == "__main__":
    main()

"""Throughput of `agentload sim --preset fast`: streaming 16-token completions per second.

The sim runs pinned to CPU 0, the load generator (a minimal raw-HTTP/1.1 keep-alive client on
uvloop, far cheaper per request than the sim) pinned to CPU 1. Prints requests/s, tokens/s,
the sim's CPU use and its peak RSS. `--baseline` measures a bare aiohttp + uvloop server
answering a fixed 16-chunk SSE body instead, for comparison.

    .venv/bin/python benchmarks/bench_sim.py [--duration 10] [--connections 64] [--tokens 16]
    .venv/bin/python benchmarks/bench_sim.py --paced 128 [--interval-ms 2] [--tokens 500]

`--paced N` instead opens N concurrent streams on `--token-interval-ms` and prints the token
spacing the sim achieved (mean over each stream) and its CPU cost per streamed token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import uvloop

ROOT = Path(__file__).resolve().parents[1]
_BASELINE = r"""
import sys, uvloop
from aiohttp import web
n = int(sys.argv[1])
chunk = b'data: {"choices":[{"index":0,"text":" abc","finish_reason":null}]}\n\n'
async def h(request):
    await request.read()
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(chunk * n + b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp
app = web.Application()
app.router.add_post("/v1/completions", h)
async def main():
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    print(f"agentload sim listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    import asyncio
    await asyncio.Event().wait()
uvloop.run(main())
"""


def start_server(
    baseline: bool, tokens: int, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], str]:
    if baseline:
        cmd = [sys.executable, "-c", _BASELINE, str(tokens)]
    else:
        cmd = [sys.executable, "-c", "from agentload.cli import main; main()", "sim"]
        cmd += ["--port", "0", "--preset", "fast", *extra]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, cwd=ROOT, preexec_fn=lambda: os.sched_setaffinity(0, {0})
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, m.group(1)


async def connection(port: int, body: bytes, tokens: int, until: float, stats: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    request = head + body
    while time.monotonic() < until:
        writer.write(request)
        data = await reader.readuntil(b"0\r\n\r\n")
        if b"data: [DONE]" not in data or data.count(b'"finish_reason":null') != tokens:
            stats[1] += 1
        else:
            stats[0] += 1
    writer.close()


async def load(port: int, connections: int, tokens: int, duration: float) -> tuple[int, int]:
    body = json.dumps(
        {
            "model": "agentload-sim",
            "prompt": "Benchmark the simulated engine",
            "max_tokens": tokens,
            "ignore_eos": True,
            "stream": True,
        }
    ).encode()
    stats = [0, 0]
    until = time.monotonic() + duration
    await asyncio.gather(
        *(connection(port, body, tokens, until, stats) for _ in range(connections))
    )
    return stats[0], stats[1]


async def paced_stream(port: int, tokens: int) -> float:
    """Mean gap (s) between the first and last token events of one stream."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps(
        {
            "model": "agentload-sim",
            "prompt": [1, 2, 3],
            "max_tokens": tokens,
            "ignore_eos": True,
            "stream": True,
        }
    ).encode()
    writer.write(
        b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
    )
    first = last = 0.0
    seen = 0
    while seen < tokens:
        data = await reader.read(1 << 16)
        if not data:
            break
        now = time.monotonic()
        k = data.count(b'"finish_reason":null')
        if k and not seen:
            first = now
        seen += k
        last = now
    writer.close()
    return (last - first) / max(seen - 1, 1)


def paced(args: argparse.Namespace) -> None:
    extra = ("--token-interval-ms", str(args.interval_ms))
    proc, port = start_server(False, args.tokens, extra)
    try:
        ps = psutil.Process(proc.pid)
        cpu0 = ps.cpu_times()

        async def run() -> list[float]:
            return await asyncio.gather(
                *(paced_stream(int(port), args.tokens) for _ in range(args.paced))
            )

        gaps = uvloop.run(run())
        cpu1 = ps.cpu_times()
        cpu_s = cpu1.user + cpu1.system - cpu0.user - cpu0.system
    finally:
        proc.terminate()
        proc.wait()
    mean_ms = sum(gaps) / len(gaps) * 1e3
    print(f"server            agentload sim --preset fast --token-interval-ms {args.interval_ms}")
    print(f"load              {args.paced} concurrent streams of {args.tokens} tokens")
    print(f"token spacing     mean {mean_ms:.3f} ms (worst stream {max(gaps) * 1e3:.3f} ms)")
    print(f"server CPU        {cpu_s / (args.paced * args.tokens) * 1e6:.1f} µs per streamed token")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--tokens", type=int, default=16, help="tokens per request")
    parser.add_argument("--baseline", action="store_true", help="bare aiohttp+uvloop server")
    parser.add_argument("--paced", type=int, default=0, help="N paced streams instead")
    parser.add_argument("--interval-ms", type=float, default=2.0, help="spacing for --paced")
    args = parser.parse_args()
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {1})
    if args.paced:
        paced(args)
        return
    proc, port = start_server(args.baseline, args.tokens)
    try:
        ps = psutil.Process(proc.pid)
        uvloop.run(load(int(port), 8, args.tokens, 1.0))  # warm-up
        cpu0 = ps.cpu_times()
        rq0 = _runqueue_wait_s(proc.pid)
        t0 = time.monotonic()
        ok, bad = uvloop.run(load(int(port), args.connections, args.tokens, args.duration))
        wall = time.monotonic() - t0
        cpu1 = ps.cpu_times()
        cpu_s = cpu1.user + cpu1.system - cpu0.user - cpu0.system
        cpu = cpu_s / wall
        rq = (_runqueue_wait_s(proc.pid) - rq0) / wall
        peak = _peak_rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait()
    name = "bare aiohttp+uvloop" if args.baseline else "agentload sim --preset fast"
    print(f"server            {name} (pinned to CPU 0)")
    print(f"load              {args.connections} connections, {args.tokens}-token streams")
    print(f"requests/s        {ok / wall:,.0f}   ({ok:,} ok, {bad:,} bad in {wall:.1f} s)")
    print(f"tokens/s          {ok * args.tokens / wall:,.0f}")
    print(
        f"server CPU        {cpu * 100:.0f}% of one core, {cpu_s / max(ok, 1) * 1e6:.0f} µs/request"
    )
    print(f"server runnable   {rq * 100:.0f}% of the time waiting for a CPU (machine load)")
    print(f"at 100% of a core {ok / max(cpu_s, 1e-9):,.0f} requests/s (ok / server CPU seconds)")
    print(f"server peak RSS   {peak:.1f} MiB")


def _runqueue_wait_s(pid: int) -> float:
    """Time the process was runnable but not running (other load on its CPU)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with open(task / "schedstat") as f:
            total += int(f.read().split()[1])
    return total / 1e9


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()

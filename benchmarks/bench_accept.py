"""Fleet accept: N connections opened at once, each sending a long prompt, to one sim.

Every connection opens at the same moment and sends a `--prompt-tokens` prompt for a
streamed `--tokens` completion. Judged outside the client: the sim's own accept delay (its
timing log's `accept_delay_ns`, the kernel's time from the finished handshake to the sim's
accept), the listen socket's accept queue sampled with `ss -ltn` (Recv-Q) and the kernel's
listen-overflow counters; the client's connect and status-line times are printed beside them
(CLOCK_MONOTONIC is system-wide, so the client's and the sim's times compare directly).
The kernel limits (somaxconn, tcp_max_syn_backlog) are printed and raised to N when allowed.

The reference, measured in the same run with the same burst: a bare aiohttp + uvloop server
(`REFERENCE` below: it reads the body and answers a canned stream of the same length, no
parsing, uvloop's own accept) whose accept delays are taken the same way (TCP_INFO when
aiohttp hears of the connection); the sim's
p99 accept delay is also given as a ratio to the reference's.

    .venv/bin/python benchmarks/bench_accept.py --connections 10000 --prompt-tokens 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import psutil
import uvloop

from agentload.base import oslimits
from agentload.simengine import launch, timinglog, tokenizer
from benchmarks.common import machine

_SYSCTLS = ("net/core/somaxconn", "net/ipv4/tcp_max_syn_backlog")
# argv: tokens, delay log path. Prints the sim's "listening on" line; SIGTERM writes the log.
REFERENCE = r"""
import asyncio, signal, sys, uvloop
from aiohttp import web
from agentload.simengine import accept
n, log = int(sys.argv[1]), sys.argv[2]
chunk = b'data: {"choices":[{"index":0,"text":" abc","finish_reason":null}]}\n\n'
stats, delays = accept.AcceptStats(), []
async def h(request):
    await request.read()
    delay = stats.take(request.transport)
    if delay is not None:
        delays.append(delay)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(chunk * n + b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp
async def main():
    app = web.Application(client_max_size=1 << 30)
    app.router.add_post("/v1/completions", h)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    made = runner.server.connection_made
    def connection_made(handler, transport):  # the sim's measure, at uvloop's accept
        stats.accepted(transport.get_extra_info("socket"))
        made(handler, transport)
    runner.server.connection_made = connection_made
    sock = accept.listen_socket("127.0.0.1", 0)
    await web.SockSite(runner, sock, backlog=accept.LISTEN_BACKLOG).start()
    print(f"agentload sim listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    with open(log, "w") as fh:
        fh.write("\n".join(map(str, delays)))
uvloop.run(main())
"""


@dataclass(slots=True)
class Conn:
    start: float = 0.0  # connect() called (monotonic s)
    connected: float = 0.0  # handshake done
    status: float = 0.0  # status line read
    end: float = 0.0  # last chunk read
    error: str = ""


def kernel_limits(want: int) -> list[str]:
    """Print-ready lines: each limit, raised to `want` when it is lower and we may."""
    lines = []
    for name in _SYSCTLS:
        path = Path("/proc/sys") / name
        value = int(path.read_text())
        note = ""
        if value < want:
            try:
                path.write_text(str(want))
                note = f" (raised from {value})"
                value = want
            except OSError as exc:
                note = f" (could not raise to {want}: {exc.strerror})"
        lines.append(f"{name.replace('/', '.')} = {value}{note}")
    return lines


def listen_overflows() -> tuple[int, int]:
    """TcpExt ListenOverflows and ListenDrops of this network namespace."""
    rows = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()]
    for head, vals in zip(rows[::2], rows[1::2], strict=False):
        if head[0] == "TcpExt:":
            d = dict(zip(head[1:], map(int, vals[1:]), strict=True))
            return d.get("ListenOverflows", 0), d.get("ListenDrops", 0)
    return 0, 0


def sample_accept_queue(port: int, stop: threading.Event, peak: list[int]) -> None:
    """Max Recv-Q (connections waiting for accept) of the listen socket, every 50 ms."""
    while not stop.wait(0.05):
        out = subprocess.run(
            ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True
        ).stdout.split()
        if len(out) >= 2 and out[1].isdigit():
            peak[0] = max(peak[0], int(out[1]))


async def one(port: int, request: bytes, c: Conn) -> None:
    c.start = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        c.connected = time.monotonic()
        writer.write(request)
        line = await reader.readline()
        c.status = time.monotonic()
        if not line.startswith(b"HTTP/1.1 200"):
            c.error = line.decode(errors="replace").strip() or "closed"
        else:
            await reader.readuntil(b"0\r\n\r\n")
        c.end = time.monotonic()
        writer.close()
    except (OSError, asyncio.IncompleteReadError) as exc:
        c.error = type(exc).__name__


async def load(port: int, n: int, request: bytes) -> list[Conn]:
    conns = [Conn() for _ in range(n)]
    await asyncio.gather(*(one(port, request, c) for c in conns))
    return conns


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def build_request(prompt_tokens: int, tokens: int) -> bytes:
    # canonical pieces (" abc") are one sim token each; equal across requests
    prompt = "".join(tokenizer.id_piece(i % tokenizer.UPPER_BASE) for i in range(prompt_tokens))
    body = json.dumps(
        {
            "model": "agentload-sim",
            "prompt": prompt,
            "max_tokens": tokens,
            "ignore_eos": True,
            "stream": True,
        }
    ).encode()
    head = (
        "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
        f"\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


@dataclass(slots=True)
class Burst:
    """One burst against one server: what the client saw and what the server reported."""

    conns: list[Conn]
    wall_s: float
    queue_peak: int
    overflows: tuple[int, int]  # ListenOverflows, ListenDrops during the burst
    accept_s: list[float]  # the server's own accept delays
    logged: int  # requests in the server's log
    rss_mib: float


def burst(args: argparse.Namespace, reference: bool) -> Burst:
    """Start the sim (or the reference), open every connection at once, stop the server."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_accept_"))
    log = tmp / ("delays.txt" if reference else "timing.arrow")
    if reference:
        argv0 = [sys.executable, "-c", REFERENCE, str(args.tokens), str(log)]
        proc = subprocess.Popen(argv0, stdout=subprocess.PIPE)
    else:
        proc = launch.start(["--preset", args.preset, "--timing-log", str(log)], stderr=None)
    try:
        port = int(launch.wait_listening(proc, 60.0).rsplit(":", 1)[1])
        request = build_request(args.prompt_tokens, args.tokens)
        peak = [0]
        stop = threading.Event()
        sampler = threading.Thread(target=sample_accept_queue, args=(port, stop, peak))
        sampler.start()
        over0 = listen_overflows()
        t0 = time.monotonic()
        conns = uvloop.run(load(port, args.connections, request))
        wall = time.monotonic() - t0
        over1 = listen_overflows()
        stop.set()
        sampler.join()
        rss = psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        launch.stop(proc, timeout_s=60.0)
    if reference:
        delays = [int(x) / 1e9 for x in log.read_text().split()]
        logged = len(delays)
    else:
        df = pl.read_ipc(log)
        delays = (df[timinglog.ACCEPT_DELAY_NS].drop_nulls() / 1e9).to_list()
        logged = df.height
    overflows = (over1[0] - over0[0], over1[1] - over0[1])
    return Burst(conns, wall, peak[0], overflows, delays, logged, rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000, help="opened at once")
    parser.add_argument("--prompt-tokens", type=int, default=20000, help="tokens per prompt")
    parser.add_argument("--tokens", type=int, default=200, help="streamed completion tokens")
    parser.add_argument("--preset", default="fast", help="sim preset")
    args = parser.parse_args()
    note = oslimits.raise_nofile()
    print(f"cpu               {machine()['cpu']}, {os.cpu_count()} cores")
    for line in kernel_limits(args.connections):
        print(f"kernel            {line}")
    print(f"client fds        {note}")
    print(
        f"load              {args.connections:,} connections at once, {args.prompt_tokens:,}-"
        f"token prompts, {args.tokens}-token streams"
    )
    runs = {}
    for name, reference in (("reference", True), (f"sim --preset {args.preset}", False)):
        print(f"\n{name}: load average {_load()} (before)")
        runs[name] = got = burst(args, reference)
        report(got)
        print(f"load average      {_load()} (after)")
    ref, sim = runs.values()
    ratio = pct(sim.accept_s, 0.99) / max(pct(ref.accept_s, 0.99), 1e-3)
    print(
        f"\nsim / reference   accept delay p99 x{ratio:.2f} (the reference's p99 floored at 1 ms)"
    )


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(b: Burst) -> None:
    ok = [c for c in b.conns if not c.error]
    errors: dict[str, int] = {}
    for c in b.conns:
        if c.error:
            errors[c.error] = errors.get(c.error, 0) + 1
    connect = [c.connected - c.start for c in ok]
    status = [c.status - c.start for c in ok]
    acc = b.accept_s
    print(
        f"done              {len(ok):,} ok, {sum(errors.values())} failed {errors or ''} in "
        f"{b.wall_s:.1f} s; the server logged {b.logged:,} requests"
    )
    print(
        f"accept delay      p50 {pct(acc, 0.5):.3f} s, p99 {pct(acc, 0.99):.3f} s, "
        f"max {pct(acc, 1):.3f} s (as the server reports it, {len(acc):,} connections)"
    )
    print(f"accept queue      peak {b.queue_peak:,} waiting (ss -ltn Recv-Q, 50 ms samples)")
    print(
        f"listen overflows  {b.overflows[0]} overflows, {b.overflows[1]} drops "
        "(kernel TcpExt counters, whole network namespace)"
    )
    print(f"client connect    p50 {pct(connect, 0.5):.3f} s, p99 {pct(connect, 0.99):.3f} s")
    print(f"client status     p50 {pct(status, 0.5):.3f} s, p99 {pct(status, 0.99):.3f} s")
    print(f"server RSS        {b.rss_mib:.0f} MiB at the end")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

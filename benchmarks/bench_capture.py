"""Cost of recording: TTFT p50/p99, throughput and proxy CPU per request at 1, 16 and 100
concurrent streams, for direct calls, bare mitmproxy (mitmdump, no addon) and
`agentload capture`, all against `agentload sim`.

    .venv/bin/python benchmarks/bench_capture.py [--requests 400] [--tokens 16]

Prints one table; the "added" lines compare capture with bare mitmproxy (target: <= 0.5 ms
TTFT p50 and <= 10% proxy CPU per request).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agentload.simengine import launch  # noqa: E402
from agentload.traceformat.distribution import quantile  # noqa: E402
from tests.capture.proxyhelper import running_capture, running_mitmdump  # noqa: E402

BIN = Path(sys.executable).parent
NAMES = {
    "direct": "direct",
    "bare": "mitmdump (bare)",
    "capture": "agentload capture",
    "script": "mitmdump -s addon",
}


@contextmanager
def running_sim(token_ms: float) -> Iterator[str]:
    args = ["--preset", "fast", "--token-interval-ms", str(token_ms)]
    proc = launch.start(args, argv0=[str(BIN / "agentload")], stderr=None)
    try:
        yield launch.wait_listening(proc, 60.0)
    finally:
        launch.stop(proc, timeout_s=10)


@dataclass
class Figures:
    ttft_ms: list[float]
    wall_s: float
    cpu_s: float | None
    errors: int

    def merged(self, other: Figures) -> Figures:
        cpu = None if self.cpu_s is None else self.cpu_s + (other.cpu_s or 0.0)
        return Figures(
            self.ttft_ms + other.ttft_ms,
            self.wall_s + other.wall_s,
            cpu,
            self.errors + other.errors,
        )

    def row(self, name: str, conc: int) -> str:
        p50, p99 = (quantile(self.ttft_ms, q) or 0.0 for q in (0.5, 0.99))
        n = len(self.ttft_ms)
        cpu = f"{1000 * self.cpu_s / n:8.3f}" if self.cpu_s is not None and n else "       -"
        return (
            f"{name:<18} {conc:>4} {n:>6} {p50:9.3f} {p99:9.3f}"
            f" {n / self.wall_s:9.1f} {cpu} {self.errors:>5}"
        )


async def _one(session: aiohttp.ClientSession, url: str, body: dict[str, object]) -> float:
    t0 = time.perf_counter()
    async with session.post(url, json=body) as r:
        first = None
        async for chunk in r.content.iter_any():
            if first is None and b'"content":"' in chunk.replace(b'": "', b'":"'):
                first = time.perf_counter()
        if r.status != 200 or first is None:
            raise RuntimeError(f"status {r.status}")
    return (first - t0) * 1000


async def _load(base: str, conc: int, per_stream: int, tokens: int, model: str) -> Figures:
    url = base + "/v1/chat/completions"
    body = {
        "model": model,
        "stream": True,
        "max_tokens": tokens,
        "messages": [{"role": "user", "content": "benchmark the proxy please"}],
    }
    ttfts: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _one(session, url, body)  # warm-up connection

        async def stream() -> None:
            nonlocal errors
            for _ in range(per_stream):
                try:
                    ttfts.append(await _one(session, url, body))
                except Exception:
                    errors += 1

        t0 = time.perf_counter()
        tasks = [asyncio.create_task(stream()) for _ in range(conc)]
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    return Figures(ttfts, wall, None, errors)


def measure(base: str, pid: int | None, conc: int, args: argparse.Namespace) -> Figures:
    proc = psutil.Process(pid) if pid else None
    before = sum(proc.cpu_times()[:2]) if proc else 0.0
    per_stream = max(3, args.requests // conc)
    figures = asyncio.run(_load(base, conc, per_stream, args.tokens, args.model))
    if proc:
        figures.cpu_s = sum(proc.cpu_times()[:2]) - before
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=150, help="requests per level, target and round"
    )
    parser.add_argument("--tokens", type=int, default=16, help="completion tokens per request")
    parser.add_argument("--token-interval-ms", type=float, default=1.0)
    parser.add_argument("--model", default="agentload-sim")
    parser.add_argument("--concurrency", default="1,16,100")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per level")
    parser.add_argument(
        "--targets",
        default="direct,bare,capture",
        help="comma list of: direct, bare (mitmdump), capture (agentload capture),"
        " script (mitmdump -s capture/addon_entry.py)",
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    header = (
        f"{'target':<18} {'conc':>4} {'reqs':>6} {'ttft p50':>9} {'ttft p99':>9} {'req/s':>9}"
        f" {'cpu ms/req':>8} {'errs':>5}"
    )
    results: dict[tuple[str, int], Figures] = {}
    kinds = args.targets.split(",")
    with (
        running_sim(args.token_interval_ms) as sim,
        tempfile.TemporaryDirectory() as tmp,
        ExitStack() as stack,
    ):
        # All proxies run side by side and are measured in alternation, `--rounds` times per
        # level, so drifting background load hits every target alike.
        targets: dict[str, tuple[str, int | None]] = {}
        for kind in kinds:
            if kind == "direct":
                targets[NAMES[kind]] = (sim, None)
                continue
            if kind == "bare":
                ctx = running_mitmdump(sim)
            elif kind == "script":
                script = ["-s", str(ROOT / "capture" / "addon_entry.py")]
                ctx = running_mitmdump(sim, *script, "--set", f"agentload_out={tmp}/script")
            else:
                ctx = running_capture(sim, Path(tmp) / "capture")
            proxy = stack.enter_context(ctx)
            targets[NAMES[kind]] = (proxy.url, proxy.proc.pid)
        for c in levels:
            for _ in range(args.rounds):
                for name, (url, pid) in targets.items():
                    fig = measure(url, pid, c, args)
                    results[(name, c)] = (
                        results[(name, c)].merged(fig) if (name, c) in results else fig
                    )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}")
    print(header)
    for (name, c), fig in results.items():
        print(fig.row(name, c))
    print()
    for c in levels:
        if ("mitmdump (bare)", c) not in results or ("agentload capture", c) not in results:
            continue
        bare, cap = results[("mitmdump (bare)", c)], results[("agentload capture", c)]
        d50 = statistics.median(cap.ttft_ms) - statistics.median(bare.ttft_ms)
        cpu_b = (bare.cpu_s or 0) / max(1, len(bare.ttft_ms))
        cpu_c = (cap.cpu_s or 0) / max(1, len(cap.ttft_ms))
        pct = 100 * (cpu_c - cpu_b) / cpu_b if cpu_b else float("nan")
        print(
            f"added by the addon at {c:>3} streams: TTFT p50 {d50:+.3f} ms,"
            f" proxy CPU/request {pct:+.1f}%"
        )


if __name__ == "__main__":
    main()

"""Cost of recording: TTFT p50/p99, throughput and proxy CPU per request at 1, 16 and 100
concurrent streams, for direct calls, bare mitmproxy (mitmdump, no addon) and
`agentload capture`, all against `agentload sim`.

    .venv/bin/python benchmarks/bench_capture.py [--requests 400] [--tokens 16]
        [--workers 2] [--open-loop 100]

Prints one table; the "added" lines compare capture with bare mitmproxy (target: <= 0.5 ms
TTFT p50 and <= 10% proxy CPU per request). `--workers N` adds N-process targets
(`capture --workers N`; N bare mitmdumps on one port through SO_REUSEPORT) and the req/s
ratio of N processes to one; `--open-loop RATE` adds rows of requests started at RATE per
second whatever the answers (conc column "@RATE"), with TTFT added over direct. Each row
carries the mean 1-minute load average of its measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
MANY = {"bare": "mitmdump x{n}", "capture": "capture x{n}"}  # N processes on one port


@contextmanager
def running_sim(token_ms: float) -> Iterator[tuple[str, int]]:
    """The sim's URL and pid."""
    args = ["--preset", "fast", "--token-interval-ms", str(token_ms)]
    proc = launch.start(args, argv0=[str(BIN / "agentload")], stderr=None)
    try:
        yield launch.wait_listening(proc, 60.0), proc.pid
    finally:
        launch.stop(proc, timeout_s=10)


@dataclass
class Figures:
    ttft_ms: list[float]
    wall_s: float
    cpu_s: float | None
    errors: int
    loads: list[float]  # 1-minute load average at the start of each measurement
    others_cpu_s: float = 0.0  # the client's (this process) and the sim's CPU meanwhile

    def merged(self, other: Figures) -> Figures:
        cpu = None if self.cpu_s is None else self.cpu_s + (other.cpu_s or 0.0)
        return Figures(
            self.ttft_ms + other.ttft_ms,
            self.wall_s + other.wall_s,
            cpu,
            self.errors + other.errors,
            self.loads + other.loads,
            self.others_cpu_s + other.others_cpu_s,
        )

    @property
    def req_s(self) -> float:
        return len(self.ttft_ms) / self.wall_s if self.wall_s else 0.0

    def row(self, name: str, conc: str) -> str:
        p50, p99 = (quantile(self.ttft_ms, q) or 0.0 for q in (0.5, 0.99))
        n = len(self.ttft_ms)
        cpu = f"{1000 * self.cpu_s / n:8.3f}" if self.cpu_s is not None and n else "       -"
        return (
            f"{name:<18} {conc:>4} {n:>6} {p50:9.3f} {p99:9.3f}"
            f" {self.req_s:9.1f} {cpu} {self.errors:>5} {statistics.mean(self.loads):5.1f}"
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


def _body(model: str, tokens: int) -> dict[str, object]:
    """The request every target gets: a streamed chat completion of `tokens` tokens."""
    return {
        "model": model,
        "stream": True,
        "max_tokens": tokens,
        "messages": [{"role": "user", "content": "benchmark the proxy please"}],
    }


class _Tally:
    """TTFTs of the calls that streamed, and how many failed: one home for both loads."""

    def __init__(self, base: str, tokens: int, model: str) -> None:
        self.url, self.body = base + "/v1/chat/completions", _body(model, tokens)
        self.ttfts: list[float] = []
        self.errors = 0

    async def call(self, session: aiohttp.ClientSession) -> None:
        try:
            self.ttfts.append(await _one(session, self.url, self.body))
        except Exception:
            self.errors += 1

    def figures(self, wall: float) -> Figures:
        return Figures(self.ttfts, wall, None, self.errors, [])


async def _load(base: str, conc: int, per_stream: int, tokens: int, model: str) -> Figures:
    tally = _Tally(base, tokens, model)
    connector = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _one(session, tally.url, tally.body)  # warm-up connection

        async def stream() -> None:
            for _ in range(per_stream):
                await tally.call(session)

        t0 = time.perf_counter()
        tasks = [asyncio.create_task(stream()) for _ in range(conc)]
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    return tally.figures(wall)


async def _open_loop(base: str, rate: float, seconds: float, tokens: int, model: str) -> Figures:
    """Requests started every 1/rate s whatever the answers; TTFT from each one's send."""
    tally = _Tally(base, tokens, model)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await _one(session, tally.url, tally.body)
        tasks = []
        t0 = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(tally.call(session)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    return tally.figures(wall)


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += sum(psutil.Process(pid).cpu_times()[:2])
    return total


def measure(
    base: str, pids: list[int], sim_pid: int, conc: int, args: argparse.Namespace
) -> Figures:
    """Closed loop at `conc` streams (conc 0: open loop at --open-loop req/s)."""
    load = os.getloadavg()[0]
    before = _cpu(pids)
    others = _cpu([sim_pid, os.getpid()])
    if conc:
        per_stream = max(3, args.requests // conc)
        work = _load(base, conc, per_stream, args.tokens, args.model)
    else:
        work = _open_loop(base, args.open_loop, args.open_loop_seconds, args.tokens, args.model)
    figures = asyncio.run(work)
    figures.loads = [load]
    figures.others_cpu_s = _cpu([sim_pid, os.getpid()]) - others
    if pids:
        figures.cpu_s = _cpu(pids) - before
    return figures


def _added(results: dict[tuple[str, int], Figures], levels: list[int], n: int) -> list[str]:
    """The comparisons of the targets measured in the same run, as 'added' lines."""
    lines: list[str] = []
    pairs = [("mitmdump (bare)", "agentload capture", "")]
    if n > 1:
        many = (MANY["bare"].format(n=n), MANY["capture"].format(n=n))
        pairs.append((*many, f" with {n} processes"))
    for c in levels:
        for bare_name, cap_name, how in pairs:
            if (bare_name, c) not in results or (cap_name, c) not in results:
                continue
            bare, cap = results[(bare_name, c)], results[(cap_name, c)]
            d50 = statistics.median(cap.ttft_ms) - statistics.median(bare.ttft_ms)
            cpu_b = (bare.cpu_s or 0) / max(1, len(bare.ttft_ms))
            cpu_c = (cap.cpu_s or 0) / max(1, len(cap.ttft_ms))
            pct = 100 * (cpu_c - cpu_b) / cpu_b if cpu_b else float("nan")
            where = f"at {c:>3} streams" if c else f"open loop {_rate(results, c)}"
            lines.append(
                f"added by the addon{how} {where}: TTFT p50 {d50:+.3f} ms,"
                f" proxy CPU/request {pct:+.1f}%"
            )
        for kind in ("capture", "bare") if n > 1 and c else ():
            one, many_f = results.get((NAMES[kind], c)), results.get((MANY[kind].format(n=n), c))
            if one and many_f and one.req_s:
                lines.append(
                    f"req/s of {n} processes over 1 ({NAMES[kind]}) at {c:>3} streams:"
                    f" x{many_f.req_s / one.req_s:.2f} ({many_f.req_s:.1f} / {one.req_s:.1f})"
                )
    return lines + _over_direct(results) + _ceiling(results, levels, n)


def _ceiling(results: dict[tuple[str, int], Figures], levels: list[int], n: int) -> list[str]:
    """What the machine's cores can carry at all through N capture processes: the CPU each
    request costs the client and the sim plus the proxies, against os.cpu_count() cores."""
    lines = []
    name = MANY["capture"].format(n=n) if n > 1 else NAMES["capture"]
    for c in levels:
        fig = results.get((name, c))
        if not c or fig is None or fig.cpu_s is None or not fig.ttft_ms:
            continue
        per = 1000 / len(fig.ttft_ms)
        others, proxies = fig.others_cpu_s * per, fig.cpu_s * per
        top = 1000 * (os.cpu_count() or 1) / (others + proxies)
        lines.append(
            f"req/s of {name} at most at {c:>3} streams: {top:.0f} on {os.cpu_count()} cores"
            f" idle but for this (CPU ms/req: client + sim {others:.2f}, proxies {proxies:.2f})"
        )
    return lines


def _rate(results: dict[tuple[str, int], Figures], conc: int) -> str:
    fig = results.get(("direct", conc)) or next(f for (_, c), f in results.items() if c == conc)
    return f"{len(fig.ttft_ms) / fig.wall_s:.0f} req/s"


def _over_direct(results: dict[tuple[str, int], Figures]) -> list[str]:
    """Open loop: TTFT p50 each proxy adds over direct calls."""
    direct = results.get(("direct", 0))
    if direct is None:
        return []
    base = statistics.median(direct.ttft_ms)
    return [
        f"added over direct, open loop {_rate(results, 0)}: {name} TTFT p50"
        f" {statistics.median(fig.ttft_ms) - base:+.3f} ms"
        for (name, c), fig in results.items()
        if c == 0 and name != "direct"
    ]


def _targets(
    kinds: list[str], workers: int, sim: str, tmp: str, stack: ExitStack
) -> dict[str, tuple[str, list[int]]]:
    targets: dict[str, tuple[str, list[int]]] = {}
    for kind in kinds:
        counts = [1, workers] if workers > 1 and kind in MANY else [1]
        for n in counts:
            name = NAMES[kind] if n == 1 else MANY[kind].format(n=n)
            if kind == "direct":
                targets[name] = (sim, [])
                continue
            if kind == "bare":
                ctx = running_mitmdump(sim, workers=n)
            elif kind == "script":
                script = ["-s", str(ROOT / "capture" / "addon_entry.py")]
                ctx = running_mitmdump(sim, *script, "--set", f"agentload_out={tmp}/script")
            else:
                ctx = running_capture(sim, Path(tmp) / name.replace(" ", "-"), "--workers", str(n))
            proxy = stack.enter_context(ctx)
            targets[name] = (proxy.url, proxy.pids)
    return targets


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
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
    parser.add_argument(
        "--workers", type=int, default=1, help="also measure bare and capture as N processes"
    )
    parser.add_argument(
        "--open-loop", type=float, default=0.0, metavar="REQ_S", help="also an open-loop level"
    )
    parser.add_argument("--open-loop-seconds", type=float, default=10.0, help="per round")
    return parser


def main() -> None:
    args = _parser().parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    if args.open_loop > 0:
        levels.append(0)  # 0: the open-loop level
    header = (
        f"{'target':<18} {'conc':>4} {'reqs':>6} {'ttft p50':>9} {'ttft p99':>9} {'req/s':>9}"
        f" {'cpu ms/req':>8} {'errs':>5} {'load':>5}"
    )
    results: dict[tuple[str, int], Figures] = {}
    with (
        running_sim(args.token_interval_ms) as (sim, sim_pid),
        tempfile.TemporaryDirectory() as tmp,
        ExitStack() as stack,
    ):
        # All proxies run side by side and are measured in alternation, `--rounds` times per
        # level, so drifting background load hits every target alike.
        targets = _targets(args.targets.split(","), args.workers, sim, tmp, stack)
        for c in levels:
            for _ in range(args.rounds):
                for name, (url, pids) in targets.items():
                    fig = measure(url, pids, sim_pid, c, args)
                    results[(name, c)] = (
                        results[(name, c)].merged(fig) if (name, c) in results else fig
                    )
    cpu = _cpu_model()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus ({cpu}),"
        f" load {os.getloadavg()[0]:.1f}"
    )
    print(header)
    for (name, c), fig in results.items():
        print(fig.row(name, str(c) if c else f"@{args.open_loop:g}"))
    print()
    for line in _added(results, levels, args.workers):
        print(line)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    main()

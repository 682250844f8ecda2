"""A plain open-loop reference client: aiohttp + uvloop at a constant request rate.

    .venv/bin/python -m benchmarks.peers.reference URL --rate R --duration S [--prefix P]

The client a competent engineer writes without tuning it for any figure, kept as the yardstick
that bench_replay's capacity ladder states agentload's figures against (issue 19). A deadline
loop starts one asyncio task per request at its due time, epoch + i / rate on
CLOCK_MONOTONIC (asyncio.sleep until then, a zero sleep when late so the started tasks run);
each task posts a streamed /v1/completions request through one shared ClientSession whose
TCPConnector has no connection limit, and reads the SSE stream to its end. Every request
carries `X-Session-ID: <prefix><i>`, so a server-side arrival log can judge it. At the end it
prints one JSON line: its epoch (monotonic ns), rate, requests sent, ok, errors, and its CPU
and run-queue wait over the run (measured as agentload's workers measure theirs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time

import aiohttp
import uvloop

PROMPT = " ".join(["hello"] * 32)


def cpu_and_wait_s() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/thread-self/schedstat") as fh:
        wait_ns = int(fh.read().split()[1])
    return usage.ru_utime + usage.ru_stime, wait_ns / 1e9


async def one(session: aiohttp.ClientSession, url: str, body: dict[str, object], sid: str,
              counts: dict[str, int]) -> None:  # fmt: skip
    try:
        async with session.post(url, json=body, headers={"X-Session-ID": sid}) as resp:
            async for _line in resp.content:  # the SSE stream, to its end
                pass
            counts["ok" if resp.status == 200 else "errors"] += 1
    except (TimeoutError, aiohttp.ClientError, OSError):
        counts["errors"] += 1


async def run(args: argparse.Namespace) -> dict[str, object]:
    url = args.url.rstrip("/") + "/v1/completions"
    body = {"model": args.model, "prompt": PROMPT, "max_tokens": args.tokens, "stream": True}
    counts = {"ok": 0, "errors": 0}
    n = int(args.duration * args.rate)
    tasks: set[asyncio.Task[None]] = set()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        cpu0, wait0 = cpu_and_wait_s()
        epoch = time.monotonic_ns() + 100_000_000  # a moment to settle before the first send
        for i in range(n):
            due = epoch + int(i * 1e9 / args.rate)
            await asyncio.sleep(max(0.0, (due - time.monotonic_ns()) / 1e9))
            task = asyncio.create_task(one(session, url, body, f"{args.prefix}{i:06d}", counts))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        cpu1, wait1 = cpu_and_wait_s()
    return {"epoch_ns": epoch, "rate": args.rate, "sent": n, **counts,
            "cpu_s": round(cpu1 - cpu0, 4), "runqueue_wait_s": round(wait1 - wait0, 4)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the server's base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds of sending")
    parser.add_argument("--prefix", default="r", help="X-Session-ID is PREFIX + the index")
    parser.add_argument("--model", default="agentload-sim")
    parser.add_argument("--tokens", type=int, default=16, help="max_tokens of each request")
    print(json.dumps(uvloop.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()

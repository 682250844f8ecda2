"""CPU per recorded call of the capture addon, in-process and without any network.

    .venv/bin/python benchmarks/bench_addon_cpu.py [--calls 3000] [--repeat 3] [--profile]
    .venv/bin/python benchmarks/bench_addon_cpu.py --history 40   # agent-sized requests

Replays the full per-call path of `agentload capture` for synthetic calls shaped like the
load of benchmarks/bench_capture.py (a small chat request, a streamed response of 16 tokens,
one network chunk per SSE event), plus a non-streamed variant:

* hooks: requestheaders, request, responseheaders, the chunk recorder once per chunk, and
  response (what runs on the proxy loop);
* build: RowBuilder.build (decoding, SSE framing, JSON, scrubbing, hashing, stitching) and
  the content store, as the writer thread runs it;
* write: the sink's batching and StreamWriter write + flush (Arrow conversion, zstd, file
  write) in batches of `--batch` rows (at ~200 calls/s the sink flushes every 0.5 s, so
  about 100 rows per batch);
* close: compaction of the finished file, amortised over the calls (reported apart: it
  runs once per file, at rotation or stop).

Everything runs on this thread, so process CPU time (`time.process_time`) is the addon's CPU
per call. Prints µs/call per stage; `--profile` adds a cProfile of the hooks+build+write.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mitmproxy import http
from mitmproxy.test.tflow import tflow

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agentload.capture.addon import CaptureAddon  # noqa: E402
from agentload.capture.flowdata import RawCall  # noqa: E402
from agentload.capture.process import RowBuilder  # noqa: E402
from agentload.capture.sink import Sink  # noqa: E402
from agentload.capture.stitch import Stitcher  # noqa: E402
from agentload.traceformat.content import ContentStore  # noqa: E402

MODEL = "sim-model"
WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "all")


def request_body(stream: bool, tokens: int, history: int = 0, i: int = 0) -> bytes:
    """bench_capture's request; with `history`, an agent's: that many earlier turns of
    ~1 KB each (the same for every call, as a session's history mostly is), then a new one."""
    messages: list[dict[str, str]] = [
        {
            "role": ("user", "assistant")[k % 2],
            "content": " ".join(WORDS[(k * 3 + j) % len(WORDS)] for j in range(200)),
        }
        for k in range(history)
    ]
    messages.append(
        {"role": "user", "content": f"benchmark the proxy please {i if history else ''}"}
    )
    body = {"model": MODEL, "stream": stream, "max_tokens": tokens, "messages": messages}
    return json.dumps(body).encode()


def _text(i: int, k: int) -> str:
    return " " + WORDS[(i * 7 + k) % len(WORDS)]


def sse_chunks(i: int, tokens: int) -> list[bytes]:
    """One chunk per SSE event, as `agentload sim` sends a chat stream (no usage block)."""
    pre = (
        f'data: {{"id":"chatcmpl-{i:08d}","object":"chat.completion.chunk",'
        f'"created":1700000000,"model":"{MODEL}","choices":[{{"index":0,"delta":'
    )
    post = ',"logprobs":null,"finish_reason":null}]}\n\n'
    chunks = [pre + '{"role":"assistant","content":""}' + post]
    chunks += [pre + json.dumps({"content": _text(i, k)}) + post for k in range(tokens)]
    chunks.append(pre + '{},"logprobs":null,"finish_reason":"length"}]}\n\n')
    chunks.append("data: [DONE]\n\n")
    return [c.encode() for c in chunks]


def json_body(i: int, tokens: int) -> bytes:
    body = {
        "id": f"chatcmpl-{i:08d}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "".join(_text(i, k) for k in range(tokens)),
                },
                "logprobs": None,
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 14, "completion_tokens": tokens, "total_tokens": 14 + tokens},
    }
    return json.dumps(body).encode()


def make_flow(
    i: int, stream: bool, tokens: int, history: int = 0
) -> tuple[http.HTTPFlow, list[bytes]]:
    req = http.Request.make(
        "POST",
        "http://127.0.0.1:8000/v1/chat/completions",
        request_body(stream, tokens, history, i),
        http.Headers(content_type="application/json", authorization="Bearer sk-bench"),
    )
    if stream:
        resp = http.Response.make(200, b"", {"content-type": "text/event-stream"})
        return tflow(req=req, resp=resp), sse_chunks(i, tokens)
    resp = http.Response.make(200, json_body(i, tokens), {"content-type": "application/json"})
    return tflow(req=req, resp=resp), []


class Bench:
    def __init__(self, out_dir: Path, redact: bool) -> None:
        builder = RowBuilder(
            ContentStore(),
            Stitcher("b"),
            session_headers=(),
            rules=(),
            default_workload="bench",
            redact=redact,
        )
        self.sink = Sink(builder, out_dir, {}, rotate_bytes=1 << 40, rotate_seconds=1e9)
        self.addon = CaptureAddon()
        self.addon.sink = self.sink  # never started: this thread does the writer's work

    def hooks(self, flow: http.HTTPFlow, chunks: list[bytes]) -> None:
        addon = self.addon
        addon.requestheaders(flow)
        addon.request(flow)
        addon.responseheaders(flow)
        stream = flow.response.stream if flow.response is not None else None
        if callable(stream):
            for chunk in chunks:
                stream(chunk)
        addon.response(flow)

    def take(self) -> list[RawCall]:
        calls = list(self.sink._queue)
        self.sink._queue.clear()
        return calls


def _cpu(fn: Callable[[], None]) -> float:
    gc.collect()
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


Stages = tuple[float, float, float, float]


def run(
    calls: int,
    batch: int,
    stream: bool,
    tokens: int,
    redact: bool,
    profile: bool,
    repeat: int,
    history: int,
) -> None:
    """Best of `repeat` runs per stage (the machine may be shared: the minimum is the cost)."""
    runs = [
        _run_once(calls, batch, stream, tokens, redact, profile, history) for _ in range(repeat)
    ]
    t_hooks, t_build, t_write, t_close = (min(r[i] for r in runs) for i in range(4))
    kind = "streamed" if stream else "non-streamed"
    per = 1e6 / calls
    total = t_hooks + t_build + t_write
    print(f"\n{kind} chat completion, {tokens} tokens, {calls} calls, batches of {batch} rows,")
    agent = f", {history} earlier turns in each request" if history else ""
    print(f"best of {repeat} runs{', redacted' if redact else ''}{agent}")
    print(f"  hooks (proxy loop)            {t_hooks * per:8.1f} µs/call")
    print(f"  RowBuilder.build + content    {t_build * per:8.1f} µs/call")
    print(f"  sink batch write + flush      {t_write * per:8.1f} µs/call")
    print(f"  total per call                {total * per:8.1f} µs/call")
    print(f"  (+ compaction at file close   {t_close * per:8.1f} µs/call, once per file)")


def _run_once(
    calls: int, batch: int, stream: bool, tokens: int, redact: bool, profile: bool, history: int
) -> Stages:
    with tempfile.TemporaryDirectory(prefix="bench-addon-") as tmp:
        bench = Bench(Path(tmp), redact)
        flows = [make_flow(i, stream, tokens, history) for i in range(calls)]
        warm = [make_flow(calls + i, stream, tokens, history) for i in range(50)]
        for f, c in warm:  # imports, caches, the first file's open
            bench.hooks(f, c)
        for raw in bench.take():
            bench.sink._handle(raw)
        bench.sink._write_pending()

        prof = cProfile.Profile() if profile else None
        if prof is not None:
            prof.enable()

        def hooks() -> None:
            for flow, chunks in flows:
                bench.hooks(flow, chunks)

        t_hooks = _cpu(hooks)
        raws = bench.take()
        assert len(raws) == calls, "every call reached the sink"
        rows: list[dict[str, object]] = []

        def build() -> None:
            builder = bench.sink.builder
            rows.extend(builder.build(raw) for raw in raws)

        t_build = _cpu(build)

        def write() -> None:
            sink = bench.sink
            for start in range(0, len(rows), batch):
                sink._pending.extend(rows[start : start + batch])
                sink._write_pending()

        t_write = _cpu(write)
        if prof is not None:
            prof.disable()
        t_close = _cpu(bench.sink._close_writer)
        assert bench.sink.stats.rows == calls + len(warm), bench.sink.stats
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return t_hooks, t_build, t_write, t_close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100, help="rows per sink flush")
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--redact", action="store_true", help="--redact-content")
    parser.add_argument("--only", choices=("streamed", "plain"), default=None)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is shown")
    parser.add_argument("--history", type=int, default=0, help="earlier turns per request")
    parser.add_argument("--profile", action="store_true", help="cProfile hooks+build+write")
    args = parser.parse_args()
    for stream in (True, False):
        if args.only == ("plain" if stream else "streamed"):
            continue
        run(
            args.calls,
            args.batch,
            stream,
            args.tokens,
            args.redact,
            args.profile,
            args.repeat,
            args.history,
        )


if __name__ == "__main__":
    main()

"""Storage: trace bytes per call against gzip JSONL of the same traffic.

    .venv/bin/python -m benchmarks.storage [--quick]

Traffic: sessions shaped like the agentic-coding sample (64 public trie rows: starting
prompt, per-turn assistant and tool output lengths) are played as multi-turn OpenAI chat
conversations (system prompt + task, then assistant / tool-output messages appended turn by
turn, the whole history re-sent each call, streamed, `X-Session-ID` per session) through a
real `agentload capture` proxy in front of the fast sim. Text is pseudo-English drawn from a
Zipf-weighted vocabulary (seeded), about 0.75 words per token.

Baseline: the same calls as JSONL, one line per call with the request body as sent and the
response as a chat.completion object (assembled message, finish reason, usage) — what a
logging proxy would keep — uncompressed, gzip (level 6, the gzip CLI default) and zstd -3.
The trace is what capture wrote: Arrow IPC stream files with zstd buffers, each distinct
message stored once and referenced by later calls.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import shlex
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import zstandard

from benchmarks.agreement import SAMPLE
from benchmarks.common import MODEL, ROOT, running_sim

sys.path.insert(0, str(ROOT))
from tests.capture.proxyhelper import running_capture

WORDS_PER_TOKEN = 0.75


@dataclass
class Storage:
    sessions: int
    calls: int
    trace_bytes: int
    jsonl_bytes: int
    jsonl_gzip_bytes: int
    jsonl_zstd_bytes: int
    trace_rows: int
    command: str  # the capture proxy
    driver_command: str = ""  # the load driver (this module: aiohttp chat sessions)
    sim_command: str = ""  # the upstream the proxy forwards to

    def per_call(self, total: int) -> float:
        return total / self.calls if self.calls else 0.0


class Text:
    """Deterministic pseudo-English: a Zipf-weighted vocabulary of made-up words."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        letters = "etaoinshrdlcumwfgypbvkjxqz"
        vocab: set[str] = set()
        while len(vocab) < 4000:
            n = self.rng.choice((2, 3, 4, 5, 6, 7, 8, 9))
            vocab.add("".join(self.rng.choices(letters, weights=range(26, 0, -1), k=n)))
        self.vocab = sorted(vocab)
        self.weights = [1 / (i + 1) for i in range(len(self.vocab))]

    def words(self, tokens: int) -> str:
        n = max(1, int(tokens * WORDS_PER_TOKEN))
        words = self.rng.choices(self.vocab, weights=self.weights, k=n)
        lines = [" ".join(words[i : i + 12]) for i in range(0, n, 12)]
        return "\n".join(lines)


def conversations(rows: list[dict[str, Any]], seed: int) -> list[list[tuple[int, str]]]:
    """Per session, its turns: (output tokens to ask for, tool output text appended after)."""
    text = Text(seed)
    out = []
    for row in rows:
        turns = []
        for i in range(row["num_turns"]):
            turns.append((row["assistant_response_length"][i],
                          text.words(row["tool_call_output_length"][i])))  # fmt: skip
        turns.append((row["final_assistant_response_length"], ""))
        out.append([(row["input_prompt_length"], text.words(row["input_prompt_length"])), *turns])
    return out


async def one_call(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], session: str
) -> dict[str, Any]:
    """Stream one chat call; return the chat.completion object a logger would store."""
    async with http.post(url, json=body, headers={"X-Session-ID": session}) as resp:
        parts: list[str] = []
        usage = finish = rid = None
        async for raw in resp.content:
            line = raw.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            event = json.loads(line[6:])
            rid = event.get("id", rid)
            for choice in event.get("choices") or []:
                parts.append(choice.get("delta", {}).get("content") or "")
                finish = choice.get("finish_reason") or finish
            usage = event.get("usage") or usage
    message = {"role": "assistant", "content": "".join(parts)}
    return {
        "id": rid,
        "object": "chat.completion",
        "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


async def play(base: str, convs: list[list[tuple[int, str]]], lines: list[bytes]) -> None:
    url = base + "/v1/chat/completions"
    async with aiohttp.ClientSession() as http:

        async def session(k: int, conv: list[tuple[int, str]]) -> None:
            _, task = conv[0]
            messages: list[dict[str, Any]] = [
                {"role": "system", "content": "You are a coding agent. Use the tools."},
                {"role": "user", "content": task},
            ]
            for max_tokens, tool_output in conv[1:]:
                body = {"model": MODEL, "messages": list(messages), "stream": True,
                        "stream_options": {"include_usage": True},
                        "max_tokens": max_tokens, "ignore_eos": True}  # fmt: skip
                response = await one_call(http, url, body, f"storage-{k}")
                lines.append(json.dumps({"request": body, "response": response}).encode())
                messages.append(response["choices"][0]["message"])
                if tool_output:
                    messages.append({"role": "user", "content": tool_output})

        await asyncio.gather(*(session(k, c) for k, c in enumerate(convs)))


def run(sessions: int, work: Path, seed: int = 1) -> Storage:
    from agentload.traceformat.io import read

    rows = [json.loads(x) for x in SAMPLE.read_text().splitlines() if x.strip()][:sessions]
    convs = conversations(rows, seed)
    work.mkdir(parents=True, exist_ok=True)
    out = work / "trace"
    shutil.rmtree(out, ignore_errors=True)  # files of an earlier run would count as this one's
    lines: list[bytes] = []
    with running_sim("fast", work / "sim.arrow") as sim, running_capture(sim.url, out) as proxy:
        asyncio.run(play(proxy.url, convs, lines))
        time.sleep(1.5)  # rows are flushed at least every second
        command = " ".join(proxy.proc.args) if isinstance(proxy.proc.args, list) else ""
        sim_command = shlex.join(sim.argv)
    files = [p for p in out.glob("*.arrow") if p.stat().st_size]
    trace_rows = sum(read(p).frame.height for p in files)
    if trace_rows != len(lines):
        raise RuntimeError(f"trace holds {trace_rows} rows for {len(lines)} calls made")
    jsonl = b"\n".join(lines) + b"\n"
    driver = [".venv/bin/python", "-m", "benchmarks.storage", "--sessions", str(len(convs))]
    driver += ["--work", str(work), "--seed", str(seed)]
    return Storage(
        sessions=len(convs),
        calls=len(lines),
        trace_bytes=sum(p.stat().st_size for p in files),
        jsonl_bytes=len(jsonl),
        jsonl_gzip_bytes=len(gzip.compress(jsonl, compresslevel=6)),
        jsonl_zstd_bytes=len(zstandard.ZstdCompressor(level=3).compress(jsonl)),
        trace_rows=trace_rows,
        command=command,
        driver_command=shlex.join(driver),
        sim_command=sim_command,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 sessions instead of 16")
    parser.add_argument("--sessions", type=int, help="sessions (rows of the sample) to play")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated text")
    parser.add_argument("--work", type=Path, default=Path("/tmp/agentload-bench/storage"))
    args = parser.parse_args()
    sessions = args.sessions or (4 if args.quick else 16)
    result = run(sessions, args.work, args.seed)
    print(json.dumps(asdict(result), indent=1))
    for name in ("trace_bytes", "jsonl_bytes", "jsonl_gzip_bytes", "jsonl_zstd_bytes"):
        print(f"{name}: {result.per_call(getattr(result, name)):,.0f} bytes/call")


if __name__ == "__main__":
    main()

"""Result files with known shape for report tests (the real replay is exercised by the demo
and sweep tests): sessions of several calls with streamed chunks, cache counts, expected
tokens, engine metric samples and diagnostics; optionally errors, one session, or a
partial (killed) run."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from agentload.traceformat import io
from agentload.traceformat import schema as s

MS = 1_000_000
BASE_NS = 5_000 * 1_000_000_000  # monotonic clocks do not start at 0


def _call(
    rng: random.Random, session: str, call: int, final: bool, sent: int, prompt: int
) -> tuple[dict[str, Any], int]:
    ttft = rng.randint(40, 400) * MS
    completion = rng.randint(8, 60)
    chunk: list[int] = []
    while sum(chunk) < completion:
        chunk.append(min(rng.choice((1, 1, 2, 3)), completion - sum(chunk)))
    offsets, t = [], ttft
    for _ in chunk:
        offsets.append(t)
        t += rng.randint(5, 25) * MS
    end = sent + offsets[-1]
    cached = 0 if call == 0 else int(prompt * rng.uniform(0.6, 0.95))
    row = {
        s.SESSION_ID: session,
        s.CALL_INDEX: call,
        s.WORKER: 0,
        s.FINAL_CALL: final,
        s.WARMUP: False,
        s.T_SCHEDULED_NS: sent - rng.randint(0, 3) * MS,
        s.T_SENT_NS: sent,
        s.T_FIRST_TOKEN_NS: sent + ttft,
        s.T_END_NS: end,
        s.CHUNK_OFFSETS_NS: offsets,
        s.CHUNK_TOKENS: chunk,
        s.PROMPT_TOKENS: prompt,
        s.COMPLETION_TOKENS: completion,
        s.CACHED_TOKENS: cached,
        s.EXPECTED_INPUT_TOKENS: prompt,
        s.EXPECTED_OUTPUT_TOKENS: completion,
        s.EXPECTED_CACHED_TOKENS: 0 if call == 0 else int(prompt * 0.9),
        s.STATUS: "ok",
        s.HTTP_STATUS: 200,
    }
    return row, end


def _fail(row: dict[str, Any]) -> None:
    row.update(
        {
            s.STATUS: "error",
            s.ERROR_KIND: s.ErrorKind.HTTP_5XX.value,
            s.ERROR: "HTTP 500",
            s.HTTP_STATUS: 500,
            s.T_FIRST_TOKEN_NS: None,
            s.CHUNK_OFFSETS_NS: None,
            s.CHUNK_TOKENS: None,
            s.COMPLETION_TOKENS: None,
            s.CACHED_TOKENS: None,
            s.PROMPT_TOKENS: None,
        }
    )


def rows(sessions: int, calls: int, seed: int, error_every: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(sessions):
        t = BASE_NS + i * rng.randint(200, 900) * MS
        prompt = rng.randint(500, 1500)
        for c in range(calls):
            row, end = _call(rng, f"sess-{i:03d}", c, c == calls - 1, t, prompt)
            if error_every and len(out) % error_every == error_every - 1:
                _fail(row)
            out.append(row)
            prompt += (row[s.COMPLETION_TOKENS] or 0) + rng.randint(50, 300)
            t = end + rng.randint(20, 600) * MS
    return out


def engine_samples(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    start = min(r[s.T_SENT_NS] for r in data)
    stop = max(r[s.T_END_NS] for r in data)
    samples = []
    for k in range(20):
        t = start + (stop - start) * k // 19
        samples.append(
            {"t_ns": t, "name": "vllm:kv_cache_usage_perc", "labels": {}, "value": k / 40}
        )
        samples.append(
            {
                "t_ns": t,
                "name": "vllm:num_requests_waiting",
                "labels": {"model": "m"},
                "value": k % 3,
            }
        )
    return samples


DIAGNOSTICS: dict[str, object] = {
    "schedule_lag_ms": {"p50": 0.4, "p99": 2.0, "max": 3.0},
    "client_cpu_s": {"user": 1.5, "system": 0.3},
    "intended_rate": None,
    "achieved_rate": 2.5,
    "warnings": [],
}


def write(
    path: Path,
    *,
    sessions: int = 8,
    calls: int = 4,
    seed: int = 1,
    error_every: int = 0,
    engine: bool = True,
    slower_ms: int = 0,
    info: Mapping[str, object] | None = None,
) -> Path:
    """A complete result file (IPC file format) with the metadata replay writes;
    `slower_ms` delays every first token (and so everything after it) by that much;
    `info` is merged into the META_INFO."""
    data = rows(sessions, calls, seed, error_every)
    for row in data:
        if slower_ms and row[s.T_FIRST_TOKEN_NS] is not None:
            row[s.T_FIRST_TOKEN_NS] += slower_ms * MS
            row[s.T_END_NS] += slower_ms * MS
            row[s.CHUNK_OFFSETS_NS] = [o + slower_ms * MS for o in row[s.CHUNK_OFFSETS_NS]]
    extra = {
        s.META_COMPLETE: b"true",
        s.META_DIAGNOSTICS: json.dumps(DIAGNOSTICS).encode(),
    }
    if engine:
        extra[s.META_ENGINE_METRICS] = json.dumps(engine_samples(data)).encode()
    meta: dict[str, object] = {
        "target": "http://127.0.0.1:1",
        "model": "sim",
        "options": {"gpus": 2},
    } | dict(info or {})
    io.write_file(path, s.Kind.RESULT, _table(data), info=meta, extra_metadata=extra)
    return path


def write_partial(path: Path, *, sessions: int = 6, calls: int = 5, seed: int = 2) -> Path:
    """A killed run: a stream file without end marker, not marked complete; the last
    sessions lack their final calls."""
    data = rows(sessions, calls, seed)
    keep = [
        r
        for r in data
        if not (r[s.SESSION_ID] >= f"sess-{sessions - 2:03d}" and r[s.CALL_INDEX] >= 2)
    ]
    with io.StreamWriter(path, s.Kind.RESULT, {"target": "http://127.0.0.1:1"}) as writer:
        writer.write(keep)
    # drop the end-of-stream marker, as if the replay had been killed mid-run
    raw = path.read_bytes()
    assert raw.endswith(b"\xff\xff\xff\xff\x00\x00\x00\x00")
    path.write_bytes(raw[:-8])
    return path


def _table(data: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(data, schema=s.RESULT_SCHEMA)

"""A small hand-built trace (chat API) for verbatim replay tests."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.content import ContentStore, canonical_json
from agentload.traceformat.schema import Kind

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def write_trace(path: Path) -> list[dict[str, object]]:
    """Two sessions of two chat calls; the second call starts 80 ms after the first ends."""
    store = ContentStore()
    rows = []
    for s in range(2):
        history: list[dict[str, object]] = [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": f"Question number {s}: what is two plus two?"},
        ]
        start = T0 + s * 200 * MS
        for call in range(2):
            envelope = {"model": "recorded-model", "max_tokens": 7 + call, "temperature": 0}
            ids = [store.add(canonical_json(envelope))]
            ids += [store.add(canonical_json(m)) for m in history]
            end = start + 30 * MS
            rows.append(
                {
                    S.SESSION_ID: f"t{s}",
                    S.CALL_INDEX: call,
                    S.WORKLOAD: "test",
                    S.API: S.Api.OPENAI_CHAT.value,
                    S.ENDPOINT: "/v1/chat/completions",
                    S.MODEL: "recorded-model",
                    S.STREAM: True,
                    S.T_REQUEST_START_NS: start,
                    S.T_RESPONSE_END_NS: end,
                    S.COMPLETION_TOKENS: 7 + call,
                    S.PARTIAL: False,
                    S.REQUEST_CONTENT_IDS: ids,
                    S.NEW_CONTENT: store.take_new(),
                }
            )
            history += [
                {"role": "assistant", "content": "Four."},
                {"role": "user", "content": json.dumps({"tool": "calc", "result": 4})},
            ]
            start = end + 80 * MS
    io.write_file(path, Kind.TRACE, _frame(rows))
    return rows


def words(letter: str, n: int) -> str:
    return " ".join([letter] * n)


# One chat session whose call 1 was recorded without usage: (user words, output words,
# provider prompt tokens, provider completion tokens).
NO_USAGE_CALLS = [(8, 10, 40, 30), (18, 5, None, None), (28, 4, 80, 12)]


def write_trace_without_usage(path: Path) -> None:
    """NO_USAGE_CALLS as a trace: each call sends one user message of n words (stored as
    {"content":"w w …","role":"user"}: 12 + n offline tokens; the envelope adds none) and
    got an assistant message of k words (k offline output tokens)."""
    store = ContentStore()
    rows = []
    for call, (n, k, prompt, completion) in enumerate(NO_USAGE_CALLS):
        ids = [store.add(canonical_json({"model": "recorded-model"}))]
        ids.append(store.add(canonical_json({"role": "user", "content": words("w", n)})))
        response = store.add(canonical_json({"role": "assistant", "content": words("x", k)}))
        start = T0 + call * 100 * MS
        rows.append(
            {
                S.SESSION_ID: "u",
                S.CALL_INDEX: call,
                S.WORKLOAD: "test",
                S.API: S.Api.OPENAI_CHAT.value,
                S.ENDPOINT: "/v1/chat/completions",
                S.MODEL: "recorded-model",
                S.STREAM: True,
                S.T_REQUEST_START_NS: start,
                S.T_RESPONSE_END_NS: start + 30 * MS,
                S.PROMPT_TOKENS: prompt,
                S.COMPLETION_TOKENS: completion,
                S.PARTIAL: False,
                S.REQUEST_CONTENT_IDS: ids,
                S.RESPONSE_CONTENT_ID: response,
                S.NEW_CONTENT: store.take_new(),
            }
        )
    io.write_file(path, Kind.TRACE, _frame(rows))


def _frame(rows: list[dict[str, object]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=S.TRACE_SCHEMA)

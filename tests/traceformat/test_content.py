"""Content-addressed trace content: parts stored once per file, size linear in history."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from agentload.traceformat.content import (
    ContentStore,
    canonical_json,
    content_id,
    content_table,
    request_parts,
)
from agentload.traceformat.io import StreamWriter, compact, read
from agentload.traceformat.schema import (
    API,
    CALL_INDEX,
    CONTENT_DATA,
    CONTENT_ID,
    CONTENT_SIZE,
    ENDPOINT,
    NEW_CONTENT,
    PARTIAL,
    REQUEST_CONTENT_IDS,
    RESPONSE_CONTENT_ID,
    SESSION_ID,
    STREAM,
    T_REQUEST_START_NS,
    WORKLOAD,
    Api,
    Kind,
)


def test_store_hands_out_each_part_once() -> None:
    store = ContentStore()
    a = store.add("alpha")
    assert a == hashlib.blake2b(b"alpha", digest_size=16).hexdigest()
    assert store.add("alpha") == a
    b = store.add("bêta", redact=True)
    assert store.take_new() == [
        {CONTENT_ID: a, CONTENT_SIZE: 5, CONTENT_DATA: "alpha"},
        {CONTENT_ID: b, CONTENT_SIZE: 5, CONTENT_DATA: None},  # UTF-8 bytes, data redacted
    ]
    assert store.take_new() == []
    store.add("alpha")
    assert store.take_new() == []  # already in this file
    assert a in store and len(store) == 2
    store.reset()  # a new file must carry its parts again
    store.add("alpha")
    assert [part[CONTENT_ID] for part in store.take_new()] == [a]


def words(rng: random.Random, vocabulary: list[str], count: int) -> str:
    return " ".join(rng.choices(vocabulary, k=count))


def conversation(seed: int, turns: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(request body, assistant response message) per call of a growing agent session.

    Varied random words over a large vocabulary so that zstd cannot shrink the history
    by far more than real text would compress."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(20000)]
    tools = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": words(rng, vocabulary, 1500)},
        {"role": "user", "content": words(rng, vocabulary, 200)},
    ]
    calls = []
    for turn in range(turns):
        body = {"model": "m", "stream": True, "tools": tools, "messages": list(messages)}
        answer = {
            "role": "assistant",
            "content": words(rng, vocabulary, rng.randint(40, 120)),
            "tool_calls": [{"id": f"call_{turn}", "function": {"name": "bash"}}],
        }
        calls.append((body, answer))
        messages.append(answer)
        messages.append(
            {"role": "tool", "tool_call_id": f"call_{turn}", "content": words(rng, vocabulary, 600)}
        )
    return calls


def parts_of(body: dict[str, Any]) -> list[str]:
    envelope = {k: v for k, v in body.items() if k != "messages"}
    return [canonical_json(envelope)] + [canonical_json(m) for m in body["messages"]]


def write_session(
    path: Path,
    calls: list[tuple[dict[str, Any], dict[str, Any]]],
    flush_rows: int,
    compact_on_close: bool = False,
) -> None:
    store = ContentStore()
    with StreamWriter(
        path,
        Kind.TRACE,
        flush_rows=flush_rows,
        flush_seconds=3600,
        compact_on_close=compact_on_close,
    ) as writer:
        for index, (body, answer) in enumerate(calls):
            ids = [store.add(part) for part in parts_of(body)]
            response = store.add(canonical_json(answer))
            row = {
                SESSION_ID: "s",
                CALL_INDEX: index,
                WORKLOAD: "synthetic",
                API: Api.OPENAI_CHAT,
                ENDPOINT: "/v1/chat/completions",
                STREAM: True,
                T_REQUEST_START_NS: index,
                PARTIAL: False,
                REQUEST_CONTENT_IDS: ids,
                RESPONSE_CONTENT_ID: response,
                NEW_CONTENT: store.take_new(),
            }
            writer.write([row])


@pytest.mark.slow
def test_hundred_turn_session_stores_history_once(tmp_path: Path) -> None:
    calls = conversation(seed=7, turns=100)
    final_context = canonical_json(calls[-1][0]).encode()
    assert len(final_context) >= 400_000  # ~100k tokens at ~4 bytes a token
    on_its_own = len(zstandard.ZstdCompressor().compress(final_context))
    naive = sum(len(canonical_json(body)) for body, _ in calls)
    assert naive > 40 * len(final_context)  # what storing every request whole would cost

    # Calls written in a burst: the default writer puts them in one batch.
    burst = tmp_path / "burst.arrows"
    write_session(burst, calls, flush_rows=1024)
    # A slow agent: one batch per call (the live journal), then compacted as capture does.
    live = tmp_path / "live.arrows"
    write_session(live, calls, flush_rows=1)
    live_size = live.stat().st_size
    compact(live)
    closed = tmp_path / "closed.arrows"
    write_session(closed, calls, flush_rows=1, compact_on_close=True)
    ratios = {
        "burst stream": burst.stat().st_size / on_its_own,
        "live stream (1 call per batch)": live_size / on_its_own,
        "compacted": live.stat().st_size / on_its_own,
        "compact_on_close": closed.stat().st_size / on_its_own,
    }
    print(f"final context {len(final_context)} B, zstd alone {on_its_own} B, ratios {ratios}")
    assert ratios["burst stream"] <= 1.5
    assert ratios["compacted"] <= 1.5
    assert ratios["compact_on_close"] <= 1.5

    # Every request and response is rebuilt exactly from the stored parts.
    for path in (burst, live, closed):
        frame = read(path, Kind.TRACE).frame
        content = content_table(frame)
        assert request_parts(frame, content) == [parts_of(body) for body, _ in calls]
        responses = frame[RESPONSE_CONTENT_ID].to_list()
        assert [content[r] for r in responses] == [canonical_json(a) for _, a in calls]
        assert frame[NEW_CONTENT].list.len().sum() == len(content)  # each part exactly once


PARTS = st.lists(st.text(max_size=30), min_size=1, max_size=12)


@given(
    calls=st.lists(st.tuples(st.lists(st.integers(0, 11), max_size=8), st.booleans()), max_size=15),
    pool=PARTS,
    flush_rows=st.integers(1, 6),
)
def test_parts_round_trip(
    calls: list[tuple[list[int], bool]],
    pool: list[str],
    flush_rows: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Any sequence of calls over any parts (repeats, redactions) reads back in order."""
    path = tmp_path_factory.mktemp("parts") / "t.arrows"
    store = ContentStore()
    expected = []
    with StreamWriter(path, Kind.TRACE, flush_rows=flush_rows) as writer:
        for index, (picks, redact) in enumerate(calls):
            texts = [pool[i % len(pool)] for i in picks]
            ids = [store.add(t, redact=redact and i == 0) for i, t in enumerate(texts)]
            expected.append(ids)
            writer.write(
                [
                    {
                        SESSION_ID: "s",
                        CALL_INDEX: index,
                        WORKLOAD: "w",
                        API: Api.OPENAI_RESPONSES,
                        ENDPOINT: "/v1/responses",
                        STREAM: False,
                        T_REQUEST_START_NS: index,
                        PARTIAL: False,
                        REQUEST_CONTENT_IDS: ids,
                        NEW_CONTENT: store.take_new(),
                    }
                ]
            )
    frame = read(path, Kind.TRACE).frame
    content = content_table(frame)
    assert set(content) == {cid for ids in expected for cid in ids}
    by_id = {content_id(t): t for t in pool}
    rebuilt = request_parts(frame, content)
    assert len(rebuilt) == len(expected)
    for ids, back in zip(expected, rebuilt, strict=True):
        # Redacted parts come back as None, the others verbatim.
        assert back == [content[cid] for cid in ids]
        assert all(t is None or t == by_id[cid] for cid, t in zip(ids, back, strict=True))
    stored = [part[CONTENT_ID] for parts in frame[NEW_CONTENT].to_list() if parts for part in parts]
    assert len(stored) == len(set(stored))  # never twice in one file

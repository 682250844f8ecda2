"""Pure parts of replay: SSE parsing, load timer, materialization, ideal cache, config."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentload.base.errors import ConfigError, FormatError
from agentload.providers.api import Api
from agentload.providers.counter import StreamError, StreamParser
from agentload.replay.config import ApiChoice, ReplayConfig
from agentload.replay.materialize import Materializer
from agentload.replay.plan import CallPlan, Plan, SessionPlan, assemble, split_cycled
from agentload.replay.schedule import admissions, for_worker, share
from agentload.replay.scrape import parse_prometheus
from agentload.replay.tracesource import rebuild_body
from agentload.traceformat.prefix_cache import expected_cached

OPENAI = (
    b'data: {"id":"x","choices":[{"index":0,"text":"He","finish_reason":null}]}\n\n'
    b'data: {"id":"x","choices":[{"index":0,"text":"","finish_reason":null}]}\n\n'
    b'data: {"id":"x","choices":[{"index":0,"delta":{"content":"llo"}}]}\n\n'
    b'data: {"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"id":"t"}]}}]}\n\n'
    b'data: {"id":"x","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3,'
    b'"prompt_tokens_details":{"cached_tokens":4}}}\n\n'
    b"data: [DONE]\n\n"
)


@given(st.lists(st.integers(min_value=1, max_value=len(OPENAI) - 1), max_size=8))
def test_openai_stream_any_split(cuts: list[int]) -> None:
    parser = StreamParser()
    bounds = [0, *sorted(set(cuts)), len(OPENAI)]
    count = sum(parser.feed(OPENAI[a:b]) for a, b in itertools.pairwise(bounds))
    assert count == 3  # empty text is not a token
    assert (parser.prompt, parser.completion, parser.cached, parser.done) == (10, 3, 4, True)


def test_spaced_json_and_crlf_take_the_slow_path() -> None:
    parser = StreamParser()
    data = b'data: {"choices": [{"delta": {"content": "a"}}]}\r\n\r\ndata: [DONE]\r\n\r\n'
    assert parser.feed(data) == 1 and parser.done


def test_anthropic_stream() -> None:
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "usage": {"input_tokens": 5, "cache_read_input_tokens": 7, "output_tokens": 1}
            },
        },
        {"type": "content_block_start", "index": 0},
        {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "a"}},
        {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "b"}},
        {"type": "message_delta", "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    ]
    raw = b"".join(
        b"event: %s\ndata: %s\n\n"
        % (e["type"].encode(), json.dumps(e, separators=(",", ":")).encode())
        for e in events
    )
    parser = StreamParser(Api.ANTHROPIC_MESSAGES)
    assert parser.feed(raw) == 2
    assert (parser.prompt, parser.cached, parser.completion, parser.done) == (12, 7, 2, True)


@pytest.mark.parametrize(
    "raw",
    [b"data: {this is not json\n\n", b'data: {"error":{"message":"boom"}}\n\n', b"hello\n\n"],
)
def test_broken_streams_raise(raw: bytes) -> None:
    with pytest.raises(StreamError):
        StreamParser().feed(raw)


def _config(tmp_path: Path, **kw: Any) -> ReplayConfig:
    config = ReplayConfig(
        source=tmp_path, target="http://127.0.0.1:1", model="m", out=tmp_path / "o"
    )
    return dataclasses.replace(config, **kw)  # validated again: __post_init__ runs


def _plan(n: int) -> Plan:
    sessions = [
        SessionPlan(f"r{i}", arrival_s=i * 0.5, calls=(CallPlan(0, 0.0, 10, 2, None, True),))
        for i in range(n)
    ]
    return assemble(sessions, block_size=16, has_hash_ids=False)


def test_recorded_arrivals_scaled_by_speed(tmp_path: Path) -> None:
    items = list(admissions(_plan(4), _config(tmp_path, speed=2.0)))
    assert [a.offset_ns for a in items] == [0, 250_000_000, 500_000_000, 750_000_000]


def test_poisson_is_seeded_and_cycles_until_duration(tmp_path: Path) -> None:
    config = _config(tmp_path, session_rate=10.0, poisson=True, duration=5.0, seed=3)
    first = [a.offset_ns for a in admissions(_plan(3), config)]
    again = [a.offset_ns for a in admissions(_plan(3), config)]
    other = [
        a.offset_ns
        for a in admissions(
            _plan(3), _config(tmp_path, session_rate=10.0, poisson=True, duration=5.0, seed=4)
        )
    ]
    assert first == again != other
    assert 25 <= len(first) <= 80 and max(first) < 5e9  # about 50 in 5 s, cycled past 3
    ids = [a.session_id for a in admissions(_plan(3), config)]
    assert ids[3] == "r0~c1" and split_cycled(ids[3]) == ("r0", 1)


@pytest.mark.parametrize(("rate", "duration"), [(500.0, 4.0), (1000.0, 4.0), (1500.0, 4.0)])
def test_constant_rate_sends_rate_times_duration(
    tmp_path: Path, rate: float, duration: float
) -> None:
    """A running sum of 1/rate used to put one session more at the end (2,001 at 500/s
    for 4 s, the last at 3.999999999 s); offsets come from the index now."""
    config = _config(tmp_path, session_rate=rate, duration=duration)
    offsets = [a.offset_ns for a in admissions(_plan(3), config)]
    assert len(offsets) == round(rate * duration)
    assert offsets[1] == round(1e9 / rate) and offsets[-1] == round((len(offsets) - 1) * 1e9 / rate)


def test_sharding_partitions_admissions(tmp_path: Path) -> None:
    config = _config(tmp_path, concurrency=4, max_sessions=40, workers=3, duration=1.0)
    every = {a.seq for a in admissions(_plan(7), config)}
    parts = [{a.seq for a in for_worker(admissions(_plan(7), config), w, 3)} for w in range(3)]
    assert set().union(*parts) == every and sum(map(len, parts)) == len(every) == 40
    assert [share(10, w, 3) for w in range(3)] == [4, 3, 3]


@given(st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=6))
def test_materialized_prefixes_follow_hash_ids(lengths: list[int]) -> None:
    mat = Materializer(ApiChoice.COMPLETIONS, "m", block_size=16)
    shared = tuple(range(1, 30))
    prompts = []
    for n in lengths:
        body = json.loads(mat.body("s", CallPlan(0, 0.0, n, 3, shared, True), shared))
        assert len(body["prompt"]) == n  # exact lengths
        assert body["max_tokens"] == body["min_tokens"] == 3 and body["ignore_eos"] is True
        prompts.append(body["prompt"])
    for a in prompts:
        for b in prompts:
            k = min(len(a), len(b))
            assert a[:k] == b[:k]  # same hash ids, same tokens


def test_different_hash_ids_differ() -> None:
    mat = Materializer(ApiChoice.COMPLETIONS, "m", block_size=16)
    a = json.loads(mat.body("s", CallPlan(0, 0.0, 16, 1, (1,), True), (1,)))["prompt"]
    b = json.loads(mat.body("s", CallPlan(0, 0.0, 16, 1, (2,), True), (2,)))["prompt"]
    assert a != b


def test_expected_cached_ideal_prefix_cache() -> None:
    calls: list[tuple[int, tuple[int, ...] | None]] = [
        (40, (1, 2, 3)),  # cold: 0
        (40, (1, 2, 9)),  # blocks 1, 2 held
        (48, (1, 2, 3)),  # aligned, fully held: the last block is recomputed -> 2 blocks
        (64, (5, 2, 3, 4)),  # first block differs: no prefix hit
        (10, None),
    ]
    assert expected_cached(calls, 16) == [0, 32, 32, 0, None]


def test_config_rejects_bad_values(tmp_path: Path) -> None:
    for kw in (
        {"speed": 0.0},
        {"session_rate": 1.0, "concurrency": 2},
        {"poisson": True},
        {"drain": False},
        {"concurrency": 1, "workers": 2},
        {"headers": (("Bad Name", "x"),)},
    ):
        with pytest.raises(ConfigError):
            _config(tmp_path, **kw)
    with pytest.raises(ConfigError, match="--target"):
        ReplayConfig(source=tmp_path, target="localhost:80", model="m", out=tmp_path)


def test_trace_body_rebuilt_with_model_and_length() -> None:
    parts: list[str | None] = [
        json.dumps({"model": "old", "max_tokens": 99}),
        json.dumps({"role": "user", "content": "hi"}),
    ]
    body = rebuild_body("openai-chat", parts, "new", "t.arrow: s call 0", 12)
    assert body["model"] == "new" and body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["max_tokens"] == body["min_tokens"] == 12 and body["stream"] is True
    with pytest.raises(FormatError, match=r"t\.arrow: s call 0"):
        rebuild_body("openai-chat", [parts[0], None], "new", "t.arrow: s call 0")


def test_prometheus_parsing_keeps_engine_gauges() -> None:
    text = (
        "# HELP x\n"
        'vllm:kv_cache_usage_perc{model_name="m"} 0.25\n'
        'vllm:num_requests_waiting{model_name="m",engine="0"} 3\n'
        "sglang:token_usage 0.5\n"
        "llamacpp:requests_processing 2\n"
        'vllm:time_to_first_token_seconds_bucket{le="0.1"} 4\n'
        "process_cpu_seconds_total 12\n"
    )
    samples = parse_prometheus(text, 7)
    names = [s["name"] for s in samples]
    assert names == [
        "vllm:kv_cache_usage_perc",
        "vllm:num_requests_waiting",
        "sglang:token_usage",
        "llamacpp:requests_processing",
    ]
    assert samples[1]["labels"] == {"model_name": "m", "engine": "0"} and samples[1]["value"] == 3.0


@given(
    st.lists(
        st.sampled_from(
            [
                b'data: {"choices":[{"text":"a"}]}\n\n',
                b'data: {"choices":[{"text":""}]}\n\n',
                b'data: {"choices":[{"delta":{"reasoning_content":"r"}}]}\n\n',
                b'data: {"choices":[{"delta":{"content":null,"tool_calls":[{"id":"t"}]}}]}\n\n',
                b'event: x\ndata: {"choices":[{"text":"b"}]}\n\n',
                b": keep-alive\n\n",
                b'data: {"choices": [{"text": "spaced"}]}\n\n',
            ]
        ),
        max_size=12,
    ),
    st.integers(min_value=1, max_value=64),
)
def test_bulk_and_per_event_paths_agree(events: list[bytes], step: int) -> None:
    stream = b"".join(events) + b'data: {"choices":[],"usage":{"completion_tokens":1}}\n\n'
    # Every event is one token except the keep-alive comment and the empty text.
    expected = sum(e != b": keep-alive\n\n" and b'""' not in e for e in events)
    whole, pieces = StreamParser(), StreamParser()
    assert whole.feed(stream) == expected
    assert sum(pieces.feed(stream[i : i + step]) for i in range(0, len(stream), step)) == expected


def test_completions_bulk_path_counts_what_the_json_path_counts() -> None:
    # A completions choice is counted by its `text` alone; before the bulk path counted the
    # chat keys too, so a `"content":"..."` field in a completions stream was a token there
    # and not on the JSON path (one read parsed differently from the same read split).
    events = [
        b'data: {"choices":[{"index":0,"text":"a"}]}\n\n',
        b'data: {"choices":[{"index":0,"text":"","content":"x"}]}\n\n',
        b'data: {"choices":[{"index":0,"text":"b","reasoning":"r"}]}\n\n',
    ]
    # the same events with spaces after the colons take the JSON path (spaced JSON)
    spaced = [e.replace(b'":', b'": ') for e in events]
    by_json = StreamParser(Api.OPENAI_COMPLETIONS).feed(b"".join(spaced))
    assert by_json == 2
    assert StreamParser(Api.OPENAI_COMPLETIONS).feed(b"".join(events)) == by_json


def test_think_scaled_then_capped(tmp_path: Path) -> None:
    config = _config(tmp_path, think_scale=2.0, max_think=0.25)
    assert [config.think_ns(t) for t in (0.0, 0.1, 0.125, 0.2, 30.0)] == [
        0,
        200_000_000,
        250_000_000,
        250_000_000,  # 0.4 s scaled, capped (capping before scaling would give 0.5 s)
        250_000_000,
    ]
    assert _config(tmp_path, think_scale=0.5).think_ns(30.0) == 15_000_000_000  # no cap
    assert _config(tmp_path, max_think=0.0).think_ns(1.0) == 0

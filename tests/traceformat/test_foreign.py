"""trie and Mooncake JSONL <-> profile: mappings, lossless round trips, line-numbered errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentload.base.errors import FormatError
from agentload.traceformat.foreign.mooncake import read_mooncake, write_mooncake
from agentload.traceformat.foreign.trie import TRIE_FIELDS, read_trie, write_trie
from agentload.traceformat.io import read, write_file
from agentload.traceformat.schema import (
    ARRIVAL_S,
    CALL_INDEX,
    EXTRA,
    HASH_IDS,
    INPUT_TOKENS,
    META_BLOCK_SIZE,
    NEW_INPUT_TOKENS,
    OUTPUT_TOKENS,
    PROFILE_SCHEMA,
    SESSION_ID,
    THINK_S,
    Kind,
)
from agentload.traceformat.sources import SourceFormat, load_profile_frame, sniff
from tests.traceformat.strategies import TEXT

REPO = Path(__file__).resolve().parents[2]
# The first 64 rows of the public agentic-coding file (a copy of shared/data/...).
SAMPLE = REPO / "tests" / "data" / "trie_agentic_coding_sample64.jsonl"


def jsonl(path: Path) -> list[Any]:
    # Split on "\n" only: JSON strings may hold U+2028 and other characters splitlines() uses.
    return [json.loads(line) for line in path.read_text().split("\n") if line.strip()]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def sample() -> Path:
    assert SAMPLE.is_file(), f"{SAMPLE} is missing"
    return SAMPLE


def test_trie_sample_round_trip(tmp_path: Path) -> None:
    original = jsonl(sample())
    frame = read_trie(sample())
    assert len(original) == 64
    assert frame[SESSION_ID].n_unique() == 64
    assert frame.height == sum(r["num_turns"] + 1 for r in original)
    assert frame.schema == pl.DataFrame(PROFILE_SCHEMA.empty_table()).schema
    # Through an Arrow profile file and back to trie: identical after JSON normalisation.
    profile = write_file(tmp_path / "p.arrow", Kind.PROFILE, frame)
    back = write_trie(read(profile, Kind.PROFILE).frame, tmp_path / "back.jsonl")
    assert jsonl(back) == original


def test_trie_mapping_of_first_sample_trace() -> None:
    first = jsonl(sample())[0]
    calls = read_trie(sample()).filter(pl.col(SESSION_ID) == pl.first(SESSION_ID))
    turns = first["num_turns"]
    assert calls[CALL_INDEX].to_list() == list(range(turns + 1))
    news = [first["input_prompt_length"]] + [
        a + t
        for a, t in zip(
            first["assistant_response_length"], first["tool_call_output_length"], strict=True
        )
    ]
    assert calls[NEW_INPUT_TOKENS].to_list() == news
    running = [sum(news[: i + 1]) for i in range(len(news))]
    assert calls[INPUT_TOKENS].to_list() == running
    assert calls[THINK_S].to_list() == [0.0, *first["tool_call_latency"]]
    outputs = [*first["assistant_response_length"], first["final_assistant_response_length"]]
    assert calls[OUTPUT_TOKENS].to_list() == outputs
    assert calls[ARRIVAL_S].to_list() == [0.0] * (turns + 1)
    assert calls[HASH_IDS].null_count() == turns + 1


COUNT = st.integers(0, 200_000)
LATENCY = st.integers(0, 10**7).map(lambda ms: ms / 1000)
UNKNOWN = st.dictionaries(
    TEXT.filter(lambda k: k not in TRIE_FIELDS),
    st.one_of(st.none(), st.integers(), TEXT, st.lists(st.integers(), max_size=3)),
    max_size=2,
)


@st.composite
def trie_record(draw: st.DrawFn) -> dict[str, Any]:
    turns = draw(st.integers(0, 6))
    record: dict[str, Any] = draw(UNKNOWN)
    record.update(
        num_turns=turns,
        input_prompt_length=draw(COUNT),
        assistant_response_length=draw(st.lists(COUNT, min_size=turns, max_size=turns)),
        tool_call_output_length=draw(st.lists(COUNT, min_size=turns, max_size=turns)),
        tool_call_latency=draw(st.lists(LATENCY, min_size=turns, max_size=turns)),
        final_assistant_response_length=draw(COUNT),
    )
    return record


@given(records=st.lists(trie_record(), min_size=1, max_size=6))
def test_trie_round_trip(
    records: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("trie")
    frame = read_trie(write_jsonl(tmp / "in.jsonl", records))
    assert frame.height == sum(r["num_turns"] + 1 for r in records)
    assert write_file(tmp / "p.arrow", Kind.PROFILE, frame)
    back = write_trie(read(tmp / "p.arrow").frame, tmp / "out.jsonl")
    assert jsonl(back) == records


MS = st.one_of(st.integers(0, 10**9), st.integers(0, 10**9).map(lambda x: x / 1000))


@st.composite
def mooncake_record(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = draw(
        st.dictionaries(st.sampled_from(["text", "extra", "priority", "x"]), TEXT, max_size=2)
    )
    # Each optional field: absent, explicit null, or a value.
    for name, value in (
        ("session_id", st.sampled_from(["a", "b", "c"])),
        ("timestamp", MS),
        ("delay", MS),
        ("hash_ids", st.lists(st.integers(0, 2**40), max_size=5)),
    ):
        choice = draw(st.sampled_from(["absent", "null", "value"]))
        if choice != "absent":
            record[name] = None if choice == "null" else draw(value)
    record["input_length"] = draw(COUNT)
    record["output_length"] = draw(COUNT)
    return record


@given(records=st.lists(mooncake_record(), min_size=1, max_size=10))
def test_mooncake_round_trip(
    records: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("mc")
    frame = read_mooncake(write_jsonl(tmp / "in.jsonl", records))
    assert frame.height == len(records)
    write_file(tmp / "p.arrow", Kind.PROFILE, frame)
    back = write_mooncake(read(tmp / "p.arrow").frame, tmp / "out.jsonl")
    assert jsonl(back) == records


def test_mooncake_plain_trace_needs_no_extra(tmp_path: Path) -> None:
    records = [
        {"timestamp": 0, "input_length": 655, "output_length": 52, "hash_ids": [0, 1]},
        {"timestamp": 105.5, "input_length": 1800, "output_length": 26, "hash_ids": [0, 3, 4, 5]},
    ]
    frame = read_mooncake(write_jsonl(tmp_path / "m.jsonl", records))
    assert frame[EXTRA].null_count() == 2  # the common case stores nothing extra
    assert frame[SESSION_ID].n_unique() == 2
    assert frame[ARRIVAL_S].to_list() == [0.0, 0.1055]
    assert frame[HASH_IDS].to_list() == [[0, 1], [0, 3, 4, 5]]


def test_mooncake_multi_turn_semantics(tmp_path: Path) -> None:
    records = [
        {"session_id": "s", "timestamp": 2000, "input_length": 300, "output_length": 40},
        {"session_id": "s", "delay": 1500, "input_length": 450, "output_length": 20},
        {"session_id": "s", "timestamp": 9000, "input_length": 100, "output_length": 5},
    ]
    frame = read_mooncake(write_jsonl(tmp_path / "m.jsonl", records))
    assert frame[CALL_INDEX].to_list() == [0, 1, 2]
    assert frame[ARRIVAL_S].to_list() == [2.0, 2.0, 2.0]
    # delay in ms -> think s; a timestamp-only turn -> gap to the previous turn's timestamp,
    # 0 here since the previous turn has none.
    assert frame[THINK_S].to_list() == [0.0, 1.5, 0.0]
    # New input is the growth of the prompt; a shrunk prompt is all new.
    assert frame[NEW_INPUT_TOKENS].to_list() == [300, 150, 100]
    assert frame[EXTRA][2] is not None  # the timestamp of turn 2 is kept for export
    assert jsonl(write_mooncake(frame, tmp_path / "o.jsonl")) == records


GOOD_TRIE = json.dumps(
    {
        "num_turns": 1,
        "input_prompt_length": 5,
        "assistant_response_length": [1],
        "tool_call_output_length": [1],
        "tool_call_latency": [0.5],
        "final_assistant_response_length": 3,
    }
)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([GOOD_TRIE, "{oops"], r"t\.jsonl:2: expected a JSON object"),
        ([GOOD_TRIE, "[1, 2]"], r"t\.jsonl:2: expected a JSON object per line"),
        (
            [
                '{"num_turns": 1, "input_prompt_length": 5, "assistant_response_length": [1, 2],'
                ' "tool_call_output_length": [1], "tool_call_latency": [0.5],'
                ' "final_assistant_response_length": 3}'
            ],
            r"t\.jsonl:1: field 'assistant_response_length': expected a list of 1 items",
        ),
        (
            [
                "",
                '{"num_turns": -1, "input_prompt_length": 5}',
            ],
            r"t\.jsonl:2: field 'num_turns': expected a non-negative integer, got -1",
        ),
    ],
)
def test_trie_malformed_lines(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match=message):
        read_trie(path)


def test_mooncake_malformed_lines(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [{"timestamp": 0, "input_length": 1, "output_length": 1}, {"timestamp": 5}],
    )
    with pytest.raises(FormatError, match=r"m\.jsonl:2: field 'input_length': expected .*nothing"):
        read_mooncake(path)
    write_jsonl(path, [{"timestamp": "soon", "input_length": 1, "output_length": 1}])
    with pytest.raises(FormatError, match=r"m\.jsonl:1: field 'timestamp': expected a non-neg"):
        read_mooncake(path)
    write_jsonl(path, [{"input_length": 1, "output_length": 1, "hash_ids": [1, "a"]}])
    with pytest.raises(FormatError, match=r"m\.jsonl:1: field 'hash_ids'"):
        read_mooncake(path)


def test_sniff_and_load_profile_frame(tmp_path: Path) -> None:
    assert sniff(sample()) is SourceFormat.TRIE
    frame, block = load_profile_frame(sample())
    assert block is None and frame.height == 878
    moon = write_jsonl(tmp_path / "m.jsonl", [{"input_length": 3, "output_length": 1}])
    assert sniff(moon) is SourceFormat.MOONCAKE
    assert load_profile_frame(moon, mooncake_block_size=64)[1] == 64
    arrow = write_file(tmp_path / "p.arrow", Kind.PROFILE, frame, None, {META_BLOCK_SIZE: b"16"})
    assert sniff(arrow) is SourceFormat.AGENTLOAD
    loaded, block = load_profile_frame(arrow)
    assert block == 16 and loaded.equals(frame)
    other = write_jsonl(tmp_path / "o.jsonl", [{"prompt": "hi"}])
    with pytest.raises(FormatError, match=r"o\.jsonl:1: unknown JSONL format"):
        load_profile_frame(other)


def test_out_of_range_counts_are_line_errors(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "m.jsonl", [{"input_length": 2**64, "output_length": 1}])
    with pytest.raises(FormatError, match=r"m\.jsonl:1: field 'input_length'"):
        read_mooncake(path)
    write_jsonl(path, [{"input_length": 1, "output_length": 1, "hash_ids": [2**63]}])
    with pytest.raises(FormatError, match=r"m\.jsonl:1: field 'hash_ids'"):
        read_mooncake(path)

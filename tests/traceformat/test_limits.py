"""The limits table at the file entries (issue 21; catalogue M2, M4, L3): profiles read or
written, trie and Mooncake imports. Every refusal names the file and the field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from agentload.base.errors import ConfigError, FormatError
from agentload.traceformat import limits
from agentload.traceformat import schema as S
from agentload.traceformat.foreign.mooncake import read_mooncake
from agentload.traceformat.foreign.trie import read_trie
from agentload.traceformat.io import read, write_file

ROW: dict[str, Any] = {
    S.SESSION_ID: "s",
    S.CALL_INDEX: 0,
    S.WORKLOAD: "w",
    S.ARRIVAL_S: 0.0,
    S.THINK_S: 0.0,
    S.INPUT_TOKENS: 10,
    S.NEW_INPUT_TOKENS: 10,
    S.OUTPUT_TOKENS: 2,
}
TRIE: dict[str, Any] = {
    "num_turns": 1,
    "input_prompt_length": 100,
    "assistant_response_length": [5],
    "tool_call_output_length": [7],
    "tool_call_latency": [0.5],
    "final_assistant_response_length": 9,
}


def _jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (S.THINK_S, math.nan),  # M2
        (S.ARRIVAL_S, math.inf),  # L3
        (S.INPUT_TOKENS, 10**12),  # M4
        (S.OUTPUT_TOKENS, -5),  # M4
    ],
)
def test_m2_m4_profile_writer_refuses_values_out_of_bounds(
    tmp_path: Path, column: str, value: float
) -> None:
    """`profile transform --time-scale inf` (L4) and every other writer go through this."""
    frame = pl.DataFrame([ROW, {**ROW, S.CALL_INDEX: 1, column: value}])
    with pytest.raises(FormatError, match=rf"p\.arrow: column '{column}' \(session 's', call 1\)"):
        write_file(tmp_path / "p.arrow", S.Kind.PROFILE, frame)
    assert not (tmp_path / "p.arrow").exists()


def test_m2_profile_reader_refuses_values_out_of_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file written by another tool (the writer's check bypassed) is refused on reading."""
    path = tmp_path / "nan.arrow"
    bad = pl.DataFrame([ROW, {**ROW, S.CALL_INDEX: 1, S.THINK_S: math.nan}])
    with monkeypatch.context() as patch:
        patch.setattr("agentload.traceformat.validate.check_profile_values", lambda *a: None)
        write_file(path, S.Kind.PROFILE, bad)
    with pytest.raises(FormatError, match=r"nan\.arrow: column 'think_s' \(session 's', call 1\)"):
        read(path, S.Kind.PROFILE)
    good = write_file(tmp_path / "ok.arrow", S.Kind.PROFILE, pl.DataFrame([ROW]))
    assert read(good).frame.height == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_prompt_length", 10**12),  # M4: MemoryError in replay
        ("input_prompt_length", 2**63 - 1),  # M4: cum_sum wrapped to negative input_tokens
        ("final_assistant_response_length", 10**12),  # H5: reached the sim through replay
        ("assistant_response_length", [limits.MAX_TOKENS + 1]),
        ("tool_call_latency", [1e300]),
    ],
)
def test_m4_trie_fields_out_of_bounds(tmp_path: Path, field: str, value: object) -> None:
    path = _jsonl(tmp_path / "t.jsonl", [TRIE, {**TRIE, field: value}])
    with pytest.raises(FormatError, match=rf"t\.jsonl:2: field '{field}': expected .*at most"):
        read_trie(path)


def test_m4_trie_cumulative_prompt_out_of_bounds(tmp_path: Path) -> None:
    """Each field in bounds, but the prompt grows past MAX_TOKENS over the turns."""
    half = limits.MAX_TOKENS // 2 + 1
    record = {**TRIE, "input_prompt_length": half, "tool_call_output_length": [half]}
    path = _jsonl(tmp_path / "t.jsonl", [record])
    with pytest.raises(FormatError, match=r"t\.jsonl: column 'input_tokens' \(session 'trie-0'"):
        read_trie(path)
    assert read_trie(_jsonl(tmp_path / "ok.jsonl", [TRIE])).height == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timestamp", 1e300),  # L3: timerfd_settime failed in replay
        ("delay", 1e300),
        ("input_length", 10**12),  # M4
        ("output_length", 10**12),
    ],
)
def test_l3_m4_mooncake_fields_out_of_bounds(tmp_path: Path, field: str, value: float) -> None:
    row = {"timestamp": 0, "input_length": 10, "output_length": 2, "session_id": "s"}
    path = _jsonl(tmp_path / "m.jsonl", [row, {**row, field: value}])
    with pytest.raises(FormatError, match=rf"m\.jsonl:2: field '{field}': expected .*at most"):
        read_mooncake(path)


@pytest.mark.parametrize("block_size", [0, limits.MAX_BLOCK_SIZE + 1])
def test_l3_mooncake_block_size(tmp_path: Path, block_size: int) -> None:
    """L3: `profile import mooncake --block-size 0` was a ValueError traceback."""
    path = _jsonl(tmp_path / "m.jsonl", [{"timestamp": 0, "input_length": 1, "output_length": 1}])
    with pytest.raises(ConfigError, match=r"^mooncake block size: expected an integer in \[1,"):
        read_mooncake(path, block_size)


def test_check_number_refuses_nan_and_inf_and_names_the_option() -> None:
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(ConfigError, match=r"^--x: expected a number in \[0, 1\], got"):
            limits.check_number("--x", value, 0, 1)
    limits.check_number("--x", 1.0, 0, 1)
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        limits.check_number("--x", 0.0, 0, 1, open_lo=True)

"""Bounds through the real CLI (issue 21; catalogue M2, M4, L3, L4, L5): exit status 2, one
line on stderr naming the option or the file and field, no traceback, no stray part file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from agentload.traceformat import schema as S
from agentload.traceformat.io import write_file
from tests.test_cli_errors import run_fails

TARGET = ("--target", "http://127.0.0.1:9", "--model", "m")  # never reached: refused first
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


def _replay_fails(tmp_path: Path, source: str, *options: str) -> str:
    out = tmp_path / "r.arrow"
    line = run_fails("replay", source, *TARGET, "--quiet", "--out", str(out), *options, status=2)
    assert not list(tmp_path.glob("r.arrow*")), "a refused run leaves no result or part file"
    return line


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--think-scale", "nan"), "--think-scale: expected a finite number"),  # M2
        (("--think-scale", "inf"), "--think-scale: expected a finite number"),  # M2
        (("--warmup", "nan"), "--warmup: expected a finite number"),  # M2
        (("--warmup", "inf"), "--warmup: expected a finite number"),  # M2
        (("--max-think", "nan"), "--max-think: expected a finite number"),  # L4
        (("--duration", "inf", "--concurrency", "2"), "--duration: expected a finite"),  # L3
        (("--speed", "1e-300"), "--speed: expected a number in [0.01, "),  # L3
        (("--session-rate", "1e-300"), "--session-rate: expected a number in [1e-06, "),  # L3
        (("--think-scale", "1e9"), "--think-scale: expected a number in [0, 100]"),
        (("--workers", "100000"), "--workers: expected an integer in [1, 1,024]"),
        (("--target", "http://127.0.0.1:99999"), "--target: port out of range"),  # L3
        (("--header", "X-A: b\r\nX-Injected: 1"), "--header: header 'X-A': value holds CR"),  # L4
        (("--session-header", "Bad Header:"), "--session-header: invalid header name"),  # L4
    ],
)
def test_l3_l4_m2_replay_options_out_of_bounds(
    tmp_path: Path, options: tuple[str, ...], expected: str
) -> None:
    line = _replay_fails(tmp_path, "agentic-coding", *options)
    assert line.startswith(f"error: {expected}"), line


def _profile(path: Path, rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A profile file as another tool might write it: the writer's own bounds check off."""
    with monkeypatch.context() as patch:
        patch.setattr("agentload.traceformat.validate.check_profile_values", lambda *a: None)
        write_file(path, S.Kind.PROFILE, pl.DataFrame(rows))
    return path


@pytest.mark.parametrize(
    ("column", "value"),
    [(S.THINK_S, math.nan), (S.ARRIVAL_S, math.inf), (S.INPUT_TOKENS, 10**12)],
)
def test_m2_m4_replay_of_a_profile_out_of_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, column: str, value: float
) -> None:
    """M2: NaN think times silently dropped calls; M4: 10^12 tokens crashed replay."""
    bad = _profile(tmp_path / "bad.arrow", [ROW, {**ROW, column: value}], monkeypatch)
    line = _replay_fails(tmp_path, str(bad), "--concurrency", "1")
    assert f"bad.arrow: column '{column}' (session 's', call 0)" in line, line


def test_l3_replay_of_a_profile_with_a_huge_block_size(tmp_path: Path) -> None:
    """L3: agentload.block_size=262144 was a ZeroDivisionError traceback."""
    path = write_file(
        tmp_path / "b.arrow",
        S.Kind.PROFILE,
        pl.DataFrame([ROW]),
        extra_metadata={S.META_BLOCK_SIZE: b"262144"},
    )
    line = _replay_fails(tmp_path, str(path), "--concurrency", "1")
    assert "b.arrow" in line and "block size" in line, line


def test_l5_replay_of_mutual_parents(tmp_path: Path) -> None:
    """L5: two sessions that are each other's parent were silently never replayed."""
    rows = [
        ROW,
        {**ROW, S.SESSION_ID: "a", S.PARENT_SESSION_ID: "b", S.PARENT_CALL_INDEX: 0},
        {**ROW, S.SESSION_ID: "b", S.PARENT_SESSION_ID: "a", S.PARENT_CALL_INDEX: 0},
    ]
    path = write_file(tmp_path / "g.arrow", S.Kind.PROFILE, pl.DataFrame(rows))
    line = _replay_fails(tmp_path, str(path), "--concurrency", "1")
    assert "g.arrow: sessions 'a' -> 'b' -> 'a' are each other's parent" in line, line


def test_l5_replay_of_a_missing_parent_call(tmp_path: Path) -> None:
    """L5: a child whose parent call (999) does not exist was silently never spawned."""
    child = {**ROW, S.SESSION_ID: "c", S.PARENT_SESSION_ID: "s", S.PARENT_CALL_INDEX: 999}
    path = write_file(tmp_path / "g.arrow", S.Kind.PROFILE, pl.DataFrame([ROW, child]))
    line = _replay_fails(tmp_path, str(path), "--concurrency", "1")
    assert "session 'c': parent session 's' has no call 999" in line, line


def _jsonl(path: Path, record: dict[str, Any]) -> Path:
    path.write_text(json.dumps(record) + "\n")
    return path


def test_l3_m4_replay_of_foreign_files_out_of_bounds(tmp_path: Path) -> None:
    """L3: a Mooncake timestamp of 1e300 (timerfd error); M4/H5: trie 10^12 token counts."""
    mooncake = _jsonl(
        tmp_path / "mc.jsonl", {"timestamp": 1e300, "input_length": 5, "output_length": 2}
    )
    line = _replay_fails(tmp_path, str(mooncake), "--speed", "1000")
    assert "mc.jsonl:1: field 'timestamp'" in line, line
    trie = {
        "num_turns": 0,
        "input_prompt_length": 10**12,
        "assistant_response_length": [],
        "tool_call_output_length": [],
        "tool_call_latency": [],
        "final_assistant_response_length": 10**12,
    }
    line = _replay_fails(tmp_path, str(_jsonl(tmp_path / "t.jsonl", trie)))
    assert "t.jsonl:1: field 'input_prompt_length'" in line, line


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--sample", "0"), "--sample: expected an integer in [1, "),  # L4: 0-session profile
        (("--time-scale", "inf"), "--time-scale: expected a number in (0, 100]"),  # L4
        (("--time-scale", "nan"), "--time-scale: expected a number in (0, 100]"),
    ],
)
def test_l4_transform_options(tmp_path: Path, options: tuple[str, ...], expected: str) -> None:
    out = tmp_path / "x.arrow"
    line = run_fails("profile", "transform", "code-qa", "--out", str(out), *options, status=2)
    assert line.startswith(f"error: {expected}"), line
    assert not out.exists()


def test_l3_import_mooncake_block_size_zero(tmp_path: Path) -> None:
    """L3: `profile import mooncake --block-size 0` was a ValueError traceback."""
    source = _jsonl(tmp_path / "m.jsonl", {"timestamp": 0, "input_length": 5, "output_length": 2})
    out = tmp_path / "x.arrow"
    args = ("profile", "import", "mooncake", str(source), "--out", str(out), "--block-size", "0")
    line = run_fails(*args, status=2)
    assert line.startswith("error: mooncake block size: expected an integer in [1, 65,536]")
    assert not out.exists()


@pytest.mark.parametrize("size", ["0", "65537", "1048576"])
def test_derive_block_size_bounded_by_the_limits_table(tmp_path: Path, size: str) -> None:
    """`profile derive --block-size` allowed up to 2^20 while replay's pools hold at most
    limits.MAX_BLOCK_SIZE tokens per block: the derived profile could not be replayed."""
    from tests.test_cli_outputs import TRIE

    out = tmp_path / "d"
    line = run_fails("profile", "derive", str(TRIE), "--out", str(out), "--block-size", size)
    assert line.startswith("error: --block-size: expected an integer in [1, 65,536]"), line
    assert not out.exists()

"""Sources replay as written: trie JSONL (no hash ids), Mooncake JSONL, a trace with a call
recorded without usage (the estimate), and a profile's usage_source."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Kind
from tests.replay.conftest import replay
from tests.replay.traces import write_trace_without_usage
from tests.replay.workloads import Shape, profile_frame
from tests.simhelper import running_sim
from tests.timing import Measured, Noise, within_noise

TRIE_GAPS_MS = (50, 80)  # the tool latencies below


def _worst_gap_error_ms(t: pl.DataFrame, noise: Noise) -> float:
    """How far each think gap is from the recorded tool latency; a late send counted beyond
    the run-queue wait of its window (tests/timing.py), an early one as it is."""
    ends, sends = t[S.T_END_NS].to_list()[:-1], t[S.T_SENT_NS].to_list()[1:]
    errors = [
        abs(noise.late_ms(end + want * 1_000_000, sent))
        for end, sent, want in zip(ends, sends, TRIE_GAPS_MS, strict=True)
    ]
    return max(errors)


def _replay_sources(tmp_path: Path, trie: Path, mooncake: Path) -> tuple[pl.DataFrame, ...]:
    tmp_path.mkdir()
    with running_sim("--preset", "fast", "--block-size", "512") as sim:
        t = replay(trie, sim.url, tmp_path / "t.arrow").frame.sort(S.CALL_INDEX)
        m = replay(mooncake, sim.url, tmp_path / "m.arrow").frame.sort(S.T_SCHEDULED_NS)
    return t, m


def test_trie_and_mooncake_sources(tmp_path: Path) -> None:
    trie = tmp_path / "t.jsonl"
    trie.write_text(
        json.dumps(
            {
                "num_turns": 2,
                "input_prompt_length": 300,
                "assistant_response_length": [5, 7],
                "tool_call_output_length": [40, 60],
                "tool_call_latency": [0.05, 0.08],
                "final_assistant_response_length": 9,
            }
        )
        + "\n"
    )
    # Two single-call sessions sharing their first 512-token block, then a third that is new.
    mooncake = tmp_path / "m.jsonl"
    rows = [
        {"timestamp": 0, "input_length": 700, "output_length": 4, "hash_ids": [11, 12]},
        {"timestamp": 150, "input_length": 600, "output_length": 6, "hash_ids": [11, 13]},
        {"timestamp": 300, "input_length": 100, "output_length": 3, "hash_ids": [14]},
    ]
    mooncake.write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs = iter(range(1, 10))
    measured = Measured(lambda: _replay_sources(tmp_path / f"run{next(runs)}", trie, mooncake))
    t, m = measured.first
    # trie: 3 calls, growing prompts as the format defines, recorded think times kept.
    assert t[S.PROMPT_TOKENS].to_list() == [300, 345, 412]
    assert t[S.COMPLETION_TOKENS].to_list() == [5, 7, 9]
    assert t[S.EXPECTED_CACHED_TOKENS].is_null().all()  # no hash ids in trie
    assert t[S.USAGE_SOURCE].is_null().all() and m[S.USAGE_SOURCE].is_null().all()
    within_noise(measured, lambda r, noise: _worst_gap_error_ms(r[0], noise), 5.0, "think gap")
    # Mooncake: arrivals in ms, 512-token blocks, cross-session sharing of block 11.
    assert m[S.PROMPT_TOKENS].to_list() == [700, 600, 100]
    assert m[S.EXPECTED_CACHED_TOKENS].to_list() == [0, 512, 0]
    assert m[S.CACHED_TOKENS].to_list() == [0, 512, 0]
    starts = (m[S.T_SCHEDULED_NS] - m[S.T_SCHEDULED_NS].min()) / 1e6
    assert starts.cast(pl.Int64).to_list() == [0, 150, 300]


def test_trace_call_without_usage_replays_with_the_estimate(tmp_path: Path) -> None:
    """NO_USAGE_CALLS by hand: offline prompts 12 + n = 20, 30, 40 tokens, outputs 10, 5, 4.
    Prompt scale median(40/20, 80/40) = 2.0, completion scale median(30/10, 12/4) = 3.0, so
    call 1 expects 30 × 2.0 = 60 input and 5 × 3.0 = 15 output tokens, forced like the
    others (the sim honours min_tokens / ignore_eos)."""
    write_trace_without_usage(tmp_path / "trace.arrow")
    with running_sim("--preset", "fast") as sim:
        result = replay(tmp_path / "trace.arrow", sim.url, tmp_path / "o.arrow")
    rows = result.frame.sort(S.CALL_INDEX)
    assert (rows[S.STATUS] == "ok").all(), rows[S.ERROR].to_list()
    assert rows[S.EXPECTED_INPUT_TOKENS].to_list() == [40, 60, 80]
    assert rows[S.EXPECTED_OUTPUT_TOKENS].to_list() == [30, 15, 12]
    assert rows[S.USAGE_SOURCE].to_list() == ["provider", "estimate", "provider"]
    assert rows[S.COMPLETION_TOKENS].to_list() == rows[S.EXPECTED_OUTPUT_TOKENS].to_list()


def test_profile_usage_source_reaches_the_result_rows(tmp_path: Path) -> None:
    frame = profile_frame(Shape(sessions=2, calls=2, child=False))
    sources = ["provider", "estimate", None, "provider"]
    frame = frame.with_columns(pl.Series(S.USAGE_SOURCE, sources, dtype=pl.String))
    io.write_file(tmp_path / "p.arrow", Kind.PROFILE, frame)
    with running_sim("--preset", "fast") as sim:
        result = replay(tmp_path / "p.arrow", sim.url, tmp_path / "o.arrow")
    key = [S.SESSION_ID, S.CALL_INDEX]
    got = result.frame.select(*key, S.USAGE_SOURCE).sort(key)
    assert got.equals(frame.select(*key, S.USAGE_SOURCE).sort(key))

"""The ideal prefix-cache hit has one definition (traceformat.prefix_cache): `inspect` and
`profile stats` print the same figure for a file, and Mooncake rows sharing a timestamp
keep their file order (in the hit's order and in replay's send order)."""

from __future__ import annotations

import json
from pathlib import Path

from agentload.profiles import workload_stats
from agentload.replay.plan import plan_from_profile
from agentload.traceformat.file_overview import summarize
from agentload.traceformat.foreign.mooncake import read_mooncake
from agentload.traceformat.prefix_cache import expected_cached, ideal_hit, profile_order


def _mooncake(tmp_path: Path) -> Path:
    # Sessions -1, -10, -2 arrive together; string order would put -10 before -2. -2 shares
    # two leading blocks with -1, -10 shares one: file order decides which blocks are new.
    rows = [
        {"timestamp": 0, "session_id": "-1", "input_length": 64, "output_length": 4,
         "hash_ids": [1, 2]},
        {"timestamp": 0, "session_id": "-10", "input_length": 96, "output_length": 4,
         "hash_ids": [1, 3, 4]},
        {"timestamp": 0, "session_id": "-2", "input_length": 100, "output_length": 4,
         "hash_ids": [1, 3, 5, 6]},
        {"timestamp": 5, "input_length": 40, "output_length": 1, "hash_ids": [7, 8]},
    ]  # fmt: skip
    path = tmp_path / "ties.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_equal_timestamps_keep_file_order_in_replay_and_in_the_hit(tmp_path: Path) -> None:
    frame = read_mooncake(_mooncake(tmp_path), block_size=32)
    plan = plan_from_profile(frame, 32)
    assert [s.session_id for s in plan.roots] == ["-1", "-10", "-2", "mooncake-4"]
    assert profile_order(frame)["session_id"].to_list() == ["-1", "-10", "-2", "mooncake-4"]
    # -1: nothing held; -10: block 1; -2: blocks 1 and 3 (held since -10); the last: none.
    assert expected_cached([(64, [1, 2]), (96, [1, 3, 4]), (100, [1, 3, 5, 6])], 32) == [
        0,
        32,
        64,
    ]
    assert ideal_hit(frame, 32) == (32 + 64) / (64 + 96 + 100 + 40)


def test_inspect_and_profile_stats_print_the_same_hit(tmp_path: Path) -> None:
    path = _mooncake(tmp_path)
    frame = read_mooncake(path, block_size=32)
    want = f"{100 * (32 + 64) / 300:.1f}%"
    summary = summarize(path, mooncake_block_size=32)
    assert summary.facts["ideal prefix-cache hit (hash_ids)"] == want
    stats = workload_stats.compute(frame, 32)
    assert stats.hash_cache_hit is not None and f"{100 * stats.hash_cache_hit:.1f}%" == want


def test_sessions_of_several_calls_stay_whole_in_file_order(tmp_path: Path) -> None:
    rows = [
        {"timestamp": 0, "session_id": s, "input_length": 64 * (k + 1), "output_length": 1,
         "hash_ids": [hash(s) % 1000 + 10 * j for j in range(k + 1)]}
        for k in range(3) for s in ("b", "a")
    ]  # fmt: skip
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    frame = read_mooncake(path, block_size=64)
    ordered = profile_order(frame)
    assert ordered["session_id"].to_list() == ["b"] * 3 + ["a"] * 3
    assert ordered["call_index"].to_list() == [0, 1, 2] * 2
    plan = plan_from_profile(frame, 64)
    assert [(r.session_id, len(r.calls)) for r in plan.roots] == [("b", 3), ("a", 3)]

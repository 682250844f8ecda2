"""The stitching benchmark's small version (issue 16): ten agents at once, every case of
benchmarks/stitch_traffic.py (shared system prompt, twins, subagents, handoffs, an agent
ending on a tool call, streams without usage, colliding tool-call ids), through a real
capture proxy against the sim; the recorded and the offline sessions against the truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.bench_stitch import measure


@pytest.mark.parametrize("session_ids", [True, False], ids=["session-ids", "no-session-ids"])
def test_ten_agents_are_stitched_as_they_ran(tmp_path: Path, session_ids: bool) -> None:
    result = measure(10, session_ids, "deterministic", tmp_path)
    for how in ("online", "offline"):
        score = result[how]
        assert score["sessions"] == 12 and score["calls"] == 44  # 2 subagents; 10 agents
        assert score["ambiguous_calls"] == 2  # the twins' first calls
        assert score["f1"] >= 0.99, (how, score)
        assert score["parent_accuracy"] >= 0.99, (how, score)

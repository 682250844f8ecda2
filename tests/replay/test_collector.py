"""The run holds Python's full collections off the schedule (replay/collector.py)."""

from __future__ import annotations

import gc

from agentload.replay.collector import collector_out_of_the_way


def _full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


def test_no_full_collection_while_a_run_builds_long_lived_state() -> None:
    before = gc.get_threshold()
    kept: list[dict[str, list[int]]] = []
    with collector_out_of_the_way():
        assert gc.get_freeze_count() > 0  # what existed before the run is out of reach
        full, young = _full_collections(), gc.get_stats()[0]["collections"]
        # 300k tracked objects that outlive the young generations, as 10,000 sessions'
        # state does: with Python's thresholds this triggers full collections.
        kept.extend({"a": [i]} for i in range(150_000))
        assert _full_collections() == full
        # Young generations still run, so short cycles are freed during the run.
        assert gc.get_stats()[0]["collections"] > young
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_same_state_without_it_does_trigger_full_collections() -> None:
    """The check above can fail: Python's defaults collect in full for this much state."""
    gc.collect()
    full = _full_collections()
    kept = [{"a": [i]} for i in range(150_000)]
    assert _full_collections() > full, len(kept)

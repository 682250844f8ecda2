"""Foreign sources replay as written: trie JSONL (no hash ids) and Mooncake JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from tests.replay.conftest import replay
from tests.simhelper import running_sim
from traceformat import schema as S


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
    with running_sim("--preset", "fast", "--block-size", "512") as sim:
        t = replay(trie, sim.url, tmp_path / "t.arrow").frame.sort(S.CALL_INDEX)
        m = replay(mooncake, sim.url, tmp_path / "m.arrow").frame.sort(S.T_SCHEDULED_NS)
    # trie: 3 calls, growing prompts as the format defines, recorded think times kept.
    assert t[S.PROMPT_TOKENS].to_list() == [300, 345, 412]
    assert t[S.COMPLETION_TOKENS].to_list() == [5, 7, 9]
    assert t[S.EXPECTED_CACHED_TOKENS].is_null().all()  # no hash ids in trie
    gaps = (t[S.T_SENT_NS] - t[S.T_END_NS].shift(1)).drop_nulls() / 1e6
    assert all(abs(g - want) <= 5 for g, want in zip(gaps, [50, 80], strict=True)), gaps
    # Mooncake: arrivals in ms, 512-token blocks, cross-session sharing of block 11.
    assert m[S.PROMPT_TOKENS].to_list() == [700, 600, 100]
    assert m[S.EXPECTED_CACHED_TOKENS].to_list() == [0, 512, 0]
    assert m[S.CACHED_TOKENS].to_list() == [0, 512, 0]
    starts = (m[S.T_SCHEDULED_NS] - m[S.T_SCHEDULED_NS].min()) / 1e6
    assert starts.cast(pl.Int64).to_list() == [0, 150, 300]

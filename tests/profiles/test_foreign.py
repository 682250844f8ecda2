"""Foreign formats through the CLI: trie sample round trip, Mooncake round trip."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from agentload.traceformat import schema as s
from agentload.traceformat.io import read
from tests.profiles.conftest import run_cli


def test_trie_sample_to_profile_to_trie_is_identical(trie_sample: Path, tmp_path: Path) -> None:
    profile, back = tmp_path / "sample.arrow", tmp_path / "back.jsonl"
    run_cli("profile", "import", "trie", str(trie_sample), "--out", str(profile))
    frame = read(profile, s.Kind.PROFILE).frame
    assert frame[s.SESSION_ID].n_unique() == 64
    run_cli("profile", "export", "trie", str(profile), "--out", str(back))
    assert back.read_bytes() == trie_sample.read_bytes()


def test_mooncake_export_import_keeps_tokens_and_hash_ids(tmp_path: Path) -> None:
    small, jsonl, again = tmp_path / "small.arrow", tmp_path / "m.jsonl", tmp_path / "m.arrow"
    run_cli(
        "profile",
        "transform",
        "code-qa",
        "--out",
        str(small),
        "--sample",
        "12",
        "--seed",
        "5",
        "--max-turns",
        "30",
    )
    run_cli("profile", "export", "mooncake", str(small), "--out", str(jsonl))
    run_cli("profile", "import", "mooncake", str(jsonl), "--out", str(again), "--block-size", "64")
    cols = [s.INPUT_TOKENS, s.OUTPUT_TOKENS, s.HASH_IDS]
    before = read(small, s.Kind.PROFILE).frame.sort(s.ARRIVAL_S, s.SESSION_ID, s.CALL_INDEX)
    after = read(again, s.Kind.PROFILE)
    assert after.metadata[s.META_BLOCK_SIZE.decode()] == "64"
    assert (
        after.frame.sort(s.ARRIVAL_S, s.SESSION_ID, s.CALL_INDEX)
        .select(cols)
        .equals(before.select(cols))
    )
    assert before.height == after.frame.height > 12
    assert before.select(pl.col(s.SESSION_ID).n_unique()).item() == 12

"""Built-in profiles: agentic-coding is the published file (exported back byte for byte, and
it matches the reference table); structure, id spaces and seeded regeneration of the two
generated ones."""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
from pathlib import Path

import polars as pl
import pytest

from agentload.base.errors import ConfigError
from agentload.profiles import builtin, generate, published
from agentload.traceformat import schema as s
from agentload.traceformat.foreign.convert import export_file
from agentload.traceformat.io import Loaded, read
from tests.profiles.measure import measure
from tests.values import dig, integer

# ARCHITECTURE.md, "Reference statistics", agentic-coding: (mean, p50, p90).
REFERENCE = {
    "tool turns": (20.2, 13, 46),
    "starting prompt tokens": (6584, 6448, 7114),
    "assistant tokens per tool turn": (220, 112, 542),
    "tool output tokens per turn": (647, 162, 1195),
    "tool latency per turn (s)": (1.7, 0.4, 2.4),
    "final answer tokens": (445, 416, 688),
}


NAMES = ["agentic-coding", "code-qa", "office-work"]
GENERATED = ["code-qa", "office-work"]


@functools.cache
def _loaded(name: str) -> Loaded:
    """The committed built-in file, read once per test session."""
    return read(builtin.path(name), s.Kind.PROFILE)


def test_agentic_coding_exports_the_published_file_byte_for_byte(tmp_path: Path) -> None:
    loaded = _loaded("agentic-coding")
    out = export_file("trie", loaded.frame, loaded.info, tmp_path / "back.jsonl")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == published.SHA256
    assert loaded.info["attribution"] == published.ATTRIBUTION
    assert loaded.frame[s.HASH_IDS].is_null().all()  # no invented cross-session prefix
    assert s.META_BLOCK_SIZE.decode() not in loaded.metadata


def test_agentic_coding_matches_the_reference_table() -> None:
    frame = _loaded("agentic-coding").frame
    assert frame[s.SESSION_ID].n_unique() == 8192
    for name, series in measure(frame).items():
        values = series.cast(pl.Float64).to_frame("v")
        got = values.select(
            pl.col("v").mean(),
            pl.col("v").quantile(0.5, "linear").alias("p50"),
            pl.col("v").quantile(0.9, "linear").alias("p90"),
        ).row(0)
        for label, g, want in zip(("mean", "p50", "p90"), got, REFERENCE[name], strict=True):
            assert abs(g - want) <= max(0.01 * want, 0.05), (name, label, g, want)  # table rounding
    first_latency = frame.filter(pl.col(s.CALL_INDEX) == 1)[s.THINK_S].mean()
    assert first_latency == pytest.approx(7.3, rel=0.01)  # the first tool call is slower


@pytest.mark.parametrize("name", GENERATED)
def test_builtin_structure_and_shared_prefix(name: str) -> None:
    loaded = _loaded(name)
    frame, block = loaded.frame, int(loaded.metadata[s.META_BLOCK_SIZE.decode()])
    assert loaded.version == s.VERSION  # regenerated with the current format (1.0 files: test_io)
    assert frame[s.USAGE_SOURCE].is_null().all()
    assert frame[s.SESSION_ID].n_unique() == 1024
    assert (frame[s.WORKLOAD] == name).all()
    assert frame.select(
        (pl.col(s.HASH_IDS).list.len() == (pl.col(s.INPUT_TOKENS) / block).ceil()).all()
    ).item()
    prefix_blocks = int(dig(loaded.info, "shared_prefix_tokens")) // block
    heads = frame.filter(pl.col(s.CALL_INDEX) == 0)[s.HASH_IDS].to_list()
    assert len({tuple(h[:prefix_blocks]) for h in heads}) == 1  # one shared prefix
    assert len({h[prefix_blocks] for h in heads}) == len(heads)  # then each its own task
    arrivals = frame.filter(pl.col(s.CALL_INDEX) == 0)[s.ARRIVAL_S].sort()
    rate = dig(loaded.info, "arrivals", "rate_per_s")
    assert math.isclose(1023 / arrivals[-1], rate, rel_tol=0.15)  # Poisson at the stated rate


# Distinct ids of each workload; its ids in order of first use were exactly 1..N before each
# workload got its own id space, so "namespace + 1..N in order of first use" below means the
# sharing structure (shared prefix, history blocks) is unchanged, only shifted.
DISTINCT_IDS = {"code-qa": 228_511, "office-work": 736_927}


def test_workloads_have_disjoint_id_spaces_and_unchanged_sharing() -> None:
    seen: dict[str, set[int]] = {}
    for name in GENERATED:
        loaded = _loaded(name)
        namespace = generate.id_namespace(name)
        assert loaded.info["hash_id_namespace"] == namespace
        ids = loaded.frame.select(pl.col(s.HASH_IDS).explode().unique(maintain_order=True))
        assert ids.height == DISTINCT_IDS[name]
        assert (
            integer(ids[s.HASH_IDS].min()) > 2**32
        )  # positive (Mooncake export), not small integers
        local = ids[s.HASH_IDS] - namespace
        assert local.equals(pl.int_range(1, ids.height + 1, eager=True), check_names=False)
        seen[name] = set(ids[s.HASH_IDS].to_list())
    for a, b in itertools.combinations(GENERATED, 2):
        assert seen[a].isdisjoint(seen[b]), (a, b)  # no false cross-workload prefix hits


@pytest.mark.slow
@pytest.mark.parametrize("name", GENERATED)
def test_committed_file_is_what_the_seeded_generator_makes(name: str) -> None:
    committed = _loaded(name)
    fresh = generate.build(name)
    assert sorted(fresh.columns) == sorted(committed.frame.columns)
    assert fresh.select(committed.frame.columns).equals(committed.frame)
    assert committed.info == generate.info_for(name)
    assert committed.metadata[s.META_BLOCK_SIZE.decode()] == str(generate.BLOCK_SIZE)


def test_unknown_builtin_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown built-in profile 'nope'.*agentic-coding"):
        builtin.path("nope")

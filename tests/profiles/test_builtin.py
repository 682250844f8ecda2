"""Built-in profiles: agentic-coding matches the reference table; structure of all three."""

from __future__ import annotations

import math

import polars as pl
import pytest

from profiles import builtin, generate
from traceformat import schema as s
from traceformat.errors import ConfigError
from traceformat.io import read

# ARCHITECTURE.md, "Reference statistics", agentic-coding: (mean, p50, p90).
REFERENCE = {
    "tool turns": (20.2, 13, 46),
    "starting prompt tokens": (6584, 6448, 7114),
    "assistant tokens per tool turn": (220, 112, 542),
    "tool output tokens per turn": (647, 162, 1195),
    "tool latency per turn (s)": (1.7, 0.4, 2.4),
    "final answer tokens": (445, 416, 688),
}


def _measure(frame: pl.DataFrame) -> dict[str, pl.Series]:
    calls = frame.sort(s.SESSION_ID, s.CALL_INDEX).with_columns(
        n=pl.len().over(s.SESSION_ID),
        prev_out=pl.col(s.OUTPUT_TOKENS).shift(1).over(s.SESSION_ID),
    )
    last = pl.col(s.CALL_INDEX) == pl.col("n") - 1
    first = calls.filter(pl.col(s.CALL_INDEX) == 0)
    later = calls.filter(pl.col(s.CALL_INDEX) > 0)
    return {
        "tool turns": first["n"] - 1,
        "starting prompt tokens": first[s.INPUT_TOKENS],
        "assistant tokens per tool turn": calls.filter(~last)[s.OUTPUT_TOKENS],
        "tool output tokens per turn": later[s.NEW_INPUT_TOKENS] - later["prev_out"],
        "tool latency per turn (s)": later[s.THINK_S],
        "final answer tokens": calls.filter(last)[s.OUTPUT_TOKENS],
    }


def test_agentic_coding_within_ten_percent_of_the_reference_table() -> None:
    frame = read(builtin.path("agentic-coding"), s.Kind.PROFILE).frame
    assert frame[s.SESSION_ID].n_unique() == 1024
    for name, series in _measure(frame).items():
        values = series.cast(pl.Float64).to_frame("v")
        got = values.select(
            pl.col("v").mean(),
            pl.col("v").quantile(0.5, "linear").alias("p50"),
            pl.col("v").quantile(0.9, "linear").alias("p90"),
        ).row(0)
        for label, g, want in zip(("mean", "p50", "p90"), got, REFERENCE[name], strict=True):
            assert abs(g - want) <= 0.10 * want, (name, label, g, want)
    first_latency = frame.filter(pl.col(s.CALL_INDEX) == 1)[s.THINK_S].mean()
    assert first_latency == pytest.approx(7.3, rel=0.10)  # the first tool call is slower


@pytest.mark.parametrize("name", ["agentic-coding", "code-qa", "office-work"])
def test_builtin_structure_and_shared_prefix(name: str) -> None:
    loaded = read(builtin.path(name), s.Kind.PROFILE)
    frame, block = loaded.frame, int(loaded.metadata[s.META_BLOCK_SIZE.decode()])
    assert frame[s.SESSION_ID].n_unique() == 1024
    assert (frame[s.WORKLOAD] == name).all()
    assert frame.select(
        (pl.col(s.HASH_IDS).list.len() == (pl.col(s.INPUT_TOKENS) / block).ceil()).all()
    ).item()
    prefix_blocks = int(loaded.info["shared_prefix_tokens"]) // block  # type: ignore[call-overload]
    heads = frame.filter(pl.col(s.CALL_INDEX) == 0)[s.HASH_IDS].to_list()
    assert len({tuple(h[:prefix_blocks]) for h in heads}) == 1  # one shared prefix
    assert len({h[prefix_blocks] for h in heads}) == len(heads)  # then each its own task
    arrivals = frame.filter(pl.col(s.CALL_INDEX) == 0)[s.ARRIVAL_S].sort()
    rate = loaded.info["arrivals"]["rate_per_s"]  # type: ignore[index]
    assert math.isclose(1023 / arrivals[-1], rate, rel_tol=0.15)  # Poisson at the stated rate


@pytest.mark.slow
def test_committed_file_is_what_the_seeded_generator_makes() -> None:
    committed = read(builtin.path("agentic-coding"), s.Kind.PROFILE).frame
    fresh = generate.build("agentic-coding").select(committed.columns)
    assert fresh.equals(committed)


def test_unknown_builtin_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown built-in profile 'nope'.*agentic-coding"):
        builtin.path("nope")

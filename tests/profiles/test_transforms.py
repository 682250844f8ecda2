"""Transforms: seeded sampling, filters, context cap, time scale; children follow roots."""

from __future__ import annotations

import polars as pl
import pytest

from agentload.base.errors import ConfigError
from agentload.profiles import builtin
from agentload.profiles.transforms import TransformConfig, apply
from agentload.traceformat import schema as s
from agentload.traceformat.io import read
from tests.values import integer


@pytest.fixture(scope="module")
def base() -> pl.DataFrame:
    frame = read(builtin.path("code-qa"), s.Kind.PROFILE).frame
    roots = frame[s.SESSION_ID].unique(maintain_order=True).to_list()[:40]
    frame = frame.filter(pl.col(s.SESSION_ID).is_in(roots))
    # make session 1 a child of session 0 (spawned by its call 1), session 2 a grandchild
    parents = {roots[1]: (roots[0], 1), roots[2]: (roots[1], 0)}
    return frame.with_columns(
        pl.col(s.SESSION_ID)
        .replace_strict({k: v[0] for k, v in parents.items()}, default=None)
        .alias(s.PARENT_SESSION_ID),
        pl.col(s.SESSION_ID)
        .replace_strict({k: v[1] for k, v in parents.items()}, default=None)
        .cast(pl.Int32)
        .alias(s.PARENT_CALL_INDEX),
    )


def _sessions(frame: pl.DataFrame) -> set[str]:
    return set(frame[s.SESSION_ID].to_list())


def _children_have_parents(frame: pl.DataFrame) -> bool:
    parents = frame[s.PARENT_SESSION_ID].drop_nulls().unique().to_list()
    return set(parents) <= _sessions(frame)


def test_sample_is_seeded_and_keeps_children_with_their_root(base: pl.DataFrame) -> None:
    a = apply(base, TransformConfig(sample=10, seed=1))
    assert apply(base, TransformConfig(sample=10, seed=1)).equals(a)
    assert _sessions(apply(base, TransformConfig(sample=10, seed=2))) != _sessions(a)
    assert a.filter(pl.col(s.PARENT_SESSION_ID).is_null())[s.SESSION_ID].n_unique() == 10
    assert _children_have_parents(a)
    whole = {r for r in _sessions(base)}
    picks = [_sessions(apply(base, TransformConfig(sample=5, seed=k))) for k in range(30)]
    family = {base[s.SESSION_ID].unique(maintain_order=True)[i] for i in range(3)}
    for chosen in picks:
        assert chosen <= whole
        assert not (chosen & family) or family <= chosen  # all of the family or none


def test_turn_and_context_filters(base: pl.DataFrame) -> None:
    turns = base.group_by(s.SESSION_ID).agg((pl.len() - 1).alias("t"))
    out = apply(base, TransformConfig(min_turns=5, max_turns=20))
    roots = out.filter(pl.col(s.PARENT_SESSION_ID).is_null())
    kept = turns.filter(pl.col(s.SESSION_ID).is_in(roots[s.SESSION_ID].implode()))
    assert kept["t"].is_between(5, 20).all()
    assert (
        roots[s.SESSION_ID].n_unique()
        == turns.filter(
            pl.col("t").is_between(5, 20)
            & pl.col(s.SESSION_ID).is_in(
                base.filter(pl.col(s.PARENT_SESSION_ID).is_null())[s.SESSION_ID].implode()
            )
        ).height
    )
    assert _children_have_parents(out)
    limit = 20_000
    small = apply(base, TransformConfig(max_context=limit))
    assert integer(small[s.INPUT_TOKENS].max()) <= limit
    assert small.height < base.height and _children_have_parents(small)


def test_cap_context_truncates_sessions_and_drops_orphans(base: pl.DataFrame) -> None:
    limit = 6000
    out = apply(base, TransformConfig(cap_context=limit))
    assert integer(out[s.INPUT_TOKENS].max()) <= limit
    # sessions end early but keep contiguous calls from 0
    per = out.group_by(s.SESSION_ID).agg(pl.col(s.CALL_INDEX).max() + 1 == pl.len())
    assert per[s.CALL_INDEX].all()
    assert _sessions(out) == {
        sid
        for sid in _sessions(base)
        if base.filter((pl.col(s.SESSION_ID) == sid) & (pl.col(s.CALL_INDEX) == 0))[
            s.INPUT_TOKENS
        ].item()
        <= limit
    } - _orphaned(base, out)
    assert _children_have_parents(out)


def _orphaned(base: pl.DataFrame, out: pl.DataFrame) -> set[str]:
    """Children whose spawning call was cut (and their descendants)."""
    calls = set(zip(out[s.SESSION_ID], out[s.CALL_INDEX], strict=True))
    gone: set[str] = set()
    for sid, parent, idx in (
        base.select(s.SESSION_ID, s.PARENT_SESSION_ID, s.PARENT_CALL_INDEX).unique().iter_rows()
    ):
        if parent is not None and ((parent, idx) not in calls or parent in gone):
            gone.add(sid)
    return gone


def test_time_scale(base: pl.DataFrame) -> None:
    out = apply(base, TransformConfig(time_scale=0.5)).sort(s.SESSION_ID, s.CALL_INDEX)
    ref = base.sort(s.SESSION_ID, s.CALL_INDEX)
    assert out[s.THINK_S].to_list() == pytest.approx((ref[s.THINK_S] * 0.5).to_list())
    assert out[s.ARRIVAL_S].to_list() == pytest.approx((ref[s.ARRIVAL_S] * 0.5).to_list())


def test_invalid_options() -> None:
    with pytest.raises(ConfigError, match="--time-scale"):
        TransformConfig(time_scale=0)
    with pytest.raises(ConfigError, match="--min-turns"):
        TransformConfig(min_turns=9, max_turns=2)


def test_shared_prefix_tokens_gives_every_session_one_system_prompt() -> None:
    from agentload.profiles.load import load as load_profile
    from agentload.profiles.transforms import add_shared_prefix
    from agentload.traceformat.prefix_cache import ideal_hit

    source = load_profile("agentic-coding").frame.head(2000)  # ~100 sessions, no hash_ids
    out, block = add_shared_prefix(source, 1024, None)
    assert block == 64
    assert (out[s.INPUT_TOKENS] - source[s.INPUT_TOKENS] == 1024).all()
    first = out[s.CALL_INDEX] == 0
    assert (
        out.filter(first)[s.NEW_INPUT_TOKENS] == source.filter(first)[s.NEW_INPUT_TOKENS] + 1024
    ).all()
    heads = {tuple(ids[:16]) for ids in out[s.HASH_IDS].to_list()}
    assert len(heads) == 1  # one prefix for every call of every session
    seventeenth = out.filter(first)[s.HASH_IDS].list.get(16)
    assert seventeenth.n_unique() == seventeenth.len()  # then each session its own blocks
    assert (out[s.HASH_IDS].list.len() == (out[s.INPUT_TOKENS] / 64).ceil()).all()
    hit = ideal_hit(out, 64)
    assert hit is not None and hit > ideal_hit(add_shared_prefix(source, 0, None)[0], 64)  # type: ignore[operator]
    again, _ = add_shared_prefix(out, 128, 64)  # a profile with hash_ids: ids prepended
    assert (again[s.HASH_IDS].list.len() == out[s.HASH_IDS].list.len() + 2).all()
    with pytest.raises(ConfigError, match="multiple of the block size 64"):
        add_shared_prefix(source, 100, None)

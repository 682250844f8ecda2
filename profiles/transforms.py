"""Profile transforms: filter, sample, cap and rescale sessions (pure polars functions).

A child session (subagent) lives and dies with its root session: filters and sampling pick
root sessions, and every descendant of a dropped root is dropped with it. A call removed by
`cap_context` also removes the child sessions it spawned.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import polars as pl

from agentload.base.errors import ConfigError
from agentload.profiles.generate import id_namespace
from agentload.profiles.synthesize import BlockChain
from agentload.traceformat import limits
from agentload.traceformat import schema as s

_ROOT = "_root"


@dataclass(frozen=True)
class TransformConfig:
    sample: int | None = None
    seed: int = 0
    min_turns: int | None = None
    max_turns: int | None = None
    max_context: int | None = None  # drop sessions with any prompt above this
    cap_context: int | None = None  # end sessions before their first prompt above this
    time_scale: float = 1.0
    shared_prefix_tokens: int | None = None  # a system prompt every session starts with

    def __post_init__(self) -> None:
        names = ("sample", "min_turns", "max_turns", "max_context", "cap_context")
        for name in (*names, "shared_prefix_tokens"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"--{name.replace('_', '-')}: must be >= 0, got {value}")
        if self.sample is not None:  # --sample 0 would write a profile of no sessions
            limits.check_count("--sample", self.sample, 1, limits.MAX_SESSIONS)
        limits.check_number("--time-scale", self.time_scale, 0, limits.MAX_SCALE, open_lo=True)
        if (
            self.min_turns is not None
            and self.max_turns is not None
            and self.min_turns > self.max_turns
        ):
            raise ConfigError("--min-turns: must not exceed --max-turns")

    def describe(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def with_roots(profile: pl.DataFrame) -> pl.DataFrame:
    """Adds the root-session id of every row (following parent links to the top)."""
    parent_of = dict(
        profile.select(s.SESSION_ID, s.PARENT_SESSION_ID).unique(s.SESSION_ID).iter_rows()
    )
    roots: dict[str, str] = {}
    for sid in parent_of:
        seen: list[str] = []
        cur = sid
        while parent_of.get(cur) is not None and cur not in seen and parent_of[cur] in parent_of:
            seen.append(cur)
            cur = parent_of[cur]
        roots[sid] = cur
    return profile.with_columns(pl.col(s.SESSION_ID).replace_strict(roots).alias(_ROOT))


def _keep_roots(profile: pl.DataFrame, roots: pl.Series | list[str]) -> pl.DataFrame:
    wanted = pl.Series(_ROOT, list(roots), dtype=pl.String)
    return profile.filter(pl.col(_ROOT).is_in(wanted.implode()))


def cap_context(profile: pl.DataFrame, limit: int) -> pl.DataFrame:
    """Ends every session before its first call whose prompt exceeds `limit`."""
    over = (pl.col(s.INPUT_TOKENS) > limit).cum_sum().over(s.SESSION_ID)
    kept = profile.sort(s.SESSION_ID, s.CALL_INDEX).filter(over == 0)
    # children whose spawning call is gone go too (and, through _ROOT-free check, theirs)
    while True:
        calls = kept.select(
            pl.col(s.SESSION_ID).alias(s.PARENT_SESSION_ID),
            pl.col(s.CALL_INDEX).alias(s.PARENT_CALL_INDEX),
            pl.lit(True).alias("_alive"),
        )
        marked = kept.join(calls, on=[s.PARENT_SESSION_ID, s.PARENT_CALL_INDEX], how="left")
        orphan = pl.col(s.PARENT_SESSION_ID).is_not_null() & pl.col("_alive").is_null()
        nxt = marked.filter(~orphan.any().over(s.SESSION_ID)).drop("_alive")
        if nxt.height == kept.height:
            return nxt
        kept = nxt


def apply(profile: pl.DataFrame, config: TransformConfig) -> pl.DataFrame:
    out = with_roots(profile)
    if config.cap_context is not None:
        out = cap_context(out, config.cap_context)
    turns = (
        out.filter(pl.col(s.SESSION_ID) == pl.col(_ROOT))
        .group_by(_ROOT)
        .agg((pl.len() - 1).alias("turns"))
    )
    roots = turns
    if config.min_turns is not None:
        roots = roots.filter(pl.col("turns") >= config.min_turns)
    if config.max_turns is not None:
        roots = roots.filter(pl.col("turns") <= config.max_turns)
    out = _keep_roots(out, roots[_ROOT])
    if config.max_context is not None:
        too_long = out.filter(pl.col(s.INPUT_TOKENS) > config.max_context)[_ROOT].unique()
        out = out.filter(~pl.col(_ROOT).is_in(too_long.implode()))
    if config.sample is not None:
        candidates = sorted(out[_ROOT].unique().to_list())
        rng = random.Random(config.seed)
        chosen = rng.sample(candidates, min(config.sample, len(candidates)))
        out = _keep_roots(out, chosen)
    if config.time_scale != 1.0:
        out = out.with_columns(
            pl.col(s.ARRIVAL_S) * config.time_scale, pl.col(s.THINK_S) * config.time_scale
        )
    return out.drop(_ROOT).sort(s.ARRIVAL_S, s.SESSION_ID, s.CALL_INDEX)


DEFAULT_BLOCK = 64  # block size given to a profile without hash_ids (trie, the built-in)


def add_shared_prefix(
    profile: pl.DataFrame, tokens: int, block_size: int | None
) -> tuple[pl.DataFrame, int]:
    """Every session starts with the same `tokens`-token system prompt (whole blocks of
    ids shared by all); returns the profile and its block size. A profile without hash_ids
    gets them (blocks of DEFAULT_BLOCK tokens, each session's own after the prefix, its
    history keeping its ids), so that replay shares the prefix across sessions."""
    block = block_size or DEFAULT_BLOCK
    if tokens % block:
        raise ConfigError(f"--shared-prefix-tokens: must be a multiple of the block size {block}")
    namespace = id_namespace(f"shared prefix {tokens}")
    prefix = [namespace + k for k in range(1, tokens // block + 1)]
    first = pl.col(s.CALL_INDEX) == pl.col(s.CALL_INDEX).min().over(s.SESSION_ID)
    out = profile.with_columns(
        pl.col(s.INPUT_TOKENS) + tokens,
        pl.when(first).then(pl.col(s.NEW_INPUT_TOKENS) + tokens).otherwise(s.NEW_INPUT_TOKENS),
    )
    if block_size is not None and out[s.HASH_IDS].null_count() < out.height:
        ids = pl.lit(pl.Series([prefix], dtype=pl.List(pl.Int64)))
        return out.with_columns(pl.concat_list(ids, pl.col(s.HASH_IDS)).alias(s.HASH_IDS)), block
    chain = BlockChain(id_namespace(f"transform blocks {tokens}"), block)
    hash_ids: list[list[int]] = []
    current = None
    for session, prompt in out.select(s.SESSION_ID, s.INPUT_TOKENS).iter_rows():
        if session != current:
            chain.start(prefix, prompt)
            current = session
        hash_ids.append(chain.ids(prompt))
    return out.with_columns(pl.Series(s.HASH_IDS, hash_ids, dtype=pl.List(pl.Int64))), block

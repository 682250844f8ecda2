"""The ideal prefix-cache hit: one definition, used by replay (a run's theoretical hit, per
call in send order), `profile stats` and `inspect` (a profile's, in profile order).

An unbounded cache holds every full block of every earlier prompt; a call hits the longest
run of its leading full blocks already held, among the blocks before its last token
(engines such as vLLM always compute that token, so a fully cached, block-aligned prompt
hits one block less). Profile order: sessions by arrival, ties in file order (a Mooncake
file's rows sharing a timestamp keep their order), then each session's calls by index.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from agentload.traceformat.schema import ARRIVAL_S, CALL_INDEX, HASH_IDS, INPUT_TOKENS, SESSION_ID

__all__ = ["expected_cached", "ideal_hit", "profile_order"]


def expected_cached(
    calls: Iterable[tuple[int, tuple[int, ...] | list[int] | None]], block_size: int
) -> list[int | None]:
    """Ideal hit in tokens per call, for `calls` as (input_tokens, hash_ids) pairs in send
    order; None hash ids give None."""
    seen: set[int] = set()
    out: list[int | None] = []
    for n_tokens, ids in calls:
        if ids is None:
            out.append(None)
            continue
        full = ids[: n_tokens // block_size]
        hit = 0
        for h in full[: max(n_tokens - 1, 0) // block_size]:
            if h not in seen:
                break
            hit += 1
        seen.update(full)
        out.append(hit * block_size)
    return out


def profile_order(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame`'s rows in profile order (module doc); a stable sort, never by session id."""
    first_row = pl.col("_row").min().over(SESSION_ID)
    numbered = frame.with_row_index("_row")
    return numbered.sort(ARRIVAL_S, first_row, CALL_INDEX, maintain_order=True).drop("_row")


def ideal_hit(frame: pl.DataFrame, block_size: int | None) -> float | None:
    """Σ ideal hit / Σ input tokens over the calls with hash_ids, in profile order; None
    when there are none (or no block size)."""
    if block_size is None or HASH_IDS not in frame.columns:
        return None
    with_ids = frame.select(ARRIVAL_S, SESSION_ID, CALL_INDEX, INPUT_TOKENS, HASH_IDS)
    ordered = profile_order(with_ids).filter(pl.col(HASH_IDS).is_not_null())
    if ordered.is_empty():
        return None
    tokens = ordered[INPUT_TOKENS].to_list()
    hits = expected_cached(zip(tokens, ordered[HASH_IDS].to_list(), strict=True), block_size)
    total = sum(tokens)
    return sum(h or 0 for h in hits) / total if total else None

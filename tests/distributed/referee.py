"""What a multi-node replay is judged by: the sim's timing log and the actors' Ray nodes.

Shared by tests/distributed/test_ray_two_nodes.py and `benchmarks.bench_ray --nodes 2`.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from agentload.simengine import timinglog as T
from agentload.traceformat import schema as S
from agentload.traceformat.io import Loaded

__all__ = ["actors", "rows_per_node", "sim_gaps", "think_gap_errors_ms"]


def actors(loaded: Loaded) -> list[dict[str, Any]]:
    """META_DIAGNOSTICS `ray.actors`: per actor its worker, status, rows, node id, clock."""
    diagnostics = json.loads(loaded.metadata[S.META_DIAGNOSTICS.decode()])
    found: list[dict[str, Any]] = diagnostics["ray"]["actors"]
    return found


def rows_per_node(loaded: Loaded) -> dict[str, int]:
    """Rows by Ray node id. The rows' NODE column is the hostname, which nodes sharing a
    machine share; a row's WORKER names its actor, and the actor's record its node."""
    node_of = {a["worker"]: a["node_id"] for a in actors(loaded)}
    counts: dict[str, int] = {}
    for worker, n in loaded.frame.group_by(S.WORKER).len().iter_rows():
        counts[node_of[worker]] = counts.get(node_of[worker], 0) + n
    return counts


def sim_gaps(frame: pl.DataFrame, profile: pl.DataFrame, sim_log: pl.DataFrame) -> pl.DataFrame:
    """Per call after a session's first: `due`, the client's end of the previous call (the
    merged file's driver clock) + its think time, and `arrived`, when the sim saw the call
    (the referee of when it really went out). The sim's own end stamp is no bound on the
    client's: it is taken after the last bytes are written (up to 13 ms after the client's
    on a busy host). The k-th arrival of a session in the sim's log is its call k."""
    sim = sim_log.sort(T.ARRIVAL_NS).with_columns(
        pl.int_range(pl.len()).over(T.SESSION_ID).cast(pl.Int32).alias("k")
    )
    client = frame.sort(S.SESSION_ID, S.CALL_INDEX).with_columns(
        pl.col(S.T_END_NS).shift(1).over(S.SESSION_ID).alias("prev_end")
    )
    think = profile.select(S.SESSION_ID, S.CALL_INDEX, S.THINK_S)
    return (
        client.filter(pl.col(S.CALL_INDEX) > 0)
        .join(think, on=[S.SESSION_ID, S.CALL_INDEX])
        .join(sim, left_on=[S.SESSION_ID, S.CALL_INDEX], right_on=[T.SESSION_ID, "k"])
        .select(
            (pl.col("prev_end") + (pl.col(S.THINK_S) * 1e9).cast(pl.Int64)).alias("due"),
            pl.col(T.ARRIVAL_NS).alias("arrived"),
        )
    )


def think_gap_errors_ms(gaps: pl.DataFrame) -> pl.Series:
    """How late each call reached the sim against its due time (ms; negative: early)."""
    return gaps.select((pl.col("arrived") - pl.col("due")) / 1e6).to_series()


def per_call(frame: pl.DataFrame, *extra: str) -> pl.DataFrame:
    """What a replay must reproduce wherever it ran: each call's identity, outcome and
    expected and produced tokens (plus `extra` columns), in one order."""
    return frame.select(
        S.SESSION_ID,
        S.CALL_INDEX,
        S.STATUS,
        S.COMPLETION_TOKENS,
        S.EXPECTED_INPUT_TOKENS,
        S.EXPECTED_OUTPUT_TOKENS,
        S.EXPECTED_CACHED_TOKENS,
        *extra,
    ).sort(S.SESSION_ID, S.CALL_INDEX)

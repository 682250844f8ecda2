"""A model of agent sessions fitted to any profile (pure functions; `profiles.synthesize`
draws from it). docs/profiles.md, "Synthesized profiles", says what it keeps and its limits.

A root session of T tool turns is: starting prompt S, final answer F, and per tool turn t
the assistant's output A_t, the tool's output O_t and the tool's latency L_t (the trie
quantities; `workload_stats` defines them from a profile). The model, in normal scores:

- per-turn marginals by turn index: A, O and L each have an empirical distribution per
  turn-index bin (turn 0 alone, the first call's own distribution, then single turns
  while each holds enough values, then merged bins); a value's normal score is
  Φ⁻¹(mid-rank) inside its bin;
- session level: a Gaussian copula over T, S, F and the session means of A's, O's and L's
  normal scores (so turns vs final answer, turns vs tool output size, ... are kept);
- within a session: the normal score minus the session mean follows, per quantity, an
  AR(1) across turns (consecutive tool latencies and sizes), with correlated innovations
  across A, O and L of one turn (assistant tokens vs tool latency, size vs latency); a
  generated session's deviations are centred, so its mean score is the drawn one exactly,
  as in the source where the mean is taken from the same scores.

Generated scores are mapped back by rank inside each bin to the source's values, so every
marginal is the source's own (heavy tails included) and integers stay integers.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

import polars as pl

from agentload.traceformat import schema as s

QUANTITIES: Final = ("assistant", "tool_output", "latency")
SESSION_VARS: Final = ("turns", "start", "final", *(f"m_{q}" for q in QUANTITIES))
_N = NormalDist()


@dataclass(frozen=True)
class SessionModel:
    turns: list[int]  # source values, sorted (session-level marginals)
    start: list[int]
    final: list[int]
    bin_edges: list[int]  # first turn index of each bin, ascending, starting at 0
    per_turn: dict[str, list[list[float]]]  # quantity -> bin -> sorted source values
    copula: list[list[float]]  # correlation of SESSION_VARS' normal scores
    strata: list[int]  # first turn count of each stratum of sessions, ascending
    means: dict[str, list[list[float]]]  # quantity -> stratum -> session-mean scores, sorted
    spread: dict[str, list[float]]  # quantity -> stratum -> sd of scores around their mean
    ar: dict[str, float]  # lag-1 coefficient of each quantity's within-session score
    innovation: list[list[float]]  # covariance of the AR innovations (QUANTITIES order)
    residual: list[list[float]]  # covariance of within-session scores (turn 0)
    # The turn counts the strata were made from, when `turns` was replaced (a model whose
    # dependence is borrowed: a session's stratum is the one at the same quantile).
    strata_turns: list[int] | None = None


def sessions_frame(profile: pl.DataFrame) -> pl.DataFrame:
    """One row per root session (file order): turns, start, final, arrival and the per-turn
    lists assistant, tool_output, latency (`workload_stats`' definitions)."""
    roots = profile.filter(pl.col(s.PARENT_SESSION_ID).is_null()).with_row_index("session")
    roots = roots.with_columns(pl.col("session").min().over(s.SESSION_ID))
    roots = roots.sort("session", s.CALL_INDEX).with_columns(
        prev=pl.col(s.OUTPUT_TOKENS).shift(1).over("session")
    )
    n = pl.len() - 1
    return roots.group_by("session", maintain_order=True).agg(
        pl.col(s.SESSION_ID).first(),
        n.alias("turns"),
        pl.col(s.INPUT_TOKENS).first().alias("start"),
        pl.col(s.OUTPUT_TOKENS).last().alias("final"),
        pl.col(s.ARRIVAL_S).first().alias("arrival"),
        pl.col(s.OUTPUT_TOKENS).head(n).cast(pl.Float64).alias("assistant"),
        (pl.col(s.NEW_INPUT_TOKENS) - pl.col("prev"))
        .clip(lower_bound=0)
        .tail(n)
        .cast(pl.Float64)
        .alias("tool_output"),
        pl.col(s.THINK_S).tail(n).alias("latency"),
    )


def bin_edges(turn_counts: list[int], min_count: int) -> list[int]:
    """Bins of turn indices: one index each while it has `min_count` values, then merged
    until each bin has that many (the last takes whatever remains)."""
    edges, held = [0], 0
    for index, count in enumerate(turn_counts):
        if held >= min_count:
            edges.append(index)
            held = 0
        held += count
    return edges


def _index_expr(column: str, firsts: list[int]) -> pl.Expr:
    """Index of the bin (turn-index bin, or stratum of sessions by turn count) the column's
    value falls in; `firsts`: each bin's first value, ascending."""
    value = pl.col(column)
    expr = pl.lit(0, pl.Int32)
    for k, first in enumerate(firsts[1:], start=1):
        expr = pl.when(value >= first).then(pl.lit(k, pl.Int32)).otherwise(expr)
    return expr


def index_of(firsts: list[int], value: int) -> int:
    """`_index_expr` for one value."""
    return max(bisect.bisect_right(firsts, value) - 1, 0)


def _scores(values: pl.Expr, over: str | list[str]) -> pl.Expr:
    """Mid-rank uniform scores inside each group (ties share their average rank)."""
    return (values.rank("average").over(over) - 0.5) / pl.len().over(over)


def _inv(column: pl.Series) -> list[float]:
    return [_N.inv_cdf(min(max(u, 1e-9), 1 - 1e-9)) for u in column.to_list()]


def _cov(frame: pl.DataFrame, names: list[str]) -> list[list[float]]:
    cols = [frame[n].to_list() for n in names]
    means = [sum(c) / len(c) for c in cols]
    k = len(cols[0])
    return [
        [
            sum((x - mi) * (y - mj) for x, y in zip(a, b, strict=True)) / max(k - 1, 1)
            for b, mj in zip(cols, means, strict=True)
        ]
        for a, mi in zip(cols, means, strict=True)
    ]


def _corr(cov: list[list[float]]) -> list[list[float]]:
    sd = [math.sqrt(max(cov[i][i], 1e-12)) for i in range(len(cov))]
    return [[cov[i][j] / (sd[i] * sd[j]) for j in range(len(cov))] for i in range(len(cov))]


def _turn_scores(sessions: pl.DataFrame) -> tuple[pl.DataFrame, list[int]]:
    """One row per tool turn with its turn-index bin and the normal score of each quantity
    inside its bin; and the bins' first turn indices."""
    turns = sessions.select("session", "turns", *QUANTITIES).explode(list(QUANTITIES))
    turns = turns.drop_nulls("latency").with_columns(t=pl.int_range(pl.len()).over("session"))
    counts = turns.group_by("t").len().sort("t")["len"].to_list()
    edges = bin_edges(counts, max(20, min(400, turns.height // 50)))
    turns = turns.with_columns(bin=_index_expr("t", edges))
    for q in QUANTITIES:
        u = turns.select(_scores(pl.col(q), "bin")).to_series()
        turns = turns.with_columns(pl.Series(f"z_{q}", _inv(u)))
    return turns, edges


def _session_level(sessions: pl.DataFrame, turns: pl.DataFrame) -> tuple[pl.DataFrame, list[int]]:
    """One row per session: its mean scores m_*, its stratum (sessions of similar turn
    counts) and the normal score n_* of each SESSION_VARS (the means' within the stratum);
    and the strata's first turn counts."""
    means = turns.group_by("session").agg(
        pl.col(f"z_{q}").mean().alias(f"m_{q}") for q in QUANTITIES
    )
    level = sessions.join(means, on="session", how="left").with_columns(
        pl.col(f"m_{q}").fill_null(0.0) for q in QUANTITIES
    )
    t_counts = level.group_by("turns").len().sort("turns")
    strata_at = bin_edges(t_counts["len"].to_list(), max(10, level.height // 40))
    strata = [int(t_counts["turns"][i]) for i in strata_at]
    level = level.with_columns(stratum=_index_expr("turns", strata), everyone=pl.lit(0))
    for name in SESSION_VARS:
        over = "stratum" if name.startswith("m_") else "everyone"
        u = level.select(_scores(pl.col(name), over)).to_series()
        level = level.with_columns(pl.Series(f"n_{name}", _inv(u)))
    return level, strata


def fit(profile: pl.DataFrame) -> SessionModel:
    """The model of `profile`'s root sessions (at least one, with at least one tool turn)."""
    sessions = sessions_frame(profile)
    turns, edges = _turn_scores(sessions)
    level, strata = _session_level(sessions, turns)
    within = turns.join(
        level.select("session", "stratum", *(f"m_{q}" for q in QUANTITIES)), on="session"
    )
    within = within.with_columns(
        (pl.col(f"z_{q}") - pl.col(f"m_{q}")).alias(f"r_{q}") for q in QUANTITIES
    ).with_columns(pl.col(f"r_{q}").shift(1).over("session").alias(f"p_{q}") for q in QUANTITIES)
    pairs = within.drop_nulls([f"p_{q}" for q in QUANTITIES])
    ar = {q: _slope(pairs, f"p_{q}", f"r_{q}") for q in QUANTITIES}
    innov = pairs.select(
        (pl.col(f"r_{q}") - ar[q] * pl.col(f"p_{q}")).alias(f"e_{q}") for q in QUANTITIES
    )
    sd = within.group_by("stratum").agg(pl.col(f"r_{q}").std().alias(q) for q in QUANTITIES)

    def by_stratum(frame: pl.DataFrame, column: str) -> list[list[float]]:
        return [
            sorted(frame.filter(pl.col("stratum") == k)[column].drop_nulls().to_list())
            for k in range(len(strata))
        ]

    return SessionModel(
        turns=sorted(sessions["turns"].to_list()),
        start=sorted(sessions["start"].to_list()),
        final=sorted(sessions["final"].to_list()),
        bin_edges=edges,
        per_turn={
            q: [sorted(turns.filter(pl.col("bin") == k)[q].to_list()) for k in range(len(edges))]
            for q in QUANTITIES
        },
        copula=_corr(_cov(level, [f"n_{v}" for v in SESSION_VARS])),
        strata=strata,
        means={q: by_stratum(level, f"m_{q}") for q in QUANTITIES},
        spread={q: [sum(v) for v in by_stratum(sd, q)] for q in QUANTITIES},
        ar=ar,
        innovation=_cov(innov, [f"e_{q}" for q in QUANTITIES]) if innov.height > 1 else _eye(3),
        residual=_cov(within, [f"r_{q}" for q in QUANTITIES]),
    )


def _slope(frame: pl.DataFrame, x: str, y: str) -> float:
    if frame.height < 3:
        return 0.0
    value = frame.select(pl.cov(x, y) / pl.col(x).var()).item()
    return 0.0 if value is None or not math.isfinite(value) else max(-0.95, min(0.95, value))


def _eye(n: int) -> list[list[float]]:
    return [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]


def cholesky(matrix: list[list[float]]) -> list[list[float]]:
    """Lower-triangular L with L·Lᵀ = matrix (a small ridge added until it is positive)."""
    n = len(matrix)
    for ridge in (0.0, 1e-9, 1e-6, 1e-3, 1e-2, 1e-1):
        low = [[0.0] * n for _ in range(n)]
        try:
            for i in range(n):
                for j in range(i + 1):
                    total = matrix[i][j] + (ridge if i == j else 0.0)
                    total -= sum(low[i][k] * low[j][k] for k in range(j))
                    if i == j:
                        if total <= 0:
                            raise ValueError
                        low[i][j] = math.sqrt(total)
                    else:
                        low[i][j] = total / low[j][j]
            return low
        except ValueError:
            continue
    return _eye(n)

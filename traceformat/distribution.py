"""Distribution summaries, the one home of percentiles: count, mean, pNN, max, sum.

Every summary of a column (inspect's tables, profile statistics, run metrics, schedule lag,
benchmark figures) is built from the points named here, so a p99 means the same everywhere:
linear interpolation between closest ranks (numpy's default), over the non-null values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

# The points of a run's latency summaries (and the default of `summarize`).
POINTS: Final = ("count", "mean", "p50", "p90", "p95", "p99", "max")


def point(x: pl.Expr, name: str) -> pl.Expr:
    """The aggregation a point names: count, mean, max, sum, or pNN (the NNth percentile,
    NN in 0..100, decimals allowed: p99.9)."""
    if name == "count":
        return x.count()
    if name == "mean":
        return x.mean()
    if name == "max":
        return x.max()
    if name == "sum":
        return x.sum()
    if name.startswith("p") and _percent(name[1:]) is not None:
        return x.quantile(float(name[1:]) / 100, "linear")
    raise ValueError(f"unknown summary point {name!r}")


def _percent(text: str) -> float | None:
    """NN of a pNN point (p99.9 too): a number in 0..100, else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value <= 100 and text[:1].isdigit() else None


def percentile_points(percents: Sequence[float]) -> tuple[str, ...]:
    """The summary points for these percentiles: count, mean, pNN..., max."""
    return ("count", "mean", *(f"p{p:g}" for p in percents), "max")


def aggregations(x: pl.Expr, points: Sequence[str] = POINTS, prefix: str = "") -> list[pl.Expr]:
    """One aggregation per point, aliased PREFIX + point."""
    return [point(x, name).alias(prefix + name) for name in points]


def summarize(
    frame: pl.DataFrame, column: str, points: Sequence[str] = POINTS
) -> dict[str, float | int | None]:
    """The points of one column's non-null values as a plain dict (count 0 and None
    elsewhere when the frame is empty or lacks the column)."""
    if column not in frame.columns or frame.height == 0:
        return {name: 0 if name in ("count", "sum") else None for name in points}
    row = frame.select(aggregations(pl.col(column).drop_nulls(), points)).row(0, named=True)
    return {name: _plain(value) for name, value in row.items()}


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) of plain numbers by the same interpolation; None when empty."""
    if not values:
        return None
    value = pl.Series(values, dtype=pl.Float64).quantile(q, "linear")
    return None if value is None else float(value)


def _plain(value: object) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    raise TypeError(f"unexpected summary value {value!r}")

"""Distribution summaries (count, mean, percentiles, max) as polars aggregations."""

from __future__ import annotations

import polars as pl

PERCENTILES = (50, 90, 99)


def summary_aggs(column: str, prefix: str | None = None) -> list[pl.Expr]:
    """count, mean, p50, p90, p99 and max of a column's non-null values.

    Percentiles use linear interpolation between closest ranks (numpy's default).
    """
    name = prefix or column
    col = pl.col(column).drop_nulls()
    aggs = [col.count().alias(f"{name}.count"), col.mean().alias(f"{name}.mean")]
    aggs += [col.quantile(q / 100, "linear").alias(f"{name}.p{q}") for q in PERCENTILES]
    aggs.append(col.max().alias(f"{name}.max"))
    return aggs


def summarize(frame: pl.DataFrame, column: str) -> dict[str, float | int | None]:
    """The `summary_aggs` of one column of an eager frame as a plain dict."""
    if column not in frame.columns or frame.height == 0:
        return {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    row = frame.select(summary_aggs(column)).row(0, named=True)
    return {key.rsplit(".", 1)[1]: _plain(value) for key, value in row.items()}


def _plain(value: object) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    raise TypeError(f"unexpected summary value {value!r}")

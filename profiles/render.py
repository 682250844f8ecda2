"""Rich tables of profile statistics beside the reference figures."""

from __future__ import annotations

import polars as pl
from rich.console import Console
from rich.table import Table

from agentload.profiles import reference as ref
from agentload.profiles import structure_stats as ss
from agentload.profiles.workload_stats import ProfileStats


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def stats_table(title: str, st: ProfileStats, reference: ref.Reference | None) -> Table:
    caption = "cells: profile / reference" if reference else "no reference figures"
    if reference is not None and reference.estimate:
        caption += " (reference is an estimate, not measured)"
    table = Table(title=title, caption=caption)
    table.add_column("quantity")
    for point in ref.POINTS:
        table.add_column(point, justify="right")
    for quantity in ref.QUANTITIES:
        got = st.values[quantity]
        want = reference.rows[quantity] if reference else None
        cells = [
            _fmt(got[p]) + ("" if want is None else f" / {_fmt(want.get(p))}") for p in ref.POINTS
        ]
        table.add_row(quantity, *cells)
    return table


def summary_lines(
    st: ProfileStats, reference: ref.Reference | None, block: int | None
) -> list[str]:
    first_ref = reference.first_tool_latency_mean_s if reference else None
    hit_ref = reference.ideal_cache_hit if reference else None
    return [
        f"sessions {st.sessions:,} ({st.child_sessions:,} child), calls {st.calls:,}, "
        f"block size {block if block is not None else '—'}",
        f"first tool latency mean: {_fmt(st.first_tool_latency_mean_s)} s"
        + ("" if first_ref is None else f" / {_fmt(first_ref)} s"),
        f"ideal prefix-cache hit: history {_pct(st.history_cache_hit)}, "
        f"hash_ids (cross-session) {_pct(st.hash_cache_hit)}"
        + ("" if hit_ref is None else f" / reference {_pct(hit_ref)}"),
    ]


def print_stats(
    console: Console,
    title: str,
    st: ProfileStats,
    reference: ref.Reference | None,
    block: int | None,
) -> None:
    console.print(stats_table(title, st, reference))
    for line in summary_lines(st, reference, block):
        console.print(line)


def comparison_tables(
    names: tuple[str, str],
    marginals: tuple[dict[str, pl.Series], dict[str, pl.Series]],
    correlations: tuple[dict[str, float | None], dict[str, float | None]],
) -> list[Table]:
    """`profile stats A B`: each marginal's points and KS distance, then the correlations
    (`profiles.structure_stats`), A and B side by side."""
    a, b = names
    table = Table(title=f"{a} vs {b}", caption="cells: A / B; KS: two-sample distance")
    table.add_column("quantity")
    for point in ("mean", "p50", "p90", "p99", "max", "KS"):
        table.add_column(point, justify="right")
    for quantity in ss.MARGINALS:
        x, y = marginals[0][quantity], marginals[1][quantity]
        cells = [f"{_fmt(_point(x, p))} / {_fmt(_point(y, p))}" for p in _POINTS]
        table.add_row(quantity, *cells, f"{ss.ks_distance(x, y):.3f}")
    corr = Table(title="Spearman correlations", caption="A / B")
    corr.add_column("pair")
    corr.add_column("A / B", justify="right")
    for name in ss.CORRELATIONS:
        corr.add_row(name, f"{_corr(correlations[0][name])} / {_corr(correlations[1][name])}")
    return [table, corr]


_POINTS = ("mean", "p50", "p90", "p99", "max")


def _point(series: pl.Series, point: str) -> float | None:
    if series.is_empty():
        return None
    if point == "mean":
        return float(series.mean())  # type: ignore[arg-type]
    if point == "max":
        return float(series.max())  # type: ignore[arg-type]
    return ss.quantile(series, int(point[1:]) / 100)


def _corr(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"

"""Rich tables of profile statistics beside the reference figures."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from agentload.profiles import reference as ref
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

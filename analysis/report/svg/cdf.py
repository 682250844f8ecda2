"""Empirical CDF charts of latency distributions, on a log x axis: latencies span decades
(an 896 ms outlier among 10 ms gaps would squash a linear axis against its edge). Values
<= 0 (two chunks in one read) cannot sit on a log axis: they are drawn at the smallest
positive value, and the chart says how many."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from agentload.analysis.report.svg.line import Series, line_chart

MAX_STEPS = 500


def _cdf(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """Sorted values and their cumulative fraction, thinned to at most MAX_STEPS points."""
    data = sorted(v for v in values if v is not None)
    n = len(data)
    if n == 0:
        return [], []
    idx = (
        range(n)
        if n <= MAX_STEPS
        else [round(i * (n - 1) / (MAX_STEPS - 1)) for i in range(MAX_STEPS)]
    )
    xs = [data[i] for i in idx]
    ys = [(i + 1) / n for i in idx]
    return xs, ys


def cdf_chart(samples: Mapping[str, Sequence[float]], *, title: str, xlabel: str) -> str | None:
    """One step curve per labelled sample on a log x axis; None when every sample is
    empty."""
    series = []
    floor = min((v for vs in samples.values() for v in vs if v is not None and v > 0), default=1.0)
    clipped = 0
    for label, values in samples.items():
        xs, ys = _cdf(values)
        clipped += sum(1 for v in values if v is not None and v <= 0)
        if xs:
            logs = [math.log10(max(x, floor)) for x in xs]
            series.append(Series(label=label, xs=logs, ys=ys, step=True))
    note = f"; {clipped} values ≤ 0 drawn at {floor:.3g}" if clipped else ""
    label = f"{xlabel}, log scale{note}"
    return line_chart(series, title=title, xlabel=label, ylabel="fraction ≤ x", x_log=True)

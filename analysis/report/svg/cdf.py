"""Empirical CDF charts of latency distributions."""

from __future__ import annotations

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
    """One step curve per labelled sample; None when every sample is empty."""
    series = []
    for label, values in samples.items():
        xs, ys = _cdf(values)
        if xs:
            series.append(Series(label=label, xs=xs, ys=ys, step=True))
    return line_chart(series, title=title, xlabel=xlabel, ylabel="fraction ≤ x")

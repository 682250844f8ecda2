"""Quantile-knot distributions, fitted to a reference table row (pure functions).

A distribution is a list of (probability, value) knots from p=0 (minimum) to p=1 (maximum)
with log-linear interpolation between them, so the generated p10/p50/p90/p99/max land on the
table by construction. Between the published knots the mean is free: `fit_mean` inserts two
knots (at p=0.75 and p=0.95) and scales them until the distribution's mean matches the
table's mean.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Sequence

type Knots = tuple[tuple[float, float], ...]

_FLOOR = 1e-6  # values are positive; log interpolation needs a floor
_GRID = 4000  # midpoint rule over u for the mean


def inverse_cdf(knots: Knots, u: float) -> float:
    """Value at probability u in [0, 1] (log-linear between knots)."""
    ps = [p for p, _ in knots]
    i = min(max(bisect.bisect_right(ps, u) - 1, 0), len(knots) - 2)
    (p0, v0), (p1, v1) = knots[i], knots[i + 1]
    t = 0.0 if p1 == p0 else (u - p0) / (p1 - p0)
    lo, hi = math.log(max(v0, _FLOOR)), math.log(max(v1, _FLOOR))
    return math.exp(lo + t * (hi - lo))


def cdf(knots: Knots, value: float) -> float:
    """Probability of a value <= `value` (inverse of `inverse_cdf`)."""
    if value <= knots[0][1]:
        return 0.0
    if value >= knots[-1][1]:
        return 1.0
    for (p0, v0), (p1, v1) in itertools.pairwise(knots):
        if v0 <= value <= v1:
            if v1 == v0:
                return p1
            lo, hi = math.log(max(v0, _FLOOR)), math.log(max(v1, _FLOOR))
            return p0 + (p1 - p0) * (math.log(value) - lo) / (hi - lo)
    return 1.0


def mean(knots: Knots) -> float:
    return sum(inverse_cdf(knots, (i + 0.5) / _GRID) for i in range(_GRID)) / _GRID


def _with_shoulders(knots: Knots, factor: float) -> Knots:
    """`knots` plus interior knots at p=0.75 and p=0.95, their values scaled by factor and
    clamped between their neighbours (so the result stays monotonic)."""
    out = dict(knots)
    for p in (0.75, 0.95):
        if p in out:
            continue
        base = inverse_cdf(knots, p)
        lower = max(v for q, v in knots if q < p)
        upper = min(v for q, v in knots if q > p)
        out[p] = min(max(base * factor, lower), upper)
    return tuple(sorted(out.items()))


def fit_mean(knots: Knots, target: float) -> Knots:
    """Knots whose mean is `target` (as close as the shoulder knots allow), by bisection
    on the shoulder factor in log space."""
    lo, hi = -6.0, 6.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if mean(_with_shoulders(knots, math.exp(mid))) < target:
            lo = mid
        else:
            hi = mid
    return _with_shoulders(knots, math.exp((lo + hi) / 2))


def residual_knots(pooled: Knots, other: Knots, weight: float, points: Sequence[float]) -> Knots:
    """Knots of the component R such that weight*other + (1-weight)*R has the `pooled`
    quantiles at `points` (used for the slower first tool call inside the latency table)."""
    pairs: list[tuple[float, float]] = []
    for p in points:
        v = inverse_cdf(pooled, p)
        q = (p - weight * cdf(other, v)) / (1 - weight)
        pairs.append((min(max(q, 0.0), 1.0), v))
    pairs[0] = (0.0, pairs[0][1])
    pairs[-1] = (1.0, pairs[-1][1])
    cleaned: list[tuple[float, float]] = []
    for p, v in pairs:
        if cleaned and p <= cleaned[-1][0]:
            continue
        cleaned.append((p, v))
    if cleaned[-1][0] != 1.0:
        cleaned.append((1.0, pairs[-1][1]))
    return tuple(cleaned)


def stratified(rng: random.Random, n: int) -> list[float]:
    """n uniforms, one in each of n equal strata, shuffled: sample quantiles match the
    distribution closely even for heavy tails (a seeded Latin-hypercube draw)."""
    order = list(range(n))
    rng.shuffle(order)
    return [(k + rng.random()) / n for k in order]

"""compare's verdicts: each metric of a new run against the baseline, judged against the
bootstrap noise of both (analysis.bootstrap), and the --fail-on thresholds that gate CI.

- change d = new - base; relative change d / base (null when base is 0 or missing).
- noise: the 2.5th and 97.5th percentiles of d_b = new_b - base_b over B replicate pairs
  (each run resampled on its own); *within noise* when that interval holds 0, else
  *improved* or *regressed* by the metric's better direction.
- a threshold ``name=+10%`` is breached when the change is outside the noise and the
  relative change is above +10% (``-5%``: below -5%); without ``%`` it is an absolute
  change in the metric's unit (``ttft_p99=+50``: 50 ms more).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentload.analysis.bootstrap import CATALOGUE, DEFAULT, Metric, RunFrames, replicates, values
from agentload.base.errors import ConfigError
from agentload.traceformat.distribution import quantile

REGRESSED, IMPROVED, NOISE, UNDEFINED = "regressed", "improved", "within noise", "n/a"
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float  # signed: +0.10 fails above +10 %, -0.05 below -5 %
    relative: bool

    def describe(self) -> str:
        value = f"{self.limit * 100:+g}%" if self.relative else f"{self.limit:+g}"
        return f"{self.metric}={value}"


def parse_fail_on(text: str | None) -> list[Threshold]:
    """``ttft_p99=+10%,tok_s_steady=-5%`` into thresholds; ConfigError naming the item."""
    out: list[Threshold] = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, raw = (part.strip() for part in item.partition("="))
        if not sep or name not in CATALOGUE:
            known = ", ".join(sorted(CATALOGUE))
            raise ConfigError(
                f"--fail-on: {item.strip()!r}: expected METRIC=±N% with METRIC one of {known}"
            )
        relative = raw.endswith("%")
        number = raw.removesuffix("%").strip()
        if number[:1] not in ("+", "-"):
            raise ConfigError(
                f"--fail-on: {item.strip()!r}: give the direction that fails, "
                f"e.g. {name}=+10% (a rise fails) or {name}=-5% (a fall fails)"
            )
        try:
            limit = float(number)
        except ValueError:
            raise ConfigError(f"--fail-on: {item.strip()!r}: {raw!r} is not a number") from None
        out.append(Threshold(name, limit / 100 if relative else limit, relative))
    return out


@dataclass(frozen=True)
class Verdict:
    metric: Metric
    base: float | None
    new: float | None
    change: float | None
    relative: float | None
    low: float | None  # the noise interval of the change
    high: float | None
    verdict: str
    threshold: Threshold | None = None
    breached: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric.name,
            "label": self.metric.label,
            "better": self.metric.better,
            "base": self.base,
            "new": self.new,
            "change": self.change,
            "relative_change": self.relative,
            "noise_low": self.low,
            "noise_high": self.high,
            "verdict": self.verdict,
            "threshold": None if self.threshold is None else self.threshold.describe(),
            "breached": self.breached,
        }


def judge(
    metric: Metric,
    base: float | None,
    new: float | None,
    diffs: Sequence[float],
    threshold: Threshold | None = None,
) -> Verdict:
    """One metric's verdict from its two values and the replicate differences."""
    if base is None or new is None:
        return Verdict(metric, base, new, None, None, None, None, UNDEFINED, threshold)
    change = new - base
    relative = change / base if base != 0 else None
    tail = (1 - CONFIDENCE) / 2
    low, high = quantile(diffs, tail), quantile(diffs, 1 - tail)
    if low is None or high is None or low <= 0 <= high:
        verdict = NOISE
    else:
        worse = change > 0 if metric.better == "lower" else change < 0
        verdict = REGRESSED if worse else IMPROVED
    breached = threshold is not None and verdict != NOISE and _past(threshold, change, relative)
    return Verdict(metric, base, new, change, relative, low, high, verdict, threshold, breached)


def _past(threshold: Threshold, change: float, relative: float | None) -> bool:
    moved = relative if threshold.relative else change
    if moved is None:
        return False
    return moved > threshold.limit if threshold.limit >= 0 else moved < threshold.limit


def chosen(thresholds: Sequence[Threshold]) -> list[Metric]:
    """The default metrics, then those only a threshold names."""
    names = list(DEFAULT) + [t.metric for t in thresholds if t.metric not in DEFAULT]
    return [CATALOGUE[n] for n in names]


def compare_runs(
    base: RunFrames,
    new: RunFrames,
    thresholds: Sequence[Threshold] = (),
    resamples: int = 1000,
    seed: int = 0,
) -> list[Verdict]:
    """Every chosen metric of `new` judged against `base`."""
    metrics = chosen(thresholds)
    by_name = {t.metric: t for t in thresholds}
    base_values, new_values = values(base, metrics), values(new, metrics)
    base_reps = replicates(base, metrics, resamples, seed)
    new_reps = replicates(new, metrics, resamples, seed + 1)
    out = []
    for m in metrics:
        pairs = zip(base_reps[m.name], new_reps[m.name], strict=True)
        diffs = [b - a for a, b in pairs if a is not None and b is not None]
        out.append(judge(m, base_values[m.name], new_values[m.name], diffs, by_name.get(m.name)))
    return out

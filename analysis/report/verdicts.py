"""compare's verdicts as tables (terminal and HTML, coloured) and as JSON for dashboards.
Pure: analyses in, tables and JSON out; the judging itself is analysis.verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentload.analysis.bootstrap import RunFrames
from agentload.analysis.identity import mismatches
from agentload.analysis.report.tables import Table, num
from agentload.analysis.run_analysis import RunAnalysis
from agentload.analysis.verdict import (
    IMPROVED,
    NOISE,
    REGRESSED,
    Threshold,
    Verdict,
    compare_runs,
)
from agentload.analysis.window import duration_option, run_window

STYLE = {REGRESSED: "regressed", IMPROVED: "improved", NOISE: "noise"}


@dataclass(frozen=True)
class Judged:
    """Every run after the first judged against the first."""

    names: list[str]
    verdicts: list[list[Verdict]]  # one list per run after the first
    warnings: list[str]
    thresholds: list[Threshold]
    resamples: int
    seed: int

    @property
    def breached(self) -> list[str]:
        return [
            f"{name}: {v.metric.name} {_relative(v)} against {self.names[0]} "
            f"(threshold {v.threshold.describe()}, noise {_interval(v)})"
            for name, run in zip(self.names[1:], self.verdicts, strict=True)
            for v in run
            if v.breached and v.threshold is not None
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "baseline": self.names[0],
            "runs": self.names,
            "bootstrap": {"resamples": self.resamples, "seed": self.seed, "confidence": 0.95},
            "thresholds": [t.describe() for t in self.thresholds],
            "warnings": self.warnings,
            "comparisons": [
                {"base": self.names[0], "new": name, "verdicts": [v.as_json() for v in run]}
                for name, run in zip(self.names[1:], self.verdicts, strict=True)
            ],
            "breached": self.breached,
            "failed": bool(self.breached),
        }


def _frames(a: RunAnalysis) -> RunFrames:
    frame = a.data.frame
    return RunFrames.of(frame, run_window(frame, duration_option(a.data.info)))


def judge_runs(
    names: Sequence[str],
    analyses: Sequence[RunAnalysis],
    thresholds: Sequence[Threshold] = (),
    resamples: int = 1000,
    seed: int = 0,
) -> Judged:
    base = _frames(analyses[0])
    verdicts = [compare_runs(base, _frames(a), thresholds, resamples, seed) for a in analyses[1:]]
    warnings = mismatches(names, [a.data.info for a in analyses])
    return Judged(list(names), verdicts, warnings, list(thresholds), resamples, seed)


def _relative(v: Verdict) -> str:
    if v.relative is None:
        return "—" if v.change is None else _signed(v.change)
    return ("+" if v.relative >= 0 else "−") + f"{abs(100 * v.relative):.1f}%"


def _signed(value: float | None) -> str:
    if value is None:
        return "—"
    return ("+" if value >= 0 else "−") + num(abs(value))


def _interval(v: Verdict) -> str:
    if v.low is None or v.high is None:
        return "—"
    return f"[{_signed(v.low)}, {_signed(v.high)}]"


def verdict_table(base: str, new: str, verdicts: Sequence[Verdict]) -> Table:
    """One row per metric: both values, the change, its noise interval, the verdict."""
    headers = ["metric", base, new, "change", "noise (95%)", "verdict", "gate"]
    rows, styles = [], {}
    for r, v in enumerate(verdicts):
        gate = "—" if v.threshold is None else v.threshold.describe()
        if v.threshold is not None:
            gate += ": FAIL" if v.breached else ": pass"
        rows.append(
            [v.metric.name, num(v.base), num(v.new), _relative(v), _interval(v), v.verdict, gate]
        )
        if v.verdict in STYLE:
            styles[(r, 5)] = STYLE[v.verdict]
        if v.breached:
            styles[(r, 6)] = "regressed"
    arrows = "noise: bootstrap 95% interval of the change"
    return Table(f"Verdict: {new} against {base} ({arrows})", headers, rows, styles)


def tables(judged: Judged) -> list[Table]:
    return [
        verdict_table(judged.names[0], name, run)
        for name, run in zip(judged.names[1:], judged.verdicts, strict=True)
    ]

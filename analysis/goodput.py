"""Goodput: the sessions that meet every SLO given, and their token rate.

A session meets the SLOs when it completed (final call succeeded, no failed call, no
warmup call) and, for each SLO given: every request's TTFT <= ttft, every request's TPOT
<= tpot (requests without a TPOT, i.e. one output token, pass), and the session latency
<= session. Goodput tokens/s = completion tokens of those sessions / run duration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from agentload.analysis.requests import F
from agentload.base.errors import ConfigError

_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "": 1.0}
_VALUE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|m)?\s*$")


@dataclass(frozen=True)
class Slo:
    """Service-level objectives in seconds; None = not given."""

    ttft_s: float | None = None
    tpot_s: float | None = None
    session_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("ttft_s", "tpot_s", "session_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"--slo: {name.removesuffix('_s')} must be > 0, got {value}")

    @property
    def empty(self) -> bool:
        return self.ttft_s is None and self.tpot_s is None and self.session_s is None

    def describe(self) -> str:
        parts = [
            f"{name}={value:g}s"
            for name, value in (
                ("ttft", self.ttft_s),
                ("tpot", self.tpot_s),
                ("session", self.session_s),
            )
            if value is not None
        ]
        return ",".join(parts)


def parse_slo(text: str | None) -> Slo:
    """Parse ``ttft=2s,tpot=50ms,session=120`` (unit ms, s or m; bare numbers are s)."""
    if text is None or not text.strip():
        return Slo()
    values: dict[str, float] = {}
    for item in text.split(","):
        key, sep, raw = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("ttft", "tpot", "session"):
            raise ConfigError(f"--slo: expected ttft=, tpot= or session=, got {item.strip()!r}")
        match = _VALUE.match(raw)
        if match is None:
            raise ConfigError(f"--slo: {key}: not a duration: {raw.strip()!r} (e.g. 2s, 50ms)")
        values[f"{key}_s"] = float(match.group(1)) * _UNITS[match.group(2) or ""]
    return Slo(**values)


def meets_slo(slo: Slo) -> pl.Expr:
    """Boolean per session row of `session_metrics`."""
    cond = pl.col("completed")
    if slo.ttft_s is not None:
        cond = cond & (pl.col("max_ttft_ms").fill_null(0.0) <= slo.ttft_s * 1e3)
    if slo.tpot_s is not None:
        cond = cond & (pl.col("max_tpot_ms").fill_null(0.0) <= slo.tpot_s * 1e3)
    if slo.session_s is not None:
        cond = cond & (pl.col("latency_s") <= slo.session_s)
    return cond.alias("meets_slo")


def goodput(sessions: F, slo: Slo, duration_s: float | None) -> F:
    """One row from `session_metrics` output: sessions, good_sessions, good_fraction,
    good_sessions_per_s and good_completion_tps (both null without a positive duration)."""
    good = meets_slo(slo)
    count = good.sum()
    rate = pl.lit(duration_s, pl.Float64)
    positive = rate > 0
    tokens = pl.col("completion_tokens").filter(good).sum().cast(pl.Float64)
    return sessions.select(
        pl.len().alias("sessions"),
        count.alias("good_sessions"),
        pl.when(pl.len() > 0).then(count.cast(pl.Float64) / pl.len()).alias("good_fraction"),
        pl.when(positive).then(count.cast(pl.Float64) / rate).alias("good_sessions_per_s"),
        pl.when(positive).then(tokens / rate).alias("good_completion_tps"),
    )

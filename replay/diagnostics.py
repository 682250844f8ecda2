"""Self-diagnosis of a run: did the client keep to the schedule, or did it set the pace?

Figures: schedule lag (send - scheduled) percentiles, intended vs achieved session arrival
rate (open loop), client CPU per worker, calibration drift, error counts by kind. A warning
is raised when they say the client, not the engine, limited the run.
"""

from __future__ import annotations

import polars as pl

from agentload.analysis.failures import failed
from agentload.analysis.lengths import length_check, length_warnings
from agentload.analysis.requests import measured, schedule_lag_ms
from agentload.analysis.sessions import cache_excess_warning, cache_summary
from agentload.analysis.window import Window, run_window
from agentload.replay.worker import WorkerOutcome
from agentload.traceformat import schema as S
from agentload.traceformat.distribution import summarize

LAG_P99_LIMIT_MS = 2.0
RATE_SHORTFALL = 0.95
CPU_SATURATED = 0.85
RUNQUEUE_SHARE = 0.02


def lag_summary(frame: pl.DataFrame) -> dict[str, float | int | None]:
    """Schedule lag (ms) of the measured, sent requests: analysis's metric and summary, so
    the run's own diagnosis and the report agree."""
    return summarize(measured(frame).select(schedule_lag_ms()), "schedule_lag_ms")


def arrival_rates(frame: pl.DataFrame) -> tuple[float | None, float | None]:
    """Intended and achieved root-session arrival rates (sessions/s) over the run."""
    starts = frame.filter(
        (pl.col(S.CALL_INDEX) == pl.col(S.CALL_INDEX).min().over(S.SESSION_ID))
        & pl.col(S.PARENT_SESSION_ID).is_null()
        & pl.col(S.T_SENT_NS).is_not_null()
    )
    if starts.height < 2:
        return None, None

    def rate(col: str) -> float | None:
        span = int(starts[col].max()) - int(starts[col].min())  # type: ignore[arg-type]
        return (starts.height - 1) / (span / 1e9) if span else None

    return rate(S.T_SCHEDULED_NS), rate(S.T_SENT_NS)


def closed_loop_rate(
    frame: pl.DataFrame, window: Window | None, slots: int
) -> tuple[float | None, dict[str, float | int] | None]:
    """Closed loop: the start-up ramp (the first `slots` root sessions, started one after
    another as fast as the client can) and the rate of the root sessions started after it
    inside the fitting window (sessions/s; None when none was). A ramp of N sessions in a
    few ms is no arrival rate: counting it gave 4,595/s at 1,000 sessions."""
    starts = (
        frame.filter(
            (pl.col(S.CALL_INDEX) == pl.col(S.CALL_INDEX).min().over(S.SESSION_ID))
            & pl.col(S.PARENT_SESSION_ID).is_null()
        )
        .get_column(S.T_SCHEDULED_NS)
        .sort()
    )
    if starts.len() == 0 or window is None:
        return None, None
    in_ramp = min(slots, starts.len())
    ramp_end = int(starts[in_ramp - 1])
    ramp = {"sessions": in_ramp, "s": (ramp_end - int(starts[0])) / 1e9}
    after = starts.filter((starts > ramp_end) & (starts <= window.end_ns)).len()
    span_s = (window.end_ns - ramp_end) / 1e9
    return (after / span_s if after and span_s > 0 else None), ramp


def failure_warning(frame: pl.DataFrame) -> str | None:
    """A warning when most finished requests failed (cancelled ones aside), else None."""
    bad = failed(frame).height
    finished = frame.filter(pl.col(S.STATUS) == "ok").height + bad
    if not bad or bad * 2 < finished:
        return None
    return (
        f"{bad} of {finished} requests failed: the figures describe failures, not the "
        "engine's speed (see the errors by kind and message)"
    )


def diagnose(
    frame: pl.DataFrame,
    outcomes: list[WorkerOutcome],
    *,
    closed_loop: bool,
    calibration: dict[str, object] | None,
    duration: float | None = None,
    slots: int | None = None,
) -> dict[str, object]:
    """The run's own health: how late the client sent, the rates it reached, its CPU, the
    errors by kind, and the warnings a reader needs before trusting the figures."""
    lag = lag_summary(frame)
    window = run_window(frame, duration)
    intended, achieved = arrival_rates(frame)
    ramp = None
    if closed_loop:
        intended = None
        achieved, ramp = closed_loop_rate(frame, window, slots or 1)
    errors = (
        frame.filter(pl.col(S.ERROR_KIND).is_not_null())
        .group_by(S.ERROR_KIND)
        .len()
        .sort(S.ERROR_KIND)
    )
    # served against asked-for lengths, and a prefix cache warmed before the run
    lengths = length_check(frame)
    warnings = client_warnings(frame, lag["p99"], intended, achieved, outcomes)
    warnings += length_warnings(lengths, calibration)
    if (excess := cache_excess_warning(cache_summary(frame))) is not None:
        warnings.append(excess)
    return {
        "schedule_lag_ms": lag,
        "intended_rate": intended,
        "achieved_rate": achieved,
        "client_cpu_s": {str(o.worker): _cpu(o) for o in outcomes},
        "requests": frame.height,
        "errors": dict(zip(errors[S.ERROR_KIND].to_list(), errors["len"].to_list(), strict=True)),
        "calibration": calibration,
        "window": None if window is None else window.as_json(),
        "ramp": ramp,
        "lengths": lengths,
        "warnings": warnings,
    }


def _cpu(o: WorkerOutcome) -> dict[str, float | None]:
    return {
        "cpu_s": o.cpu_s,
        "wall_s": o.wall_s,
        "utilization": o.utilization,
        "runqueue_wait_s": o.runqueue_wait_s,
    }


def client_warnings(
    frame: pl.DataFrame,
    lag_p99: float | None,
    intended: float | None,
    achieved: float | None,
    outcomes: list[WorkerOutcome],
) -> list[str]:
    """Warnings that the client, not the engine, may have set the figures."""
    warnings: list[str] = []
    # When failures dominate, the client-bound advice (send late, short of the rate, add
    # --workers) would misdirect: a client that only collects refusals is busy, not slow.
    failing = failure_warning(frame)
    if failing is not None:
        warnings.append(failing)
    if failing is None and lag_p99 is not None and lag_p99 > LAG_P99_LIMIT_MS:
        warnings.append(
            f"schedule lag p99 {lag_p99:.2f} ms > {LAG_P99_LIMIT_MS} ms: "
            "the client sent late; figures may reflect the client, not the engine"
        )
    if failing is None and intended and achieved and achieved < intended * RATE_SHORTFALL:
        warnings.append(
            f"achieved session rate {achieved:.2f}/s < intended {intended:.2f}/s: "
            "the client did not keep up with the schedule"
        )
    for o in outcomes:
        if o.runqueue_wait_s is not None and o.runqueue_wait_s > RUNQUEUE_SHARE * o.wall_s:
            warnings.append(
                f"worker {o.worker} waited {o.runqueue_wait_s:.2f} s for a CPU over "
                f"{o.wall_s:.2f} s: the machine was oversubscribed (other processes), "
                "so late sends say little about the client or the engine"
            )
        if failing is None and o.utilization > CPU_SATURATED:
            warnings.append(
                f"worker {o.worker} used {o.utilization:.0%} of a core: the client may have "
                "set the pace; add --workers"
            )
    return warnings

"""The end-of-run summary printed to stderr: counts, errors by kind with the distinct
messages, self-diagnosis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from agentload.analysis.failures import error_messages, message_lines
from agentload.analysis.report import terminal
from agentload.traceformat import schema as S


def run_state(outcome: dict[str, Any], *, complete: bool) -> str:
    """complete, FAILED (...) or PARTIAL (interrupted), from META_DIAGNOSTICS["outcome"]."""
    if outcome.get("stopped_early"):
        return f"FAILED (stopped early: the first {outcome.get('failed')} requests all failed)"
    if not complete:
        return "PARTIAL (interrupted)"
    return (
        "FAILED (no request succeeded)"
        if outcome.get("requests") and not outcome.get("ok")
        else "complete"
    )


def print_summary(
    frame: pl.DataFrame, diagnostics: dict[str, Any], path: Path, *, complete: bool
) -> None:
    console = terminal.console(stderr=True, highlight=False)
    ok = frame.filter(pl.col(S.STATUS) == "ok").height
    state = run_state(diagnostics.get("outcome") or {}, complete=complete)
    console.print(f"[bold]replay {state}[/]: {frame.height} requests, {ok} ok -> {path}")
    errors = diagnostics.get("errors") or {}
    if errors:
        console.print("errors: " + ", ".join(f"{k} {v}" for k, v in errors.items()))
        for line in message_lines(error_messages(frame)):
            console.print(f"  {line}", markup=False, soft_wrap=True)  # greppable, unbroken
    lag = diagnostics["schedule_lag_ms"]
    if lag["p50"] is not None:
        console.print(
            f"schedule lag: p50 {lag['p50']:.3f} ms, p99 {lag['p99']:.3f} ms, "
            f"max {lag['max']:.3f} ms"
        )
    intended, achieved = diagnostics.get("intended_rate"), diagnostics.get("achieved_rate")
    ramp = diagnostics.get("ramp")
    if ramp:
        console.print(
            f"closed-loop start-up ramp: {ramp['sessions']} sessions started over "
            f"{ramp['s']:.2f} s (each first call due when its slot started it)"
        )
    if achieved is not None:
        wanted = f" (intended {intended:.2f}/s)" if intended is not None else ""
        over = " after the ramp" if ramp else ""
        console.print(f"session arrivals{over}: {achieved:.2f}/s{wanted}")
    for worker, cpu in (diagnostics.get("client_cpu_s") or {}).items():
        wait = cpu.get("runqueue_wait_s")
        waited = "" if wait is None else f", {wait:.2f} s waiting for a CPU"
        console.print(
            f"client worker {worker}: {cpu['cpu_s']:.2f} s CPU over {cpu['wall_s']:.2f} s "
            f"({cpu['utilization']:.0%} of a core{waited})"
        )
    lengths = diagnostics.get("lengths") or {}
    parts = [
        f"{side} {100 * (got['off_share'] or 0):.1f}% off (drift {100 * (got['drift'] or 0):+.1f}%)"
        for side, got in lengths.items()
        if got.get("requests")
    ]
    if parts:
        console.print("lengths served vs asked for: " + ", ".join(parts))
    calibration = diagnostics.get("calibration")
    if calibration:
        drift = calibration.get("drift")
        extra = f", prompt length drift {drift:+.1%}" if isinstance(drift, float) else ""
        console.print(f"prompts: {calibration.get('note')}{extra}")
    for warning in diagnostics.get("warnings") or ():
        console.print(f"[yellow]warning:[/] {warning}")

"""What `bench_replay --versus-reference` prints: one block per try of each rate, the try
that counts for each client, then the verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from benchmarks.bench_replay import LAG_LIMIT_MS
from benchmarks.versus_reference import (
    BUSY_WAIT_MS_PER_S,
    CLIENTS,
    RATE_FRACTION,
    TRIES,
    WINDOW_MS,
    PairStep,
    by_rate,
    counted_side,
    ladder,
    summary,
    try_of,
)

# p99 per window as one character: <=0.5 ms, <=1, <=2 (the limit), <=5, <=10, <=20, <=50, more
SPARK = ((0.5, "▁"), (1, "▂"), (2, "▃"), (5, "▄"), (10, "▅"), (20, "▆"), (50, "▇"))


def sparkline(values: Sequence[float | None]) -> str:
    return "".join(
        "·" if v is None else next((c for top, c in SPARK if v <= top), "█") for v in values
    )


def step_lines(step: PairStep) -> list[str]:
    lines = [
        f"rate {step.rate:,.0f}/s, try {step.attempt + 1} of {TRIES} "
        f"({' then '.join(step.order)}); idle-loop wake-ups late by "
        f"p50 {step.wakeup_ms['p50']:.3f} ms, p99 {step.wakeup_ms['p99']:.3f} ms"
    ]
    for client in CLIENTS:
        side = step.sides.get(client)
        if side is None:
            lines.append(f"  {client:<9}  not run: below 90% of a lower rate")
            continue
        lines.append(
            f"  {client:<9}  {'pass' if side.ok else 'FAIL'}  achieved {side.achieved:8,.1f}/s"
            f"  lag p50 {_ms(side.lag_p50_ms)} p99 {_ms(side.lag_p99_ms)} max "
            f"{_ms(side.lag_max_ms)} ms  errors {side.errors}  seen {side.seen}/{side.sent}"
            f"  cpu {_ms(side.cpu_s)} s  run-queue wait {side.wait_ms_per_s} ms/s"
            f"  machine stall {side.machine_stall_ms} ms"
        )
        peak = max((v for v in side.window_p99_ms if v is not None), default=None)
        lines.append(
            f"  {'':<9}  p99 lag per {WINDOW_MS} ms: {sparkline(side.window_p99_ms)} "
            f"(worst window {_ms(peak)} ms){'; ' + side.note if side.note else ''}"
        )
        if side.own_window_p99_ms is not None:
            own = max((v for v in side.own_window_p99_ms if v is not None), default=None)
            lines.append(
                f"  {'':<9}  of which send - scheduled (its own clock): "
                f"{sparkline(side.own_window_p99_ms)} (worst window {_ms(own)} ms)"
            )
    agent = step.sides.get("agentload")
    if agent is not None and not agent.ok:
        whose = f"the machine's ({step.machine})" if step.machine else "agentload's own"
        lines.append(f"  agentload's failure at {step.rate:,.0f}/s: {whose}")
    return lines


def counted_line(tries: Sequence[PairStep]) -> str:
    """Which try counts for each client at one rate (its better one)."""
    parts = []
    for client in CLIENTS:
        side = counted_side(tries, client)
        if side is not None:
            at = try_of(tries, side)
            verdict = "pass" if side.ok else "FAIL"
            parts.append(f"{client} try {at} ({verdict}, p99 {_ms(side.lag_p99_ms)} ms)")
    return f"  counted at {tries[0].rate:,.0f}/s (each client's better try): " + ", ".join(parts)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def summary_lines(result: dict[str, Any]) -> list[str]:
    tops, ratio = result["best"], result["ratio"]
    rate = {c: "none" if v is None else f"{v:,.0f}/s" for c, v in tops.items()}
    if ratio is None:
        ratio_text = "no ratio: " + (
            "the reference kept no rate on schedule" if tops["agentload"] else "agentload kept none"
        )
    else:
        bound = " (both passed the top of the ladder: a lower bound)" * result["ratio_bounded"]
        verdict = "met" if ratio >= 1.5 else "not met"
        ratio_text = f"ratio {ratio:.2f}{bound}; target >= 1.5: {verdict}"
    p99 = result["p99_at_or_below_reference"]
    compare = {None: "n/a (no rate both sustain)", True: "PASS", False: "FAIL"}[p99]
    worse = ", ".join(f"{r:,.0f}" for r in result["p99_above_reference_at"])
    return [
        f"highest on-schedule rate (server log: p99 lag <= {LAG_LIMIT_MS:g} ms, achieved >= "
        f"{RATE_FRACTION:.0%}, no errors, every request seen): agentload {rate['agentload']}, "
        f"reference {rate['reference']}; {ratio_text}",
        f"agentload's p99 lag at or below the reference's at every rate both sustain "
        f"({', '.join(f'{r:,.0f}' for r in result['rates_both_sustain']) or 'none'}): {compare}"
        + (f" (above at {worse}/s)" if worse else ""),
        f"sparkline: p99 lag per {WINDOW_MS} ms window, "
        + ", ".join(f"{c} <= {top:g} ms" for top, c in SPARK)
        + ", █ more, · no request",
    ]


def run(rates: Sequence[float], duration: float, transport: str) -> dict[str, Any]:
    """The paired ladder, printed step by step; every figure for bench_replay's JSON."""
    steps: list[PairStep] = []
    for step in ladder(rates, duration, transport):
        print("\n".join(step_lines(step)), flush=True)
        steps.append(step)
        if step.attempt == TRIES - 1:
            print(counted_line(by_rate(steps)[step.rate]), flush=True)
    result = summary(steps, rates)
    print("\n".join(summary_lines(result)), flush=True)
    return {
        "rates": list(rates),
        "duration_s": duration,
        "window_ms": WINDOW_MS,
        "busy_wait_ms_per_s": BUSY_WAIT_MS_PER_S,
        **result,
        "steps": [asdict(s) for s in steps],
    }

"""Steady state over the admission window, judged by the sim's own timing log (issue 14).

Default sim, closed loop at concurrency 8, `--duration 20` with the default drain: the
report's steady-state completion tokens/s must be within 3% of the least-squares slope of
the sim's log over the same window (its first arrival to 20 s later, first 20% dropped, as
analysis.throughput defines it), and the drain after 20 s must not enter the fit.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from agentload.analysis.run_analysis import analyze_path
from agentload.analysis.throughput import WARM_FRACTION
from agentload.simengine import timinglog as tl
from tests.replay.conftest import replay
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim
from tests.values import integer

DURATION_S = 20.0
SHAPE = Shape(
    sessions=16,
    calls=5,
    think_s=(0.3, 0.5, 0.2, 0.4),
    outputs=(60, 90, 40, 120),
    first_input=400,
    child=False,
)


def _ols_slope(t: list[float], y: list[float]) -> float:
    n = len(t)
    mt, my = sum(t) / n, sum(y) / n
    var = sum((a - mt) ** 2 for a in t)
    return sum((a - mt) * (b - my) for a, b in zip(t, y, strict=True)) / var


def referee_steady(log: Path, duration_s: float) -> tuple[float, int]:
    """The sim's steady state: completions ending in the window's last 80%, on its clock."""
    f = pl.read_ipc(log)
    t0 = integer(f[tl.ARRIVAL_NS].min())
    t1 = t0 + int(duration_s * 1e9)
    cut = t0 + WARM_FRACTION * (t1 - t0)
    kept = (
        f.filter((pl.col(tl.STATUS) == 200) & pl.col(tl.END_NS).is_between(cut, t1))
        .sort(tl.END_NS)
        .with_columns(((pl.col(tl.END_NS) - t0) / 1e9).alias("t"))
    )
    cum = kept[tl.COMPLETION_TOKENS].cum_sum().cast(pl.Float64).to_list()
    return _ols_slope(kept["t"].to_list(), cum), kept.height


@pytest.mark.slow
def test_steady_state_over_the_admission_window(tmp_path: Path) -> None:
    write_profile(tmp_path / "p.arrow", SHAPE)
    log, out = tmp_path / "log.arrow", tmp_path / "out.arrow"
    with running_sim("--timing-log", str(log)) as sim:  # the default preset
        replay(tmp_path / "p.arrow", sim.url, out, concurrency=8, duration=DURATION_S)
    summary = analyze_path(out).summary
    window, tp = summary["window"], summary["throughput"]
    # the run drained past --duration, and the window stops at it
    assert window["kind"] == "admission"
    assert window["end_s"] == pytest.approx(DURATION_S, abs=0.05)
    assert window["run_s"] > DURATION_S + 1.0
    assert "drain" in window["description"] and "excluded" in window["description"]
    assert tp["steady_to_s"] <= DURATION_S + 0.05
    expected, n = referee_steady(log, DURATION_S)
    assert n >= 30
    assert tp["completion_tps_steady"] == pytest.approx(expected, rel=0.03)

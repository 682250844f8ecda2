"""Closed-loop start-up is a ramp, not lag (issue 14).

With `--concurrency N` the N free slots are filled one after another; each first call is
due when its slot starts it, so the time the client takes to start N sessions is a ramp,
and first calls are not later than the calls after them.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from agentload.analysis.requests import schedule_lag_ms
from agentload.analysis.window import run_window
from agentload.replay.diagnostics import closed_loop_rate
from agentload.traceformat import schema as S
from tests.analysis.frames import frame, request
from tests.replay.conftest import p99, replay
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim
from tests.timing import Measured, Noise, within_noise
from tests.values import integer

SESSIONS = 1000

Run = tuple[pl.DataFrame, dict[str, object]]


def _ramp_once(tmp: Path) -> Run:
    shape = Shape(
        sessions=50, calls=3, think_s=(0.01, 0.02), outputs=(2, 3), first_input=40, child=False
    )
    write_profile(tmp / "profile.arrow", shape)
    with running_sim("--preset", "fast") as sim:
        result = replay(
            tmp / "profile.arrow",
            sim.url,
            tmp / "out.arrow",
            concurrency=SESSIONS,
            max_sessions=SESSIONS,
        )
    diagnostics = json.loads(result.metadata[S.META_DIAGNOSTICS.decode()])
    return result.frame, diagnostics


@pytest.fixture(scope="module")
def ramp(tmp_path_factory: pytest.TempPathFactory) -> Measured[Run]:
    return Measured(lambda: _ramp_once(tmp_path_factory.mktemp("ramp")))


def _lags(rows: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    lag = rows.filter(pl.col(S.STATUS) == "ok").with_columns(schedule_lag_ms())
    first = lag.filter(pl.col(S.CALL_INDEX) == 0)["schedule_lag_ms"]
    later = lag.filter(pl.col(S.CALL_INDEX) > 0)["schedule_lag_ms"]
    return first, later


@pytest.mark.slow
def test_first_call_lag_no_worse_than_later_calls(ramp: Measured[Run]) -> None:
    rows, _ = ramp.attempt(0).value
    first, later = _lags(rows)
    assert first.len() == SESSIONS and later.len() == 2 * SESSIONS

    def excess_ms(run: Run, noise: Noise) -> float:
        first, later = _lags(run[0])
        return p99(first) - p99(later)

    within_noise(ramp, excess_ms, 1.0, "first-call lag p99 - later-call lag p99")


@pytest.mark.slow
def test_the_ramp_is_reported_not_taken_for_a_rate(ramp: Measured[Run]) -> None:
    rows, diagnostics = ramp.attempt(0).value
    starts = rows.filter(pl.col(S.CALL_INDEX) == 0)[S.T_SCHEDULED_NS]
    ramp_s = (integer(starts.max()) - integer(starts.min())) / 1e9
    assert diagnostics["ramp"] == {"sessions": SESSIONS, "s": pytest.approx(ramp_s)}
    # every session started in the ramp: there is no arrival rate to speak of (the
    # start-up burst was printed as 4,595 sessions/s)
    assert diagnostics["achieved_rate"] is None


def _start(session: str, at_s: float) -> dict[str, object]:
    return request(session, 0, at_s, at_s + 0.1, at_s + 1.0)


def test_closed_loop_rate_counts_sessions_after_the_ramp() -> None:
    # 4 slots filled at 0, 0.01, 0.02, 0.03 s; then starts at 2, 4, 6, 8 s and one at 12 s
    # after the --duration 10 window
    at = [0.0, 0.01, 0.02, 0.03, 2.0, 4.0, 6.0, 8.0, 12.0]
    rows = frame([_start(f"s{i}", t) for i, t in enumerate(at)])
    rate, ramp = closed_loop_rate(rows, run_window(rows, 10.0), slots=4)
    assert ramp == {"sessions": 4, "s": pytest.approx(0.03)}
    # 4 sessions after the ramp over 10 - 0.03 s
    assert rate == pytest.approx(4 / 9.97)

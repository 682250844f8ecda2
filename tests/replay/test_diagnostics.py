"""Self-diagnosis on hand-made frames: schedule lag, intended vs achieved session rate, and
the "the client set the pace" warnings on both sides of each threshold."""

from __future__ import annotations

from typing import Any

import pytest

from agentload.replay import diagnostics as D
from agentload.replay.worker import WorkerOutcome
from agentload.traceformat import schema as S
from tests.analysis.frames import MS, SEC, frame, row
from tests.values import dig


def _sent(session: str, call: int, scheduled_ns: int, lag_ns: int, **values: Any) -> Any:
    return row(
        session,
        call,
        **{S.T_SCHEDULED_NS: scheduled_ns, S.T_SENT_NS: scheduled_ns + lag_ns, **values},
    )


def _lagged(lags_ms: list[float]) -> Any:
    """One single-call session per lag, scheduled 1 s apart and sent that late."""
    return frame([_sent(f"s{i}", 0, i * SEC, round(lag * MS)) for i, lag in enumerate(lags_ms)])


def _outcome(cpu_s: float = 0.1, wall_s: float = 10.0, runqueue: float | None = 0.0) -> Any:
    return WorkerOutcome(0, cpu_s, wall_s, rows=1, interrupted=False, runqueue_wait_s=runqueue)


def _warnings(df: Any, outcomes: list[WorkerOutcome] | None = None, closed: bool = False) -> Any:
    diag = D.diagnose(df, outcomes or [_outcome()], closed_loop=closed, calibration=None)
    return diag["warnings"]


def test_schedule_lag_percentiles_skip_warmup_and_unsent() -> None:
    rows = [_sent(f"s{i}", 0, i * SEC, lag * MS) for i, lag in enumerate([0, 1, 2, 3, 4])]
    rows.append(_sent("w", 0, 0, 500 * MS, **{S.WARMUP: True}))  # warmup: ignored
    rows.append(row("x", 0, **{S.T_SCHEDULED_NS: 0, S.T_SENT_NS: None}))  # never sent
    lag = D.lag_summary(frame(rows))
    # linear interpolation: p90 = 3 + 0.6 * (4 - 3), p95 = 3 + 0.8 * (4 - 3),
    # p99 = 3 + 0.96 * (4 - 3)
    assert lag == {
        "count": 5,
        "mean": 2.0,
        "p50": 2.0,
        "p90": pytest.approx(3.6),
        "p95": pytest.approx(3.8),
        "p99": pytest.approx(3.96),
        "max": 4.0,
    }
    assert D.lag_summary(frame(rows[-2:]))["count"] == 0
    assert D.lag_summary(frame(rows[-2:]))["p99"] is None


@pytest.mark.parametrize(("lag_ms", "warned"), [(1.9, False), (2.0, False), (2.1, True)])
def test_lag_warning_threshold(lag_ms: float, warned: bool) -> None:
    warnings = _warnings(_lagged([lag_ms] * 10))
    assert any("schedule lag p99" in w for w in warnings) is warned, warnings


def test_arrival_rates_roots_only() -> None:
    rows = [
        # 5 root sessions scheduled 0, 1, 2, 3, 4 s (intended 4 gaps / 4 s = 1/s),
        # the last one sent 1 s late (achieved 4 / 5 s = 0.8/s)
        *(_sent(f"s{i}", 0, i * SEC, 0) for i in range(4)),
        _sent("s4", 0, 4 * SEC, SEC),
        # later calls, a child session and an unsent root are not arrivals
        _sent("s0", 1, 9 * SEC, 0),
        _sent("c", 0, 20 * SEC, 0, **{S.PARENT_SESSION_ID: "s0"}),
        row("late", 0, **{S.T_SCHEDULED_NS: 30 * SEC, S.T_SENT_NS: None}),
    ]
    intended, achieved = D.arrival_rates(frame(rows))
    assert intended == pytest.approx(1.0)
    assert achieved == pytest.approx(0.8)
    # a session whose first row is a later call (cycled, or trimmed) starts at its lowest
    cut = frame([_sent("a", 3, 0, 0), _sent("a", 4, 5 * SEC, 0), _sent("b", 2, 2 * SEC, 0)])
    intended, achieved = D.arrival_rates(cut)
    assert intended == pytest.approx(0.5) and achieved == pytest.approx(0.5)
    assert D.arrival_rates(frame(rows[:1])) == (None, None)  # one arrival: no rate


@pytest.mark.parametrize(
    ("last_sent_s", "warned"),
    # intended 1/s over 4 gaps; RATE_SHORTFALL 0.95: 4 / 4.2 = 0.952 passes, 4 / 4.25 = 0.941
    [(4.0, False), (4.2, False), (4.25, True)],
)
def test_rate_shortfall_warning(last_sent_s: float, warned: bool) -> None:
    rows = [_sent(f"s{i}", 0, i * SEC, 0) for i in range(4)]
    rows.append(_sent("s4", 0, 4 * SEC, round((last_sent_s - 4) * SEC)))
    diag = D.diagnose(frame(rows), [_outcome()], closed_loop=False, calibration=None)
    assert diag["intended_rate"] == pytest.approx(1.0)
    assert diag["achieved_rate"] == pytest.approx(4 / last_sent_s)
    assert any("achieved session rate" in w for w in dig(diag, "warnings")) is warned


def test_closed_loop_has_no_intended_rate() -> None:
    rows = [_sent(f"s{i}", 0, i * SEC, 0) for i in range(4)]
    rows.append(_sent("s4", 0, 4 * SEC, 4 * SEC))  # far behind: no warning in closed loop
    diag = D.diagnose(frame(rows), [_outcome()], closed_loop=True, calibration=None, slots=1)
    assert diag["intended_rate"] is None
    # closed loop: sessions started (by their slots) after the one-slot ramp, over the
    # window up to the last admission: 4 at 1, 2, 3, 4 s over 4 s
    assert diag["achieved_rate"] == pytest.approx(1.0)
    assert diag["ramp"] == {"sessions": 1, "s": 0.0}
    assert not any("session rate" in w for w in dig(diag, "warnings"))


@pytest.mark.parametrize(("cpu_s", "warned"), [(8.4, False), (8.5, False), (8.6, True)])
def test_cpu_saturation_warning(cpu_s: float, warned: bool) -> None:
    # CPU_SATURATED 0.85 of a core over a 10 s wall
    warnings = _warnings(_lagged([0.1] * 3), [_outcome(cpu_s=cpu_s, wall_s=10.0)])
    assert any("of a core" in w for w in warnings) is warned, warnings


@pytest.mark.parametrize(
    ("runqueue", "warned"), [(None, False), (0.19, False), (0.2, False), (0.21, True)]
)
def test_runqueue_warning(runqueue: float | None, warned: bool) -> None:
    # RUNQUEUE_SHARE 2% of a 10 s wall = 0.2 s waiting for a CPU
    warnings = _warnings(_lagged([0.1] * 3), [_outcome(wall_s=10.0, runqueue=runqueue)])
    assert any("oversubscribed" in w for w in warnings) is warned, warnings


def test_on_schedule_run_is_quiet_and_reports_figures() -> None:
    rows = [_sent(f"s{i}", 0, i * SEC, 100_000) for i in range(5)]
    rows.append(
        _sent("e", 0, 5 * SEC, 0, **{S.STATUS: "error", S.ERROR_KIND: S.ErrorKind.HTTP_4XX})
    )
    outcomes = [_outcome(), WorkerOutcome(1, 0.2, 10.0, 3, False, None)]
    diag = D.diagnose(frame(rows), outcomes, closed_loop=False, calibration={"drift": 0.001})
    assert diag["warnings"] == []
    assert diag["requests"] == 6
    assert diag["errors"] == {S.ErrorKind.HTTP_4XX: 1}
    assert diag["calibration"] == {"drift": 0.001}
    assert dig(diag, "schedule_lag_ms", "p99") == pytest.approx(0.1)
    assert dig(diag, "client_cpu_s", "1") == {
        "cpu_s": 0.2,
        "wall_s": 10.0,
        "utilization": pytest.approx(0.02),
        "runqueue_wait_s": None,
    }

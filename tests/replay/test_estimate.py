"""The plan line's figures (replay.estimate), by hand; and --dry-run sends nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from agentload.replay import progress
from agentload.replay.config import ReplayConfig
from agentload.replay.estimate import Estimate, estimate, session_seconds
from agentload.replay.live_stats import LiveStats
from agentload.replay.plan import CallPlan, Plan, SessionPlan
from agentload.replay.progress import eta_s
from tests.replay.test_cli import run_cli
from tests.replay.workloads import write_profile


def _session(sid: str, arrival: float) -> SessionPlan:
    # call 0: 1000 prompt tokens, 100 out; call 1 after 2 s: 1200 prompt (100 new), 50 out
    calls = (
        CallPlan(0, 0.0, 1000, 100, None, final=False),
        CallPlan(1, 2.0, 1200, 50, None, final=True),
    )
    return SessionPlan(sid, arrival, calls)


PLAN = Plan(roots=(_session("a", 0.0), _session("b", 30.0)))
# 1000/5000 + 100/50 + 2 + 100/5000 + 50/50 = 0.2 + 2 + 2 + 0.02 + 1
SESSION_S = 5.22


def _config(**options: Any) -> ReplayConfig:
    return ReplayConfig(
        source=Path("p.arrow"), target="http://127.0.0.1:1", model="m", out=Path("o"), **options
    )


def test_session_seconds() -> None:
    assert session_seconds(PLAN.roots[0], _config()) == pytest.approx(SESSION_S)
    # think times scaled as the run scales them: 2 s x 0.5
    assert session_seconds(PLAN.roots[0], _config(think_scale=0.5)) == pytest.approx(4.22)


def test_recorded_arrivals() -> None:
    got = estimate(PLAN, _config(speed=2.0))
    # the last session arrives at 30 / 2 = 15 s and lasts 5.22 s
    assert (got.sessions, got.requests) == (2, 4)
    assert (got.prompt_tokens, got.output_tokens) == (4400, 300)
    assert got.duration_s == pytest.approx(15 + SESSION_S)


def test_closed_loop_until_the_source_is_used_up() -> None:
    got = estimate(PLAN, _config(concurrency=1))
    assert got.duration_s == pytest.approx(2 * SESSION_S)  # two sessions one after another


def test_closed_loop_with_duration_cycles() -> None:
    got = estimate(PLAN, _config(concurrency=2, duration=20.0))
    # 2 first sessions, then 2 slots x 20 s / 5.22 s sessions; then about one session's drain
    assert got.sessions == pytest.approx(2 + 2 * 20 / SESSION_S)
    assert got.requests == pytest.approx(2 * got.sessions)
    assert got.duration_s == pytest.approx(20 + SESSION_S)
    assert "plus the drain" in got.how
    cut = estimate(PLAN, _config(concurrency=2, duration=20.0, drain=False))
    assert cut.duration_s == pytest.approx(20.0)


def test_session_rate_with_max_sessions() -> None:
    got = estimate(PLAN, _config(session_rate=0.5, max_sessions=10))
    # 10 sessions (cycled), the last one starting at 9 / 0.5 = 18 s
    assert got.sessions == 10 and got.requests == 20
    assert got.duration_s == pytest.approx(18 + SESSION_S)


def test_plan_line_says_it_is_an_estimate() -> None:
    line = Estimate(16, 80, 120_000, 4_800, "closed loop at concurrency 8", 45.2, "x").line()
    assert line.startswith("plan: 16 sessions, 80 requests (120,000 prompt and 4,800 output")
    assert "estimated duration 45 s" in line and "an estimate assuming 50 output tok/s" in line


def test_dry_run_prints_the_plan_and_sends_nothing(tmp_path: Path) -> None:
    write_profile(tmp_path / "p.arrow")
    out = tmp_path / "out.arrow"
    args = [str(tmp_path / "p.arrow"), "--target", "http://127.0.0.1:1", "--model", "m"]
    result = run_cli(*args, "--out", str(out), "--concurrency", "2", "--dry-run")
    assert result.returncode == 0, result.stderr
    # the default Shape: 6 sessions and a child session (of 2 calls): 26 requests
    assert "plan: 6 sessions, 26 requests" in result.stderr
    assert "closed loop at concurrency 2" in result.stderr
    assert not out.exists()  # nothing sent (the target is a closed port), no result file


def test_eta() -> None:
    est = Estimate(10, 40, 0, 0, "closed loop at concurrency 2", 100.0, "x")
    assert eta_s(30.0, 0, est, timed=False) == pytest.approx(70.0)  # nothing done: the plan
    assert eta_s(30.0, 5, est, timed=False) == pytest.approx(30.0)  # half done in 30 s
    assert eta_s(30.0, 5, est, timed=True) == pytest.approx(70.0)  # --duration: the plan
    assert eta_s(130.0, 5, est, timed=True) == 0.0
    assert eta_s(30.0, 5, None, timed=False) is None


def test_plain_progress_lines_off_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.05)
    stats = LiveStats(sessions_started=3, sessions_done=1, requests=7, errors=1)
    est = Estimate(4, 16, 0, 0, "closed loop at concurrency 2", 60.0, "x")
    shown = progress.Progress([stats], True, expected=est, terminal=False)
    shown.start()
    time.sleep(0.3)
    shown.stop()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2
    assert lines[0].startswith("progress: 0:00 elapsed, sessions 1 of ~4 done, 2 running, ")
    assert "7 requests (1 errors)" in lines[0] and "ETA ~" in lines[0]
    quiet = progress.Progress([stats], False, expected=est, terminal=False)
    quiet.start()
    time.sleep(0.12)
    quiet.stop()
    assert capsys.readouterr().err == ""

"""Closed loop (--concurrency), cycling, --duration with and without drain, --max-sessions."""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pytest

from agentload.replay.plan import split_cycled
from agentload.traceformat import schema as S
from tests.replay.conftest import replay
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim
from tests.timing import Measured, Noise, within_noise
from tests.values import integer

MS = 1_000_000
SEC = 1_000_000_000


def _spans(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per root session family: first send to last end (children included)."""
    family = pl.col(S.SESSION_ID).str.replace(r"-child", "")
    return rows.group_by(family.alias("family")).agg(
        pl.col(S.T_SENT_NS).min().alias("start"), pl.col(S.T_END_NS).max().alias("end")
    )


def _max_in_flight(spans: pl.DataFrame) -> int:
    events = sorted([(s, 1) for s in spans["start"]] + [(e, -1) for e in spans["end"]])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def _closed_loop(tmp: Path) -> pl.DataFrame:
    write_profile(tmp / "p.arrow", Shape(sessions=10, calls=3, child=True))
    with running_sim("--preset", "fast") as sim:
        result = replay(tmp / "p.arrow", sim.url, tmp / "o.arrow", concurrency=3, think_scale=0.3)
    return result.frame


def _worst_refill_ms(rows: pl.DataFrame, noise: Noise) -> float:
    """Every session after the first three starts when an earlier one ends (a refill): the
    worst distance to the nearest end, a late start counted beyond the run-queue wait."""
    spans = _spans(rows).sort("start")
    ends = spans["end"].to_list()
    worst = 0.0
    for start in spans["start"].to_list()[3:]:
        near = min(abs(start - e) / MS if start < e else noise.late_ms(e, start) for e in ends)
        worst = max(worst, near)
    return worst


def test_closed_loop_bounds_and_refills(tmp_path_factory: pytest.TempPathFactory) -> None:
    measured = Measured(lambda: _closed_loop(tmp_path_factory.mktemp("closed")))
    rows = measured.first
    assert (rows[S.STATUS] == "ok").all()
    spans = _spans(rows).sort("start")
    assert spans.height == 10
    assert _max_in_flight(spans) == 3  # reached, never exceeded
    within_noise(measured, _worst_refill_ms, 5.0, "refill start after an end")


def test_duration_cycles_sessions_and_no_drain_cancels(tmp_path: Path) -> None:
    write_profile(
        tmp_path / "p.arrow",
        Shape(sessions=2, calls=3, child=False, think_s=(0.02,), outputs=(120,)),
    )
    with running_sim("--preset", "fast", "--token-interval-ms", "5") as sim:
        result = replay(
            tmp_path / "p.arrow",
            sim.url,
            tmp_path / "o.arrow",
            concurrency=2,
            duration=8.0,
            drain=False,
        )
    rows = result.frame
    cycles = {split_cycled(s)[1] for s in rows[S.SESSION_ID]}
    # 2 sessions of ~1.9 s each (3 calls of 120 tokens 5 ms apart) in an 8 s run: cycled
    # even when a busy machine slows the sim's steps fourfold (with 200-token calls a
    # machine under stress-ng --cpu 2 and a second suite did not finish one cycle)
    assert cycles >= {0, 1}, cycles
    cancelled = rows.filter(pl.col(S.ERROR_KIND) == S.ErrorKind.CANCELLED)
    # At the deadline each of the 2 slots is either waiting on a call (cancelled, one row)
    # or in its 20 ms think gap (no row): CI caught one slot in its gap, and a machine
    # whose sim steps kept both sessions in step caught both (calls ended 6 and 1 ms
    # before the deadline). So: at most one cancelled row per slot, and a slot without
    # one ended its last call just before the deadline (not a drained or idle slot).
    deadline_ns = integer(rows[S.T_SCHEDULED_NS].min()) + 8_000_000_000  # epoch <= first due
    assert cancelled.height <= 2, cancelled
    assert cancelled[S.T_SENT_NS].is_not_null().all()
    assert integer(rows[S.T_SENT_NS].max()) <= deadline_ns  # nothing sent after the stop
    stopped_ns = integer(cancelled[S.T_END_NS].min()) if cancelled.height else deadline_ns
    # The cancellations are one stop, and no call finished after it (no drain).
    if cancelled.height:
        assert integer(cancelled[S.T_END_NS].max()) - stopped_ns < 500_000_000
    oks = rows.filter(pl.col(S.STATUS) == "ok")
    assert integer(oks[S.T_END_NS].max()) <= stopped_ns, (oks[S.T_END_NS].max(), stopped_ns)
    slot = pl.col(S.SESSION_ID).map_elements(lambda s: split_cycled(s)[0], return_dtype=pl.String)
    in_gap = oks.with_columns(slot.alias("slot")).group_by("slot").agg(pl.col(S.T_END_NS).max())
    cancelled_slots = {split_cycled(s)[0] for s in cancelled[S.SESSION_ID]}
    for name, last_end in in_gap.iter_rows():
        if name not in cancelled_slots:  # think gap 20 ms; a busy machine sends late
            assert deadline_ns - last_end < 500_000_000, (name, deadline_ns - last_end)
    assert result.metadata[S.META_COMPLETE.decode()] == "true"


def _rate_run(tmp: Path) -> pl.DataFrame:
    tmp.mkdir()
    write_profile(tmp / "p.arrow", Shape(sessions=3, calls=1, child=False))
    with running_sim("--preset", "fast") as sim:
        result = replay(
            tmp / "p.arrow",
            sim.url,
            tmp / "o.arrow",
            session_rate=20.0,
            max_sessions=7,
            duration=10.0,
            warmup=0.12,
        )
    return result.frame.sort(S.T_SCHEDULED_NS)


def _third_send_late_ms(rows: pl.DataFrame, noise: Noise) -> float:
    return noise.late_ms(rows[S.T_SCHEDULED_NS][2], rows[S.T_SENT_NS][2])


def test_session_rate_and_max_sessions(tmp_path: Path) -> None:
    attempt = itertools.count()  # a retry (tests/timing.py) gets a folder of its own
    measured = Measured(lambda: _rate_run(tmp_path / f"run{next(attempt)}"))
    rows = measured.first
    assert rows.height == 7  # cycled past the 3 source sessions, stopped at 7
    gaps = rows[S.T_SCHEDULED_NS].diff().drop_nulls()
    assert ((gaps - 50 * MS).abs() <= 1000).all()  # constant rate: 50 ms apart
    # Warmup is decided by the send time: sent inside the run's first 0.12 s (session 0 is
    # due at the run's epoch).
    cut = integer(rows[S.T_SCHEDULED_NS].min()) + 120 * MS
    assert rows[S.WARMUP].to_list() == (rows[S.T_SENT_NS] < cut).to_list()
    # Sessions 0, 1 and 2 are due at 0, 50 and 100 ms: all three are warmup when the third
    # goes out less than 20 ms late (judged against the machine's noise).
    assert (rows[S.T_SCHEDULED_NS] < cut).to_list() == [True] * 3 + [False] * 4
    within_noise(measured, _third_send_late_ms, 20.0, "send lateness of the third session")


def _capped(tmp: Path) -> pl.DataFrame:
    profile = write_profile(tmp / "p.arrow", Shape(sessions=3, calls=5, child=True))
    with running_sim("--preset", "fast") as sim:
        result = replay(tmp / "p.arrow", sim.url, tmp / "o.arrow", max_think=0.05)
    return result.frame.join(
        profile.select(S.SESSION_ID, S.CALL_INDEX, S.THINK_S), on=[S.SESSION_ID, S.CALL_INDEX]
    )


def _capped_gaps(rows: pl.DataFrame) -> pl.DataFrame:
    prev_end = pl.col(S.T_END_NS).shift(1).over(S.SESSION_ID, order_by=S.CALL_INDEX)
    return (
        rows.with_columns(prev_end=prev_end)
        .filter(pl.col("prev_end").is_not_null())
        .select(
            pl.col(S.THINK_S),
            pl.col("prev_end"),
            pl.col(S.T_SENT_NS),
            ((pl.col(S.T_SENT_NS) - pl.col("prev_end")) / 1e9).alias("gap"),
            pl.min_horizontal(pl.col(S.THINK_S), pl.lit(0.05)).alias("want"),
        )
    )


def _worst_capped_late_ms(rows: pl.DataFrame, noise: Noise) -> float:
    gaps = _capped_gaps(rows)
    due = gaps["prev_end"] + (gaps["want"] * 1e9).cast(pl.Int64)
    return max(noise.late_ms(d, t) for d, t in zip(due, gaps[S.T_SENT_NS], strict=True))


def _child_ms(rows: pl.DataFrame) -> tuple[int, int]:
    """(the end of the parent call that spawned the child, the child's first send)."""
    parent = rows.filter((pl.col(S.SESSION_ID) == "s00") & (pl.col(S.CALL_INDEX) == 1))
    child = rows.filter((pl.col(S.SESSION_ID) == "s00-child") & (pl.col(S.CALL_INDEX) == 0))
    return parent[S.T_END_NS].item(), child[S.T_SENT_NS].item()


def test_max_think_caps_gaps(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Think times 0.05, 0.12, 0.2, 0.08 s capped at 0.05 s: every gap is min(think, 0.05);
    # uncapped, most would be 30-150 ms longer. The child's 0.03 s stays below the cap.
    measured = Measured(lambda: _capped(tmp_path_factory.mktemp("capped")))
    rows = measured.first
    assert (rows[S.STATUS] == "ok").all()
    gaps = _capped_gaps(rows)
    assert gaps.height == 3 * 4 + 1
    assert (gaps[S.THINK_S] > 0.05).sum() >= 6  # the cap is exercised
    late = gaps["gap"] - gaps["want"]
    assert (late >= -1e-6).all(), gaps  # never early
    # and far below the uncapped think times (lateness beyond the run-queue wait)
    within_noise(measured, _worst_capped_late_ms, 25.0, "capped gap lateness")
    # The child starts its (uncapped, 0.03 s) think after the parent call that spawned it.
    parent_end, child_sent = _child_ms(rows)
    assert (child_sent - parent_end) / 1e9 >= 0.03 - 1e-6

    def child_late_ms(run: pl.DataFrame, noise: Noise) -> float:
        end, sent = _child_ms(run)
        return noise.late_ms(end + 30 * MS, sent)

    within_noise(measured, child_late_ms, 25.0, "child start lateness")


def test_duration_drains_in_flight_sessions(tmp_path: Path) -> None:
    # Sessions of 3 calls x 60 tokens 2 ms apart (>= 0.4 s each) on 2 closed-loop slots,
    # stopped after 1 s: by default (drain) the sessions in flight at the deadline run to
    # their end, and no session starts after it.
    write_profile(
        tmp_path / "p.arrow",
        Shape(sessions=2, calls=3, child=False, think_s=(0.02,), outputs=(60,)),
    )
    with running_sim("--preset", "fast", "--token-interval-ms", "2") as sim:
        result = replay(
            tmp_path / "p.arrow", sim.url, tmp_path / "o.arrow", concurrency=2, duration=1.0
        )
    rows = result.frame
    assert result.metadata[S.META_COMPLETE.decode()] == "true"
    assert (rows[S.STATUS] == "ok").all(), rows[S.ERROR_KIND].to_list()  # nothing cancelled
    assert (rows[S.COMPLETION_TOKENS] == 60).all()
    sessions = rows.group_by(S.SESSION_ID).agg(
        pl.len().alias("calls"),
        pl.col(S.FINAL_CALL).any().alias("final"),
        pl.col(S.T_SCHEDULED_NS).min().alias("start"),
        pl.col(S.T_END_NS).max().alias("end"),
    )
    assert sessions.height >= 2
    assert (sessions["calls"] == 3).all() and sessions["final"].all()  # every one finished
    # The run's epoch is at or before the first scheduled send, so its deadline is at or
    # before first + 1 s: no session started at or after that, and some ended past it.
    deadline = integer(sessions["start"].min()) + SEC
    assert (sessions["start"] < deadline).all(), sessions
    assert (sessions["end"] > deadline).any(), sessions
    # Slots were refilled before the deadline: the 2 source sessions were cycled.
    assert {split_cycled(s)[1] for s in sessions[S.SESSION_ID]} >= {0, 1}, sessions

"""Closed loop (--concurrency), cycling, --duration with and without drain, --max-sessions."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from replay.plan import split_cycled
from tests.replay.conftest import replay
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim
from traceformat import schema as S

MS = 1_000_000


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


def test_closed_loop_bounds_and_refills(tmp_path: Path) -> None:
    write_profile(tmp_path / "p.arrow", Shape(sessions=10, calls=3, child=True))
    with running_sim("--preset", "fast") as sim:
        result = replay(
            tmp_path / "p.arrow", sim.url, tmp_path / "o.arrow", concurrency=3, think_scale=0.3
        )
    rows = result.frame
    assert (rows[S.STATUS] == "ok").all()
    spans = _spans(rows).sort("start")
    assert spans.height == 10
    assert _max_in_flight(spans) == 3  # reached, never exceeded
    # Every session after the first three starts when an earlier one ends (a refill).
    ends = spans["end"].to_list()
    for start in spans["start"].to_list()[3:]:
        assert min(abs(start - e) for e in ends) <= 5 * MS


def test_duration_cycles_sessions_and_no_drain_cancels(tmp_path: Path) -> None:
    write_profile(
        tmp_path / "p.arrow",
        Shape(sessions=2, calls=3, child=False, think_s=(0.02,), outputs=(200,)),
    )
    with running_sim("--preset", "fast", "--token-interval-ms", "5") as sim:
        result = replay(
            tmp_path / "p.arrow",
            sim.url,
            tmp_path / "o.arrow",
            concurrency=2,
            duration=4.0,
            drain=False,
        )
    rows = result.frame
    cycles = {split_cycled(s)[1] for s in rows[S.SESSION_ID]}
    assert cycles >= {0, 1}, cycles  # 2 sessions of ~3 s each in a 4 s run: cycled once
    cancelled = rows.filter(pl.col(S.ERROR_KIND) == S.ErrorKind.CANCELLED)
    assert cancelled.height == 2  # one in-flight call per slot at the deadline
    assert cancelled[S.T_SENT_NS].is_not_null().all()
    assert result.metadata[S.META_COMPLETE.decode()] == "true"


def test_session_rate_and_max_sessions(tmp_path: Path) -> None:
    write_profile(tmp_path / "p.arrow", Shape(sessions=3, calls=1, child=False))
    with running_sim("--preset", "fast") as sim:
        result = replay(
            tmp_path / "p.arrow",
            sim.url,
            tmp_path / "o.arrow",
            session_rate=20.0,
            max_sessions=7,
            duration=10.0,
            warmup=0.12,
        )
    rows = result.frame.sort(S.T_SCHEDULED_NS)
    assert rows.height == 7  # cycled past the 3 source sessions, stopped at 7
    gaps = rows[S.T_SCHEDULED_NS].diff().drop_nulls()
    assert ((gaps - 50 * MS).abs() <= 1000).all()  # constant rate: 50 ms apart
    # Sent inside the first 0.12 s (sessions 0, 1 and 2 at 0, 50 and 100 ms): warmup.
    assert rows[S.WARMUP].to_list() == [True] * 3 + [False] * 4

"""Wall-clock times from the monotonic rows and the recorded clock pair."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from agentload.analysis.run_analysis import analyze_path
from agentload.analysis.wallclock import iso, offset_ns, utc_columns
from agentload.traceformat import schema as s
from tests.analysis import synth
from tests.analysis.frames import frame, request

SEC = 1_000_000_000


def test_iso() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(1_796_000_000_123_456_789) == "2026-11-30T00:53:20.123Z"
    assert iso(None) is None


def test_offset_from_the_clock_pair_or_the_first_scheduled_send() -> None:
    rows = frame([request("a", 0, 5.0, 5.1, 6.0), request("a", 1, 7.0, 7.2, 8.0)])
    assert offset_ns({"start_wall_ns": 100 * SEC, "start_monotonic_ns": 4 * SEC}, rows) == 96 * SEC
    # older files: the wall time is taken as the first scheduled send (5 s)
    assert offset_ns({"start_wall_ns": 100 * SEC}, rows) == 95 * SEC
    assert offset_ns({}, rows) is None
    got = rows.select(utc_columns(96 * SEC))
    assert got["sent_utc"][0] == datetime.fromtimestamp(101, tz=UTC)
    assert got["end_utc"][1] == datetime.fromtimestamp(104, tz=UTC)
    assert rows.with_columns(utc_columns(None))["sent_utc"].null_count() == 2


def test_summary_and_request_table_carry_utc(tmp_path: Path) -> None:
    info = {"start_wall_ns": 1_796_000_000 * SEC, "start_monotonic_ns": synth.BASE_NS}
    a = analyze_path(synth.write(tmp_path / "r.arrow", sessions=3, info=info))
    first_sent = a.requests[s.T_SENT_NS].min()
    assert isinstance(first_sent, int)
    expected = iso(1_796_000_000 * SEC + first_sent - synth.BASE_NS)
    assert a.summary["clock"]["start_utc"] == expected
    assert a.requests.schema["sent_utc"] == pl.Datetime("ns", "UTC")

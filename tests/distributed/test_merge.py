"""Pure parts of the Ray path: clock conversion, drift, failure records, stream decoding."""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentload.replay.distributed.clock import ClockOffset, drift_slope
from agentload.replay.distributed.merge import add_ray_diagnostics, apply_drift, to_driver_clock
from agentload.replay.distributed.tail import FileTail, StreamDecoder
from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.io import StreamWriter
from agentload.traceformat.schema import Kind
from agentload.traceformat.validate import rows_to_table
from tests.values import dig


def _row(session: str, call: int, t0: int, *, ok: bool = True) -> dict[str, object]:
    return {
        S.SESSION_ID: session,
        S.CALL_INDEX: call,
        S.WORKER: 0,
        S.FINAL_CALL: False,
        S.WARMUP: False,
        S.T_SCHEDULED_NS: t0,
        S.T_SENT_NS: t0 + 10,
        S.T_FIRST_TOKEN_NS: t0 + 500 if ok else None,
        S.T_END_NS: t0 + 900,
        S.CHUNK_OFFSETS_NS: [490, 700] if ok else None,
        S.STATUS: "ok" if ok else "error",
    }


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    frame = pl.from_arrow(rows_to_table(rows, Kind.RESULT, "test"))
    assert isinstance(frame, pl.DataFrame)
    return frame


def test_to_driver_clock_shifts_times_only() -> None:
    part = _frame([_row("a", 0, 7_000_000_000), _row("a", 1, 7_000_002_000, ok=False)])
    out = to_driver_clock(part, 5_000_000_000, worker=3, node="n1")
    assert out[S.T_SCHEDULED_NS].to_list() == [2_000_000_000, 2_000_002_000]
    assert out[S.T_SENT_NS].to_list() == [2_000_000_010, 2_000_002_010]
    assert out[S.T_FIRST_TOKEN_NS].to_list() == [2_000_000_500, None]
    assert out[S.T_END_NS].to_list() == [2_000_000_900, 2_000_002_900]
    assert out[S.CHUNK_OFFSETS_NS].to_list() == part[S.CHUNK_OFFSETS_NS].to_list()
    assert out[S.WORKER].to_list() == [3, 3] and out[S.NODE].to_list() == ["n1", "n1"]


@given(
    ppm=st.integers(-500, 500).filter(lambda p: abs(p) >= 5),
    base=st.integers(-(10**12), 10**12),
)
def test_drift_correction_recovers_driver_times(ppm: int, base: int) -> None:
    """A remote clock running `ppm` fast/slow: converting with the first offset and then
    correcting with the second puts every time back on the driver clock (within 1 µs)."""

    def offset_at(t: int) -> int:
        return base + t * ppm // 1_000_000

    span = 600_000_000_000  # measurements 10 minutes apart
    before = ClockOffset(offset_at(0), 200_000, 0, 16, at_ns=0)
    after = ClockOffset(offset_at(span), 200_000, 0, 16, at_ns=span)
    truth = [0, 1_000_000_000, span // 2, span - 1]
    remote = [t + offset_at(t) for t in truth]
    frame = _frame([_row("a", i, r) for i, r in enumerate(remote)])
    converted = to_driver_clock(frame, before.offset_ns, worker=0, node="n")
    fixed = apply_drift(converted, 0, before, after)
    for got, want in zip(fixed[S.T_SCHEDULED_NS].to_list(), truth, strict=True):
        assert abs(got - want) <= 1_000
    other = apply_drift(converted, 1, before, after)  # another worker's rows stay as they are
    assert other.equals(converted)


def test_drift_within_the_uncertainty_is_ignored() -> None:
    before = ClockOffset(1_000, 400_000, 0, 16, at_ns=0)
    after = ClockOffset(300_000, 400_000, 0, 16, at_ns=10**9)
    assert drift_slope(before, after) == 0.0
    moved = ClockOffset(1_000_000, 400_000, 0, 16, at_ns=10**9)
    assert drift_slope(before, moved) > 0


def _actor(worker: int, status: str, rows: int) -> dict[str, object]:
    error = None if status == "done" else "ActorDiedError: killed"
    return {"worker": worker, "status": status, "error": error, "rows": rows, "hostname": "h"}


def test_failed_actor_makes_the_run_partial_with_a_warning() -> None:
    diagnostics: dict[str, object] = {"warnings": ["lag"]}
    complete = add_ray_diagnostics(diagnostics, [_actor(0, "done", 9), _actor(1, "failed", 4)], 2)
    assert complete is False
    warnings = diagnostics["warnings"]
    assert isinstance(warnings, list) and warnings[0] == "lag"
    assert "ray actor 1 on h failed: ActorDiedError: killed; 4 of its rows kept" in warnings[1]
    assert dig(diagnostics, "ray", "failed_actors") == [1]
    clean: dict[str, object] = {}
    assert add_ray_diagnostics(clean, [_actor(0, "done", 9)], 2) is True
    assert clean["warnings"] == []


@given(cuts=st.lists(st.integers(0, 10_000), max_size=12), batches=st.integers(1, 6))
def test_stream_decoder_reassembles_any_split(
    tmp_path_factory: pytest.TempPathFactory, cuts: list[int], batches: int
) -> None:
    """Bytes of a stream file fed in arbitrary pieces decode to exactly its rows."""
    path = tmp_path_factory.mktemp("dec") / "part.arrows"
    with StreamWriter(path, Kind.RESULT, {"w": 0}, flush_rows=1) as writer:
        for b in range(batches):
            writer.write([_row(f"s{b}", k, 10**9 * b + k) for k in range(b + 1)])
    data = path.read_bytes()
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    decoder, tables = StreamDecoder(), []
    for lo, hi in itertools.pairwise(points):
        table = decoder.feed(data[lo:hi])
        if table is not None:
            tables.append(table)
    got = pa.concat_tables(tables)
    assert got.to_pylist() == io.read(path).frame.to_arrow().to_pylist()
    assert decoder.rows == got.num_rows == batches * (batches + 1) // 2


def test_file_tail_returns_only_new_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    tail = FileTail(path)
    assert tail.read_new() == b""  # not there yet
    path.write_bytes(b"abc")
    assert tail.read_new() == b"abc"
    with path.open("ab") as fh:
        fh.write(b"de")
    assert tail.read_new() == b"de"
    assert tail.read_new() == b""

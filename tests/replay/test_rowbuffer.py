"""Result rows leave the event loop's thread for the file: a slow write never pauses the
loop (it paused it 4-21 ms a second at 3,000 requests/s), and a failed write still fails
the run."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from agentload.replay.rowbuffer import SWITCH_S, RowBuffer
from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.io import StreamWriter
from agentload.traceformat.schema import Kind


def _row(i: int) -> dict[str, object]:
    return {
        S.SESSION_ID: f"s{i}",
        S.CALL_INDEX: 0,
        S.WORKER: 0,
        S.FINAL_CALL: True,
        S.WARMUP: False,
        S.T_SCHEDULED_NS: i,
        S.STATUS: "ok",
    }


class SlowWriter(StreamWriter):
    """Holds each write for 0.3 s (a slow disk) and notes the thread it ran on."""

    threads: list[str]

    def write(self, rows: pa.Table) -> None:
        self.threads.append(threading.current_thread().name)
        time.sleep(0.3)
        super().write(rows)


def test_writes_run_off_the_calling_thread_and_close_waits_for_them(tmp_path: Path) -> None:
    writer = SlowWriter(tmp_path / "part.arrows", Kind.RESULT)
    writer.threads = []
    before = sys.getswitchinterval()
    rows = RowBuffer(writer)
    assert sys.getswitchinterval() == pytest.approx(SWITCH_S)  # the loop gets the GIL back sooner
    assert before > SWITCH_S
    for i in range(3):
        rows.append(_row(i))
        started = time.perf_counter()
        rows.write()
        assert time.perf_counter() - started < 0.25  # handed over, not written here
    rows.close()
    writer.close()
    assert sys.getswitchinterval() == before
    assert writer.threads and threading.current_thread().name not in writer.threads
    got = io.read(tmp_path / "part.arrows").frame
    assert got[S.SESSION_ID].to_list() == ["s0", "s1", "s2"]  # every row, in order


class FailingWriter(StreamWriter):
    def write(self, rows: pa.Table) -> None:
        raise OSError(28, "No space left on device")


def test_a_failed_write_raises_from_close(tmp_path: Path) -> None:
    writer = FailingWriter(tmp_path / "part.arrows", Kind.RESULT)
    rows = RowBuffer(writer)
    rows.append(_row(0))
    rows.write()
    with pytest.raises(OSError, match="No space"):
        rows.close()
    writer.close()

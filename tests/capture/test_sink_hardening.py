"""The writer under a moving floor (adversarial catalogue H2, M1): a trace file or directory
removed or replaced mid-run is noticed, recreated and the loss counted; no empty file is
left behind by errors at open or a file no row reached."""

from __future__ import annotations

import errno
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from agentload.capture import sink as sink_module
from agentload.capture.sink import Sink
from agentload.traceformat.io import StreamWriter, read
from tests.capture.test_sink import raw_call, wait_for
from tests.capture.tracehelper import row_builder


def _sink(out: Path, **kw: Any) -> Sink:
    return Sink(row_builder(), out, {}, rotate_bytes=1 << 30, rotate_seconds=3600, **kw)


@pytest.mark.parametrize("how", ["rmdir", "replace"])
def test_H2_removed_or_replaced_file_is_noticed_recreated_and_counted(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "traces"
    sink = _sink(out)
    caplog.set_level(logging.ERROR, "agentload.capture")
    sink.start()
    try:
        for i in range(3):
            sink.submit(raw_call(i, 1))
        wait_for(lambda: sink.stats.rows == 3)
        first = sink.stats.files[0]
        if how == "rmdir":
            shutil.rmtree(out)
        else:  # another file now at that path: ours must not be written over it
            first.unlink()
            first.write_bytes(b"someone else's")
        wait_for(lambda: sink.stats.lost == 3, 3.0)
        sink.submit(raw_call(3, 1))
        wait_for(lambda: sink.stats.rows == 1)
    finally:
        sink.close()
    assert sink.stats.lost == 3 and sink.stats.dropped == 3
    assert "was removed or replaced; 3 recorded calls lost" in caplog.text
    assert "3 dropped (3 lost with a removed or replaced trace file)" in sink.stats.summary()
    assert len(sink.stats.files) == 1 and sink.stats.files[0] != first
    assert read(sink.stats.files[0]).frame.height == 1  # recreated, readable on its own
    if how == "replace":
        assert first.read_bytes() == b"someone else's"


def test_M1_no_empty_file_after_an_error_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full while the schema is written: the file was created, holds nothing, and is
    removed; the retry gets a new name."""
    real = StreamWriter  # what sink_module imported
    failures = iter([True, True])

    def writer(path: Path, *args: Any, **kwargs: Any) -> Any:
        if next(failures, False):
            path.touch()  # created, then the write fails
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(sink_module, "StreamWriter", writer)
    sink = _sink(tmp_path, retry_seconds=0.1)
    sink.start()
    try:
        sink.submit(raw_call(0, 1))
        wait_for(lambda: sink.stats.errors == 1)
        assert list(tmp_path.iterdir()) == []  # positive control below: files do appear
        for i in (1, 2):

            def failed(times: int = i) -> bool:
                return sink.stats.errors >= times

            wait_for(failed)
            sink.submit(raw_call(i, 1))
        wait_for(lambda: sink.stats.rows == 1)
    finally:
        sink.close()
    files = sorted(tmp_path.iterdir())
    assert files == sink.stats.files and all(p.stat().st_size for p in files)
    assert len({p.name for p in files}) == len(files)


def test_M1_a_file_no_row_reached_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = _sink(tmp_path)

    def broken(raw: object) -> dict[str, Any]:
        raise ValueError("unparseable")

    monkeypatch.setattr(sink.builder, "build", broken)
    sink.start()
    try:
        sink.submit(raw_call(0, 1))
        wait_for(lambda: sink.stats.errors == 1)
        assert [p.stat().st_size > 0 for p in tmp_path.iterdir()] == [True]  # control
    finally:
        sink.close()
    assert list(tmp_path.iterdir()) == []

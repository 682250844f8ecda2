"""Per-batch checksums and the damage-versus-crash rules (issue 21: H3, L2, L6, L9).

The bit-flip statistics run in a child process (a reader crash would kill pytest) and
compare every read with the undamaged frame: each outcome must be identical data or a
clean one-line error naming the file, never silently changed or missing rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from agentload.base.errors import CorruptFileError, FormatError
from agentload.traceformat.integrity import BATCH_CRC, batch_metadata
from agentload.traceformat.io import StreamWriter, read, read_table, write_file
from agentload.traceformat.schema import META_VERSION, SCHEMAS, Kind, schema_for
from tests.traceformat.test_corrupt import sample

REPO = Path(__file__).resolve().parents[2]
FLIPS = 300  # per run: half in a 3-batch IPC file, half in a 4-batch closed stream


def multi_batch_profile(directory: Path) -> tuple[Path, Path]:
    rows = sample(Kind.PROFILE, 20_000)
    table = pa.Table.from_pylist(rows, schema=SCHEMAS[Kind.PROFILE])
    file_path = write_file(directory / "multi.arrow", Kind.PROFILE, table, {"t": "flip"})
    stream = directory / "multi.arrows"
    with StreamWriter(stream, Kind.PROFILE, {"t": "flip"}, flush_rows=100) as writer:
        for start in range(0, 400, 100):
            writer.write(rows[start : start + 100])
    return file_path, stream


CHILD = """
import random, sys
from pathlib import Path
from agentload.base.errors import AgentloadError
from agentload.traceformat.io import read

out, seed, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sources = [Path(p) for p in sys.argv[4:]]
originals = {p: read(p).frame for p in sources}
rng = random.Random(seed)
same = errors = silent = 0
for i in range(count):
    source = sources[i % len(sources)]
    data = bytearray(source.read_bytes())
    offset = rng.randrange(len(data))
    data[offset] ^= 1 << rng.randrange(8)
    target = out / "flip.arrow"
    target.write_bytes(data)
    try:
        frame = read(target).frame
    except AgentloadError as exc:
        errors += 1
        text = str(exc)
        if not text.startswith(str(target)) or "\\n" in text:
            print(f"BAD message at {source.name} byte {offset}: {text!r}", flush=True)
        continue
    if frame.equals(originals[source]):
        same += 1
    else:
        silent += 1
        print(f"SILENT {source.name} byte {offset}", flush=True)
print(f"same={same} errors={errors} silent={silent}", flush=True)
"""


def test_H3_bit_flips_never_change_data_silently(tmp_path: Path) -> None:
    sources = multi_batch_profile(tmp_path)
    for source in sources:
        assert read(source).frame.height in (20_000, 400)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), "21", str(FLIPS), *map(str, sources)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines, proc.stderr[-2000:]
    counts = dict(part.split("=") for part in lines[-1].split())
    bad = [line for line in lines if line.startswith(("SILENT", "BAD"))]
    assert int(counts["silent"]) == 0 and not bad, "\n".join(bad[:20])
    assert int(counts["errors"]) > 0 and int(counts["same"]) + int(counts["errors"]) == FLIPS


def test_H3_undecodable_batch_of_a_finished_file_is_an_error(tmp_path: Path) -> None:
    """A footer'd file was renamed into place whole: a broken batch is damage, not a cut."""
    path, _ = multi_batch_profile(tmp_path)
    data = bytearray(path.read_bytes())
    good = read_table(path)[0]
    # zero a stretch in the middle of the body: the second batch no longer decodes
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(data)
    with pytest.raises(CorruptFileError, match=r"multi\.arrow: corrupt file: record batch \d"):
        read_table(path)
    assert good.num_rows == 20_000


def test_H3_checksum_mismatch_names_file_and_batch(tmp_path: Path) -> None:
    """A batch that decodes and validates but whose values changed (here: rewritten with
    the checksum of other data) is refused."""
    schema = schema_for(Kind.PROFILE)
    one = pa.RecordBatch.from_pylist(sample(Kind.PROFILE, 3), schema=schema)
    other = pa.RecordBatch.from_pylist(sample(Kind.PROFILE, 3, start=5), schema=schema)
    path = tmp_path / "m.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        writer.write_batch(one, custom_metadata=batch_metadata(one, schema))
        writer.write_batch(one, custom_metadata=batch_metadata(other, schema))
    with pytest.raises(CorruptFileError, match=r"m\.arrow: .*record batch 1: data checksum"):
        read(path)


def test_H3_missing_checksum_in_a_1_2_file_is_an_error(tmp_path: Path) -> None:
    schema = schema_for(Kind.PROFILE)
    batch = pa.RecordBatch.from_pylist(sample(Kind.PROFILE, 2), schema=schema)
    meta = batch_metadata(batch, schema)
    del meta[BATCH_CRC]
    path = tmp_path / "n.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        writer.write_batch(batch, custom_metadata=meta)
    with pytest.raises(CorruptFileError, match=r"n\.arrow: .*record batch 0 has no data checksum"):
        read(path)


def test_H3_schema_metadata_is_covered(tmp_path: Path) -> None:
    """A changed digit in the schema metadata (block size, info) is caught too."""
    path = write_file(
        tmp_path / "s.arrow",
        Kind.PROFILE,
        pa.Table.from_pylist(sample(Kind.PROFILE, 2), schema=SCHEMAS[Kind.PROFILE]),
        extra_metadata={b"agentload.block_size": b"64"},
    )
    data = path.read_bytes()
    assert data.count(b"agentload.block_size") >= 1
    path.write_bytes(data.replace(b"\x0064\x00", b"\x0044\x00"))  # 64 -> 44, footer and head
    with pytest.raises(CorruptFileError, match=r"s\.arrow: .*schema checksum mismatch"):
        read(path)


def test_files_before_1_2_without_checksums_still_read(tmp_path: Path) -> None:
    schema = schema_for(Kind.PROFILE, {META_VERSION: b"1.1"})
    path = tmp_path / "old.arrows"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(pa.RecordBatch.from_pylist(sample(Kind.PROFILE, 3), schema=schema))
    loaded = read(path)
    assert loaded.version == "1.1" and loaded.frame.height == 3 and not loaded.truncated


def test_every_written_batch_carries_a_checksum(tmp_path: Path) -> None:
    path, stream = multi_batch_profile(tmp_path)
    reader = pa.ipc.open_file(path)
    assert reader.num_record_batches == 3
    for i in range(reader.num_record_batches):
        assert BATCH_CRC in reader.get_batch_with_custom_metadata(i)[1]
    with pa.ipc.open_stream(stream) as sr:
        metas = [meta for _, meta in sr.iter_batches_with_custom_metadata()]
    assert len(metas) == 5 and all(BATCH_CRC in m for m in metas)  # with the empty first


@pytest.mark.parametrize("content", [b"", b"h", b"hi\n", b"ARRO", b"ARROW1", b"ARROW1\0\0"])
def test_L2_tiny_files_are_one_line_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tiny.arrow"
    path.write_bytes(content)
    with pytest.raises(CorruptFileError, match=r"tiny\.arrow: .*(not an agentload|empty file)"):
        read(path)


def test_L6_damaged_file_with_no_recoverable_row_is_an_error(tmp_path: Path) -> None:
    path, _ = multi_batch_profile(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "half.arrow"
    cut.write_bytes(data[: len(data) // 5])  # inside batch 0, no footer
    with pytest.raises(CorruptFileError, match=r"half\.arrow: .*no row before it"):
        read(cut)


def test_L6_live_stream_without_rows_yet_is_still_readable(tmp_path: Path) -> None:
    """A capture writer that has not flushed yet: schema and empty batch, nothing cut."""
    path = tmp_path / "live.arrows"
    writer = StreamWriter(path, Kind.TRACE)
    try:
        loaded = read(path)
        assert loaded.frame.height == 0 and loaded.truncated
    finally:
        writer.close()


def test_L9_fifo_input_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.arrow"
    os.mkfifo(fifo)
    with pytest.raises(FormatError, match=r"pipe\.arrow: is a FIFO"):
        read(fifo)
    with pytest.raises(FormatError, match=r"is a directory"):
        read(tmp_path)


def test_H4_writers_refuse_to_replace_a_device(tmp_path: Path) -> None:
    """write_file renames a temp file over its target: never over a device or FIFO."""
    fifo = tmp_path / "out.arrow"
    os.mkfifo(fifo)
    frame = pl.DataFrame(sample(Kind.PROFILE, 1))
    with pytest.raises(Exception, match=r"out\.arrow: is a FIFO"):
        write_file(fifo, Kind.PROFILE, frame.to_arrow())
    assert fifo.is_fifo()
    with pytest.raises(Exception, match=r"out\.arrow: is a FIFO"):
        StreamWriter(fifo, Kind.PROFILE)

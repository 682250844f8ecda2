"""Damaged files: `read` returns a frame or raises an AgentloadError, never crashes.

Before batches were validated, random byte overwrites in small zstd files crashed the reader
inside polars (segfaults, Rust panics) about one time in six. A segfault would kill pytest, so
the mutation loop runs in a child process and reports the case it was on; the targeted tests
below call `read_table`, which fails cleanly (no error raised) if the checks regress, and the
CLI tests in tests/test_cli_errors.py run the full `read` on the same files in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from agentload.base.errors import CorruptFileError
from agentload.traceformat.io import _OPTIONS, StreamWriter, read, read_table, write_file
from agentload.traceformat.schema import META_VERSION, SCHEMAS, SESSION_ID, Kind, schema_for

REPO = Path(__file__).resolve().parents[2]
SEED = 20240611
MUTATIONS = 612  # 102 per file below; about 1 s


def value(typ: pa.DataType, i: int, j: int) -> Any:
    """A deterministic value of `typ` for row i, column j (lists of varying length)."""
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return f"v{i}-{j}-" + "é" * (i % 5)
    if pa.types.is_boolean(typ):
        return (i + j) % 2 == 0
    if pa.types.is_integer(typ):
        return i * 7 + j
    if pa.types.is_floating(typ):
        return i * 0.5 + j
    if pa.types.is_list(typ):
        return [value(typ.value_type, i, j + k) for k in range(i % 4)]
    if pa.types.is_struct(typ):
        return {f.name: value(f.type, i, j) for f in typ}
    raise NotImplementedError(str(typ))


def sample(kind: Kind, n: int, start: int = 0) -> list[dict[str, Any]]:
    schema = SCHEMAS[kind]
    return [{f.name: value(f.type, start + i, c) for c, f in enumerate(schema)} for i in range(n)]


def write_samples(directory: Path) -> list[Path]:
    """One closed stream (3 batches) and one IPC file of each kind, a few KB each."""
    paths = []
    for kind in Kind:
        stream = directory / f"{kind}.arrows"
        with StreamWriter(stream, kind, {"test": "corrupt"}, flush_rows=4) as writer:
            for batch in range(3):
                writer.write(sample(kind, 4, 4 * batch))
        table = pa.Table.from_pylist(sample(kind, 12), schema=SCHEMAS[kind])
        paths += [stream, write_file(directory / f"{kind}.arrow", kind, table, {"test": "x"})]
    return paths


# Runs in a child process: for each mutation, overwrite `length` bytes at a random offset with
# random bytes, then read. Prints the case before reading so a crash names it.
CHILD = """
import random, sys
from pathlib import Path
import polars as pl
from agentload.base.errors import AgentloadError
from agentload.traceformat.io import read

out, seed, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sources = [Path(p) for p in sys.argv[4:]]
rng = random.Random(seed)
frames = errors = batch_errors = 0
bad = []
for i in range(count):
    source = sources[i % len(sources)]
    data = bytearray(source.read_bytes())
    offset = rng.randrange(len(data))
    length = rng.choice([1, 1, 1, 2, 3, 4, 8, 16, 64])
    end = min(len(data), offset + length)
    data[offset:end] = rng.randbytes(end - offset)
    target = out / ("m" + str(i) + "-" + source.name)
    target.write_bytes(data)
    case = f"mutation {i}: {source.name} bytes {offset}..{end} overwritten ({target})"
    print(case, flush=True)
    try:
        loaded = read(target)
        assert isinstance(loaded.frame, pl.DataFrame)
        frames += 1
    except AgentloadError as exc:
        errors += 1
        batch_errors += "record batch" in str(exc)
        if str(target) not in str(exc) or "\\n" in str(exc):
            bad.append(f"{case}: message not one line naming the file: {exc!r}")
    except BaseException as exc:  # PanicException is a BaseException
        bad.append(f"{case}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
    else:
        target.unlink()
print(f"frames={frames} errors={errors} batch_errors={batch_errors}", flush=True)
for line in bad:
    print("BAD", line, flush=True)
sys.exit(1 if bad else 0)
"""


def test_random_byte_overwrites_never_crash(tmp_path: Path) -> None:
    sources = write_samples(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), str(SEED), str(MUTATIONS), *map(str, sources)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = proc.stdout.splitlines()
    if proc.returncode < 0:
        pytest.fail(
            f"reader killed by signal {-proc.returncode} on {lines[-1] if lines else '?'}"
            f"\nstderr tail:\n{proc.stderr[-2000:]}"
        )
    bad = [line for line in lines if line.startswith("BAD ")]
    assert proc.returncode == 0 and not bad, "\n".join(bad) + proc.stderr[-2000:]
    # A Rust panic prints to stderr even when caught, which would break the CLI's one line.
    assert "panicked" not in proc.stderr, proc.stderr[-2000:]
    counts = dict(part.split("=") for part in lines[-1].split())
    # The mutations must actually exercise both outcomes and the batch check.
    assert int(counts["frames"]) > 0 and int(counts["batch_errors"]) > 0, lines[-1]


def write_bad_offsets(path: Path) -> Path:
    """A profile IPC file whose session_id offsets go backwards ([0, 5, 1]): decodes fine,
    fails full validation. Before validation, reading it segfaulted inside polars."""
    schema = schema_for(Kind.PROFILE)
    good = pa.Table.from_pylist(sample(Kind.PROFILE, 2), schema=SCHEMAS[Kind.PROFILE])
    offsets = pa.array([0, 5, 1], pa.int32()).buffers()[1]
    bad = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(b"sssss")])
    columns = [bad if name == SESSION_ID else good.column(name) for name in good.column_names]
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema, options=_OPTIONS) as w:
        w.write_table(pa.Table.from_arrays(columns, schema=schema))
    return path


def test_invalid_offsets_are_a_corrupt_file_error(tmp_path: Path) -> None:
    path = write_bad_offsets(tmp_path / "bad.arrow")
    with pytest.raises(CorruptFileError, match=r"record batch 0 is damaged.*non-monotonic"):
        read_table(path)


def test_damaged_batch_in_a_stream_is_an_error_not_a_truncation(tmp_path: Path) -> None:
    """A batch that decodes but is invalid was written whole: an error, not a silent cut."""
    path = tmp_path / "s.arrows"
    with StreamWriter(path, Kind.PROFILE, flush_rows=2) as writer:
        writer.write(sample(Kind.PROFILE, 2))
    good = read(path)
    assert good.frame.height == 2 and not good.truncated
    schema = schema_for(Kind.PROFILE, {META_VERSION: b"1.1"})  # checksums optional before 1.2
    bad = pa.ipc.open_file(write_bad_offsets(tmp_path / "bad.arrow")).get_batch(0)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as w:
        w.write_batch(pa.RecordBatch.from_pylist(sample(Kind.PROFILE, 2), schema=schema))
        w.write_batch(bad)
    with pytest.raises(CorruptFileError, match=r"s\.arrows: .*record batch 1 is damaged"):
        read_table(path)


def damage_item_name(path: Path) -> Path:
    """Make the first list item field name in `path`'s schema invalid UTF-8 ("i\\xfeem")."""
    data = path.read_bytes()
    at = data.index(b"item")  # schema messages are not compressed
    path.write_bytes(data[: at + 1] + b"\xfe" + data[at + 2 :])
    return path


def test_invalid_nested_field_name_is_not_a_panic(tmp_path: Path) -> None:
    """A damaged list item name made polars panic on import (the data itself is intact)."""
    path = damage_item_name(write_samples(tmp_path)[0])  # trace stream: list<item: int64>
    with pytest.raises(CorruptFileError, match=r"field name or field metadata .* not UTF-8"):
        read_table(path)

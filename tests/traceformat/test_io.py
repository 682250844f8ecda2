"""Writers, reader, compaction and validation of the three kinds."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentload.base.errors import (
    ConfigError,
    CorruptFileError,
    FormatError,
    VersionError,
    WrongKindError,
)
from agentload.traceformat.integrity import batch_metadata
from agentload.traceformat.io import StreamWriter, compact, read, write_file
from agentload.traceformat.schema import (
    ADDED_IN,
    API,
    ARRIVAL_S,
    CALL_INDEX,
    CONTENT_DATA,
    CONTENT_ID,
    CONTENT_SIZE,
    ENDPOINT,
    EXTRA,
    FINAL_CALL,
    HASH_IDS,
    INPUT_TOKENS,
    META_BLOCK_SIZE,
    META_COMPLETE,
    META_INFO,
    META_KIND,
    META_VERSION,
    NEW_CONTENT,
    NEW_INPUT_TOKENS,
    OUTPUT_TOKENS,
    PARTIAL,
    SCHEMAS,
    SESSION_ID,
    STATUS,
    STREAM,
    T_REQUEST_START_NS,
    T_SCHEDULED_NS,
    THINK_S,
    USAGE_SOURCE,
    VERSION,
    WARMUP,
    WORKER,
    WORKLOAD,
    Kind,
    parse_version,
    schema_for,
)
from tests.traceformat.strategies import rows

KINDS = list(Kind)


def full(kind: Kind, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with every column of `kind` (absent = None), as read() returns it."""
    return {name: row.get(name) for name in SCHEMAS[kind].names}


def profile_row(session: str = "s", call: int = 0, **over: Any) -> dict[str, Any]:
    row = {
        SESSION_ID: session,
        CALL_INDEX: call,
        WORKLOAD: "w",
        ARRIVAL_S: 0.0,
        THINK_S: 0.0,
        INPUT_TOKENS: 10,
        NEW_INPUT_TOKENS: 10,
        OUTPUT_TOKENS: 5,
    }
    row.update(over)
    return row


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_stream_round_trip(
    kind: Kind, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    written = data.draw(rows(kind))
    chunks = data.draw(st.lists(st.integers(1, 5), min_size=1))
    flush_rows = data.draw(st.integers(1, 8))
    path = tmp_path_factory.mktemp("s") / "x.arrows"
    info = {"target": "http://127.0.0.1:1", "n": 3}
    with StreamWriter(path, kind, info, flush_rows=flush_rows, flush_seconds=60) as writer:
        start, i = 0, 0
        while start < len(written):
            part = written[start : start + chunks[i % len(chunks)]]
            # Same rows, three accepted shapes: dicts (absent keys = null), batch, table.
            shape = i % 3
            if shape == 0:
                writer.write([{k: v for k, v in r.items() if v is not None} for r in part])
            else:
                table = pa.Table.from_pylist(part, schema=SCHEMAS[kind])
                writer.write(table.to_batches()[0] if shape == 1 and part else table)
            start += len(part)
            i += 1
    loaded = read(path, kind)
    assert loaded.kind == kind and loaded.version == VERSION and not loaded.truncated
    assert loaded.info == info
    assert loaded.frame.to_dicts() == [full(kind, r) for r in written]
    assert loaded.frame.columns == SCHEMAS[kind].names


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_file_round_trip(
    kind: Kind, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    written = data.draw(rows(kind))
    path = tmp_path_factory.mktemp("f") / "x.arrow"
    table = pa.Table.from_pylist(written, schema=SCHEMAS[kind])
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    write_file(path, kind, frame, {"k": [1, 2]}, {META_COMPLETE: b"true"})
    loaded = read(path, kind)
    assert path.read_bytes()[:6] == b"ARROW1"
    assert loaded.frame.to_dicts() == [full(kind, r) for r in written]
    assert loaded.info == {"k": [1, 2]} and loaded.metadata[META_COMPLETE.decode()] == "true"
    assert not loaded.truncated
    # Reading our own frame back and writing it again is lossless too.
    write_file(path, kind, loaded.frame)
    assert read(path).frame.equals(loaded.frame)


def test_flush_by_rows_and_by_time(tmp_path: Path) -> None:
    path = tmp_path / "p.arrows"
    writer = StreamWriter(path, Kind.PROFILE, flush_rows=3, flush_seconds=0.2)
    writer.write([profile_row(call=i) for i in range(2)])
    assert read(path).frame.height == 0  # buffered: below both limits
    writer.write([profile_row(call=2)])
    assert read(path).frame.height == 3  # flush_rows reached
    writer.write([profile_row(call=3)])
    assert not writer.flush_if_due()
    time.sleep(0.25)
    assert writer.flush_if_due()
    mid = read(path)
    assert mid.frame.height == 4 and mid.truncated  # no end-of-stream marker yet
    writer.close()
    assert not read(path).truncated


def test_compact_in_place_for_scan_ipc(tmp_path: Path) -> None:
    path = tmp_path / "r.arrows"
    with StreamWriter(path, Kind.PROFILE, {"a": 1}, flush_rows=2) as writer:
        writer.write([profile_row(call=i) for i in range(5)])
    out = compact(path, extra_metadata={META_COMPLETE: b"true", META_BLOCK_SIZE: b"64"})
    assert out == path
    loaded = read(path, Kind.PROFILE)
    assert loaded.metadata[META_COMPLETE.decode()] == "true"
    assert loaded.metadata[META_BLOCK_SIZE.decode()] == "64"
    assert loaded.info == {"a": 1}
    scanned = pl.scan_ipc(path).select(pl.col(CALL_INDEX).sum()).collect().item()
    assert scanned == 10
    assert [p.name for p in tmp_path.iterdir()] == ["r.arrows"]  # no temp file left


def test_compact_truncated_stream_to_other_path(tmp_path: Path) -> None:
    path = tmp_path / "r.arrows"
    writer = StreamWriter(path, Kind.PROFILE, flush_rows=2)
    writer.write([profile_row(call=i) for i in range(4)])  # flushed
    writer.write([profile_row(call=4)])  # buffered
    out = compact(path, tmp_path / "r.arrow")
    assert read(out).frame[CALL_INDEX].to_list() == [0, 1, 2, 3]
    assert not read(out).truncated and read(path).truncated
    writer.close()


def test_every_truncation_point_recovers_complete_batches(tmp_path: Path) -> None:
    path = tmp_path / "t.arrows"
    ends = []
    with StreamWriter(path, Kind.PROFILE, flush_rows=4) as writer:
        schema_end = path.stat().st_size
        for batch in range(5):
            writer.write([profile_row(call=batch * 4 + i, **{EXTRA: "x" * 50}) for i in range(4)])
            ends.append(path.stat().st_size)
    data = path.read_bytes()
    cut_path = tmp_path / "cut.arrows"
    for cut in range(schema_end, len(data), 7):
        cut_path.write_bytes(data[:cut])
        expected = 4 * sum(1 for end in ends if end <= cut)
        if expected == 0 and cut > schema_end:
            # L6: a recovery that keeps no row is an error, not an empty file
            with pytest.raises(CorruptFileError, match=r"cut\.arrows: .*no row before it"):
                read(cut_path)
            continue
        loaded = read(cut_path)
        assert loaded.frame.height == expected, cut
        assert loaded.frame[CALL_INDEX].to_list() == list(range(expected))
        assert loaded.truncated


def test_H3_file_format_cut_before_its_footer_is_damage(tmp_path: Path) -> None:
    """A finished file is renamed into place whole, so one without its footer was cut
    afterwards: an error, not a crash-truncated stream. (Catalogue rows 125-127 and
    202-210; office-work.arrow cut at 60% read as 16,384 of 42,770 calls, exit 0.)"""
    path = tmp_path / "f.arrow"
    write_file(path, Kind.PROFILE, pl.DataFrame([profile_row(call=i) for i in range(3)]))
    data = path.read_bytes()
    path.write_bytes(data[:-20])  # footer gone, every batch still whole
    with pytest.raises(CorruptFileError, match=r"f\.arrow: corrupt file: cut short .* 3 rows"):
        read(path)


def raw_file(
    path: Path, schema: pa.Schema, rows: list[dict[str, Any]], *, checksums: bool = True
) -> Path:
    """An IPC file of `schema`, with checksums as our writers put them (format 1.2) or
    without, as files before 1.2 were written."""
    batch = pa.RecordBatch.from_pylist(rows, schema=schema)
    custom = batch_metadata(batch, schema) if checksums else None
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        writer.write_batch(batch, custom_metadata=custom)
    return path


def test_refuses_wrong_kind(tmp_path: Path) -> None:
    path = write_file(tmp_path / "p.arrow", Kind.PROFILE, pl.DataFrame([profile_row()]))
    with pytest.raises(WrongKindError, match=r"p\.arrow: is a profile file, expected a trace"):
        read(path, Kind.TRACE)
    assert read(path, Kind.PROFILE).kind == Kind.PROFILE


def test_refuses_future_major_version(tmp_path: Path) -> None:
    schema = schema_for(Kind.PROFILE, {META_VERSION: b"2.0"})
    path = raw_file(tmp_path / "v.arrow", schema, [profile_row()])
    with pytest.raises(VersionError, match=r"v\.arrow: format version 2\.0 is not supported"):
        read(path)
    # A newer minor version of the same major is read.
    schema = schema_for(Kind.PROFILE, {META_VERSION: b"1.7"})
    assert read(raw_file(tmp_path / "m.arrow", schema, [profile_row()])).version == "1.7"


def test_reads_files_of_an_older_minor_version(tmp_path: Path) -> None:
    """A 1.0 file has no usage_source (added in 1.1): it reads as nulls, in schema order.
    Files before 1.2 carry no checksums."""
    assert VERSION == "1.2"
    for kind in (Kind.PROFILE, Kind.RESULT):
        base = SCHEMAS[kind]
        old = base.remove(base.get_field_index(USAGE_SOURCE))
        schema = old.with_metadata(schema_for(kind, {META_VERSION: b"1.0"}).metadata)
        row = profile_row() if kind is Kind.PROFILE else result_row()
        path = raw_file(tmp_path / f"{kind}-1.0.arrow", schema, [row, row], checksums=False)
        loaded = read(path)
        assert loaded.version == "1.0"
        assert loaded.frame.columns == base.names
        assert loaded.frame[USAGE_SOURCE].to_list() == [None, None]
        assert loaded.frame.schema[USAGE_SOURCE] == pl.String
        # The same file claiming 1.1 lacks a column of its own version.
        schema = old.with_metadata(schema_for(kind, {META_VERSION: b"1.1"}).metadata)
        with pytest.raises(FormatError, match=r"1\.1\.arrow: missing column 'usage_source'"):
            read(raw_file(tmp_path / f"{kind}-1.1.arrow", schema, [row], checksums=False))


def test_reads_a_newer_minor_version_with_extra_columns(tmp_path: Path) -> None:
    base = SCHEMAS[Kind.PROFILE]
    newer = base.append(pa.field("later_column", pa.int64()))
    schema = newer.with_metadata(schema_for(Kind.PROFILE, {META_VERSION: b"1.9"}).metadata)
    row = profile_row() | {USAGE_SOURCE: "estimate", "later_column": 3}
    loaded = read(raw_file(tmp_path / "n.arrow", schema, [row]))
    assert loaded.version == "1.9"
    assert loaded.frame[USAGE_SOURCE].to_list() == ["estimate"]
    assert loaded.frame["later_column"].to_list() == [3]
    schema = base.with_metadata(schema_for(Kind.PROFILE, {META_VERSION: b"x.1"}).metadata)
    with pytest.raises(VersionError, match=r"format version x\.1 is not supported"):
        read(raw_file(tmp_path / "x.arrow", schema, [row]))


def test_a_newer_minor_version_is_said_once_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newer = schema_for(Kind.PROFILE, {META_VERSION: b"1.9"})
    first, second = (raw_file(tmp_path / n, newer, [profile_row()]) for n in ("a", "b.arrow"))
    read(first)
    read(tmp_path / "." / "a")  # the same file by another spelling
    read(first)
    read(second)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"warning: {first}: format version 1.9 is newer than this agentload's {VERSION};"
        f" read as {VERSION} (what 1.9 added is not understood)",
        f"warning: {second}: format version 1.9 is newer than this agentload's {VERSION};"
        f" read as {VERSION} (what 1.9 added is not understood)",
    ]
    # Its own version and older minors read silently.
    current = write_file(tmp_path / "c.arrow", Kind.PROFILE, pl.DataFrame([profile_row()]))
    major, minor = parse_version(VERSION)
    older = schema_for(Kind.PROFILE, {META_VERSION: f"{major}.{minor - 1}".encode()})
    read(current)
    read(raw_file(tmp_path / "o.arrow", older, [profile_row()]))
    assert capsys.readouterr().err == ""


def test_columns_added_in_a_minor_version_are_nullable_and_last() -> None:
    for kind, added in ADDED_IN.items():
        names = SCHEMAS[kind].names
        assert names[-len(added) :] == list(added), kind
        for name, version in added.items():
            assert SCHEMAS[kind].field(name).nullable
            assert parse_version(version) <= parse_version(VERSION)
            assert parse_version(version)[0] == parse_version(VERSION)[0]


def result_row() -> dict[str, Any]:
    return {
        SESSION_ID: "s",
        CALL_INDEX: 0,
        WORKER: 0,
        FINAL_CALL: True,
        WARMUP: False,
        T_SCHEDULED_NS: 1,
        STATUS: "ok",
    }


def test_refuses_non_agentload_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, I am not arrow\n")
    with pytest.raises(CorruptFileError, match=r"notes\.txt: not an agentload Arrow file"):
        read(text)
    empty = tmp_path / "empty.arrow"
    empty.write_bytes(b"")
    with pytest.raises(CorruptFileError, match=r"empty\.arrow: empty file"):
        read(empty)
    plain = raw_file(tmp_path / "plain.arrow", pa.schema([("a", pa.int64())]), [{"a": 1}])
    with pytest.raises(WrongKindError, match=r"plain\.arrow: an Arrow file but not an agentload"):
        read(plain)
    with pytest.raises(FormatError, match=r"missing\.arrow: cannot read"):
        read(tmp_path / "missing.arrow")


def test_validation_names_the_field(tmp_path: Path) -> None:
    base = SCHEMAS[Kind.PROFILE]
    meta = schema_for(Kind.PROFILE).metadata
    missing = base.remove(base.get_field_index(THINK_S)).with_metadata(meta)
    row = profile_row()
    path = raw_file(tmp_path / "a.arrow", missing, [row])
    with pytest.raises(FormatError, match=r"a\.arrow: missing column 'think_s'"):
        read(path)
    index = base.get_field_index(INPUT_TOKENS)
    wrong = base.set(index, pa.field(INPUT_TOKENS, pa.string())).with_metadata(meta)
    path = raw_file(tmp_path / "b.arrow", wrong, [{**row, INPUT_TOKENS: "ten"}])
    with pytest.raises(FormatError, match=r"b\.arrow: column 'input_tokens' has type string"):
        read(path)
    loose = pa.schema([f.with_nullable(True) for f in base]).with_metadata(meta)
    path = raw_file(tmp_path / "c.arrow", loose, [{**row, WORKLOAD: None}])
    with pytest.raises(FormatError, match=r"c\.arrow: column 'workload' is required"):
        read(path)
    bad_info = schema_for(Kind.PROFILE, {META_INFO: b"[1"})
    with pytest.raises(FormatError, match=r"d\.arrow: metadata agentload.info"):
        read(raw_file(tmp_path / "d.arrow", bad_info, [row]))


def test_writer_validation_names_the_field(tmp_path: Path) -> None:
    with StreamWriter(tmp_path / "w.arrows", Kind.PROFILE) as writer:
        with pytest.raises(FormatError, match="unknown column 'input_tokenz'"):
            writer.write([{**profile_row(), "input_tokenz": 1}])
        with pytest.raises(FormatError, match="'output_tokens': value 'many' does not fit int64"):
            writer.write([profile_row() | {OUTPUT_TOKENS: "many"}])
        with pytest.raises(FormatError, match="column 'think_s' is required"):
            writer.write([{k: v for k, v in profile_row().items() if k != THINK_S}])
    with pytest.raises(FormatError, match="missing required column 'session_id'"):
        write_file(tmp_path / "x.arrow", Kind.PROFILE, pl.DataFrame({CALL_INDEX: [0]}))


def test_metadata_kind_and_extra_keys(tmp_path: Path) -> None:
    path = tmp_path / "m.arrows"
    with StreamWriter(path, Kind.RESULT, extra_metadata={META_COMPLETE: b"false"}):
        pass
    loaded = read(path, Kind.RESULT)
    assert loaded.frame.height == 0 and not loaded.truncated
    assert loaded.metadata[META_KIND.decode()] == "result"
    assert loaded.metadata[META_COMPLETE.decode()] == "false"
    assert loaded.info == {}
    assert json.loads(json.dumps(loaded.metadata))  # plain str -> str


def test_writer_accepts_polars_frames(tmp_path: Path) -> None:
    path = tmp_path / "pl.arrows"
    frame = pl.DataFrame([profile_row(call=i) for i in range(3)])
    with StreamWriter(path, Kind.PROFILE) as writer:
        writer.write(frame)
    assert read(path).frame[CALL_INDEX].to_list() == [0, 1, 2]


def test_unwritable_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no/such/dir/x\.arrows: cannot write"):
        StreamWriter(tmp_path / "no" / "such" / "dir" / "x.arrows", Kind.RESULT)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (CALL_INDEX, 2**31),  # int32 overflow
        (INPUT_TOKENS, True),  # bool is not a count
        (THINK_S, "0.5"),
        (HASH_IDS, [1, "2"]),
        (HASH_IDS, [2**63]),
        (HASH_IDS, 5),
        (WORKLOAD, 3),
    ],
)
def test_writer_rejects_values_that_do_not_fit(tmp_path: Path, column: str, value: Any) -> None:
    with StreamWriter(tmp_path / "w.arrows", Kind.PROFILE, flush_rows=1) as writer:
        with pytest.raises(FormatError, match=f"column '{column}': value .* does not fit"):
            writer.write([profile_row(**{column: value})])
        writer.write([profile_row(call=7)])  # the writer is still usable
    assert read(tmp_path / "w.arrows").frame[CALL_INDEX].to_list() == [7]


def test_writer_checks_nested_content_structs(tmp_path: Path) -> None:
    row = {
        SESSION_ID: "s",
        CALL_INDEX: 0,
        WORKLOAD: "w",
        API: "openai-chat",
        ENDPOINT: "/v1/chat/completions",
        STREAM: True,
        T_REQUEST_START_NS: 1,
        PARTIAL: False,
    }
    with StreamWriter(tmp_path / "t.arrows", Kind.TRACE) as writer:
        bad = [{CONTENT_ID: None, CONTENT_SIZE: 1, CONTENT_DATA: "x"}]
        with pytest.raises(FormatError, match="column 'new_content'"):
            writer.write([{**row, NEW_CONTENT: bad}])
        good = [{CONTENT_ID: "a", CONTENT_SIZE: 1, CONTENT_DATA: None}]
        writer.write([{**row, NEW_CONTENT: good}])
    assert read(tmp_path / "t.arrows").frame[NEW_CONTENT].to_list() == [good]

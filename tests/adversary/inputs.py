"""The catalogue's input files, made at run time under `files/`: small profiles, a result,
and every damaged, malformed or odd input its rows name (flip1_3242.arrow: a seeded one-bit
flip at byte 3242; trunc0.5.arrow: the first half; trie_nan.jsonl: a NaN latency; ...)."""

from __future__ import annotations

import json
import random
import re
import zlib
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from agentload.traceformat import schema as S
from agentload.traceformat.integrity import batch_metadata
from agentload.traceformat.io import write_file


def _session(sid: str, arrival: float, calls: int, out: int, **extra: Any) -> list[dict[str, Any]]:
    rows, context = [], 0
    for call in range(calls):
        new = 120 if call == 0 else out + 40
        context += new
        row = {
            S.SESSION_ID: sid,
            S.CALL_INDEX: call,
            S.WORKLOAD: "adversary",
            S.ARRIVAL_S: arrival,
            S.THINK_S: 0.0 if call == 0 else 0.1,
            S.INPUT_TOKENS: context,
            S.NEW_INPUT_TOKENS: new,
            S.OUTPUT_TOKENS: out,
        }
        rows.append({**row, **(extra if call == 0 else {})})
        context += out
    return rows


def small_rows(out: int = 16) -> list[dict[str, Any]]:
    """26 calls: six root sessions of 4 calls and one child session of 2 (the note's
    small.arrow had 26 rows and a child)."""
    rows: list[dict[str, Any]] = []
    for i in range(6):
        rows += _session(f"s{i}", 0.2 * i, 4, out)
    child = {S.PARENT_SESSION_ID: "s0", S.PARENT_CALL_INDEX: 1}
    rows += _session("c0", 0.3, 2, out, **child)
    return rows


def profile(path: Path, rows: list[dict[str, Any]], meta: dict[bytes, bytes] | None = None) -> Path:
    return write_file(path, S.Kind.PROFILE, pl.DataFrame(rows), extra_metadata=meta)


def _raw(path: Path, table: pa.Table, metadata: dict[bytes, bytes] | None) -> Path:
    """`table` with exactly `metadata` on its schema, checksummed as our writers do."""
    schema = table.schema.with_metadata(metadata or {})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for batch in table.cast(schema).to_batches():
            writer.write_batch(batch, custom_metadata=batch_metadata(batch, schema))
    return path


def _with_meta(src: Path, dst: Path, change: dict[bytes, bytes | None]) -> Path:
    table = pa.ipc.open_file(str(src)).read_all()
    meta = dict(table.schema.metadata or {})
    for key, value in change.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    return _raw(dst, table, meta)


def _rng(name: str) -> random.Random:
    return random.Random(zlib.crc32(name.encode()))


def flipped(src: Path, dst: Path, offset: int) -> Path:
    """A seeded one-bit flip at `offset` (modulo the size: today's files differ in size)."""
    data = bytearray(src.read_bytes())
    data[offset % len(data)] ^= 1 << _rng(dst.name).randrange(8)
    dst.write_bytes(bytes(data))
    return dst


def damaged(files: Path, name: str) -> Path:
    """The damaged or odd Arrow input `name` (the note's files/ names), made from
    files/small.arrow (a profile) or files/res.arrow (a result)."""
    small, res = files / "small.arrow", files / "res.arrow"
    dst = files / name
    if dst.exists():
        return dst
    data = small.read_bytes()
    kind, version = S.META_KIND, S.META_VERSION
    if m := re.fullmatch(r"(res)?flip\d+_(\d+)\.arrow", name):
        return flipped(res if m[1] else small, dst, int(m[2]))
    if m := re.fullmatch(r"trunc(0\.\d+)\.arrow", name):
        dst.write_bytes(data[: max(1, int(len(data) * float(m[1])))])
    elif m := re.fullmatch(r"trunc-(\d+)\.arrow", name):
        dst.write_bytes(data[: -int(m[1])])
    elif m := re.fullmatch(r"rtrunc(\d+)\.arrow", name):
        dst.write_bytes(res.read_bytes()[: int(m[1])])
    elif name == "empty.arrow":
        dst.write_bytes(b"")
    elif name == "adir.arrow":
        dst.mkdir()
    elif name == "zero.arrow":
        dst.write_bytes(bytes(len(data)))
    elif name == "zero_keepmagic.arrow":
        dst.write_bytes(b"ARROW1\0\0" + bytes(len(data) - 14) + b"ARROW1")
    elif name == "garbage.arrow":
        dst.write_bytes(_rng(name).randbytes(4096))
    elif name == "textfile.arrow":
        dst.write_text("this is a text file\nwith two lines\n")
    elif name == "tiny.txt":
        dst.write_text("hi\n")
    elif name == "magic6.arrow":
        dst.write_bytes(b"ARROW1")
    elif name in _META_CHANGES:
        _with_meta(small, dst, _META_CHANGES[name](kind, version))
    elif m := re.fullmatch(r"bs(\d+)\.arrow", name):
        _with_meta(small, dst, {S.META_BLOCK_SIZE: m[1].encode()})
    elif name == "plain.arrow":
        _raw(dst, pa.table({"a": [1, 2, 3]}), None)
    else:
        raise KeyError(f"no recipe for input file {name!r}")
    return dst


_META_CHANGES: dict[str, Any] = {
    "v2.arrow": lambda k, v: {v: b"2.0"},
    "vabc.arrow": lambda k, v: {v: b"abc"},
    "vnone.arrow": lambda k, v: {v: None},
    "kindfoo.arrow": lambda k, v: {k: b"foo"},
    "nokind.arrow": lambda k, v: {k: None},
    "infobad.arrow": lambda k, v: {S.META_INFO: b"{not json"},
    "infolist.arrow": lambda k, v: {S.META_INFO: b"[1, 2]"},
}

TRIE_OK: dict[str, Any] = {
    "num_turns": 2,
    "input_prompt_length": 120,
    "assistant_response_length": [8, 8],
    "tool_call_output_length": [30, 30],
    "tool_call_latency": [0.1, 0.1],
    "final_assistant_response_length": 8,
}
MC_OK: dict[str, Any] = {"timestamp": 0, "input_length": 120, "output_length": 8}


def _lines(*records: Any) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


# The malformed JSONL inputs: a good first record, then the fault the name says.
JSONL: dict[str, str | bytes] = {
    "trie_ok.jsonl": _lines(TRIE_OK, TRIE_OK),
    "mc_ok.jsonl": _lines(MC_OK, {**MC_OK, "timestamp": 100}),
    "trie_badline.jsonl": _lines(TRIE_OK, '{"num_turns": 2, "input_prom'),
    "trie_missing.jsonl": _lines(TRIE_OK, {k: v for k, v in TRIE_OK.items() if k != "num_turns"}),
    "trie_neg.jsonl": _lines(TRIE_OK, {**TRIE_OK, "input_prompt_length": -5}),
    "trie_nan.jsonl": _lines(
        TRIE_OK,
        '{"num_turns": 1, "input_prompt_length": NaN, '
        '"assistant_response_length": [1], "tool_call_output_length": [1], '
        '"tool_call_latency": [0.1], "final_assistant_response_length": 1}',
    ),
    "trie_inf_lat.jsonl": _lines(
        TRIE_OK, json.dumps({**TRIE_OK, "tool_call_latency": [0.1, 1e999]})
    ),
    "trie_lenmismatch.jsonl": _lines(TRIE_OK, {**TRIE_OK, "tool_call_latency": [0.1]}),
    "trie_float.jsonl": _lines(TRIE_OK, {**TRIE_OK, "input_prompt_length": 12.5}),
    "trie_str.jsonl": _lines(TRIE_OK, {**TRIE_OK, "input_prompt_length": "120"}),
    "trie_bool.jsonl": _lines(TRIE_OK, {**TRIE_OK, "input_prompt_length": True}),
    "mc_neg.jsonl": _lines(MC_OK, {**MC_OK, "output_length": -1}),
    "mc_nan_ts.jsonl": _lines(MC_OK, '{"timestamp": NaN, "input_length": 5, "output_length": 1}'),
    "mc_missing.jsonl": _lines(MC_OK, {"timestamp": 5, "input_length": 5}),
    "mc_badline.jsonl": _lines(MC_OK, '{"timest'),
    "mc_neghash.jsonl": _lines(MC_OK, {**MC_OK, "hash_ids": [1, -2]}),
    "mc_strsession.jsonl": _lines(MC_OK, {**MC_OK, "session_id": {"a": 1}}),
    "mixed.jsonl": _lines(MC_OK, TRIE_OK),
    "array.jsonl": _lines([MC_OK, MC_OK]),
    "bom.jsonl": "\ufeff" + _lines(MC_OK),
    "latin1.jsonl": _lines(MC_OK).encode() + '{"timestamp": 1, "caf\xe9": 1}\n'.encode("latin-1"),
    "blank.jsonl": "\n\n   \n",
    "textinput.jsonl": _lines({"timestamp": 0, "text_input": "hello", "output_length": 4}),
    "mc_textinput2.jsonl": _lines(MC_OK, {"timestamp": 5, "text_input": "hi", "output_length": 2}),
    "trie_1e12.jsonl": _lines({**TRIE_OK, "input_prompt_length": 10**12}),
    "trie_out1e12.jsonl": _lines({**TRIE_OK, "final_assistant_response_length": 10**12}),
    "trie_overflow.jsonl": _lines({**TRIE_OK, "input_prompt_length": 2**63 - 1}),
    "trie_hugelat.jsonl": _lines({**TRIE_OK, "tool_call_latency": [1e15, 1e15]}),
    "mc_hugets.jsonl": _lines({**MC_OK, "timestamp": 1e300}),
    "mc_hugedelay.jsonl": _lines(
        {**MC_OK, "session_id": "a"}, {**MC_OK, "session_id": "a", "delay": 1e300}
    ),
}


def write_jsonl(files: Path) -> None:
    for name, body in JSONL.items():
        path = files / name
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")


def profile_variant(files: Path, name: str) -> Path:
    """small.arrow with one value or link changed the way the name says (written with the
    writer's bounds check off, as another tool might write it)."""
    from agentload.traceformat import validate

    rows = small_rows()
    first = rows[1]  # s0, call 1
    changes: dict[str, Any] = {
        "nan_think.arrow": {S.THINK_S: float("nan")},
        "inf_think.arrow": {S.THINK_S: float("inf")},
        "nan_arrival.arrow": {S.ARRIVAL_S: float("nan")},
        "inf_arrival.arrow": {S.ARRIVAL_S: float("inf")},
        "huge_input.arrow": {S.INPUT_TOKENS: 10**12},
        "neg_input.arrow": {S.INPUT_TOKENS: -5},
        "neg_output.arrow": {S.OUTPUT_TOKENS: -5},
    }
    if name in changes:
        first.update(changes[name])
    elif name == "mutual_parent.arrow":
        for row in rows:
            if row[S.SESSION_ID] in ("s1", "s2") and row[S.CALL_INDEX] == 0:
                other = "s2" if row[S.SESSION_ID] == "s1" else "s1"
                row.update({S.PARENT_SESSION_ID: other, S.PARENT_CALL_INDEX: 0})
    elif name == "parent_missing.arrow":
        rows[-2][S.PARENT_CALL_INDEX] = 999
    elif name == "self_parent.arrow":
        for row in rows:
            if row[S.CALL_INDEX] == 0:
                row.update({S.PARENT_SESSION_ID: row[S.SESSION_ID], S.PARENT_CALL_INDEX: 0})
    else:
        raise KeyError(name)
    original = validate.check_profile_values
    validate.check_profile_values = lambda *a: None
    try:
        frame = pl.DataFrame(rows, infer_schema_length=None)
        return write_file(files / name, S.Kind.PROFILE, frame)
    finally:
        validate.check_profile_values = original

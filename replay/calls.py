"""A profile plan's calls, stored as columns and handed out as `CallPlan`s on demand.

The 8k agentic-coding built-in has 174k calls: as frozen objects (with their boxed ints,
floats and strings) they held ~35 MB, and building them from Python lists peaked well above
that. Here each column is one `array.array` shared by every session, and a session's
`calls` is a `CallRange` over its rows: a `CallPlan` exists only while a run, the estimate
or the result writer looks at it. Arrays pickle as bytes, so spawned workers get them cheaply.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import polars as pl
import pyarrow as pa

from agentload.base.errors import FormatError
from agentload.traceformat import schema as S


@dataclass(frozen=True, slots=True)
class CallPlan:
    index: int
    think_s: float  # gap after the previous call's end (or the parent call's end)
    input_tokens: int
    output_tokens: int
    hash_ids: tuple[int, ...] | None
    final: bool
    # Trace sources: the recorded request body (JSON with "model" placeholder) and endpoint.
    body: bytes | None = None
    endpoint: str | None = None
    # Where the token counts came from (a schema UsageSource value); None when unknown.
    usage_source: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class CallStore:
    """Every call of a plan, rows grouped by session in call order."""

    index: array[int]
    think_s: array[float]
    input_tokens: array[int]
    output_tokens: array[int]
    sources: array[int]  # code into source_names
    source_names: tuple[str | None, ...]
    hash_values: array[int] | None  # every call's hash ids, end to end
    hash_offsets: array[int] | None  # row i: hash_values[offsets[i]:offsets[i + 1]]
    hash_null: bytes | None  # row i has no hash ids (None, not empty)

    def call(self, row: int, final: bool) -> CallPlan:
        return CallPlan(
            index=self.index[row],
            think_s=self.think_s[row],
            input_tokens=self.input_tokens[row],
            output_tokens=self.output_tokens[row],
            hash_ids=self.hashes(row),
            final=final,
            usage_source=self.source_names[self.sources[row]],
        )

    def hashes(self, row: int) -> tuple[int, ...] | None:
        if self.hash_values is None or self.hash_offsets is None or self.hash_null is None:
            return None
        if self.hash_null[row]:
            return None
        return tuple(self.hash_values[self.hash_offsets[row] : self.hash_offsets[row + 1]])


class CallRange(Sequence[CallPlan]):
    """One session's calls: rows [start, end) of a `CallStore`; the last one is final."""

    __slots__ = ("_end", "_start", "_store")

    def __init__(self, store: CallStore, start: int, end: int) -> None:
        self._store, self._start, self._end = store, start, end

    def __len__(self) -> int:
        return self._end - self._start

    @overload
    def __getitem__(self, i: int) -> CallPlan: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[CallPlan, ...]: ...
    def __getitem__(self, i: int | slice) -> CallPlan | tuple[CallPlan, ...]:
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self))))
        n = len(self)
        if not -n <= i < n:
            raise IndexError("call index out of range")
        row = self._start + (i % n)
        return self._store.call(row, row == self._end - 1)

    def __iter__(self) -> Iterator[CallPlan]:
        # Slices and positional arguments: a pass over all calls (the estimate makes two
        # before a run) costs a third less than a `call` per row.
        st, a, b = self._store, self._start, self._end
        names, hashes = st.source_names, st.hashes
        columns = zip(
            st.index[a:b],
            st.think_s[a:b],
            st.input_tokens[a:b],
            st.output_tokens[a:b],
            st.sources[a:b],
            strict=True,
        )
        for row, (index, think, tokens_in, tokens_out, source) in enumerate(columns, start=a):
            yield CallPlan(
                index,
                think,
                tokens_in,
                tokens_out,
                hashes(row),
                row == b - 1,
                None,
                None,
                names[source],
            )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CallRange | tuple):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


def call_store(frame: pl.DataFrame, where: str) -> CallStore:
    """The store of a frame already sorted by session and call (profile columns)."""
    names, codes = _codes(frame, S.USAGE_SOURCE)
    values = offsets = null = None
    if S.HASH_IDS in frame.columns and frame[S.HASH_IDS].null_count() < frame.height:
        lists = frame[S.HASH_IDS].cast(pl.List(pl.Int64)).to_arrow()
        assert isinstance(lists, pa.LargeListArray | pa.ListArray)
        values = _numbers(lists.values, "q", where, S.HASH_IDS)
        offsets = _numbers(lists.offsets, "q", where, S.HASH_IDS)
        null = bytes(lists.is_null().to_pylist())
    return CallStore(
        index=_column(frame, S.CALL_INDEX, pl.Int64, "q", where),
        think_s=_column(frame, S.THINK_S, pl.Float64, "d", where),
        input_tokens=_column(frame, S.INPUT_TOKENS, pl.Int64, "q", where),
        output_tokens=_column(frame, S.OUTPUT_TOKENS, pl.Int64, "q", where),
        sources=codes,
        source_names=names,
        hash_values=values,
        hash_offsets=offsets,
        hash_null=null,
    )


def _column(
    frame: pl.DataFrame, name: str, dtype: type[pl.DataType], code: str, where: str
) -> array:  # type: ignore[type-arg]
    return _numbers(frame[name].cast(dtype).to_arrow(), code, where, name)


def _numbers(values: pa.Array, code: str, where: str, name: str) -> array:  # type: ignore[type-arg]
    """A primitive Arrow array's values, copied into an `array` (no Python object each)."""
    if values.null_count:
        raise FormatError(f"{where}: column {name!r} has {values.null_count} null value(s)")
    out = array(code)
    data = values.buffers()[1]
    if data is not None:
        start = values.offset * out.itemsize
        out.frombytes(memoryview(data)[start : start + len(values) * out.itemsize])
    return out


def _codes(frame: pl.DataFrame, name: str) -> tuple[tuple[str | None, ...], array[int]]:
    """A string column as codes into its distinct values (None: null or no column)."""
    if name not in frame.columns:
        return (None,), array("B", bytes(frame.height))
    column = frame[name].cast(pl.String)
    distinct = column.drop_nulls().unique(maintain_order=True).to_list()
    physical = column.cast(pl.Enum(distinct)).to_physical().fill_null(len(distinct))
    return (*distinct, None), _numbers(physical.cast(pl.Int64).to_arrow(), "q", "", name)

"""Hypothesis strategies for rows of the three kinds, derived from the Arrow schemas."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

from agentload.traceformat import limits
from agentload.traceformat import schema as s
from agentload.traceformat.schema import SCHEMAS, Kind

# UTF-8 encodable text (no lone surrogates), including non-ASCII and control characters.
TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)


def for_type(typ: pa.DataType) -> st.SearchStrategy[Any]:
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return TEXT
    if pa.types.is_int32(typ):
        return st.integers(-(2**31), 2**31 - 1)
    if pa.types.is_int64(typ):
        return st.integers(-(2**63), 2**63 - 1)
    if pa.types.is_float64(typ):
        return st.floats(allow_nan=False)
    if pa.types.is_boolean(typ):
        return st.booleans()
    if pa.types.is_list(typ):
        return st.lists(for_field(typ.value_field), max_size=4)
    if pa.types.is_struct(typ):
        return st.fixed_dictionaries({f.name: for_field(f) for f in typ})
    raise NotImplementedError(str(typ))


def for_field(field: pa.Field) -> st.SearchStrategy[Any]:
    value = for_type(field.type)
    return st.one_of(st.none(), value) if field.nullable else value


# Profile values a reader or writer accepts: within the documented limits.
_PROFILE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(
        (s.INPUT_TOKENS, s.NEW_INPUT_TOKENS, s.OUTPUT_TOKENS), st.integers(0, limits.MAX_TOKENS)
    ),
    **dict.fromkeys((s.ARRIVAL_S, s.THINK_S), st.floats(0, limits.MAX_SECONDS)),
}


def row(kind: Kind) -> st.SearchStrategy[dict[str, Any]]:
    """A full row of `kind` (every column present, nullable ones sometimes None)."""
    bounded = _PROFILE_VALUES if kind is Kind.PROFILE else {}
    return st.fixed_dictionaries(
        {f.name: bounded[f.name] if f.name in bounded else for_field(f) for f in SCHEMAS[kind]}
    )


def rows(kind: Kind, max_size: int = 12) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(row(kind), max_size=max_size)

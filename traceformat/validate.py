"""Schema conformance: bring data into a kind's schema (writing) or check it (reading).

Every error names the file (or the writer's target) and the offending column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from numbers import Integral, Real

import polars as pl
import pyarrow as pa

from agentload.base.errors import FormatError
from agentload.traceformat import limits
from agentload.traceformat.schema import ADDED_IN, SCHEMAS, Kind, parse_version

type Check = Callable[[object], bool]


def _checker(typ: pa.DataType) -> Check:
    """A cheap Python-side test that a value converts to `typ` (None handled by caller)."""
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return lambda v: isinstance(v, str)
    if pa.types.is_boolean(typ):
        return lambda v: isinstance(v, bool)
    if pa.types.is_integer(typ):
        low, high = -(2 ** (typ.bit_width - 1)), 2 ** (typ.bit_width - 1) - 1
        return lambda v: _is_int(v) and low <= v <= high
    if pa.types.is_floating(typ):
        return lambda v: type(v) is float or (isinstance(v, Real) and not isinstance(v, bool))
    if pa.types.is_list(typ) and pa.types.is_integer(typ.value_type):
        # Fast path for long id / offset lists: one pass for types, min/max for range.
        low, high = -(2 ** (typ.value_type.bit_width - 1)), 2 ** (typ.value_type.bit_width - 1) - 1
        nulls_ok = typ.value_field.nullable

        def int_list(v: object) -> bool:
            if not isinstance(v, list | tuple):
                return False
            kinds = set(map(type, v))  # in C: no Python call per element
            if type(None) in kinds:
                if not nulls_ok:
                    return False
                v = [x for x in v if x is not None]
                kinds.discard(type(None))
            if not kinds <= {int} and not all(_is_int(x) for x in v):
                return False
            return not v or (low <= min(v) and max(v) <= high)

        return int_list
    if pa.types.is_list(typ):
        item = _field_checker(typ.value_field)
        return lambda v: isinstance(v, list | tuple) and all(item(x) for x in v)
    if pa.types.is_struct(typ):
        fields = [(f.name, _field_checker(f)) for f in typ]
        return lambda v: isinstance(v, Mapping) and all(ok(v.get(n)) for n, ok in fields)
    raise NotImplementedError(f"no row check for {typ}")


def _is_int(v: object) -> bool:
    return type(v) is int or (isinstance(v, Integral) and not isinstance(v, bool))


def _field_checker(field: pa.Field) -> Check:
    check = _checker(field.type)
    if field.nullable:
        return lambda v: v is None or check(v)
    return lambda v: v is not None and check(v)


_NAMES = {kind: frozenset(schema.names) for kind, schema in SCHEMAS.items()}
_ROW_CHECKS: dict[Kind, list[tuple[pa.Field, Check]]] = {
    kind: [(f, _checker(f.type)) for f in schema] for kind, schema in SCHEMAS.items()
}


def check_rows(rows: Sequence[Mapping[str, object]], kind: Kind, where: str) -> None:
    """Every row fits `kind`: known keys only, required values present, types convertible.

    Pure Python and cheap, so a writer can accept rows one at a time and convert them to
    Arrow in bulk at flush time without a bad value poisoning a whole batch."""
    known = _NAMES[kind]
    checks = _ROW_CHECKS[kind]
    for row in rows:
        if not known.issuperset(row):
            unknown = sorted(set(row) - known)[0]
            raise FormatError(f"{where}: unknown column {unknown!r} for a {kind} file")
        for field, check in checks:
            value = row.get(field.name)
            if value is None:
                if not field.nullable:
                    raise FormatError(f"{where}: column {field.name!r} is required but is null")
            elif not check(value):
                raise FormatError(
                    f"{where}: column {field.name!r}: value {_short(value)} does not fit"
                    f" {field.type}"
                )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def rows_to_table(rows: Sequence[Mapping[str, object]], kind: Kind, where: str) -> pa.Table:
    """Build a table of `kind` from dicts keyed by column constants; absent keys are null."""
    check_rows(rows, kind, where)
    return rows_to_columns(rows, kind)


def rows_to_columns(rows: Sequence[Mapping[str, object]], kind: Kind) -> pa.Table:
    """`rows_to_table` without the per-value check, for rows built to fit the schema (the
    replay's result rows): column-wise conversion costs about half of pyarrow's row-wise
    `from_pylist`. Absent keys are null; a value that does not fit raises pyarrow's error."""
    schema = SCHEMAS[kind]
    if not rows:
        return schema.empty_table()
    # Each row to a tuple in schema order (map over dict.get runs in C), then transposed:
    # half the cost of one comprehension per column, on the replay's event loop.
    names = schema.names
    columns = zip(*[tuple(map(r.get, names)) for r in rows], strict=True)
    arrays = [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def conform(table: pa.Table, kind: Kind, where: str) -> pa.Table:
    """Cast `table` to the schema of `kind`: reorder, add missing nullable columns as null."""
    schema = SCHEMAS[kind]
    if table.schema.equals(schema, check_metadata=False):
        # Already the schema (the replay's converted rows): 24 casts of nothing cost 4-5 ms
        # on the row writer's thread, each step taking the GIL from the event loop.
        check_required(table, kind, where)
        return table.replace_schema_metadata(schema.metadata)
    unknown = [name for name in table.column_names if name not in schema.names]
    if unknown:
        raise FormatError(f"{where}: unknown column {unknown[0]!r} for a {kind} file")
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            if not field.nullable:
                raise FormatError(f"{where}: missing required column {field.name!r}")
            columns.append(pa.nulls(table.num_rows, type=field.type))
            continue
        column = table.column(field.name)
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise FormatError(
                f"{where}: column {field.name!r}: cannot store {column.type} as {field.type}"
                f" ({exc})"
            ) from None
    out = pa.Table.from_arrays(columns, schema=schema)
    check_required(out, kind, where)
    return out


def upgrade(table: pa.Table, kind: Kind, version: str) -> pa.Table:
    """Reading a file of an older minor `version`: the columns added to `kind` since (all
    nullable) as nulls. Columns the file's own version has are left to `check_columns`."""
    file_version = parse_version(version)
    for name, added in ADDED_IN.get(kind, {}).items():
        if name in table.column_names or file_version >= parse_version(added):
            continue
        field = SCHEMAS[kind].field(name)
        table = table.append_column(field, pa.nulls(table.num_rows, type=field.type))
    return table


def check_columns(schema: pa.Schema, kind: Kind, where: str) -> None:
    """Reading: every column of `kind` present with its exact type (extra columns allowed)."""
    for field in SCHEMAS[kind]:
        index = schema.get_field_index(field.name)
        if index < 0:
            raise FormatError(f"{where}: missing column {field.name!r} of a {kind} file")
        actual = schema.field(index).type
        if not actual.equals(field.type):
            raise FormatError(
                f"{where}: column {field.name!r} has type {actual}, expected {field.type}"
            )


def check_required(table: pa.Table, kind: Kind, where: str) -> None:
    """Non-nullable columns hold no nulls."""
    for field in SCHEMAS[kind]:
        if field.nullable or field.name not in table.column_names:
            continue
        nulls = table.column(field.name).null_count
        if nulls:
            raise FormatError(
                f"{where}: column {field.name!r} is required but has {nulls} null value(s)"
            )
    if kind is Kind.PROFILE:  # reading and writing: token counts and times within limits
        check_profile_values(table, where)


def check_profile_values(table: pa.Table, where: str) -> None:
    """Every token count and time of a profile within `traceformat.limits` (finite)."""
    wanted = [n for n in limits.PROFILE_VALUE_COLUMNS if n in table.column_names]
    frame = pl.from_arrow(table.select(wanted))
    assert isinstance(frame, pl.DataFrame)
    limits.check_profile_frame(frame, where)

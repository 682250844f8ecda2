"""Schema conformance: bring data into a kind's schema (writing) or check it (reading).

Every error names the file (or the writer's target) and the offending column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from traceformat.errors import FormatError
from traceformat.schema import SCHEMAS, Kind


def rows_to_table(rows: Sequence[Mapping[str, object]], kind: Kind, where: str) -> pa.Table:
    """Build a table of `kind` from dicts keyed by column constants; absent keys are null."""
    schema = SCHEMAS[kind]
    known = set(schema.names)
    unknown = {key for row in rows for key in row} - known
    if unknown:
        raise FormatError(f"{where}: unknown column {sorted(unknown)[0]!r} for a {kind} file")
    arrays = []
    for field in schema:
        values = [row.get(field.name) for row in rows]
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
            raise FormatError(
                f"{where}: column {field.name!r}: values do not fit {field.type} ({exc})"
            ) from None
    table = pa.Table.from_arrays(arrays, schema=schema)
    check_required(table, kind, where)
    return table


def conform(table: pa.Table, kind: Kind, where: str) -> pa.Table:
    """Cast `table` to the schema of `kind`: reorder, add missing nullable columns as null."""
    schema = SCHEMAS[kind]
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

"""Rows to Arrow, one conversion: checked (`rows_to_table`) and unchecked (`rows_to_columns`,
the replay's hot path) give pyarrow's row-wise table, absent keys null."""

from __future__ import annotations

import pyarrow as pa
import pytest

from agentload.base.errors import FormatError
from agentload.traceformat import schema as S
from agentload.traceformat.schema import SCHEMAS, Kind
from agentload.traceformat.validate import rows_to_columns, rows_to_table

ROWS: list[dict[str, object]] = [
    {
        S.SESSION_ID: "a",
        S.CALL_INDEX: 0,
        S.WORKER: 1,
        S.FINAL_CALL: False,
        S.WARMUP: False,
        S.T_SCHEDULED_NS: 5,
        S.STATUS: "ok",
        S.CHUNK_OFFSETS_NS: [0, 7],
    },
    {
        S.SESSION_ID: "b",
        S.CALL_INDEX: 3,
        S.WORKER: 0,
        S.FINAL_CALL: True,
        S.WARMUP: True,
        S.T_SCHEDULED_NS: 9,
        S.STATUS: "error",
    },
]


def test_both_conversions_equal_pyarrows_row_wise_table() -> None:
    expected = pa.Table.from_pylist(ROWS, schema=SCHEMAS[Kind.RESULT])
    assert rows_to_columns(ROWS, Kind.RESULT).equals(expected)
    assert rows_to_table(ROWS, Kind.RESULT, "test").equals(expected)
    assert rows_to_columns(ROWS, Kind.RESULT).column(S.T_SENT_NS).null_count == 2


def test_only_the_checked_conversion_names_the_bad_column() -> None:
    bad = [{**ROWS[0], S.CALL_INDEX: "x"}]
    with pytest.raises(FormatError, match=S.CALL_INDEX):
        rows_to_table(bad, Kind.RESULT, "test")
    with pytest.raises((pa.ArrowException, TypeError)):
        rows_to_columns(bad, Kind.RESULT)


def test_no_rows_give_an_empty_table_of_the_schema() -> None:
    assert rows_to_columns([], Kind.RESULT).equals(SCHEMAS[Kind.RESULT].empty_table())

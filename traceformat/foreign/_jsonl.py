"""JSONL reading with checks that name the file, line and field of any malformed record."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeGuard

from agentload.base.errors import FormatError

_INT64_MAX = 2**63 - 1


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _INT64_MAX


def _at_most(limit: float) -> str:
    return "" if limit == _INT64_MAX else f" (at most {limit:,.0f})"


class Line:
    """One parsed JSON object and where it came from, with typed field accessors."""

    def __init__(self, where: str, record: dict[str, Any]) -> None:
        self.where = where  # "FILE:LINE"
        self.record = record

    def fail(self, name: str, expected: str) -> FormatError:
        got = json.dumps(self.record.get(name)) if name in self.record else "nothing"
        return FormatError(f"{self.where}: field {name!r}: expected {expected}, got {got[:60]}")

    def count(self, name: str, limit: int = _INT64_MAX) -> int:
        """A required integer in [0, limit]."""
        value = self.record.get(name)
        if not _is_count(value) or value > limit:
            raise self.fail(name, "a non-negative integer" + _at_most(limit))
        return value

    def optional_number(self, name: str, limit: float) -> float | None:
        """An optional finite number in [0, limit] (null or absent = None)."""
        value = self.record.get(name)
        if value is None:
            return None
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or not 0 <= value <= limit
        ):
            raise self.fail(name, "a non-negative number" + _at_most(limit))
        return float(value)

    def counts(self, name: str, length: int | None = None, limit: int = _INT64_MAX) -> list[int]:
        """A required list of integers in [0, limit], of `length` items when given."""
        value = self.record.get(name)
        if not isinstance(value, list) or not all(_is_count(v) and v <= limit for v in value):
            raise self.fail(name, "a list of non-negative integers" + _at_most(limit))
        if length is not None and len(value) != length:
            raise self.fail(name, f"a list of {length} items (num_turns)")
        return value

    def numbers(self, name: str, length: int, limit: float) -> list[float]:
        """A required list of `length` finite numbers in [0, limit]."""
        value = self.record.get(name)
        ok = isinstance(value, list) and all(
            isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
            and 0 <= v <= limit
            for v in value
        )
        if not ok:
            raise self.fail(name, "a list of non-negative numbers" + _at_most(limit))
        assert isinstance(value, list)
        if len(value) != length:
            raise self.fail(name, f"a list of {length} items (num_turns)")
        return [float(v) for v in value]


def read_lines(path: str | os.PathLike[str]) -> Iterator[Line]:
    """Each non-blank line of a JSONL file as a JSON object; anything else is a FormatError."""
    source = Path(path)
    try:
        handle = source.open("r", encoding="utf-8")
    except OSError as exc:
        raise FormatError(f"{source}: cannot read: {exc.strerror or exc}") from None
    with handle:
        try:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                where = f"{source}:{number}"
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise FormatError(f"{where}: expected a JSON object ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise FormatError(f"{where}: expected a JSON object per line")
                yield Line(where, record)
        except UnicodeDecodeError:
            raise FormatError(f"{source}: not UTF-8 text (expected JSONL)") from None


def dumps(record: dict[str, Any]) -> str:
    """One compact JSONL record (no trailing newline)."""
    return json.dumps(record, separators=(", ", ": "), ensure_ascii=False)


def number(value: float) -> int | float:
    """A float as JSON-friendly number: integral values print as integers."""
    return int(value) if float(value).is_integer() else value

"""json.loads of a request body that also returns the raw text of its top-level values and
of the elements of one array member, so that parts seen before (an agent resends its whole
history every turn) are recognised by their text instead of being re-serialised, scrubbed
and hashed again.

Exactness: the values are parsed by the same C scanner json.loads uses, members are stored
in a plain dict like json does (a repeated key keeps its first position and its last value),
and anything this walker does not expect makes it give up: the caller then uses json.loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["Spans", "loads_with_spans"]

_WS = re.compile(r"[ \t\n\r]*")  # json.decoder.WHITESPACE


_WS_CHARS = (" ", "\t", "\n", "\r")


def _skip(text: str, i: int) -> int:
    """Index of the first non-whitespace character at or after i."""
    if not text.startswith(_WS_CHARS, i):  # compact JSON: no regex call
        return i
    m = _WS.match(text, i)
    return m.end() if m is not None else i


# The C scanner behind json.loads (typeshed does not declare the attribute).
_scan: Callable[[str, int], tuple[Any, int]] = getattr(json.JSONDecoder(), "scan_once")  # noqa: B009


class _GiveUp(Exception):
    pass


class Spans:
    """Raw JSON text of each top-level member's value (its last occurrence), and of each
    element of the array member `field` (None when that member is not an array)."""

    __slots__ = ("elements", "members")

    def __init__(self) -> None:
        self.members: dict[str, str] = {}
        self.elements: list[str] | None = None


def _value(text: str, i: int) -> tuple[Any, int]:
    try:
        return _scan(text, i)
    except (StopIteration, ValueError, RecursionError) as exc:
        raise _GiveUp from exc


def _array(text: str, i: int) -> tuple[list[Any], list[str], int]:
    items: list[Any] = []
    raw: list[str] = []
    i = _skip(text, i + 1)
    if text.startswith("]", i):
        return items, raw, i + 1
    while True:
        value, end = _value(text, i)
        items.append(value)
        raw.append(text[i:end])
        i = _skip(text, end)
        if text.startswith(",", i):
            i = _skip(text, i + 1)
        elif text.startswith("]", i):
            return items, raw, i + 1
        else:
            raise _GiveUp


def _object(text: str, field: str) -> tuple[dict[str, Any], Spans]:
    spans = Spans()
    obj: dict[str, Any] = {}
    i = _skip(text, 0)
    if not text.startswith("{", i):
        raise _GiveUp
    i = _skip(text, i + 1)
    if text.startswith("}", i):
        i += 1
    else:
        while True:
            if not text.startswith('"', i):
                raise _GiveUp
            key, i = _value(text, i)
            i = _skip(text, i)
            if not text.startswith(":", i):
                raise _GiveUp
            i = _skip(text, i + 1)
            start = i
            if key == field:
                if text.startswith("[", i):
                    value, spans.elements, i = _array(text, i)
                else:
                    value, i = _value(text, i)
                    spans.elements = None
            else:
                value, i = _value(text, i)
            obj[key] = value
            spans.members[key] = text[start:i]
            i = _skip(text, i)
            if text.startswith(",", i):
                i = _skip(text, i + 1)
            elif text.startswith("}", i):
                i += 1
                break
            else:
                raise _GiveUp
    if _skip(text, i) != len(text):
        raise _GiveUp
    return obj, spans


def loads_with_spans(body: bytes, field: str) -> tuple[Any, Spans | None]:
    """(json.loads(body), its spans), or (json.loads(body), None) when the body is not a
    plain object this walker follows; json.loads' exceptions for invalid JSON."""
    try:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
        return _object(text, field)
    except (_GiveUp, UnicodeDecodeError, LookupError):
        return json.loads(body), None

"""Typed access to values the type checker only knows as `object`: polars scalars and the
JSON held in a file's metadata.

`Series.max()` is typed as any Python literal or None (a date, a string, ...), a quantile as
a float or a list, and `Loaded.info` as `dict[str, object]`; a test knows better. These say
what the test expects and fail (an AssertionError naming the value) when it is not so,
where a `type: ignore` would let a null or a wrong type through to a confusing comparison.
"""

from __future__ import annotations

from typing import Any

import polars as pl

__all__ = ["dig", "integer", "number", "quantile"]


def number(value: object) -> float:
    """A numeric polars scalar (`max`, `min`, `median`, `sum`, ...) as a float."""
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return float(value)


def integer(value: object) -> int:
    """An integer polars scalar (say the `min` of a nanosecond column) as an int."""
    assert isinstance(value, int) and not isinstance(value, bool), value
    return value


def quantile(series: pl.Series, q: float) -> float:
    """The linearly interpolated `q` quantile of a numeric series (fails when empty)."""
    return number(series.quantile(q, "linear"))


def dig(obj: object, *path: str | int) -> Any:
    """`obj[path[0]][path[1]]...` through parsed JSON (dicts and lists); Any, as json.loads
    returns. Fails naming the step where the structure differs from what the test expects."""
    for step in path:
        if isinstance(step, int):
            assert isinstance(obj, list) and -len(obj) <= step < len(obj), (step, obj)
            obj = obj[step]
        else:
            assert isinstance(obj, dict) and step in obj, (step, obj)
            obj = obj[step]
    return obj

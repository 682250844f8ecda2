"""Failed requests by kind and by the server's own message, for the replay's end summary,
its verdict and the report.

A result row's `error` is the client's or the server's message (`HTTP 404: <the error the
server returned>`, `connect: <OS error>`); requests that fail alike carry the same text, so
distinct messages with counts say why a run failed without reading the file.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from agentload.traceformat import schema as s

MAX_MESSAGES = 5  # distinct messages shown per kind; the rest are counted together
MAX_SHOWN_CHARS = 300  # a message shown on one line


def failed(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows that failed for a reason other than the client's own stop (`cancelled`)."""
    kind = pl.col(s.ERROR_KIND).fill_null("unknown")
    return frame.filter((pl.col(s.STATUS) != "ok") & (kind != s.ErrorKind.CANCELLED.value))


def error_messages(frame: pl.DataFrame, limit: int = MAX_MESSAGES) -> dict[str, list[Any]]:
    """{kind: [{"message", "count"}, ...]}: every error kind of `frame` (cancelled included),
    most frequent kind first, each with its `limit` most frequent distinct messages; when a
    kind has more, a last entry {"message": None, "count": rest} counts them."""
    errors = frame.filter(pl.col(s.STATUS) != "ok").select(
        pl.col(s.ERROR_KIND).fill_null("unknown"),
        pl.col(s.ERROR).fill_null("(no message)").str.slice(0, MAX_SHOWN_CHARS),
    )
    if errors.is_empty():
        return {}
    counts = errors.group_by(s.ERROR_KIND, s.ERROR).len()
    totals = counts.group_by(s.ERROR_KIND).agg(pl.col("len").sum().alias("total"))
    out: dict[str, list[Any]] = {}
    for kind, _total in totals.sort(["total", s.ERROR_KIND], descending=[True, False]).iter_rows():
        rows = counts.filter(pl.col(s.ERROR_KIND) == kind).sort(
            ["len", s.ERROR], descending=[True, False]
        )
        shown = [
            {"message": m, "count": n}
            for m, n in rows.head(limit).select(s.ERROR, "len").iter_rows()
        ]
        rest = int(rows["len"].slice(limit).sum())
        if rest:
            shown.append({"message": None, "count": rest})
        out[kind] = shown
    return out


def message_lines(messages: dict[str, list[Any]]) -> list[str]:
    """One plain line per (kind, message): `http_4xx 13x: HTTP 404: ...`."""
    lines = []
    for kind, entries in messages.items():
        for entry in entries:
            text = entry["message"] if entry["message"] is not None else "(other messages)"
            lines.append(f"{kind} {entry['count']}x: {text}")
    return lines

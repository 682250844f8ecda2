"""The documented limits on every count, length, time and rate agentload accepts.

One table, used at every entry (CLI options, profiles read or written, trie/Mooncake
imports, session graphs) and documented in docs/formats.md ("Limits"). The bounds are wide
enough for any real workload and narrow enough that no product of them overflows what the
replay schedule computes with (int64 nanoseconds, timerfd deadlines) or allocates (a
prompt's hash ids, a session's blocks). NaN and infinity are refused everywhere.
"""

from __future__ import annotations

import math
from typing import Final

import polars as pl

from agentload.base.errors import ConfigError, FormatError
from agentload.traceformat import schema as s

# Tokens in one call's prompt or output (the largest context windows offered are ~10M).
MAX_TOKENS: Final = 10_000_000
# Any time in seconds: arrival offsets, think times, --duration, --warmup, --max-think,
# --timeout: 366 days.
MAX_SECONDS: Final = 366 * 86_400.0
# Multipliers of recorded time: --speed divides, --think-scale and --time-scale multiply.
# MAX_SECONDS / MIN_SPEED and MAX_SECONDS * MAX_SCALE stay below 2^63 ns (9.2e18).
MIN_SPEED: Final = 0.01
MAX_SPEED: Final = 1e6
MAX_SCALE: Final = 100.0
# --session-rate, sessions/s: one per ~11.6 days up to a million a second.
MIN_RATE: Final = 1e-6
MAX_RATE: Final = 1e6
# Tokens per hash_ids block; replay's synthetic-prompt pools hold 2^18 tokens.
MAX_BLOCK_SIZE: Final = 65_536
# Counts of things a run creates: client processes, session slots, root sessions, GPUs.
MAX_WORKERS: Final = 1_024
MAX_CONCURRENCY: Final = 1_000_000
MAX_SESSIONS: Final = 1_000_000_000
MAX_GPUS: Final = 1_000_000
# No open-loop session is scheduled later than this after the run's start (int64-safe).
MAX_SCHEDULE_NS: Final = 1 << 62

# The rows of the table in docs/formats.md, for tests and `--help` texts.
TABLE: Final[tuple[tuple[str, str], ...]] = (
    ("token count (input, new input, output; per call)", f"0 .. {MAX_TOKENS:,}"),
    ("time in seconds (arrival, think, options)", f"0 .. {MAX_SECONDS:,.0f}"),
    ("--speed", f"{MIN_SPEED} .. {MAX_SPEED:g}"),
    ("--think-scale, --time-scale", f"0 .. {MAX_SCALE:g} (--time-scale > 0)"),
    ("--session-rate (sessions/s)", f"{MIN_RATE:g} .. {MAX_RATE:g}"),
    ("block size (tokens per hash id)", f"1 .. {MAX_BLOCK_SIZE:,}"),
    ("--workers", f"1 .. {MAX_WORKERS:,}"),
    ("--concurrency", f"1 .. {MAX_CONCURRENCY:,}"),
    ("--max-sessions, --sample", f"1 .. {MAX_SESSIONS:,}"),
    ("--gpus", f"1 .. {MAX_GPUS:,}"),
)


def check_number(name: str, value: float, lo: float, hi: float, *, open_lo: bool = False) -> None:
    """ConfigError naming `name` unless `value` is finite and in [lo, hi] ((lo, hi] with
    `open_lo`); NaN fails every comparison, so it is refused along with infinity."""
    low_ok = value > lo if open_lo else value >= lo
    if not (math.isfinite(value) and low_ok and value <= hi):
        bracket = "(" if open_lo else "["
        raise ConfigError(
            f"{name}: expected a number in {bracket}{_num(lo)}, {_num(hi)}], got {value}"
        )


def _num(value: float) -> str:
    """A bound as people read it: 31,622,400 or 0.01 or 1e-06."""
    return f"{value:,.0f}" if value >= 1000 and float(value).is_integer() else f"{value:g}"


def check_count(name: str, value: int, lo: int, hi: int) -> None:
    """ConfigError naming `name` unless `lo <= value <= hi`."""
    if not lo <= value <= hi:
        raise ConfigError(f"{name}: expected an integer in [{lo:,}, {hi:,}], got {value:,}")


def check_block_size(value: int, where: str) -> None:
    """FormatError (a file's metadata or an import option) unless 1 <= value <= MAX."""
    if not 1 <= value <= MAX_BLOCK_SIZE:
        raise FormatError(
            f"{where}: block size: expected an integer in [1, {MAX_BLOCK_SIZE:,}], got {value:,}"
        )


# Profile columns and their bounds: tokens are integers, times finite floats.
_TOKEN_COLUMNS: Final = (s.INPUT_TOKENS, s.NEW_INPUT_TOKENS, s.OUTPUT_TOKENS)
_TIME_COLUMNS: Final = (s.ARRIVAL_S, s.THINK_S)
# What `check_profile_frame` reads (the ids name the offending row).
PROFILE_VALUE_COLUMNS: Final = (s.SESSION_ID, s.CALL_INDEX, *_TOKEN_COLUMNS, *_TIME_COLUMNS)


def check_profile_frame(frame: pl.DataFrame, where: str) -> None:
    """FormatError naming the column, session and call of the first value out of bounds:
    token counts in [0, MAX_TOKENS], times finite and in [0, MAX_SECONDS]."""
    for name, hi in [(c, float(MAX_TOKENS)) for c in _TOKEN_COLUMNS] + [
        (c, MAX_SECONDS) for c in _TIME_COLUMNS
    ]:
        if name not in frame.columns:
            continue
        col = pl.col(name).cast(pl.Float64)
        bad = frame.filter(col.is_not_null() & ~(col.is_finite() & (col >= 0) & (col <= hi)))
        if bad.height:
            row = bad.row(0, named=True)
            raise FormatError(
                f"{where}: column {name!r} (session {row.get(s.SESSION_ID)!r}, call "
                f"{row.get(s.CALL_INDEX)}): expected a value in [0, {hi:,.0f}], got {row[name]}"
            )

"""Bounds at replay's entries (issue 21, catalogue M2, M4, L3, L4, L5): every option and
profile value finite and within `traceformat.limits`; malformed session graphs refused."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from agentload.base.errors import ConfigError, FormatError
from agentload.replay.config import ReplayConfig
from agentload.replay.plan import CallPlan, SessionPlan, assemble, plan_from_profile
from agentload.replay.schedule import admissions
from agentload.traceformat import limits
from agentload.traceformat import schema as S

BASE: dict[str, Any] = dict(
    source=Path("p.arrow"), target="http://127.0.0.1:8000", model="m", out=Path("r.arrow")
)


def _config(**options: Any) -> ReplayConfig:
    return ReplayConfig(**{**BASE, **options})


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"think_scale": math.nan}, "--think-scale"),  # M2
        ({"think_scale": math.inf}, "--think-scale"),  # M2
        ({"warmup": math.nan}, "--warmup"),  # M2
        ({"warmup": math.inf}, "--warmup"),  # M2
        ({"max_think": math.nan}, "--max-think"),  # L4: acted as no cap
        ({"duration": math.inf, "concurrency": 2}, "--duration"),  # L3
        ({"speed": 1e-300}, "--speed"),  # L3
        ({"session_rate": 1e-300}, "--session-rate"),  # L3
        ({"speed": math.nan}, "--speed"),
        ({"timeout": math.inf}, "--timeout"),
        ({"think_scale": limits.MAX_SCALE * 2}, "--think-scale"),
        ({"workers": limits.MAX_WORKERS + 1}, "--workers"),
        ({"concurrency": limits.MAX_CONCURRENCY + 1}, "--concurrency"),
        ({"target": "http://127.0.0.1:99999"}, "--target"),  # L3: was a ValueError traceback
        ({"headers": (("X-A", "b\r\nX-Injected: 1"),)}, "--header"),  # L4: header injection
        ({"headers": (("X-A", "b\nc"),)}, "--header"),
        ({"headers": (("X A", "b"),)}, "--header"),
        ({"session_header": "Bad Header:"}, "--session-header"),  # L4
    ],
)
def test_m2_l3_l4_config_refuses_out_of_bounds(options: dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigError, match=f"^{option}:"):
        _config(**options)


def test_config_accepts_the_bounds_themselves() -> None:
    config = _config(
        speed=limits.MIN_SPEED,
        think_scale=limits.MAX_SCALE,
        max_think=limits.MAX_SECONDS,
        warmup=0.0,
        session_rate=limits.MIN_RATE,
        duration=limits.MAX_SECONDS,
        headers=(("Authorization", "Bearer a\tb"),),
        session_header="X-Session-ID",
    )
    # The extremes multiply to a deadline that still fits int64 nanoseconds.
    assert config.think_ns(limits.MAX_SECONDS) < 2**63
    assert limits.MAX_SECONDS / limits.MIN_SPEED * 1e9 < limits.MAX_SCHEDULE_NS


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    defaults = {
        S.WORKLOAD: "w",
        S.ARRIVAL_S: 0.0,
        S.THINK_S: 0.0,
        S.INPUT_TOKENS: 10,
        S.NEW_INPUT_TOKENS: 10,
        S.OUTPUT_TOKENS: 2,
        S.PARENT_SESSION_ID: None,
        S.PARENT_CALL_INDEX: None,
    }
    return pl.DataFrame([{**defaults, **r} for r in rows]).with_columns(
        pl.col(S.CALL_INDEX).cast(pl.Int32),
        pl.col(S.PARENT_SESSION_ID).cast(pl.String),
        pl.col(S.PARENT_CALL_INDEX).cast(pl.Int32),
    )


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (S.THINK_S, math.nan),  # M2: calls silently never sent
        (S.THINK_S, math.inf),  # M2
        (S.ARRIVAL_S, math.nan),  # L3: traceback in recorded mode
        (S.ARRIVAL_S, -1.0),
        (S.INPUT_TOKENS, 10**12),  # M4: MemoryError building hash ids
        (S.INPUT_TOKENS, 2**63 - 1),  # M4
        (S.OUTPUT_TOKENS, -5),  # M4: replayed silently as 1 token
        (S.NEW_INPUT_TOKENS, limits.MAX_TOKENS + 1),
    ],
)
def test_m2_m4_profile_values_out_of_bounds(column: str, value: float) -> None:
    frame = _frame([{S.SESSION_ID: "a", S.CALL_INDEX: 0}, {S.SESSION_ID: "b", S.CALL_INDEX: 0}])
    frame = frame.with_columns(
        pl.when(pl.col(S.SESSION_ID) == "b")
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .cast(frame.schema[column], strict=False)
        .alias(column)
    )
    with pytest.raises(FormatError, match=rf"^p\.arrow: column '{column}' \(session 'b', call 0\)"):
        plan_from_profile(frame, None, "p.arrow")


@pytest.mark.parametrize("block_size", [0, 262_144, 1_000_000])
def test_l3_l4_block_size_out_of_bounds(block_size: int) -> None:
    """L3: 262144 was a ZeroDivisionError; L4: 1000000 sent empty prompts."""
    frame = _frame([{S.SESSION_ID: "a", S.CALL_INDEX: 0}])
    with pytest.raises(FormatError, match="block size"):
        plan_from_profile(frame, block_size, "p.arrow")
    assert plan_from_profile(frame, limits.MAX_BLOCK_SIZE, "p.arrow").n_calls == 1


def _session(sid: str, parent: str | None = None, parent_call: int | None = None) -> SessionPlan:
    calls = tuple(CallPlan(i, 0.0, 10, 2, None, final=i == 1) for i in range(2))
    return SessionPlan(sid, 0.0, calls, parent, parent_call)


def test_l5_mutual_parents_are_an_error_naming_both() -> None:
    """L5: sessions that are each other's parent were silently never sent."""
    sessions = [_session("root"), _session("a", "b", 0), _session("b", "a", 1)]
    with pytest.raises(FormatError, match=r"^t\.arrow: sessions '(a|b)' -> '(a|b)' -> '\1'"):
        assemble(sessions, block_size=None, has_hash_ids=False, where="t.arrow")
    with pytest.raises(FormatError, match="'s' -> 's'"):  # its own parent
        assemble([_session("s", "s", 0)], block_size=None, has_hash_ids=False)
    longer = [_session("x", "z", 0), _session("y", "x", 0), _session("z", "y", 0)]
    with pytest.raises(FormatError, match="each other's parent"):
        assemble(longer, block_size=None, has_hash_ids=False)


def test_l5_missing_parent_call_is_an_error_naming_the_sessions() -> None:
    """L5: a child whose parent_call_index (999) is not in the parent was never spawned."""
    sessions = [_session("p"), _session("c", "p", 999)]
    with pytest.raises(FormatError, match=r"session 'c': parent session 'p' has no call 999"):
        assemble(sessions, block_size=None, has_hash_ids=False)


def test_l5_valid_graphs_still_assemble() -> None:
    """Children of existing calls nest; a child of an absent session is promoted to a root.
    Roots with equal arrivals keep the source's order (not their ids')."""
    sessions = [_session("p"), _session("c", "p", 1), _session("g", "c", 0), _session("o", "x")]
    plan = assemble(sessions, block_size=None, has_hash_ids=False)
    assert [s.session_id for s in plan.roots] == ["p", "o"]
    assert set(plan.children) == {("p", 1), ("c", 0)}
    assert plan.n_calls == 8


def test_schedule_ends_at_the_deadline_limit() -> None:
    """A minimum --session-rate with a huge --max-sessions stops at MAX_SCHEDULE_NS instead
    of computing deadlines no timer can hold (was an OverflowError traceback)."""
    plan = assemble([_session("a")], block_size=None, has_hash_ids=False)
    config = _config(session_rate=limits.MIN_RATE, max_sessions=limits.MAX_SESSIONS)
    offsets = [a.offset_ns for a in admissions(plan, config)]
    assert offsets and max(offsets) < limits.MAX_SCHEDULE_NS
    assert len(offsets) == -(-limits.MAX_SCHEDULE_NS // int(1e15))  # one per 10^6 s

"""A profile plan's calls stored as columns (replay.calls) are the calls of its rows: built
on demand, equal to the ones a row-by-row reading gives, with or without hash ids, in any
row order; and a profile file's kind is told before any batch is decoded (io.kind_of)."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import polars as pl
import pytest

from agentload.replay.plan import CallPlan, plan_from_profile
from agentload.replay.source import load_plan
from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import SCHEMAS, Kind


def _rows(seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for k in range(40):
        child = k % 7 == 3  # a child of the previous session's first call
        for c in range(rng.randint(1, 5)):
            nulls = rng.random() < 0.2
            rows.append({
                S.SESSION_ID: f"-{k}",
                S.CALL_INDEX: c,
                S.THINK_S: rng.random(),
                S.INPUT_TOKENS: rng.randint(0, 99_999),
                S.OUTPUT_TOKENS: rng.randint(0, 500),
                S.HASH_IDS: None if nulls else [rng.randint(0, 2**40) for _ in range(c + 1)],
                S.USAGE_SOURCE: rng.choice([None, "provider", "estimated"]),
                S.PARENT_SESSION_ID: f"-{k - 1}" if child else None,
                S.PARENT_CALL_INDEX: 0 if child else None,
                S.ARRIVAL_S: float(rng.randint(0, 3)),
            })  # fmt: skip
    return rows


def _expected(rows: list[dict[str, object]]) -> dict[str, list[CallPlan]]:
    """Each session's calls read row by row, the way plans were built before columns."""
    calls: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        calls.setdefault(str(row[S.SESSION_ID]), []).append(row)
    out = {}
    for sid, found in calls.items():
        found.sort(key=lambda r: int(r[S.CALL_INDEX]))  # type: ignore[call-overload]
        out[sid] = [
            CallPlan(
                index=r[S.CALL_INDEX],  # type: ignore[arg-type]
                think_s=r[S.THINK_S],  # type: ignore[arg-type]
                input_tokens=r[S.INPUT_TOKENS],  # type: ignore[arg-type]
                output_tokens=r[S.OUTPUT_TOKENS],  # type: ignore[arg-type]
                hash_ids=None if r[S.HASH_IDS] is None else tuple(r[S.HASH_IDS]),  # type: ignore[arg-type]
                final=i == len(found) - 1,
                usage_source=r[S.USAGE_SOURCE],  # type: ignore[arg-type]
            )
            for i, r in enumerate(found)
        ]
    return out


@pytest.mark.parametrize("shuffle", [False, True])
def test_columns_give_the_calls_of_the_rows(shuffle: bool) -> None:
    rows = _rows(5)
    if shuffle:  # rows out of session order take the sorting path
        random.Random(1).shuffle(rows)
    frame = pl.DataFrame(rows, schema_overrides={S.HASH_IDS: pl.List(pl.Int64)})
    plan = plan_from_profile(frame, 16)
    expected = _expected(rows)
    sessions = list(plan.all_sessions())
    assert len(sessions) == len(expected) and plan.has_hash_ids
    assert sum(len(v) for v in plan.children.values()) == 6  # k = 3, 10, ..., 38
    for s in sessions:
        assert list(s.calls) == expected[s.session_id], s.session_id
        assert s.calls == tuple(expected[s.session_id])
        assert s.calls[-1] == expected[s.session_id][-1] and s.calls[-1].final
        assert s.calls[:1] == tuple(expected[s.session_id][:1])
        with pytest.raises(IndexError):
            s.calls[len(s.calls)]
    copy = pickle.loads(pickle.dumps(plan))  # spawned workers get the plan pickled
    assert list(copy.all_sessions()) == sessions


def test_a_profile_without_hash_ids_or_links() -> None:
    rows = _rows(7)
    for r in rows:
        r[S.HASH_IDS] = None
    frame = pl.DataFrame(rows).drop(S.USAGE_SOURCE, S.PARENT_SESSION_ID, S.PARENT_CALL_INDEX)
    plan = plan_from_profile(frame, None)
    assert not plan.has_hash_ids and not plan.children and len(plan.roots) == 40
    call = plan.roots[0].calls[0]
    assert call.hash_ids is None and call.usage_source is None
    assert type(call.input_tokens) is int and type(call.think_s) is float


def test_kind_is_told_from_the_schema(tmp_path: Path) -> None:
    frame = pl.DataFrame(_rows(3), schema_overrides={S.HASH_IDS: pl.List(pl.Int64)})
    profile = tmp_path / "p.arrow"
    io.write_file(profile, Kind.PROFILE, _as_profile(frame))
    assert io.kind_of(profile) is Kind.PROFILE
    assert io.kind_of(tmp_path / "absent.arrow") is None
    junk = tmp_path / "junk.arrow"
    junk.write_bytes(b"ARROW1\x00\x00 not really")
    assert io.kind_of(junk) is None
    plan = load_plan(profile, "m")  # read with only the plan's columns
    assert plan.n_calls == frame.height


def _as_profile(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every other profile column, as a profile file needs them."""
    schema = SCHEMAS[Kind.PROFILE]
    missing = [f for f in schema if f.name not in frame.columns]
    return frame.with_columns(
        pl.lit(None).alias(f.name) if f.nullable else pl.lit(0).alias(f.name) for f in missing
    )

"""The replay plan: sessions and their calls, independent of where they came from.

A plan is built once from a profile-shaped frame (profile, trie, Mooncake, built-in) or from
a trace (verbatim request bodies). Root sessions are sorted by arrival; child sessions are
indexed by the parent call that spawns them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import polars as pl

from agentload.base.errors import FormatError
from agentload.replay.calls import CallPlan as CallPlan  # its home is replay.calls
from agentload.replay.calls import CallRange, call_store
from agentload.traceformat import limits
from agentload.traceformat import schema as S

CYCLE_SEP = "~c"  # session id suffix of a cycled copy: "<id>~c<cycle>"
# The profile columns a plan reads (a profile file is read with only these).
PLAN_COLUMNS = (
    S.SESSION_ID, S.CALL_INDEX, S.THINK_S, S.INPUT_TOKENS, S.OUTPUT_TOKENS, S.HASH_IDS,
    S.USAGE_SOURCE, S.PARENT_SESSION_ID, S.PARENT_CALL_INDEX, S.ARRIVAL_S,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SessionPlan:
    session_id: str
    arrival_s: float
    calls: Sequence[CallPlan]  # a tuple, or a profile's `CallRange` (built on demand)
    parent: str | None = None
    parent_call: int | None = None


@dataclass(frozen=True)
class Plan:
    roots: tuple[SessionPlan, ...]
    children: dict[tuple[str, int], tuple[SessionPlan, ...]] = field(default_factory=dict)
    block_size: int | None = None
    has_hash_ids: bool = False
    # Trace sources carry request bodies; their API kind per session is in the bodies.
    verbatim: bool = False

    def all_sessions(self) -> Iterator[SessionPlan]:
        yield from self.roots
        for group in self.children.values():
            yield from group

    @property
    def n_calls(self) -> int:
        return sum(len(s.calls) for s in self.all_sessions())


def cycled_id(session_id: str, cycle: int) -> str:
    return session_id if cycle == 0 else f"{session_id}{CYCLE_SEP}{cycle}"


def split_cycled(session_id: str) -> tuple[str, int]:
    """Inverse of `cycled_id` (ids without the suffix are cycle 0)."""
    base, sep, tail = session_id.rpartition(CYCLE_SEP)
    if sep and tail.isdigit():
        return base, int(tail)
    return session_id, 0


def salt_hash_ids(hash_ids: tuple[int, ...], cycle: int) -> tuple[int, ...]:
    """Hash ids of a cycled copy: every copy of the same cycle shares blocks with the other
    sessions of that cycle (common system prompts stay shared), not with earlier cycles."""
    if cycle == 0:
        return hash_ids
    return tuple(mix_hash(h, cycle) for h in hash_ids)


def mix_hash(h: int, salt: int) -> int:
    # splitmix64-style finaliser on (h, salt): cheap, deterministic, well spread.
    x = (h * 0x9E3779B97F4A7C15 + salt * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 31
    x = (x * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (x ^ (x >> 29)) & 0x7FFFFFFFFFFFFFFF


def plan_from_profile(frame: pl.DataFrame, block_size: int | None, where: str = "profile") -> Plan:
    """Build a plan from a PROFILE-shaped frame (one row per call); FormatError naming
    `where` for values out of `traceformat.limits` or a malformed session graph."""
    limits.check_profile_frame(frame, where)
    if block_size is not None:
        limits.check_block_size(block_size, where)
    # Only the columns a plan reads are sorted; calls stay columns (replay.calls). Sessions
    # in file order (not by id: `-1, -10, -2`), so equal arrivals keep it below.
    frame = frame.select(name for name in PLAN_COLUMNS if name in frame.columns)
    if not _in_session_order(frame):  # files we write already are: the sort cost 40 MB
        first_row = pl.col("_row").min().over(S.SESSION_ID)
        frame = frame.with_row_index("_row").sort(first_row, S.CALL_INDEX).drop("_row")
    has_hash = S.HASH_IDS in frame.columns and frame[S.HASH_IDS].null_count() < frame.height
    store = call_store(frame, where)
    ids = frame[S.SESSION_ID]
    firsts = (ids != ids.shift(1)).fill_null(value=True).arg_true()
    heads = frame[firsts].select(
        pl.col(S.SESSION_ID).cast(pl.String),
        pl.col(S.ARRIVAL_S).cast(pl.Float64),
        (pl.col(S.PARENT_SESSION_ID) if S.PARENT_SESSION_ID in frame.columns else pl.lit(None))
        .cast(pl.String).alias("parent"),
        (pl.col(S.PARENT_CALL_INDEX) if S.PARENT_CALL_INDEX in frame.columns else pl.lit(None))
        .cast(pl.Int64).alias("parent_call"),
    )  # fmt: skip
    ends = [*firsts.to_list()[1:], frame.height]
    sessions = [
        SessionPlan(
            session_id=sid,
            arrival_s=arrival,
            calls=CallRange(store, start, end),
            parent=parent,
            parent_call=parent_call,
        )
        for (sid, arrival, parent, parent_call), start, end in zip(
            heads.iter_rows(), firsts.to_list(), ends, strict=True
        )
    ]
    return assemble(sessions, block_size=block_size, has_hash_ids=has_hash, where=where)


def _in_session_order(frame: pl.DataFrame) -> bool:
    """Each session's rows are together, in strictly increasing call order."""
    ids, calls = frame[S.SESSION_ID], frame[S.CALL_INDEX]
    new = (ids != ids.shift(1)).fill_null(value=True)
    return bool(new.sum() == ids.n_unique() and ((calls > calls.shift(1)) | new).all())


def assemble(
    sessions: list[SessionPlan],
    *,
    block_size: int | None,
    has_hash_ids: bool,
    verbatim: bool = False,
    where: str = "profile",
) -> Plan:
    """Split sessions into roots (by arrival) and children (by spawning call).

    A child whose parent is not in the source is promoted to a root, so nothing is dropped;
    a link no run could follow (a parent call that does not exist, sessions that are each
    other's ancestors) is a FormatError naming the sessions, as it would drop them silently.
    """
    by_id = {s.session_id: s for s in sessions}
    roots: list[SessionPlan] = []
    children: dict[tuple[str, int], list[SessionPlan]] = {}
    for s in sessions:
        parent = by_id.get(s.parent) if s.parent is not None else None
        if parent is None:
            roots.append(s)
            continue
        call = s.parent_call or 0
        if all(c.index != call for c in parent.calls):
            raise FormatError(
                f"{where}: session {s.session_id!r}: parent session {parent.session_id!r} "
                f"has no call {call} (calls {parent.calls[0].index}..{parent.calls[-1].index})"
            )
        children.setdefault((parent.session_id, call), []).append(s)
    _check_acyclic(by_id, where)
    roots.sort(key=lambda s: s.arrival_s)  # stable: equal arrivals keep the source's order
    return Plan(
        roots=tuple(roots),
        children={k: tuple(v) for k, v in children.items()},
        block_size=block_size,
        has_hash_ids=has_hash_ids,
        verbatim=verbatim,
    )


def _check_acyclic(by_id: dict[str, SessionPlan], where: str) -> None:
    """Every chain of parents ends at a root; a cycle (a -> b -> a, or a -> a) never starts."""
    done: set[str] = set()  # sessions whose chain is known to end at a root
    for start in by_id:
        chain: list[str] = []
        current: str | None = start
        while current is not None and current in by_id and current not in done:
            if current in chain:
                loop = [*chain[chain.index(current) :], current]
                raise FormatError(
                    f"{where}: sessions {' -> '.join(repr(x) for x in loop)} are each "
                    "other's parent: none of them can ever start"
                )
            chain.append(current)
            current = by_id[current].parent
        done.update(chain)

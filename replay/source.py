"""Load a replay source (profile, trie, Mooncake or trace file) into a `Plan`."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from agentload.base.errors import ConfigError, FormatError
from agentload.replay.plan import PLAN_COLUMNS, Plan, plan_from_profile
from agentload.replay.tracesource import plan_from_trace
from agentload.traceformat import io
from agentload.traceformat.schema import Kind
from agentload.traceformat.sources import (
    SourceFormat,
    block_size_of,
    load_profile_frame,
    sniff,
)


def load_plan(path: Path, model: str) -> Plan:
    """Sniff `path` and build its plan; a trace replays verbatim, everything else
    (agentload profile, trie JSONL, Mooncake JSONL) is profile-shaped."""
    plan = _build(path, model)
    # The file's Arrow buffers are gone now: hand their pages back, or the pool keeps them
    # for the whole run (17 MB for the 8k built-in).
    pa.default_memory_pool().release_unused()
    return plan


def _build(path: Path, model: str) -> Plan:
    if not path.exists():
        raise ConfigError(f"{path}: no such file (nor a built-in profile name)")
    if sniff(path) is SourceFormat.AGENTLOAD:
        profile = io.kind_of(path) is Kind.PROFILE  # then only the columns a plan reads
        loaded = io.read(path, columns=PLAN_COLUMNS if profile else None)
        if loaded.kind is Kind.TRACE:
            plan = plan_from_trace(path, loaded.frame, model)
            return _non_empty(path, plan)
        if loaded.kind is Kind.RESULT:
            raise FormatError(f"{path}: is a result file; replay needs a profile or a trace")
        block_size = block_size_of(loaded.metadata, path)  # a profile: read once
        return _non_empty(path, plan_from_profile(loaded.frame, block_size, str(path)))
    frame, block_size = load_profile_frame(path)
    return _non_empty(path, plan_from_profile(frame, block_size, str(path)))


def _non_empty(path: Path, plan: Plan) -> Plan:
    if not plan.roots:
        raise FormatError(f"{path}: has no sessions to replay")
    return plan

"""Split a workload into shards by a stable hash of each session's root session.

A child session (subagent, side call) starts relative to a call of its parent, so it must
run in the same replayer as the parent: we hash the root of the parent chain, not the
session itself. The hash is BLAKE2b of the UTF-8 id, so the same source gives the same
shards on every machine, Python version and run.
"""

from __future__ import annotations

import hashlib

import polars as pl

from traceformat.errors import FormatError
from traceformat.schema import PARENT_SESSION_ID, SESSION_ID

__all__ = ["ROOT", "SHARD", "assign_shards", "root_sessions", "shard_of"]

ROOT = "_root_session"
SHARD = "_shard"


def shard_of(root_session_id: str, n_shards: int) -> int:
    """The shard of a root session: BLAKE2b-64 of its id modulo `n_shards`."""
    if n_shards < 1:
        raise ValueError("n_shards must be >= 1")
    digest = hashlib.blake2b(root_session_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n_shards


def root_sessions(frame: pl.DataFrame, where: str = "source") -> pl.DataFrame:
    """One row per session: SESSION_ID and ROOT, the first ancestor without a parent.

    A parent that is not in the frame counts as a root (the child then still shares a
    shard with any sibling that names the same missing parent). A parent cycle is an error.
    """
    links = frame.select(SESSION_ID, PARENT_SESSION_ID).unique(SESSION_ID, keep="first")
    parent_of = links.rename({SESSION_ID: ROOT, PARENT_SESSION_ID: "_up"})
    current = links.select(SESSION_ID, pl.coalesce(PARENT_SESSION_ID, SESSION_ID).alias(ROOT))
    # Each pass climbs one level; a chain can be at most as long as there are sessions.
    for _ in range(links.height + 1):
        climbed = current.join(parent_of, on=ROOT, how="left", maintain_order="left").select(
            SESSION_ID, pl.coalesce("_up", ROOT).alias(ROOT)
        )
        if climbed.equals(current):
            return current
        current = climbed
    raise FormatError(f"{where}: field {PARENT_SESSION_ID}: sessions form a parent cycle")


def assign_shards(frame: pl.DataFrame, n_shards: int, where: str = "source") -> pl.DataFrame:
    """`frame` with a SHARD column (Int32): every call of a session family gets one shard."""
    roots = root_sessions(frame, where)
    unique_roots = roots.get_column(ROOT).unique().to_list()
    table = pl.DataFrame(
        {ROOT: unique_roots, SHARD: [shard_of(r, n_shards) for r in unique_roots]},
        schema={ROOT: pl.String, SHARD: pl.Int32},
    )
    shards = roots.join(table, on=ROOT, how="left", maintain_order="left").select(SESSION_ID, SHARD)
    return frame.join(shards, on=SESSION_ID, how="left", maintain_order="left")

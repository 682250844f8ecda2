"""The stable shard of a root session, shared by `--workers N` and Ray actors.

A child session (subagent, side call) starts relative to a call of its parent, so it runs
in the same replayer as its root: callers hash the root session's id (the plan keeps
children with their root). The hash is BLAKE2b of the UTF-8 id, so the same source gives
the same shards on every machine, Python version and run.
"""

from __future__ import annotations

import hashlib

__all__ = ["shard_of"]


def shard_of(root_session_id: str, n_shards: int) -> int:
    """The shard of a root session: BLAKE2b-64 of its id modulo `n_shards`."""
    if n_shards < 1:
        raise ValueError("n_shards must be >= 1")
    digest = hashlib.blake2b(root_session_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n_shards

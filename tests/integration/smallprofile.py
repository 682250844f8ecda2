"""A small, hand-built agentic profile for the real-engine tier.

Sessions share a system-prompt prefix (whole blocks, same hash ids in every session), then
each call appends the previous answer and a tool result, as an agent loop does. Prompts are
a few hundred tokens (a cold prompt costs ~4 ms per token on the CI machine) and outputs are
short and all different, so an exact output length is a real check.

Hash ids follow the chained-hash rule a derived profile obeys: a full block keeps its id in
every later call of the session (the prefix is unchanged), a partial last block gets a fresh
id (its content is a different, shorter block).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Kind


@dataclass(frozen=True)
class SmallProfile:
    sessions: int = 4
    calls: int = 3
    block_size: int = 16
    prefix_blocks: int = 8  # shared system prompt: 128 tokens
    first_user: int = 197  # session-specific start of call 0 (not block-aligned on purpose)
    tool_tokens: int = 83  # tool result appended before each later call
    think_s: float = 0.2
    arrival_gap_s: float = 0.4
    salt: int = 0  # distinct salts give disjoint hash ids (no cache carry-over between tests)

    def output_tokens(self, session: int, call: int) -> int:
        return 5 + 7 * call + 3 * session  # distinct per call: 5..32 tokens

    def rows(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for s in range(self.sessions):
            n_in = self.prefix_blocks * self.block_size + self.first_user
            for c in range(self.calls):
                if c > 0:
                    new = self.output_tokens(s, c - 1) + self.tool_tokens
                    n_in += new
                rows.append(
                    {
                        S.SESSION_ID: f"s{s}",
                        S.CALL_INDEX: c,
                        S.WORKLOAD: "integration",
                        S.ARRIVAL_S: s * self.arrival_gap_s,
                        S.THINK_S: 0.0 if c == 0 else self.think_s,
                        S.INPUT_TOKENS: n_in,
                        S.NEW_INPUT_TOKENS: n_in if c == 0 else new,
                        S.OUTPUT_TOKENS: self.output_tokens(s, c),
                        S.HASH_IDS: self.hash_ids(s, c, n_in),
                    }
                )
        return rows

    def hash_ids(self, session: int, call: int, n_tokens: int) -> list[int]:
        full, partial = divmod(n_tokens, self.block_size)
        salt = self.salt * 1_000_000_000
        ids = [salt + j for j in range(1, self.prefix_blocks + 1)]  # shared by every session
        base = salt + (session + 1) * 1_000_000
        ids += [base + j for j in range(self.prefix_blocks, full)]
        if partial:
            ids.append(base + 900_000 + call)  # this call's partial tail, seen nowhere else
        return ids

    def write(self, path: Path) -> Path:
        frame = pl.DataFrame(self.rows())
        meta = {S.META_BLOCK_SIZE: str(self.block_size).encode()}
        return io.write_file(path, Kind.PROFILE, frame, extra_metadata=meta)

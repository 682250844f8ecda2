"""A trace call's prompt as offline tokens, built from its stored request parts.

Order: the envelope's prompt-bearing keys (`system`, `instructions`, `tools`, `functions`,
each as canonical JSON), then every message's JSON text, in request order. Sampling
parameters, model, metadata and the like are not part of the prompt, so they do not break
prefix sharing. A redacted part (data null) becomes size/4 pseudo-tokens derived from its
content id: equal parts still share blocks, and nothing of the text is needed.
"""

from __future__ import annotations

import json
from typing import Final

import polars as pl

from agentload.traceformat.content import canonical_json, content_frame
from agentload.traceformat.schema import CONTENT_DATA, CONTENT_ID, CONTENT_SIZE
from agentload.traceformat.tokens import tokenize

ENVELOPE_PROMPT_KEYS: Final = ("system", "instructions", "tools", "functions")


def envelope_text(data: str) -> str:
    try:
        body = json.loads(data)
    except ValueError:
        return data
    if not isinstance(body, dict):
        return data
    return "".join(canonical_json({k: body[k]}) for k in ENVELOPE_PROMPT_KEYS if k in body)


class PartTokens:
    """Tokenizes each distinct part once (keyed by content id and role)."""

    def __init__(self, data: dict[str, str | None], sizes: dict[str, int]) -> None:
        self._data = data
        self._sizes = sizes
        self._cache: dict[tuple[str, bool], list[str]] = {}

    def add_content(self, data: dict[str, str | None], sizes: dict[str, int]) -> None:
        self._data.update(data)
        self._sizes.update(sizes)

    def add_trace(self, trace_frame: pl.DataFrame) -> None:
        """Register every part a trace frame stores (its NEW_CONTENT column)."""
        content = content_frame(trace_frame)
        ids = content[CONTENT_ID].to_list()
        self.add_content(
            dict(zip(ids, content[CONTENT_DATA].to_list(), strict=True)),
            dict(zip(ids, content[CONTENT_SIZE].to_list(), strict=True)),
        )

    def tokens(self, cid: str, envelope: bool) -> list[str]:
        key = (cid, envelope)
        cached = self._cache.get(key)
        if cached is None:
            text = self._data.get(cid)
            if text is None:  # redacted or missing: stand-in tokens keyed by the id
                cached = [f"\x00{cid}:{i}" for i in range(max(1, self._sizes.get(cid, 4) // 4))]
            else:
                cached = tokenize(envelope_text(text) if envelope else text)
            self._cache[key] = cached
        return cached

    def count(self, part_ids: list[str]) -> int:
        """How many tokens `prompt` gives for these parts, without building the list."""
        return sum(len(self.tokens(cid, i == 0)) for i, cid in enumerate(part_ids))

    def prompt(self, part_ids: list[str]) -> tuple[list[str], list[int]]:
        """All tokens of a call's prompt, and the cumulative token count after each part."""
        out: list[str] = []
        ends: list[int] = []
        for i, cid in enumerate(part_ids):
            out.extend(self.tokens(cid, i == 0))
            ends.append(len(out))
        return out, ends

"""What the sim generates: output lengths, deterministic text and tool-call plans.

Generated text is a fixed pseudo-random corpus of 4,096 canonical lowercase pieces (built
from BLAKE2b, identical everywhere), read from an offset chosen by the request's seed, so
every output re-tokenizes to exactly its reported token count.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Final

from agentload.simengine import tokenizer

CORPUS_SIZE: Final = 4096
_LOWER_WORDS: Final = tokenizer.UPPER_BASE  # ids [0, UPPER_BASE) are " " + lowercase words


def _corpus_id(i: int) -> int:
    digest = hashlib.blake2b(i.to_bytes(4, "little"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % _LOWER_WORDS


CORPUS_IDS: Final = [_corpus_id(i) for i in range(CORPUS_SIZE)]
CORPUS_PIECES: Final = [tokenizer.id_piece(i) for i in CORPUS_IDS]


def prompt_seed(prompt_ids: list[int], request_seed: int | None) -> int:
    """Per-request seed: the prompt's ids (and the request's `seed` field, if any)."""
    return hash((tuple(prompt_ids), request_seed)) & ((1 << 62) - 1)


# --ignore-length-fields: the model's own EOS comes after at most this many tokens
EARLY_EOS_TOKENS = 5


def output_length(
    seed: int, min_tokens: int, max_tokens: int, ignore_eos: bool, honour_fields: bool = True
) -> int:
    """max_tokens with ignore_eos; else uniform in [min_tokens, max_tokens] from the seed.

    Without `honour_fields` (`sim --ignore-length-fields`), min_tokens and ignore_eos are
    ignored and the output ends at an early EOS (1 to EARLY_EOS_TOKENS tokens), as on a
    server that does not know the fields: what replay's length check must catch."""
    if not honour_fields:
        return min(max_tokens, 1 + (seed >> 11) % EARLY_EOS_TOKENS)
    if ignore_eos:
        return max_tokens
    lo = max(1, min(min_tokens, max_tokens))
    return lo + (seed >> 11) % (max_tokens - lo + 1)


@dataclass(slots=True)
class ToolCall:
    call_id: str
    name: str
    arguments: str  # JSON text
    pieces: list[str]  # tokenizer pieces of `arguments`, one token each


@dataclass(slots=True)
class Plan:
    """The whole output of a request, decided on arrival: text tokens, then tool calls.

    A tool call costs 1 token (its name) plus one token per piece of its arguments.
    """

    text: list[str]
    ids: list[int]
    finish: str  # "stop" | "length" | "tool_calls"
    calls: list[ToolCall] = field(default_factory=list)
    plain: bool = False  # text pieces need no JSON escaping (generated corpus text)
    # token index -> (call index or -1 for text, True for a call's header token, fragment)
    frags: list[tuple[int, bool, str]] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    def text_of(self, start: int, end: int) -> str:
        return "".join(self.text[start:end])


def generated(seed: int, n: int, finish: str) -> Plan:
    off = seed % CORPUS_SIZE
    if off + n <= CORPUS_SIZE:
        return Plan(CORPUS_PIECES[off : off + n], CORPUS_IDS[off : off + n], finish, plain=True)
    idx = [(off + i) % CORPUS_SIZE for i in range(n)]
    return Plan([CORPUS_PIECES[i] for i in idx], [CORPUS_IDS[i] for i in idx], finish, plain=True)


def fixed_text(text: str, tok: tokenizer.Tokenizer, finish: str = "stop") -> Plan:
    pieces = tokenizer.split(text) or [" ."]
    return Plan(pieces, tok.ids_of(pieces), finish)


def with_tool_calls(text: str, calls: list[ToolCall], tok: tokenizer.Tokenizer) -> Plan:
    pieces = tokenizer.split(text) if text else []
    frags: list[tuple[int, bool, str]] = [(-1, False, p) for p in pieces]
    names: list[str] = list(pieces)
    for i, call in enumerate(calls):
        frags.append((i, True, call.name))
        names.append(call.name)
        frags.extend((i, False, p) for p in call.pieces)
        names.extend(call.pieces)
    return Plan(pieces, tok.ids_of(names), "tool_calls", calls, frags=frags)

"""Synthetic prompts from hash ids, and the request bodies that carry them.

Every hash id maps to a deterministic block of tokens (a PRNG seeded by the id), so two
calls that share hash-id prefixes share prompt prefixes, within and across sessions, and an
engine's prefix cache sees exactly the sharing the profile describes. Token ids go to
/v1/completions as a list (exact lengths); chat and messages get text made of words whose
tokens-per-word ratio was calibrated against the target (see `calibrate`).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import zlib
from array import array
from dataclasses import dataclass
from functools import lru_cache

from agentload.providers.api import ENDPOINTS
from agentload.providers.requests import VLLM_STYLE, RequestStyle, synthetic_body
from agentload.replay.config import ApiChoice
from agentload.replay.plan import CallPlan, mix_hash

# Token ids drawn from a range every common vocabulary covers, away from special tokens.
TOKEN_LO = 1000
TOKEN_HI = 30000
DEFAULT_BLOCK = 16  # block size when the source has no hash ids (vLLM's default block)

WORDS = (  # noqa: SIM905 - a word list reads better as prose
    "time year people way day man thing woman life child world school state family student "
    "group country problem hand part place case week company system program question work "
    "government number night point home water room mother area money story fact month lot "
    "right study book eye job word business issue side kind head house service friend father "
    "power hour game line end member law car city community name president team minute idea "
    "kid body information back parent face others level office door health person art war "
    "history party result change morning reason research girl guy moment air teacher force "
    "education foot boy age policy music market sense nation plan college interest death "
    "experience effect use class control care field development role effort rate heart drug "
    "show leader light voice wife police mind price report decision son view relationship "
    "town road arm difference value building action model season society tax director "
    "position player record paper space ground form event official matter center couple "
    "site project activity star table need court oil situation cost industry figure street "
    "image phone data picture practice piece land product doctor wall patient worker news "
    "test movie north love support technology step baby computer type attention film tree "
    "source organization hair window evidence population truth song army range cell garden"
).split()


POOL_SIZE = 1 << 18


type Pool = tuple[str, array[int]]  # items joined by one separator, where each starts


@lru_cache(maxsize=1)
def _token_pool() -> Pool:
    # A fixed pseudo-random pool; a block is a window of it at an offset derived from its
    # hash id. Seeding a PRNG per block costs ~10 µs, a window costs well under one.
    raw = random.Random(0x5EED).randbytes(4 * POOL_SIZE)
    span = TOKEN_HI - TOKEN_LO
    return _joined([str(TOKEN_LO + v % span) for v in memoryview(raw).cast("I")], ",")


@lru_cache(maxsize=1)
def _word_pool() -> Pool:
    raw = random.Random(0x3E3D).randbytes(POOL_SIZE)
    return _joined([WORDS[b % len(WORDS)] for b in raw], " ")


def _joined(items: list[str], sep: str) -> Pool:
    """One string instead of 262k (13 MB less; `sep` is one character), so a block is one
    slice: no join, and no cache of blocks (at 1,000 long sessions it held 23 MB and
    missed: a 50k-token body took 13 ms, 4.5 ms now; 2.8 ms with hits, 5.7 ms now)."""
    starts, at = array("I"), 0
    for item in items:
        starts.append(at)
        at += len(item) + len(sep)
    starts.append(at)
    return sep.join(items), starts


def _window(pool: Pool, start: int, n: int) -> str:
    """Items start..start+n-1 of `pool`, joined by its separator."""
    text, starts = pool
    return text[starts[start] : starts[start + n] - 1]


def _offset(hash_id: int, size: int, salt: int = 0) -> int:
    # The run's salt moves every block to another window of the pool: within a run equal
    # hash ids still give equal blocks (sharing unchanged); another salt, other blocks.
    return mix_hash(hash_id, 0x0FF5E7 ^ salt) % (POOL_SIZE - size)


def salt_of(value: str) -> int:
    """The 63-bit block salt of a run id or --cache-salt value (stable across processes)."""
    digest = hashlib.blake2b(value.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFFFFFFFFFF


def block_token_text(hash_id: int, size: int, salt: int = 0) -> str:
    """Comma-joined token ids of the block for `hash_id` (JSON list body, pre-encoded)."""
    return _window(_token_pool(), _offset(hash_id, size, salt), size)


def block_word_text(hash_id: int, words: int, salt: int = 0) -> str:
    """Space-joined words of the text block for `hash_id`."""
    return _window(_word_pool(), _offset(hash_id, words, salt), words)


def session_hash_ids(session_id: str, n_blocks: int) -> tuple[int, ...]:
    """Stand-in hash ids for a source without them: one chain per session, so later calls
    extend earlier ones (within-session prefix sharing only)."""
    # Ids only need to be distinct per (session, block): `_offset` mixes them anyway.
    base = (zlib.crc32(session_id.encode()) + 1) << 24
    return tuple(range(base, base + n_blocks))


@dataclass(frozen=True)
class Materializer:
    """Builds request bodies for synthetic calls.

    `tokens_per_word` comes from calibration (1.0 without it); it only matters for chat and
    messages, where the prompt is text."""

    api: ApiChoice
    model: str
    block_size: int = DEFAULT_BLOCK
    tokens_per_word: float = 1.0
    template_tokens: int = 0  # chat template overhead around one user message
    style: RequestStyle = VLLM_STYLE  # length fields the target takes (replay.targets)
    salt: int = 0  # the run's block salt (`salt_of`): no prefix cache shared across runs

    def warm(self) -> None:
        """Build the shared pools now, not on the first send."""
        _token_pool()
        _word_pool()

    @property
    def endpoint(self) -> str:
        return ENDPOINTS[self.api.api]

    def blocks(
        self, session_id: str, call: CallPlan, hash_ids: tuple[int, ...] | None
    ) -> list[int]:
        """The hash ids covering `call.input_tokens` (padded with session blocks if short)."""
        need = max(1, -(-call.input_tokens // self.block_size))
        ids = list(hash_ids or ())[:need]
        if len(ids) < need:
            ids.extend(session_hash_ids(session_id, need)[len(ids) :])
        return ids

    def body(self, session_id: str, call: CallPlan, hash_ids: tuple[int, ...] | None) -> bytes:
        ids = self.blocks(session_id, call, hash_ids)
        n_out = max(call.output_tokens, 1)
        model = json.dumps(self.model)
        if self.api is ApiChoice.COMPLETIONS:
            prompt = "[" + self._token_prompt(ids, max(call.input_tokens, 1)) + "]"
        else:
            # Words are plain ASCII (no quotes, no escapes): the JSON string needs no encoder.
            prompt = '"' + self.text(ids, max(call.input_tokens - self.template_tokens, 1)) + '"'
        return synthetic_body(self.api.api, model, prompt, n_out, self.style)

    def _token_prompt(self, ids: list[int], n_tokens: int) -> str:
        bs = self.block_size
        salt = self.salt
        parts = [block_token_text(h, bs, salt) for h in ids[:-1]]
        last = n_tokens - bs * (len(ids) - 1)
        if last == bs:
            parts.append(block_token_text(ids[-1], bs, salt))
        else:
            parts.append(_head(ids[-1], last, bs, salt))
        return ",".join(parts)

    def text(self, ids: list[int], n_tokens: int) -> str:
        """Prompt text of about `n_tokens` tokens (exact up to the calibration drift)."""
        sizes = _block_words(self.block_size, self.tokens_per_word, len(ids))
        parts = [block_word_text(h, sizes[k], self.salt) for k, h in enumerate(ids)]
        before_last = _word_bound(self.block_size, self.tokens_per_word, len(ids) - 1)
        last_words = max(1, round(n_tokens / self.tokens_per_word) - before_last)
        parts[-1] = " ".join(parts[-1].split()[:last_words])
        return " ".join(parts)


def _word_bound(block_size: int, tokens_per_word: float, k: int) -> int:
    """Words before block k. Blocks get 11 or 12 words for 11.3 words/block, so long
    prompts keep the calibrated ratio; the count depends on the position only, so prompts
    sharing hash ids still share their text."""
    return round(k * block_size / tokens_per_word)


_WORD_SIZES: dict[tuple[int, float], list[int]] = {}
_WORD_SIZES_LOCK = threading.Lock()


def _block_words(block_size: int, tokens_per_word: float, n: int) -> list[int]:
    """Words in blocks 0..n-1 (a cached, growing list per calibration)."""
    sizes = _WORD_SIZES.setdefault((block_size, tokens_per_word), [])
    if len(sizes) < n:
        with _WORD_SIZES_LOCK:  # several loops (threads) may share this process
            for k in range(len(sizes), n):
                a = _word_bound(block_size, tokens_per_word, k)
                sizes.append(max(1, _word_bound(block_size, tokens_per_word, k + 1) - a))
    return sizes


def _head(hash_id: int, n: int, size: int, salt: int = 0) -> str:
    """The first `n` tokens of the block for `hash_id` (a partial last block)."""
    return _window(_token_pool(), _offset(hash_id, size, salt), n)

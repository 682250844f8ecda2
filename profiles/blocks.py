"""Keyed, chained block hashes (`hash_ids`) over a prompt's tokens.

Rules (docs/profiles.md, "Hashing"):
- key: 32 random bytes per run, or BLAKE2b-256 of a key file's bytes; never written out.
- block k of a prompt holds the offline tokens t with floor(t * scale / B) == k, where
  `scale` = provider tokens per offline token (one value per derivation run), so blocks
  follow provider token positions while staying a pure function of the prefix content;
- id_k = BLAKE2b-64(key, id_{k-1} || block bytes) as a signed int64: equal ids mean equal
  prefixes up to and including that block;
- usage wins: the list always has ceil(prompt_tokens / B) ids. Extra ids are dropped from
  the tail; missing ones are filler ids chained from the last real block (with the
  leftover partial tokens), so they are unique to that exact prefix.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from agentload.base.errors import ConfigError

_SEP: Final = "\x1f"
_FILLER: Final = b"\xffagentload-filler"
_KEY_PERSON: Final = b"agentload-key"
MIN_KEY_FILE_BYTES: Final = 16


@dataclass(frozen=True)
class HashKey:
    """The secret BLAKE2b key. `repr` never shows it."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not 16 <= len(self.secret) <= 64:
            raise ConfigError("hash key: must be 16..64 bytes")

    @classmethod
    def random(cls) -> HashKey:
        return cls(secrets.token_bytes(32))

    @classmethod
    def from_file(cls, path: Path) -> HashKey:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read key file ({exc.strerror})") from None
        if len(raw.strip()) < MIN_KEY_FILE_BYTES:
            raise ConfigError(f"{path}: key file must hold at least {MIN_KEY_FILE_BYTES} bytes")
        return cls(hashlib.blake2b(raw.strip(), digest_size=32, person=_KEY_PERSON).digest())

    def opaque_id(self, label: str, value: str) -> str:
        """A keyed 64-bit digest of `value` as hex: stable per key, unlinkable without it."""
        data = f"{label}\x00{value}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, key=self.secret, digest_size=8).hexdigest()


def _chain(key: bytes, prev: bytes, payload: bytes) -> bytes:
    return hashlib.blake2b(prev + payload, key=key, digest_size=8).digest()


def _as_int64(digest: bytes) -> int:
    return int.from_bytes(digest, "little", signed=True)


def block_count(tokens: int, block_size: int) -> int:
    return math.ceil(tokens / block_size)


def block_starts(n_tokens: int, scale: float, block_size: int) -> list[int]:
    """Offline-token index where each full block starts, plus the end of the last full one.

    Block k covers provider positions [k*B, (k+1)*B); offline token t sits at t*scale.
    """
    full = math.floor(n_tokens * scale / block_size + 1e-9)
    return [min(n_tokens, math.ceil(k * block_size / scale - 1e-9)) for k in range(full + 1)]


@dataclass
class ChainState:
    """Hashes already computed for a prompt, reusable by a later prompt with that prefix."""

    digests: list[bytes] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)


def hash_prompt(
    key: HashKey,
    tokens: Sequence[str],
    prompt_tokens: int,
    *,
    scale: float,
    block_size: int,
    reuse: ChainState | None = None,
    common_tokens: int = 0,
) -> tuple[list[int], ChainState]:
    """`hash_ids` for one prompt (see module doc). `reuse` + `common_tokens`: a previous
    prompt of the session whose first `common_tokens` tokens equal these; its real blocks
    inside that span are taken as they are instead of being hashed again."""
    want = block_count(prompt_tokens, block_size)
    starts = block_starts(len(tokens), scale, block_size)
    n_real = min(len(starts) - 1, want)
    digests: list[bytes] = []
    if reuse is not None:
        for k, digest in enumerate(reuse.digests):
            if (
                k >= n_real
                or reuse.starts[k + 1] > common_tokens
                or reuse.starts[k + 1] != starts[k + 1]
            ):
                break
            digests.append(digest)
    prev = digests[-1] if digests else b""
    for k in range(len(digests), n_real):
        payload = _SEP.join(tokens[starts[k] : starts[k + 1]]).encode("utf-8", "surrogatepass")
        prev = _chain(key.secret, prev, payload)
        digests.append(prev)
    state = ChainState(list(digests), starts[: n_real + 1])
    tail = _SEP.join(tokens[starts[n_real] :]).encode("utf-8", "surrogatepass")
    for k in range(n_real, want):
        prev = _chain(key.secret, prev, _FILLER + k.to_bytes(4, "little") + tail)
        digests.append(prev)
        tail = b""
    return [_as_int64(d) for d in digests], state

"""The sim's deterministic tokenizer (same ids on every run and machine).

Text is split into pieces of at most `MAX_PIECE_CHARS` (6) characters by the
`agentload-sim-v1` rules, which live with every other tokenizer regex in
`traceformat/tokens.py` (`sim_pieces`). Each piece maps to one token id:

* canonical pieces get an id computed arithmetically: " " + 1-3 lowercase letters
  (ids 0..18,277), " " + an uppercase letter + 0-2 lowercase letters (18,278..36,555),
  " " + 1-3 digits (36,556..37,665);
* any other piece gets BLAKE2b-64(UTF-8 bytes) mod `VOCAB_SIZE`.

Every id has a canonical piece, and canonical pieces start with a space and never merge, so
`encode(decode(ids)) == ids` for every id sequence (ids >= VOCAB_SIZE wrap modulo the
vocabulary). Real text gets a count close to BPE tokenizers (about 1.2 tokens per English
word) but does not round-trip: decoding gives the canonical pieces of its ids.
"""

from __future__ import annotations

import hashlib
from typing import Final

from agentload.traceformat.tokens import SIM_MAX_PIECE_CHARS as MAX_PIECE_CHARS
from agentload.traceformat.tokens import sim_pieces as split

_LETTERS: Final = "abcdefghijklmnopqrstuvwxyz"
_DIGITS: Final = "0123456789"
# Sizes of the canonical blocks: words of 1, 2 and 3 symbols over an alphabet.
_ALPHA_BLOCK: Final = 26 + 26**2 + 26**3  # 18,278
_DIGIT_BLOCK: Final = 10 + 100 + 1000
LOWER_BASE: Final = 0
UPPER_BASE: Final = _ALPHA_BLOCK
DIGIT_BASE: Final = 2 * _ALPHA_BLOCK
VOCAB_SIZE: Final = DIGIT_BASE + _DIGIT_BLOCK  # 37,666

__all__ = ["MAX_PIECE_CHARS", "VOCAB_SIZE", "Tokenizer", "id_piece", "piece_id", "split"]

_CACHE_LIMIT: Final = 1 << 20
_SEGMENT_CACHE_TOKENS: Final = 2_000_000


def _word_index(word: str, alphabet: str) -> int:
    """Index of a 1-3 symbol word among all words of that alphabet, shorter words first."""
    n = len(alphabet)
    offset = sum(int(n**k) for k in range(1, len(word)))
    value = 0
    for ch in word:
        value = value * n + alphabet.index(ch)
    return offset + value


def _index_word(index: int, alphabet: str) -> str:
    n = len(alphabet)
    length = 1
    while index >= n**length:
        index -= n**length
        length += 1
    chars = []
    for _ in range(length):
        index, digit = divmod(index, n)
        chars.append(alphabet[digit])
    return "".join(reversed(chars))


def _canonical_id(piece: str) -> int | None:
    if len(piece) < 2 or len(piece) > 4 or piece[0] != " " or not piece.isascii():
        return None
    rest = piece[1:]
    if rest.isdigit():
        return DIGIT_BASE + _word_index(rest, _DIGITS)
    if not rest.isalpha():
        return None
    if rest.islower():
        return LOWER_BASE + _word_index(rest, _LETTERS)
    if rest[0].isupper() and (len(rest) == 1 or rest[1:].islower()):
        return UPPER_BASE + _word_index(rest[0].lower() + rest[1:], _LETTERS)
    return None


def piece_id(piece: str) -> int:
    """Token id of one piece (canonical arithmetic id, else a stable hash)."""
    canonical = _canonical_id(piece)
    if canonical is not None:
        return canonical
    digest = hashlib.blake2b(piece.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % VOCAB_SIZE


def id_piece(token_id: int) -> str:
    """The canonical piece of a token id (ids wrap modulo VOCAB_SIZE)."""
    token_id %= VOCAB_SIZE
    if token_id >= DIGIT_BASE:
        return " " + _index_word(token_id - DIGIT_BASE, _DIGITS)
    if token_id >= UPPER_BASE:
        word = _index_word(token_id - UPPER_BASE, _LETTERS)
        return " " + word[0].upper() + word[1:]
    return " " + _index_word(token_id - LOWER_BASE, _LETTERS)


class Tokenizer:
    """Encoder with a bounded piece -> id cache (tokenizing long prompts is on the hot path)."""

    def __init__(self, segment_cache_tokens: int = _SEGMENT_CACHE_TOKENS) -> None:
        self._cache: dict[str, int] = {}
        # rendered chat segments (one per message) -> ids; LRU bounded by total tokens
        self._segments: dict[str, list[int]] = {}
        self._segment_tokens = 0
        self._segment_limit = segment_cache_tokens

    def ids_of(self, pieces: list[str]) -> list[int]:
        cache = self._cache
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        out: list[int | None] = list(map(cache.get, pieces))
        if None in out:
            for i, tid in enumerate(out):
                if tid is None:
                    p = pieces[i]
                    known = cache.get(p)
                    out[i] = cache[p] = piece_id(p) if known is None else known
        return out  # type: ignore[return-value]  # no None left

    def encode(self, text: str) -> list[int]:
        return self.ids_of(split(text))

    def encode_segments(self, segments: list[str]) -> list[int]:
        """`encode("".join(segments))`, memoizing each segment but the last: a conversation's
        history is tokenized once, not on every turn.

        Every segment after the first must start with "<" (rendered chat messages do):
        no piece spans "\n<"-like boundaries, and encoding a segment followed by "<" gives
        the pieces the whole text has there (whitespace pieces look one character ahead).
        """
        out: list[int] = []
        cache = self._segments
        for seg in segments[:-1]:
            ids = cache.pop(seg, None)
            if ids is None:
                ids = self.encode(seg + "<")[:-1]
                self._segment_tokens += len(ids)
            cache[seg] = ids  # (re)insert as most recently used
            out += ids
        while self._segment_tokens > self._segment_limit and len(cache) > 1:
            oldest = next(iter(cache))
            self._segment_tokens -= len(cache.pop(oldest))
        return out + self.encode(segments[-1]) if segments else out

    def count(self, text: str) -> int:
        return len(split(text))

    @staticmethod
    def decode(ids: list[int]) -> str:
        return "".join(id_piece(i) for i in ids)

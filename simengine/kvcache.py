"""Paged KV cache with a prefix cache over chained block hashes and LRU eviction.

Blocks hold `block_size` tokens. A full block computed by any request is registered under the
chained hash of all tokens up to its end, so a later request whose prompt starts with the
same tokens reuses it. Blocks nobody references stay cached until a new allocation needs
them; the least recently released one is evicted first.
"""

from __future__ import annotations

from collections import OrderedDict


class BlockPool:
    """Block accounting; block ids are ints in [0, num_blocks)."""

    def __init__(self, num_blocks: int, caching: bool) -> None:
        self.num_blocks = num_blocks
        self.caching = caching
        self.used = 0  # blocks with a reference
        self._fresh = 0  # blocks never handed out are [_fresh, num_blocks)
        self._free: list[int] = []  # released blocks without a hash
        self._evictable: OrderedDict[int, int] = OrderedDict()  # block -> hash, oldest first
        self._by_hash: dict[int, int] = {}
        self._hash_of: dict[int, int] = {}
        self._refs: dict[int, int] = {}
        self.evictions = 0

    @property
    def cached_blocks(self) -> int:
        return len(self._by_hash)

    def lookup(self, hashes: list[int]) -> list[int]:
        """Blocks holding the longest cached prefix of `hashes` (not yet referenced)."""
        if not self.caching:
            return []
        hits: list[int] = []
        for h in hashes:
            block = self._by_hash.get(h)
            if block is None:
                break
            hits.append(block)
        return hits

    def allocate(self, hits: list[int], n_new: int) -> list[int] | None:
        """Reference the hit blocks and `n_new` new ones; None (and no change) if KV is full."""
        reviving = sum(1 for b in hits if b in self._evictable)
        if n_new > self.num_blocks - self.used - reviving:
            return None
        for b in hits:
            if self._refs.get(b, 0) == 0:
                self._evictable.pop(b, None)
                self.used += 1
            self._refs[b] = self._refs.get(b, 0) + 1
        blocks = list(hits)
        for _ in range(n_new):
            blocks.append(self._take())
        return blocks

    def _take(self) -> int:
        if self._free:
            b = self._free.pop()
        elif self._fresh < self.num_blocks:
            b = self._fresh
            self._fresh += 1
        else:
            b, h = self._evictable.popitem(last=False)
            del self._by_hash[h]
            del self._hash_of[b]
            self.evictions += 1
        self._refs[b] = 1
        self.used += 1
        return b

    def reset_prefix_cache(self) -> int:
        """Forget every cached hash (vLLM's /reset_prefix_cache): idle cached blocks become
        free, blocks in use keep their contents but are found by no later lookup. Returns
        the number of hashes forgotten."""
        forgotten = len(self._by_hash)
        self._free.extend(self._evictable)
        self._evictable.clear()
        self._by_hash.clear()
        self._hash_of.clear()
        return forgotten

    def register(self, block: int, block_hash: int) -> None:
        """Make a full block findable by its chained hash (first writer wins)."""
        if self.caching and block_hash not in self._by_hash and block not in self._hash_of:
            self._by_hash[block_hash] = block
            self._hash_of[block] = block_hash

    def release(self, blocks: list[int]) -> None:
        """Drop one reference per block; tail blocks become the first eviction candidates."""
        for b in reversed(blocks):
            n = self._refs[b] - 1
            if n:
                self._refs[b] = n
                continue
            del self._refs[b]
            self.used -= 1
            h = self._hash_of.get(b)
            if h is None:
                self._free.append(b)
            else:
                self._evictable[b] = h

"""Continuous-batching step loop: one asyncio task schedules and times every step.

Each step (vLLM V1 style) gives every decoding sequence one token, continues unfinished
prefills (chunked) and admits waiting requests FIFO while the token budget, the sequence
limit and the KV cache allow. A request reserves KV blocks for its prompt and its whole
output on admission (the sim knows the output length), so nothing is ever preempted; the
head of the queue waits while the cache is full. The step's duration comes from the cost
model (or is fixed by `token_interval_ms`); steps are scheduled against absolute monotonic
deadlines so per-token timing does not drift. Tokens of a step are visible at its end.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from agentload.base.pacer import Pacer
from agentload.simengine import costmodel
from agentload.simengine.config import EngineConfig
from agentload.simengine.errors import ApiError, bad_request
from agentload.simengine.kvcache import BlockPool

# After this many zero-duration steps in a row the loop yields to let handlers run.
_MAX_INSTANT_STEPS = 256
# A step that starts late by up to this much is caught up by the following steps (timer and
# loop jitter); later than that, the schedule slips instead, as a real engine's would after a
# stall, so tokens never come out in a burst faster than the step time.
_REANCHOR_S = 0.002


class SimRequest:
    """One generation in the engine; handlers poll `generated` and await `wait()`."""

    __slots__ = (
        "arrival_ns",
        "blocks",
        "computed",
        "end_ns",
        "finished",
        "first_token_ns",
        "generated",
        "hashes",
        "lazy",
        "num_cached",
        "out_len",
        "prompt_len",
        "reg_at",
        "registered",
        "rid",
        "sink",
        "tokens",
        "waiter",
    )

    def __init__(self, rid: int, prompt_ids: list[int], output_ids: list[int]) -> None:
        self.rid = rid
        self.tokens = prompt_ids + output_ids  # for block hashes of prompt and output
        self.prompt_len = len(prompt_ids)
        self.out_len = len(output_ids)
        self.hashes: list[int] = []
        self.blocks: list[int] = []
        self.registered = 0  # leading blocks already offered to the prefix cache
        self.reg_at = 0  # KV token count at which the next block becomes full
        self.num_cached = 0
        self.computed = 0  # prompt tokens in KV (cached or prefilled)
        self.generated = 0
        self.finished = False
        self.waiter: asyncio.Future[None] | None = None
        self.lazy = False  # the handler only wants to hear about the end
        # called at the end of every step that produced tokens (streaming push), if set
        self.sink: Callable[[SimRequest], None] | None = None
        self.arrival_ns = time.monotonic_ns()
        self.first_token_ns = 0
        self.end_ns = 0

    async def wait(self, seen: int) -> None:
        """Return once more than `seen` tokens exist or the request finished."""
        while self.generated <= seen and not self.finished:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter

    async def wait_done(self) -> None:
        self.lazy = True
        while not self.finished:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter

    def notify(self) -> None:
        w = self.waiter
        if w is not None and (not self.lazy or self.finished):
            self.waiter = None
            if not w.done():
                w.set_result(None)


def chain_hashes(
    tokens: list[int], block_size: int, start: int, count: int, prev: int
) -> list[int]:
    """Chained hashes of full blocks start..start+count-1 (`prev`: hash of block start-1)."""
    out = []
    for j in range(start, start + count):
        prev = hash((prev, *tokens[j * block_size : (j + 1) * block_size]))
        out.append(prev)
    return out


@dataclass(slots=True)
class Counters:
    """Cumulative figures exported on /metrics."""

    prefix_queries: int = 0  # prompt tokens looked up in the prefix cache
    prefix_hits: int = 0  # of which found cached
    prompt_tokens: int = 0
    generation_tokens: int = 0
    finished: int = 0
    aborted: int = 0
    steps: int = 0
    busy_s: float = 0.0


class Engine:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.pool = BlockPool(config.num_blocks, config.enable_prefix_caching)
        self.waiting: deque[SimRequest] = deque()
        self.running: list[SimRequest] = []
        self.counters = Counters()
        self._next_rid = 0
        self._wake = asyncio.Event()
        self._dirty = False  # some running request finished: filter the running list
        cost = config.cost
        self._instant = config.token_interval_ms is None and all(
            getattr(cost, f) == 0 for f in cost.__slots__
        )

    # --- admission ----------------------------------------------------------------------
    def submit(self, prompt_ids: list[int], output_ids: list[int], max_tokens: int) -> SimRequest:
        """Queue a request; ApiError 400 if it can never fit the model length or the KV cache."""
        cfg = self.config
        n = len(prompt_ids)
        if n == 0:
            raise bad_request("prompt must contain at least one token", param="prompt")
        if n + max_tokens > cfg.max_model_len:
            raise bad_request(
                f"This model's maximum context length is {cfg.max_model_len} tokens. However, "
                f"you requested {n + max_tokens} tokens ({n} in the prompt, {max_tokens} in "
                "the completion). Please reduce the prompt or max_tokens.",
                param="max_tokens" if n < cfg.max_model_len else "prompt",
                code="context_length_exceeded",
            )
        need = -(-(n + len(output_ids)) // cfg.block_size)
        if need > cfg.num_blocks:
            raise bad_request(
                f"request needs {need * cfg.block_size} KV tokens ({n} prompt + "
                f"{len(output_ids)} output) but the KV cache holds {cfg.kv_capacity_tokens}",
                param="prompt",
                code="context_length_exceeded",
            )
        self._next_rid += 1
        req = SimRequest(self._next_rid, prompt_ids, output_ids)
        # at least one prompt token is always computed, so the last token's block never hits
        req.hashes = chain_hashes(req.tokens, cfg.block_size, 0, (n - 1) // cfg.block_size, 0)
        self.waiting.append(req)
        if self._instant:
            self._run_instant()
        else:
            self._wake.set()
        return req

    def _run_instant(self) -> None:
        """Zero-cost steps take no time: compute them right away, in the caller's turn of the
        event loop, instead of a round trip through the step-loop task."""
        for _ in range(_MAX_INSTANT_STEPS):
            decode, prefill = self._schedule()
            if not decode and not prefill:
                break
            self.counters.steps += 1
            self._complete(decode, prefill)
        if self.running or self.waiting:
            self._wake.set()

    def abort(self, req: SimRequest) -> None:
        """Forget a request whose client went away (frees its KV blocks)."""
        if req.finished:
            return
        req.finished = True
        self._dirty = True
        self.counters.aborted += 1
        self._wake.set()
        try:
            self.waiting.remove(req)
        except ValueError:
            self.pool.release(req.blocks)
            req.blocks = []

    def _admit(self, req: SimRequest) -> bool:
        bs = self.config.block_size
        hits = self.pool.lookup(req.hashes)
        total = -(-(req.prompt_len + req.out_len) // bs)
        blocks = self.pool.allocate(hits, total - len(hits))
        if blocks is None:
            return False
        req.blocks = blocks
        req.registered = len(hits)
        req.reg_at = (len(hits) + 1) * bs
        req.num_cached = req.computed = len(hits) * bs
        self.counters.prefix_queries += req.prompt_len
        self.counters.prefix_hits += req.num_cached
        self.counters.prompt_tokens += req.prompt_len
        return True

    # --- one step -----------------------------------------------------------------------
    def _schedule(self) -> tuple[list[SimRequest], list[tuple[SimRequest, int]]]:
        cfg = self.config
        budget = cfg.max_num_batched_tokens
        decode = [r for r in self.running if r.computed >= r.prompt_len]
        budget -= len(decode)
        prefill: list[tuple[SimRequest, int]] = []
        for r in self.running:
            if budget <= 0:
                break
            if r.computed < r.prompt_len:
                n = min(budget, r.prompt_len - r.computed)
                prefill.append((r, n))
                budget -= n
        while self.waiting and budget > 0 and len(self.running) < cfg.max_num_seqs:
            r = self.waiting[0]
            if not self._admit(r):
                break
            self.waiting.popleft()
            self.running.append(r)
            n = min(budget, r.prompt_len - r.computed)
            prefill.append((r, n))
            budget -= n
        return decode, prefill

    def _duration(self, decode: list[SimRequest], prefill: list[tuple[SimRequest, int]]) -> float:
        if self.config.token_interval_ms is not None:
            return self.config.token_interval_ms / 1000.0 if decode or prefill else 0.0
        cost = self.config.cost
        p = sum(n for _, n in prefill)
        pairs = sum(costmodel.attention_pairs(r.computed, n) for r, n in prefill)
        ctx = sum(r.prompt_len + r.generated for r in decode)
        return costmodel.step_seconds(cost, p, pairs, len(decode), ctx)

    def _complete(self, decode: list[SimRequest], prefill: list[tuple[SimRequest, int]]) -> None:
        now = time.monotonic_ns()
        produced = 0
        # zero-cost steps take no time: a decode then runs to the end of its output at once
        instant = self._instant
        for r in decode:
            if r.finished:
                continue
            k = r.out_len - r.generated if instant else 1
            r.generated += k
            produced += k
            if r.prompt_len + r.generated - 1 >= r.reg_at:
                self._register(r, r.prompt_len + r.generated - 1)
            if r.generated >= r.out_len:
                self._finish(r, now)
            if r.sink is not None:
                r.sink(r)
            if r.waiter is not None:
                r.notify()
        for r, n in prefill:
            if r.finished:
                continue
            r.computed += n
            if r.computed >= r.reg_at:
                self._register(r, r.computed)
            if r.computed >= r.prompt_len:
                r.generated = 1
                produced += 1
                r.first_token_ns = now
                if r.out_len <= 1:
                    self._finish(r, now)
                if r.waiter is not None:
                    r.notify()
        self.counters.generation_tokens += produced
        if self._dirty:
            self._dirty = False
            self.running = [r for r in self.running if not r.finished]

    def _register(self, r: SimRequest, kv_tokens: int) -> None:
        """Register the request's blocks that became full now that `kv_tokens` are in KV."""
        bs = self.config.block_size
        full = min(kv_tokens, len(r.tokens)) // bs
        r.reg_at = (full + 1) * bs
        if full <= r.registered or not self.pool.caching:
            return
        have = len(r.hashes)
        if full > have:
            prev = r.hashes[-1] if have else 0
            r.hashes.extend(chain_hashes(r.tokens, bs, have, full - have, prev))
        for j in range(r.registered, full):
            self.pool.register(r.blocks[j], r.hashes[j])
        r.registered = full

    def _finish(self, r: SimRequest, now: int) -> None:
        r.finished = True
        self._dirty = True
        r.end_ns = now
        if r.first_token_ns == 0:
            r.first_token_ns = now
        self.pool.release(r.blocks)
        r.blocks = []
        self.counters.finished += 1

    # --- the loop -----------------------------------------------------------------------
    async def run(self) -> None:
        """Step forever (cancel to stop)."""
        pacer = Pacer(asyncio.get_running_loop())  # timerfd deadlines: see base.pacer
        try:
            await self._loop(pacer)
        finally:
            await pacer.close()

    async def _loop(self, pacer: Pacer) -> None:
        deadline = time.monotonic()
        instant = 0
        while True:
            if not self.running and not self.waiting:
                self._wake.clear()
                await self._wake.wait()
                deadline = time.monotonic()  # an idle engine starts the next step on arrival
            decode, prefill = self._schedule()
            if not decode and not prefill:
                self._wake.clear()  # nothing admissible: wait for an arrival or an abort
                await self._wake.wait()
                deadline = time.monotonic()
                continue
            start = max(deadline, time.monotonic() - _REANCHOR_S)
            deadline = start + self._duration(decode, prefill)
            if deadline > start:
                # a timed step: let handlers write the last step's tokens even when late
                instant = 0
                if deadline > time.monotonic():
                    await pacer.sleep_until(math.ceil(deadline * 1e9))
                else:
                    await asyncio.sleep(0)
            else:
                instant += 1  # zero-cost steps run back to back, yielding now and then
                if instant >= _MAX_INSTANT_STEPS:
                    instant = 0
                    await asyncio.sleep(0)
            self.counters.steps += 1
            self.counters.busy_s += deadline - start
            self._complete(decode, prefill)


__all__ = ["ApiError", "Counters", "Engine", "SimRequest", "chain_hashes"]

"""The step loop in-process: KV-full queueing, chunked prefill timing, batch-dependent decode."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentload.simengine import costmodel
from agentload.simengine.config import CostModel, EngineConfig
from agentload.simengine.engine import Engine
from agentload.simengine.engine import SimRequest as Request
from agentload.simengine.errors import ApiError
from tests.timing import Measured, Noise, within_noise


@contextlib.asynccontextmanager
async def running(config: EngineConfig) -> AsyncIterator[Engine]:
    engine = Engine(config)
    task = asyncio.create_task(engine.run())
    try:
        yield engine
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_requests_wait_while_kv_is_full() -> None:
    # 4 blocks of 16 tokens; each request needs 40 prompt + 8 output = 3 blocks
    config = EngineConfig(kv_capacity_tokens=64, block_size=16, token_interval_ms=5.0)
    async with running(config) as engine:
        a = engine.submit(list(range(40)), list(range(8)), 8)
        b = engine.submit(list(range(100, 140)), list(range(8)), 8)
        await a.wait(0)
        assert len(engine.running) == 1 and list(engine.waiting) == [b]
        assert engine.pool.used == 3
        await a.wait_done()
        await b.wait_done()
    assert b.first_token_ns >= a.end_ns  # admitted only after a released its blocks
    assert b.generated == 8 and engine.pool.used == 0


def _prefill_3000() -> tuple[int, Request]:
    cost = CostModel(
        step_overhead_us=1000, prefill_us_per_token=20, decode_base_us=4000, decode_us_per_seq=500
    )

    async def scenario() -> tuple[int, Request]:
        async with running(EngineConfig(cost=cost, max_num_batched_tokens=1000)) as engine:
            t0 = time.monotonic_ns()
            r = engine.submit(list(range(3000)), list(range(11)), 11)
            await r.wait_done()
        return t0, r

    return asyncio.run(scenario())


def test_chunked_prefill_and_decode_follow_the_cost_model() -> None:
    cost = CostModel(
        step_overhead_us=1000, prefill_us_per_token=20, decode_base_us=4000, decode_us_per_seq=500
    )
    expected = costmodel.cold_ttft_seconds(cost, 3000, 1000)
    assert expected == pytest.approx(3 * 0.001 + 3000 * 20e-6, rel=0.001)
    measured = Measured(_prefill_3000)
    t0, r = measured.first
    # Never faster than the model; a loaded machine can only make steps later: those
    # bounds are judged beyond the engine's run-queue wait (tests/timing.py).
    assert (r.first_token_ns - t0) / 1e9 >= expected * 0.9
    assert (r.end_ns - r.first_token_ns) / 1e9 / 10 >= 0.0055 * 0.97
    within_noise(
        measured,
        lambda run, n: n.late_ms(run[0] + int(expected * 1e9), run[1].first_token_ns),
        expected * 0.1 * 1e3,
        "TTFT beyond the model",
    )
    # 10 decode steps: overhead + base + one sequence = 5.5 ms each
    within_noise(
        measured,
        lambda run, n: n.late_ms(run[1].first_token_ns + 55_000_000, run[1].end_ns) / 10,
        0.0055 * 0.3 * 1e3,
        "decode step beyond the model",
    )


def _six_sequences() -> list[Request]:
    async def scenario() -> list[Request]:
        cost = CostModel(decode_base_us=2000, decode_us_per_seq=1000)
        async with running(EngineConfig(cost=cost)) as engine:
            reqs = [engine.submit([i, 1, 2], list(range(21)), 21) for i in range(6)]
            for r in reqs:
                await r.wait_done()
        assert engine.counters.generation_tokens == 6 * 21
        return reqs

    return asyncio.run(scenario())


def test_decode_slows_with_batch_size() -> None:
    measured = Measured(_six_sequences)
    for r in measured.first:  # 6 sequences decode together: 2 ms + 6 x 1 ms per step
        assert (r.end_ns - r.first_token_ns) / 1e9 / 20 >= 0.008 * 0.97  # never faster

    def worst_late_ms(reqs: list[Request], noise: Noise) -> float:
        # a loaded machine can only make steps later: judged beyond the run-queue wait
        return max(noise.late_ms(r.first_token_ns + 160_000_000, r.end_ns) / 20 for r in reqs)

    within_noise(measured, worst_late_ms, 0.008 * 0.3 * 1e3, "decode step beyond the model")


async def test_abort_frees_blocks_and_the_queue() -> None:
    config = EngineConfig(kv_capacity_tokens=64, block_size=16, token_interval_ms=5.0)
    async with running(config) as engine:
        a = engine.submit(list(range(40)), list(range(20)), 20)  # all 4 blocks
        with pytest.raises(ApiError, match="KV cache holds 64"):
            engine.submit(list(range(60)), list(range(10)), 10)  # 5 blocks: never fits
        await a.wait(0)
        b = engine.submit(list(range(100, 140)), list(range(4)), 4)
        await asyncio.sleep(0.02)
        assert list(engine.waiting) == [b]
        engine.abort(a)
        await b.wait_done()
    assert engine.counters.aborted == 1 and engine.pool.used == 0


@settings(max_examples=30)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(1, 120), st.integers(1, 40)),
        min_size=1,
        max_size=25,
    ),
    st.integers(8, 64),
)
def test_random_workloads_keep_kv_accounting_exact(
    requests: list[tuple[int, int, int]], kv_blocks: int
) -> None:
    """Shared prefixes, a small KV cache: everything finishes and every block is released."""
    config = EngineConfig(kv_capacity_tokens=kv_blocks * 16, block_size=16)

    async def scenario() -> None:
        async with running(config) as engine:
            reqs = []
            for prefix, length, out in requests:
                prompt = [prefix * 1000 + i for i in range(length)]
                if -(-(length + out) // 16) > kv_blocks:
                    continue  # would be refused with a 400
                reqs.append(engine.submit(prompt, list(range(out)), out))
                await asyncio.sleep(0)
            for r in reqs:
                await r.wait_done()
                assert r.generated == r.out_len
                assert r.num_cached % 16 == 0 and r.num_cached <= r.prompt_len - 1
            assert engine.pool.used == 0 and not engine.running and not engine.waiting
            assert engine.pool.cached_blocks <= kv_blocks
            assert engine.counters.prefix_hits == sum(r.num_cached for r in reqs)

    asyncio.run(scenario())

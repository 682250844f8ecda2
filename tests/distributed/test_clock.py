"""Clock offset estimation: exact maths on synthetic clocks, and a real Ray round trip."""

from __future__ import annotations

import time
from typing import Any

import pytest
import ray
from hypothesis import given
from hypothesis import strategies as st

from agentload.replay.distributed.clock import ClockSample, estimate_offset, measure_offset

delays = st.tuples(st.integers(1_000, 5_000_000), st.integers(1_000, 5_000_000))


@given(
    offset=st.integers(-(10**15), 10**15),
    legs=st.lists(delays, min_size=1, max_size=30),
)
def test_estimate_is_within_half_the_kept_rtt(offset: int, legs: list[tuple[int, int]]) -> None:
    """With arbitrary asymmetric legs, the error never exceeds rtt/2 of the kept sample,
    and the kept sample is the one with the smallest round trip."""
    samples = []
    t = 10**12
    for up, down in legs:
        remote = t + up + offset  # the remote reads its clock after the request leg
        samples.append(ClockSample(t, t + up + down, remote, remote, t + up))
        t += up + down + 1_000_000
    est = estimate_offset(samples)
    assert est.rtt_ns == min(up + down for up, down in legs)
    assert abs(est.offset_ns - offset) <= est.rtt_ns // 2 + 1
    assert est.to_driver(est.to_remote(123)) == 123
    assert est.samples == len(legs)


def test_symmetric_legs_give_the_exact_offset() -> None:
    samples = [ClockSample(100, 300, 5_200, 0, 0), ClockSample(1_000, 1_100, 6_050, 0, 0)]
    est = estimate_offset(samples)
    assert (est.offset_ns, est.rtt_ns) == (5_000, 100)


def test_bad_samples_are_rejected() -> None:
    with pytest.raises(ValueError):
        estimate_offset([])
    with pytest.raises(ValueError):
        ClockSample(10, 5, 0, 0, 0)


class _Clock:
    def now(self) -> tuple[int, int]:
        return time.monotonic_ns(), time.time_ns()


def test_real_actor_on_this_host_has_zero_offset(ray_cluster: None) -> None:
    """Driver and actor share this host's CLOCK_MONOTONIC, so the true offset is 0 and the
    estimate must be within half the measured round trip of it."""
    # Ray types a handle's methods as the plain methods (no .remote): Any, as in
    # replay.distributed.fleet.
    actor: Any = ray.remote(num_cpus=0)(_Clock).remote()
    ray.get(actor.now.remote())  # wait until it is up
    est = measure_offset(lambda: ray.get(actor.now.remote()), rounds=20)
    assert est.samples == 20
    assert 0 < est.rtt_ns < 100_000_000
    assert abs(est.offset_ns) <= est.rtt_ns // 2 + 1_000
    assert abs(est.wall_offset_ns) <= est.rtt_ns // 2 + 1_000_000
    ray.kill(actor)

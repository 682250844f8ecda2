"""Clock offset between the driver and a remote actor, measured NTP-style.

Each probe is one round trip: the driver reads its monotonic clock, asks the actor for its
monotonic clock, and reads its own again. Assuming the request and reply legs take equal
time, the actor read its clock at the midpoint, so ``offset = remote - midpoint`` with an
error of at most half the round trip. Queueing only ever lengthens a round trip, so the
sample with the smallest RTT is the most trustworthy one and is the one we keep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["ClockOffset", "ClockSample", "drift_slope", "estimate_offset", "measure_offset"]


@dataclass(frozen=True)
class ClockSample:
    """One round trip: driver send/receive times and the remote clocks read in between."""

    t_send_ns: int
    t_recv_ns: int
    remote_monotonic_ns: int
    remote_wall_ns: int
    driver_wall_ns: int  # driver wall clock read at the midpoint of the round trip

    def __post_init__(self) -> None:
        if self.t_recv_ns < self.t_send_ns:
            raise ValueError("clock sample received before it was sent")

    @property
    def rtt_ns(self) -> int:
        return self.t_recv_ns - self.t_send_ns

    @property
    def offset_ns(self) -> int:
        return self.remote_monotonic_ns - (self.t_send_ns + self.t_recv_ns) // 2


@dataclass(frozen=True)
class ClockOffset:
    """How far a remote monotonic clock is ahead of the driver's (remote - driver)."""

    offset_ns: int
    rtt_ns: int  # round trip of the kept sample; the offset is good to within rtt/2
    wall_offset_ns: int  # remote wall clock - driver wall clock (how well NTP agrees)
    samples: int
    at_ns: int = 0  # driver monotonic time of the kept sample (midpoint)

    def to_driver(self, remote_ns: int) -> int:
        return remote_ns - self.offset_ns

    def to_remote(self, driver_ns: int) -> int:
        return driver_ns + self.offset_ns

    def as_dict(self) -> dict[str, int]:
        return {
            "offset_ns": self.offset_ns,
            "rtt_ns": self.rtt_ns,
            "uncertainty_ns": self.rtt_ns // 2,
            "wall_offset_ns": self.wall_offset_ns,
            "samples": self.samples,
            "at_ns": self.at_ns,
        }


def estimate_offset(samples: Sequence[ClockSample]) -> ClockOffset:
    """The offset from the minimum-RTT sample (ties: the earliest)."""
    if not samples:
        raise ValueError("no clock samples")
    best = min(samples, key=lambda s: s.rtt_ns)
    return ClockOffset(
        offset_ns=best.offset_ns,
        rtt_ns=best.rtt_ns,
        wall_offset_ns=best.remote_wall_ns - best.driver_wall_ns,
        samples=len(samples),
        at_ns=(best.t_send_ns + best.t_recv_ns) // 2,
    )


Probe = Callable[[], tuple[int, int]]  # -> (remote monotonic ns, remote wall ns)


def measure_offset(
    probe: Probe,
    rounds: int = 16,
    *,
    monotonic: Callable[[], int] = time.monotonic_ns,
    wall: Callable[[], int] = time.time_ns,
) -> ClockOffset:
    """Run `rounds` blocking round trips through `probe` and estimate the offset."""
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    samples = []
    for _ in range(rounds):
        w0 = wall()
        t0 = monotonic()
        remote_mono, remote_wall = probe()
        t1 = monotonic()
        w1 = wall()
        samples.append(ClockSample(t0, t1, remote_mono, remote_wall, (w0 + w1) // 2))
    return estimate_offset(samples)


def drift_slope(before: ClockOffset, after: ClockOffset) -> float:
    """Rate at which the offset changed between two measurements (ns per driver ns), or 0
    when the change is within the measurements' own uncertainty (then it is noise)."""
    span = after.at_ns - before.at_ns
    change = after.offset_ns - before.offset_ns
    if span <= 0 or abs(change) <= (before.rtt_ns + after.rtt_ns) // 2:
        return 0.0
    return change / span

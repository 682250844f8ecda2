"""Wake tasks at absolute monotonic deadlines, accurate to tens of microseconds.

One implementation for both users: the replay scheduler's sends (2 ms p99 schedule-lag
budget) and the sim's step deadlines (exact token spacing). Event-loop timers have
millisecond granularity (uvloop rounds, and fires up to ~1 ms early), too coarse for either.
On Linux one `timerfd` (CLOCK_MONOTONIC, the clock of `time.monotonic_ns`, absolute expiry)
is armed at the earliest pending deadline and watched by the loop like a socket, so the
kernel wakes the loop on time without any polling. Elsewhere a fallback sleeps on the loop
timer until shortly before the deadline and yields (`sleep(0)`) until it has passed. Either
way one heap serves every waiter, and a deadline already passed returns without yielding.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import itertools
import os
import sys
from time import monotonic_ns

SPIN_NS = 1_200_000  # fallback: loop timers may fire up to ~1 ms early or late

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


class _TimerFd:
    """A non-blocking CLOCK_MONOTONIC timerfd, armed at absolute ns deadlines (via libc)."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self.fd: int = fd
        # One spec, rewritten per arm: building the ctypes structures cost more than the call
        self._spec = _Itimerspec()
        self._value = self._spec.it_value
        self._ref = ctypes.byref(self._spec)
        self._settime = self._libc.timerfd_settime

    def arm(self, deadline_ns: int) -> None:
        self._value.tv_sec, self._value.tv_nsec = divmod(deadline_ns, 1_000_000_000)
        if self._settime(self.fd, _TFD_TIMER_ABSTIME, self._ref, None):
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)

    def close(self) -> None:
        os.close(self.fd)


class Pacer:
    """Deadline waits for one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._armed = 0  # deadline the timerfd is armed at; 0 = none
        self._timerfd: _TimerFd | None = None
        self._spinner: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        if sys.platform == "linux":
            try:
                self._timerfd = _TimerFd()
                loop.add_reader(self._timerfd.fd, self._fire)
            except (OSError, AttributeError):
                self._timerfd = None

    async def sleep_until(self, deadline_ns: int) -> None:
        if deadline_ns <= monotonic_ns():
            return
        fut: asyncio.Future[None] = self._loop.create_future()
        heapq.heappush(self._heap, (deadline_ns, next(self._seq), fut))
        if self._timerfd is not None:
            if not self._armed or deadline_ns < self._armed:
                self._armed = deadline_ns
                self._timerfd.arm(deadline_ns)
        else:
            self._poke()
            if self._spinner is None:
                self._spinner = asyncio.create_task(self._spin())
        await fut

    def _release_due(self) -> None:
        now = monotonic_ns()
        heap = self._heap
        while heap and heap[0][0] <= now:
            fut = heapq.heappop(heap)[2]
            if not fut.done():
                fut.set_result(None)

    def _fire(self) -> None:
        assert self._timerfd is not None
        self._timerfd.drain()
        self._release_due()
        self._armed = self._heap[0][0] if self._heap else 0
        if self._armed:
            self._timerfd.arm(self._armed)  # a past deadline fires at once

    async def close(self) -> None:
        if self._timerfd is not None:
            self._loop.remove_reader(self._timerfd.fd)
            self._timerfd.close()
            self._timerfd = None
        if self._spinner is not None:
            self._spinner.cancel()
            await asyncio.gather(self._spinner, return_exceptions=True)
        for _, _, fut in self._heap:
            fut.cancel()
        self._heap.clear()

    # -- fallback without timerfd ---------------------------------------------------------
    def _poke(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _spin(self) -> None:
        while True:
            self._release_due()
            remaining = self._heap[0][0] - monotonic_ns() if self._heap else None
            if remaining is not None and remaining <= SPIN_NS:
                await asyncio.sleep(0)
                continue
            self._wake = self._loop.create_future()
            timer = None
            if remaining is not None:
                timer = self._loop.call_later((remaining - SPIN_NS) / 1e9, self._poke)
            try:
                await self._wake
            finally:
                if timer is not None:
                    timer.cancel()


_pacers: dict[asyncio.AbstractEventLoop, Pacer] = {}


async def sleep_until(deadline_ns: int) -> None:
    """Sleep until `deadline_ns` (time.monotonic_ns) on this loop's shared pacer."""
    if deadline_ns <= monotonic_ns():
        return
    loop = asyncio.get_running_loop()
    pacer = _pacers.get(loop)
    if pacer is None:
        pacer = _pacers[loop] = Pacer(loop)
    await pacer.sleep_until(deadline_ns)


async def close_pacer() -> None:
    """Release this loop's pacer (call before the loop ends)."""
    pacer = _pacers.pop(asyncio.get_running_loop(), None)
    if pacer is not None:
        await pacer.close()

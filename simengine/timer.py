"""Sleeping to an absolute monotonic deadline with sub-millisecond accuracy.

uvloop (libuv) timers have 1 ms granularity: they fire up to about 1 ms early or late, too
coarse for exact 2 ms token spacing. On Linux a timerfd armed with an absolute
CLOCK_MONOTONIC deadline (the clock behind `time.monotonic`) is watched by the event loop
instead: nanosecond resolution, no busy waiting, no thread. Elsewhere the loop timer is used.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import time

_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create  # noqa: B018 - probe: AttributeError when missing
    except (OSError, AttributeError):
        return None
    return libc


class DeadlineTimer:
    """`await timer.sleep_until(deadline)`; one timer per engine, one sleeper at a time."""

    def __init__(self) -> None:
        self._libc = _libc()
        self._fd = -1
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        if self._libc is not None:
            fd = self._libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            self._fd = int(fd)

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay <= 0:
            return
        if self._fd < 0 or self._libc is None:
            await asyncio.sleep(delay)
            return
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            loop.add_reader(self._fd, self._fired)
        sec, frac = divmod(deadline, 1.0)
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(int(sec), int(frac * 1e9)))
        if self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None):
            await asyncio.sleep(delay)
            return
        self._waiter = loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _fired(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        if self._fd >= 0:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1

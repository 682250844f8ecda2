"""The sim's own accept delay: how long each connection waited in the kernel's accept queue.

For a socket fresh out of `accept()`, Linux's TCP_INFO `tcpi_last_data_sent` is the time
since the handshake finished (the server has sent nothing yet), in milliseconds: exactly the
wait in the accept queue. The listen socket's TCP_INFO gives the queue's length now
(`tcpi_unacked`, what `ss -ltn` shows as Recv-Q). Connections the kernel refused because the
queue was full never get here; the listen backlog (`LISTEN_BACKLOG`, capped by
net.core.somaxconn) keeps that from happening at fleet scale.

`Acceptor` accepts itself: uvloop's server accepted about one connection per turn of the
event loop, so while the loop was busy (a backlog of long prompts, worked off in slices)
the kernel's queue drained at ~25 connections/s. Here every wake-up of the listen socket
accepts all that are waiting (up to `ACCEPT_BATCH`), and each socket then gets its
transport and aiohttp protocol through `loop.connect_accepted_socket`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any, Final

from agentload.base.sockets import bound_tcp_socket

# The kernel caps it at net.core.somaxconn (docs/simengine.md, "Fleet scale")
LISTEN_BACKLOG: Final = 65535
# Prometheus histogram bounds of agentload_sim:accept_delay_seconds
BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ACCEPT_BATCH: Final = 4096  # accepts per wake-up, so a flood cannot hold the loop
_EMFILE_PAUSE_S: Final = 0.1

_TCP_INFO: Final = getattr(socket, "TCP_INFO", None)
_INFO_LEN: Final = 104
# struct tcp_info: 8 one-byte fields, then u32s; unacked is the 5th, last_data_sent the 10th
_UNACKED_AT: Final = 8 + 4 * 4
_LAST_SENT_AT: Final = 8 + 9 * 4


def listen_socket(host: str, port: int) -> socket.socket:
    """A bound, listening, non-blocking TCP socket with the fleet-scale backlog."""
    sock = bound_tcp_socket(host, port, socket.SO_REUSEADDR)
    try:
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _info_u32(sock: Any, offset: int) -> int | None:
    if _TCP_INFO is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _INFO_LEN)
    except (OSError, AttributeError):
        return None
    return int(struct.unpack_from("I", info, offset)[0])


def queue_length(listener: socket.socket) -> int | None:
    """Connections waiting in the listen socket's accept queue now (None off Linux)."""
    return _info_u32(listener, _UNACKED_AT)


def _fd(transport: Any) -> int | None:
    sock = transport.get_extra_info("socket") if transport is not None else None
    return None if sock is None else int(sock.fileno())


class AcceptStats:
    """Accept delays of every connection: a histogram, and each connection's delay kept
    until its first request takes it (for the timing log)."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0
        self.sum_s = 0.0
        self.max_s = 0.0
        self._pending: dict[int, int] = {}  # socket fd -> accept delay (ns)

    def accepted(self, sock: Any) -> None:
        """Record a socket just accepted (before the sim has sent anything on it)."""
        ms = _info_u32(sock, _LAST_SENT_AT)
        if ms is None:
            return
        s = ms / 1000.0
        i = 0
        while i < len(BUCKETS) and s > BUCKETS[i]:
            i += 1
        self.counts[i] += 1
        self.total += 1
        self.sum_s += s
        self.max_s = max(self.max_s, s)
        self._pending[sock.fileno()] = ms * 1_000_000

    def take(self, transport: Any) -> int | None:
        """The connection's accept delay (ns) if this is its first request, else None."""
        fd = _fd(transport)
        return None if fd is None else self._pending.pop(fd, None)

    def closed(self, transport: Any) -> None:
        fd = _fd(transport)
        if fd is not None:
            self._pending.pop(fd, None)


class Acceptor:
    """Accepts every waiting connection of `listener` on each wake-up (see the module)."""

    def __init__(
        self, listener: socket.socket, factory: Callable[[], asyncio.Protocol], stats: AcceptStats
    ) -> None:
        self.listener = listener
        self.factory = factory
        self.stats = stats
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._warned = False

    def start(self) -> None:
        self._loop.add_reader(self.listener.fileno(), self._on_readable)

    def close(self) -> None:
        self._loop.remove_reader(self.listener.fileno())
        self.listener.close()
        for task in self._tasks:
            task.cancel()

    def _on_readable(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._pause(exc)
                return
            conn.setblocking(False)
            self.stats.accepted(conn)
            task = self._loop.create_task(self._loop.connect_accepted_socket(self.factory, conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _pause(self, exc: OSError) -> None:
        """Out of descriptors: connections wait in the kernel; say so once, retry shortly."""
        if not self._warned:
            self._warned = True
            sys.stderr.write(
                f"agentload sim: cannot accept more connections ({exc.strerror}); they wait "
                "in the kernel's queue (raise the open-file limit: ulimit -n)\n"
            )
        self._loop.remove_reader(self.listener.fileno())
        self._loop.call_later(_EMFILE_PAUSE_S, self.start)

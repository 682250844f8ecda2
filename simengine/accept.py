"""The sim's own accept delay: how long each connection waited in the kernel's accept queue.

For a socket fresh out of `accept()`, Linux's TCP_INFO `tcpi_last_data_sent` is the time
since the handshake finished (the server has sent nothing yet), in milliseconds: exactly the
wait in the accept queue. The listen socket's TCP_INFO gives the queue's length now
(`tcpi_unacked`, what `ss -ltn` shows as Recv-Q). Connections the kernel refused because the
queue was full never get here; the listen backlog (`LISTEN_BACKLOG`, capped by
net.core.somaxconn) keeps that from happening at fleet scale.
"""

from __future__ import annotations

import socket
import struct
from typing import Any, Final

# The kernel caps it at net.core.somaxconn (docs/simengine.md, "Fleet scale")
LISTEN_BACKLOG: Final = 65535
# Prometheus histogram bounds of agentload_sim:accept_delay_seconds
BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_TCP_INFO: Final = getattr(socket, "TCP_INFO", None)
_INFO_LEN: Final = 104
# struct tcp_info: 8 one-byte fields, then u32s; unacked is the 5th, last_data_sent the 10th
_UNACKED_AT: Final = 8 + 4 * 4
_LAST_SENT_AT: Final = 8 + 9 * 4


def listen_socket(host: str, port: int) -> socket.socket:
    """A bound, listening, non-blocking TCP socket with the fleet-scale backlog."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
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


class AcceptStats:
    """Accept delays of every connection: a histogram, and each connection's delay kept
    until its first request takes it (for the timing log)."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0
        self.sum_s = 0.0
        self.max_s = 0.0
        self._pending: dict[object, int] = {}

    def accepted(self, transport: Any) -> None:
        ms = _info_u32(transport.get_extra_info("socket"), _LAST_SENT_AT)
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
        self._pending[transport] = ms * 1_000_000

    def take(self, transport: object) -> int | None:
        """The connection's accept delay (ns) if this is its first request, else None."""
        return self._pending.pop(transport, None)

    def closed(self, transport: object) -> None:
        self._pending.pop(transport, None)

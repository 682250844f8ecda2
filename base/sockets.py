"""A bound TCP socket for a host and port, closed again when binding fails.

The sim's own accept loop and the capture supervisor's port hold both need one; the
family follows the host (an IPv6 literal has a colon).
"""

from __future__ import annotations

import socket

__all__ = ["bound_tcp_socket"]


def bound_tcp_socket(host: str, port: int, option: int) -> socket.socket:
    """A TCP socket with the SOL_SOCKET `option` (SO_REUSEADDR, SO_REUSEPORT) set and bound
    to (host, port); OSError as bind raised it, the socket closed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, option, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock

"""Process and kernel limits that bound how many connections one process can hold.

One open file per connection: `raise_nofile` lifts the soft RLIMIT_NOFILE to the hard limit
(allowed without privileges) and says what it did. `ephemeral_ports` is the number of local
ports the kernel hands out to outgoing connections (one per connection to one address).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def raise_nofile() -> str:
    """Raise the soft open-file limit to the hard one; a line saying what the limit is."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return f"open-file limit {soft:,}"
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return f"open-file limit {soft:,} (could not raise it to the hard limit {hard:,})"
    return f"open-file limit raised from {soft:,} to the hard limit {hard:,}"


def nofile() -> int:
    """The soft open-file limit now (a large number if unlimited)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 1 << 30 if soft == resource.RLIM_INFINITY else soft


def open_files() -> int:
    """File descriptors this process has open now (0 where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def ephemeral_ports() -> int | None:
    """Local ports available to outgoing connections (None where unknown)."""
    try:
        low, high = map(int, _PORT_RANGE.read_text().split())
    except (OSError, ValueError):
        return None
    return high - low + 1

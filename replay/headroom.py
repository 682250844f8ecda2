"""Before a run: enough file descriptors and local ports for the connections it will hold.

Each worker process keeps a keep-alive pool of up to `pool_size` connections, one file
descriptor and (towards one target address) one local port each. Running out halfway would
show as a run of connect errors that measure the client, not the engine; the run is refused
up front instead, in one line that says which limit and how to raise it.
"""

from __future__ import annotations

from agentload.base import oslimits
from agentload.base.errors import UnfaithfulRunError
from agentload.replay.config import ReplayConfig
from agentload.replay.schedule import share

OPEN_LOOP_POOL = 1000  # connections per worker when no --concurrency bounds them
FD_RESERVE = 64  # the loop, the part file, pipes to the parent, the source being read


def pool_size(config: ReplayConfig, worker: int) -> int:
    """The connection pool of one worker: its share of --concurrency, else OPEN_LOOP_POOL."""
    return share(config.concurrency, worker, config.workers) or OPEN_LOOP_POOL


def check(config: ReplayConfig) -> str:
    """Raise the soft open-file limit to the hard one (workers inherit it) and refuse the run
    when a worker's pool or all pools together cannot fit; returns the limit line."""
    note = oslimits.raise_nofile()
    per_worker = pool_size(config, 0)  # worker 0 has the largest share
    need = per_worker + FD_RESERVE
    have = oslimits.nofile()
    if need > have:
        raise UnfaithfulRunError(
            f"{_what(config)} needs about {need:,} open files per client process, above "
            f"its {note}: raise the hard limit (ulimit -Hn {need}; systemd LimitNOFILE=; "
            f"/etc/security/limits.conf) or use more --workers"
        )
    total = sum(pool_size(config, w) for w in range(config.workers))
    ports = oslimits.ephemeral_ports()
    if ports is not None and total > ports:
        raise UnfaithfulRunError(
            f"{_what(config)} needs {total:,} local ports towards {config.target} but the "
            f"kernel hands out {ports:,} (net.ipv4.ip_local_port_range): widen it "
            "(sysctl -w net.ipv4.ip_local_port_range='1024 65535') or lower --concurrency"
        )
    return note


def _what(config: ReplayConfig) -> str:
    if config.concurrency is not None:
        return f"--concurrency {config.concurrency:,}"
    return f"an open-loop run ({OPEN_LOOP_POOL:,} connections per worker)"

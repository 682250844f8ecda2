"""Connect the driver to a Ray cluster without ever hanging on it or ignoring a stop.

`ray.init` against an address nobody answers at retries for minutes inside Ray's C++ core,
where no Python signal handler runs, and on the main thread it also replaces our SIGTERM
handler. So an explicit address is first checked with a plain TCP connect (`check_address`,
before `ray` is even imported: a refused or unroutable address fails in seconds with one
line naming it), and `ray.init` itself runs in a daemon thread while the loop waits for
it, for the stop event, or for a deadline. A thread abandoned on a stop or a deadline holds
nothing of ours; the process exits over it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable

from agentload.base.errors import AgentloadError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "LOCAL_SYSTEM_CONFIG",
    "PROBE_TIMEOUT_S",
    "START_TIMEOUT_S",
    "check_address",
    "connect",
]

PROBE_TIMEOUT_S = 3.0  # TCP connect to an explicit address
CONNECT_TIMEOUT_S = 30.0  # ray.init against an existing cluster
START_TIMEOUT_S = 180.0  # ray.init starting a new local instance (slow on a loaded host)
POLL_S = 0.1
# A new local instance's raylet dies when its dashboard agent (or a worker) has not
# registered within Ray's defaults, 30 s and 60 s: seen on a 2-core machine kept busy by
# other processes. Our own deadline is START_TIMEOUT_S, so Ray's are set to it.
LOCAL_SYSTEM_CONFIG = {
    "agent_register_timeout_ms": int(START_TIMEOUT_S * 1000),
    "worker_register_timeout_seconds": int(START_TIMEOUT_S),
}


def endpoint(address: str | None) -> tuple[str, str, int] | None:
    """The address Ray will dial for `address` (as written), its host and port; None for a
    new local instance or 'auto' without RAY_ADDRESS, which Ray resolves itself."""
    if address in (None, "", "auto"):
        address = os.environ.get("RAY_ADDRESS") or None
    if address is None or address == "auto":
        return None
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise AgentloadError(f"--ray {address}: expected HOST:PORT, auto, or nothing")
    return address, host.strip("[]") or "127.0.0.1", int(port)


def check_address(address: str | None) -> None:
    """AgentloadError naming the address when it names one nothing listens at."""
    target = endpoint(address)
    if target is not None:
        probe(*target)


def probe(address: str, host: str, port: int) -> None:
    """One TCP connect; AgentloadError naming `address` when nothing listens there."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return
    except TimeoutError:
        reason = f"no answer within {PROBE_TIMEOUT_S:g} s"
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    raise AgentloadError(f"Ray: cannot reach a cluster at {address} ({reason.lower()})")


async def connect(address: str | None, stop: asyncio.Event) -> Callable[[], None] | None:
    """Connect unless a Ray session exists; returns how to disconnect (a no-op for the
    caller's own session), or None when `stop` was set first. The address has passed
    `check_address` already."""
    import ray

    if ray.is_initialized():
        return lambda: None
    target = endpoint(address)
    outcome: list[BaseException | None] = []
    thread = threading.Thread(
        target=_init, args=(address, outcome), name="ray-connect", daemon=True
    )
    thread.start()
    limit = START_TIMEOUT_S if target is None else CONNECT_TIMEOUT_S
    deadline = time.monotonic() + limit
    while not outcome:
        if stop.is_set():
            return None
        if time.monotonic() > deadline:
            where = address or "a new local instance"
            raise AgentloadError(f"Ray: no cluster answered at {where} within {limit:g} s")
        await asyncio.sleep(POLL_S)
    error = outcome[0]
    if error is not None:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        where = address or "a new local instance"
        raise AgentloadError(f"Ray: cannot connect to {where}: {first}")
    return ray.shutdown


def _init(address: str | None, outcome: list[BaseException | None]) -> None:
    import ray

    # Actor output stays in the cluster's logs: failures reach us as errors, not log lines.
    try:
        if address is None:
            ray.init(
                log_to_driver=False, include_dashboard=False, _system_config=LOCAL_SYSTEM_CONFIG
            )
        else:
            ray.init(address=address, log_to_driver=False)
        outcome.append(None)
    except BaseException as exc:  # handed to the loop, which reports it in one line
        outcome.append(exc)

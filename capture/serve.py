"""Run mitmproxy (DumpMaster) in-process with the capture addon until SIGINT/SIGTERM.

A stop is clean: the first signal closes the listening sockets, lets the calls in flight
finish for up to the grace period, records the rest as partial rows and only then shuts
mitmproxy down; a second signal skips the wait.

With `--workers N` (N > 1) this process supervises N such proxies (capture.workers); each
runs `run_worker`, on an event loop whose listening sockets set SO_REUSEPORT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

from agentload.base.errors import ConfigError
from agentload.capture.addon import CaptureAddon
from agentload.capture.ca import ensure_ca
from agentload.capture.config import CaptureConfig

__all__ = ["check_listen", "run_capture", "run_worker"]

_POLL_S = 0.05


class _Announce:
    """Prints the bound address once listening (port 0 picks a free port)."""

    def running(self) -> None:
        from mitmproxy import ctx

        server = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
        for host, port, *_ in server.listen_addrs():
            print(f"agentload capture listening on http://{host}:{port}", flush=True)
            break


class _Stopper:
    """The signal handlers' state: the graceful stop task is kept referenced here."""

    def __init__(self, master: Any, addon: CaptureAddon, grace_s: float) -> None:
        self.master = master
        self.addon = addon
        self.grace_s = grace_s
        self.task: asyncio.Task[None] | None = None
        self.unfinished = 0

    def signalled(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._stop())
        else:  # a second signal: stop now
            self._finish()

    async def _stop(self) -> None:
        try:
            proxyserver = self.master.addons.get("proxyserver")
            await proxyserver.servers.update([])  # no new connections
            deadline = time.monotonic() + self.grace_s
            while self.addon.inflight and time.monotonic() < deadline:
                await asyncio.sleep(_POLL_S)
        except Exception:  # never keep the proxy from stopping
            logging.getLogger("agentload.capture").exception("capture: graceful stop failed")
        self._finish()

    def _finish(self) -> None:
        self.unfinished += self.addon.record_unfinished(
            f"capture stopped: the call had not ended after the {self.grace_s:g} s grace period"
        )
        self.master.shutdown()


def _quiet_cancellation(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Connection tasks mitmproxy leaves behind are cancelled when the loop ends: expected
    at a stop, so not printed as tracebacks; anything else is reported as usual."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


class ReusePortLoop(asyncio.SelectorEventLoop):
    """An event loop whose listening sockets set SO_REUSEPORT. mitmproxy 12 binds with
    `asyncio.start_server(handler, host, port)` (proxy/mode_servers.py) and offers no option
    for it; start_server passes its arguments to the loop's create_server, so here is where
    N worker processes can all bind one address. The kernel then spreads new connections
    over them by their address hash (Linux 3.9+); only sockets of the same user may join."""

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        kwargs.setdefault("reuse_port", True)
        return await super().create_server(*args, **kwargs)


def _stop_on_eof(loop: asyncio.AbstractEventLoop, stopper: _Stopper) -> None:
    """A worker stops as on SIGTERM when its supervisor's end of stdin closes: a supervisor
    killed outright leaves no proxy running behind it."""
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not os.read(fd, 4096):
            loop.remove_reader(fd)
            # stdout was a pipe to the supervisor too: the lines still to come go nowhere
            # rather than raise BrokenPipeError before the files are flushed
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            stopper.signalled()

    loop.add_reader(fd, readable)


async def _main(config: CaptureConfig, worker: int | None = None) -> int:
    from mitmproxy import options
    from mitmproxy.tools.dump import DumpMaster

    opts = options.Options()
    master = DumpMaster(opts, with_termlog=True, with_dumper=False)
    addon = CaptureAddon()
    master.addons.add(addon, _Announce())  # type: ignore[no-untyped-call]
    settings: dict[str, Any] = config.mitm_options(worker)
    opts.update(**settings)  # type: ignore[no-untyped-call]
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_cancellation)  # in force after master.run() returns
    stopper = _Stopper(master, addon, config.stop_grace_s)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopper.signalled)
    if worker is not None:
        _stop_on_eof(loop, stopper)
    print(f"agentload capture: writing traces to {config.out_dir}", flush=True)
    await master.run()
    stats = addon.last_stats
    if stats is not None:
        line = f"agentload capture: {stats.summary()}"
        if stopper.unfinished:
            line += f"; {stopper.unfinished} unfinished at stop, recorded as partial"
        print(line, flush=True)
    return 0


def check_listen(config: CaptureConfig) -> None:
    """A busy or unusable --listen address as one line, exit 2, before mitmproxy starts
    (it would print three lines and exit 1 once started)."""
    if config.listen_port == 0:
        return
    family = socket.AF_INET6 if ":" in config.listen_host else socket.AF_INET
    try:
        with socket.create_server((config.listen_host, config.listen_port), family=family):
            pass
    except OSError as exc:
        where = f"{config.listen_host}:{config.listen_port}"
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"--listen: cannot listen on {where}: {reason}") from None


def run_capture(config: CaptureConfig) -> int:
    check_listen(config)
    cert = ensure_ca(config.confdir)  # a bad --confdir is one line here, not a traceback
    if config.mode == "regular":
        print(f"agentload capture: clients must trust the proxy's CA {cert} (agentload ca)")
    if config.workers > 1:
        from agentload.capture.workers import supervise

        return supervise(config)
    # The writer thread parses on the side; a short switch interval keeps it from holding
    # the GIL for the default 5 ms while the proxy loop has a chunk to forward.
    sys.setswitchinterval(0.0005)
    return asyncio.run(_main(config))


def run_worker(config: CaptureConfig, worker: int) -> int:
    """One of --workers' proxies (capture.workers starts it; the CA exists by then)."""
    sys.setswitchinterval(0.0005)
    return asyncio.run(_main(config, worker), loop_factory=ReusePortLoop)

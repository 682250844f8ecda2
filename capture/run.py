"""Run mitmproxy (DumpMaster) in-process with the capture addon until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from agentload.capture.addon import CaptureAddon
from agentload.capture.config import CaptureConfig

__all__ = ["run_capture"]


class _Announce:
    """Prints the bound address once listening (port 0 picks a free port)."""

    def running(self) -> None:
        from mitmproxy import ctx

        server = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
        for host, port, *_ in server.listen_addrs():
            print(f"agentload capture listening on http://{host}:{port}", flush=True)
            break


async def _main(config: CaptureConfig) -> int:
    from mitmproxy import options
    from mitmproxy.tools.dump import DumpMaster

    opts = options.Options()
    master = DumpMaster(opts, with_termlog=True, with_dumper=False)
    addon = CaptureAddon()
    master.addons.add(addon, _Announce())  # type: ignore[no-untyped-call]
    settings: dict[str, Any] = config.mitm_options()
    opts.update(**settings)  # type: ignore[no-untyped-call]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, master.shutdown)
    print(f"agentload capture: writing traces to {config.out_dir}", flush=True)
    await master.run()
    stats = addon.last_stats
    if stats is not None:
        print(
            f"agentload capture: {stats.rows} calls recorded, {stats.dropped} dropped", flush=True
        )
    return 0


def run_capture(config: CaptureConfig) -> int:
    # The writer thread parses on the side; a short switch interval keeps it from holding
    # the GIL for the default 5 ms while the proxy loop has a chunk to forward.
    sys.setswitchinterval(0.0005)
    return asyncio.run(_main(config))

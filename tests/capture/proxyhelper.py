"""Start a real `agentload capture` (or bare `mitmdump`) subprocess for tests/benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
READY = "agentload capture listening on "
# Seconds a proxy may take to start (a readiness wait, not a figure under test: it starts in
# ~2 s on a quiet machine, and took over 30 s beside stress-ng --cpu 2 and a second suite).
START_TIMEOUT_S = 120.0


@dataclass
class Proxy:
    url: str
    proc: subprocess.Popen[str] | subprocess.Popen[bytes]
    out_dir: Path | None  # None: a bare mitmdump records nothing
    output: list[str] = field(default_factory=list)
    siblings: list[subprocess.Popen[bytes]] = field(default_factory=list)  # mitmdump workers

    @property
    def pids(self) -> list[int]:
        """The processes serving this address: proc, its siblings and their children."""
        import psutil

        pids = [self.proc.pid, *(p.pid for p in self.siblings)]
        return pids + [c.pid for pid in pids for c in psutil.Process(pid).children(True)]

    @property
    def traces(self) -> Path:
        """Where this capture writes its trace files (not a bare mitmdump)."""
        assert self.out_dir is not None, "a bare mitmdump writes no traces"
        return self.out_dir

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        for proc in (self.proc, *self.siblings):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.proc, *self.siblings):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _drain(proc: subprocess.Popen[str], lines: list[str], ready: threading.Event) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(READY):
            ready.set()
    ready.set()


def _start(
    cmd: list[str],
    url_of: Callable[[list[str]], str],
    out_dir: Path | None,
    env: dict[str, str] | None = None,
) -> Proxy:
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=(os.environ if env is None else env) | {"PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    ready = threading.Event()
    threading.Thread(target=_drain, args=(proc, lines, ready), daemon=True).start()
    if not ready.wait(START_TIMEOUT_S) or proc.poll() is not None:
        proc.kill()
        raise RuntimeError("proxy did not start:\n" + "".join(lines))
    return Proxy(url_of(lines), proc, out_dir, lines)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_capture(
    upstream: str, out_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[Proxy]:
    """`agentload capture` with `extra` options, in `env` (default: this process's)."""
    cmd = [str(BIN / "agentload"), "capture", "--upstream", upstream]
    cmd += ["--listen", "127.0.0.1:0", "--out", str(out_dir), *extra]

    def url_of(lines: list[str]) -> str:
        line = next(x for x in lines if x.startswith(READY))
        return line[len(READY) :].strip()

    proxy = _start(cmd, url_of, out_dir, env)
    try:
        yield proxy
    finally:
        proxy.stop()


# mitmdump on the event loop `agentload capture --workers` gives its proxies (listening
# sockets with SO_REUSEPORT), so N of them can share one port as the workers do.
_REUSEPORT_MITMDUMP = """
import asyncio, sys
from agentload.capture.serve import ReusePortLoop
class Policy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self):
        return ReusePortLoop()
asyncio.set_event_loop_policy(Policy())
from mitmproxy.tools.main import mitmdump
sys.exit(mitmdump(sys.argv[1:]))
"""


def _listening(pid: int, port: int) -> bool:
    import psutil

    return any(
        c.status == psutil.CONN_LISTEN and c.laddr and c.laddr[1] == port
        for c in psutil.Process(pid).net_connections(kind="tcp")
    )


@contextmanager
def running_mitmdump(upstream: str, *extra: str, workers: int = 1) -> Iterator[Proxy]:
    """Bare mitmproxy pass-through (no addon): the baseline of the benchmark, as `workers`
    processes sharing one port (SO_REUSEPORT) when more than one. Bodies are streamed
    (stream_large_bodies=1), as the addon streams LLM responses; without it mitmproxy
    buffers each SSE response whole."""
    port = free_port()
    args = ["--mode", f"reverse:{upstream}", "--listen-host", "127.0.0.1"]
    args += ["--listen-port", str(port), "--set", "termlog_verbosity=warn", "-q"]
    args += ["--set", "stream_large_bodies=1", *extra]
    if workers == 1:
        argvs = [[str(BIN / "mitmdump"), *args]]
    else:
        argvs = [[sys.executable, "-c", _REUSEPORT_MITMDUMP, *args]] * workers
    procs = [
        subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for a in argvs
    ]
    proxy = Proxy(f"http://127.0.0.1:{port}", procs[0], None, siblings=procs[1:])
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(_listening(p.pid, port) for p in procs):
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise RuntimeError("mitmdump did not start")
            time.sleep(0.1)
        yield proxy
    finally:
        proxy.stop()

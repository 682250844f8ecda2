"""`agentload capture --workers N`: N proxy processes behind one listen address.

Each worker is `python -m agentload.capture.workers K`, a whole capture proxy
(serve.run_worker) whose listening socket sets SO_REUSEPORT, so the kernel spreads new client
connections over the N processes by address hash. Each writes its own trace files
(trace-STAMP-wK-PID-SEQ.arrow) under its own session-id prefix; `agentload trace stitch`
joins sessions whose calls went to different processes.

This process, the supervisor:
- holds the port with a bound, non-listening SO_REUSEPORT socket for the whole run (port 0
  picks one): a socket that does not listen takes no connections, and no process without
  SO_REUSEPORT, nor of another user, can bind the port meanwhile;
- starts the workers in their own process group, so a terminal's Ctrl-C reaches each of
  them once, through here: every SIGINT/SIGTERM received is forwarded once as SIGTERM (the first: a
  clean stop within --stop-grace, files flushed; a second: stop now);
- prints one "listening on" line once all N listen, and relays their output prefixed [wK];
- fails loudly: a worker that ends before a stop was asked for makes it stop the others
  (cleanly, their files kept) and exit 3 with one line naming the worker.
A worker stops by itself when its stdin (held open by the supervisor) closes: a supervisor
killed outright leaves no proxy behind.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

from agentload.base.errors import AgentloadError, ConfigError, UnfaithfulRunError
from agentload.base.sockets import bound_tcp_socket
from agentload.capture.config import CaptureConfig

__all__ = ["READY", "supervise"]

READY = "agentload capture listening on "  # serve._Announce's line, and this module's
_POLL_S = 0.05


@dataclass
class _Worker:
    index: int
    proc: subprocess.Popen[bytes]
    ready: threading.Event = field(default_factory=threading.Event)
    relay: threading.Thread | None = None
    signalled: int = 0  # SIGTERMs sent to it

    def ended(self) -> str:
        code = self.proc.returncode
        if code is not None and code < 0:
            return f"signal {signal.Signals(-code).name}"
        return f"exit status {code}"


class _Signals:
    """SIGINT/SIGTERM counted; the supervising loop forwards them."""

    def __init__(self) -> None:
        self.count = 0
        self._previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def __enter__(self) -> _Signals:
        for sig in self._previous:
            signal.signal(sig, self._received)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _received(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1


def _reserve(host: str, port: int) -> socket.socket:
    try:
        return bound_tcp_socket(host, port, socket.SO_REUSEPORT)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"--listen: cannot listen on {host}:{port}: {reason}") from None


def _relay(stream: IO[bytes], worker: _Worker) -> None:
    for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if line.startswith(READY):
            worker.ready.set()
        else:
            print(f"[w{worker.index}] {line}", flush=True)


def _spawn(config: CaptureConfig, index: int) -> _Worker:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentload.capture.workers", str(index)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        # Its own process group: a terminal's Ctrl-C reaches it through the supervisor only.
        # Not its own session, which Linux's autogroup scheduling would give a CPU share of
        # its own, apart from the programs it shares the machine with.
        process_group=0,
    )
    assert proc.stdin is not None and proc.stdout is not None
    # Our own frozen config to our own child, over a pipe: nothing else can write to it.
    proc.stdin.write(pickle.dumps(config))
    proc.stdin.flush()  # kept open: its end tells the worker the supervisor is gone
    worker = _Worker(index, proc)
    worker.relay = threading.Thread(target=_relay, args=(proc.stdout, worker), daemon=True)
    worker.relay.start()
    return worker


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Supervisor:
    def __init__(self, config: CaptureConfig, workers: list[_Worker], signals: _Signals) -> None:
        self.config = config
        self.workers = workers
        self.signals = signals
        self.failure: str | None = None
        self.failed_first = 0  # 1: a worker failed before any signal, a stop request too
        self.announced = False

    @property
    def stops(self) -> int:
        """Stop requests so far: each signal received, and a worker's failure."""
        return self.signals.count + self.failed_first

    def stop_all(self, times: int) -> None:
        for w in self.workers:
            while w.proc.poll() is None and w.signalled < times:
                w.proc.send_signal(signal.SIGTERM)
                w.signalled += 1

    def _check(self, w: _Worker, stopping: bool) -> None:
        code = w.proc.poll()
        if code is None or self.failure is not None:
            return
        if not stopping or code > 0:
            self.failed_first = int(not stopping)
            self.failure = (
                f"--workers: capture worker {w.index} (pid {w.proc.pid}) ended with {w.ended()}"
                f"{' while stopping' if stopping else ''}; the other workers were stopped, "
                f"every trace file written is kept in {self.config.out_dir}"
            )

    def run(self) -> None:
        while any(w.proc.poll() is None for w in self.workers):
            for w in self.workers:
                self._check(w, self.stops > 0)
            self.stop_all(self.stops)
            if not self.announced and all(w.ready.is_set() for w in self.workers):
                self._announce()
            time.sleep(_POLL_S)
        for w in self.workers:
            self._check(w, self.stops > 0)

    def _announce(self) -> None:
        self.announced = True
        pids = ", ".join(str(w.proc.pid) for w in self.workers)
        where = _url(self.config.listen_host, self.config.listen_port)
        print(
            f"agentload capture: {len(self.workers)} worker processes share the address "
            f"(SO_REUSEPORT), pids {pids}",
            flush=True,
        )
        print(READY + where, flush=True)


def supervise(config: CaptureConfig) -> int:
    """Run config.workers proxies on config's address until SIGINT/SIGTERM; 0 when all
    stopped cleanly, UnfaithfulRunError when one ended on its own or failed."""
    with _reserve(config.listen_host, config.listen_port) as holder, _Signals() as signals:
        shared = dataclasses.replace(config, listen_port=holder.getsockname()[1])
        workers: list[_Worker] = []
        supervisor = _Supervisor(shared, workers, signals)
        try:
            for index in range(config.workers):
                workers.append(_spawn(shared, index))
            supervisor.run()
        finally:  # normally all have ended here; after an error, stop what runs
            supervisor.stop_all(max(1, supervisor.stops))
            for w in workers:
                w.proc.wait()
                if w.relay is not None:
                    w.relay.join(5)
                if w.proc.stdin is not None:
                    w.proc.stdin.close()
    if supervisor.failure is not None:
        raise UnfaithfulRunError(supervisor.failure)
    return 0


def _worker_main(argv: list[str]) -> int:
    index = int(argv[1])
    config = pickle.load(sys.stdin.buffer)  # written by supervise's _spawn
    assert isinstance(config, CaptureConfig)
    from agentload.capture.serve import run_worker

    try:
        return run_worker(config, index)
    except AgentloadError as exc:
        print(f"error: worker {index}: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(_worker_main(sys.argv))

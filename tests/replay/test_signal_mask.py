"""replay.signals.blocked_in_children: worker processes inherit SIGINT/SIGTERM blocked, and
the parent loses none that arrive meanwhile, whichever of its threads the kernel picks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from agentload.replay.signals import blocked_in_children


def _blocked(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("SigBlk:"))
    return int(line.split()[1], 16)


def test_a_signal_in_the_window_reaches_the_handler_with_another_thread_idle() -> None:
    # The kernel gives a process-directed signal to any thread not blocking it: with
    # SIG_IGN set for the window (the old way) the idle executor thread dropped it, and a
    # Ctrl-C to the process group while workers started was lost (the run went on, exit 0).
    got: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda s, _f: got.append(s))
    try:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(lambda: None).result()  # an idle thread, signals not blocked
            for _ in range(10):
                with blocked_in_children():
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.01)
                deadline = time.monotonic() + 5
                while not got and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert got == [signal.SIGINT]
                got.clear()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_children_start_with_the_signals_blocked_and_the_parent_unchanged() -> None:
    mask = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with blocked_in_children():
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert _blocked(child.pid) & mask == mask
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        child.kill()
        child.wait()

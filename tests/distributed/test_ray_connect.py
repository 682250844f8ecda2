"""`--ray ADDRESS` when nobody (or no Ray) answers there: one line within seconds, and a
signal stops it at once; a replay actor stopped before its start sends nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentload.replay.config import ReplayConfig
from agentload.replay.distributed.actor import ReplayActor
from agentload.replay.source import load_plan
from agentload.traceformat import io
from agentload.traceformat import schema as S
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim

CLI = "from agentload.cli import main; main()"
SHORT_DEADLINE = "import agentload.replay.distributed.connect as c; c.CONNECT_TIMEOUT_S = 2; "
QUICK_S = 15.0  # "within a few seconds", with room for a loaded 2-core host


def _replay(tmp_path: Path, address: str, code: str = CLI) -> list[str]:
    write_profile(tmp_path / "p.arrow", Shape(sessions=2))
    return [sys.executable, "-c", code, "replay", str(tmp_path / "p.arrow"),
            "--target", "http://127.0.0.1:9", "--model", "m", "--no-calibrate",
            # no target on :9: these tests are about reaching Ray, not the engine
            "--no-preflight", "--out", str(tmp_path / "r.arrow"), "--ray", address]  # fmt: skip


@contextmanager
def _silent_listener() -> Iterator[tuple[str, list[socket.socket]]]:
    """A TCP port that accepts connections and never answers (not a Ray cluster); the
    connections it accepted."""
    # Every interface: Ray dials the node's own IP for 127.0.0.1, our probe 127.0.0.1.
    server = socket.create_server(("0.0.0.0", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}", held
    finally:
        server.close()
        for conn in held:
            conn.close()


def test_unreachable_address_fails_in_seconds_with_one_line(tmp_path: Path) -> None:
    t0 = time.monotonic()
    proc = subprocess.run(
        _replay(tmp_path, "127.0.0.1:1"), capture_output=True, text=True, timeout=120
    )
    took = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr
    assert took < QUICK_S, took
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:1" in lines[0], proc.stderr
    assert not list(tmp_path.glob("r.arrow*"))


def test_no_ray_behind_the_address_fails_at_the_deadline(tmp_path: Path) -> None:
    with _silent_listener() as (address, _):
        t0 = time.monotonic()
        proc = subprocess.run(
            _replay(tmp_path, address, SHORT_DEADLINE + CLI),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        took = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr
    assert took < QUICK_S, took
    assert f"error: Ray: no cluster answered at {address} within 2 s" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_signal_while_connecting_stops_at_once(tmp_path: Path) -> None:
    with _silent_listener() as (address, accepted):
        proc = subprocess.Popen(
            _replay(tmp_path, address), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        # The first connection is our reachability probe, the next ones Ray's own.
        deadline = time.monotonic() + 60
        while len(accepted) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # well inside ray.init's retries
        assert proc.poll() is None and len(accepted) >= 2
        os.kill(proc.pid, signal.SIGTERM)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert took < QUICK_S, took
    loaded = io.read(tmp_path / "r.arrow")
    assert loaded.metadata[S.META_COMPLETE.decode()] == "false"
    assert loaded.frame.height == 0
    assert "interrupted: partial result (0 requests)" in err


def test_actor_stopped_before_its_start_sends_nothing(tmp_path: Path) -> None:
    """The actor class alone (no Ray): `stop` sets the worker's stop event on its loop."""
    write_profile(tmp_path / "p.arrow", Shape(sessions=4))
    actor = ReplayActor(0)
    with running_sim("--preset", "fast") as sim:
        config = ReplayConfig(tmp_path / "p.arrow", sim.url, sim.model, tmp_path / "r.arrow")
        actor.stop()
        actor.start(config, load_plan(config.source, config.model), None)
        batch = actor.take()
        deadline = time.monotonic() + 60
        while not batch.done and time.monotonic() < deadline:
            batch = actor.take()
    actor.discard()
    assert batch.done and batch.error is None, batch.error
    assert batch.outcome is not None
    assert batch.outcome.interrupted and batch.outcome.rows == 0

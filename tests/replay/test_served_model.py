"""--model left out: the run uses the one model the target serves (GET /v1/models), and
asks for --model when the target serves several or none, or with --no-preflight."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agentload.traceformat import io
from agentload.traceformat import schema as S
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim

CLI = [sys.executable, "-c", "from agentload.cli import main; main()", "replay"]


def _replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, check=False)


def test_the_one_served_model_is_used(tmp_path: Path) -> None:
    source, out = tmp_path / "p.arrow", tmp_path / "r.arrow"
    calls = write_profile(source, Shape(sessions=2, calls=2)).height
    with running_sim("--preset", "fast", "--model", "only-one") as sim:
        proc = _replay(str(source), "--target", sim.url, "--out", str(out), "--think-scale", "0")
    assert proc.returncode == 0, proc.stderr
    assert f"model: only-one (the one model {sim.url} serves)" in proc.stderr
    loaded = io.read(out)
    assert loaded.info["model"] == "only-one"
    assert (loaded.frame[S.STATUS] == "ok").all() and loaded.frame.height == calls


@contextmanager
def _models_server(ids: list[str]) -> Iterator[str]:
    body = json.dumps({"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("ids", "listed"), [(["a", "b"], "2 models (a, b)"), ([], "0 models (none)")]
)
def test_several_or_no_served_models_ask_for_model(
    ids: list[str], listed: str, tmp_path: Path
) -> None:
    source, out = tmp_path / "p.arrow", tmp_path / "r.arrow"
    write_profile(source, Shape(sessions=1, calls=1))
    with _models_server(ids) as url:
        proc = _replay(str(source), "--target", url, "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    said = (
        f"--model: not given, and {url}/v1/models lists {listed}: name the one to use with --model"
    )
    assert line == f"error: {said}"
    assert not out.exists()


def test_no_preflight_needs_model(tmp_path: Path) -> None:
    source = tmp_path / "p.arrow"
    write_profile(source, Shape(sessions=1, calls=1))
    proc = _replay(str(source), "--target", "http://127.0.0.1:9", "--no-preflight")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --model: required with --no-preflight (else read from /v1/models)"
    ]

"""The preflight's overall deadline (PREFLIGHT_TIMEOUTS x --timeout) against a target that
trickles bytes on 127.0.0.1: each byte comes well within --timeout, so only the deadline
ends the step. The referee is the server: how long it held the connection, from the request
to the client hanging up. Before the deadline, `--timeout 3` spent 65 s in the preflight."""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentload.base.errors import UnfaithfulRunError
from agentload.replay.config import ReplayConfig
from agentload.replay.source import load_plan
from agentload.replay.target_http import PREFLIGHT_TIMEOUTS
from agentload.replay.target_setup import contact, ready
from tests.capture.rawupstream import raw_server, read_request
from tests.replay.workloads import Shape, write_profile

CLI = [sys.executable, "-c", "from agentload.cli import main; main()"]
TIMEOUT_S = 1.0
DEADLINE_S = PREFLIGHT_TIMEOUTS * TIMEOUT_S
TRICKLE_S = 30.0  # how long the server would go on: far past the deadline
SLACK_S = 3.0  # a busy 2-core machine's lateness in ending the step; TRICKLE_S is far above
MODELS = b'{"object":"list","data":[{"id":"m","object":"model","owned_by":"x"}]}'


@dataclass(frozen=True)
class Held:
    request: str  # "GET /v1/models"
    seconds: float  # from the request to the client hanging up


def _answer(conn: socket.socket, status: str, body: bytes) -> None:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    conn.sendall(head.encode() + b"\r\nConnection: close\r\n\r\n" + body)


def _trickle(conn: socket.socket, ctype: str, start: bytes, byte: bytes) -> float:
    """A 200 whose chunked body is `start`, then `byte` every 0.2 s: each read of the client
    gets data long before --timeout. Returns the seconds until the client hung up."""
    began = time.monotonic()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n"
    conn.sendall(head.encode() + b"%x\r\n%s\r\n" % (len(start), start))
    while time.monotonic() - began < TRICKLE_S:
        conn.sendall(b"%x\r\n%s\r\n" % (len(byte), byte))
        readable, _, _ = select.select([conn], [], [], 0.2)
        if readable and not conn.recv(1):
            break
    return time.monotonic() - began


def _serve_one(conn: socket.socket, slow: str, held: list[Held]) -> None:
    with conn:
        conn.settimeout(TRICKLE_S + 5)
        try:
            line = read_request(conn).split(b"\r\n")[0].decode()
            request = " ".join(line.split()[:2])
            if not request.startswith(slow):
                if request == "GET /v1/models":
                    _answer(conn, "200 OK", MODELS)
                else:
                    _answer(conn, "404 Not Found", b'{"error":"not found"}')
                return
            if request.startswith("GET"):  # JSON that never ends: spaces are valid in it
                took = _trickle(conn, "application/json", b'{"data": [', b" ")
            else:
                took = _trickle(conn, "text/event-stream", b": hello\n\n", b":\n\n")
            held.append(Held(request, took))
        except OSError:
            pass


@contextmanager
def trickling(slow: str) -> Iterator[tuple[str, list[Held]]]:
    """A target answering every request at once, except those starting with `slow`
    ("GET /v1/models", "POST"), which trickle; yields its URL and what it held."""
    held: list[Held] = []
    with raw_server(lambda conn: _serve_one(conn, slow, held)) as url:
        yield url, held


def _wait_held(held: list[Held]) -> Held:
    end = time.monotonic() + TRICKLE_S + 5
    while not held and time.monotonic() < end:
        time.sleep(0.05)
    assert len(held) == 1, held
    return held[0]


def test_a_trickling_first_contact_ends_at_the_deadline_in_one_line(tmp_path: Path) -> None:
    source = tmp_path / "p.arrow"
    write_profile(source, Shape(sessions=1, calls=1, child=False))
    with trickling("GET /v1/models") as (url, held):
        done = subprocess.run(
            [*CLI, "replay", str(source), "--target", url, "--model", "m", "--quiet",
             "--timeout", f"{TIMEOUT_S:g}", "--out", str(tmp_path / "r.arrow")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        took = _wait_held(held)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3 and len(lines) == 1, done.stderr
    assert f"preflight: GET {url}/v1/models: no complete answer" in lines[0]
    assert f"deadline of {DEADLINE_S:g} s" in lines[0]
    assert DEADLINE_S - 0.1 <= took.seconds <= DEADLINE_S + SLACK_S, took


def test_a_trickling_probe_ends_the_preflight_at_the_same_deadline(tmp_path: Path) -> None:
    """The deadline covers every step together: the first contact and identity GETs are
    answered at once, the probe trickles and is cut when the whole preflight's time is up."""
    source = tmp_path / "p.arrow"
    write_profile(source, Shape(sessions=1, calls=1, child=False))
    with trickling("POST") as (url, held):
        config = ReplayConfig(
            source=source, target=url, out=tmp_path / "o.arrow", quiet=True, model="m",
            timeout=TIMEOUT_S,
        )  # fmt: skip
        with pytest.raises(UnfaithfulRunError, match=r"preflight: POST .*probe\): no complete"):
            ready(config, load_plan(config.source, config.model), contact(config))
        took = _wait_held(held)
    assert took.request.startswith("POST /v1/")
    assert took.seconds <= DEADLINE_S + SLACK_S, took

"""A --listen address already in use (catalogue row 482): one line and exit 2 before
mitmproxy starts, not mitmproxy's three lines and exit 1 after its start-up."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.test_cli_errors import run_fails


def test_busy_listen_address_is_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        out = tmp_path / "cap"
        args = ("capture", "--upstream", "http://127.0.0.1:9", "--out", str(out))
        line = run_fails(*args, "--listen", f"127.0.0.1:{port}", status=2)
    assert line == f"error: --listen: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert not out.exists() or not list(out.iterdir())
